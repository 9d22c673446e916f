#define CAF_SUITE actors_slow_consumer
#include <caf/test/unit_test.hpp>

// Slow consumers (docs/sessions.md, "Slow consumers") with real registry,
// router, session and storage actors on the memory store, under CAF's test
// coordinator. A connected persistent subscriber that reads slower than its
// publishers write goes cold (its queue beyond limits.queue_memory stays in
// the store) and, before its stored queue reaches its limit, the router
// holds the publishers (their PUBACKs wait). With
// limits.slow_persistent_consumer: overflow (the default) for at most
// limits.slow_consumer_timeout_ms: then it is marked slow, the publishers
// are released and its stored queue's limit and overflow policy apply
// while connected (drops counted). With hold, for as long as it takes: no
// acknowledged QoS 1 message is dropped. A clean subscriber is marked slow
// after the timeout: publishers no longer wait for it and its bounded queue
// drops the oldest, counted.

#include "actor_fixture.hpp"

#include "amq/actors/broker_node.hpp"
#include "amq/actors/storage_actor.hpp"
#include "amq/config/load.hpp"

using namespace amq;
using namespace amq::actors;
using namespace amq::test;
using namespace std::chrono_literals;
using protocol::qos;

namespace {

using strings = std::vector<std::string>;

constexpr auto step = 100ms; // test time between two PUBLISHes

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

struct published {
  strings acked;           ///< payloads that got a PUBACK, in PUBACK order
  /// Most steps one PUBLISH waited for its PUBACK: timeout / step - 1 for
  /// the one whose ack the router deferred first (its PUBACK comes in the
  /// step in which the timer fires); 0 if none waited.
  size_t longest_wait = 0;
};

struct fixture : actor_fixture {
  std::shared_ptr<storage::store> store{storage::make_memory_store()};
  caf::actor storage_actor;
  caf::actor router;
  caf::actor registry;

  fixture() {
    limits.queue_memory = 20;
    limits.queue_page = 8;
    limits.max_queued_online = 60;   // the router paces publishers at 16 (its minimum)
    limits.max_queued_offline = 100; // the stored queue's limit (hold mark 50)
    limits.max_queued_offline_application = 100;
  }

  /// Spawns the actors with `limits` as the test set them.
  void start() {
    storage_actor = sys.spawn(storage_behavior, store);
    router = spawn_router(sys, limits, storage_actor);
    registry = spawn_registry(sys, limits, router, storage_actor);
    sched.run();
  }

  ~fixture() {
    std::vector<caf::actor> all{registry, router, storage_actor};
    if (registry)
      for (auto& [cid, e] : deref<registry_actor_type>(registry).state.sessions)
        all.push_back(e.session);
    stop_actors(all);
  }

  broker::session_machine& machine(const std::string& client_id) {
    auto& sessions = deref<registry_actor_type>(registry).state.sessions;
    auto i = sessions.find(client_id);
    CAF_REQUIRE(i != sessions.end());
    return deref<session_actor_type>(i->second.session).state.machine;
  }

  router_state& router_st() {
    return *deref<router_actor_type>(router).state.core;
  }

  /// The router's entry of the session of `client_id`.
  router_state::session_entry& entry(const std::string& client_id) {
    for (auto& [sid, e] : router_st().sessions)
      if (e.client_id == client_id)
        return e;
    CAF_FAIL("no router entry for " << client_id);
    return router_st().sessions.begin()->second;
  }

  void connect(client& c, connect_options o) {
    caf::anon_send(registry, connect_atom::value, net::connection_ptr{c.conn},
                   make_connect_frame(c.connect_packet(o)), c.link);
    settle();
    CAF_REQUIRE_EQUAL(only<protocol::connack>(c.conn->take()).size(), 1u);
  }

  /// Publishes payload(from) .. payload(to - 1), QoS 1, one read each, with
  /// `step` of test time after each (the router's slow-consumer timer runs).
  published publish(client& pub, size_t from, size_t to) {
    published out;
    std::map<uint16_t, std::pair<std::string, size_t>> sent; // id -> payload, step
    size_t now = 0;
    auto take_acks = [&] {
      for (auto& a : only<protocol::puback>(pub.conn->take())) {
        auto& [p, at] = sent[a.packet_id];
        out.acked.push_back(p);
        out.longest_wait = std::max(out.longest_wait, now - at);
      }
    };
    for (auto i = from; i < to; ++i, ++now) {
      sent[pub.next_packet_id] = {payload(i), now};
      pub.publish("t", qos::at_least_once, payload(i));
      settle();
      advance_time(step);
      settle();
      take_acks();
    }
    return out;
  }

