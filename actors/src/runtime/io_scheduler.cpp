// CAF workers that run the edge's event loops. Design: amq/actors/io_scheduler.hpp.
#include "amq/actors/io_scheduler.hpp"

#include "amq/log.hpp"
#include "amq/net/server.hpp"
#include "amq/thread_name.hpp"

#include <caf/actor_system.hpp>
#include <caf/logger.hpp>
#include <caf/policy/unprofiled.hpp>
#include <caf/resumable.hpp>
#include <caf/scheduler/coordinator.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <exception>
#include <random>
#include <vector>

namespace amq::actors {

namespace asio = boost::asio;

struct io_loops::impl {
  struct loop {
    asio::io_context ctx{1}; // one thread runs it
    asio::executor_work_guard<asio::io_context::executor_type> guard{asio::make_work_guard(ctx)};
    /// The read buffer of the worker running this loop (net::io_thread_scope).
    std::vector<uint8_t> read_buffer;
    /// True while its worker blocks in it, waiting for I/O or a wake-up, until the wait ended
    /// and the one handler that ended it ran (io_loops::blocked).
    std::atomic<bool> blocked{false};
  };
  std::vector<std::unique_ptr<loop>> loops;
  io_scheduler_options opts;
};

namespace {

std::atomic<io_loops*> installed_loops{nullptr};

/// The worker (and its coordinator) running on this thread, if it is one of ours.
thread_local void* tl_worker = nullptr;
thread_local const void* tl_coordinator = nullptr;
/// The same worker as an execution unit, and its actor system (current_worker).
thread_local caf::execution_unit* tl_unit = nullptr;
thread_local const caf::actor_system* tl_system = nullptr;

io_loops::impl& loops_of(caf::scheduler::abstract_coordinator* c);

/// Runs `f` (an io_context call) as the edge's I/O thread; an exception escaping a handler is
/// reported and swallowed (as the dedicated I/O threads do), never allowed to kill the worker.
template <class F>
size_t run_io(io_loops::impl::loop& l, F&& f) {
  if (l.read_buffer.empty())
    l.read_buffer.resize(64 * 1024);
  net::io_thread_scope scope{l.read_buffer};
  try {
    return f(l.ctx);
  } catch (const std::exception& e) {
    AMQ_LOG_ERROR("worker caught an exception that escaped an I/O handler: {}", e.what());
  } catch (...) {
    AMQ_LOG_ERROR("worker caught an unknown exception that escaped an I/O handler");
  }
  return 1; // something ran
}

/// Returned to CAF's worker loop once the coordinator's shutdown job ran (see io_policy::dequeue):
/// resuming it ends the loop. Static, never reference counted.
class stop_worker_job final : public caf::resumable {
public:
  resume_result resume(caf::execution_unit*, size_t) override {
    return resumable::shutdown_execution_unit;
  }
  void intrusive_ptr_add_ref_impl() override {
  }
  void intrusive_ptr_release_impl() override {
  }
};

stop_worker_job stop_worker;

/// A worker's job queue: CAF's double_ended_queue allocates a node per job (three per
/// message point to point: the read's, the route's and the delivery's); this ring of job
/// pointers allocates only when it grows. Its owner takes from the head, peers steal from the
/// tail, other threads append: one spinlock, uncontended on one worker.
class job_queue {
public:
  job_queue() = default;
  job_queue(const job_queue&) = delete;
  job_queue& operator=(const job_queue&) = delete;

  void append(caf::resumable* job) {
    lock_guard g{lock_};
    grow_if_full();
    auto n = size_.load(std::memory_order_relaxed);
    ring_[(head_ + n) & (ring_.size() - 1)] = job;
    size_.store(n + 1, std::memory_order_relaxed);
  }

  caf::resumable* take_head() {
    lock_guard g{lock_};
    auto n = size_.load(std::memory_order_relaxed);
    if (n == 0)
      return nullptr;
    auto* job = ring_[head_];
    head_ = (head_ + 1) & (ring_.size() - 1);
    size_.store(n - 1, std::memory_order_relaxed);
    return job;
  }

  caf::resumable* take_tail() {
    lock_guard g{lock_};
    auto n = size_.load(std::memory_order_relaxed);
    if (n == 0)
      return nullptr;
    size_.store(n - 1, std::memory_order_relaxed);
    return ring_[(head_ + n - 1) & (ring_.size() - 1)];
  }

