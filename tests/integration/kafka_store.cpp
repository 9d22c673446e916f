// The Kafka backends (storage/src/kafka_*.cpp) against the real Kafka that
// scripts/services.sh starts. Every test uses its own topic prefix and
// consumer group (amq::test::unique_name), so runs never see each other.

#define CAF_SUITE integration_kafka_store
#include <caf/test/unit_test.hpp>

#include "amq/storage/kafka_store.hpp"
#include "amq/test/services.hpp"

#include <librdkafka/rdkafka.h>

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

using namespace amq;
using namespace amq::storage;

namespace {

std::string bootstrap() {
  std::string why;
  auto b = test::kafka_bootstrap_from_env(why);
  if (!b)
    CAF_FAIL(why);
  return *b;
}

kafka_options options(const std::string& name) {
  kafka_options o;
  o.bootstrap_servers = bootstrap();
  // Topic prefixes: [A-Za-z0-9._-] only.
  o.topic_prefix = test::unique_name(name);
  o.group_id = o.topic_prefix + ".node.test";
  o.replication_factor = 1;
  o.request_timeout_ms = 15000;
  return o;
}

std::unique_ptr<store> open_queue(const kafka_options& o) {
  std::error_code err;
  std::string detail;
  auto s = open_kafka_queue_store(o, err, detail);
  if (!s)
    CAF_FAIL("cannot open the Kafka queue store: " << detail);
  return s;
}

session_record app_session(const std::string& id, uint8_t type = 1);
void append(store& s, const std::string& id, uint64_t from, uint64_t to);

/// A queue store with the session `id` and its entries 1..n.
std::unique_ptr<store> open_queue_with(const kafka_options& o, const std::string& id, uint64_t n) {
  auto s = open_queue(o);
  write_batch b;
  b.put_sessions.push_back(app_session(id));
  if (auto err = s->apply(b))
    CAF_FAIL("cannot put the session: " << s->last_error());
  append(*s, id, 1, n);
  return s;
}

session_record app_session(const std::string& id, uint8_t type) {
  session_record r;
  r.client_id = id;
  r.client_type = type;
  r.session_expiry = 3600;
  r.subscriptions.push_back({"a/#", 1, false, false, 0, 0});
  return r;
}

queued_entry entry(uint64_t seq) {
  auto m = std::make_shared<protocol::message>();
  m->topic = "a/" + std::to_string(seq);
  m->payload = "payload " + std::to_string(seq);
  m->qos_level = protocol::qos::at_least_once;
  queued_entry e;
  e.seq = seq;
  e.msg = std::move(m);
  e.qos = 1;
  return e;
}

void append(store& s, const std::string& id, uint64_t from, uint64_t to) {
  write_batch b;
  for (auto seq = from; seq <= to; ++seq)
    b.append.emplace_back(id, entry(seq));
  auto err = s.apply(b);
  if (err)
    CAF_FAIL("append failed: " << err.message() << ": " << s.last_error());
}

void ack(store& s, const std::string& id, std::vector<uint64_t> seqs) {
  write_batch b;
  for (auto seq : seqs)
    b.erase_entries.emplace_back(id, seq);
  auto err = s.apply(b);
  if (err)
    CAF_FAIL("ack failed: " << err.message() << ": " << s.last_error());
  // apply sends the offset commit without waiting for Kafka's answer: wait
  // for it here, so that the committed offset can be looked at.
  CAF_CHECK(kafka_queue_flush_commits(s, 15000));
  CAF_CHECK_EQUAL(s.last_error(), ""); // the offset commit went through
}

std::vector<uint64_t> read_all(store& s, const std::string& id, uint64_t from = 0,
                               size_t limit = 0) {
  std::vector<uint64_t> out;
  auto err = s.read_queue(id, from, limit, [&](queued_entry&& e) {
    CAF_CHECK_EQUAL(e.msg->topic, "a/" + std::to_string(e.seq));
    CAF_CHECK_EQUAL(e.msg->payload, "payload " + std::to_string(e.seq));
    out.push_back(e.seq);
  });
  if (err)
    CAF_FAIL("read_queue failed: " << err.message() << ": " << s.last_error());
  return out;
}

std::vector<uint64_t> read_all_of(role_store& s, const std::string& id) {
  std::vector<uint64_t> out;
  auto err = s.read_queue(id, 0, 0, [&](queued_entry&& e) { out.push_back(e.seq); });
  if (err)
    CAF_FAIL("read_queue failed: " << err.message() << ": " << s.last_error());
  return out;
}

/// A RocksDB primary in a temporary directory (removed at the end) and the
/// Kafka APPLICATION queue of `o`: the role composite as the broker opens
/// it, reopened as often as a test restarts it.
struct composite_env {
  kafka_options o;
  std::string dir;