  /// Receives and acknowledges everything the subscriber gets, until nothing more comes.
  strings drain(client& sub) {
    strings got;
    for (int round = 0; round < 10000; ++round) {
      settle();
      auto ps = only<protocol::publish>(sub.conn->take());
      if (ps.empty())
        break;
      for (auto& p : ps) {
        got.emplace_back(p.payload);
        sub.ack<protocol::puback>(p.packet_id);
      }
    }
    return got;
  }

  /// A persistent subscriber to "t" with Receive Maximum 5 that then stops
  /// reading, and a publisher.
  std::pair<client, client> stuck_persistent_subscriber() {
    auto sub = make_client("sub", v5, registry);
    connect(sub, {false, 3600, 0, 5});
    sub.subscribe("t", qos::at_least_once);
    settle();
    sub.conn->take();
    auto pub = make_client("pub", v5, registry);
    connect(pub, {});
    return {std::move(sub), std::move(pub)};
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(slow_consumer_tests, fixture)

CAF_TEST(a stuck persistent subscriber holds publishers for the timeout then overflows) {
  // limits.slow_persistent_consumer: overflow (default), timeout 2 s (default).
  CAF_REQUIRE(!limits.hold_slow_persistent);
  CAF_REQUIRE_EQUAL(limits.slow_consumer_timeout, 2000ms);
  start();
  auto [sub, pub] = stuck_persistent_subscriber();
  // 300 messages (3 x the stored queue's limit), 100 ms apart.
  auto r = publish(pub, 0, 300);
  auto& m = machine("sub");
  // The publisher was held near the stored limit for about the timeout
  // (20 steps), then released: every PUBLISH is acknowledged by now.
  CAF_CHECK_GREATER_OR_EQUAL(r.longest_wait, 19u);
  CAF_CHECK_LESS_OR_EQUAL(r.longest_wait, 20u);
  CAF_CHECK_EQUAL(r.acked.size(), 300u);
  CAF_CHECK_EQUAL(r.acked, payloads(0, 300)); // in order
  CAF_CHECK(m.slow());
  CAF_CHECK(entry("sub").slow);
  CAF_CHECK_EQUAL(router_st().counters.slow_consumers, 1u);
  // Its stored queue's limit applies while connected: 100 queued (plus the
  // 5 in flight), the rest dropped and counted.
  CAF_CHECK_EQUAL(m.queue_depth(), 105u);
  CAF_CHECK_EQUAL(m.counters().dropped_queue_full, 195u);
  // The subscriber reads again: the 5 in flight, then the newest 100, in
  // order, without a gap among them and nothing twice.
  auto got = drain(sub);
  auto expected = payloads(0, 5);
  for (auto& p : payloads(200, 300))
    expected.push_back(p);
  CAF_CHECK_EQUAL(got, expected);
  CAF_CHECK_EQUAL(got.size() + m.counters().dropped_queue_full, 300u);
  // Caught up: unmarked, on both sides; the next stall holds publishers again.
  CAF_CHECK(!entry("sub").slow);
  CAF_CHECK(!m.slow());
  // The dropped entries went from the store too (and the delivered ones).
  settle();
  storage::queue_info qi;
  CAF_CHECK(!store->queue_stats("sub", qi));
  CAF_CHECK_EQUAL(qi.depth, 0u);
}

CAF_TEST(a slow persistent subscriber that caught up holds publishers again) {
  start();
  auto [sub, pub] = stuck_persistent_subscriber();
  auto r = publish(pub, 0, 300);
  CAF_CHECK_EQUAL(r.acked.size(), 300u);
  drain(sub); // caught up: unmarked
  CAF_REQUIRE(!machine("sub").slow());
  // Stuck again (its window is full after the first 5): held again, marked
  // again after the timeout, nothing lost within the limit.
  auto r2 = publish(pub, 300, 600);
  CAF_CHECK_GREATER_OR_EQUAL(r2.longest_wait, 19u);
  CAF_CHECK_LESS_OR_EQUAL(r2.longest_wait, 20u);
  CAF_CHECK_EQUAL(r2.acked.size(), 300u);
  CAF_CHECK_EQUAL(router_st().counters.slow_consumers, 2u);
  auto got = drain(sub);
  auto expected = payloads(300, 305);
  for (auto& p : payloads(500, 600))
    expected.push_back(p);
  CAF_CHECK_EQUAL(got, expected);
}

CAF_TEST(a stored limit below the router low mark holds publishers only once) {
  // Limit 6, hold mark 3, router low mark 8: once marked, the subscriber's
  // whole queue (6) is below the low mark, so the router unmarks it at once;
  // it stays marked itself (above its hold mark) instead of holding its
  // publishers for another timeout every few messages.
  limits.max_queued_offline = 6;
  limits.max_queued_offline_application = 6;
  start();
  auto [sub, pub] = stuck_persistent_subscriber();
  auto r = publish(pub, 0, 300);
  CAF_CHECK_EQUAL(r.acked.size(), 300u);
  CAF_CHECK_EQUAL(router_st().counters.slow_consumers, 1u);
  auto& m = machine("sub");
  CAF_CHECK(m.slow());
  CAF_CHECK(!entry("sub").slow);
  CAF_CHECK_EQUAL(m.queue_depth(), 5u + 6u);
  auto got = drain(sub);
  auto expected = payloads(0, 5);
  for (auto& p : payloads(294, 300))
    expected.push_back(p);
  CAF_CHECK_EQUAL(got, expected);
  CAF_CHECK(!m.slow()); // drained below its hold mark
}

CAF_TEST(the overflow of a slow persistent subscriber follows drop_newest) {
  limits.offline_drop_newest = true;
  start();
  auto [sub, pub] = stuck_persistent_subscriber();
  auto r = publish(pub, 0, 300);
  CAF_CHECK_EQUAL(r.acked.size(), 300u);
  auto& m = machine("sub");
  CAF_CHECK_EQUAL(m.counters().dropped_queue_full, 195u);
  // The oldest are kept: the 5 in flight and the next 100.
  CAF_CHECK_EQUAL(drain(sub), payloads(0, 105));
}

CAF_TEST(the slow-consumer timeout is configurable) {
  limits.slow_consumer_timeout = 500ms;
  start();
  auto [sub, pub] = stuck_persistent_subscriber();
  auto r = publish(pub, 0, 300);
  CAF_CHECK_GREATER_OR_EQUAL(r.longest_wait, 4u);
  CAF_CHECK_LESS_OR_EQUAL(r.longest_wait, 5u);
  CAF_CHECK_EQUAL(r.acked.size(), 300u);
  CAF_CHECK(machine("sub").slow());
}

CAF_TEST(with hold a slow persistent subscriber holds publishers and drops nothing) {
  limits.hold_slow_persistent = true; // limits.slow_persistent_consumer: hold
  start();
  auto [sub, pub] = stuck_persistent_subscriber();
  // 300 messages (3 x the stored queue's limit), 100 ms apart: the router's
  // slow-consumer timer (2 s) runs many times meanwhile.
  auto r = publish(pub, 0, 300);
  auto& m = machine("sub");
  CAF_CHECK(m.cold());
  CAF_CHECK(!m.slow());
  CAF_CHECK_EQUAL(m.counters().dropped_queue_full, 0u);
  CAF_CHECK_EQUAL(router_st().counters.slow_consumers, 0u);
  // The publisher is held: fewer PUBACKs than PUBLISHes, and the
  // subscriber's queue stays within its limit.
  CAF_CHECK_LESS(r.acked.size(), 300u);
  CAF_CHECK_LESS_OR_EQUAL(m.queue_depth(), limits.max_queued_offline);
  // The subscriber reads again: every message arrives, in order, and the
  // held publisher gets the rest of its PUBACKs.
  auto got = drain(sub);
  auto more = only<protocol::puback>(pub.conn->take()).size();
  CAF_CHECK_EQUAL(got, payloads(0, 300));
  CAF_CHECK_EQUAL(r.acked.size() + more, 300u);
  CAF_CHECK_EQUAL(m.counters().dropped_queue_full, 0u);
}

CAF_TEST(a slow clean subscriber is marked slow after the timeout and drops the oldest counted) {
  limits.slow_consumer_timeout = 300ms;
  start();
  auto sub = make_client("sub", v5, registry);
  connect(sub, {true, std::nullopt, 0, 5});
  sub.subscribe("t", qos::at_least_once);
  settle();
  sub.conn->take();
  auto pub = make_client("pub", v5, registry);
  connect(pub, {});
  auto r = publish(pub, 0, 300);
  // Held for the configured timeout (3 steps), then released: all acknowledged.
  CAF_CHECK_GREATER_OR_EQUAL(r.longest_wait, 2u);
  CAF_CHECK_LESS_OR_EQUAL(r.longest_wait, 3u);
  CAF_CHECK_EQUAL(r.acked.size(), 300u);
  CAF_CHECK(entry("sub").slow);
  auto& m = machine("sub");
  CAF_CHECK(!m.slow()); // a clean session is not told: its queue is bounded anyway
  CAF_CHECK_GREATER(m.counters().dropped_queue_full, 0u);
  auto got = drain(sub);
  CAF_CHECK_EQUAL(got.size() + m.counters().dropped_queue_full, 300u);
}

CAF_TEST(a subscriber that keeps up sends no progress per delivery and a held publisher is released) {
  // The router paces at 16 (low mark 8) and asks for progress above 4.
  start();
  auto sub = make_client("sub", v5, registry);
  connect(sub, {true, std::nullopt, 0, 5});
  sub.subscribe("t", qos::at_least_once);
  settle();
  sub.conn->take();
  auto pub = make_client("pub", v5, registry);
  connect(pub, {});
  // Keeps up: every delivery acknowledged at once. The router's view of its
  // backlog stays low, so it reports nothing (it used to after each one).
  for (size_t i = 0; i < 3; ++i) {
    pub.publish("t", qos::at_least_once, payload(i));
    settle();
    CAF_CHECK_EQUAL(drain(sub), payloads(i, i + 1));
  }
  CAF_CHECK_EQUAL(only<protocol::puback>(pub.conn->take()).size(), 3u);
  CAF_CHECK_EQUAL(entry("sub").sent, 3);
  CAF_CHECK_EQUAL(entry("sub").progress, 0);
  // Stops reading: the publisher is held above the high mark ...
  for (size_t i = 3; i < 40; ++i) {
    pub.publish("t", qos::at_least_once, payload(i));
    settle();
  }
  auto acks = only<protocol::puback>(pub.conn->take()).size();
  CAF_CHECK_LESS(acks, 37u);
  CAF_CHECK(!entry("sub").deferred.empty());
  // ... and released as the subscriber drains (before the slow-consumer
  // timeout): it was asked for its progress and reports it.
  CAF_CHECK_EQUAL(drain(sub), payloads(3, 40));
  acks += only<protocol::puback>(pub.conn->take()).size();
  CAF_CHECK_EQUAL(acks, 37u);
  CAF_CHECK(entry("sub").deferred.empty());
  CAF_CHECK(!entry("sub").slow);
  CAF_CHECK_EQUAL(router_st().counters.slow_consumers, 0u);
  CAF_CHECK_LESS_OR_EQUAL(entry("sub").backlog(), 4); // as the router sees it
  CAF_CHECK_EQUAL(machine("sub").counters().dropped_queue_full, 0u);
}

CAF_TEST_FIXTURE_SCOPE_END()

namespace {

config::result<config::load_outcome> load(std::vector<std::string> args) {
  args.insert(args.begin(), "actormq");
  std::vector<const char*> argv;
  for (auto& a : args)
    argv.push_back(a.c_str());
  argv.push_back(nullptr);
  return config::load_config(static_cast<int>(args.size()), argv.data(), {});
}

} // namespace

CAF_TEST(the slow-consumer options reach the session limits) {
  auto d = load({});
  CAF_REQUIRE(d.has_value());
  auto l = make_session_limits(d.value().config);
  CAF_CHECK_EQUAL(l.slow_consumer_timeout, 2000ms);
  CAF_CHECK(!l.hold_slow_persistent); // overflow
  auto c = load({"--set", "limits.slow_consumer_timeout_ms=750", "--set",
                 "limits.slow_persistent_consumer=hold"});
  CAF_REQUIRE(c.has_value());
  l = make_session_limits(c.value().config);
  CAF_CHECK_EQUAL(l.slow_consumer_timeout, 750ms);
  CAF_CHECK(l.hold_slow_persistent);
  CAF_CHECK(!load({"--set", "limits.slow_persistent_consumer=wait"}).has_value());
  CAF_CHECK(!load({"--set", "limits.slow_consumer_timeout_ms=10"}).has_value());
}
