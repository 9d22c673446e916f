// The I/O scheduler (amq/actors/io_scheduler.hpp): CAF workers that also run the edge's event
// loops. Real actor systems, real sockets on loopback; every wait has a deadline.
#define CAF_SUITE actors_io_scheduler
#include <caf/test/unit_test.hpp>

#include "amq/actors/io_scheduler.hpp"
#include "amq/actors/messages.hpp"
#include "amq/config/load.hpp"
#include "amq/net/server.hpp"
#include "../net/recorder.hpp"

#include <boost/asio/io_context.hpp>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/logger.hpp>
#include <caf/scoped_actor.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <mutex>
#include <pthread.h>
#include <sched.h>

#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace amq;
using namespace std::chrono_literals;
using net::test::recorder;

namespace {

constexpr auto deadline = 20s;

std::string thread_name() {
  std::ostringstream os;
  os << std::this_thread::get_id();
  return os.str();
}

/// A blocking loopback client.
struct client {
  int fd = -1;
  explicit client(uint16_t port) {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      ::close(fd);
      fd = -1;
    }
  }
  ~client() {
    if (fd >= 0)
      ::close(fd);
  }
  bool write(std::string_view s) {
    return ::send(fd, s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size());
  }
  /// Reads up to and including the next '\n' (empty on EOF or after the deadline).
  std::string read_line() {
    std::string line;
    while (line.empty() || line.back() != '\n') {
      auto more = read(1);
      if (more.empty())
        return {};
      line += more;
    }
    return line;
  }
  /// Reads `n` bytes; fewer on EOF or after the deadline. `eof` tells which.
  std::string read(size_t n, bool* eof = nullptr) {
    std::string out;
    auto until = std::chrono::steady_clock::now() + deadline;
    while (out.size() < n && std::chrono::steady_clock::now() < until) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0)
        continue;
      char buf[4096];
      auto k = ::recv(fd, buf, std::min(sizeof(buf), n - out.size()), 0);
      if (k <= 0) {
        if (eof)
          *eof = true;
        break;
      }
      out.append(buf, static_cast<size_t>(k));
    }
    return out;
  }
};

/// An actor system whose `workers` workers run `loops`, and a server on those loops whose
/// connections forward every read to `echo` (an actor that answers with "<bytes>@<its thread>").
struct fixture {
  explicit fixture(size_t workers, actors::io_scheduler_options opts = {}) : loops(workers) {
    cfg.set("scheduler.max-threads", workers);
    cfg.set("logger.verbosity", caf::atom("quiet"));
    actors::install_io_scheduler(cfg, loops, opts);
    sys.emplace(cfg);
    echo = sys->spawn([]() -> caf::behavior {
      return {[](const std::string& data, const net::connection_ptr& c) {
        auto reply = data + "@" + thread_name() + "\n";
        c->send(std::vector<uint8_t>(reply.begin(), reply.end()));
      }};
    });
    net::server_options sopts;
    sopts.bind = "127.0.0.1";
    sopts.port = 0;
    sopts.external_contexts = loops.contexts();
    srv.emplace(sopts, [this](const net::connection_ptr& c) {
      auto rec = std::make_shared<forwarder>(*this);
      c->set_receiver(rec);
      std::lock_guard<std::mutex> guard{mtx};
      conns.push_back(c);
      recs.push_back(rec);
    });
    CAF_REQUIRE(!srv->start());
  }

  ~fixture() {
    if (srv)
      srv->stop();
    conns.clear();
    recs.clear();
    srv.reset();
    echo = nullptr;
    sys.reset(); // the workers stop before the loops go
  }

  /// Records on_data's thread and forwards the bytes to the echo actor.
  struct forwarder : recorder {
    fixture& fx;
    explicit forwarder(fixture& f) : fx(f) {
    }
    void on_data(const net::connection_ptr& c, std::span<const uint8_t> in) override {
      {
        std::lock_guard<std::mutex> guard{fx.mtx};
        fx.io_threads.insert(thread_name());
      }
      if (fx.on_read)
        fx.on_read();
      caf::anon_send(fx.echo, std::string(in.begin(), in.end()), c);
      recorder::on_data(c, in);
    }
  };

  /// "<bytes>@<thread>\n" -> thread
  static std::string thread_of(const std::string& line) {
    auto at = line.find('@');
    return at == std::string::npos || line.size() < at + 2 ? std::string{}
                                                           : line.substr(at + 1, line.size() - at - 2);
  }