  explicit composite_env(kafka_options opts) : o(std::move(opts)) {
    dir = (std::filesystem::temp_directory_path() / "actormq-kq-XXXXXX").string();
    if (mkdtemp(dir.data()) == nullptr)
      CAF_FAIL("mkdtemp failed");
  }

  ~composite_env() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }

  std::unique_ptr<store> primary() {
    std::error_code err;
    std::string detail;
    auto p = open_rocksdb_store(dir, true, err, detail);
    if (!p)
      CAF_FAIL("rocksdb: " << detail);
    return p;
  }

  std::unique_ptr<queue_store> app_queue() {
    std::error_code err;
    std::string detail;
    auto q = open_kafka_app_queue(o, err, detail);
    if (!q)
      CAF_FAIL("cannot open the Kafka APPLICATION queue: " << detail);
    return q;
  }
};

std::vector<uint64_t> range(uint64_t from, uint64_t to) {
  std::vector<uint64_t> out;
  for (auto x = from; x <= to; ++x)
    out.push_back(x);
  return out;
}

/// The topics of the cluster that start with `prefix`.
std::set<std::string> topics_with(const std::string& prefix) {
  char errstr[256];
  auto conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap().c_str(), errstr, sizeof errstr);
  auto rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  CAF_REQUIRE(rk != nullptr);
  const rd_kafka_metadata_t* md = nullptr;
  std::set<std::string> out;
  if (rd_kafka_metadata(rk, 1, nullptr, &md, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    for (int i = 0; i < md->topic_cnt; ++i)
      if (std::string_view{md->topics[i].topic}.starts_with(prefix))
        out.emplace(md->topics[i].topic);
    rd_kafka_metadata_destroy(md);
  } else {
    CAF_FAIL("metadata request failed");
  }
  rd_kafka_destroy(rk);
  return out;
}

/// Deletes the records of partition 0 of `topic` below `offset` (as
/// retention deletes old segments: the log start offset moves).
void delete_records_before(const std::string& topic, int64_t offset) {
  char errstr[256];
  auto conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap().c_str(), errstr, sizeof errstr);
  auto rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  CAF_REQUIRE(rk != nullptr);
  auto offsets = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(offsets, topic.c_str(), 0)->offset = offset;
  auto del = rd_kafka_DeleteRecords_new(offsets);
  rd_kafka_topic_partition_list_destroy(offsets);
  auto q = rd_kafka_queue_new(rk);
  rd_kafka_DeleteRecords(rk, &del, 1, nullptr, q);
  rd_kafka_DeleteRecords_destroy(del);
  auto ev = rd_kafka_queue_poll(q, 15000);
  CAF_REQUIRE(ev != nullptr);
  CAF_REQUIRE_EQUAL(rd_kafka_event_error(ev), RD_KAFKA_RESP_ERR_NO_ERROR);
  auto parts = rd_kafka_DeleteRecords_result_offsets(rd_kafka_event_DeleteRecords_result(ev));
  CAF_REQUIRE(parts != nullptr && parts->cnt == 1);
  CAF_REQUIRE_EQUAL(parts->elems[0].err, RD_KAFKA_RESP_ERR_NO_ERROR);
  CAF_CHECK_EQUAL(parts->elems[0].offset, offset); // the new log start
  rd_kafka_event_destroy(ev);
  rd_kafka_queue_destroy(q);
  rd_kafka_destroy(rk);
}

/// `topics_with(prefix)` once it equals `expected`, or its last value after
/// 15 s: Kafka's metadata is eventually consistent (a broker may answer
/// from a cache that does not show a topic created or deleted a moment ago).
std::set<std::string> topics_eventually(const std::string& prefix,
                                        const std::set<std::string>& expected) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{15};
  for (;;) {
    auto got = topics_with(prefix);
    if (got == expected || std::chrono::steady_clock::now() > deadline)
      return got;
    std::this_thread::sleep_for(std::chrono::milliseconds{100});
  }
}

/// The committed offset of partition 0 of `topic` in `group` (negative:
/// none).
int64_t committed(const std::string& group, const std::string& topic) {
  char errstr[256];
  auto conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap().c_str(), errstr, sizeof errstr);
  rd_kafka_conf_set(conf, "group.id", group.c_str(), errstr, sizeof errstr);
  auto rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
  CAF_REQUIRE(rk != nullptr);
  auto tpl = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(tpl, topic.c_str(), 0);
  auto err = rd_kafka_committed(rk, tpl, 10000);
  CAF_REQUIRE_EQUAL(err, RD_KAFKA_RESP_ERR_NO_ERROR);
  auto off = tpl->elems[0].offset;
  rd_kafka_topic_partition_list_destroy(tpl);
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  return off;
}

} // namespace

