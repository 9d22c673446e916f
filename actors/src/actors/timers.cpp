#include "amq/actors/timers.hpp"

#include "amq/actors/edge_link.hpp"
#include "amq/log.hpp"
#include "amq/metrics/registry.hpp"

#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>

#include <algorithm>
#include <deque>
#include <limits>
#include <vector>

namespace amq::actors {

namespace {

using clock = caf::actor_clock::clock_type;

int64_t to_ns(clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

struct timer_service_state {
  static inline const char* name = "timer-service";

  struct entry {
    int64_t at;
    caf::strong_actor_ptr target;
  };
  /// Min-heap on `at`.
  std::vector<entry> heap;
  int64_t armed = std::numeric_limits<int64_t>::max(); ///< deadline of the pending CAF timer
  uint64_t generation = 0;                              ///< of the pending CAF timer

  static bool later(const entry& a, const entry& b) noexcept { return a.at > b.at; }
};

using timer_service_actor = caf::stateful_actor<timer_service_state>;

void arm(timer_service_actor* self, int64_t at) {
  auto& st = self->state;
  st.armed = at;
  auto gen = ++st.generation;
  auto delay = std::chrono::nanoseconds{at - to_ns(self->clock().now())};
  if (delay <= std::chrono::nanoseconds::zero())
    self->send(self, tick_atom::value, gen);
  else
    self->delayed_send(self, delay, tick_atom::value, gen);
}

caf::behavior timer_service(timer_service_actor* self) {
  return {
    [self](timer_atom, caf::strong_actor_ptr& target, int64_t at) {
      auto& st = self->state;
      st.heap.push_back({at, std::move(target)});
      std::push_heap(st.heap.begin(), st.heap.end(), timer_service_state::later);
      if (at < st.armed)
        arm(self, at);
    },
    [self](tick_atom, uint64_t gen) {
      auto& st = self->state;
      if (gen != st.generation)
        return; // superseded by an earlier deadline
      st.armed = std::numeric_limits<int64_t>::max();
      auto now = to_ns(self->clock().now());
      while (!st.heap.empty() && st.heap.front().at <= now) {
        std::pop_heap(st.heap.begin(), st.heap.end(), timer_service_state::later);
        auto target = caf::actor_cast<caf::actor>(std::move(st.heap.back().target));
        st.heap.pop_back();
        if (target)
          self->send(target, tick_atom::value);
      }
      if (st.heap.empty()) {
        if (st.heap.capacity() > 1024)
          st.heap.shrink_to_fit(); // after a crowd left
      } else {
        arm(self, st.heap.front().at);
      }
    },
  };
}

struct watchdog_state {
  static inline const char* name = "connect-watchdog";

  struct entry {
    clock::time_point at;
    std::weak_ptr<net::connection> conn;
    std::weak_ptr<edge_link> link;
  };
  std::deque<entry> fifo;
  std::chrono::milliseconds timeout{10'000};
  bool armed = false;
};

using watchdog_actor = caf::stateful_actor<watchdog_state>;

caf::behavior connect_watchdog(watchdog_actor* self, std::chrono::milliseconds timeout) {
  self->state.timeout = timeout;
  return {
    [self](watch_atom, const net::connection_ptr& conn, const edge_link_ptr& link) {
      auto& st = self->state;
      st.fifo.push_back({self->clock().now() + st.timeout, conn, link});
      if (!st.armed) {
        st.armed = true;
        self->delayed_send(self, st.timeout, tick_atom::value);
      }
    },
    [self](tick_atom) {
      auto& st = self->state;
      st.armed = false;
      auto now = self->clock().now();
      while (!st.fifo.empty() && st.fifo.front().at <= now) {
        auto e = std::move(st.fifo.front());
        st.fifo.pop_front();
        auto conn = e.conn.lock();
        auto link = e.link.lock();
        if (conn && link && !link->connect_seen()) {
          AMQ_LOG_INFO("connection {} closed: no CONNECT within the connect timeout",
                       conn->peer());
          metrics::count_connect_timeout();
          conn->abort();
        }
      }
      if (st.fifo.empty()) {
        st.fifo.shrink_to_fit();
      } else {
        st.armed = true;
        self->delayed_send(self, st.fifo.front().at - now, tick_atom::value);
      }
    },
  };
}

} // namespace

caf::actor spawn_timer_service(caf::actor_system& sys) {
  return sys.spawn(timer_service);
}

caf::actor find_timer_service(caf::actor_system& sys) {
  return sys.registry().get<caf::actor>(timer_service_name);
}

caf::actor spawn_connect_watchdog(caf::actor_system& sys, std::chrono::milliseconds timeout) {
  return sys.spawn(connect_watchdog, timeout);
}

} // namespace amq::actors
