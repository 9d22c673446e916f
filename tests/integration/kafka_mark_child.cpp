// Helper of integration_kafka_store ("a PUBCOMP's mark outlives a kill -9
// before its offset commit is confirmed"): opens the role composite over a
// RocksDB primary and the Kafka APPLICATION queue, stores entries 1..3 of
// client "app" with "released" marks on 1 and 2 (PUBREC received), applies
// the PUBCOMPs of 1 and 2 (erase entries and marks 1, 2), prints "done" and
// kills itself with SIGKILL: a broker crash right after it handled the
// PUBCOMP, before the offset commit it sent was (surely) answered.
//
//   kafka_mark_child <rocksdb dir> <bootstrap> <topic prefix> <group id>
#include "amq/storage/kafka_store.hpp"

#include <csignal>
#include <cstdio>
#include <memory>
#include <string>

using namespace amq;
using namespace amq::storage;

namespace {

queued_entry entry(uint64_t seq) {
  auto m = std::make_shared<protocol::message>();
  m->topic = "a/" + std::to_string(seq);
  m->payload = "payload " + std::to_string(seq);
  m->qos_level = protocol::qos::exactly_once;
  queued_entry e;
  e.seq = seq;
  e.msg = std::move(m);
  e.qos = 2;
  return e;
}

int fail(const std::string& what) {
  std::fprintf(stderr, "kafka_mark_child: %s\n", what.c_str());
  return 1;
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 5)
    return fail("usage: kafka_mark_child <rocksdb dir> <bootstrap> <topic prefix> <group id>");
  kafka_options o;
  o.bootstrap_servers = argv[2];
  o.topic_prefix = argv[3];
  o.group_id = argv[4];
  o.replication_factor = 1;
  o.request_timeout_ms = 15000;
  std::error_code err;
  std::string detail;
  auto primary = open_rocksdb_store(argv[1], true, err, detail);
  if (!primary)
    return fail("rocksdb: " + detail);
  auto queue = open_kafka_app_queue(o, err, detail);
  if (!queue)
    return fail("kafka: " + detail);
  // Never destroyed: the process ends by SIGKILL.
  auto* rs = new role_store{std::move(primary), nullptr, std::move(queue)};
  if (rs->recover())
    return fail("recover: " + rs->last_error());
  write_batch b;
  session_record r;
  r.client_id = "app";
  r.client_type = 1;
  r.session_expiry = 3600;
  b.put_sessions.push_back(r);
  for (uint64_t seq = 1; seq <= 3; ++seq)
    b.append.emplace_back("app", entry(seq));
  b.put_released.emplace_back("app", 1);
  b.put_released.emplace_back("app", 2);
  if (rs->apply(b))
    return fail("store: " + rs->last_error());
  write_batch done;
  done.erase_entries.emplace_back("app", 1);
  done.erase_entries.emplace_back("app", 2);
  done.erase_released.emplace_back("app", 1);
  done.erase_released.emplace_back("app", 2);
  if (rs->apply(done))
    return fail("PUBCOMP: " + rs->last_error());
  std::printf("done held=%zu\n", rs->held_marks());
  std::fflush(stdout);
  std::raise(SIGKILL);
  return 1;
}