  actors::io_loops loops;
  caf::actor_system_config cfg;
  std::optional<caf::actor_system> sys;
  caf::actor echo;
  std::optional<net::server> srv;
  std::mutex mtx;
  std::set<std::string> io_threads;
  std::vector<net::connection_ptr> conns;
  std::vector<std::shared_ptr<forwarder>> recs;
  /// Called on the I/O thread before each read is forwarded (set before any connection reads).
  std::function<void()> on_read;
};

} // namespace

CAF_TEST(one worker reads runs the actors and writes on one thread) {
  fixture fx{1};
  CAF_CHECK(actors::io_loops::installed() == &fx.loops);
  client cl{fx.srv->port()};
  CAF_REQUIRE(cl.fd >= 0);
  // Round trips: the worker blocks in its loop between them and wakes for the next read.
  std::set<std::string> actor_threads;
  for (int i = 0; i < 5; ++i) {
    auto msg = "m" + std::to_string(i);
    CAF_REQUIRE(cl.write(msg));
    auto line = cl.read_line();
    CAF_CHECK_EQUAL(line.substr(0, msg.size() + 1), msg + "@");
    actor_threads.insert(fixture::thread_of(line));
  }
  std::lock_guard<std::mutex> guard{fx.mtx};
  CAF_CHECK_EQUAL(fx.io_threads.size(), 1u);
  CAF_CHECK_EQUAL(actor_threads.size(), 1u);
  CAF_CHECK(fx.io_threads == actor_threads); // the read and the actor ran on the same thread
  CAF_CHECK(fx.io_threads.count(thread_name()) == 0);
}

CAF_TEST(a message from outside wakes a worker that blocks in its loop) {
  fixture fx{1};
  caf::scoped_actor self{*fx.sys};
  auto worker_side = fx.sys->spawn([]() -> caf::behavior {
    return {[](int x) { return x + 1; }};
  });
  for (int i = 0; i < 20; ++i) {
    std::this_thread::sleep_for(1ms); // the worker goes idle and blocks in epoll meanwhile
    bool answered = false;
    self->request(worker_side, std::chrono::seconds(10), i)
      .receive([&](int y) { answered = y == i + 1; }, [&](caf::error&) {});
    CAF_CHECK(answered);
  }
  self->send_exit(worker_side, caf::exit_reason::user_shutdown);
}

CAF_TEST(two workers spread the connections over both loops) {
  fixture fx{2};
  std::vector<std::unique_ptr<client>> clients;
  for (int i = 0; i < 4; ++i) {
    clients.push_back(std::make_unique<client>(fx.srv->port()));
    CAF_REQUIRE(clients.back()->fd >= 0);
  }
  for (auto& c : clients) {
    CAF_REQUIRE(c->write("x"));
    auto line = c->read_line();
    CAF_CHECK_EQUAL(line.substr(0, 2), "x@");
  }
  std::lock_guard<std::mutex> guard{fx.mtx};
  CAF_CHECK_EQUAL(fx.io_threads.size(), 2u);
  // Each connection names the loop that runs it (a session's home: worker_of_loop).
  std::set<const void*> loops;
  for (auto& c : fx.conns) {
    loops.insert(c->loop());
    CAF_CHECK(actors::worker_of_loop(*fx.sys, c->loop()) != nullptr);
  }
  std::set<const void*> expected;
  for (auto* ctx : fx.loops.contexts())
    expected.insert(static_cast<boost::asio::execution_context*>(ctx));
  CAF_CHECK(loops == expected);
}

CAF_TEST(stop closes every connection while the workers keep the loops running) {
  fixture fx{1};
  std::vector<std::unique_ptr<client>> clients;
  for (int i = 0; i < 3; ++i)
    clients.push_back(std::make_unique<client>(fx.srv->port()));
  // All accepted (the accept handler ran on the worker's loop).
  for (int i = 0; i < 200; ++i) {
    {
      std::lock_guard<std::mutex> guard{fx.mtx};
      if (fx.conns.size() == 3)
        break;
    }
    std::this_thread::sleep_for(10ms);
  }
  {
    std::lock_guard<std::mutex> guard{fx.mtx};
    CAF_REQUIRE_EQUAL(fx.conns.size(), 3u);
  }
  fx.srv->stop();
  CAF_CHECK_EQUAL(fx.srv->get_stats().open, 0u);
  for (auto& c : clients) {
    bool eof = false;
    auto rest = c->read(1, &eof);
    CAF_CHECK(eof);
    CAF_CHECK(rest.empty());
  }
  for (auto& r : fx.recs)
    CAF_CHECK(r->wait([](recorder& x) { return x.closed == 1; }));
  // The actor system still works after the server is gone.
  caf::scoped_actor self{*fx.sys};
  auto a = fx.sys->spawn([]() -> caf::behavior { return {[](int x) { return x * 2; }}; });
  int got = 0;
  self->request(a, std::chrono::seconds(10), 21).receive([&](int y) { got = y; }, [](caf::error&) {});
  CAF_CHECK_EQUAL(got, 42);
  self->send_exit(a, caf::exit_reason::user_shutdown);
}