CAF_TEST(topic names map client ids reversibly) {
  CAF_CHECK_EQUAL(kafka_app_topic("actormq", "dev-1"), "actormq.msg.app.dev-1");
  CAF_CHECK_EQUAL(kafka_topic_component("p", "a.b_c/d e"), "a_2eb_5fc_2fd_20e");
  CAF_CHECK_EQUAL(kafka_topic_component("p", "ü"), "_c3_bc");
  for (std::string id : {"a.b_c/d e", "ü", "x", "_h0", "A-z09"}) {
    std::string back;
    CAF_CHECK(kafka_topic_component_decode(kafka_topic_component("p", id), back));
    CAF_CHECK_EQUAL(back, id);
  }
  // Too long: cut, with a hash suffix; within Kafka's 249 characters.
  std::string long_id(300, 'x');
  auto t = kafka_app_topic("actormq", long_id);
  CAF_CHECK_EQUAL(t.size(), 249u);
  CAF_CHECK_NOT_EQUAL(t, kafka_app_topic("actormq", long_id + "y"));
  std::string back;
  CAF_CHECK(!kafka_topic_component_decode(kafka_topic_component("actormq", long_id), back));
  // Escapes are never cut in half.
  std::string slashes(200, '/');
  auto c = kafka_topic_component("actormq", slashes);
  CAF_CHECK_EQUAL(c.substr(0, 3), "_2f");
  CAF_CHECK_LESS_OR_EQUAL(kafka_app_topic("actormq", slashes).size(), 249u);
}

CAF_TEST(unreachable kafka fails to open with a clear message) {
  kafka_options o;
  o.bootstrap_servers = "127.0.0.1:1";
  o.request_timeout_ms = 1000;
  o.wait_at_boot_ms = 0;
  std::error_code err;
  std::string detail;
  auto s = open_kafka_queue_store(o, err, detail);
  CAF_CHECK(s == nullptr);
  CAF_CHECK(err);
  CAF_MESSAGE("detail: " << detail);
  CAF_CHECK(detail.find("Kafka at 127.0.0.1:1 is unreachable") != std::string::npos);
}

CAF_TEST(the queue keeps order and resumes from the committed offset) {
  auto o = options("amq-kq-order");
  auto id = std::string{"app/1"};
  {
    auto s = open_queue(o);
    write_batch b;
    b.put_sessions.push_back(app_session(id));
    CAF_REQUIRE(!s->apply(b));
    std::set<std::string> expected{kafka_app_topic(o.topic_prefix, id)};
    CAF_CHECK_EQUAL(topics_eventually(o.topic_prefix + ".msg.app.", expected), expected);
    append(*s, id, 1, 40);
    append(*s, id, 41, 100);
    CAF_CHECK_EQUAL(read_all(*s, id), range(1, 100));
    // Pages: from a sequence number, bounded.
    CAF_CHECK_EQUAL(read_all(*s, id, 1, 10), range(1, 10));
    CAF_CHECK_EQUAL(read_all(*s, id, 11, 10), range(11, 20));
    CAF_CHECK_EQUAL(read_all(*s, id, 95, 10), range(95, 100));
    uint64_t last = 0;
    CAF_CHECK(!s->last_seq(id, last));
    CAF_CHECK_EQUAL(last, 100u);
    ack(*s, id, range(1, 30));
    CAF_CHECK_EQUAL(committed(o.group_id, kafka_app_topic(o.topic_prefix, id)), 30);
    CAF_CHECK_EQUAL(read_all(*s, id), range(31, 100));
  }
  // A new instance (a restarted broker) resumes at the committed offset.
  auto s = open_queue(o);
  CAF_CHECK_EQUAL(read_all(*s, id), range(31, 100));
  uint64_t last = 0;
  CAF_CHECK(!s->last_seq(id, last));
  CAF_CHECK_EQUAL(last, 100u);
  append(*s, id, 101, 105);
  ack(*s, id, range(31, 60));
  CAF_CHECK_EQUAL(read_all(*s, id), range(61, 105));
}

CAF_TEST(the offset is not committed before the ack) {
  auto o = options("amq-kq-noack");
  auto id = std::string{"app2"};
  auto topic = kafka_app_topic(o.topic_prefix, id);
  {
    auto s = open_queue(o);
    write_batch b;
    b.put_sessions.push_back(app_session(id));
    CAF_REQUIRE(!s->apply(b));
    append(*s, id, 1, 20);
    CAF_CHECK_EQUAL(read_all(*s, id), range(1, 20)); // read (delivered), not acked
    CAF_CHECK_EQUAL(committed(o.group_id, topic), 0);
    // Acked out of order: the offset stays before the first unacked entry.
    ack(*s, id, {2, 3, 5});
    CAF_CHECK_EQUAL(committed(o.group_id, topic), 0);
    ack(*s, id, {1});
    CAF_CHECK_EQUAL(committed(o.group_id, topic), 3);
  }
  // After a restart: 4 and 6..20 come back (5 was acked: skipped through the
  // commit metadata), nothing acknowledged comes back.
  auto s = open_queue(o);
  auto expected = range(6, 20);
  expected.insert(expected.begin(), 4);
  CAF_CHECK_EQUAL(read_all(*s, id), expected);
  ack(*s, id, {4});
  CAF_CHECK_EQUAL(committed(o.group_id, topic), 5);
}