  bool empty() const {
    return size_.load(std::memory_order_relaxed) == 0;
  }

private:
  struct lock_guard {
    explicit lock_guard(std::atomic_flag& f) : flag(f) {
      while (flag.test_and_set(std::memory_order_acquire)) {
      }
    }
    ~lock_guard() {
      flag.clear(std::memory_order_release);
    }
    std::atomic_flag& flag;
  };

  /// Under the lock: room for one more (capacity stays a power of two).
  void grow_if_full() {
    auto n = size_.load(std::memory_order_relaxed);
    if (n < ring_.size())
      return;
    std::vector<caf::resumable*> bigger(ring_.empty() ? 64 : ring_.size() * 2);
    for (size_t i = 0; i < n; ++i)
      bigger[i] = ring_[(head_ + i) & (ring_.size() - 1)];
    ring_.swap(bigger);
    head_ = 0;
  }

  std::atomic_flag lock_ = ATOMIC_FLAG_INIT;
  std::vector<caf::resumable*> ring_;
  size_t head_ = 0;
  /// Atomic only so that `empty()` may look without the lock (a hint, as CAF's queue gives).
  std::atomic<size_t> size_{0};
};

/// CAF's work-stealing policy, with the worker's event loop as its idle (and periodic) work.
class io_policy : public caf::policy::unprofiled {
public:
  using queue_type = job_queue;

  struct coordinator_data {
    explicit coordinator_data(caf::scheduler::abstract_coordinator*) {
    }
    std::atomic<size_t> next_worker{0};
  };

  struct worker_data {
    explicit worker_data(caf::scheduler::abstract_coordinator* p)
      : rengine(std::random_device{}()), uniform(0, p->num_workers() - 1) {
    }
    worker_data(const worker_data& other)
      : rengine(std::random_device{}()), uniform(other.uniform) {
    }
    queue_type queue;
    /// The worker's gathered write-throughs (amq/net/server.hpp, write_gather): flushed when
    /// its queue runs empty, before it polls its loop, and once the oldest is `write_gather`
    /// old.
    net::write_gather gather;
    /// True while the worker blocks in its loop: an external enqueue must wake it.
    std::atomic<bool> waiting{false};
    size_t since_poll = 0;
    /// When the worker last ran its loop (idle, or a busy poll).
    std::chrono::steady_clock::time_point io_at;
    size_t since_wake = 0;
    /// Peers (bit = worker id) this worker's current job scheduled work on while they may
    /// sleep: woken once the job is done (`wake_pending`), not once per message.
    uint64_t pending_wakes = 0;
    /// Jobs scheduled on peers since the last `wake_pending`: a long job (the router draining
    /// a full mailbox at max rate) wakes them after `wake_batch` instead of only at its end.
    size_t pending_jobs = 0;
    std::default_random_engine rengine;
    std::uniform_int_distribution<size_t> uniform;
  };

  template <class Worker>
  static io_loops::impl::loop& loop_of(Worker* w) {
    auto& l = loops_of(w->parent());
    return *l.loops[w->id() % l.loops.size()];
  }

  template <class Worker>
  caf::resumable* try_steal(Worker* self) {
    auto p = self->parent();
    if (p->num_workers() < 2)
      return nullptr;
    auto victim = d(self).uniform(d(self).rengine);
    if (victim == self->id())
      victim = p->num_workers() - 1;
    return d(p->worker_by_id(victim)).queue.take_tail();
  }

  /// A job is waiting behind the one this worker takes: wake one peer that blocks in its loop,
  /// so it steals instead of sleeping until its wait ends.
  template <class Worker>
  void wake_idle_peer(Worker* self) {
    auto p = self->parent();
    for (size_t i = 0; i < p->num_workers(); ++i) {
      auto* w = p->worker_by_id(i);
      if (w == self)
        continue;
      if (d(w).waiting.load(std::memory_order_relaxed) && d(w).waiting.exchange(false)) {
        asio::post(loop_of(w).ctx, [] {});
        return;
      }
    }
  }

