// Proves that the integration services are real: a key goes through the Redis
// that scripts/services.sh started, and a record goes through its Kafka, with
// the same client libraries the storage backends use (hiredis, librdkafka).
// Ports come from the environment (amq/test/services.hpp); a missing variable
// fails the suite. Every wait is bounded.

#define CAF_SUITE integration_services_smoke
#include <caf/test/unit_test.hpp>

#include "amq/test/services.hpp"

#include <hiredis/hiredis.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafkacpp.h>

#include <chrono>
#include <memory>
#include <string>

using namespace std::chrono_literals;

namespace {

using clock_type = std::chrono::steady_clock;

// -- Redis --------------------------------------------------------------------

struct redis_deleter {
  void operator()(redisContext* c) const { redisFree(c); }
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using redis_ptr = std::unique_ptr<redisContext, redis_deleter>;
using reply_ptr = std::unique_ptr<redisReply, redis_deleter>;

template <class... Ts>
reply_ptr command(redisContext* c, const char* fmt, Ts... xs) {
  return reply_ptr{static_cast<redisReply*>(redisCommand(c, fmt, xs...))};
}

// -- Kafka --------------------------------------------------------------------

std::unique_ptr<RdKafka::Conf> kafka_conf(const std::string& bootstrap) {
  std::unique_ptr<RdKafka::Conf> conf{
    RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL)};
  std::string err;
  auto set = [&](const char* k, const std::string& v) {
    if (conf->set(k, v, err) != RdKafka::Conf::CONF_OK)
      CAF_FAIL("rdkafka conf " << k << "=" << v << ": " << err);
  };
  set("bootstrap.servers", bootstrap);
  set("socket.timeout.ms", "10000");
  set("broker.address.family", "v4");
  return conf;
}

/// Creates `topic` (1 partition, replication 1) through the admin API of
/// the C library, which the C++ wrapper lacks. Returns an error text or "".
std::string create_topic(const std::string& bootstrap, const std::string& topic) {
  char errstr[512];
  auto conf = rd_kafka_conf_new();
  if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), errstr,
                        sizeof errstr)
      != RD_KAFKA_CONF_OK) {
    rd_kafka_conf_destroy(conf);
    return errstr;
  }
  auto rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (rk == nullptr)
    return errstr;
  auto queue = rd_kafka_queue_new(rk);
  auto nt = rd_kafka_NewTopic_new(topic.c_str(), 1, 1, errstr, sizeof errstr);
  auto opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
  rd_kafka_AdminOptions_set_operation_timeout(opts, 20000, errstr, sizeof errstr);
  rd_kafka_AdminOptions_set_request_timeout(opts, 20000, errstr, sizeof errstr);
  rd_kafka_CreateTopics(rk, &nt, 1, opts, queue);
  std::string result = "CreateTopics: no result within 30 s";
  if (auto ev = rd_kafka_queue_poll(queue, 30000); ev != nullptr) {
    if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      result = rd_kafka_event_error_string(ev);
    } else if (auto res = rd_kafka_event_CreateTopics_result(ev)) {
      size_t n = 0;
      auto topics = rd_kafka_CreateTopics_result_topics(res, &n);
      if (n != 1)
        result = "CreateTopics: unexpected number of results";
      else if (rd_kafka_topic_result_error(topics[0]) != RD_KAFKA_RESP_ERR_NO_ERROR)
        result = rd_kafka_topic_result_error_string(topics[0]);
      else
        result.clear();
    }
    rd_kafka_event_destroy(ev);
  }
  rd_kafka_AdminOptions_destroy(opts);
  rd_kafka_NewTopic_destroy(nt);
  rd_kafka_queue_destroy(queue);
  rd_kafka_destroy(rk);
  return result;
}

/// Remembers the outcome of the one record the test produces.
struct delivery_report : RdKafka::DeliveryReportCb {
  bool done = false;
  RdKafka::ErrorCode err = RdKafka::ERR_NO_ERROR;
  int64_t offset = -1;
  void dr_cb(RdKafka::Message& msg) override {
    done = true;
    err = msg.err();
    offset = msg.offset();
  }
};

} // namespace

CAF_TEST(redis set get del) {
  std::string why;
  auto ep = amq::test::redis_from_env(why);
  if (!ep)
    CAF_FAIL(why);
  CAF_MESSAGE("redis at " << ep->host << ":" << ep->port);
  redis_ptr ctx{redisConnectWithTimeout(ep->host.c_str(), ep->port, {5, 0})};
  CAF_REQUIRE(ctx != nullptr);
  if (ctx->err != 0)
    CAF_FAIL("cannot connect to redis at " << ep->host << ":" << ep->port
                                           << ": " << ctx->errstr);
  CAF_REQUIRE_EQUAL(redisSetTimeout(ctx.get(), {5, 0}), REDIS_OK);
  auto key = amq::test::unique_name("amq-smoke") + ":greeting";
  std::string value = "hello from actormq"; // with a NUL: %b is binary-safe
  value.push_back('\0');
  value += "tail";
  auto set = command(ctx.get(), "SET %b %b EX 60", key.data(), key.size(),
                     value.data(), value.size());
  CAF_REQUIRE(set != nullptr);
  CAF_REQUIRE_EQUAL(set->type, REDIS_REPLY_STATUS);
  CAF_CHECK_EQUAL(std::string(set->str, set->len), "OK");
  auto get = command(ctx.get(), "GET %b", key.data(), key.size());
  CAF_REQUIRE(get != nullptr);
  CAF_REQUIRE_EQUAL(get->type, REDIS_REPLY_STRING);
  CAF_CHECK_EQUAL(std::string(get->str, get->len), value);
  auto del = command(ctx.get(), "DEL %b", key.data(), key.size());
  CAF_REQUIRE(del != nullptr);
  CAF_REQUIRE_EQUAL(del->type, REDIS_REPLY_INTEGER);
  CAF_CHECK_EQUAL(del->integer, 1);
  auto gone = command(ctx.get(), "EXISTS %b", key.data(), key.size());
  CAF_REQUIRE(gone != nullptr);
  CAF_CHECK_EQUAL(gone->integer, 0);
}