CAF_TEST(an idle worker steals a job queued behind a busy one) {
  // A's handler enqueues a message to B on its own worker's queue, then waits for B to run: only
  // the other worker (blocked in its loop) can run B, by stealing it. Without stealing, A waits
  // out its 10 s and the check fails.
  fixture fx{2};
  struct latch {
    std::mutex mtx;
    std::condition_variable cv;
    bool done = false;
    std::string b_thread;
  };
  auto l = std::make_shared<latch>();
  auto b = fx.sys->spawn([l]() -> caf::behavior {
    return {[l](int) {
      std::lock_guard<std::mutex> guard{l->mtx};
      l->done = true;
      l->b_thread = thread_name();
      l->cv.notify_all();
    }};
  });
  auto a = fx.sys->spawn([l, b](caf::event_based_actor* self) -> caf::behavior {
    return {[l, b, self](int x) {
      self->send(b, x); // internal enqueue: this worker's queue
      std::unique_lock<std::mutex> lock{l->mtx};
      bool ran = l->cv.wait_for(lock, std::chrono::seconds(10), [&] { return l->done; });
      return ran && l->b_thread != thread_name();
    }};
  });
  caf::scoped_actor self{*fx.sys};
  bool stolen = false;
  self->request(a, std::chrono::seconds(20), 1)
    .receive([&](bool ok) { stolen = ok; }, [](caf::error&) {});
  CAF_CHECK(stolen);
  self->send_exit(a, caf::exit_reason::user_shutdown);
  self->send_exit(b, caf::exit_reason::user_shutdown);
}

CAF_TEST(a worker that stays busy flushes its gathered writes once the oldest is due) {
  // A and B ping-pong on the only worker, so its queue never runs empty and it never polls its
  // loop (io_poll_period is long): the write A made at the start can only leave through the
  // write_gather deadline, checked between jobs. A sees its connection's queue drain while the
  // ping-pong still runs.
  actors::io_scheduler_options o;
  o.write_gather = 300us;
  o.io_poll_period = 60s;
  fixture fx{1, o};
  client cl{fx.srv->port()};
  CAF_REQUIRE(cl.fd >= 0);
  CAF_REQUIRE(cl.write("hello"));
  CAF_REQUIRE(cl.read_line().substr(0, 6) == "hello@"); // accepted, echoed: the connection is up
  net::connection_ptr conn;
  {
    std::lock_guard<std::mutex> guard{fx.mtx};
    CAF_REQUIRE_EQUAL(fx.conns.size(), 1u);
    conn = fx.conns.front();
  }
  auto b = fx.sys->spawn([](caf::event_based_actor* self) -> caf::behavior {
    return {[self](int i, const caf::actor& peer) { self->send(peer, i + 1, caf::actor_cast<caf::actor>(self)); }};
  });
  auto result = std::make_shared<std::promise<int>>();
  auto a = fx.sys->spawn([conn, result](caf::event_based_actor* self) -> caf::behavior {
    return {[conn, result, self](int i, const caf::actor& peer) {
      if (i == 0) {
        std::string line = "gathered\n";
        conn->send(std::vector<uint8_t>(line.begin(), line.end()));
      } else if (conn->queued_bytes() == 0) {
        result->set_value(i); // flushed, and the ping-pong is still going
        return;
      } else if (i > 5'000'000) {
        result->set_value(-1);
        return;
      }
      self->send(peer, i + 1, caf::actor_cast<caf::actor>(self));
    }};
  });
  auto fut = result->get_future();
  caf::anon_send(a, 0, b);
  CAF_REQUIRE(fut.wait_for(deadline) == std::future_status::ready);
  auto turns = fut.get();
  CAF_MESSAGE("the gathered write left after " << turns << " ping-pong turns");
  CAF_CHECK_GREATER(turns, 0); // -1: the ping-pong ran for seconds and the write never left
  CAF_CHECK_EQUAL(cl.read_line(), "gathered\n");
  caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(b, caf::exit_reason::user_shutdown);
}

