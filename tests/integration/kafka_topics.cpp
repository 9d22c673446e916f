// kafka_topics <bootstrap servers> <prefix>: prints the names of the topics
// that start with <prefix>, one per line, sorted (for the e2e tests, which
// have no Kafka client of their own). Exit 1 if Kafka does not answer in
// 10 s.
#include <librdkafka/rdkafka.h>

#include <cstdio>
#include <set>
#include <string>
#include <string_view>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s <bootstrap servers> <topic prefix>\n", argv[0]);
    return 2;
  }
  char errstr[512];
  auto conf = rd_kafka_conf_new();
  if (rd_kafka_conf_set(conf, "bootstrap.servers", argv[1], errstr, sizeof errstr)
      != RD_KAFKA_CONF_OK) {
    std::fprintf(stderr, "%s\n", errstr);
    return 2;
  }
  rd_kafka_conf_set(conf, "log_level", "0", errstr, sizeof errstr);
  auto rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (rk == nullptr) {
    std::fprintf(stderr, "%s\n", errstr);
    return 2;
  }
  const rd_kafka_metadata_t* md = nullptr;
  auto err = rd_kafka_metadata(rk, 1, nullptr, &md, 10000);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    std::fprintf(stderr, "metadata: %s\n", rd_kafka_err2str(err));
    rd_kafka_destroy(rk);
    return 1;
  }
  std::set<std::string> names;
  for (int i = 0; i < md->topic_cnt; ++i)
    if (md->topics[i].err == RD_KAFKA_RESP_ERR_NO_ERROR
        && std::string_view{md->topics[i].topic}.starts_with(argv[2]))
      names.emplace(md->topics[i].topic);
  rd_kafka_metadata_destroy(md);
  rd_kafka_destroy(rk);
  for (auto& n : names)
    std::printf("%s\n", n.c_str());
  return 0;
}
