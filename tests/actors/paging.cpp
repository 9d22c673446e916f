#define CAF_SUITE actors_paging
#include <caf/test/unit_test.hpp>

// Cold sessions (docs/sessions.md, "Hot and cold queues") with real
// registry, router, session and storage actors on the memory store, under
// CAF's test coordinator: a persistent session keeps at most
// `limits.queue_memory` queued messages in memory, the rest stays in the
// store and is read back in pages bounded by the client's Receive Maximum;
// a restart restores sessions cold without reading their queues; gaps in a
// stored queue are skipped; takeover and expiry in the middle of a drain;
// no queue entry outlives its session (the orphan race).

#include "actor_fixture.hpp"

#include "amq/actors/storage_actor.hpp"

#include <algorithm>
#include <set>

using namespace amq;
using namespace amq::actors;
using namespace amq::test;
using namespace std::chrono_literals;
using protocol::qos;
using protocol::reason_code;

namespace {

using strings = std::vector<std::string>;

std::string payload(size_t i) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "m%05zu", i);
  return buf;
}

strings payloads(size_t from, size_t to) {
  strings out;
  for (auto i = from; i < to; ++i)
    out.push_back(payload(i));
  return out;
}

struct fixture : actor_fixture {
  std::shared_ptr<storage::store> store{storage::make_memory_store()};
  caf::actor storage_actor;
  caf::actor router;
  caf::actor registry;
  client pub;

  fixture() {
    limits.queue_memory = 20;
    limits.queue_page = 8;
    boot();
  }

  ~fixture() {
    stop_all();
  }

  /// Spawns storage (on the test scheduler, not detached), router and
  /// registry on `store`, and restores what it holds, cold, as broker_node
  /// does at boot.
  void boot() {
    storage_actor = sys.spawn(storage_behavior, store);
    router = spawn_router(sys, limits, storage_actor);
    registry = spawn_registry(sys, limits, router, storage_actor);
    sched.run();
    std::vector<storage::session_record> records;
    store->for_each_session([&](storage::session_record&& r) { records.push_back(std::move(r)); });
    for (auto& r : records) {
      uint64_t first = 0;
      uint64_t last = 0;
      store->read_queue(r.client_id, 0, 1, [&](storage::queued_entry&& e) { first = e.seq; });
      store->last_seq(r.client_id, last);
      uint64_t depth = first != 0 && last >= first ? last - first + 1 : 0;
      caf::anon_send(registry, restore_atom::value, std::move(r), first, last, depth);
    }
    settle();
  }

  void stop_all() {
    std::vector<caf::actor> all{registry, router, storage_actor};
    if (!terminated(registry))
      for (auto& [cid, e] : reg().sessions)
        all.push_back(e.session);
    stop_actors(all);
  }

  /// kill -9: every actor ends at once, only the store remains.
  void crash() {
    stop_all();
    for (auto& c : conns)
      c->closed = c->close_notified = true;
  }

  bool terminated(const caf::actor& h) {
    return caf::actor_cast<caf::abstract_actor*>(h)->getf(
      caf::abstract_actor::is_terminated_flag);
  }

  registry_state& reg() {
    return deref<registry_actor_type>(registry).state;
  }

  caf::actor session_of(const std::string& client_id) {
    auto i = reg().sessions.find(client_id);
    return i == reg().sessions.end() ? caf::actor{} : i->second.session;
  }

  broker::session_machine& machine(const std::string& client_id) {
    auto s = session_of(client_id);
    CAF_REQUIRE(s);
    return deref<session_actor_type>(s).state.machine;
  }

  protocol::connack connect(client& c, connect_options o = {}) {
    caf::anon_send(registry, connect_atom::value, net::connection_ptr{c.conn},
                   make_connect_frame(c.connect_packet(o)), c.link);
    settle();
    // all(): what came with the CONNACK stays for the test to take().
    auto acks = only<protocol::connack>(c.conn->all());
    CAF_REQUIRE_EQUAL(acks.size(), 1u);
    return acks[0];
  }

  /// A persistent subscriber "sub" to `t`, then offline.
  client offline_subscriber(qos q = qos::at_least_once) {
    auto c = make_client("sub", v5, registry);
    connect(c, {false, 3600});
    c.subscribe("t", q);
    settle();
    c.conn->take();
    peer_close(c);
    settle();
    return c;
  }

