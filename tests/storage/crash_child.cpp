// Helper of the storage_crash suite: applies numbered batches to a RocksDB
// store opened with sync=true, forever, and prints each batch number on
// stdout once apply() has returned success. The test kill -9s it.
//
// Batch i: append seq i to the queues of "a" and "b", and put session "a"
// with session_expiry = i: after a crash all three agree, or the batch was
// not atomic.
//
//   storage_crash_child <dir>
#include "amq/storage/store.hpp"

#include <cstdio>
#include <string>

using namespace amq;
using namespace amq::storage;

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <dir>\n", argv[0]);
    return 2;
  }
  std::error_code err;
  std::string detail;
  auto st = open_rocksdb_store(argv[1], true, err, detail);
  if (!st) {
    std::fprintf(stderr, "%s\n", detail.c_str());
    return 1;
  }
  uint64_t first = 0;
  if (auto e = st->last_seq("a", first)) {
    std::fprintf(stderr, "last_seq: %s\n", e.message().c_str());
    return 1;
  }
  std::printf("ready %llu\n", static_cast<unsigned long long>(first));
  std::fflush(stdout);
  for (uint64_t i = first + 1;; ++i) {
    write_batch b;
    auto m = std::make_shared<protocol::message>();
    m->topic = "crash/test";
    m->payload = "batch " + std::to_string(i);
    m->qos_level = protocol::qos::at_least_once;
    queued_entry e;
    e.seq = i;
    e.msg = m;
    b.append = {{"a", e}, {"b", e}};
    session_record r;
    r.client_id = "a";
    r.session_expiry = static_cast<uint32_t>(i);
    b.put_sessions = {r};
    if (auto e2 = st->apply(b)) {
      std::fprintf(stderr, "apply: %s (%s)\n", e2.message().c_str(), st->last_error().c_str());
      return 1;
    }
    std::printf("%llu\n", static_cast<unsigned long long>(i));
    std::fflush(stdout);
  }
}