  template <class Coordinator>
  void central_enqueue(Coordinator* self, caf::resumable* job) {
    using worker_type = typename Coordinator::worker_type;
    if (tl_coordinator == self && tl_worker != nullptr) {
      // From one of our workers (an I/O handler's anon_send, a clock-less send): keep it here;
      // the worker is running and looks at its queue next. Idle workers steal.
      d(static_cast<worker_type*>(tl_worker)).queue.append(job);
      return;
    }
    auto w = self->worker_by_id(d(self).next_worker++ % self->num_workers());
    w->external_enqueue(job);
  }

  template <class Worker>
  void external_enqueue(Worker* self, caf::resumable* job) {
    d(self).queue.append(job);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (d(self).waiting.load(std::memory_order_seq_cst) && d(self).waiting.exchange(false))
      asio::post(loop_of(self).ctx, [] {}); // ends the worker's blocking run_one
  }

  /// An actor's send on this worker schedules the receiver behind what is already queued,
  /// not ahead of it as CAF's work stealing does (prepend, for cache locality): in arrival
  /// order, so a fan-out's deliveries leave in the order they were sent and before work
  /// that input made later. Fan-out QoS 1 at 100 publishes/s to 50 subscribers, one set of 4
  /// interleaved runs: mqtt-load's p99 1,270 -> 1,146 us, the last delivery's median receipt
  /// 920 -> 886 us; about this machine's noise, so the case rests on the order itself.
  template <class Worker>
  void internal_enqueue(Worker* self, caf::resumable* job) {
    if (tl_worker != self) {
      // Another thread scheduled an actor on this worker: its home (worker_of_loop).
      if (tl_coordinator == self->parent() && tl_worker != nullptr && self->id() < 64) {
        // A peer worker's job (a fan-out's deliveries to the sessions homed here): queue now,
        // wake this worker once that job is done. Woken per message, a sleeping worker ran
        // each delivery alone and slept again before the next one arrived: fan-out QoS 0 to
        // 50 subscribers woke it ~25 times per publish, and the kernel put it on the sender's
        // core each time (a context switch per delivery there, the other core idle).
        d(self).queue.append(job);
        auto* sender = static_cast<Worker*>(tl_worker);
        d(sender).pending_wakes |= uint64_t{1} << self->id();
        if (++d(sender).pending_jobs >= wake_batch)
          wake_pending(sender);
        return;
      }
      external_enqueue(self, job);
      return;
    }
    d(self).queue.append(job);
  }

  /// At most this many jobs wait on sleeping peers for the job that scheduled them to end.
  static constexpr size_t wake_batch = 32;

  /// Wakes the peers that the jobs run since the last call scheduled work on, if they block in
  /// their loops (the same check as external_enqueue, once per peer).
  template <class Worker>
  void wake_pending(Worker* self) {
    auto mask = d(self).pending_wakes;
    if (mask == 0)
      return;
    d(self).pending_wakes = 0;
    d(self).pending_jobs = 0;
    std::atomic_thread_fence(std::memory_order_seq_cst);
    auto p = self->parent();
    for (size_t i = 0; mask != 0; ++i, mask >>= 1) {
      if ((mask & 1) == 0)
        continue;
      auto* w = p->worker_by_id(i);
      if (d(w).waiting.load(std::memory_order_seq_cst) && d(w).waiting.exchange(false))
        asio::post(loop_of(w).ctx, [] {}); // ends the worker's blocking run_one
    }
  }

  template <class Worker>
  void resume_job_later(Worker* self, caf::resumable* job) {
    d(self).queue.append(job);
  }

  /// CAF's worker loop calls this for its next job. It gets one only to stop: the jobs are run
  /// here, with the same result handling as caf::scheduler::worker::run, which also pushes the
  /// job's actor id into the (quiet) logger per job, a cross-library dynamic_cast and two
  /// thread-local accesses per job that cost about 3 % of a worker's time at a few thousand
  /// messages per second (docs/performance.md).
  template <class Worker>
  caf::resumable* dequeue(Worker* self) {
    for (;;) {
      auto* job = next_job(self);
      // No CAF logger on this thread. Debian's CAF is built with logging off (QUIET), yet every
      // scheduled_actor::resume still pushes the actor's id into the current logger and restores
      // it (CAF_PUSH_AID): two calls that take a shared lock and hash the thread id into a map,
      // ~1,000 of the ~14,800 instructions a point-to-point QoS 0 message cost (callgrind,
      // docs/performance.md). Without a current logger the macro does nothing. Every spawn made
      // on this thread sets it again (actor_system::spawn_impl), hence the check per job: a
      // thread-local read.
      if (caf::logger::current_logger() != nullptr)
        caf::logger::set_current_actor_system(nullptr);
      switch (job->resume(self, self->max_throughput())) {
        case caf::resumable::resume_later:
          resume_job_later(self, job); // keeps the reference
          break;
        case caf::resumable::done:
        case caf::resumable::awaiting_message:
          intrusive_ptr_release(job);
          break;
        case caf::resumable::shutdown_execution_unit:
          // The coordinator's shutdown job ran: write what the jobs before it gathered (it may
          // have come straight after them, with no idle turn in between), then hand CAF's loop
          // a job that ends it.
          d(self).gather.flush();
          d(self).gather.uninstall();
          return &stop_worker;
      }
    }
  }