  /// Publishes payload(from) .. payload(to - 1) to `t` with `q`.
  void publish(size_t from, size_t to, qos q = qos::at_least_once) {
    if (!pub.conn) {
      pub = make_client("pub", v5, registry);
      connect(pub);
    }
    for (auto i = from; i < to; ++i) {
      pub.publish("t", q, payload(i));
      if ((i + 1) % 50 == 0)
        settle();
    }
    settle();
    pub.conn->take();
  }

  size_t stored(const std::string& client_id) {
    size_t n = 0;
    store->read_queue(client_id, 0, 0, [&](storage::queued_entry&&) { ++n; });
    return n;
  }

  bool has_queue(const std::string& client_id) {
    bool found = false;
    store->for_each_queue([&](const std::string& c) { found = found || c == client_id; });
    return found;
  }

  /// Receives and acknowledges (QoS 1) until nothing more arrives, at most
  /// `max_rounds` rounds; checks after every round that the client never
  /// has more than `window` messages unacknowledged and the session never
  /// holds more than `memory` queued messages in memory.
  strings drain(client& c, size_t window, size_t memory, size_t max_rounds = 100000,
                std::vector<protocol::publish>* seen = nullptr) {
    strings got;
    for (size_t round = 0; round < max_rounds; ++round) {
      settle();
      auto ps = only<protocol::publish>(c.conn->take());
      if (session_of(c.id)) {
        auto& m = machine(c.id);
        CAF_CHECK_LESS_OR_EQUAL(m.inflight_count(), window);
        CAF_CHECK_LESS_OR_EQUAL(m.queued_count(), memory);
      }
      CAF_CHECK_LESS_OR_EQUAL(ps.size(), window);
      if (ps.empty())
        break;
      for (auto& p : ps) {
        got.emplace_back(p.payload);
        if (seen)
          seen->push_back(p);
        c.ack<protocol::puback>(p.packet_id);
      }
    }
    return got;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(paging_tests, fixture)

CAF_TEST(a persistent session goes cold beyond its memory window and hot again once drained) {
  auto sub = offline_subscriber();
  publish(0, 100);
  CAF_CHECK_EQUAL(stored("sub"), 100u);
  {
    auto& m = machine("sub");
    CAF_CHECK(m.cold());
    CAF_CHECK_EQUAL(m.queued_count(), 20u); // the memory window
    CAF_CHECK_EQUAL(m.stored_backlog(), 80u);
    CAF_CHECK_EQUAL(m.queue_depth(), 100u);
  }
  auto c = reconnect(sub, registry);
  auto ack = connect(c, {false, 3600});
  CAF_CHECK(ack.session_present);
  // Receive Maximum 65535, max_inflight 1000: pages of queue_page = 8.
  auto got = drain(c, 1000, 20);
  CAF_CHECK_EQUAL(got, payloads(0, 100));
  auto& m = machine("sub");
  CAF_CHECK(!m.cold());
  CAF_CHECK_EQUAL(m.queue_depth(), 0u);
  CAF_CHECK_EQUAL(stored("sub"), 0u);
  // Hot again: a new message is delivered straight from memory.
  publish(100, 101);
  CAF_CHECK_EQUAL(drain(c, 1000, 20), strings{payload(100)});
}

CAF_TEST(messages arriving while cold and draining keep their order) {
  auto sub = offline_subscriber();
  publish(0, 60);
  auto c = reconnect(sub, registry);
  connect(c, {false, 3600, 0, 5});
  strings got;
  // Take one round, then publish more while the tail is being paged.
  settle();
  for (auto& p : only<protocol::publish>(c.conn->take())) {
    got.emplace_back(p.payload);
    c.ack<protocol::puback>(p.packet_id);
  }
  CAF_CHECK_EQUAL(got.size(), 5u);
  publish(60, 90);
  auto rest = drain(c, 5, 20);
  got.insert(got.end(), rest.begin(), rest.end());
  CAF_CHECK_EQUAL(got, payloads(0, 90));
  CAF_CHECK(!machine("sub").cold());
  CAF_CHECK_EQUAL(stored("sub"), 0u);
}

CAF_TEST(a stored backlog longer than the online queue limit drops nothing while it drains) {
  // The online limit bounds the memory queue; the stored tail only has the
  // store's limit (max_queued_offline), also while the client is back.
  limits.max_queued_online = 30;
  stop_all();
  boot();
  auto sub = offline_subscriber();
  publish(0, 100);
  auto c = reconnect(sub, registry);
  connect(c, {false, 3600, 0, 10});
  settle();
  strings got;
  for (auto& p : only<protocol::publish>(c.conn->take())) {
    got.emplace_back(p.payload);
    c.ack<protocol::puback>(p.packet_id);
  }
  publish(100, 140); // arrive while 80+ are still stored
  auto rest = drain(c, 10, 20);
  got.insert(got.end(), rest.begin(), rest.end());
  CAF_CHECK_EQUAL(got, payloads(0, 140));
  CAF_CHECK_EQUAL(machine("sub").counters().dropped_queue_full, 0u);
}

CAF_TEST(paging is bounded by the Receive Maximum of the client) {
  limits.queue_memory = 5;
  limits.queue_page = 64;
  stop_all();
  boot();
  auto sub = offline_subscriber();
  publish(0, 200);
  CAF_CHECK_EQUAL(machine("sub").queued_count(), 5u);
  CAF_CHECK_EQUAL(machine("sub").stored_backlog(), 195u);
  auto c = reconnect(sub, registry);
  connect(c, {false, 3600, 0, 10});
  // Pages of min(64, 10) = 10, one read ahead: at most 10 in flight and
  // 2 pages queued in memory, whatever the backlog.
  auto got = drain(c, 10, 20);
  CAF_CHECK_EQUAL(got, payloads(0, 200));
  CAF_CHECK_EQUAL(stored("sub"), 0u);
}

CAF_TEST(entries missing from the store are skipped) {
  auto sub = offline_subscriber();
  publish(0, 100);
  // Seqs are 1..100 for payloads 0..99. Drop some in the middle and the
  // last ones, as Redis's overflow policy or a TTL would.
  storage::write_batch wb;
  strings expected;
  for (uint64_t seq = 1; seq <= 100; ++seq) {
    bool gone = (seq >= 30 && seq < 45) || seq == 50 || seq > 93;
    if (gone)
      wb.erase_entries.emplace_back("sub", seq);
    else
      expected.push_back(payload(seq - 1));
  }
  caf::anon_send(storage_actor, persist_atom::value, std::move(wb), uint64_t{0});
  settle();
  auto c = reconnect(sub, registry);
  connect(c, {false, 3600, 0, 10});
  CAF_CHECK_EQUAL(drain(c, 10, 20), expected);
  CAF_CHECK(!machine("sub").cold());
  CAF_CHECK_EQUAL(machine("sub").queue_depth(), 0u);
}

CAF_TEST(a restart restores sessions cold and resends what was in flight with DUP) {
  auto sub = offline_subscriber();
  publish(0, 150);
  auto c = reconnect(sub, registry);
  connect(c, {false, 3600, 0, 10});
  settle();
  // Ten in flight; acknowledge the first four, then the broker dies.
  auto first = only<protocol::publish>(c.conn->take());
  CAF_REQUIRE_EQUAL(first.size(), 10u);
  for (size_t i = 0; i < 4; ++i)
    c.ack<protocol::puback>(first[i].packet_id);
  settle();
  crash();
  boot();
  auto& m = machine("sub");
  CAF_CHECK(m.cold());
  CAF_CHECK(!m.connected());
  CAF_CHECK_EQUAL(m.queued_count(), 0u); // nothing read at boot
  CAF_CHECK_EQUAL(m.stored_backlog(), 146u);
  auto c2 = reconnect(c, registry);
  CAF_CHECK(connect(c2, {false, 3600, 0, 10}).session_present);
  std::vector<protocol::publish> seen;
  auto got = drain(c2, 10, 20, 100000, &seen);
  CAF_CHECK_EQUAL(got, payloads(4, 150));
  // The six that were in flight come first, with DUP and their packet ids.
  for (size_t i = 0; i < 6; ++i) {
    CAF_CHECK(seen[i].dup);
    CAF_CHECK_EQUAL(seen[i].packet_id, first[i + 4].packet_id);
  }
  CAF_CHECK_EQUAL(stored("sub"), 0u);
}

CAF_TEST(a takeover in the middle of a drain loses and repeats nothing but the unacknowledged) {
  auto sub = offline_subscriber();
  publish(0, 120);
  auto c1 = reconnect(sub, registry);
  connect(c1, {false, 3600, 0, 10});
  settle();
  strings got;
  auto ps = only<protocol::publish>(c1.conn->take());
  CAF_REQUIRE_EQUAL(ps.size(), 10u);
  for (size_t i = 0; i < 7; ++i) {
    got.emplace_back(ps[i].payload);
    c1.ack<protocol::puback>(ps[i].packet_id);
  }
  settle();
  // A second connection takes the session over; three were unacknowledged.
  auto c2 = reconnect(c1, registry);
  CAF_CHECK(connect(c2, {false, 3600, 0, 10}).session_present);
  CAF_CHECK(c1.conn->is_closed());
  std::vector<protocol::publish> seen;
  auto rest = drain(c2, 10, 20, 100000, &seen);
  CAF_REQUIRE_GREATER_OR_EQUAL(seen.size(), 3u);
  for (size_t i = 0; i < 3; ++i)
    CAF_CHECK(seen[i].dup);
  got.insert(got.end(), rest.begin(), rest.end());
  CAF_CHECK_EQUAL(got, payloads(0, 120));
  CAF_CHECK_EQUAL(stored("sub"), 0u);
}

CAF_TEST(QoS 2 is delivered exactly once across a takeover and a restart while cold) {
  auto sub = offline_subscriber(qos::exactly_once);
  publish(0, 80, qos::exactly_once);
  CAF_CHECK(machine("sub").cold());
  // The client's side of QoS 2 (method B): ids between PUBLISH and PUBREL.
  std::set<uint16_t> unreleased;
  strings delivered;
  auto serve = [&](client& c, size_t rounds) {
    for (size_t r = 0; r < rounds; ++r) {
      settle();
      auto ps = c.conn->take();
      if (ps.empty())
        return;
      for (auto& p : ps) {
        if (auto pub = std::get_if<protocol::publish>(&p)) {
          if (unreleased.insert(pub->packet_id).second)
            delivered.emplace_back(pub->payload);
          c.ack<protocol::pubrec>(pub->packet_id);
        } else if (auto rel = std::get_if<protocol::pubrel>(&p)) {
          unreleased.erase(rel->packet_id);
          c.ack<protocol::pubcomp>(rel->packet_id);
        }
      }
    }
  };
  auto c1 = reconnect(sub, registry);
  connect(c1, {false, 3600, 0, 10});
  serve(c1, 3);
  auto c2 = reconnect(c1, registry); // takeover
  connect(c2, {false, 3600, 0, 10});
  serve(c2, 4);
  settle(); // the broker has read what the client sent, then dies
  crash();
  boot();
  CAF_CHECK(machine("sub").cold());
  auto c3 = reconnect(c2, registry);
  connect(c3, {false, 3600, 0, 10});
  serve(c3, 100000);
  CAF_CHECK_EQUAL(delivered, payloads(0, 80));
  CAF_CHECK(unreleased.empty());
  CAF_CHECK_EQUAL(stored("sub"), 0u);
}

CAF_TEST(a restart between PUBREL and PUBCOMP resends PUBREL from the stored mark) {
  // QoS 2 across a restart (docs/sessions.md): PUBREL goes out only once
  // the "released" mark is stored; after a crash, marked entries come back
  // as PUBREL (their packet ids, in order, also through cold pages), the
  // others as PUBLISH with DUP; nothing is delivered twice and nothing
  // (entry or mark) stays behind.
  auto sub = offline_subscriber(qos::exactly_once);
  publish(0, 30, qos::exactly_once);
  CAF_CHECK(machine("sub").cold());
  auto c1 = reconnect(sub, registry);
  connect(c1, {false, 3600, 0, 10});
  settle();
  auto first = only<protocol::publish>(c1.conn->take());
  CAF_REQUIRE_EQUAL(first.size(), 10u);
  for (size_t i = 0; i < 6; ++i)
    c1.ack<protocol::pubrec>(first[i].packet_id);
  settle();
  auto rels = only<protocol::pubrel>(c1.conn->take());
  CAF_REQUIRE_EQUAL(rels.size(), 6u);
  std::vector<uint64_t> marks;
  CAF_REQUIRE(!store->read_released("sub", 0, marks));
  CAF_CHECK_EQUAL(marks.size(), 6u); // stored before the PUBRELs went out
  for (size_t i = 0; i < 2; ++i)
    c1.ack<protocol::pubcomp>(rels[i].packet_id);
  settle();
  marks.clear();
  CAF_REQUIRE(!store->read_released("sub", 0, marks));
  CAF_CHECK_EQUAL(marks.size(), 4u); // erased with their entries
  crash();
  boot();
  CAF_CHECK(machine("sub").cold());
  auto c2 = reconnect(c1, registry);
  CAF_CHECK(connect(c2, {false, 3600, 0, 10}).session_present);
  settle();
  auto again = c2.conn->take();
  std::erase_if(again, [](const protocol::packet& p) {
    return std::holds_alternative<protocol::connack>(p);
  });
  // 2..5: PUBREL, 6..9: PUBLISH with DUP, all with their old packet ids.
  CAF_REQUIRE_GREATER_OR_EQUAL(again.size(), 8u);
  for (size_t i = 0; i < 4; ++i) {
    auto rel = std::get_if<protocol::pubrel>(&again[i]);
    CAF_REQUIRE(rel != nullptr);
    CAF_CHECK_EQUAL(rel->packet_id, first[i + 2].packet_id);
  }
  strings delivered = payloads(0, 6); // what the client has
  for (size_t i = 4; i < 8; ++i) {
    auto p = std::get_if<protocol::publish>(&again[i]);
    CAF_REQUIRE(p != nullptr);
    CAF_CHECK(p->dup);
    CAF_CHECK_EQUAL(p->packet_id, first[i + 2].packet_id);
  }
  // The client completes everything (method B, as it would).
  std::set<uint16_t> unreleased;
  for (size_t i = 2; i < 6; ++i)
    unreleased.insert(first[i].packet_id);
  auto handle = [&](client& c, std::vector<protocol::packet> ps) {
    for (auto& p : ps) {
      if (auto pub = std::get_if<protocol::publish>(&p)) {
        if (unreleased.insert(pub->packet_id).second)
          delivered.emplace_back(pub->payload);
        c.ack<protocol::pubrec>(pub->packet_id);
      } else if (auto rel = std::get_if<protocol::pubrel>(&p)) {
        unreleased.erase(rel->packet_id);
        c.ack<protocol::pubcomp>(rel->packet_id);
      }
    }
  };
  handle(c2, std::move(again));
  for (size_t r = 0; r < 1000; ++r) {
    settle();
    auto ps = c2.conn->take();
    if (ps.empty())
      break;
    handle(c2, std::move(ps));
  }
  CAF_CHECK_EQUAL(delivered, payloads(0, 30));
  CAF_CHECK(unreleased.empty());
  CAF_CHECK_EQUAL(stored("sub"), 0u);
  marks.clear();
  CAF_REQUIRE(!store->read_released("sub", 0, marks));
  CAF_CHECK(marks.empty());
}

CAF_TEST(a session that expires in the middle of a drain leaves nothing stored) {
  auto c = make_client("sub", v5, registry);
  connect(c, {false, 10, 0, 10});
  c.subscribe("t", qos::at_least_once);
  settle();
  c.conn->take();
  peer_close(c);
  settle();
  publish(0, 100);
  auto c2 = reconnect(c, registry);
  connect(c2, {false, 10, 0, 10});
  settle();
  CAF_CHECK_EQUAL(only<protocol::publish>(c2.conn->take()).size(), 10u);
  CAF_CHECK(machine("sub").cold());
  peer_close(c2);
  settle();
  advance_time(11s);
  settle();
  CAF_CHECK(!session_of("sub"));
  CAF_CHECK_EQUAL(stored("sub"), 0u);
  CAF_CHECK(!has_queue("sub"));
  // A new persistent session for the id starts empty.
  auto c3 = reconnect(c2, registry);
  CAF_CHECK(!connect(c3, {false, 3600}).session_present);
  settle();
  CAF_CHECK(only<protocol::publish>(c3.conn->take()).empty());
}

CAF_TEST(a delivery stored while its session ends does not outlive the session) {
  // The race of the orphan: the router stores a delivery for a session
  // after the session erased its stored state.
  auto sub = make_client("sub", v5, registry);
  connect(sub, {false, 10});
  sub.subscribe("t", qos::at_least_once);
  settle();
  peer_close(sub);
  settle();
  publish(0, 5); // connects the publisher; 5 stored for sub
  CAF_CHECK_EQUAL(stored("sub"), 5u);
  auto session = session_of("sub");
  auto pub_session = session_of("pub");
  // The expiry timer fires (tick in the session's mailbox) and a PUBLISH
  // arrives (bytes in the publisher session's mailbox); nothing runs yet.
  advance_time(11s);
  pub.publish("t", qos::at_least_once, "late");
  auto run = [&](const caf::actor& who) {
    while (sched.prioritize(who))
      sched.run_once();
  };
  run(pub_session); // route batch -> router's mailbox
  run(session);     // ends: erases its record, asks the router to remove it
  run(storage_actor); // the session's erase is applied first
  run(router);      // stores "late" for sub (after the erase), then removes sub
  settle();
  CAF_CHECK(terminated(session));
  CAF_CHECK_EQUAL(stored("sub"), 0u);
  CAF_CHECK(!has_queue("sub"));
  uint64_t last = 0;
  store->last_seq("sub", last);
  CAF_CHECK_EQUAL(last, 0u);
}

CAF_TEST(the offline TTL applies to entries read back from the store) {
  // session.device_persisted_messages_ttl: counted from when an entry was
  // stored, for the memory window, the stored tail and after a restart;
  // an entry's own Message Expiry applies instead. Expired entries are
  // skipped, counted and erased from the store.
  limits.offline_message_ttl = 60s;
  stop_all();
  boot();
  auto sub = offline_subscriber();
  publish(0, 30); // t0: 20 in the memory window, 10 stored only
  {
    // t0, with its own Message Expiry (1000 s): outlives the TTL.
    protocol::publish p;
    p.topic = "t";
    p.qos_level = qos::at_least_once;
    p.payload = "own-expiry";
    p.packet_id = pub.packet_id();
    p.props.message_expiry_interval = 1000;
    pub.send(p);
    settle();
    pub.conn->take();
  }
  CAF_CHECK(machine("sub").cold());
  advance_time(40s);
  publish(30, 50); // t0 + 40 s, stored only
  advance_time(30s); // t0 + 70 s: what was stored at t0 is past its TTL
  settle();
  auto c = reconnect(sub, registry);
  connect(c, {false, 3600, 0, 10});
  strings expected{"own-expiry"};
  auto rest = payloads(30, 50);
  expected.insert(expected.end(), rest.begin(), rest.end());
  CAF_CHECK_EQUAL(drain(c, 10, 20), expected);
  CAF_CHECK_EQUAL(machine("sub").counters().dropped_expired, 30u);
  CAF_CHECK_EQUAL(stored("sub"), 0u);
  // After a restart every entry comes from the store: the TTL still counts
  // from when each was stored.
  peer_close(c);
  settle();
  publish(50, 60); // t0 + 70 s
  advance_time(40s);
  publish(60, 70); // t0 + 110 s
  settle();
  crash();
  boot();
  CAF_CHECK_EQUAL(machine("sub").stored_backlog(), 20u);
  advance_time(30s); // t0 + 140 s: 50..59 are past their TTL, 60..69 are not
  auto c2 = reconnect(c, registry);
  CAF_CHECK(connect(c2, {false, 3600, 0, 10}).session_present);
  CAF_CHECK_EQUAL(drain(c2, 10, 20), payloads(60, 70));
  CAF_CHECK_EQUAL(machine("sub").counters().dropped_expired, 10u);
  CAF_CHECK_EQUAL(stored("sub"), 0u);
}

CAF_TEST_FIXTURE_SCOPE_END()