CAF_TEST(the busy poll period counts from when the worker woke) {
  // The worker idles longer than io_poll_period, then a message from outside wakes it and starts
  // a burst of jobs (A and B ping-pong for 60 ms; A's first turn holds the worker 20 ms, so the
  // client's bytes are in the socket before the second job). The burst is shorter than the
  // period counted from the wake, so the worker must not read the connection before the burst
  // ends. Counted from when it began to wait (before the idle spell), the first look at the
  // clock (the 4th job) would poll and read the bytes in the middle of the burst.
  actors::io_scheduler_options o;
  o.io_poll_period = 200ms;
  o.io_poll_interval = 4; // the first look at the clock comes a few jobs into the burst
  o.write_gather = 0us;
  fixture fx{1, o};
  auto burst_running = std::make_shared<std::atomic<bool>>(false);
  auto read_during_burst = std::make_shared<std::atomic<int>>(0);
  fx.on_read = [burst_running, read_during_burst] {
    if (burst_running->load())
      read_during_burst->fetch_add(1);
  };
  client cl{fx.srv->port()};
  CAF_REQUIRE(cl.fd >= 0);
  CAF_REQUIRE(cl.write("hello"));
  CAF_REQUIRE(cl.read_line().substr(0, 6) == "hello@"); // accepted, echoed: the connection is up
  std::this_thread::sleep_for(400ms);                    // idle: longer than the period
  auto b = fx.sys->spawn([](caf::event_based_actor* self) -> caf::behavior {
    return {[self](int i, const caf::actor& peer) { self->send(peer, i + 1, caf::actor_cast<caf::actor>(self)); }};
  });
  auto done = std::make_shared<std::promise<int>>();
  auto started = std::make_shared<std::promise<void>>();
  auto a = fx.sys->spawn([=](caf::event_based_actor* self) -> caf::behavior {
    auto until = std::make_shared<std::chrono::steady_clock::time_point>();
    return {[=](int i, const caf::actor& peer) {
      if (i == 0) {
        burst_running->store(true);
        *until = std::chrono::steady_clock::now() + 60ms;
        started->set_value();
        std::this_thread::sleep_for(20ms); // the client's bytes arrive meanwhile
      } else if (std::chrono::steady_clock::now() >= *until) {
        burst_running->store(false);
        done->set_value(i);
        return;
      }
      self->send(peer, i + 1, caf::actor_cast<caf::actor>(self));
    }};
  });
  auto fut = done->get_future();
  caf::anon_send(a, 0, b); // from outside: wakes the blocked worker
  CAF_REQUIRE(started->get_future().wait_for(deadline) == std::future_status::ready);
  CAF_REQUIRE(cl.write("during"));
  CAF_REQUIRE(fut.wait_for(deadline) == std::future_status::ready);
  CAF_MESSAGE("the burst ran " << fut.get() << " jobs");
  CAF_CHECK_EQUAL(cl.read_line().substr(0, 7), "during@"); // read and echoed after the burst
  CAF_CHECK_EQUAL(read_during_burst->load(), 0);
  caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(b, caf::exit_reason::user_shutdown);
}

CAF_TEST(a worker runs the actors a job wakes in the order it woke them) {
  // CAF's work stealing runs the last one first (it prepends, for cache locality); ours keeps
  // arrival order, so a fan-out's deliveries go out before the publisher's PUBACK.
  fixture fx{1};
  auto order = std::make_shared<std::vector<int>>();
  auto mtx = std::make_shared<std::mutex>();
  std::vector<caf::actor> targets;
  for (int i = 0; i < 4; ++i)
    targets.push_back(fx.sys->spawn([i, order, mtx]() -> caf::behavior {
      return {[i, order, mtx](actors::tick_atom) {
        std::lock_guard<std::mutex> guard{*mtx};
        order->push_back(i);
      }};
    }));
  auto fan = fx.sys->spawn([targets](caf::event_based_actor* self) -> caf::behavior {
    return {[self, targets](actors::tick_atom) {
      for (auto& t : targets)
        self->send(t, actors::tick_atom::value); // all idle: each becomes a job on this worker
      return true;
    }};
  });
  caf::scoped_actor self{*fx.sys};
  for (int round = 0; round < 3; ++round) {
    bool done = false;
    self->request(fan, std::chrono::seconds(10), actors::tick_atom::value)
      .receive([&](bool) { done = true; }, [&](caf::error&) {});
    CAF_REQUIRE(done);
    auto until = std::chrono::steady_clock::now() + deadline;
    for (;;) {
      {
        std::lock_guard<std::mutex> guard{*mtx};
        if (order->size() == 4u * (round + 1))
          break;
      }
      CAF_REQUIRE(std::chrono::steady_clock::now() < until);
      std::this_thread::sleep_for(1ms);
    }
  }
  std::lock_guard<std::mutex> guard{*mtx};
  CAF_CHECK_EQUAL(*order, (std::vector<int>{0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3}));
  for (auto& t : targets)
    self->send_exit(t, caf::exit_reason::user_shutdown);
  self->send_exit(fan, caf::exit_reason::user_shutdown);
}