  template <class Worker>
  caf::resumable* next_job(Worker* self) {
    auto& data = d(self);
    const auto& opts = loops_of(self->parent()).opts;
    if (tl_worker != self) {
      tl_worker = self;
      tl_coordinator = self->parent();
      tl_unit = opts.direct_turns ? self : nullptr;
      tl_system = &self->system();
      name_this_thread("amq.worker." + std::to_string(self->id()));
      if (!opts.worker_cpus.empty()) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(opts.worker_cpus[self->id() % opts.worker_cpus.size()], &set);
        if (int rc = pthread_setaffinity_np(pthread_self(), sizeof(set), &set); rc != 0)
          AMQ_LOG_WARN("worker {} cannot pin itself to CPU {} (runtime.pin_workers): {}; it "
                       "runs wherever the kernel puts it",
                       self->id(), opts.worker_cpus[self->id() % opts.worker_cpus.size()],
                       std::strerror(rc));
      }
      if (opts.write_gather.count() > 0)
        data.gather.install();
    }
    auto& l = loop_of(self);
    for (;;) {
      // After each job and each turn of the loop below (I/O handlers schedule actors too).
      wake_pending(self);
      if (auto* job = data.queue.take_head()) {
        if (self->parent()->num_workers() > 1 && ++data.since_wake >= opts.wake_check_interval
            && !data.queue.empty()) {
          data.since_wake = 0;
          wake_idle_peer(self);
        }
        const bool check = ++data.since_poll >= opts.io_poll_interval;
        if (check || !data.gather.empty()) {
          const auto now = std::chrono::steady_clock::now();
          if (check) {
            data.since_poll = 0;
            if (now - data.io_at >= opts.io_poll_period) {
              // Busy for a while: let the connections in (reads, writes, accepts) without
              // blocking. Not sooner: the queued jobs are earlier input's work (a fan-out's
              // deliveries); reading newer input in between only delays them.
              data.io_at = now;
              data.gather.flush();
              run_io(l, [](asio::io_context& c) { return c.poll(); });
              wake_pending(self);
              return job;
            }
          }
          if (!data.gather.empty() && now - data.gather.oldest() >= opts.write_gather)
            data.gather.flush();
        }
        return job;
      }
      data.since_poll = 0;
      data.io_at = std::chrono::steady_clock::now();
      // Idle: one ready I/O handler, then the jobs it produced (one message's whole path before
      // the next message's read, like a single-threaded event loop). Alone, with no gathered
      // writes, the blocking run_one below does the same (an extra non-blocking epoll_wait
      // would only cost a syscall). Gathered writes wait for the ready handlers (bounded by
      // write_gather, checked between jobs) and leave together before the worker blocks.
      const bool alone = self->parent()->num_workers() == 1;
      if (!alone || !data.gather.empty()) {
        if (run_io(l, [](asio::io_context& c) { return c.poll_one(); }) > 0) {
          // A handler may have run actors' turns itself (direct turns, session.hpp) and
          // scheduled no job: the gathered writes' age is checked here as between jobs.
          if (!data.gather.empty()
              && std::chrono::steady_clock::now() - data.gather.oldest() >= opts.write_gather)
            data.gather.flush();
          continue;
        }
      }
      data.gather.flush();
      if (!alone) {
        if (auto* job = try_steal(self))
          return job;
      }
      // Nothing anywhere: block in the loop until I/O arrives or external_enqueue posts.
      data.waiting.store(true, std::memory_order_seq_cst);
      std::atomic_thread_fence(std::memory_order_seq_cst);
      if (data.queue.empty()) {
        l.blocked.store(true, std::memory_order_relaxed);
        if (alone)
          run_io(l, [](asio::io_context& c) { return c.run_one(); });
        else
          run_io(l, [&](asio::io_context& c) { return c.run_one_for(opts.steal_wait); });
        // It ran its loop just now, not when it began to wait: the next busy poll is
        // io_poll_period after the input that woke it (else the first check after an idle
        // spell polls at once, in the middle of that input's work).
        data.io_at = std::chrono::steady_clock::now();
        l.blocked.store(false, std::memory_order_relaxed);
      }
      data.waiting.store(false, std::memory_order_seq_cst);
    }
  }

