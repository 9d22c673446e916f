#define CAF_SUITE actors_slow_consumer
#include <caf/test/unit_test.hpp>

// Slow consumers (docs/sessions.md, "Slow consumers") with real registry,
// router, session and storage actors on the memory store, under CAF's test
// coordinator. A connected persistent subscriber that reads slower than its
// publishers write goes cold (its queue beyond limits.queue_memory stays in
// the store) and, before its stored queue reaches its limit, the router
// holds the publishers (their PUBACKs wait): no acknowledged QoS 1 message
// is dropped. A clean subscriber is marked slow instead: publishers no
// longer wait for it and its bounded queue drops the oldest, counted.

#include "actor_fixture.hpp"

#include "amq/actors/storage_actor.hpp"

using namespace amq;
using namespace amq::actors;
using namespace amq::test;
using namespace std::chrono_literals;
using protocol::qos;

namespace {

using strings = std::vector<std::string>;

std::string payload(size_t i) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "m%05zu", i);
  return buf;
}

struct fixture : actor_fixture {
  std::shared_ptr<storage::store> store{storage::make_memory_store()};
  caf::actor storage_actor;
  caf::actor router;
  caf::actor registry;

  fixture() {
    limits.queue_memory = 20;
    limits.queue_page = 8;
    limits.max_queued_online = 60;  // the router paces publishers at 16 (its minimum)
    limits.max_queued_offline = 100; // the stored queue's limit
    limits.max_queued_offline_application = 100;
    storage_actor = sys.spawn(storage_behavior, store);
    router = spawn_router(sys, limits, storage_actor);
    registry = spawn_registry(sys, limits, router, storage_actor);
    sched.run();
  }

  ~fixture() {
    std::vector<caf::actor> all{registry, router, storage_actor};
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

  void connect(client& c, connect_options o) {
    caf::anon_send(registry, connect_atom::value, net::connection_ptr{c.conn},
                   make_connect_frame(c.connect_packet(o)), c.link);
    settle();
    CAF_REQUIRE_EQUAL(only<protocol::connack>(c.conn->take()).size(), 1u);
  }

  /// Publishes payload(from) .. payload(to - 1), QoS 1, one read each, with
  /// `step` of test time after each (the router's slow-consumer timer runs);
  /// returns the payloads the publisher got a PUBACK for.
  strings publish(client& pub, size_t from, size_t to, std::chrono::milliseconds step) {
    strings acked;
    std::map<uint16_t, std::string> sent;
    auto take_acks = [&] {
      for (auto& a : only<protocol::puback>(pub.conn->take()))
        acked.push_back(sent[a.packet_id]);
    };
    for (auto i = from; i < to; ++i) {
      sent[pub.next_packet_id] = payload(i);
      pub.publish("t", qos::at_least_once, payload(i));
      settle();
      advance_time(step);
      settle();
      take_acks();
    }
    return acked;
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
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(slow_consumer_tests, fixture)

CAF_TEST(a slow persistent subscriber goes cold and holds publishers instead of dropping) {
  auto sub = make_client("sub", v5, registry);
  connect(sub, {false, 3600, 0, 5}); // Receive Maximum 5, then it stops reading
  sub.subscribe("t", qos::at_least_once);
  settle();
  sub.conn->take();
  auto pub = make_client("pub", v5, registry);
  connect(pub, {});
  // 300 messages (3 x the stored queue's limit), 100 ms apart: the router's
  // slow-consumer timer (500 ms) runs many times meanwhile.
  auto acked = publish(pub, 0, 300, 100ms);
  auto& m = machine("sub");
  CAF_CHECK(m.cold());
  CAF_CHECK_EQUAL(m.counters().dropped_queue_full, 0u);
  // The publisher is held: fewer PUBACKs than PUBLISHes, and the
  // subscriber's queue stays within its limit.
  CAF_CHECK_LESS(acked.size(), 300u);
  CAF_CHECK_LESS_OR_EQUAL(m.queue_depth(), limits.max_queued_offline);
  // The subscriber reads again: every message arrives, in order, and the
  // held publisher gets the rest of its PUBACKs.
  auto got = drain(sub);
  auto more = only<protocol::puback>(pub.conn->take()).size();
  strings expected;
  for (size_t i = 0; i < 300; ++i)
    expected.push_back(payload(i));
  CAF_CHECK_EQUAL(got, expected);
  CAF_CHECK_EQUAL(acked.size() + more, 300u);
  CAF_CHECK_EQUAL(m.counters().dropped_queue_full, 0u);
}

CAF_TEST(a slow clean subscriber is marked slow and drops the oldest counted) {
  auto sub = make_client("sub", v5, registry);
  connect(sub, {true, std::nullopt, 0, 5});
  sub.subscribe("t", qos::at_least_once);
  settle();
  sub.conn->take();
  auto pub = make_client("pub", v5, registry);
  connect(pub, {});
  auto acked = publish(pub, 0, 300, 100ms);
  // Publishers are not held by a clean slow consumer: all acknowledged.
  CAF_CHECK_EQUAL(acked.size(), 300u);
  auto& m = machine("sub");
  CAF_CHECK_GREATER(m.counters().dropped_queue_full, 0u);
  auto got = drain(sub);
  CAF_CHECK_EQUAL(got.size() + m.counters().dropped_queue_full, 300u);
}

CAF_TEST_FIXTURE_SCOPE_END()
