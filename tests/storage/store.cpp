// The store interface, run case by case against every backend: memory and
// RocksDB (in a fresh temporary directory). RocksDB-only cases: reopening,
// the lock, the key layout on disk, corrupt records.
#define CAF_SUITE storage_store
#include <caf/test/unit_test.hpp>

#include "amq/storage/store.hpp"
#include "rocksdb_options.hpp"
#include "temp_dir.hpp"

#include <rocksdb/db.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <thread>

using namespace amq;
using namespace amq::storage;
using namespace std::literals;

namespace {

using protocol::message;
using protocol::message_ptr;

// -- backends -------------------------------------------------------------------

struct backend {
  std::string name;
  std::unique_ptr<test::temp_dir> dir; // null: memory
  std::unique_ptr<store> st;

  bool durable() const noexcept {
    return dir != nullptr;
  }

  store* operator->() const noexcept {
    return st.get();
  }

  /// Closes and opens the store again (memory: nothing to do).
  void reopen() {
    if (!dir)
      return;
    st.reset();
    std::error_code err;
    std::string detail;
    st = open_rocksdb_store(dir->path(), true, err, detail);
    if (!st)
      CAF_FAIL("reopen failed: " << detail);
  }

  /// Closes the store (RocksDB: releases the directory).
  void close() {
    st.reset();
  }
};

backend memory_backend() {
  return {"memory", nullptr, make_memory_store()};
}

backend rocksdb_backend() {
  backend b{"rocksdb", std::make_unique<test::temp_dir>(), nullptr};
  std::error_code err;
  std::string detail;
  b.st = open_rocksdb_store(b.dir->path(), true, err, detail);
  if (!b.st)
    CAF_FAIL("open failed: " << detail);
  return b;
}

std::vector<backend> all_backends() {
  std::vector<backend> out;
  out.push_back(memory_backend());
  out.push_back(rocksdb_backend());
  return out;
}

// -- values ---------------------------------------------------------------------

message_ptr make_msg(std::string topic, std::string payload) {
  auto m = std::make_shared<message>();
  m->topic = std::move(topic);
  m->payload = std::move(payload);
  m->qos_level = protocol::qos::at_least_once;
  return m;
}

message_ptr full_msg() {
  auto m = std::make_shared<message>();
  m->topic = "plant/7/temp";
  m->payload = std::string{"\0bin\0ary\xff", 10};
  m->qos_level = protocol::qos::exactly_once;
  m->retain = true;
  m->payload_format_indicator = 0;
  m->content_type = "application/octet-stream";
  m->response_topic = "plant/7/reply";
  m->correlation_data = std::string{"\0\x01\x02", 3};
  m->user_properties = {{"unit", "C"}, {"unit", "K"}, {"", ""}, {"ключ", "значение"}};
  m->expires_at = message::clock::now() + 3600s;
  m->publisher = "sensor-7";
  return m;
}

queued_entry entry(uint64_t seq, message_ptr m = nullptr) {
  queued_entry e;
  e.seq = seq;
  e.msg = m ? std::move(m) : make_msg("t", "m" + std::to_string(seq));
  return e;
}

session_record session(std::string client_id, uint32_t expiry = 3600) {
  session_record r;
  r.client_id = std::move(client_id);
  r.session_expiry = expiry;
  r.subscriptions.push_back({"a/#", 1, false, false, 0, 0});
  return r;
}

/// Equal up to the millisecond rounding of the stored expiry.
bool same(const message& a, const message& b) {
  auto close_enough = [](auto x, auto y) {
    if (x.has_value() != y.has_value())
      return false;
    return !x || (*x > *y ? *x - *y : *y - *x) < 50ms;
  };
  return a.topic == b.topic && a.payload == b.payload && a.qos_level == b.qos_level
         && a.retain == b.retain && a.payload_format_indicator == b.payload_format_indicator
         && a.content_type == b.content_type && a.response_topic == b.response_topic
         && a.correlation_data == b.correlation_data && a.user_properties == b.user_properties
         && close_enough(a.expires_at, b.expires_at) && a.publisher == b.publisher;
}

// -- reading helpers ------------------------------------------------------------

#define CHECK_OK(expr)                                                                   \
  do {                                                                                   \
    auto check_ok_err_ = (expr);                                                         \
    if (check_ok_err_)                                                                   \
      CAF_FAIL(#expr << " failed: " << check_ok_err_.message());                         \
  } while (false)

void apply(const backend& b, const write_batch& wb) {
  CHECK_OK(b->apply(wb));
}

std::vector<uint64_t> seqs(const backend& b, const std::string& client, uint64_t from = 0,
                           size_t limit = 0) {
  std::vector<uint64_t> out;
  CHECK_OK(b->read_queue(client, from, limit, [&](queued_entry&& e) { out.push_back(e.seq); }));
  return out;
}

std::vector<queued_entry> entries(const backend& b, const std::string& client) {
  std::vector<queued_entry> out;
  CHECK_OK(b->read_queue(client, 0, 0, [&](queued_entry&& e) { out.push_back(std::move(e)); }));
  return out;
}

uint64_t last_seq(const backend& b, const std::string& client) {
  uint64_t x = 999;
  CHECK_OK(b->last_seq(client, x));
  return x;
}

std::map<std::string, session_record> sessions(const backend& b) {
  std::map<std::string, session_record> out;
  CHECK_OK(b->for_each_session([&](session_record&& r) {
    auto id = r.client_id;
    out.emplace(std::move(id), std::move(r));
  }));
  return out;
}

std::map<std::string, std::string> retained(const backend& b) {
  std::map<std::string, std::string> out;
  CHECK_OK(b->for_each_retained([&](message_ptr&& m) { out[m->topic] = m->payload; }));
  return out;
}

using seq_list = std::vector<uint64_t>;

} // namespace

// -- sessions ---------------------------------------------------------------------

CAF_TEST(sessions are put replaced and erased) {
  for (auto& b : all_backends()) {
    CAF_MESSAGE("backend " << b.name);
    CAF_CHECK(sessions(b).empty());
    write_batch wb;
    wb.put_sessions = {session("dev1", 10), session("dev2", 20)};
    apply(b, wb);
    auto s = sessions(b);
    CAF_REQUIRE_EQUAL(s.size(), 2u);
    CAF_CHECK_EQUAL(s["dev1"].session_expiry, 10u);
    // Replace.
    wb.clear();
    auto r = session("dev1", 11);
    r.qos2_in = {5, 6};
    wb.put_sessions = {r};
    apply(b, wb);
    s = sessions(b);
    CAF_CHECK_EQUAL(s.size(), 2u);
    CAF_CHECK(s["dev1"] == r);
    // Erase.
    wb.clear();
    wb.erase_sessions = {"dev2", "never-existed"};
    apply(b, wb);
    s = sessions(b);
    CAF_CHECK_EQUAL(s.size(), 1u);
    CAF_CHECK_EQUAL(s.count("dev1"), 1u);
  }
}

CAF_TEST(erasing a session removes its queue and last seq) {
  for (auto& b : all_backends()) {
    CAF_MESSAGE("backend " << b.name);
    write_batch wb;
    wb.put_sessions = {session("dev1"), session("dev10")};
    wb.append = {{"dev1", entry(1)}, {"dev1", entry(2)}, {"dev10", entry(7)}};
    apply(b, wb);
    CAF_CHECK_EQUAL(last_seq(b, "dev1"), 2u);
    wb.clear();
    wb.erase_sessions = {"dev1"};
    apply(b, wb);
    CAF_CHECK(seqs(b, "dev1").empty());
    CAF_CHECK_EQUAL(last_seq(b, "dev1"), 0u);
    CAF_CHECK_EQUAL(sessions(b).count("dev1"), 0u);
    // The session whose id starts with the erased one is untouched.
    CAF_CHECK_EQUAL(seqs(b, "dev10"), seq_list{7});
    CAF_CHECK_EQUAL(last_seq(b, "dev10"), 7u);
    // Erase and restart in one batch: the new queue and sequence stay.
    wb.clear();
    wb.erase_sessions = {"dev10"};
    wb.put_sessions = {session("dev10")};
    wb.append = {{"dev10", entry(1)}};
    apply(b, wb);
    CAF_CHECK_EQUAL(seqs(b, "dev10"), seq_list{1});
    CAF_CHECK_EQUAL(last_seq(b, "dev10"), 1u);
  }
}

// -- queues -----------------------------------------------------------------------

CAF_TEST(queues read in sequence order from a seq with a limit) {
  for (auto& b : all_backends()) {
    CAF_MESSAGE("backend " << b.name);
    // Sequence numbers across byte boundaries, appended out of order over
    // two batches: the store orders them numerically.
    write_batch wb;
    wb.append = {{"c", entry(65536)}, {"c", entry(1)}, {"c", entry(256)}, {"d", entry(3)}};
    apply(b, wb);
    wb.clear();
    wb.append = {{"c", entry(255)}, {"c", entry(uint64_t{1} << 40)}, {"c", entry(65535)}};
    apply(b, wb);
    seq_list all{1, 255, 256, 65535, 65536, uint64_t{1} << 40};
    CAF_CHECK_EQUAL(seqs(b, "c"), all);
    CAF_CHECK_EQUAL(seqs(b, "c", 256), (seq_list{256, 65535, 65536, uint64_t{1} << 40}));
    CAF_CHECK_EQUAL(seqs(b, "c", 257, 2), (seq_list{65535, 65536}));
    CAF_CHECK_EQUAL(seqs(b, "c", 0, 1), seq_list{1});
    CAF_CHECK(seqs(b, "c", (uint64_t{1} << 40) + 1).empty());
    CAF_CHECK_EQUAL(seqs(b, "d"), seq_list{3});
    CAF_CHECK(seqs(b, "nobody").empty());
    // Erase single entries (and one that does not exist).
    wb.clear();
    wb.erase_entries = {{"c", 256}, {"c", 1}, {"c", 12345}, {"d", 3}};
    apply(b, wb);
    CAF_CHECK_EQUAL(seqs(b, "c"), (seq_list{255, 65535, 65536, uint64_t{1} << 40}));
    CAF_CHECK(seqs(b, "d").empty());
    CAF_CHECK_EQUAL(last_seq(b, "c"), uint64_t{1} << 40);
    // The entry carries its message and per-session fields.
    auto e = entries(b, "c").front();
    CAF_CHECK_EQUAL(e.msg->payload, "m255");
  }
}

CAF_TEST(client ids are arbitrary utf8 and prefixes of each other) {
  for (auto& b : all_backends()) {
    CAF_MESSAGE("backend " << b.name);
    write_batch wb;
    for (std::string c : {"a", "a/", "ab", "a\x01", "ü/ø 🙂", "q/a", "s/a"})
      wb.append.emplace_back(c, entry(c.size()));
    wb.put_sessions = {session("a"), session("ab"), session("ü/ø 🙂")};
    apply(b, wb);
    for (std::string c : {"a", "a/", "ab", "a\x01", "ü/ø 🙂", "q/a", "s/a"}) {
      CAF_CHECK_EQUAL(seqs(b, c), seq_list{c.size()});
      CAF_CHECK_EQUAL(last_seq(b, c), c.size());
    }
    CAF_CHECK_EQUAL(sessions(b).size(), 3u);
  }
}

CAF_TEST(last seq survives an emptied queue and a reopen) {
  for (auto& b : all_backends()) {
    CAF_MESSAGE("backend " << b.name);
    CAF_CHECK_EQUAL(last_seq(b, "dev1"), 0u);
    write_batch wb;
    wb.append = {{"dev1", entry(41)}, {"dev1", entry(42)}};
    apply(b, wb);
    wb.clear();
    wb.erase_entries = {{"dev1", 41}, {"dev1", 42}};
    apply(b, wb);
    CAF_CHECK(seqs(b, "dev1").empty());
    CAF_CHECK_EQUAL(last_seq(b, "dev1"), 42u);
    b.reopen();
    CAF_CHECK_EQUAL(last_seq(b, "dev1"), 42u);
    // last_seq never goes down, even if an older seq is appended.
    wb.clear();
    wb.append = {{"dev1", entry(7)}};
    apply(b, wb);
    CAF_CHECK_EQUAL(last_seq(b, "dev1"), 42u);
  }
}

// -- retained -----------------------------------------------------------------------

CAF_TEST(retained messages are put replaced and erased) {
  for (auto& b : all_backends()) {
    CAF_MESSAGE("backend " << b.name);
    write_batch wb;
    wb.put_retained = {make_msg("a/b", "1"), make_msg("a", "2"), make_msg("a/b/c", "3")};
    apply(b, wb);
    CAF_CHECK_EQUAL(retained(b), (std::map<std::string, std::string>{
                                   {"a", "2"}, {"a/b", "1"}, {"a/b/c", "3"}}));
    wb.clear();
    wb.put_retained = {make_msg("a/b", "1'")};
    wb.erase_retained = {"a", "zzz"};
    apply(b, wb);
    CAF_CHECK_EQUAL(retained(b),
                    (std::map<std::string, std::string>{{"a/b", "1'"}, {"a/b/c", "3"}}));
  }
}

// -- records --------------------------------------------------------------------------

CAF_TEST(records round trip every field) {
  for (auto& b : all_backends()) {
    CAF_MESSAGE("backend " << b.name);
    session_record r;
    r.client_id = "ü-dev";
    r.protocol_version = 4;
    r.client_type = 1;
    r.session_expiry = UINT32_MAX;
    r.disconnected_at_ms = 1'700'000'000'123;
    r.subscriptions = {{"a/+/c", 2, true, true, 2, 268'435'455}, {"$share/g/x", 0, false, false, 1, 1}};
    r.qos2_in = {1, 65535, 300};
    auto m = full_msg();
    queued_entry e;
    e.seq = 77;
    e.msg = m;
    e.qos = 2;
    e.retain = true;
    e.subscription_ids = {3, 4, 268'435'455};
    e.stored_at = message::clock::now() - 90s;
    write_batch wb;
    wb.put_sessions = {r};
    wb.append = {{"ü-dev", e}};
    wb.put_retained = {m};
    apply(b, wb);
    b.reopen();
    auto s = sessions(b);
    CAF_REQUIRE_EQUAL(s.size(), 1u);
    CAF_CHECK(s["ü-dev"] == r);
    auto es = entries(b, "ü-dev");
    CAF_REQUIRE_EQUAL(es.size(), 1u);
    CAF_CHECK_EQUAL(es[0].seq, 77u);
    CAF_CHECK_EQUAL(es[0].qos, 2);
    CAF_CHECK(es[0].retain);
    CAF_CHECK_EQUAL(es[0].subscription_ids, (std::vector<uint32_t>{3, 4, 268'435'455}));
    CAF_REQUIRE(es[0].stored_at); // through the wall clock, rounded up to the ms
    CAF_CHECK(*es[0].stored_at - *e.stored_at < 5ms && *e.stored_at - *es[0].stored_at < 5ms);
    CAF_CHECK(same(*es[0].msg, *m));
    std::vector<message_ptr> rs;
    CHECK_OK(b->for_each_retained([&](message_ptr&& x) { rs.push_back(std::move(x)); }));
    CAF_REQUIRE_EQUAL(rs.size(), 1u);
    CAF_CHECK(same(*rs[0], *m));
  }
}

CAF_TEST(a message that expired while the store was closed comes back expired) {
  for (auto& b : all_backends()) {
    CAF_MESSAGE("backend " << b.name);
    auto m = std::make_shared<message>(*make_msg("t", "soon"));
    m->expires_at = message::clock::now() + 300ms;
    auto never = make_msg("t", "never");
    write_batch wb;
    wb.append = {{"dev1", entry(1, m)}, {"dev1", entry(2, never)}};
    wb.put_retained = {m};
    apply(b, wb);
    b.close();
    std::this_thread::sleep_for(400ms);
    b.reopen();
    if (!b.durable())
      continue; // a closed memory store is gone: nothing to read back
    auto now = message::clock::now();
    auto es = entries(b, "dev1");
    CAF_REQUIRE_EQUAL(es.size(), 2u);
    CAF_CHECK(es[0].msg->expired(now));
    auto left = es[0].msg->remaining_expiry(now).value_or(999);
    CAF_CHECK_EQUAL(left, 0u);
    CAF_CHECK(!es[1].msg->expired(now));
    CAF_CHECK(!es[1].msg->expires_at);
    CHECK_OK(b->for_each_retained([&](message_ptr&& x) { CAF_CHECK(x->expired(now)); }));
  }
}

CAF_TEST(batches with an invalid client id change nothing) {
  for (auto& b : all_backends()) {
    CAF_MESSAGE("backend " << b.name);
    write_batch wb;
    wb.put_sessions = {session("good")};
    wb.append = {{"good", entry(1)}, {std::string{"ba\0d", 4}, entry(1)}};
    CAF_CHECK(b->apply(wb) == error::invalid_argument);
    wb.clear();
    wb.put_sessions = {session("")};
    CAF_CHECK(b->apply(wb) == error::invalid_argument);
    CAF_CHECK(sessions(b).empty());
    CAF_CHECK(seqs(b, "good").empty());
    uint64_t x;
    CAF_CHECK(b->last_seq(std::string{"ba\0d", 4}, x) == error::invalid_argument);
  }
}

// -- write_batch::merge ------------------------------------------------------------------

namespace {

struct state {
  std::map<std::string, session_record> s;
  std::map<std::string, seq_list> q;
  std::map<std::string, uint64_t> n;
  std::map<std::string, seq_list> m; ///< released marks
  std::map<std::string, std::string> r;
  bool operator==(const state&) const = default;
};

state snapshot(const backend& b) {
  state out;
  out.s = sessions(b);
  for (auto c : {"a", "b"}) {
    out.q[c] = seqs(b, c);
    out.n[c] = last_seq(b, c);
    CHECK_OK(b->read_released(c, 0, out.m[c]));
  }
  out.r = retained(b);
  return out;
}

} // namespace

CAF_TEST(a merged batch equals its parts applied in order) {
  auto base = [] {
    write_batch wb;
    wb.put_sessions = {session("a"), session("b")};
    wb.append = {{"a", entry(1)}, {"b", entry(1)}};
    wb.put_retained = {make_msg("t", "0")};
    return wb;
  };
  std::vector<std::pair<write_batch, write_batch>> cases;
  { // append, then the session is erased
    write_batch x, y;
    x.append = {{"a", entry(2)}};
    x.put_sessions = {session("a", 5)};
    y.erase_sessions = {"a"};
    cases.emplace_back(std::move(x), std::move(y));
  }
  { // the session is erased, then restarted
    write_batch x, y;
    x.erase_sessions = {"a"};
    y.put_sessions = {session("a", 9)};
    y.append = {{"a", entry(1)}};
    cases.emplace_back(std::move(x), std::move(y));
  }
  { // an entry is erased, then appended again after a restart
    write_batch x, y;
    x.erase_entries = {{"b", 1}};
    y.append = {{"b", entry(1)}};
    cases.emplace_back(std::move(x), std::move(y));
  }
  { // a mark is put, then its session is erased
    write_batch x, y;
    x.put_released = {{"a", 1}, {"b", 1}};
    y.erase_sessions = {"a"};
    cases.emplace_back(std::move(x), std::move(y));
  }
  { // a mark is erased with its entry, then put again
    write_batch x, y;
    x.put_released = {{"a", 1}};
    x.erase_entries = {{"a", 1}};
    x.erase_released = {{"a", 1}};
    y.append = {{"a", entry(1)}};
    y.put_released = {{"a", 1}};
    cases.emplace_back(std::move(x), std::move(y));
  }
  { // retained put then erased, erased then put
    write_batch x, y;
    x.put_retained = {make_msg("u", "1")};
    x.erase_retained = {"t"};
    y.erase_retained = {"u"};
    y.put_retained = {make_msg("t", "2")};
    cases.emplace_back(std::move(x), std::move(y));
  }
  for (auto& [x, y] : cases) {
    auto seq = memory_backend();
    auto merged = rocksdb_backend();
    apply(seq, base());
    apply(merged, base());
    apply(seq, x);
    apply(seq, y);
    write_batch m = x;
    m.merge(write_batch{y});
    apply(merged, m);
    CAF_CHECK(snapshot(seq) == snapshot(merged));
  }
}

// -- released marks (QoS 2: PUBREC received) ------------------------------------------------

namespace {

/// (seq, released) of every entry read from `from`, at most `limit`.
std::vector<std::pair<uint64_t, bool>> flags(const backend& b, const std::string& client,
                                             uint64_t from = 0, size_t limit = 0) {
  std::vector<std::pair<uint64_t, bool>> out;
  CHECK_OK(b->read_queue(client, from, limit,
                         [&](queued_entry&& e) { out.emplace_back(e.seq, e.released); }));
  return out;
}

seq_list marks(const backend& b, const std::string& client, uint64_t from = 0) {
  seq_list out;
  CHECK_OK(b->read_released(client, from, out));
  return out;
}

using flag_list = std::vector<std::pair<uint64_t, bool>>;

} // namespace

CAF_TEST(released marks are read with their entries and go with them) {
  for (auto& b : all_backends()) {
    CAF_MESSAGE("backend " << b.name);
    write_batch wb;
    wb.put_sessions = {session("c"), session("c1")};
    wb.append = {{"c", entry(1)}, {"c", entry(2)}, {"c", entry(3)}, {"c", entry(300)},
                 {"c1", entry(2)}};
    apply(b, wb);
    CAF_CHECK_EQUAL(flags(b, "c"),
                    (flag_list{{1, false}, {2, false}, {3, false}, {300, false}}));
    // PUBREC of 2 and 300 (300: the seq's second byte is set).
    wb.clear();
    wb.put_released = {{"c", 2}, {"c", 300}};
    apply(b, wb);
    CAF_CHECK_EQUAL(flags(b, "c"), (flag_list{{1, false}, {2, true}, {3, false}, {300, true}}));
    CAF_CHECK_EQUAL(flags(b, "c", 2, 2), (flag_list{{2, true}, {3, false}}));
    CAF_CHECK_EQUAL(flags(b, "c", 3), (flag_list{{3, false}, {300, true}}));
    CAF_CHECK_EQUAL(marks(b, "c"), (seq_list{2, 300}));
    CAF_CHECK_EQUAL(marks(b, "c", 3), (seq_list{300}));
    // Another client, whose id extends this one, has none.
    CAF_CHECK_EQUAL(flags(b, "c1"), (flag_list{{2, false}}));
    CAF_CHECK(marks(b, "c1").empty());
    // They survive a restart.
    b.reopen();
    CAF_CHECK_EQUAL(flags(b, "c"), (flag_list{{1, false}, {2, true}, {3, false}, {300, true}}));
    // PUBCOMP of 2: entry and mark go in one batch.
    wb.clear();
    wb.erase_entries = {{"c", 2}};
    wb.erase_released = {{"c", 2}};
    apply(b, wb);
    CAF_CHECK_EQUAL(flags(b, "c"), (flag_list{{1, false}, {3, false}, {300, true}}));
    CAF_CHECK_EQUAL(marks(b, "c"), (seq_list{300}));
    // A mark without its entry is never read as an entry.
    wb.clear();
    wb.put_released = {{"c", 7}};
    apply(b, wb);
    CAF_CHECK_EQUAL(seqs(b, "c"), (seq_list{1, 3, 300}));
    // Erasing the session erases its marks (no orphans), not the other's.
    wb.clear();
    wb.put_released = {{"c1", 2}};
    wb.erase_sessions = {"c"};
    apply(b, wb);
    CAF_CHECK(marks(b, "c").empty());
    CAF_CHECK_EQUAL(marks(b, "c1"), (seq_list{2}));
    // A session created again with an old seq does not inherit a mark.
    wb.clear();
    wb.put_sessions = {session("c")};
    wb.append = {{"c", entry(300)}};
    apply(b, wb);
    CAF_CHECK_EQUAL(flags(b, "c"), (flag_list{{300, false}}));
    // Marks of a client without a queue here (its queue was in Redis or
    // Kafka) are listed with the queues, so the boot clean-up erases them
    // (erase_sessions) when it has no record.
    wb.clear();
    wb.put_released = {{"ghost", 4}, {"ghost", 5}, {"c", 300}};
    apply(b, wb);
    std::vector<std::string> listed;
    CHECK_OK(b->for_each_queue([&](const std::string& c) { listed.push_back(c); }));
    CAF_CHECK_EQUAL(std::count(listed.begin(), listed.end(), "ghost"), 1);
    CAF_CHECK_EQUAL(std::count(listed.begin(), listed.end(), "c"), 1); // once, marks or not
    wb.clear();
    wb.erase_sessions = {"ghost"};
    apply(b, wb);
    CAF_CHECK(marks(b, "ghost").empty());
    listed.clear();
    CHECK_OK(b->for_each_queue([&](const std::string& c) { listed.push_back(c); }));
    CAF_CHECK_EQUAL(std::count(listed.begin(), listed.end(), "ghost"), 0);
  }
}

CAF_TEST(inbound qos 2 ids are kept as marks apart from the queue) {
  using amq::storage::inbound_qos2_base;
  using amq::storage::inbound_qos2_seq;
  for (auto& b : all_backends()) {
    CAF_MESSAGE("backend " << b.name);
    write_batch wb;
    wb.put_sessions = {session("c"), session("c1")};
    wb.append = {{"c", entry(1)}, {"c", entry(7)}};
    wb.put_released = {{"c", 1}, {"c", inbound_qos2_seq(7)}, {"c", inbound_qos2_seq(65535)}};
    apply(b, wb);
    // The ids never join a queue entry (entry 7 is not released) ...
    CAF_CHECK_EQUAL(flags(b, "c"), (flag_list{{1, true}, {7, false}}));
    // ... and are read from the reserved range, apart from the entry marks.
    CAF_CHECK_EQUAL(marks(b, "c", inbound_qos2_base),
                    (seq_list{inbound_qos2_seq(7), inbound_qos2_seq(65535)}));
    CAF_CHECK(amq::storage::is_inbound_qos2_seq(inbound_qos2_seq(65535)));
    CAF_CHECK(!amq::storage::is_inbound_qos2_seq(65535));
    CAF_CHECK(marks(b, "c1", inbound_qos2_base).empty());
    b.reopen();
    CAF_CHECK_EQUAL(marks(b, "c", inbound_qos2_base),
                    (seq_list{inbound_qos2_seq(7), inbound_qos2_seq(65535)}));
    // PUBREL erases one.
    wb.clear();
    wb.erase_released = {{"c", inbound_qos2_seq(7)}};
    apply(b, wb);
    CAF_CHECK_EQUAL(marks(b, "c", inbound_qos2_base), (seq_list{inbound_qos2_seq(65535)}));
    // Erasing the session (clear, expiry, clean takeover) erases the rest.
    wb.clear();
    wb.put_released = {{"c1", inbound_qos2_seq(3)}};
    wb.erase_sessions = {"c"};
    apply(b, wb);
    CAF_CHECK(marks(b, "c", inbound_qos2_base).empty());
    CAF_CHECK_EQUAL(marks(b, "c1", inbound_qos2_base), (seq_list{inbound_qos2_seq(3)}));
    b.reopen();
    CAF_CHECK(marks(b, "c", inbound_qos2_base).empty());
  }
}

// -- RocksDB only -------------------------------------------------------------------------

CAF_TEST(reopening keeps everything) {
  auto b = rocksdb_backend();
  CAF_CHECK_EQUAL(b->describe(), "rocksdb:" + b.dir->path());
  write_batch wb;
  for (int i = 0; i < 100; ++i) {
    auto c = "dev" + std::to_string(i);
    wb.put_sessions.push_back(session(c, static_cast<uint32_t>(i)));
    for (uint64_t s = 1; s <= 10; ++s)
      wb.append.emplace_back(c, entry(s));
    wb.put_retained.push_back(make_msg("r/" + c, c));
  }
  apply(b, wb);
  auto before = sessions(b);
  b.reopen();
  CAF_CHECK(sessions(b) == before);
  CAF_CHECK_EQUAL(retained(b).size(), 100u);
  for (int i = 0; i < 100; ++i) {
    auto c = "dev" + std::to_string(i);
    CAF_CHECK_EQUAL(seqs(b, c), (seq_list{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}));
    CAF_CHECK_EQUAL(last_seq(b, c), 10u);
  }
}

CAF_TEST(a second open of the same directory fails with a clear message) {
  auto b = rocksdb_backend();
  std::error_code err;
  std::string detail;
  auto second = open_rocksdb_store(b.dir->path(), true, err, detail);
  CAF_CHECK(second == nullptr);
  CAF_CHECK(err == error::locked);
  CAF_MESSAGE("detail: " << detail);
  CAF_CHECK(detail.find("data directory " + b.dir->path() + " is locked") != std::string::npos);
  // The first store still works.
  write_batch wb;
  wb.put_sessions = {session("x")};
  apply(b, wb);
}

CAF_TEST(an unusable directory fails with a clear message) {
  test::temp_dir d;
  auto file = d.path() + "/not-a-dir";
  { std::ofstream{file} << "x"; }
  std::error_code err;
  std::string detail;
  auto st = open_rocksdb_store(file + "/data", true, err, detail);
  CAF_CHECK(st == nullptr);
  CAF_CHECK(err);
  CAF_MESSAGE("detail: " << detail);
  CAF_CHECK(detail.find("data directory " + file + "/data") != std::string::npos);
}

CAF_TEST(the key layout on disk is the documented one) {
  auto b = rocksdb_backend();
  write_batch wb;
  wb.put_sessions = {session("dev1")};
  wb.append = {{"dev1", entry(0x0102)}};
  wb.put_released = {{"dev1", 0x0102}};
  wb.put_retained = {make_msg("a/b", "x")};
  apply(b, wb);
  b.close();
  rocksdb::DB* raw = nullptr;
  CAF_REQUIRE(rocksdb::DB::Open(make_rocksdb_options(), b.dir->path(), &raw).ok());
  std::unique_ptr<rocksdb::DB> db{raw};
  std::vector<std::string> keys;
  std::unique_ptr<rocksdb::Iterator> it{db->NewIterator(rocksdb::ReadOptions{})};
  for (it->SeekToFirst(); it->Valid(); it->Next())
    keys.push_back(it->key().ToString());
  std::vector<std::string> expected{
    std::string{"m/dev1\0\0\0\0\0\0\0\x01\x02", 15},
    "n/dev1",
    std::string{"q/dev1\0\0\0\0\0\0\0\x01\x02", 15},
    "r/a/b",
    "s/dev1",
  };
  CAF_CHECK_EQUAL(keys, expected);
  std::string v;
  CAF_CHECK(db->Get(rocksdb::ReadOptions{}, "n/dev1", &v).ok());
  CAF_CHECK_EQUAL(v, std::string("\x01\x04\x02\x01\0\0\0\0\0\0", 10));
  // The released mark: version 1, type 0x05, the seq (u64 LE).
  CAF_CHECK(db->Get(rocksdb::ReadOptions{}, std::string{"m/dev1\0\0\0\0\0\0\0\x01\x02", 15}, &v)
              .ok());
  CAF_CHECK_EQUAL(v, std::string("\x01\x05\x02\x01\0\0\0\0\0\0", 10));
}

CAF_TEST(corrupt records are skipped and reported) {
  auto b = rocksdb_backend();
  write_batch wb;
  wb.put_sessions = {session("good"), session("dev2")};
  wb.append = {{"good", entry(1)}, {"good", entry(2)}, {"good", entry(3)},
               {"dev2", entry(4)}, {"dev2", entry(5)}};
  wb.put_retained = {make_msg("ok", "1"), make_msg("bad", "2")};
  apply(b, wb);
  b.close();
  { // Damage values (and add a malformed key) behind the store's back.
    rocksdb::DB* raw = nullptr;
    CAF_REQUIRE(rocksdb::DB::Open(make_rocksdb_options(), b.dir->path(), &raw).ok());
    std::unique_ptr<rocksdb::DB> db{raw};
    rocksdb::WriteOptions wo;
    CAF_REQUIRE(db->Put(wo, "s/dev2", "\x01\x01garbage").ok());
    CAF_REQUIRE(db->Put(wo, "s/evil", std::string{"\xff\x00", 2}).ok());
    CAF_REQUIRE(db->Put(wo, std::string{"q/good\0\0\0\0\0\0\0\0\x02", 15}, "\x01\x02").ok());
    CAF_REQUIRE(db->Put(wo, std::string{"q/good\0xyz", 10}, "\x01\x02").ok());
    CAF_REQUIRE(db->Put(wo, "r/bad", "").ok());
    CAF_REQUIRE(db->Put(wo, "n/dev2", "\x01\x04\x01").ok());
  }
  b.reopen();
  std::vector<std::string> reported;
  b->on_corrupt([&](std::string_view what, std::string_view key, std::error_code why) {
    reported.push_back(std::string{what} + " " + std::string{key} + ": " + why.message());
  });
  auto s = sessions(b);
  CAF_CHECK_EQUAL(s.size(), 1u);
  CAF_CHECK_EQUAL(s.count("good"), 1u);
  CAF_CHECK_EQUAL(seqs(b, "good"), (seq_list{1, 3}));
  CAF_CHECK_EQUAL(seqs(b, "good", 0, 2), (seq_list{1, 3})); // skipped ones do not count
  CAF_CHECK_EQUAL(retained(b), (std::map<std::string, std::string>{{"ok", "1"}}));
  // A corrupt last seq falls back to the highest queued entry.
  CAF_CHECK_EQUAL(last_seq(b, "dev2"), 5u);
  for (auto& r : reported)
    CAF_MESSAGE("reported: " << r);
  // 2 sessions; 2 entries on the first queue read, 1 on the second (the
  // limit stops it before the malformed key); 1 retained; 1 last seq.
  CAF_CHECK_EQUAL(reported.size(), 7u);
  CAF_CHECK_EQUAL(b->corrupt_records(), reported.size());
}