CAF_TEST(the worker threads are named amq.worker.N) {
  // So that top -H, ps -L and perf name them (docs/operations.md, "Threads").
  fixture fx{2};
  std::set<std::string> names;
  caf::scoped_actor self{*fx.sys};
  for (int i = 0; i < 200 && names.size() < 2; ++i) {
    auto probe = fx.sys->spawn([]() -> caf::behavior {
      return {[](actors::tick_atom) {
        char buf[16] = {};
        ::pthread_getname_np(::pthread_self(), buf, sizeof(buf));
        return std::string{buf};
      }};
    });
    self->request(probe, std::chrono::seconds(10), actors::tick_atom::value)
      .receive([&](const std::string& name) { names.insert(name); },
               [&](caf::error& e) { CAF_FAIL("no answer: " << caf::to_string(e)); });
    self->send_exit(probe, caf::exit_reason::user_shutdown);
  }
  CAF_MESSAGE("thread names seen: " << names.size());
  CAF_REQUIRE(!names.empty());
  for (const auto& n : names)
    CAF_CHECK(n == "amq.worker.0" || n == "amq.worker.1");
}

CAF_TEST(the workers run actors without a current CAF logger) {
  // Debian's CAF logs nothing (built QUIET) but still records each resumed actor's id in its
  // logger, ~7 % of the instructions per message; without a current logger it skips that. A
  // spawn on the worker installs the logger again: the next actor resumed must not have it.
  fixture fx{1};
  auto probe = fx.sys->spawn([]() -> caf::behavior {
    return {[](actors::tick_atom) { return caf::logger::current_logger() == nullptr; }};
  });
  auto spawner = fx.sys->spawn([](caf::event_based_actor* self) -> caf::behavior {
    return {[self](actors::tick_atom) {
      auto child = self->spawn([]() -> caf::behavior { return {[](int) {}}; });
      self->send_exit(child, caf::exit_reason::user_shutdown);
      return true;
    }};
  });
  caf::scoped_actor self{*fx.sys};
  auto ask = [&](const caf::actor& a) {
    bool answer = false;
    bool answered = false;
    self->request(a, std::chrono::seconds(10), actors::tick_atom::value)
      .receive(
        [&](bool b) {
          answered = true;
          answer = b;
        },
        [&](caf::error&) {});
    CAF_REQUIRE(answered);
    return answer;
  };
  for (int i = 0; i < 3; ++i) {
    CAF_CHECK(ask(probe));
    CAF_CHECK(ask(spawner)); // leaves the worker thread with CAF's logger installed
  }
  CAF_CHECK(ask(probe));
  self->send_exit(probe, caf::exit_reason::user_shutdown);
  self->send_exit(spawner, caf::exit_reason::user_shutdown);
}

