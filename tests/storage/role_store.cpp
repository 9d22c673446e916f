// The role composite (amq/storage/role_store.hpp): routing by client type,
// a changed type moving the queue, erase order, boot clean-up of leftover
// queues, and what a failing queue backend does to a batch. The queue
// backend here is an in-memory fake that can be told to fail; the Redis
// backend has its own suite (storage_redis).
#define CAF_SUITE storage_role_store
#include <caf/test/unit_test.hpp>

#include "amq/storage/role_store.hpp"
#include "amq/metrics/registry.hpp"

#include <map>
#include <set>

using namespace amq;
using namespace amq::storage;

namespace {

#define CHECK_OK(expr)                                                                   \
  do {                                                                                   \
    auto check_ok_err_ = (expr);                                                         \
    if (check_ok_err_)                                                                   \
      CAF_FAIL(#expr << " failed: " << check_ok_err_.message());                         \
  } while (false)

/// In-memory queue backend; `fail` makes every apply fail, changing nothing.
class fake_queue final : public queue_store {
public:
  std::map<std::string, std::map<uint64_t, queued_entry>> queues;
  std::map<std::string, uint64_t> last;
  std::vector<std::string> created;
  bool fail = false;
  int applies = 0;
  std::string name = "fake";
  /// Erases not durable yet (as Kafka before its offset commit is
  /// confirmed): `defer_erases` puts every erase here, `confirm` makes
  /// them durable.
  bool defer_erases = false;
  std::set<std::pair<std::string, uint64_t>> pending;
  uint64_t epoch = 0;
  int maintains = 0;

  void confirm() {
    pending.clear();
    ++epoch;
  }

  bool erase_pending(const std::string& c, uint64_t seq) const override {
    return pending.count({c, seq}) > 0;
  }

  uint64_t durability_epoch() const noexcept override {
    return epoch;
  }

  bool maintain() override {
    ++maintains;
    return !pending.empty();
  }

  std::string describe() const override {
    return name;
  }

  std::error_code apply(const queue_batch& b) override {
    ++applies;
    if (fail)
      return error::backend_failure;
    for (auto& c : b.erase_queues) {
      queues.erase(c);
      last.erase(c);
    }
    created.insert(created.end(), b.create_queues.begin(), b.create_queues.end());
    for (auto& [c, e] : b.append) {
      queues[c][e.seq] = e;
      last[c] = std::max(last[c], e.seq);
    }
    for (auto& [c, s] : b.erase_entries) {
      if (auto i = queues.find(c); i != queues.end())
        i->second.erase(s);
      if (defer_erases)
        pending.emplace(c, s);
    }
    return {};
  }

  std::error_code read_queue(const std::string& c, uint64_t from, size_t limit,
                             const std::function<void(queued_entry&&)>& f) override {
    size_t n = 0;
    if (auto q = queues.find(c); q != queues.end())
      for (auto i = q->second.lower_bound(from); i != q->second.end() && (!limit || n < limit);
           ++i, ++n)
        f(queued_entry{i->second});
    return {};
  }

  std::error_code last_seq(const std::string& c, uint64_t& out) override {
    out = last.count(c) ? last[c] : 0;
    return {};
  }

  std::error_code queue_stats(const std::string& c, queue_info& out) override {
    out = {};
    out.depth = queues.count(c) ? queues[c].size() : 0;
    return {};
  }

  std::error_code for_each_client(const std::function<void(const std::string&)>& f) override {
    for (auto& [c, l] : last)
      f(c);
    return {};
  }

  std::vector<uint64_t> seqs(const std::string& c) {
    std::vector<uint64_t> out;
    if (queues.count(c))
      for (auto& [s, e] : queues[c])
        out.push_back(s);
    return out;
  }
};

queued_entry entry(uint64_t seq) {
  auto m = std::make_shared<protocol::message>();
  m->topic = "t";
  m->payload = "m" + std::to_string(seq);
  m->qos_level = protocol::qos::at_least_once;
  queued_entry e;
  e.seq = seq;
  e.msg = std::move(m);
  return e;
}

session_record record(std::string client_id, uint8_t type) {
  session_record r;
  r.client_id = std::move(client_id);
  r.client_type = type;
  r.session_expiry = 3600;
  return r;
}

/// A composite over a memory primary (holding APPLICATION queues) and a
/// fake DEVICE backend; `primary` and `device` stay valid while it lives.
struct fixture {
  store* primary = nullptr;
  fake_queue* device = nullptr;
  std::unique_ptr<role_store> st;

  fixture() {
    auto p = make_memory_store();
    auto d = std::make_unique<fake_queue>();
    primary = p.get();
    device = d.get();
    st = std::make_unique<role_store>(std::move(p), std::move(d), nullptr);
  }

  std::vector<uint64_t> seqs(store& s, const std::string& c) {
    std::vector<uint64_t> out;
    CHECK_OK(s.read_queue(c, 0, 0, [&](queued_entry&& e) { out.push_back(e.seq); }));
    return out;
  }

  std::map<std::string, session_record> records() {
    std::map<std::string, session_record> out;
    CHECK_OK(primary->for_each_session([&](session_record&& r) { out[r.client_id] = r; }));
    return out;
  }
};

using seq_list = std::vector<uint64_t>;

} // namespace

CAF_TEST_FIXTURE_SCOPE(role_store_tests, fixture)

CAF_TEST(queues go to the backend of the client type and records to the primary) {
  write_batch b;
  b.put_sessions = {record("dev", 0), record("app", 1)};
  b.append = {{"dev", entry(1)}, {"dev", entry(2)}, {"app", entry(1)}};
  CHECK_OK(st->apply(b));
  CAF_CHECK_EQUAL(device->seqs("dev"), seq_list({1, 2}));
  CAF_CHECK_EQUAL(device->seqs("app"), seq_list{});
  CAF_CHECK_EQUAL(device->created, std::vector<std::string>({"dev"}));
  CAF_CHECK_EQUAL(seqs(*primary, "app"), seq_list({1}));
  CAF_CHECK_EQUAL(seqs(*primary, "dev"), seq_list{});
  CAF_CHECK_EQUAL(records().size(), 2u);
  // Reads through the composite route the same way.
  CAF_CHECK_EQUAL(seqs(*st, "dev"), seq_list({1, 2}));
  CAF_CHECK_EQUAL(seqs(*st, "app"), seq_list({1}));
  uint64_t last = 0;
  CHECK_OK(st->last_seq("dev", last));
  CAF_CHECK_EQUAL(last, 2u);
  queue_info qi;
  CHECK_OK(st->queue_stats("dev", qi));
  CAF_CHECK_EQUAL(qi.depth, 2u);
  // Acks go where the entries are.
  write_batch acks;
  acks.erase_entries = {{"dev", 1}, {"app", 1}};
  CHECK_OK(st->apply(acks));
  CAF_CHECK_EQUAL(device->seqs("dev"), seq_list({2}));
  CAF_CHECK_EQUAL(seqs(*primary, "app"), seq_list{});
  // A later record of a known session creates nothing.
  write_batch again;
  again.put_sessions = {record("dev", 0)};
  CHECK_OK(st->apply(again));
  CAF_CHECK_EQUAL(device->created.size(), 1u);
}

CAF_TEST(a changed client type moves the queue with its sequence numbers) {
  write_batch b;
  b.put_sessions = {record("c", 0)};
  b.append = {{"c", entry(5)}, {"c", entry(6)}};
  CHECK_OK(st->apply(b));
  // Reconnects as APPLICATION: the queue moves to the primary.
  write_batch to_app;
  to_app.put_sessions = {record("c", 1)};
  to_app.append = {{"c", entry(7)}};
  CHECK_OK(st->apply(to_app));
  CAF_CHECK(st->role_of_client("c") == queue_role::application);
  CAF_CHECK_EQUAL(seqs(*primary, "c"), seq_list({5, 6, 7}));
  CAF_CHECK_EQUAL(device->seqs("c"), seq_list{});
  CAF_CHECK_EQUAL(device->last.count("c"), 0u);
  // And back to DEVICE: out of the primary, into the device backend.
  write_batch to_dev;
  to_dev.put_sessions = {record("c", 0)};
  CHECK_OK(st->apply(to_dev));
  CAF_CHECK_EQUAL(device->seqs("c"), seq_list({5, 6, 7}));
  CAF_CHECK_EQUAL(seqs(*primary, "c"), seq_list{});
  CAF_CHECK_EQUAL(records().at("c").client_type, 0);
}

CAF_TEST(appends before the first record are moved when the record says APPLICATION) {
  write_batch early;
  early.append = {{"late", entry(1)}};
  CHECK_OK(st->apply(early));
  CAF_CHECK_EQUAL(device->seqs("late"), seq_list({1}));
  write_batch rec;
  rec.put_sessions = {record("late", 1)};
  CHECK_OK(st->apply(rec));
  CAF_CHECK_EQUAL(seqs(*primary, "late"), seq_list({1}));
  CAF_CHECK_EQUAL(device->seqs("late"), seq_list{});
}

CAF_TEST(erasing a session erases its record and its queue in its backend) {
  write_batch b;
  b.put_sessions = {record("dev", 0)};
  b.append = {{"dev", entry(1)}};
  CHECK_OK(st->apply(b));
  write_batch e;
  e.erase_sessions = {"dev"};
  CHECK_OK(st->apply(e));
  CAF_CHECK_EQUAL(records().count("dev"), 0u);
  CAF_CHECK_EQUAL(device->queues.count("dev"), 0u);
  // Erased and re-created in one batch: the new appends stay.
  CHECK_OK(st->apply(b));
  write_batch again;
  again.erase_sessions = {"dev"};
  again.put_sessions = {record("dev", 0)};
  again.append = {{"dev", entry(1)}};
  CHECK_OK(st->apply(again));
  CAF_CHECK_EQUAL(device->seqs("dev"), seq_list({1}));
  CAF_CHECK_EQUAL(records().count("dev"), 1u);
}

CAF_TEST(a session erased and recreated in one batch gets a fresh queue and a create) {
  write_batch b;
  b.put_sessions = {record("dev", 0)};
  b.append = {{"dev", entry(1)}, {"dev", entry(2)}};
  CHECK_OK(st->apply(b));
  write_batch again;
  again.erase_sessions = {"dev"};
  again.put_sessions = {record("dev", 0)};
  CHECK_OK(st->apply(again));
  CAF_CHECK_EQUAL(device->seqs("dev"), seq_list{});
  CAF_CHECK_EQUAL(device->created, std::vector<std::string>({"dev", "dev"}));
  // An erase of a client the composite knows nothing of reaches the queue
  // backend anyway (appends may have come before any record).
  queue_batch stray;
  stray.append = {{"ghost", entry(1)}};
  CHECK_OK(device->apply(stray));
  write_batch gone;
  gone.erase_sessions = {"ghost"};
  CHECK_OK(st->apply(gone));
  CAF_CHECK_EQUAL(device->queues.count("ghost"), 0u);
}

CAF_TEST(recover removes leftover queues and learns types) {
  write_batch b;
  b.put_sessions = {record("dev", 0), record("app", 1)};
  b.append = {{"dev", entry(1)}};
  CHECK_OK(st->apply(b));
  // Leftovers: an orphan (no record) and a copy of an APPLICATION queue.
  queue_batch junk;
  junk.append = {{"orphan", entry(1)}, {"app", entry(3)}};
  CHECK_OK(device->apply(junk));
  auto fresh = std::make_unique<fake_queue>();
  *fresh = *device;
  auto* dev = fresh.get();
  // A new composite over the same state, as at boot.
  auto p = make_memory_store();
  write_batch recs;
  recs.put_sessions = {record("dev", 0), record("app", 1)};
  CHECK_OK(p->apply(recs));
  role_store booted{std::move(p), std::move(fresh), nullptr};
  std::vector<std::string> removed;
  CHECK_OK(booted.recover([&](const std::string& c, const std::string&) { removed.push_back(c); }));
  std::sort(removed.begin(), removed.end());
  CAF_CHECK_EQUAL(removed, std::vector<std::string>({"app", "orphan"}));
  CAF_CHECK_EQUAL(dev->seqs("dev"), seq_list({1}));
  CAF_CHECK(booted.role_of_client("app") == queue_role::application);
  std::vector<std::string> queues;
  CHECK_OK(booted.for_each_queue([&](const std::string& c) { queues.push_back(c); }));
  CAF_CHECK_EQUAL(queues, std::vector<std::string>({"dev"}));
}

CAF_TEST(a failing queue backend fails the batch but not the primary part) {
  write_batch b;
  b.put_sessions = {record("dev", 0)};
  CHECK_OK(st->apply(b));
  device->fail = true;
  write_batch w;
  w.append = {{"dev", entry(1)}};
  auto retained = std::make_shared<protocol::message>();
  retained->topic = "r";
  retained->payload = "x";
  w.put_retained = {retained};
  w.put_sessions = {record("other", 0)};
  CAF_CHECK(st->apply(w));
  CAF_CHECK(!st->last_error().empty());
  CAF_CHECK_EQUAL(records().count("other"), 1u);
  size_t n = 0;
  CHECK_OK(st->for_each_retained([&](protocol::message_ptr&&) { ++n; }));
  CAF_CHECK_EQUAL(n, 1u);
  // A batch that does not touch the failing backend succeeds.
  write_batch clean;
  clean.put_sessions = {record("app", 1)};
  clean.append = {{"app", entry(1)}};
  CHECK_OK(st->apply(clean));
  device->fail = false;
  CHECK_OK(st->apply(w));
  CAF_CHECK_EQUAL(device->seqs("dev"), seq_list({1}));
}

CAF_TEST(a move whose target fails keeps the old type and the old queue) {
  // APPLICATION (primary) -> DEVICE (failing fake): nothing moves.
  write_batch b;
  b.put_sessions = {record("c", 1)};
  b.append = {{"c", entry(1)}, {"c", entry(2)}};
  CHECK_OK(st->apply(b));
  device->fail = true;
  write_batch to_dev;
  to_dev.put_sessions = {record("c", 0)};
  CAF_CHECK(st->apply(to_dev));
  CAF_CHECK(st->role_of_client("c") == queue_role::application);
  CAF_CHECK_EQUAL(records().at("c").client_type, 1);
  CAF_CHECK_EQUAL(seqs(*primary, "c"), seq_list({1, 2}));
  device->fail = false;
  CHECK_OK(st->apply(to_dev));
  CAF_CHECK_EQUAL(device->seqs("c"), seq_list({1, 2}));
  CAF_CHECK_EQUAL(seqs(*primary, "c"), seq_list{});
}

CAF_TEST(each backend part is observed under its own metrics label) {
  namespace m = amq::metrics;
  auto d = std::make_unique<fake_queue>();
  auto a = std::make_unique<fake_queue>();
  d->name = "redis://127.0.0.1:6379/0";
  a->name = "kafka:localhost:9092 (APPLICATION queues)";
  auto* app = a.get();
  role_store rs{make_memory_store(), std::move(d), std::move(a)};
  // Slot of `what` in the storage block of backend label `label`.
  auto at = [](const std::vector<int64_t>& s, std::string_view label, size_t what) {
    size_t b = 0;
    while (m::backend_names[b] != label)
      ++b;
    return s[m::slot::storage + b * m::slot::storage_block + what];
  };
  auto batch_hist = [&](const std::vector<int64_t>& s, std::string_view label) {
    int64_t n = 0;
    for (size_t i = 0; i <= m::batch_bounds.size(); ++i)
      n += at(s, label, m::slot::st_batch_hist + i);
    return n;
  };
  auto s0 = m::snapshot();
  write_batch b;
  b.put_sessions = {record("dev", 0), record("app", 1)};
  b.append.emplace_back("dev", entry(1));
  b.append.emplace_back("app", entry(1));
  CHECK_OK(rs.apply(b));
  auto s1 = m::snapshot();
  for (std::string_view label : {"redis", "kafka", "memory"}) {
    CAF_MESSAGE("backend " << label);
    CAF_CHECK_EQUAL(at(s1, label, m::slot::st_commits) - at(s0, label, m::slot::st_commits), 1);
    CAF_CHECK_EQUAL(at(s1, label, m::slot::st_errors) - at(s0, label, m::slot::st_errors), 0);
    // A part has a latency, not a batch count (that is the whole commit's).
    int64_t hist = 0;
    for (size_t i = 0; i <= m::latency_bounds.size(); ++i)
      hist += at(s1, label, m::slot::st_latency + i) - at(s0, label, m::slot::st_latency + i);
    CAF_CHECK_EQUAL(hist, 1);
    CAF_CHECK_EQUAL(batch_hist(s1, label) - batch_hist(s0, label), 0);
  }
  CAF_CHECK_EQUAL(at(s1, "mixed", m::slot::st_commits) - at(s0, "mixed", m::slot::st_commits), 0);
  // Only the APPLICATION backend has work, and it fails: one kafka error.
  app->fail = true;
  write_batch only_app;
  only_app.append.emplace_back("app", entry(2));
  CAF_CHECK(rs.apply(only_app));
  auto s2 = m::snapshot();
  CAF_CHECK_EQUAL(at(s2, "kafka", m::slot::st_commits) - at(s1, "kafka", m::slot::st_commits), 1);
  CAF_CHECK_EQUAL(at(s2, "kafka", m::slot::st_errors) - at(s1, "kafka", m::slot::st_errors), 1);
  CAF_CHECK_EQUAL(at(s2, "redis", m::slot::st_commits) - at(s1, "redis", m::slot::st_commits), 0);
  CAF_CHECK_EQUAL(at(s2, "memory", m::slot::st_commits) - at(s1, "memory", m::slot::st_commits),
                  0);
}

CAF_TEST(released marks live in the primary and join every queue backend) {
  auto flags = [&](const std::string& c) {
    std::vector<std::pair<uint64_t, bool>> out;
    CHECK_OK(st->read_queue(c, 0, 0,
                            [&](queued_entry&& e) { out.emplace_back(e.seq, e.released); }));
    return out;
  };
  using flag_list = std::vector<std::pair<uint64_t, bool>>;
  write_batch b;
  b.put_sessions = {record("dev", 0), record("app", 1)};
  b.append = {{"dev", entry(1)}, {"dev", entry(2)}, {"app", entry(1)}, {"app", entry(2)}};
  CHECK_OK(st->apply(b));
  b = {};
  b.put_released = {{"dev", 2}, {"app", 1}};
  CHECK_OK(st->apply(b));
  // The DEVICE queue is in the fake backend, the marks in the primary.
  std::vector<uint64_t> in_primary;
  CHECK_OK(primary->read_released("dev", 0, in_primary));
  CAF_CHECK_EQUAL(in_primary, std::vector<uint64_t>{2});
  CAF_CHECK_EQUAL(flags("dev"), (flag_list{{1, false}, {2, true}}));
  CAF_CHECK_EQUAL(flags("app"), (flag_list{{1, true}, {2, false}}));
  // A page from seq 2 of the DEVICE queue still carries it.
  std::vector<std::pair<uint64_t, bool>> page;
  CHECK_OK(st->read_queue("dev", 2, 1,
                          [&](queued_entry&& e) { page.emplace_back(e.seq, e.released); }));
  CAF_CHECK_EQUAL(page, (flag_list{{2, true}}));
  // A type change moves the queue; the marks stay valid (same seqs).
  b = {};
  b.put_sessions = {record("dev", 1)};
  CHECK_OK(st->apply(b));
  CAF_CHECK(device->seqs("dev").empty());
  CAF_CHECK_EQUAL(flags("dev"), (flag_list{{1, false}, {2, true}}));
  b = {};
  b.put_sessions = {record("dev", 0)};
  CHECK_OK(st->apply(b));
  CAF_CHECK_EQUAL(flags("dev"), (flag_list{{1, false}, {2, true}}));
  // PUBCOMP while the DEVICE backend fails: the entry stays and so does its
  // mark (a restart resends PUBREL, not the message).
  device->fail = true;
  b = {};
  b.append = {{"dev", entry(3)}};
  b.erase_entries = {{"dev", 2}};
  b.erase_released = {{"dev", 2}};
  CAF_CHECK(st->apply(b));
  device->fail = false;
  CAF_CHECK_EQUAL(flags("dev"), (flag_list{{1, false}, {2, true}}));
  // It works: both go.
  b = {};
  b.erase_entries = {{"dev", 2}};
  b.erase_released = {{"dev", 2}};
  CHECK_OK(st->apply(b));
  CAF_CHECK_EQUAL(flags("dev"), (flag_list{{1, false}}));
  in_primary.clear();
  CHECK_OK(primary->read_released("dev", 0, in_primary));
  CAF_CHECK(in_primary.empty());
  // Erasing a session erases its marks with its record.
  b = {};
  b.erase_sessions = {"app"};
  CHECK_OK(st->apply(b));
  in_primary.clear();
  CHECK_OK(st->read_released("app", 0, in_primary));
  CAF_CHECK(in_primary.empty());
}

CAF_TEST(a mark is erased only once the erase of its entry is durable) {
  // Kafka confirms an offset commit after apply returned: until then a
  // crash brings the entry back, and it must come back with its mark (sent
  // as PUBREL, not as a new PUBLISH). The composite holds such marks and
  // erases them with a later batch or maintain() once the backend says
  // the erase is durable.
  auto marks = [&](const std::string& c) {
    std::vector<uint64_t> out;
    CHECK_OK(primary->read_released(c, 0, out));
    return out;
  };
  write_batch b;
  b.put_sessions = {record("dev", 0)};
  b.append = {{"dev", entry(1)}, {"dev", entry(2)}, {"dev", entry(3)}};
  b.put_released = {{"dev", 1}, {"dev", 2}, {"dev", 3}};
  CHECK_OK(st->apply(b));
  device->defer_erases = true;
  // PUBCOMP of 1: the entry goes, its mark is held.
  b = {};
  b.erase_entries = {{"dev", 1}};
  b.erase_released = {{"dev", 1}};
  CHECK_OK(st->apply(b));
  CAF_CHECK_EQUAL(marks("dev"), seq_list({1, 2, 3}));
  CAF_CHECK_EQUAL(st->held_marks(), 1u);
  // A read passing where entry 1 was keeps its mark too.
  CAF_CHECK_EQUAL(seqs(*st, "dev"), seq_list({2, 3}));
  CAF_CHECK_EQUAL(marks("dev"), seq_list({1, 2, 3}));
  // Other batches, nothing confirmed: still held.
  b = {};
  b.append = {{"dev", entry(4)}};
  CHECK_OK(st->apply(b));
  CAF_CHECK(st->maintain());
  CAF_CHECK_EQUAL(marks("dev"), seq_list({1, 2, 3}));
  // Confirmed: the next batch erases it.
  device->confirm();
  b = {};
  b.append = {{"dev", entry(5)}};
  CHECK_OK(st->apply(b));
  CAF_CHECK_EQUAL(marks("dev"), seq_list({2, 3}));
  CAF_CHECK_EQUAL(st->held_marks(), 0u);
  // PUBCOMP of 2, confirmed with no batch after it: maintain() erases it
  // and reports no work left.
  b = {};
  b.erase_entries = {{"dev", 2}};
  b.erase_released = {{"dev", 2}};
  CHECK_OK(st->apply(b));
  CAF_CHECK_EQUAL(st->held_marks(), 1u);
  device->confirm();
  auto before = device->maintains;
  CAF_CHECK(!st->maintain());
  CAF_CHECK_EQUAL(device->maintains, before + 1);
  CAF_CHECK_EQUAL(marks("dev"), seq_list({3}));
  CAF_CHECK_EQUAL(st->held_marks(), 0u);
  // A session erased takes its held marks with its record.
  b = {};
  b.erase_entries = {{"dev", 3}};
  b.erase_released = {{"dev", 3}};
  CHECK_OK(st->apply(b));
  CAF_CHECK_EQUAL(st->held_marks(), 1u);
  b = {};
  b.erase_sessions = {"dev"};
  CHECK_OK(st->apply(b));
  CAF_CHECK_EQUAL(st->held_marks(), 0u);
  CAF_CHECK(marks("dev").empty());
  // Backends whose erases are durable at once (the default): nothing held.
  device->defer_erases = false;
  b = {};
  b.put_sessions = {record("d2", 0)};
  b.append = {{"d2", entry(1)}};
  b.put_released = {{"d2", 1}};
  CHECK_OK(st->apply(b));
  b = {};
  b.erase_entries = {{"d2", 1}};
  b.erase_released = {{"d2", 1}};
  CHECK_OK(st->apply(b));
  CAF_CHECK_EQUAL(st->held_marks(), 0u);
  CAF_CHECK(marks("d2").empty());
}

CAF_TEST_FIXTURE_SCOPE_END()
