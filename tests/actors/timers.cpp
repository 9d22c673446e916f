#define CAF_SUITE actors_timers
#include <caf/test/unit_test.hpp>

// The timer service and the connect watchdog (amq/actors/timers.hpp) under
// CAF's test coordinator: ticks arrive when the actor clock reaches their
// deadline, in deadline order, with one CAF timer for all of them; the
// watchdog aborts a connection without CONNECT after the timeout and leaves
// one that sent its CONNECT (or is gone) alone.

#include "actor_fixture.hpp"

#include "amq/actors/timers.hpp"

using namespace amq;
using namespace amq::actors;
using namespace amq::test;
using namespace std::chrono_literals;

namespace {

struct tick_log {
  std::vector<std::string> ticks;
};

caf::behavior probe(caf::event_based_actor*, std::shared_ptr<tick_log> log, std::string name) {
  return {
    [log, name](tick_atom) { log->ticks.push_back(name); },
  };
}

int64_t ns_at(caf::actor_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

struct fixture : actor_fixture {
  std::shared_ptr<tick_log> log = std::make_shared<tick_log>();
  std::vector<caf::actor> actors;

  ~fixture() {
    stop_actors(actors);
  }

  caf::actor spawn_probe(std::string name) {
    auto p = sys.spawn(probe, log, std::move(name));
    actors.push_back(p);
    return p;
  }

  void schedule_tick(const caf::actor& timers, const caf::actor& target, caf::actor_clock::duration_type in) {
    caf::anon_send(timers, timer_atom::value, caf::actor_cast<caf::strong_actor_ptr>(target),
                   ns_at(sched.clock().now() + in));
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(timers_tests, fixture)

CAF_TEST(ticks come at their deadlines in deadline order) {
  auto timers = spawn_timer_service(sys);
  actors.push_back(timers);
  auto a = spawn_probe("a");
  auto b = spawn_probe("b");
  auto c = spawn_probe("c");
  schedule_tick(timers, a, 3s);
  schedule_tick(timers, b, 1s);
  schedule_tick(timers, c, 2s);
  sched.run();
  CAF_CHECK(log->ticks.empty());
  // CAF timers only when the earliest deadline moves (a's 3 s, then b's
  // 1 s), not one per entry.
  CAF_CHECK_EQUAL(sched.clock().schedule().size(), 2u);
  advance_time(999ms);
  sched.run();
  CAF_CHECK(log->ticks.empty());
  advance_time(1ms);
  sched.run();
  CAF_CHECK_EQUAL(log->ticks, (std::vector<std::string>{"b"}));
  advance_time(2s);
  sched.run();
  CAF_CHECK_EQUAL(log->ticks, (std::vector<std::string>{"b", "c", "a"}));
  CAF_CHECK(sched.clock().schedule().empty());
}

CAF_TEST(an earlier deadline rearms the timer and a past one fires at once) {
  auto timers = spawn_timer_service(sys);
  actors.push_back(timers);
  auto a = spawn_probe("a");
  auto b = spawn_probe("b");
  schedule_tick(timers, a, 10s);
  sched.run();
  schedule_tick(timers, b, 1s);
  sched.run();
  advance_time(1s);
  sched.run();
  CAF_CHECK_EQUAL(log->ticks, (std::vector<std::string>{"b"}));
  schedule_tick(timers, b, -1s);
  sched.run();
  CAF_CHECK_EQUAL(log->ticks, (std::vector<std::string>{"b", "b"}));
  advance_time(9s);
  sched.run();
  CAF_CHECK_EQUAL(log->ticks, (std::vector<std::string>{"b", "b", "a"}));
}

CAF_TEST(the watchdog aborts a connection without CONNECT after the timeout) {
  auto watchdog = spawn_connect_watchdog(sys, 10s);
  actors.push_back(watchdog);
  auto silent = make_client("silent", v311, caf::actor{});
  auto polite = make_client("polite", v311, caf::actor{});
  caf::anon_send(watchdog, watch_atom::value, net::connection_ptr{silent.conn}, silent.link);
  sched.run();
  advance_time(5s);
  caf::anon_send(watchdog, watch_atom::value, net::connection_ptr{polite.conn}, polite.link);
  sched.run();
  polite.send(polite.connect_packet({})); // CONNECT seen (the registry is not involved here)
  CAF_CHECK(polite.link->connect_seen());
  advance_time(5s);
  sched.run();
  CAF_CHECK(silent.conn->aborted);
  CAF_CHECK(!polite.conn->is_closed());
  advance_time(5s);
  sched.run();
  CAF_CHECK(!polite.conn->is_closed());
}

CAF_TEST_FIXTURE_SCOPE_END()
