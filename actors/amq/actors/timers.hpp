#pragma once
/// Timers for many actors at the cost of one CAF timer each.
///
/// An idle connection is mostly waiting: for its CONNECT (the connect
/// watchdog) and for its keep-alive deadline (the session's tick). A CAF
/// `delayed_send` per wait costs ~300-400 bytes while it is pending (the
/// clock's map node, the scheduled event and the mailbox element), which
/// was a tenth of an idle connection's memory (docs/performance.md). These
/// two services keep one compact entry per wait instead and arm ONE CAF
/// timer for the earliest of them. They use the actor clock, so CAF's test
/// coordinator drives them like any delayed message (`advance_time`).
///
/// TIMER SERVICE (one per broker, registered in the actor system's registry
/// as `timer_service_name`):
/// // (timer_atom, strong_actor_ptr target, int64_t at_ns)  send (tick_atom) to `target`
/// //                                   once the actor clock reaches `at_ns`
/// //                                   (time_since_epoch in ns)
/// An entry is 16 bytes in a binary heap. A target that is gone by then is
/// still sent the tick (it bounces); an entry cannot be cancelled: the
/// session ignores ticks it no longer needs (`session_machine::on_timer`
/// checks the deadlines itself).
///
/// CONNECT WATCHDOG (MQTT 3.1.4: a server SHOULD close a connection that
/// sends no CONNECT in reasonable time):
/// // (watch_atom, connection_ptr, edge_link_ptr)  check this connection once,
/// //                                   `timeout` after now
/// The timeout is the same for every connection, so deadlines arrive in
/// order: a FIFO of (deadline, weak connection, weak link), 40 bytes each,
/// that does not keep closed connections alive.

#include "amq/actors/messages.hpp"

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include <chrono>

namespace amq::actors {

using timer_atom = caf::atom_constant<caf::atom("timer")>;
using watch_atom = caf::atom_constant<caf::atom("watch")>;

/// The timer service's name in `caf::actor_system::registry()`.
constexpr caf::atom_value timer_service_name = caf::atom("amq.timers");

/// Spawns the timer service (not registered: see `timer_service_name`).
caf::actor spawn_timer_service(caf::actor_system& sys);

/// The registered timer service, or an invalid handle if there is none.
caf::actor find_timer_service(caf::actor_system& sys);

/// Spawns the connect watchdog.
caf::actor spawn_connect_watchdog(caf::actor_system& sys, std::chrono::milliseconds timeout);

} // namespace amq::actors