CAF_TEST(commit work does not grow with the backlog) {
  // A draining session acknowledges its backlog batch by batch; each batch
  // is one offset commit. Building a commit (the offset, and the metadata
  // listing the acknowledged entries above it) must not walk the backlog:
  // `metadata_steps` counts the ranges of acknowledged seqs listed. The
  // store used to walk every indexed record above the offset for each
  // commit — here 1,900 + 1,800 + ... in the first phase and 1,000 per
  // commit in the second: O(backlog) per commit, O(n^2) per drain.
  auto o = options("amq-kq-cost");
  auto id = std::string{"app/cost"};
  auto topic = kafka_app_topic(o.topic_prefix, id);
  constexpr uint64_t n = 2000;
  {
    auto s = open_queue(o);
    write_batch b;
    b.put_sessions.push_back(app_session(id));
    CAF_REQUIRE(!s->apply(b));
    for (uint64_t from = 1; from <= n; from += 500)
      append(*s, id, from, from + 499);
    auto before = kafka_queue_stats(*s).value();
    // In order, as a draining session: a page read, its acks in one batch.
    for (uint64_t from = 1; from <= 1000; from += 100) {
      CAF_CHECK_EQUAL(read_all(*s, id, from, 100), range(from, from + 99));
      ack(*s, id, range(from, from + 99));
    }
    CAF_CHECK_EQUAL(committed(o.group_id, topic), 1000);
    auto mid = kafka_queue_stats(*s).value();
    CAF_CHECK_EQUAL(mid.commits - before.commits, 10u);
    CAF_CHECK_EQUAL(mid.metadata_steps - before.metadata_steps, 0u); // none acked above
    // Pages read in order: the consumer is positioned once, and the end of
    // the topic is known from producing (no watermark round trips).
    CAF_CHECK_EQUAL(mid.seeks - before.seeks, 1u);
    CAF_CHECK_EQUAL(mid.watermark_requests - before.watermark_requests, 0u);
    // Entry 1001 stays unacknowledged (a slow client, QoS 2 in flight): the
    // offset stays before it; everything acknowledged after it is one range.
    for (uint64_t from = 1002; from <= n; from += 100)
      ack(*s, id, range(from, std::min(from + 99, n)));
    CAF_CHECK_EQUAL(committed(o.group_id, topic), 1000);
    auto after = kafka_queue_stats(*s).value();
    CAF_CHECK_EQUAL(after.commits - mid.commits, 10u);
    CAF_CHECK_LESS_OR_EQUAL(after.metadata_steps - mid.metadata_steps, 10u); // one per commit
  }
  // After a restart only 1001 comes back: the metadata listed 1002-2000.
  auto s = open_queue(o);
  CAF_CHECK_EQUAL(read_all(*s, id), std::vector<uint64_t>{1001});
  ack(*s, id, {1001});
  CAF_CHECK_EQUAL(committed(o.group_id, topic), static_cast<int64_t>(n));
}

CAF_TEST(closing the store sends the last commit and waits for its answer) {
  // apply does not wait for the commit's answer; a clean close does (a
  // crash instead resends those entries with DUP, never skips one).
  auto o = options("amq-kq-close");
  auto id = std::string{"app/close"};
  auto topic = kafka_app_topic(o.topic_prefix, id);
  {
    auto s = open_queue_with(o, id, 10);
    // Three batches, no flush, the store closed at once: the last batch's
    // commit is usually left to a later batch (two commits unanswered), so
    // closing must send it.
    for (auto seqs : {std::vector<uint64_t>{1, 2}, {3, 4}, {5, 7}}) {
      write_batch acks;
      for (auto seq : seqs)
        acks.erase_entries.emplace_back(id, seq);
      CAF_REQUIRE(!s->apply(acks));
    }
  }
  CAF_CHECK_EQUAL(committed(o.group_id, topic), 5);
  auto s = open_queue(o);
  CAF_CHECK_EQUAL(read_all(*s, id), (std::vector<uint64_t>{6, 8, 9, 10}));
}

