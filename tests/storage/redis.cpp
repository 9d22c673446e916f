// The Redis DEVICE queue backend (amq/storage/redis_store.hpp) against a
// real redis-server (AMQ_TEST_REDIS_PORT, scripts/services.sh). Every case
// uses its own key prefix, so runs never see each other's keys.
#define CAF_SUITE storage_redis
#include <caf/test/unit_test.hpp>

#include "amq/metrics/registry.hpp"
#include "amq/storage/redis_store.hpp"
#include "amq/test/services.hpp"
#include "record_codec.hpp"
#include "temp_dir.hpp"

#include <hiredis/hiredis.h>

#include <map>

using namespace amq;
using namespace amq::storage;

namespace {

#define CHECK_OK(expr)                                                                   \
  do {                                                                                   \
    auto check_ok_err_ = (expr);                                                         \
    if (check_ok_err_)                                                                   \
      CAF_FAIL(#expr << " failed: " << check_ok_err_.message());                         \
  } while (false)

using seq_list = std::vector<uint64_t>;

struct reply_deleter {
  void operator()(redisReply* r) const {
    if (r)
      freeReplyObject(r);
  }
};
using reply_ptr = std::unique_ptr<redisReply, reply_deleter>;

queued_entry entry(uint64_t seq, std::string payload = {}) {
  auto m = std::make_shared<protocol::message>();
  m->topic = "plant/1/temp";
  m->payload = payload.empty() ? "m" + std::to_string(seq) : std::move(payload);
  m->qos_level = protocol::qos::exactly_once;
  queued_entry e;
  e.seq = seq;
  e.msg = std::move(m);
  e.qos = 2;
  e.subscription_ids = {7};
  return e;
}

/// A raw connection for inspection, and stores opened with a fresh prefix.
struct fixture {
  test::redis_endpoint ep;
  std::string prefix;
  redisContext* raw = nullptr;

  fixture() {
    std::string why;
    auto e = test::redis_from_env(why);
    if (!e)
      CAF_FAIL(why);
    ep = *e;
    prefix = test::unique_name("amq-redis-test") + ":";
    raw = redisConnectWithTimeout(ep.host.c_str(), ep.port, {5, 0});
    if (!raw || raw->err)
      CAF_FAIL("cannot connect to redis at " << ep.host << ":" << ep.port);
  }

  ~fixture() {
    // Remove what the case wrote.
    auto keys = cmd({"KEYS", prefix + "*"});
    for (size_t i = 0; keys && i < keys->elements; ++i)
      cmd({"DEL", std::string{keys->element[i]->str, keys->element[i]->len}});
    redisFree(raw);
  }

  /// The integer reply of a command (by value: CAF_CHECK_EQUAL binds its
  /// operands by reference, which would outlive a temporary reply).
  long long integer(std::vector<std::string> args) {
    auto r = cmd(std::move(args));
    if (!r || r->type != REDIS_REPLY_INTEGER)
      CAF_FAIL("no integer reply from redis");
    return r->integer;
  }

  reply_ptr cmd(std::vector<std::string> args) {
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (auto& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    return reply_ptr{static_cast<redisReply*>(
      redisCommandArgv(raw, static_cast<int>(args.size()), argv.data(), lens.data()))};
  }

  redis_options options() {
    redis_options o;
    o.host = ep.host;
    o.port = ep.port;
    o.key_prefix = prefix;
    o.client_name = "amqtest" + std::to_string(::getpid());
    o.limit = 100;
    return o;
  }

  std::unique_ptr<queue_store> open(redis_options o) {
    std::error_code err;
    std::string detail;
    auto st = open_redis_queue_store(o, err, detail);
    if (!st)
      CAF_FAIL("open failed: " << detail);
    return st;
  }

  std::unique_ptr<queue_store> open() {
    return open(options());
  }

  static seq_list seqs(queue_store& st, const std::string& c, uint64_t from = 0,
                       size_t limit = 0) {
    seq_list out;
    CHECK_OK(st.read_queue(c, from, limit, [&](queued_entry&& e) { out.push_back(e.seq); }));
    return out;
  }

  static void append(queue_store& st, const std::string& c, uint64_t first, uint64_t last) {
    queue_batch b;
    for (auto s = first; s <= last; ++s)
      b.append.emplace_back(c, entry(s));
    CHECK_OK(st.apply(b));
  }

  static queue_info stats(queue_store& st, const std::string& c) {
    queue_info qi;
    CHECK_OK(st.queue_stats(c, qi));
    return qi;
  }

  static seq_list range(uint64_t first, uint64_t last) {
    seq_list out;
    for (auto s = first; s <= last; ++s)
      out.push_back(s);
    return out;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(redis_tests, fixture)

CAF_TEST(entries come back in sequence order with every field) {
  auto st = open();
  queue_batch b;
  // Appended out of order, in two batches.
  for (uint64_t s : {3, 1, 2})
    b.append.emplace_back("dev-1", entry(s, std::string{"bin\0\xff", 5}));
  CHECK_OK(st->apply(b));
  append(*st, "dev-1", 4, 5);
  std::vector<queued_entry> got;
  CHECK_OK(st->read_queue("dev-1", 0, 0, [&](queued_entry&& e) { got.push_back(std::move(e)); }));
  CAF_REQUIRE_EQUAL(got.size(), 5u);
  for (size_t i = 0; i < got.size(); ++i)
    CAF_CHECK_EQUAL(got[i].seq, i + 1);
  CAF_CHECK_EQUAL(got[0].msg->payload, std::string("bin\0\xff", 5));
  CAF_CHECK_EQUAL(got[0].msg->topic, "plant/1/temp");
  CAF_CHECK_EQUAL(got[0].qos, 2);
  CAF_CHECK_EQUAL(got[0].subscription_ids, std::vector<uint32_t>({7}));
  CAF_CHECK_EQUAL(seqs(*st, "other"), seq_list{});
  // The member is the versioned binary record, scored by seq.
  auto raw_entries = cmd({"ZRANGE", redis_client_key(prefix, "dev-1"), "0", "0", "WITHSCORES"});
  CAF_REQUIRE_EQUAL(raw_entries->elements, 2u);
  CAF_CHECK_EQUAL(raw_entries->element[0]->str[0], codec::current_version);
  CAF_CHECK_EQUAL(raw_entries->element[0]->str[1],
                  static_cast<char>(codec::record_type::queue_entry));
  CAF_CHECK_EQUAL(std::string(raw_entries->element[1]->str), "1");
}

CAF_TEST(pages by from seq and limit) {
  auto st = open();
  append(*st, "pager", 1, 50);
  CAF_CHECK_EQUAL(seqs(*st, "pager", 0, 10), range(1, 10));
  CAF_CHECK_EQUAL(seqs(*st, "pager", 11, 10), range(11, 20));
  CAF_CHECK_EQUAL(seqs(*st, "pager", 45, 10), range(45, 50));
  CAF_CHECK_EQUAL(seqs(*st, "pager", 51, 10), seq_list{});
  // With gaps (acknowledged entries): the page starts at the next one.
  queue_batch acks;
  for (uint64_t s = 11; s <= 15; ++s)
    acks.erase_entries.emplace_back("pager", s);
  CHECK_OK(st->apply(acks));
  CAF_CHECK_EQUAL(seqs(*st, "pager", 11, 3), range(16, 18));
}

CAF_TEST(acknowledged entries are removed in one batch) {
  auto st = open();
  append(*st, "a", 1, 20);
  append(*st, "b", 1, 5);
  queue_batch acks;
  for (uint64_t s = 1; s <= 20; s += 2)
    acks.erase_entries.emplace_back("a", s);
  acks.erase_entries.emplace_back("b", 5);
  acks.erase_entries.emplace_back("b", 99); // not there: no error
  CHECK_OK(st->apply(acks));
  seq_list even;
  for (uint64_t s = 2; s <= 20; s += 2)
    even.push_back(s);
  CAF_CHECK_EQUAL(seqs(*st, "a"), even);
  CAF_CHECK_EQUAL(seqs(*st, "b"), range(1, 4));
  // An entry appended and acknowledged within one batch is gone.
  queue_batch both;
  both.append.emplace_back("b", entry(6));
  both.erase_entries.emplace_back("b", 6);
  CHECK_OK(st->apply(both));
  CAF_CHECK_EQUAL(seqs(*st, "b"), range(1, 4));
}

CAF_TEST(the depth limit drops the oldest and counts them) {
  auto o = options();
  o.limit = 5;
  auto st = open(o);
  append(*st, "full", 1, 8);
  CAF_CHECK_EQUAL(seqs(*st, "full"), range(4, 8));
  auto qi = stats(*st, "full");
  CAF_CHECK_EQUAL(qi.depth, 5u);
  CAF_CHECK_EQUAL(qi.dropped, 3u);
  append(*st, "full", 9, 9);
  CAF_CHECK_EQUAL(seqs(*st, "full"), range(5, 9));
  CAF_CHECK_EQUAL(stats(*st, "full").dropped, 4u);
  // Acknowledged entries make room: no drop.
  queue_batch acks;
  acks.erase_entries = {{"full", 5}, {"full", 6}};
  CHECK_OK(st->apply(acks));
  append(*st, "full", 10, 11);
  CAF_CHECK_EQUAL(seqs(*st, "full"), range(7, 11));
  CAF_CHECK_EQUAL(stats(*st, "full").dropped, 4u);
  // The counter is in Redis: a new store reads it.
  auto again = open(o);
  CAF_CHECK_EQUAL(stats(*again, "full").dropped, 4u);
  CAF_CHECK_EQUAL(stats(*again, "nobody").depth, 0u);
}

CAF_TEST(the drop newest policy refuses new entries and counts them) {
  auto o = options();
  o.limit = 5;
  o.drop_newest = true;
  auto st = open(o);
  append(*st, "full", 1, 8);
  CAF_CHECK_EQUAL(seqs(*st, "full"), range(1, 5));
  CAF_CHECK_EQUAL(stats(*st, "full").dropped, 3u);
  // last_seq still moves on: the dropped sequence numbers are never reused.
  uint64_t last = 0;
  CHECK_OK(st->last_seq("full", last));
  CAF_CHECK_EQUAL(last, 8u);
  // An acknowledgement in the same batch makes room first.
  queue_batch b;
  b.erase_entries.emplace_back("full", 1);
  b.append.emplace_back("full", entry(9));
  CHECK_OK(st->apply(b));
  CAF_CHECK_EQUAL(seqs(*st, "full"), seq_list({2, 3, 4, 5, 9}));
  CAF_CHECK_EQUAL(stats(*st, "full").dropped, 3u);
}

CAF_TEST(a dropped entry is counted once in the dropped messages metric) {
  // The queue script drops entries over the limit. The session enforces
  // the same limit after the store and drops the same entries itself
  // (counted as offline_queue_full); its erase claims them, so the backend
  // does not count them again. Only entries no session erased are counted
  // as backend_trimmed: when a read passes over them, when their queue is
  // erased, or beyond 4096 per client. The `d` counter (admin/diagnostics)
  // keeps counting every drop of the script.
  auto trimmed = [] {
    return metrics::snapshot()[metrics::slot::dropped
                               + static_cast<size_t>(metrics::drop::backend_trimmed)];
  };
  auto o = options();
  o.limit = 5;
  auto st = open(o);
  auto before = trimmed();
  queue_batch b; // "a": 8 entries (3 dropped), "b": 7 (2 dropped), "c": 4 (none)
  for (uint64_t s = 1; s <= 8; ++s)
    b.append.emplace_back("a", entry(s));
  for (uint64_t s = 1; s <= 7; ++s)
    b.append.emplace_back("b", entry(s));
  for (uint64_t s = 1; s <= 4; ++s)
    b.append.emplace_back("c", entry(s));
  CHECK_OK(st->apply(b));
  CAF_CHECK_EQUAL(trimmed() - before, 0);
  CAF_CHECK_EQUAL(stats(*st, "a").dropped + stats(*st, "b").dropped, 5u);
  // "a": the session drops 1..3 itself (its erases): never counted here.
  queue_batch drops;
  drops.erase_entries = {{"a", 1}, {"a", 2}, {"a", 3}};
  CHECK_OK(st->apply(drops));
  CAF_CHECK_EQUAL(seqs(*st, "a"), range(4, 8));
  CAF_CHECK_EQUAL(trimmed() - before, 0);
  // "b": nobody erased 1 and 2; the read passes over them: counted once.
  CAF_CHECK_EQUAL(seqs(*st, "b"), range(3, 7));
  CAF_CHECK_EQUAL(trimmed() - before, 2);
  CAF_CHECK_EQUAL(seqs(*st, "b"), range(3, 7));
  CAF_CHECK_EQUAL(trimmed() - before, 2);
  // "c": one over the limit (1 dropped). A full page that starts after it
  // does not count it; one that passes over it does.
  append(*st, "c", 5, 6);
  seq_list page;
  CHECK_OK(st->read_queue("c", 3, 2, [&](queued_entry&& e) { page.push_back(e.seq); }));
  CAF_CHECK_EQUAL(page, seq_list({3, 4}));
  CAF_CHECK_EQUAL(trimmed() - before, 2);
  page.clear();
  CHECK_OK(st->read_queue("c", 0, 1, [&](queued_entry&& e) { page.push_back(e.seq); }));
  CAF_CHECK_EQUAL(page, seq_list({2}));
  CAF_CHECK_EQUAL(trimmed() - before, 3);
  // Acknowledged in the same batch: room, no drop.
  queue_batch acks;
  acks.erase_entries = {{"a", 4}, {"a", 5}};
  acks.append.emplace_back("a", entry(9));
  CHECK_OK(st->apply(acks));
  CAF_CHECK_EQUAL(seqs(*st, "a"), seq_list({6, 7, 8, 9}));
  CAF_CHECK_EQUAL(trimmed() - before, 3);
  // Drop newest: the refused entries the same way; erasing the queue
  // counts those nobody claimed.
  auto n = options();
  n.limit = 2;
  n.drop_newest = true;
  n.key_prefix += "newest:";
  auto refusing = open(n);
  append(*refusing, "d", 1, 5);
  CAF_CHECK_EQUAL(stats(*refusing, "d").dropped, 3u);
  CAF_CHECK_EQUAL(trimmed() - before, 3);
  queue_batch claim_one;
  claim_one.erase_entries = {{"d", 5}}; // the session dropped the newest itself
  CHECK_OK(refusing->apply(claim_one));
  queue_batch gone;
  gone.erase_queues = {"d"};
  CHECK_OK(refusing->apply(gone));
  CAF_CHECK_EQUAL(trimmed() - before, 5);
  // A queue nobody erases or reads: beyond 4096 unclaimed drops, the
  // oldest are counted at once (the store's memory stays bounded).
  auto one = options();
  one.limit = 1;
  one.key_prefix += "one:";
  auto small = open(one);
  queue_batch many;
  for (uint64_t s = 1; s <= 4099; ++s)
    many.append.emplace_back("e", entry(s));
  CHECK_OK(small->apply(many)); // 4098 dropped
  CAF_CHECK_EQUAL(trimmed() - before, 7);
  CAF_CHECK_EQUAL(stats(*small, "e").dropped, 4098u);
}

CAF_TEST(the keys of a client get a TTL refreshed by every append) {
  auto o = options();
  o.ttl_s = 1000;
  o.limit = 1;
  auto st = open(o);
  append(*st, "ttl", 1, 2); // one dropped: the counter key exists too
  for (char k : {'q', 'n', 'd'}) {
    auto ttl = cmd({"TTL", redis_client_key(prefix, "ttl", k)});
    CAF_CHECK(ttl->integer > 900 && ttl->integer <= 1000);
    cmd({"EXPIRE", redis_client_key(prefix, "ttl", k), "50"});
  }
  append(*st, "ttl", 3, 3);
  for (char k : {'q', 'n', 'd'}) {
    auto ttl = cmd({"TTL", redis_client_key(prefix, "ttl", k)});
    CAF_CHECK(ttl->integer > 900);
  }
  // ttl 0: no expiry.
  auto st0 = open(options());
  append(*st0, "forever", 1, 1);
  CAF_CHECK_EQUAL(integer({"TTL", redis_client_key(prefix, "forever")}), -1);
}

CAF_TEST(last seq survives an emptied queue and a reopen and goes with the queue) {
  auto st = open();
  append(*st, "c", 1, 3);
  queue_batch acks;
  acks.erase_entries = {{"c", 1}, {"c", 2}, {"c", 3}};
  CHECK_OK(st->apply(acks));
  st = open();
  uint64_t last = 0;
  CHECK_OK(st->last_seq("c", last));
  CAF_CHECK_EQUAL(last, 3u);
  CAF_CHECK_EQUAL(seqs(*st, "c"), seq_list{});
  // Appending a lower seq never lowers it.
  append(*st, "c", 2, 2);
  CHECK_OK(st->last_seq("c", last));
  CAF_CHECK_EQUAL(last, 3u);
  queue_batch erase;
  erase.erase_queues = {"c"};
  CHECK_OK(st->apply(erase));
  CHECK_OK(st->last_seq("c", last));
  CAF_CHECK_EQUAL(last, 0u);
  CAF_CHECK_EQUAL(
    integer({"EXISTS", redis_client_key(prefix, "c"), redis_client_key(prefix, "c", 'n')}), 0);
}

CAF_TEST(an erased queue recreated in one batch keeps the new entries) {
  auto st = open();
  append(*st, "re", 1, 5);
  queue_batch b;
  b.erase_queues = {"re"};
  b.append.emplace_back("re", entry(1));
  CHECK_OK(st->apply(b));
  CAF_CHECK_EQUAL(seqs(*st, "re"), seq_list({1}));
}

CAF_TEST(clients are listed with hash tagged keys and any client id) {
  auto st = open();
  std::vector<std::string> ids{"plain", "with}brace", "with{brace", "sp ace/ü", "*glob?"};
  for (auto& c : ids)
    append(*st, c, 1, 1);
  std::vector<std::string> listed;
  CHECK_OK(st->for_each_client([&](const std::string& c) { listed.push_back(c); }));
  std::sort(listed.begin(), listed.end());
  std::sort(ids.begin(), ids.end());
  CAF_CHECK_EQUAL(listed, ids);
  for (auto& c : ids)
    CAF_CHECK_EQUAL(seqs(*st, c), seq_list({1}));
  CAF_CHECK_EQUAL(redis_client_key("p:", "x"), "p:{x}:q");
  // A client id with U+0000 is refused before anything is written.
  queue_batch bad;
  bad.append.emplace_back(std::string("a\0b", 3), entry(1));
  CAF_CHECK(st->apply(bad));
}

CAF_TEST(the stored time of an entry comes back) {
  auto st = open();
  queue_batch b;
  auto e = entry(1);
  auto at = protocol::message::clock::now() - std::chrono::seconds{90};
  e.stored_at = at;
  b.append.emplace_back("ttl", e);
  b.append.emplace_back("ttl", entry(2)); // none (as written before it existed)
  CHECK_OK(st->apply(b));
  std::vector<queued_entry> got;
  CHECK_OK(st->read_queue("ttl", 0, 0, [&](queued_entry&& x) { got.push_back(std::move(x)); }));
  CAF_REQUIRE_EQUAL(got.size(), 2u);
  CAF_REQUIRE(got[0].stored_at);
  // Through the wall clock, rounded up to the ms.
  auto diff = *got[0].stored_at - at;
  CAF_CHECK(diff > -std::chrono::milliseconds{5} && diff < std::chrono::milliseconds{5});
  CAF_CHECK(!got[1].stored_at);
}

CAF_TEST(the boot clean up removes queues without a record and keeps the others) {
  // The role composite over RocksDB and this Redis, as the broker runs it
  // (actors/store_factory.cpp): a queue whose session record is gone
  // (erased while the router appended, or a crash between the parts of a
  // batch) is removed at boot; a queue with its record stays whole.
  test::temp_dir dir;
  auto primary = [&] {
    std::error_code err;
    std::string detail;
    auto p = open_rocksdb_store(dir.path(), true, err, detail);
    if (!p)
      CAF_FAIL("rocksdb: " << detail);
    return p;
  };
  {
    role_store rs{primary(), open(), nullptr};
    CHECK_OK(rs.recover());
    write_batch b;
    session_record keep;
    keep.client_id = "keep";
    b.put_sessions.push_back(keep);
    session_record gone;
    gone.client_id = "gone";
    b.put_sessions.push_back(gone);
    for (uint64_t s = 1; s <= 3; ++s) {
      b.append.emplace_back("keep", entry(s));
      b.append.emplace_back("gone", entry(s));
      b.append.emplace_back("never", entry(s)); // no record ever
    }
    CHECK_OK(rs.apply(b));
    // The record of "gone" is erased, then the router appends once more.
    write_batch e;
    e.erase_sessions.push_back("gone");
    CHECK_OK(rs.apply(e));
    write_batch late;
    late.append.emplace_back("gone", entry(4));
    CHECK_OK(rs.apply(late));
  }
  std::vector<std::string> listed;
  CHECK_OK(open()->for_each_client([&](const std::string& c) { listed.push_back(c); }));
  std::sort(listed.begin(), listed.end());
  CAF_CHECK_EQUAL(listed, std::vector<std::string>({"gone", "keep", "never"}));
  // Boot.
  role_store rs{primary(), open(), nullptr};
  std::vector<std::string> removed;
  CHECK_OK(rs.recover([&](const std::string& c, const std::string&) { removed.push_back(c); }));
  std::sort(removed.begin(), removed.end());
  CAF_CHECK_EQUAL(removed, std::vector<std::string>({"gone", "never"}));
  listed.clear();
  CHECK_OK(rs.for_each_queue([&](const std::string& c) { listed.push_back(c); }));
  CAF_CHECK_EQUAL(listed, std::vector<std::string>({"keep"}));
  seq_list kept;
  CHECK_OK(rs.read_queue("keep", 0, 0, [&](queued_entry&& x) { kept.push_back(x.seq); }));
  CAF_CHECK_EQUAL(kept, range(1, 3));
  for (auto c : {"gone", "never"})
    for (char k : {'q', 'n', 'd'})
      CAF_CHECK_EQUAL(integer({"EXISTS", redis_client_key(prefix, c, k)}), 0);
}

CAF_TEST(released marks of redis queues are kept in the primary and survive a restart) {
  // QoS 2 across a restart (docs/sessions.md): the role composite over
  // RocksDB and this Redis keeps the "released" mark (PUBREC received) of a
  // DEVICE entry in RocksDB and joins it with the entry read from Redis,
  // also after both are reopened; PUBCOMP erases entry and mark together;
  // erasing the session erases its marks.
  test::temp_dir dir;
  auto primary = [&] {
    std::error_code err;
    std::string detail;
    auto p = open_rocksdb_store(dir.path(), true, err, detail);
    if (!p)
      CAF_FAIL("rocksdb: " << detail);
    return p;
  };
  using flag_list = std::vector<std::pair<uint64_t, bool>>;
  auto flags = [](role_store& rs, const std::string& c, uint64_t from = 0, size_t limit = 0) {
    flag_list out;
    CHECK_OK(rs.read_queue(c, from, limit,
                           [&](queued_entry&& e) { out.emplace_back(e.seq, e.released); }));
    return out;
  };
  {
    role_store rs{primary(), open(), nullptr};
    CHECK_OK(rs.recover());
    write_batch b;
    session_record r;
    r.client_id = "dev";
    b.put_sessions.push_back(r);
    for (uint64_t s = 1; s <= 3; ++s)
      b.append.emplace_back("dev", entry(s));
    CHECK_OK(rs.apply(b));
    write_batch m;
    m.put_released.emplace_back("dev", 2);
    CHECK_OK(rs.apply(m));
    // Nothing about the mark is written to Redis: the entry is unchanged.
    auto raw = cmd({"ZRANGEBYSCORE", redis_client_key(prefix, "dev", 'q'), "2", "2"});
    CAF_REQUIRE(raw && raw->elements == 1);
    std::string rec;
    codec::encode(entry(2), rec, codec::clocks::now());
    CAF_CHECK_EQUAL(std::string(raw->element[0]->str, raw->element[0]->len), rec);
    CAF_CHECK_EQUAL(cmd({"KEYS", prefix + "*"})->elements, 2u); // q and n only
  }
  // Restart: both stores reopened.
  role_store rs{primary(), open(), nullptr};
  CHECK_OK(rs.recover());
  CAF_CHECK_EQUAL(flags(rs, "dev"), (flag_list{{1, false}, {2, true}, {3, false}}));
  CAF_CHECK_EQUAL(flags(rs, "dev", 2, 1), (flag_list{{2, true}})); // a cold page
  write_batch done;
  done.erase_entries.emplace_back("dev", 2);
  done.erase_released.emplace_back("dev", 2);
  CHECK_OK(rs.apply(done));
  CAF_CHECK_EQUAL(flags(rs, "dev"), (flag_list{{1, false}, {3, false}}));
  std::vector<uint64_t> marks;
  CHECK_OK(rs.read_released("dev", 0, marks));
  CAF_CHECK(marks.empty());
  write_batch m;
  m.put_released.emplace_back("dev", 3);
  CHECK_OK(rs.apply(m));
  write_batch gone;
  gone.erase_sessions.emplace_back("dev");
  CHECK_OK(rs.apply(gone));
  CHECK_OK(rs.read_released("dev", 0, marks));
  CAF_CHECK(marks.empty());
  CAF_CHECK(flags(rs, "dev").empty());
  uint64_t last = 1;
  CHECK_OK(rs.last_seq("dev", last));
  CAF_CHECK_EQUAL(last, 0u);
}

CAF_TEST(marks of entries redis trimmed are erased when a read passes them) {
  // A "released" mark (PUBREC received) whose entry the queue script
  // trimmed to the depth limit has no entry to join any more; the read of
  // a page that starts at or before it and returns a later entry erases it
  // (nothing else would before the session ends). A page that starts after
  // a mark, or is full and ends before one, leaves it alone.
  test::temp_dir dir;
  std::error_code err;
  std::string detail;
  auto p = open_rocksdb_store(dir.path(), true, err, detail);
  if (!p)
    CAF_FAIL("rocksdb: " << detail);
  auto o = options();
  o.limit = 3;
  role_store rs{std::move(p), open(o), nullptr};
  CHECK_OK(rs.recover());
  using flag_list = std::vector<std::pair<uint64_t, bool>>;
  auto flags = [&](uint64_t from, size_t limit) {
    flag_list out;
    CHECK_OK(rs.read_queue("dev", from, limit,
                           [&](queued_entry&& e) { out.emplace_back(e.seq, e.released); }));
    return out;
  };
  auto marks = [&] {
    std::vector<uint64_t> out;
    CHECK_OK(rs.read_released("dev", 0, out));
    return out;
  };
  write_batch b;
  session_record r;
  r.client_id = "dev";
  b.put_sessions.push_back(r);
  for (uint64_t s = 1; s <= 3; ++s)
    b.append.emplace_back("dev", entry(s));
  CHECK_OK(rs.apply(b));
  write_batch m;
  m.put_released = {{"dev", 1}, {"dev", 2}, {"dev", 3}};
  m.put_released.emplace_back("dev", inbound_qos2_seq(7)); // an inbound id: never touched
  CHECK_OK(rs.apply(m));
  // Two more: Redis trims 1 and 2 (limit 3); their marks stay for now.
  write_batch more;
  more.append = {{"dev", entry(4)}, {"dev", entry(5)}};
  CHECK_OK(rs.apply(more));
  CAF_CHECK_EQUAL(marks(), (seq_list{1, 2, 3, inbound_qos2_seq(7)}));
  // A page from 2 on: mark 1 is before it (left), mark 2 before its first
  // entry (erased), mark 3 joined.
  CAF_CHECK_EQUAL(flags(2, 1), (flag_list{{3, true}}));
  CAF_CHECK_EQUAL(marks(), (seq_list{1, 3, inbound_qos2_seq(7)}));
  // Boot's look at the first entry (from 0, one entry) erases mark 1.
  CAF_CHECK_EQUAL(flags(0, 1), (flag_list{{3, true}}));
  CAF_CHECK_EQUAL(marks(), (seq_list{3, inbound_qos2_seq(7)}));
  // Mark 5 after a full page's last entry stays; entry 3 trimmed, a read
  // passing it erases mark 3 and joins mark 5.
  write_batch m5;
  m5.put_released.emplace_back("dev", 5);
  m5.append.emplace_back("dev", entry(6)); // trims 3
  CHECK_OK(rs.apply(m5));
  CAF_CHECK_EQUAL(flags(4, 1), (flag_list{{4, false}}));
  CAF_CHECK_EQUAL(marks(), (seq_list{3, 5, inbound_qos2_seq(7)}));
  CAF_CHECK_EQUAL(flags(0, 0), (flag_list{{4, false}, {5, true}, {6, false}}));
  CAF_CHECK_EQUAL(marks(), (seq_list{5, inbound_qos2_seq(7)}));
  // Redis expires the client's keys (its TTL): a read that returns fewer
  // entries than asked (here none) has seen all there is, so the marks
  // after its last entry go too (Redis reads are complete); the inbound id
  // stays.
  for (char k : {'q', 'n', 'd'})
    cmd({"DEL", redis_client_key(prefix, "dev", k)});
  CAF_CHECK_EQUAL(flags(0, 1), flag_list{});
  CAF_CHECK_EQUAL(marks(), (seq_list{inbound_qos2_seq(7)}));
}

CAF_TEST(a script error fails the batch with the reason) {
  auto st = open();
  cmd({"SET", redis_client_key(prefix, "wrong"), "not a sorted set"});
  queue_batch b;
  b.append.emplace_back("wrong", entry(1));
  auto err = st->apply(b);
  CAF_CHECK(err);
  CAF_MESSAGE("error: " << st->last_error());
  CAF_CHECK(st->last_error().find("WRONGTYPE") != std::string::npos);
  // Nothing of the failed client changed.
  CAF_CHECK_EQUAL(integer({"EXISTS", redis_client_key(prefix, "wrong", 'n')}), 0);
}

CAF_TEST(a killed connection fails a batch then reconnects and retries kept erases) {
  auto o = options();
  o.client_name = "amqkill" + std::to_string(::getpid());
  auto st = open(o);
  append(*st, "k", 1, 5);
  // Kill the store's connection (found by its name), nobody else's.
  auto list = cmd({"CLIENT", "LIST"});
  std::string lines{list->str, list->len};
  auto at = lines.find("name=" + o.client_name + " ");
  CAF_REQUIRE(at != std::string::npos);
  auto line_start = lines.rfind('\n', at);
  line_start = line_start == std::string::npos ? 0 : line_start + 1;
  auto id = lines.substr(line_start + 3, lines.find(' ', line_start) - line_start - 3);
  auto killed = cmd({"CLIENT", "KILL", "ID", id});
  CAF_REQUIRE_EQUAL(killed->integer, 1);
  // The acknowledgements may fail to reach Redis: they are kept.
  queue_batch acks;
  acks.erase_entries = {{"k", 1}, {"k", 2}};
  CHECK_OK(st->apply(acks));
  // The next batch goes through (reconnecting at once) with the kept erases.
  queue_batch more;
  more.append.emplace_back("k", entry(6));
  auto err = st->apply(more);
  if (err) {
    CAF_MESSAGE("first batch after the kill failed: " << st->last_error());
    CHECK_OK(st->apply(more));
  }
  CAF_CHECK_EQUAL(seqs(*st, "k"), seq_list({3, 4, 5, 6}));
  // The cache of scripts flushed (as after a Redis restart): reloaded.
  cmd({"SCRIPT", "FLUSH"});
  append(*st, "k", 7, 7);
  CAF_CHECK_EQUAL(seqs(*st, "k"), seq_list({3, 4, 5, 6, 7}));
}

CAF_TEST(an unreachable redis fails the open with a clear message) {
  auto o = options();
  o.port = 1; // nothing listens there
  o.connect_timeout_ms = 500;
  std::error_code err;
  std::string detail;
  auto st = open_redis_queue_store(o, err, detail);
  CAF_CHECK(st == nullptr);
  CAF_CHECK(err);
  CAF_MESSAGE(detail);
  CAF_CHECK(detail.find("127.0.0.1:1") != std::string::npos
            || detail.find(o.host + ":1") != std::string::npos);
  CAF_CHECK(detail.find("wait_at_boot_ms") != std::string::npos);
  o.wait_at_boot_ms = 300;
  st = open_redis_queue_store(o, err, detail);
  CAF_CHECK(st == nullptr);
  CAF_CHECK(detail.find("gave up after") != std::string::npos);
}

CAF_TEST_FIXTURE_SCOPE_END()