CAF_TEST(kafka produce consume) {
  std::string why;
  auto bootstrap = amq::test::kafka_bootstrap_from_env(why);
  if (!bootstrap)
    CAF_FAIL(why);
  CAF_MESSAGE("kafka at " << *bootstrap);
  auto topic = amq::test::unique_name("amq-smoke");
  auto t0 = clock_type::now();
  if (auto err = create_topic(*bootstrap, topic); !err.empty())
    CAF_FAIL("cannot create topic " << topic << ": " << err);

  // Produce one record with a key and a header, wait for its delivery report.
  std::string err;
  delivery_report dr;
  auto pconf = kafka_conf(*bootstrap);
  pconf->set("dr_cb", &dr, err);
  pconf->set("message.timeout.ms", "20000", err);
  std::unique_ptr<RdKafka::Producer> producer{
    RdKafka::Producer::create(pconf.get(), err)};
  if (!producer)
    CAF_FAIL("cannot create producer: " << err);
  std::string key = "client-1";
  std::string payload = "{\"topic\":\"a/b\",\"qos\":1}";
  auto headers = RdKafka::Headers::create();
  headers->add("amq-version", "1");
  auto rc = producer->produce(topic, 0, RdKafka::Producer::RK_MSG_COPY,
                              payload.data(), payload.size(), key.data(),
                              key.size(), 0, headers, nullptr);
  if (rc != RdKafka::ERR_NO_ERROR) {
    delete headers; // ownership passes to librdkafka only on success
    CAF_FAIL("produce: " << RdKafka::err2str(rc));
  }
  auto flushed = producer->flush(20000);
  CAF_REQUIRE_EQUAL(flushed, RdKafka::ERR_NO_ERROR);
  CAF_REQUIRE(dr.done);
  if (dr.err != RdKafka::ERR_NO_ERROR)
    CAF_FAIL("delivery failed: " << RdKafka::err2str(dr.err));
  CAF_CHECK_EQUAL(dr.offset, 0);

  // Consume it back from the beginning of partition 0 (assign, no group
  // rebalance to wait for).
  auto cconf = kafka_conf(*bootstrap);
  cconf->set("group.id", amq::test::unique_name("amq-smoke-group"), err);
  cconf->set("enable.auto.commit", "false", err);
  cconf->set("enable.partition.eof", "false", err);
  std::unique_ptr<RdKafka::KafkaConsumer> consumer{
    RdKafka::KafkaConsumer::create(cconf.get(), err)};
  if (!consumer)
    CAF_FAIL("cannot create consumer: " << err);
  std::unique_ptr<RdKafka::TopicPartition> tp{RdKafka::TopicPartition::create(
    topic, 0, RdKafka::Topic::OFFSET_BEGINNING)};
  std::vector<RdKafka::TopicPartition*> parts{tp.get()};
  CAF_REQUIRE_EQUAL(consumer->assign(parts), RdKafka::ERR_NO_ERROR);
  auto deadline = clock_type::now() + 30s;
  bool received = false;
  while (!received && clock_type::now() < deadline) {
    std::unique_ptr<RdKafka::Message> msg{consumer->consume(500)};
    if (msg->err() == RdKafka::ERR__TIMED_OUT)
      continue;
    if (msg->err() != RdKafka::ERR_NO_ERROR) {
      CAF_MESSAGE("consume: " << msg->errstr());
      continue;
    }
    received = true;
    CAF_CHECK_EQUAL(msg->topic_name(), topic);
    CAF_CHECK_EQUAL(msg->offset(), 0);
    CAF_REQUIRE(msg->key() != nullptr);
    CAF_CHECK_EQUAL(*msg->key(), key);
    CAF_CHECK_EQUAL(std::string(static_cast<const char*>(msg->payload()),
                                msg->len()),
                    payload);
    auto hs = msg->headers();
    CAF_REQUIRE(hs != nullptr);
    auto h = hs->get_last("amq-version");
    CAF_REQUIRE(h.err() == RdKafka::ERR_NO_ERROR);
    CAF_CHECK_EQUAL(std::string(static_cast<const char*>(h.value()),
                                h.value_size()),
                    "1");
  }
  consumer->close();
  if (!received)
    CAF_FAIL("no record consumed from " << topic << " within 30 s");
  CAF_MESSAGE("kafka round trip took "
              << std::chrono::duration_cast<std::chrono::milliseconds>(
                   clock_type::now() - t0)
                   .count()
              << " ms");
}