CAF_TEST(maintain sends a deferred commit without another batch) {
  // The last acks of a drain must not wait for the next batch (there may be
  // none for hours): the storage actor calls maintain() between batches,
  // which collects the answers and sends what a batch had to defer.
  auto o = options("amq-kq-maint");
  auto id = std::string{"app/maint"};
  auto s = open_queue_with(o, id, 10);
  auto before = kafka_queue_stats(*s)->commits_deferred;
  for (auto seqs : {std::vector<uint64_t>{1, 2}, {3, 4}, {5, 6}}) {
    write_batch acks;
    for (auto seq : seqs)
      acks.erase_entries.emplace_back(id, seq);
    CAF_REQUIRE(!s->apply(acks));
  }
  auto deferred = kafka_queue_stats(*s)->commits_deferred > before;
  CAF_MESSAGE("the third batch's commit was " << (deferred ? "" : "not ") << "deferred");
  // maintain() until it reports nothing left (Kafka answers within its
  // request timeout; the bound is far above that).
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{30};
  while (s->maintain() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  CAF_CHECK(!s->maintain());
  CAF_CHECK_EQUAL(committed(o.group_id, kafka_app_topic(o.topic_prefix, id)), 6); // still open
}

CAF_TEST(topics exist only for persistent APPLICATION sessions and go with them) {
  auto o = options("amq-kq-topics");
  auto s = open_queue(o);
  auto prefix = o.topic_prefix + ".msg.app.";
  // A DEVICE record creates no topic.
  {
    write_batch b;
    b.put_sessions.push_back(app_session("dev", 0));
    CAF_REQUIRE(!s->apply(b));
  }
  CAF_CHECK(topics_eventually(prefix, {}).empty());
  // Two APPLICATION sessions; one erased (cleared / expired): its topic goes.
  {
    write_batch b;
    b.put_sessions.push_back(app_session("keep"));
    b.put_sessions.push_back(app_session("gone"));
    CAF_REQUIRE(!s->apply(b));
  }
  append(*s, "gone", 1, 3);
  append(*s, "keep", 1, 3);
  std::set<std::string> both{kafka_app_topic(o.topic_prefix, "keep"),
                             kafka_app_topic(o.topic_prefix, "gone")};
  CAF_CHECK_EQUAL(topics_eventually(prefix, both), both);
  {
    write_batch b;
    b.erase_sessions.push_back("gone");
    CAF_REQUIRE(!s->apply(b));
  }
  std::set<std::string> kept{kafka_app_topic(o.topic_prefix, "keep")};
  CAF_CHECK_EQUAL(topics_eventually(prefix, kept), kept);
  CAF_CHECK(read_all(*s, "gone").empty());
  // Cleared and created again in one batch (clean start with an expiry):
  // the topic stays, its old entries are gone.
  {
    write_batch b;
    b.erase_sessions.push_back("keep");
    b.put_sessions.push_back(app_session("keep"));
    CAF_REQUIRE(!s->apply(b));
  }
  CAF_CHECK(read_all(*s, "keep").empty());
  append(*s, "keep", 4, 5);
  CAF_CHECK_EQUAL(read_all(*s, "keep"), range(4, 5));
  // APPLICATION -> DEVICE: the Kafka queue goes.
  {
    write_batch b;
    b.put_sessions.push_back(app_session("keep", 0));
    CAF_REQUIRE(!s->apply(b));
  }
  CAF_CHECK(topics_eventually(prefix, {}).empty());
  // Closing after deleting topics (the consumer read one of them): the
  // librdkafka handles shut down, none is abandoned by the bound on
  // rd_kafka_destroy (librdkafka 2.0.2 could hang there for ever).
  auto before = kafka_abandoned_handles();
  s.reset();
  CAF_CHECK_EQUAL(kafka_abandoned_handles(), before);
}

CAF_TEST(the boot clean up removes queue topics without a record and keeps the others) {
  // The role composite over RocksDB and this Kafka, as the broker runs it
  // (actors/store_factory.cpp): a queue topic whose session record is gone
  // (a crash between erasing the record and deleting the topic) is deleted
  // at boot; a queue with its record stays whole. An orphan is a topic
  // that is not the topic of any stored APPLICATION session: also one of a
  // client id so long that its topic name is hashed (not reversible), kept
  // while its record exists, deleted at the boot after the record went.
  auto o = options("amq-kq-boot");
  composite_env env{o};
  auto stored_at = protocol::message::clock::now() - std::chrono::seconds{90};
  std::string orphan = "orphan/x.y_z";
  std::string long_id = "long/" + std::string(250, 'L'); // over Kafka's 249 characters
  auto long_topic = kafka_app_topic(o.topic_prefix, long_id);
  CAF_REQUIRE(long_topic.find("_h") != std::string::npos); // a hashed name
  std::string decoded;
  CAF_REQUIRE(!kafka_topic_component_decode(long_topic.substr(o.topic_prefix.size() + 9),
                                            decoded));
  {
    role_store rs{env.primary(), nullptr, env.app_queue()};
    CAF_REQUIRE(!rs.recover());
    write_batch b;
    b.put_sessions.push_back(app_session("keep"));
    b.put_sessions.push_back(app_session(long_id));
    for (uint64_t seq = 1; seq <= 3; ++seq) {
      b.append.emplace_back("keep", entry(seq));
      b.append.back().second.stored_at = stored_at;
    }
    b.append.emplace_back(long_id, entry(1));
    b.append.emplace_back(long_id, entry(2));
    CAF_REQUIRE(!rs.apply(b));
    // The leftover: a queue topic with entries and no record anywhere.
    auto q = env.app_queue();
    queue_batch qb;
    qb.create_queues.push_back(orphan);
    qb.append.emplace_back(orphan, entry(1));
    qb.append.emplace_back(orphan, entry(2));
    CAF_REQUIRE(!q->apply(qb));
  }
  auto prefix = o.topic_prefix + ".msg.app.";
  std::set<std::string> all{kafka_app_topic(o.topic_prefix, "keep"),
                            kafka_app_topic(o.topic_prefix, orphan), long_topic};
  CAF_CHECK_EQUAL(topics_eventually(prefix, all), all);
  // Boot: the orphan goes; the hashed topic stays, its record exists.
  std::set<std::string> kept{kafka_app_topic(o.topic_prefix, "keep"), long_topic};
  {
    role_store rs{env.primary(), nullptr, env.app_queue()};
    std::vector<std::string> removed;
    CAF_REQUIRE(
      !rs.recover([&](const std::string& c, const std::string&) { removed.push_back(c); }));
    CAF_CHECK_EQUAL(removed, std::vector<std::string>({orphan}));
    CAF_CHECK_EQUAL(topics_eventually(prefix, kept), kept);
    CAF_CHECK_EQUAL(read_all_of(rs, long_id), range(1, 2));
  }
  // The long id's record goes from the primary alone (a crash between
  // erasing the record and deleting its topic).
  {
    auto p = env.primary();
    write_batch gone;
    gone.erase_sessions.push_back(long_id);
    CAF_REQUIRE(!p->apply(gone));
  }
  // Boot: its topic, whose name gives no client id back, is deleted.
  role_store rs{env.primary(), nullptr, env.app_queue()};
  std::vector<std::pair<std::string, std::string>> removed;
  CAF_REQUIRE(!rs.recover([&](const std::string& c, const std::string& where) {
    removed.emplace_back(c, where);
  }));
  CAF_REQUIRE_EQUAL(removed.size(), 1u);
  CAF_CHECK_EQUAL(removed[0].first, ""); // no client id
  CAF_CHECK(removed[0].second.find(long_topic) != std::string::npos);
  kept.erase(long_topic);
  CAF_CHECK_EQUAL(topics_eventually(prefix, kept), kept);
  std::vector<uint64_t> seqs;
  auto err = rs.read_queue("keep", 0, 0, [&](queued_entry&& e) {
    seqs.push_back(e.seq);
    // The stored time comes back through Kafka (wall clock, ms).
    CAF_REQUIRE(e.stored_at);
    auto diff = *e.stored_at - stored_at;
    CAF_CHECK(diff > -std::chrono::milliseconds{5} && diff < std::chrono::milliseconds{5});
  });
  CAF_REQUIRE(!err);
  CAF_CHECK_EQUAL(seqs, range(1, 3));
}

CAF_TEST(released marks of kafka queues are kept in the primary and survive a restart) {
  // QoS 2 across a restart (docs/sessions.md): a Kafka record cannot be
  // updated in place, so the role composite keeps the "released" mark
  // (PUBREC received) of an APPLICATION entry in RocksDB and joins it with
  // the entry read from the topic, also after both are reopened; PUBCOMP
  // erases entry (offset commit) and mark; erasing the session erases its
  // marks with its record.
  auto o = options("amq-kq-rel");
  composite_env env{o};
  using flag_list = std::vector<std::pair<uint64_t, bool>>;
  auto flags = [](role_store& rs, const std::string& c, uint64_t from = 0, size_t limit = 0) {
    flag_list out;
    auto err = rs.read_queue(c, from, limit,
                             [&](queued_entry&& e) { out.emplace_back(e.seq, e.released); });
    if (err)
      CAF_FAIL("read_queue failed: " << err.message() << ": " << rs.last_error());
    return out;
  };
  {
    role_store rs{env.primary(), nullptr, env.app_queue()};
    CAF_REQUIRE(!rs.recover());
    write_batch b;
    b.put_sessions.push_back(app_session("app"));
    for (uint64_t seq = 1; seq <= 3; ++seq)
      b.append.emplace_back("app", entry(seq));
    CAF_REQUIRE(!rs.apply(b));
    write_batch m;
    m.put_released.emplace_back("app", 2);
    CAF_REQUIRE(!rs.apply(m));
    CAF_CHECK_EQUAL(flags(rs, "app"), (flag_list{{1, false}, {2, true}, {3, false}}));
  }
  // Restart: both reopened (the read position comes from Kafka).
  auto queue = env.app_queue();
  auto* q = queue.get();
  role_store rs{env.primary(), nullptr, std::move(queue)};
  CAF_REQUIRE(!rs.recover());
  CAF_CHECK_EQUAL(flags(rs, "app"), (flag_list{{1, false}, {2, true}, {3, false}}));
  CAF_CHECK_EQUAL(flags(rs, "app", 2, 1), (flag_list{{2, true}})); // a cold page
  write_batch done;
  done.erase_entries.emplace_back("app", 1);
  done.erase_entries.emplace_back("app", 2);
  done.erase_released.emplace_back("app", 2);
  CAF_REQUIRE(!rs.apply(done));
  // The PUBCOMP's offset commit is sent, not confirmed (apply never waits
  // for it): a crash now would bring entry 2 back, so its mark stays, also
  // through a read that passes it.
  std::vector<uint64_t> marks;
  CAF_CHECK_EQUAL(flags(rs, "app"), (flag_list{{3, false}}));
  CAF_REQUIRE(!rs.read_released("app", 0, marks));
  CAF_CHECK_EQUAL(marks, std::vector<uint64_t>({2}));
  CAF_CHECK_EQUAL(rs.held_marks(), 1u);
  // Kafka confirms it: the next batch erases the mark.
  CAF_REQUIRE(kafka_queue_flush_commits(*q, 15000));
  write_batch m;
  m.put_released.emplace_back("app", 3);
  CAF_REQUIRE(!rs.apply(m));
  marks.clear();
  CAF_REQUIRE(!rs.read_released("app", 0, marks));
  CAF_CHECK_EQUAL(marks, std::vector<uint64_t>({3}));
  CAF_CHECK_EQUAL(rs.held_marks(), 0u);
  write_batch gone;
  gone.erase_sessions.emplace_back("app");
  CAF_REQUIRE(!rs.apply(gone));
  marks.clear();
  CAF_REQUIRE(!rs.read_released("app", 0, marks));
  CAF_CHECK(marks.empty());
}

CAF_TEST(marks of entries kafka deleted are erased by the next read past them) {
  // Kafka deletes old records by retention whether they were acknowledged
  // or not; the "released" marks of such QoS 2 entries (in the primary)
  // then have no entry. A read from the queue's start (the broker's boot
  // look at every queue's first entry, or a page) starts at the oldest
  // record left and erases the marks below it, while the store runs and
  // after a restart; the mark of an entry still there stays and is
  // joined. DeleteRecords stands in for retention (same effect: the log
  // start offset moves).
  auto o = options("amq-kq-gone");
  composite_env env{o};
  auto marks = [](role_store& rs, const std::string& c) {
    std::vector<uint64_t> out;
    CAF_REQUIRE(!rs.read_released(c, 0, out));
    return out;
  };
  using flag_list = std::vector<std::pair<uint64_t, bool>>;
  auto first = [](role_store& rs, const std::string& c) {
    flag_list out;
    CAF_REQUIRE(!rs.read_queue(c, 0, 1, [&](queued_entry&& e) {
      out.emplace_back(e.seq, e.released);
    }));
    return out;
  };
  {
    role_store rs{env.primary(), nullptr, env.app_queue()};
    CAF_REQUIRE(!rs.recover());
    write_batch b;
    for (auto c : {"app", "live"}) {
      b.put_sessions.push_back(app_session(c));
      for (uint64_t seq = 1; seq <= 4; ++seq)
        b.append.emplace_back(c, entry(seq));
      b.put_released.emplace_back(c, 1);
      b.put_released.emplace_back(c, 2);
      b.put_released.emplace_back(c, 3);
    }
    CAF_REQUIRE(!rs.apply(b));
    // While the store runs: entries 1 and 2 of "live" (offsets 0 and 1)
    // go; the next read from its start passes their marks.
    delete_records_before(kafka_app_topic(o.topic_prefix, "live"), 2);
    CAF_CHECK_EQUAL(first(rs, "live"), (flag_list{{3, true}}));
    CAF_CHECK_EQUAL(marks(rs, "live"), std::vector<uint64_t>({3}));
  }
  // Across a restart: entries 1 and 2 of "app" go while the broker is down.
  delete_records_before(kafka_app_topic(o.topic_prefix, "app"), 2);
  role_store rs{env.primary(), nullptr, env.app_queue()};
  CAF_REQUIRE(!rs.recover());
  CAF_CHECK_EQUAL(marks(rs, "app"), std::vector<uint64_t>({1, 2, 3}));
  CAF_CHECK_EQUAL(first(rs, "app"), (flag_list{{3, true}}));
  CAF_CHECK_EQUAL(marks(rs, "app"), std::vector<uint64_t>({3}));
}

CAF_TEST(the mark of a pubcomp outlives a kill -9 before its offset commit is confirmed) {
  // kafka_mark_child stores entries 1..3 with marks on 1 and 2, applies the
  // PUBCOMPs of 1 and 2 and SIGKILLs itself at once: Kafka may or may not
  // have got the offset commit. After the restart each of 1 and 2 is gone
  // or comes back with its mark (to be resent as PUBREL); never without it
  // (the client would get the message a second time as a new PUBLISH).
  for (int round = 0; round < 3; ++round) {
    auto o = options("amq-kq-crash");
    composite_env env{o};
    int fds[2];
    CAF_REQUIRE(pipe(fds) == 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    posix_spawn_file_actions_addclose(&fa, fds[1]);
    std::string exe = AMQ_KAFKA_MARK_CHILD;
    std::vector<std::string> args{exe, env.dir, o.bootstrap_servers, o.topic_prefix, o.group_id};
    std::vector<char*> argv;
    for (auto& a : args)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = -1;
    auto rc = posix_spawn(&pid, exe.c_str(), &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    CAF_REQUIRE_EQUAL(rc, 0);
    std::string out;
    char buf[256];
    ssize_t n;
    while ((n = read(fds[0], buf, sizeof buf)) > 0)
      out.append(buf, static_cast<size_t>(n));
    close(fds[0]);
    int status = 0;
    CAF_REQUIRE_EQUAL(waitpid(pid, &status, 0), pid);
    CAF_REQUIRE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    CAF_CHECK_EQUAL(out, "done held=2\n"); // both marks held when it died
    auto queue = env.app_queue();
    auto* q = queue.get();
    role_store rs{env.primary(), nullptr, std::move(queue)};
    CAF_REQUIRE(!rs.recover());
    std::vector<std::pair<uint64_t, bool>> back;
    CAF_REQUIRE(!rs.read_queue("app", 0, 0, [&](queued_entry&& e) {
      back.emplace_back(e.seq, e.released);
    }));
    CAF_MESSAGE("round " << round << ": after the restart " << back.size() << " entries");
    CAF_REQUIRE(!back.empty());
    CAF_CHECK_EQUAL(back.back(), std::make_pair(uint64_t{3}, false));
    for (auto& [seq, released] : back)
      if (seq < 3) {
        CAF_MESSAGE("entry " << seq << " came back, released: " << released);
        CAF_CHECK(released);
      }
    // The client's PUBCOMPs for the PUBRELs resent: entries and marks go
    // once Kafka confirms.
    write_batch done;
    for (auto& [seq, released] : back)
      if (seq < 3) {
        done.erase_entries.emplace_back("app", seq);
        done.erase_released.emplace_back("app", seq);
      }
    CAF_REQUIRE(!rs.apply(done));
    CAF_REQUIRE(kafka_queue_flush_commits(*q, 15000));
    CAF_CHECK(!rs.maintain()); // (the storage actor calls it after a batch)
    std::vector<uint64_t> marks;
    CAF_REQUIRE(!rs.read_released("app", 0, marks));
    CAF_CHECK(marks.empty());
    CAF_CHECK_EQUAL(rs.held_marks(), 0u);
  }
}

CAF_TEST(sessions and subscriptions are rebuilt from the compacted topics) {
  auto o = options("amq-ks-rebuild");
  std::error_code err;
  std::string detail;
  {
    auto s = open_kafka_session_store(o, err, detail);
    if (!s)
      CAF_FAIL(detail);
    std::set<std::string> expected{o.topic_prefix + ".client.session",
                                   o.topic_prefix + ".client.subscriptions"};
    CAF_CHECK_EQUAL(topics_eventually(o.topic_prefix + ".client.", expected), expected);
    write_batch b;
    for (auto id : {"a", "b", "c"})
      b.put_sessions.push_back(app_session(id));
    CAF_REQUIRE(!s->apply(b));
    write_batch b2;
    b2.erase_sessions.push_back("b");
    auto c = app_session("c", 0);
    c.subscriptions.push_back({"x/+", 2, true, true, 2, 7});
    c.disconnected_at_ms = 1700000000000;
    b2.put_sessions.push_back(c);
    CAF_REQUIRE(!s->apply(b2));
  }
  auto s = open_kafka_session_store(o, err, detail);
  if (!s)
    CAF_FAIL(detail);
  std::vector<session_record> got;
  CAF_REQUIRE(!s->for_each_session([&](session_record&& r) { got.push_back(std::move(r)); }));
  CAF_REQUIRE_EQUAL(got.size(), 2u);
  CAF_CHECK_EQUAL(got[0].client_id, "a");
  CAF_CHECK(got[0] == app_session("a"));
  auto c = app_session("c", 0);
  c.subscriptions.push_back({"x/+", 2, true, true, 2, 7});
  c.disconnected_at_ms = 1700000000000;
  CAF_CHECK(got[1] == c);
  CAF_CHECK_EQUAL(s->corrupt_records(), 0u);
}