namespace {

/// The calling thread's name (amq.worker.N on a worker).
std::string os_thread_name() {
  char buf[16] = {};
  ::pthread_getname_np(::pthread_self(), buf, sizeof(buf));
  return buf;
}

/// An event-based actor with a home worker (actors::homed_actor) and a behavior made by `make`.
class homed_fn : public actors::homed_actor<caf::event_based_actor> {
public:
  homed_fn(caf::actor_config& cfg, caf::execution_unit* home,
           std::function<caf::behavior(homed_fn*)> make)
    : homed_actor(cfg), make_(std::move(make)) {
    set_home(home);
  }
  caf::behavior make_behavior() override {
    return make_(this);
  }

private:
  std::function<caf::behavior(homed_fn*)> make_;
};

/// Options under which an idle worker wakes only when woken (no steal timeout) and a busy one
/// never wakes a peer to steal: what runs where follows from homes and wake-ups alone.
actors::io_scheduler_options wake_only_options() {
  actors::io_scheduler_options opts;
  opts.steal_wait = std::chrono::hours(1);
  opts.wake_check_interval = 1000000;
  return opts;
}

/// The worker that runs loop `i` of `fx` (the home of the sessions of that loop's connections).
caf::execution_unit* home_of(fixture& fx, size_t i) {
  auto ctxs = fx.loops.contexts();
  return actors::worker_of_loop(
    *fx.sys, static_cast<const void*>(static_cast<boost::asio::execution_context*>(ctxs.at(i))));
}

} // namespace

CAF_TEST(an actor homed on a worker runs there whoever sends to it) {
  // Session actors are homed on the worker that runs their connection's loop (session.hpp), so a
  // fan-out's deliveries spread over the workers that own the subscribers' connections.
  fixture fx{2, wake_only_options()};
  auto* home0 = home_of(fx, 0);
  auto* home1 = home_of(fx, 1);
  CAF_REQUIRE(home0 != nullptr);
  CAF_REQUIRE(home1 != nullptr);
  CAF_CHECK(home0 != home1);
  int other = 0;
  CAF_CHECK(actors::worker_of_loop(*fx.sys, &other) == nullptr);
  CAF_CHECK(actors::worker_of_loop(*fx.sys, nullptr) == nullptr);
  // Worker 0 is kept in a job that waits for `release`: it can neither run nor steal what is
  // scheduled on worker 1, and anything scheduled on worker 0 waits. Unhomed, the requests below
  // would be spread round-robin, and those put on worker 0 would time out.
  struct gate {
    std::mutex mtx;
    std::condition_variable cv;
    bool started = false;
    bool released = false;
    std::string thread;
  };
  auto g = std::make_shared<gate>();
  auto blocker = fx.sys->spawn<homed_fn, caf::lazy_init>(home0, [g](homed_fn*) -> caf::behavior {
    return {[g](int) {
      std::unique_lock<std::mutex> lock{g->mtx};
      g->started = true;
      g->thread = os_thread_name();
      g->cv.notify_all();
      g->cv.wait_for(lock, deadline, [&] { return g->released; });
      g->started = false;
      g->released = false;
      return g->thread;
    }};
  });
  auto make_probe = [](homed_fn* self) -> caf::behavior {
    return {
      [](actors::tick_atom) { return os_thread_name(); },
      [self](actors::tick_atom, const caf::actor& next) {
        // A request from this worker to an actor homed on the other one, and its answer back.
        auto rp = self->make_response_promise<std::string>();
        self->request(next, std::chrono::seconds(10), actors::tick_atom::value)
          .then([rp](const std::string& where) mutable { rp.deliver(where); },
                [rp](caf::error& e) mutable { rp.deliver(std::move(e)); });
        return rp;
      },
    };
  };
  auto probe1 = fx.sys->spawn<homed_fn, caf::lazy_init>(home1, make_probe);
  auto probe0 = fx.sys->spawn<homed_fn, caf::lazy_init>(home0, make_probe);
  caf::scoped_actor self{*fx.sys};
  auto release = [&] {
    std::lock_guard<std::mutex> lock{g->mtx};
    g->released = true;
    g->cv.notify_all();
  };
  // The blocker's job goes to worker 0, but worker 1 may steal it if it is between jobs just
  // then (start-up work): then let it go and try again until worker 0 itself holds it.
  bool held_by_0 = false;
  for (int attempt = 0; attempt < 50 && !held_by_0; ++attempt) {
    self->send(blocker, 1); // its answer comes back once released
    {
      std::unique_lock<std::mutex> lock{g->mtx};
      CAF_REQUIRE(g->cv.wait_for(lock, deadline, [&] { return g->started; }));
      held_by_0 = g->thread == "amq.worker.0";
    }
    if (!held_by_0) {
      release();
      self->receive([](const std::string&) {}, caf::after(deadline) >> [] {});
    }
  }
  CAF_REQUIRE(held_by_0);
  for (int i = 0; i < 8; ++i) {
    std::string where;
    self->request(probe1, std::chrono::seconds(10), actors::tick_atom::value)
      .receive([&](const std::string& w) { where = w; },
               [&](caf::error& e) { where = "error: " + caf::to_string(e); });
    CAF_CHECK_EQUAL(where, "amq.worker.1");
  }
  release();
  self->receive([](const std::string&) {}, caf::after(deadline) >> [] {});
  // From one worker to an actor homed on the other and back: every answer arrives (a job
  // scheduled on a worker from another worker's thread wakes it). Worker 1 may steal probe0's
  // job while worker 0 wakes up, so where it ran is not checked.
  for (int i = 0; i < 8; ++i) {
    std::string where;
    self->request(probe1, std::chrono::seconds(10), actors::tick_atom::value, probe0)
      .receive([&](const std::string& w) { where = w; },
               [&](caf::error& e) { where = "error: " + caf::to_string(e); });
    CAF_CHECK(where == "amq.worker.0" || where == "amq.worker.1");
  }
  self->send_exit(blocker, caf::exit_reason::user_shutdown);
  self->send_exit(probe0, caf::exit_reason::user_shutdown);
  self->send_exit(probe1, caf::exit_reason::user_shutdown);
}