  template <class Worker, class UnaryFunction>
  void foreach_resumable(Worker* self, UnaryFunction f) {
    auto next = [&] { return d(self).queue.take_head(); };
    for (auto job = next(); job != nullptr; job = next())
      f(job);
  }

  template <class Coordinator, class UnaryFunction>
  void foreach_central_resumable(Coordinator*, UnaryFunction) {
  }
};

class io_coordinator final : public caf::scheduler::coordinator<io_policy> {
public:
  io_coordinator(caf::actor_system& sys, io_loops::impl& loops)
    : caf::scheduler::coordinator<io_policy>(sys), loops_(loops) {
  }

  io_loops::impl& loops() noexcept {
    return loops_;
  }

private:
  io_loops::impl& loops_;
};

io_loops::impl& loops_of(caf::scheduler::abstract_coordinator* c) {
  return static_cast<io_coordinator*>(c)->loops();
}

} // namespace

io_loops::io_loops(size_t n) : impl_(std::make_unique<impl>()) {
  for (size_t i = 0; i < std::max<size_t>(n, 1); ++i)
    impl_->loops.push_back(std::make_unique<impl::loop>());
}

io_loops::~io_loops() {
  io_loops* self = this;
  installed_loops.compare_exchange_strong(self, nullptr);
  // The workers are gone (the actor system was destroyed first): release the guards and destroy
  // what is left in the loops (handlers holding finished connections).
  for (auto& l : impl_->loops)
    l->guard.reset();
}

size_t io_loops::size() const noexcept {
  return impl_->loops.size();
}

bool io_loops::blocked(size_t i) const noexcept {
  return i < impl_->loops.size() && impl_->loops[i]->blocked.load(std::memory_order_relaxed);
}

std::vector<boost::asio::io_context*> io_loops::contexts() const {
  std::vector<boost::asio::io_context*> out;
  for (auto& l : impl_->loops)
    out.push_back(&l->ctx);
  return out;
}

caf::execution_unit* current_worker(const caf::actor_system& sys) noexcept {
  return tl_system == &sys ? tl_unit : nullptr;
}

io_loops* io_loops::installed() noexcept {
  return installed_loops.load();
}

caf::execution_unit* worker_of_loop(caf::actor_system& sys, const void* loop) noexcept {
  auto* installed = installed_loops.load();
  if (installed == nullptr || loop == nullptr)
    return nullptr;
  auto* coord = dynamic_cast<io_coordinator*>(&sys.scheduler());
  if (coord == nullptr || &coord->loops() != &installed->get()
      || !coord->loops().opts.session_affinity)
    return nullptr;
  auto& loops = coord->loops().loops;
  for (size_t i = 0; i < loops.size() && i < coord->num_workers(); ++i)
    if (static_cast<const void*>(static_cast<asio::execution_context*>(&loops[i]->ctx)) == loop)
      return coord->worker_by_id(i); // worker i runs loop i
  return nullptr;
}

void install_io_scheduler(caf::actor_system_config& cfg, io_loops& loops,
                          io_scheduler_options opts) {
  opts.io_poll_interval = std::max<size_t>(opts.io_poll_interval, 1);
  opts.wake_check_interval = std::max<size_t>(opts.wake_check_interval, 1);
  loops.get().opts = opts;
  cfg.module_factories.push_back([&loops](caf::actor_system& sys) -> caf::actor_system::module* {
    return new io_coordinator(sys, loops.get());
  });
  installed_loops.store(&loops);
}

} // namespace amq::actors
