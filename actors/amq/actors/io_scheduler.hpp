#pragma once
/// One event loop per CAF worker: the workers that run the actors also run the network edge's
/// I/O (`runtime.io_threads: 0`, the default).
///
/// With dedicated I/O threads, every message crosses threads twice on its way through the broker
/// (I/O thread -> worker for the read; worker -> I/O thread for the write unless it writes
/// through), and on a busy core each crossing is a wake-up and a context switch. Here each worker
/// owns one `boost::asio::io_context` and runs it itself between actor jobs, like a
/// single-threaded event loop:
///
/// - **Idle:** the worker runs one ready I/O handler (a read), then the actor jobs that read
///   produced (session -> router -> session -> write), then the next handler. A burst of
///   PUBLISHes from many clients is thus pipelined message by message instead of stage by stage.
///   With nothing ready it blocks in the loop (epoll) until I/O arrives or another thread
///   enqueues a job (which wakes it with a posted no-op).
/// - **Busy:** once the worker has run actor jobs for `io_poll_period` without looking at its
///   loop, it polls the loop without blocking, so connections keep being read and written under
///   load (not sooner: queued jobs are earlier input's work, newer input can wait for them).
/// - **Writes:** the worker holds a `net::write_gather`: what its actors write through leaves
///   together when it runs out of jobs and ready reads, before it polls, or once the oldest has
///   waited `write_gather` (net/server.hpp).
/// - The worker runs the jobs itself (CAF's worker loop only gets the job that stops it), which
///   skips the per-job logger bookkeeping of CAF's loop.
/// - Jobs enqueued from the worker's own thread (also from I/O handlers) stay in its queue;
///   other workers steal from it when idle; a worker with jobs queued behind the current one
///   wakes an idle peer to do so (otherwise an idle worker retries every `steal_wait`).
///
/// Connections are spread over the loops round-robin, so with several workers the edge's I/O is
/// spread too. A job that runs long delays its worker's connections (as it delayed the actors
/// behind it before); actors that block belong on detached threads (the storage actor is one).
///
/// Use: create the loops before the actor system, install them in its config, pass
/// `contexts()` as `net::server_options::external_contexts` (broker_node does this when
/// `io_loops::installed()` is set), and destroy the loops after the actor system.

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/execution_unit.hpp>
#include <caf/mailbox_element.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <vector>

namespace boost::asio {
class io_context;
}

namespace amq::actors {

class io_loops {
public:
  /// `n` loops, one per worker (n >= 1).
  explicit io_loops(size_t n);
  ~io_loops();

  io_loops(const io_loops&) = delete;
  io_loops& operator=(const io_loops&) = delete;

  size_t size() const noexcept;

  /// Whether the worker of loop `i` blocks in it just now (waiting for I/O or a wake-up): a
  /// snapshot, for tests and diagnostics.
  bool blocked(size_t i) const noexcept;

  /// The loops, for `net::server_options::external_contexts`.
  std::vector<boost::asio::io_context*> contexts() const;

  /// The loops the running process's scheduler drives (set by `install_io_scheduler`, cleared
  /// when they are destroyed); null with CAF's own scheduler.
  static io_loops* installed() noexcept;

  struct impl;
  impl& get() noexcept {
    return *impl_;
  }

private:
  std::unique_ptr<impl> impl_;
};

/// Tunables of the scheduler (defaults are what actormq runs with).
struct io_scheduler_options {
  /// A busy worker polls its loop (without blocking) once it has run actor jobs for
  /// `io_poll_period` without doing so; it looks at the clock every `io_poll_interval` jobs.
  size_t io_poll_interval = 16;
  std::chrono::microseconds io_poll_period{1000};
  /// An idle worker blocks in its loop at most this long before it tries to steal again
  /// (only with several workers; one worker blocks until woken). CAF's relaxed polling waits as
  /// long; a busy worker wakes an idle peer sooner (below).
  std::chrono::milliseconds steal_wait{10};
  /// A worker that still has jobs queued behind the one it takes wakes one idle peer (blocked in
  /// its loop) at most once per this many jobs, so work spreads under load without a wake-up
  /// per message at low rates.
  size_t wake_check_interval = 8;
  /// Sends an actor makes on a worker to an idle plain-TCP connection are gathered (see
  /// `net::write_gather`) and written together when the worker's queue runs empty, before it
  /// polls its loop, or once the oldest is this old (checked between jobs); 0 writes each at
  /// once (plain write-through).
  std::chrono::microseconds write_gather{50};
  /// `worker_of_loop` names the loop's worker (session actors are homed on their connection's
  /// worker); false: it returns null (every actor is scheduled where its sender runs).
  bool session_affinity = true;
  /// `current_worker` names the worker, so sessions idle there take their input in direct turns
  /// (amq/actors/session.hpp); false: it returns null and every input is an actor message.
  bool direct_turns = true;
  /// Worker i runs on CPU `worker_cpus[i % size]` (set when it first runs); empty: the kernel
  /// places the workers.
  std::vector<int> worker_cpus;
};

/// The worker that runs the event loop `loop` (a connection's `net::connection::loop()`), as the
/// execution unit a session actor schedules itself on (its *home*, session.hpp): a session runs
/// where its connection's I/O runs, so with several workers a fan-out's deliveries and their sends
/// spread over the workers that own the subscribers' connections instead of piling onto the one
/// that ran the router. Null with CAF's own scheduler, for a loop that is not one of the
/// installed loops, or with `io_scheduler_options::session_affinity` off.
caf::execution_unit* worker_of_loop(caf::actor_system& sys, const void* loop) noexcept;

/// The worker of `sys`'s io_scheduler running on this thread (in an actor job or an I/O handler
/// it runs), as an execution unit; null on any other thread (CAF's own scheduler, the I/O
/// threads of `runtime.io_threads` >= 1, another actor system's workers), and with
/// `io_scheduler_options::direct_turns` off. Direct turns (session.hpp) run only here.
caf::execution_unit* current_worker(const caf::actor_system& sys) noexcept;

/// An actor that runs on a chosen worker, its *home* (`set_home`, e.g. `worker_of_loop`): each
/// message that finds it idle schedules it on that worker (woken if it blocks in its loop), from
/// any thread. Without a home it is scheduled where its sender runs (CAF's default). An idle
/// worker may still steal it from its home's queue (load balance beats locality when the home is
/// busy); messages keep their order either way (the mailbox keeps it).
template <class Base>
class homed_actor : public Base {
public:
  using Base::Base;
  using Base::enqueue;

  void enqueue(caf::mailbox_element_ptr ptr, caf::execution_unit* eu) override {
    auto* home = home_.load(std::memory_order_relaxed);
    Base::enqueue(std::move(ptr), home != nullptr ? home : eu);
  }

  /// Any thread; null: no home. A stale value read by a concurrent sender costs locality only.
  void set_home(caf::execution_unit* home) noexcept {
    home_.store(home, std::memory_order_relaxed);
  }

  caf::execution_unit* home() const noexcept {
    return home_.load(std::memory_order_relaxed);
  }

private:
  std::atomic<caf::execution_unit*> home_{nullptr};
};

/// Makes the actor system built from `cfg` use a work-stealing scheduler whose workers run
/// `loops` (worker i runs loop i % loops.size()). `cfg`'s `scheduler.max-threads` should equal
/// `loops.size()`. `loops` must outlive that actor system.
void install_io_scheduler(caf::actor_system_config& cfg, io_loops& loops,
                          io_scheduler_options opts = {});

} // namespace amq::actors