CAF_TEST(without session affinity no loop names a worker) {
  // runtime.session_affinity: false: sessions are scheduled where their senders run.
  actors::io_scheduler_options opts;
  opts.session_affinity = false;
  fixture fx{2, opts};
  for (auto* ctx : fx.loops.contexts())
    CAF_CHECK(actors::worker_of_loop(*fx.sys, static_cast<boost::asio::execution_context*>(ctx))
              == nullptr);
}

namespace {

/// What `fan_out_to_sleeping_peer` saw.
struct fan_out_result {
  std::string sender_thread; ///< where the sending job ran
  int early = 0;             ///< probes that started before the sending job ended
  int elsewhere = 0;         ///< probes that ran on another worker than their home
};

/// A job on worker 0 sends to `n` probes homed on worker 1 (blocked in its loop, no timeout),
/// then spins 20 ms. Worker 0 stays busy after it (a job queued behind the sender waits for the
/// probes, at most 5 s) so it cannot steal the probes: only a wake of worker 1 runs them.
fan_out_result fan_out_to_sleeping_peer(int n) {
  fixture fx{2, wake_only_options()};
  auto* home0 = home_of(fx, 0);
  auto* home1 = home_of(fx, 1);
  CAF_REQUIRE(home0 != nullptr && home1 != nullptr);
  using clock = std::chrono::steady_clock;
  struct record {
    std::mutex mtx;
    std::condition_variable cv;
    std::vector<std::pair<clock::time_point, std::string>> starts; // per probe run
    clock::time_point sender_done;
    std::string sender_thread;
  };
  auto rec = std::make_shared<record>();
  std::vector<caf::actor> probes;
  for (int i = 0; i < n; ++i)
    probes.push_back(
      fx.sys->spawn<homed_fn, caf::lazy_init>(home1, [rec](homed_fn*) -> caf::behavior {
        return {[rec](actors::tick_atom) {
          auto now = clock::now();
          std::lock_guard<std::mutex> guard{rec->mtx};
          rec->starts.emplace_back(now, os_thread_name());
          rec->cv.notify_all();
        }};
      }));
  auto all_ran = [rec, n] { return rec->starts.size() == static_cast<size_t>(n); };
  auto busy = fx.sys->spawn<homed_fn, caf::lazy_init>(home0, [rec, all_ran](homed_fn*)
                                                                -> caf::behavior {
    return {[rec, all_ran](actors::tick_atom) {
      std::unique_lock<std::mutex> lock{rec->mtx};
      rec->cv.wait_for(lock, std::chrono::seconds(5), all_ran);
    }};
  });
  auto sender = fx.sys->spawn<homed_fn, caf::lazy_init>(home0, [rec, probes, busy](homed_fn* self)
                                                                  -> caf::behavior {
    return {[rec, probes, busy, self](int) {
      for (auto& p : probes)
        self->send(p, actors::tick_atom::value);
      self->send(busy, actors::tick_atom::value);
      auto until = clock::now() + std::chrono::milliseconds(20);
      while (clock::now() < until) {
      }
      std::lock_guard<std::mutex> guard{rec->mtx};
      rec->sender_thread = os_thread_name();
      rec->sender_done = clock::now();
      rec->cv.notify_all();
    }};
  });
  // Worker 1 must be blocked in its loop (it stays there: no timeout) when the sender runs.
  auto until = clock::now() + deadline;
  while (!fx.loops.blocked(1) && clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  CAF_REQUIRE(fx.loops.blocked(1));
  caf::anon_send(sender, 1);
  fan_out_result out;
  {
    std::unique_lock<std::mutex> lock{rec->mtx};
    CAF_REQUIRE(rec->cv.wait_for(lock, deadline,
                                 [&] { return all_ran() && !rec->sender_thread.empty(); }));
    out.sender_thread = rec->sender_thread;
    for (auto& [at, thread] : rec->starts) {
      out.early += at < rec->sender_done ? 1 : 0;
      out.elsewhere += thread != "amq.worker.1" ? 1 : 0;
    }
  }
  caf::anon_send_exit(sender, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(busy, caf::exit_reason::user_shutdown);
  for (auto& p : probes)
    caf::anon_send_exit(p, caf::exit_reason::user_shutdown);
  return out;
}

} // namespace

CAF_TEST(a job that schedules actors homed on a sleeping peer wakes it once it is done) {
  // A fan-out's router job sends a delivery to every subscriber's session; those homed on the
  // other worker must not wake it once per delivery: woken per message, the sleeping worker ran
  // each delivery alone and slept again before the next (on this 2-core VM the kernel put it on
  // the sender's core each time: a context switch per delivery there, the other core idle). The
  // peer is woken once, when the sending job is done, and then runs them all: no probe starts
  // before the job ended (it spins 20 ms after its sends), every one runs on the peer (so the
  // peer was woken). With a wake per message all 20 start during the spin.
  auto r = fan_out_to_sleeping_peer(20);
  CAF_CHECK_EQUAL(r.sender_thread, "amq.worker.0");
  CAF_CHECK_EQUAL(r.early, 0);
  CAF_CHECK_EQUAL(r.elsewhere, 0);
}

CAF_TEST(a long job wakes its peer once it scheduled a batch there) {
  // The router draining a full mailbox at max rate is one long job: its peer is woken after
  // 32 jobs scheduled there (io_policy::wake_batch), not only at the end: of 40 probes, those
  // queued by then start while the sender still spins (the peer, once awake, runs what it
  // finds). Without the batch limit none would.
  auto r = fan_out_to_sleeping_peer(40);
  CAF_CHECK_EQUAL(r.sender_thread, "amq.worker.0");
  CAF_CHECK_GREATER(r.early, 0);
  CAF_CHECK_EQUAL(r.elsewhere, 0);
}

CAF_TEST(worker cpus pin each worker to its cpu) {
  // runtime.pin_workers: worker i runs on worker_cpus[i] (main.cpp picks them from the process's
  // affinity mask). Here both workers get the first CPU this process may use and the second
  // worker the last one, each checked from a job homed on it.
  auto cpus = config::affinity_cpus();
  CAF_REQUIRE(!cpus.empty());
  actors::io_scheduler_options opts;
  opts.worker_cpus = {cpus.front(), cpus.back()};
  fixture fx{2, opts};
  caf::scoped_actor self{*fx.sys};
  for (size_t i = 0; i < 2; ++i) {
    auto* home = home_of(fx, i);
    CAF_REQUIRE(home != nullptr);
    auto probe = fx.sys->spawn<homed_fn, caf::lazy_init>(home, [](homed_fn*) -> caf::behavior {
      return {[](actors::tick_atom) {
        cpu_set_t set;
        CPU_ZERO(&set);
        pthread_getaffinity_np(pthread_self(), sizeof(set), &set);
        std::string on;
        for (int c = 0; c < CPU_SETSIZE; ++c)
          if (CPU_ISSET(c, &set))
            on += std::to_string(c) + " ";
        return std::make_tuple(os_thread_name(), on);
      }};
    });
    std::string thread;
    std::string on; // "3 " for CPU 3
    self->request(probe, std::chrono::seconds(10), actors::tick_atom::value)
      .receive(
        [&](const std::string& t, const std::string& c) {
          thread = t;
          on = c;
        },
        [&](caf::error& e) { thread = "error: " + caf::to_string(e); });
    // An idle peer may steal the job; then it reports its own pinning.
    auto worker = thread == "amq.worker.0" ? 0 : thread == "amq.worker.1" ? 1 : -1;
    CAF_REQUIRE(worker >= 0);
    CAF_CHECK_EQUAL(on, std::to_string(opts.worker_cpus[static_cast<size_t>(worker)]) + " ");
    self->send_exit(probe, caf::exit_reason::user_shutdown);
  }
}
