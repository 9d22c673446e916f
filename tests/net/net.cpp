// The network edge (actors/amq/net) over real loopback sockets on port 0. Clients are plain
// blocking POSIX sockets; every wait is on a condition variable or poll() with a finite timeout.
#define CAF_SUITE net
#include <caf/test/unit_test.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <fstream>
#include <future>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "amq/net/server.hpp"
#include "src/net/server_state.hpp" // detail::edge_connection, for a gather test
#include "src/net/small_mutex.hpp"
#include "recorder.hpp"

using namespace amq::net;
using namespace std::chrono_literals;
using bytes = std::vector<uint8_t>;

namespace {

constexpr auto timeout = 20s;

// -- a blocking loopback client ------------------------------------------------------------------

class client {
public:
  enum class end { done, eof, error, timeout };

  explicit client(uint16_t port, int rcvbuf = 0) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (rcvbuf > 0)
      ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok_ = fd_ >= 0 && ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }

  ~client() {
    close();
  }

  client(const client&) = delete;
  client& operator=(const client&) = delete;

  bool ok() const {
    return ok_;
  }

  bool write_all(const void* data, size_t n) {
    auto p = static_cast<const uint8_t*>(data);
    while (n > 0) {
      auto k = ::send(fd_, p, n, MSG_NOSIGNAL);
      if (k < 0 && errno == EINTR)
        continue;
      if (k <= 0)
        return false;
      p += k;
      n -= static_cast<size_t>(k);
    }
    return true;
  }

  bool write_all(std::string_view s) {
    return write_all(s.data(), s.size());
  }

  /// Writes without blocking until the kernel refuses (EAGAIN) or `limit` bytes went out.
  size_t fill(size_t limit) {
    ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) | O_NONBLOCK);
    std::vector<uint8_t> chunk(64 * 1024, 'x');
    size_t total = 0;
    while (total < limit) {
      auto k = ::send(fd_, chunk.data(), chunk.size(), MSG_NOSIGNAL);
      if (k <= 0)
        break;
      total += static_cast<size_t>(k);
    }
    ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) & ~O_NONBLOCK);
    return total;
  }

  /// Reads until `n` bytes arrived, EOF, an error or the timeout; calls `sink` for every piece.
  template <class Sink>
  end read(size_t n, Sink&& sink, std::chrono::milliseconds limit = timeout) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    std::vector<uint8_t> buf(256 * 1024);
    size_t got = 0;
    while (got < n) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0)
        return end::timeout;
      pollfd pfd{fd_, POLLIN, 0};
      if (::poll(&pfd, 1, static_cast<int>(left.count())) <= 0)
        continue;
      auto k = ::recv(fd_, buf.data(), std::min(buf.size(), n - got), 0);
      if (k == 0)
        return end::eof;
      if (k < 0) {
        if (errno == EINTR || errno == EAGAIN)
          continue;
        last_errno_ = errno;
        return end::error;
      }
      sink(buf.data(), static_cast<size_t>(k));
      got += static_cast<size_t>(k);
    }
    return end::done;
  }

  /// Reads exactly `n` bytes (or fewer on EOF/error/timeout).
  bytes read_exact(size_t n) {
    bytes out;
    read(n, [&](const uint8_t* p, size_t k) { out.insert(out.end(), p, p + k); });
    return out;
  }

  /// Reads until EOF/error; `count` gets the number of bytes.
  end read_to_end(size_t& count, std::chrono::milliseconds limit = timeout) {
    count = 0;
    return read(SIZE_MAX, [&](const uint8_t*, size_t k) { count += k; }, limit);
  }

  /// Closes with SO_LINGER 0: the server sees ECONNRESET.
  void reset() {
    linger lg{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close();
  }

  void close() {
    if (fd_ >= 0)
      ::close(fd_);
    fd_ = -1;
  }

  int last_errno() const {
    return last_errno_;
  }

  /// Our side's port: the server's `connection::peer()` ends with it.
  uint16_t local_port() const {
    sockaddr_in addr{};
    socklen_t len = sizeof(addr);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    return ntohs(addr.sin_port);
  }

private:
  int fd_ = -1;
  bool ok_ = false;
  int last_errno_ = 0;
};

// -- a recording receiver: tests/net/recorder.hpp --------------------------------------------------

using amq::net::test::recorder;
using amq::net::test::recorder_ptr;

// -- fixture -------------------------------------------------------------------------------------

struct accepted {
  connection_ptr conn;
  recorder_ptr rec;
};

struct fixture {
  std::mutex mtx;
  std::condition_variable cv;
  std::vector<accepted> conns;
  /// Configures each new connection's recorder; set before `start`.
  std::function<void(recorder&)> configure = [](recorder&) {};
  bool set_receiver_on_accept = true;
  std::unique_ptr<server> srv;

  server_options default_options() {
    server_options opts;
    opts.bind = "127.0.0.1";
    opts.port = 0;
    return opts;
  }

  void start(server_options opts) {
    srv = std::make_unique<server>(opts, [this](const connection_ptr& c) {
      auto rec = std::make_shared<recorder>();
      configure(*rec);
      if (set_receiver_on_accept)
        c->set_receiver(rec);
      {
        std::lock_guard<std::mutex> guard{mtx};
        conns.push_back({c, rec});
      }
      cv.notify_all();
    });
    auto err = srv->start();
    if (err)
      CAF_MESSAGE("server start failed: " << err.message());
    CAF_REQUIRE(!err);
    CAF_REQUIRE_NOT_EQUAL(srv->port(), 0);
  }

  void start() {
    start(default_options());
  }

  /// The counters once `bytes_out` reached `want`: the I/O thread counts a write after the
  /// syscall returns, so a client may hold the bytes a moment before they are counted.
  server::stats stats_after(uint64_t want) {
    auto until = std::chrono::steady_clock::now() + timeout;
    auto st = srv->get_stats();
    while (st.bytes_out < want && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds{1});
      st = srv->get_stats();
    }
    return st;
  }

  /// Waits for the `i`-th accepted connection.
  accepted wait_conn(size_t i = 0) {
    std::unique_lock<std::mutex> lock{mtx};
    bool ok = cv.wait_for(lock, timeout, [&] { return conns.size() > i; });
    CAF_REQUIRE(ok);
    return conns[i];
  }

  ~fixture() {
    if (srv)
      srv->stop();
  }
};

/// Chunk `index` of a stream whose 32-bit little-endian words count up from 0.
bytes counting_chunk(size_t offset, size_t n) {
  bytes out(n);
  for (size_t i = 0; i < n; ++i) {
    auto k = offset + i;
    out[i] = static_cast<uint8_t>((k / 4) >> (8 * (k % 4)));
  }
  return out;
}

/// Checks arriving bytes against `counting_chunk`.
struct counting_checker {
  size_t offset = 0;
  size_t mismatches = 0;
  void operator()(const uint8_t* p, size_t n) {
    for (size_t i = 0; i < n; ++i, ++offset)
      if (p[i] != static_cast<uint8_t>((offset / 4) >> (8 * (offset % 4))))
        ++mismatches;
  }
};

size_t rss_kib() {
  std::ifstream in{"/proc/self/status"};
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0)
      return std::stoul(line.substr(6));
  return 0;
}

} // namespace

CAF_TEST_FIXTURE_SCOPE(net_tests, fixture)

CAF_TEST(echo round trip) {
  configure = [](recorder& r) { r.echo = true; };
  start();
  client cl{srv->port()};
  CAF_REQUIRE(cl.ok());
  CAF_REQUIRE(cl.write_all("hello edge"));
  auto echoed = cl.read_exact(10);
  CAF_CHECK_EQUAL(std::string(echoed.begin(), echoed.end()), "hello edge");
  auto [conn, rec] = wait_conn();
  CAF_CHECK_NOT_EQUAL(conn->id(), 0u);
  CAF_CHECK_EQUAL(conn->peer().rfind("127.0.0.1:", 0), 0u);
  auto st = srv->get_stats();
  CAF_CHECK_EQUAL(st.accepted, 1u);
  CAF_CHECK_EQUAL(st.open, 1u);
  CAF_CHECK_EQUAL(st.bytes_in, 10u);
  CAF_CHECK(rec->wait([](recorder&) { return true; }));
}

CAF_TEST(echo round trip with a shared context and strands) {
  configure = [](recorder& r) { r.echo = true; };
  auto opts = default_options();
  opts.model = io_model::shared_context;
  opts.io_threads = 2;
  start(opts);
  std::vector<std::unique_ptr<client>> clients;
  for (int i = 0; i < 8; ++i) {
    clients.push_back(std::make_unique<client>(srv->port()));
    CAF_REQUIRE(clients.back()->ok());
  }
  for (int i = 0; i < 8; ++i) {
    auto msg = "client " + std::to_string(i);
    CAF_REQUIRE(clients[i]->write_all(msg));
    auto echoed = clients[i]->read_exact(msg.size());
    CAF_CHECK_EQUAL(std::string(echoed.begin(), echoed.end()), msg);
  }
}

CAF_TEST(input arriving after a drained read is never missed in pieces of every size) {
  // After a read that emptied the socket the connection waits without re-arming the descriptor
  // (edge_wait.hpp); after a read that filled the buffer, or after max_reads_per_wakeup reads,
  // it must re-arm. Nothing is written back (an echo's ACKs would wake the reader anyway), so a
  // missed arrival leaves the server short of the client's bytes and the wait below times out.
  for (auto model : {io_model::context_per_thread, io_model::shared_context}) {
    auto opts = default_options();
    opts.read_buffer_size = 1024; // 4 reads per wake-up: 4 KiB, so bigger rounds stop early
    opts.model = model;
    opts.io_threads = 2;
    start(opts);
    client cl{srv->port()};
    CAF_REQUIRE(cl.ok());
    auto [conn, rec] = wait_conn();
    bytes sent;
    for (size_t round = 0; round < 400; ++round) {
      // 1..300 bytes mostly, some exactly one buffer, some more than one wake-up's reads.
      const size_t n = round % 50 == 7 ? 1024 : round % 50 == 13 ? 9000 : 1 + (round * 37) % 300;
      const size_t from = sent.size();
      sent.resize(from + n, static_cast<uint8_t>('a' + round % 26));
      if (round % 3 == 1 && n > 1) { // in two pieces: the second lands after the first's read
        CAF_REQUIRE(cl.write_all(sent.data() + from, n / 2));
        std::this_thread::sleep_for(std::chrono::microseconds{round % 2 == 0 ? 50 : 0});
        CAF_REQUIRE(cl.write_all(sent.data() + from + n / 2, n - n / 2));
      } else {
        CAF_REQUIRE(cl.write_all(sent.data() + from, n));
      }
      const size_t want = sent.size();
      if (!rec->wait([&](recorder& r) { return r.data.size() >= want; }, 5s))
        CAF_FAIL("round " << round << " (" << n << " bytes): the server has " << rec->size()
                          << " of " << want << " bytes");
    }
    CAF_CHECK(rec->wait([&](recorder& r) { return r.data == sent; }));
    srv->stop();
    std::lock_guard<std::mutex> guard{mtx};
    conns.clear();
  }
}

CAF_TEST(a receiver set later from another thread starts reading) {
  set_receiver_on_accept = false;
  start();
  client cl{srv->port()};
  CAF_REQUIRE(cl.write_all("early bytes"));
  auto [conn, rec] = wait_conn();
  std::thread setter([c = conn, r = rec] { c->set_receiver(r); });
  setter.join();
  CAF_CHECK(rec->wait([](recorder& r) { return r.data.size() == 11; }));
  CAF_CHECK_EQUAL(std::string(rec->data.begin(), rec->data.end()), "early bytes");
}

CAF_TEST(many small sends from several threads are coalesced into few writes) {
  // Write-through off: every write is the I/O thread's, and what is sent meanwhile gathers.
  auto opts = default_options();
  opts.write_through = false;
  start(opts);
  client cl{srv->port()};
  auto [conn, rec] = wait_conn();
  constexpr uint32_t threads = 4;
  constexpr uint32_t per_thread = 5000;
  std::vector<std::thread> producers;
  for (uint32_t t = 0; t < threads; ++t)
    producers.emplace_back([c = conn, t] {
      for (uint32_t seq = 0; seq < per_thread; ++seq) {
        bytes msg(8);
        std::memcpy(msg.data(), &t, 4);
        std::memcpy(msg.data() + 4, &seq, 4);
        c->send(std::move(msg));
      }
    });
  for (auto& p : producers)
    p.join();
  std::vector<uint32_t> next(threads, 0);
  size_t out_of_order = 0;
  bytes partial;
  auto end = cl.read(size_t{threads} * per_thread * 8, [&](const uint8_t* p, size_t n) {
    partial.insert(partial.end(), p, p + n);
    size_t i = 0;
    for (; i + 8 <= partial.size(); i += 8) {
      uint32_t t, seq;
      std::memcpy(&t, partial.data() + i, 4);
      std::memcpy(&seq, partial.data() + i + 4, 4);
      if (t >= threads || seq != next[t]++)
        ++out_of_order;
    }
    partial.erase(partial.begin(), partial.begin() + static_cast<ptrdiff_t>(i));
  });
  CAF_CHECK(end == client::end::done);
  CAF_CHECK_EQUAL(out_of_order, 0u);
  for (uint32_t t = 0; t < threads; ++t)
    CAF_CHECK_EQUAL(next[t], per_thread);
  auto st = stats_after(uint64_t{threads} * per_thread * 8);
  CAF_MESSAGE("sends: " << threads * per_thread << ", gather writes: " << st.writes);
  CAF_CHECK_LESS(st.writes, threads * per_thread / 10);
  CAF_CHECK_EQUAL(st.bytes_out, uint64_t{threads} * per_thread * 8);
}

/// Keeps the I/O thread inside on_data until `release()`; `entered()` waits until it is there.
struct io_thread_blocker {
  std::mutex mtx;
  std::condition_variable cv;
  bool inside = false;
  bool released = false;

  void block() {
    std::unique_lock<std::mutex> lock{mtx};
    inside = true;
    cv.notify_all();
    cv.wait(lock, [this] { return released; });
  }
  bool entered() {
    std::unique_lock<std::mutex> lock{mtx};
    return cv.wait_for(lock, timeout, [this] { return inside; });
  }
  void release() {
    {
      std::lock_guard<std::mutex> guard{mtx};
      released = true;
    }
    cv.notify_all();
  }
};

CAF_TEST(write-through: a send from another thread goes out while the I/O thread is busy) {
  io_thread_blocker blocker;
  configure = [&](recorder& r) { r.on_data_hook = [&](const connection_ptr&) { blocker.block(); }; };
  start(); // write_through is the default
  client cl{srv->port()};
  auto [conn, rec] = wait_conn();
  CAF_REQUIRE(cl.write_all("x"));
  CAF_REQUIRE(blocker.entered()); // the (only) I/O thread now waits in on_data
  CAF_CHECK(conn->send(bytes{'h', 'e', 'l', 'l', 'o'}));
  auto got = cl.read_exact(5);
  blocker.release();
  CAF_CHECK_EQUAL(std::string(got.begin(), got.end()), "hello");
  CAF_CHECK_EQUAL(conn->queued_bytes(), 0u); // nothing was left for the I/O thread
  auto st = srv->get_stats();
  CAF_CHECK_EQUAL(st.writes, 1u);
  CAF_CHECK_EQUAL(st.bytes_out, 5u);
}

CAF_TEST(without write-through a send waits for the I/O thread) {
  io_thread_blocker blocker;
  configure = [&](recorder& r) { r.on_data_hook = [&](const connection_ptr&) { blocker.block(); }; };
  auto opts = default_options();
  opts.write_through = false;
  start(opts);
  client cl{srv->port()};
  auto [conn, rec] = wait_conn();
  CAF_REQUIRE(cl.write_all("x"));
  CAF_REQUIRE(blocker.entered());
  CAF_CHECK(conn->send(bytes{'h', 'e', 'l', 'l', 'o'}));
  // The I/O thread is provably busy (it waits in on_data), so nothing can be on the wire yet.
  bytes early;
  auto end = cl.read(5, [&](const uint8_t* p, size_t k) { early.insert(early.end(), p, p + k); },
                     std::chrono::milliseconds{200});
  CAF_CHECK(end == client::end::timeout);
  CAF_CHECK(early.empty());
  CAF_CHECK_EQUAL(conn->queued_bytes(), 5u);
  blocker.release();
  auto got = cl.read_exact(5);
  CAF_CHECK_EQUAL(std::string(got.begin(), got.end()), "hello");
}

CAF_TEST(write-through never writes from the I/O thread: sends made in on_data leave together) {
  // Three sends during one on_data (on the I/O thread) must gather into one write after the
  // callback, even with write-through on and nothing queued.
  configure = [](recorder& r) {
    r.on_data_hook = [](const connection_ptr& c) {
      c->send(bytes{'a'});
      c->send(bytes{'b'});
      c->send(bytes{'c'});
    };
  };
  start();
  client cl{srv->port()};
  auto [conn, rec] = wait_conn();
  CAF_REQUIRE(cl.write_all("x"));
  auto got = cl.read_exact(3);
  CAF_CHECK_EQUAL(std::string(got.begin(), got.end()), "abc");
  auto st = stats_after(3);
  CAF_CHECK_EQUAL(st.writes, 1u);
  CAF_CHECK_EQUAL(st.bytes_out, 3u);
}

CAF_TEST(write-through keeps order when the socket buffer fills: the rest is queued) {
  // A client that does not read: the first sends go straight into the kernel, the one that does
  // not fit is split (the rest queued for the I/O thread), and everything after it queues behind.
  start();
  client cl{srv->port()};
  auto [conn, rec] = wait_conn();
  constexpr size_t chunk = 1000;
  constexpr size_t chunks = 16000; // 16 MB: more than the socket buffers hold
  std::thread producer([c = conn] {
    for (size_t i = 0; i < chunks; ++i)
      c->send(counting_chunk(i * chunk, chunk));
  });
  producer.join();
  CAF_CHECK_GREATER(conn->queued_bytes(), 0u); // the kernel refused some: queued, not lost
  size_t offset = 0;
  size_t bad = 0;
  auto end = cl.read(chunk * chunks, [&](const uint8_t* p, size_t n) {
    auto want = counting_chunk(offset, n);
    if (!std::equal(p, p + n, want.begin()))
      ++bad;
    offset += n;
  });
  CAF_CHECK(end == client::end::done);
  CAF_CHECK_EQUAL(bad, 0u);
  CAF_CHECK_EQUAL(offset, chunk * chunks);
}

/// Installs a write_gather on the test thread for the scope (net::write_gather).
struct gather_scope {
  write_gather g;
  gather_scope() {
    g.install();
  }
  ~gather_scope() {
    g.uninstall();
  }
};

CAF_TEST(gathered write-through: sends wait for the flush and then leave one write each) {
  start();
  client cl1{srv->port()};
  auto [c1, r1] = wait_conn(0);
  client cl2{srv->port()};
  auto [c2, r2] = wait_conn(1);
  gather_scope scope;
  CAF_CHECK(write_gather::current() == &scope.g);
  CAF_CHECK(c1->send(bytes{'a', 'b'}));
  CAF_CHECK(c1->send(bytes{'c', 'd'})); // appended behind the first: one write with it
  CAF_CHECK(c2->send(bytes{'x', 'y'}));
  CAF_CHECK(!scope.g.empty());
  CAF_CHECK_EQUAL(c1->queued_bytes(), 4u);
  CAF_CHECK_EQUAL(c2->queued_bytes(), 2u);
  // Nothing was posted to the I/O thread: until the flush the bytes stay queued.
  bytes early;
  auto end = cl1.read(4, [&](const uint8_t* p, size_t k) { early.insert(early.end(), p, p + k); },
                      std::chrono::milliseconds{200});
  CAF_CHECK(end == client::end::timeout);
  CAF_CHECK(early.empty());
  scope.g.flush();
  CAF_CHECK(scope.g.empty());
  auto got1 = cl1.read_exact(4);
  auto got2 = cl2.read_exact(2);
  CAF_CHECK_EQUAL(std::string(got1.begin(), got1.end()), "abcd");
  CAF_CHECK_EQUAL(std::string(got2.begin(), got2.end()), "xy");
  CAF_CHECK_EQUAL(c1->queued_bytes(), 0u);
  CAF_CHECK_EQUAL(c2->queued_bytes(), 0u);
  auto st = srv->get_stats();
  CAF_CHECK_EQUAL(st.writes, 2u); // one per connection
  CAF_CHECK_EQUAL(st.bytes_out, 6u);
  // The connection's write is free again: the next send is gathered anew.
  CAF_CHECK(c1->send(bytes{'e'}));
  CAF_CHECK(!scope.g.empty());
  scope.g.flush();
  auto got3 = cl1.read_exact(1);
  CAF_CHECK_EQUAL(std::string(got3.begin(), got3.end()), "e");
}

CAF_TEST(without a gather on the thread or without write-through nothing is gathered) {
  auto opts = default_options();
  opts.write_through = false;
  start(opts);
  client cl{srv->port()};
  auto [conn, rec] = wait_conn();
  {
    gather_scope scope;
    CAF_CHECK(conn->send(bytes{'q'})); // write_through off: the I/O thread writes it
    CAF_CHECK(scope.g.empty());
    auto got = cl.read_exact(1);
    CAF_CHECK_EQUAL(std::string(got.begin(), got.end()), "q");
  }
  CAF_CHECK(write_gather::current() == nullptr);
}

CAF_TEST(gathered sends keep order when the socket buffer fills: the rest goes to the I/O thread) {
  start();
  client cl{srv->port()};
  auto [conn, rec] = wait_conn();
  constexpr size_t chunk = 1000;
  constexpr size_t chunks = 16000; // 16 MB: more than the socket buffers hold
  std::thread producer([c = conn] {
    gather_scope scope;
    for (size_t i = 0; i < chunks; ++i) {
      c->send(counting_chunk(i * chunk, chunk));
      if (i % 7 == 6)
        scope.g.flush();
    }
  });
  producer.join(); // its gather flushed what was left when it went
  counting_checker check;
  auto end = cl.read(chunk * chunks, std::ref(check));
  CAF_CHECK(end == client::end::done);
  CAF_CHECK_EQUAL(check.mismatches, 0u);
  CAF_CHECK_EQUAL(check.offset, chunk * chunks);
  CAF_CHECK(rec->wait([&](recorder&) { return conn->queued_bytes() == 0; }));
}

CAF_TEST(a gathered send the kernel cannot take reports back-pressure and on_writable follows) {
  auto opts = default_options();
  opts.write_high_watermark = 64 * 1024;
  start(opts);
  client cl{srv->port(), 64 * 1024};
  auto [conn, rec] = wait_conn();
  gather_scope scope;
  constexpr size_t chunk = 64 * 1024;
  size_t sent = 0;
  bool refused = false;
  while (!refused && sent < (32u << 20)) { // the client reads nothing yet
    refused = !conn->send(counting_chunk(sent, chunk));
    sent += chunk;
  }
  CAF_REQUIRE(refused);
  CAF_CHECK_GREATER(conn->queued_bytes(), opts.write_high_watermark);
  scope.g.flush(); // what the kernel still refuses goes to the I/O thread
  counting_checker check;
  auto end = cl.read(sent, std::ref(check));
  CAF_CHECK(end == client::end::done);
  CAF_CHECK_EQUAL(check.offset, sent);
  CAF_CHECK_EQUAL(check.mismatches, 0u);
  CAF_CHECK(rec->wait([](recorder& r) { return r.writable == 1; }));
}

CAF_TEST(a gathered queue that grows past 16 KiB is written at once and never refused) {
  // Held back until the flush, a subscriber's deliveries would pass the watermark although the
  // client keeps up: send would refuse them (back-pressure, QoS 0 drops). Past 16 KiB (or half
  // the watermark) the queue leaves at once instead.
  auto opts = default_options();
  opts.write_high_watermark = 64 * 1024;
  start(opts);
  client cl{srv->port()};
  auto [conn, rec] = wait_conn();
  gather_scope scope;
  constexpr size_t chunk = 4096;
  constexpr size_t chunks = 64; // 256 KiB: four times the watermark
  for (size_t i = 0; i < chunks; ++i) {
    CAF_CHECK(conn->send(counting_chunk(i * chunk, chunk)));
    CAF_CHECK_LESS(conn->queued_bytes(), 16 * 1024u);
  }
  CAF_CHECK(!scope.g.empty()); // the tail still waits for the flush
  scope.g.flush();
  counting_checker check;
  auto end = cl.read(chunk * chunks, std::ref(check));
  CAF_CHECK(end == client::end::done);
  CAF_CHECK_EQUAL(check.offset, chunk * chunks);
  CAF_CHECK_EQUAL(check.mismatches, 0u);
  CAF_CHECK_EQUAL(rec->writable, 0); // never above the watermark
}

CAF_TEST(close before the flush still writes the gathered bytes and then closes) {
  start();
  client cl{srv->port()};
  auto [conn, rec] = wait_conn();
  gather_scope scope;
  CAF_CHECK(conn->send(bytes{'b', 'y', 'e'}));
  conn->close(); // the write is owned by the gather: the close waits for it
  CAF_CHECK(!conn->send(bytes{'x'}));
  scope.g.flush();
  bytes got;
  auto end = cl.read(SIZE_MAX, [&](const uint8_t* p, size_t k) { got.insert(got.end(), p, p + k); });
  CAF_CHECK(end == client::end::eof);
  CAF_CHECK_EQUAL(std::string(got.begin(), got.end()), "bye");
  cl.close();
  CAF_REQUIRE(rec->wait([](recorder& r) { return r.closed == 1; }));
  CAF_CHECK_EQUAL(rec->reason, std::error_code{});
}

CAF_TEST(abort before the flush drops the gathered bytes and the flush is harmless) {
  start();
  client cl{srv->port()};
  auto [conn, rec] = wait_conn();
  gather_scope scope;
  CAF_CHECK(conn->send(bytes{'z'}));
  conn->abort();
  CAF_REQUIRE(rec->wait([](recorder& r) { return r.closed == 1; }));
  scope.g.flush();
  CAF_CHECK_EQUAL(rec->reason, std::error_code{error::aborted});
  size_t got = 0;
  auto end = cl.read_to_end(got);
  CAF_CHECK(end != client::end::timeout);
  CAF_CHECK_EQUAL(got, 0u);
}

CAF_TEST(sends made in an I/O handler are not gathered even on a thread with a gather) {
  // A loop run by a thread that also holds a write_gather (like a CAF worker running the edge,
  // amq/actors/io_scheduler.hpp): sends during on_data leave after the callback, through the
  // loop, although the gather is never flushed.
  boost::asio::io_context ctx{1};
  auto guard = boost::asio::make_work_guard(ctx);
  std::atomic<bool> stop{false};
  std::thread loop([&] {
    write_gather g;
    g.install();
    std::vector<uint8_t> read_buffer(64 * 1024);
    while (!stop.load()) {
      io_thread_scope scope{read_buffer};
      ctx.run_one_for(std::chrono::milliseconds{10});
    }
    CAF_CHECK(g.empty()); // nothing was ever noted
    g.uninstall();
  });
  configure = [](recorder& r) {
    r.on_data_hook = [](const connection_ptr& c) {
      c->send(bytes{'a'});
      c->send(bytes{'b'});
      c->send(bytes{'c'});
    };
  };
  auto opts = default_options();
  opts.external_contexts = {&ctx};
  start(opts);
  {
    client cl{srv->port()};
    auto [conn, rec] = wait_conn();
    CAF_REQUIRE(cl.write_all("x"));
    auto got = cl.read_exact(3);
    CAF_CHECK_EQUAL(std::string(got.begin(), got.end()), "abc");
  }
  srv->stop(); // while the loop still runs
  stop = true;
  loop.join();
  guard.reset();
}

CAF_TEST(a large transfer to a slow reader applies back-pressure and loses nothing) {
  auto opts = default_options();
  opts.write_high_watermark = 1 << 20;
  start(opts);
  client cl{srv->port(), 64 * 1024};
  auto [conn, rec] = wait_conn();
  constexpr size_t total = 50 << 20;
  constexpr size_t chunk = 64 << 10;
  size_t sent = 0;
  int writable_seen = 0;
  // Phase 1: the client reads nothing; the queue grows past the watermark.
  bool refused = false;
  while (sent < total && !refused) {
    refused = !conn->send(counting_chunk(sent, chunk));
    sent += chunk;
  }
  CAF_REQUIRE(refused);
  CAF_CHECK_GREATER(conn->queued_bytes(), opts.write_high_watermark);
  CAF_CHECK_LESS(sent, total);
  CAF_MESSAGE("send refused after " << sent << " bytes, queued " << conn->queued_bytes());
  // Phase 2: the client drains, pausing 200 us after every read so the producer (who follows
  // on_writable) outpaces it and meets the watermark again: a reader that keeps up could take
  // the rest in one round, and the rounds check below would prove nothing.
  counting_checker check;
  client::end end = client::end::timeout;
  std::thread reader([&] {
    end = cl.read(total, [&](const uint8_t* p, size_t n) {
      check(p, n);
      std::this_thread::sleep_for(std::chrono::microseconds{200});
    });
  });
  int rounds = 0;
  while (sent < total) {
    bool ok = rec->wait([&](recorder& r) { return r.writable > writable_seen; });
    CAF_REQUIRE(ok);
    ++rounds;
    writable_seen = rec->writable;
    CAF_CHECK_LESS_OR_EQUAL(conn->queued_bytes(), opts.write_high_watermark / 2 + chunk);
    bool more = true;
    while (sent < total && more) {
      more = conn->send(counting_chunk(sent, chunk));
      sent += chunk;
    }
  }
  reader.join();
  CAF_CHECK(end == client::end::done);
  CAF_CHECK_EQUAL(check.offset, total);
  CAF_CHECK_EQUAL(check.mismatches, 0u);
  CAF_CHECK_GREATER(rounds, 1);
  auto st = stats_after(total);
  CAF_CHECK_EQUAL(st.bytes_out, total);
  CAF_CHECK_EQUAL(st.aborted_queue_overflow, 0u);
  CAF_MESSAGE("on_writable rounds: " << rounds << ", gather writes: " << st.writes);
}

CAF_TEST(a queue above max_write_queue aborts the connection and is counted) {
  auto opts = default_options();
  opts.write_high_watermark = 64 << 10;
  opts.max_write_queue = 4 << 20;
  start(opts);
  client cl{srv->port(), 64 * 1024};
  auto [conn, rec] = wait_conn();
  // 64 MiB into a 4 MiB cap while the client reads nothing (sends after the abort are dropped).
  for (int i = 0; i < 1024; ++i)
    conn->send(bytes(64 << 10, 'q'));
  CAF_REQUIRE(rec->wait([](recorder& r) { return r.closed == 1; }));
  CAF_CHECK_EQUAL(rec->reason, std::error_code{error::write_queue_overflow});
  CAF_CHECK_EQUAL(srv->get_stats().aborted_queue_overflow, 1u);
  CAF_CHECK(!conn->send(bytes(1, 'x')));
}

CAF_TEST(paused reading stops the client and resumed reading delivers everything) {
  configure = [](recorder& r) { r.pause_on_data = true; };
  start();
  client cl{srv->port()};
  auto [conn, rec] = wait_conn();
  CAF_REQUIRE(cl.write_all("a"));
  CAF_REQUIRE(rec->wait([](recorder& r) { return r.data_calls == 1; }));
  // Paused from inside on_data: the kernel buffers fill and the client's writes stop.
  size_t filled = 1 + cl.fill(512 << 20);
  CAF_CHECK_LESS(filled, size_t{512} << 20);
  CAF_MESSAGE("client could write " << filled << " bytes while the server was paused");
  CAF_CHECK_EQUAL(rec->size(), 1u);
  // Resume from this (non-I/O) thread; keep resuming as each on_data pauses again.
  {
    std::lock_guard<std::mutex> guard{rec->mtx};
    rec->pause_on_data = false;
  }
  conn->resume_reading();
  CAF_CHECK(rec->wait([&](recorder& r) { return r.data.size() == filled; }));
  CAF_CHECK_EQUAL(rec->size(), filled);
}

CAF_TEST(readable_bytes counts input not read yet and is 0 once closed) {
  // The session's keep-alive check asks this before it closes a connection
  // whose input arrived but waits unread (reading paused, I/O thread busy).
  configure = [](recorder& r) { r.pause_on_data = true; };
  start();
  client cl{srv->port()};
  auto [conn, rec] = wait_conn();
  CAF_REQUIRE(cl.write_all("a"));
  CAF_REQUIRE(rec->wait([](recorder& r) { return r.data_calls == 1; }));
  CAF_CHECK_EQUAL(conn->readable_bytes(), 0u); // read (and paused after it)
  CAF_REQUIRE(cl.write_all("hello"));
  // Loopback delivers at once but not synchronously: wait, bounded, for the kernel.
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (conn->readable_bytes() < 5 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::yield();
  CAF_CHECK_EQUAL(conn->readable_bytes(), 5u);
  CAF_CHECK_EQUAL(rec->size(), 1u); // still unread by the receiver
  conn->abort();
  CAF_REQUIRE(rec->wait([](recorder& r) { return r.closed == 1; }));
  CAF_CHECK_EQUAL(conn->readable_bytes(), 0u);
}

CAF_TEST(receive timestamps say when the bytes arrived however late the I/O thread reads them) {
  using clock = std::chrono::system_clock;
  auto now_ns = [] {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now().time_since_epoch())
      .count();
  };
  std::mutex m;
  std::vector<std::pair<int64_t, int64_t>> seen; // (read_arrival, when on_data ran)
  std::atomic<bool> block_next{false};
  std::promise<void> release;
  auto released = release.get_future().share();
  configure = [&](recorder& r) {
    r.on_data_hook = [&, released](const connection_ptr&) {
      {
        std::lock_guard<std::mutex> guard{m};
        seen.emplace_back(connection::read_arrival(), now_ns());
      }
      if (block_next.exchange(false))
        released.wait(); // the I/O thread is busy while the next write arrives
    };
  };
  auto opts = default_options();
  opts.receive_timestamps = true;
  start(opts);
  client cl{srv->port()};
  auto [conn, rec] = wait_conn();
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto wait_seen = [&](size_t n) {
    for (;;) {
      {
        std::lock_guard<std::mutex> guard{m};
        if (seen.size() >= n)
          return seen[n - 1];
      }
      CAF_REQUIRE(std::chrono::steady_clock::now() < deadline);
      std::this_thread::yield();
    }
  };
  // The kernel turns stamping on in a work item when the first socket of the machine asks for
  // it, so a read right after may carry none (read_arrival 0, as without timestamps): write
  // until one is stamped.
  size_t n = 0;
  for (;;) {
    const int64_t before = now_ns();
    CAF_REQUIRE(cl.write_all("w"));
    auto [arrival, read] = wait_seen(++n);
    if (arrival != 0) {
      CAF_CHECK_LESS_OR_EQUAL(before, arrival);
      CAF_CHECK_LESS_OR_EQUAL(arrival, read);
      break;
    }
  }
  // Now keep the I/O thread busy in the next read's on_data while another write arrives.
  block_next = true;
  CAF_REQUIRE(cl.write_all("a"));
  wait_seen(++n);
  const int64_t before_second = now_ns();
  CAF_REQUIRE(cl.write_all("b"));
  // Until the kernel has queued the byte on the server's socket (on loopback usually inside the
  // client's write, later when the softirq runs in ksoftirqd on a busy machine).
  while (conn->readable_bytes() < 1) {
    CAF_REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::yield();
  }
  const int64_t after_second = now_ns();
  // Hold the I/O thread well past the arrival, then let it read.
  std::this_thread::sleep_for(std::chrono::milliseconds{30});
  release.set_value();
  auto [second_arrival, second_read] = wait_seen(n + 1);
  // The kernel's stamp: between the client's write and the byte being queued, not when the
  // busy I/O thread got to it 30 ms later.
  CAF_CHECK_LESS_OR_EQUAL(before_second, second_arrival);
  CAF_CHECK_LESS_OR_EQUAL(second_arrival, after_second);
  CAF_CHECK_GREATER_OR_EQUAL(second_read - second_arrival, 30'000'000);
  // Outside on_data there is no arrival.
  CAF_CHECK_EQUAL(connection::read_arrival(), 0);
}

CAF_TEST(without receive timestamps read_arrival is 0) {
  std::atomic<int64_t> arrival{-1};
  configure = [&](recorder& r) {
    r.on_data_hook = [&](const connection_ptr&) { arrival = connection::read_arrival(); };
  };
  start();
  client cl{srv->port()};
  auto [conn, rec] = wait_conn();
  CAF_REQUIRE(cl.write_all("a"));
  CAF_REQUIRE(rec->wait([](recorder& r) { return r.data_calls == 1; }));
  CAF_CHECK_EQUAL(arrival.load(), 0);
}

CAF_TEST(close flushes queued bytes before closing) {
  start();
  client cl{srv->port(), 64 * 1024};
  auto [conn, rec] = wait_conn();
  constexpr size_t total = 16 << 20;
  for (size_t off = 0; off < total; off += 64 << 10)
    conn->send(counting_chunk(off, 64 << 10));
  CAF_CHECK_GREATER(conn->queued_bytes(), 0u);
  conn->close();
  CAF_CHECK(!conn->send(bytes(1, 'x'))); // send after close: dropped
  counting_checker check;
  auto end = cl.read(SIZE_MAX, std::ref(check));
  CAF_CHECK(end == client::end::eof);
  CAF_CHECK_EQUAL(check.offset, total);
  CAF_CHECK_EQUAL(check.mismatches, 0u);
  cl.close(); // the server's lingering close sees our EOF
  CAF_REQUIRE(rec->wait([](recorder& r) { return r.closed == 1; }));
  CAF_CHECK_EQUAL(rec->reason, std::error_code{});
  CAF_CHECK_EQUAL(srv->get_stats().open, 0u);
}

CAF_TEST(abort drops queued bytes and resets the connection) {
  start();
  client cl{srv->port(), 64 * 1024};
  auto [conn, rec] = wait_conn();
  constexpr size_t total = 32 << 20;
  for (size_t off = 0; off < total; off += 64 << 10)
    conn->send(counting_chunk(off, 64 << 10));
  conn->abort();
  CAF_REQUIRE(rec->wait([](recorder& r) { return r.closed == 1; }));
  CAF_CHECK_EQUAL(rec->reason, std::error_code{error::aborted});
  CAF_CHECK_EQUAL(conn->queued_bytes(), 0u);
  CAF_CHECK(!conn->send(bytes(1, 'x')));
  size_t got = 0;
  auto end = cl.read_to_end(got);
  CAF_CHECK(end != client::end::timeout);
  CAF_CHECK_LESS(got, total);
  CAF_MESSAGE("client got " << got << " of " << total << " bytes before the reset, errno "
                            << cl.last_errno());
}

CAF_TEST(peer close fires on_closed exactly once) {
  auto opts = default_options();
  opts.io_threads = 2;
  start(opts);
  client a{srv->port()};
  client b{srv->port()};
  auto first = wait_conn(0);
  auto second = wait_conn(1);
  // With two I/O threads accept order need not be connect order: match by port.
  auto a_suffix = ":" + std::to_string(a.local_port());
  bool first_is_a = first.conn->peer().ends_with(a_suffix);
  auto graceful = first_is_a ? first : second;
  auto reset = first_is_a ? second : first;
  CAF_REQUIRE(graceful.conn->peer().ends_with(a_suffix));
  a.close();
  b.reset();
  CAF_REQUIRE(graceful.rec->wait([](recorder& r) { return r.closed > 0; }));
  CAF_REQUIRE(reset.rec->wait([](recorder& r) { return r.closed > 0; }));
  CAF_CHECK_EQUAL(graceful.rec->reason, std::error_code{error::peer_closed});
  CAF_CHECK(reset.rec->reason == std::errc::connection_reset);
  CAF_MESSAGE("reset reason: " << reset.rec->reason.message());
  CAF_CHECK(!graceful.conn->send(bytes(1, 'x')));
  srv->stop();
  CAF_CHECK_EQUAL(graceful.rec->closed, 1);
  CAF_CHECK_EQUAL(reset.rec->closed, 1);
  CAF_CHECK_EQUAL(srv->get_stats().closed, 2u);
}

CAF_TEST(a throwing receiver aborts its connection only) {
  configure = [](recorder& r) { r.throw_on_data = true; };
  start();
  client cl{srv->port()};
  auto [conn, rec] = wait_conn();
  CAF_REQUIRE(cl.write_all("x"));
  CAF_REQUIRE(rec->wait([](recorder& r) { return r.closed == 1; }));
  CAF_CHECK_EQUAL(rec->reason, std::error_code{error::receiver_failed});
  // The server still serves others.
  client other{srv->port()};
  CAF_CHECK(other.ok());
  CAF_CHECK(wait_conn(1).conn != nullptr);
}

CAF_TEST(stop aborts open connections and handles outlive the server) {
  start();
  client cl{srv->port()};
  auto [conn, rec] = wait_conn();
  srv->stop();
  CAF_CHECK_EQUAL(rec->closed, 1);
  CAF_CHECK_EQUAL(rec->reason, std::error_code{error::server_stopped});
  srv->stop(); // idempotent
  srv.reset();
  CAF_CHECK(!conn->send(bytes(1, 'x')));
  conn->pause_reading();
  conn->resume_reading();
  conn->close();
  conn->abort();
  CAF_CHECK_EQUAL(rec->closed, 1);
  size_t got = 0;
  CAF_CHECK(cl.read_to_end(got) != client::end::timeout);
}

CAF_TEST(start reports an address in use) {
  start();
  auto opts = default_options();
  opts.port = srv->port();
  server second{opts, [](const connection_ptr&) {}};
  auto err = second.start();
  CAF_CHECK(err == std::errc::address_in_use);
  CAF_MESSAGE("second bind: " << err.message());
}

CAF_TEST(two thousand concurrent connections) {
  configure = [](recorder& r) { r.echo = true; };
  auto opts = default_options();
  opts.io_threads = 2;
  constexpr size_t n = 2000;
  conns.reserve(n);
  start(opts);
  const size_t rss_before = rss_kib();
  std::vector<std::unique_ptr<client>> clients;
  clients.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    clients.push_back(std::make_unique<client>(srv->port()));
    CAF_REQUIRE(clients.back()->ok());
  }
  wait_conn(n - 1);
  size_t echoed = 0;
  for (size_t i = 0; i < n; ++i) {
    uint32_t tag = static_cast<uint32_t>(i);
    clients[i]->write_all(&tag, 4);
  }
  for (size_t i = 0; i < n; ++i) {
    auto back = clients[i]->read_exact(4);
    uint32_t tag = 0;
    if (back.size() == 4)
      std::memcpy(&tag, back.data(), 4);
    echoed += tag == i ? 1 : 0;
  }
  CAF_CHECK_EQUAL(echoed, n);
  auto st = srv->get_stats();
  CAF_CHECK_EQUAL(st.open, n);
  CAF_CHECK_EQUAL(st.accepted, n);
  // User-space memory per idle connection: the connection, its socket's reactor entry, its pending
  // wait, plus this test's recorder (~250 B) and bookkeeping. Kernel socket buffers are not in RSS.
  const size_t rss_after = rss_kib();
  const double per_conn = static_cast<double>(rss_after - rss_before) * 1024.0 / n;
  CAF_MESSAGE("RSS " << rss_before << " KiB -> " << rss_after << " KiB: " << per_conn
                     << " bytes per idle connection (server + test receiver)");
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__) // shadow memory, quarantine
  CAF_CHECK_LESS(per_conn, 3072.0);
#endif
  clients.clear();
  bool all_closed = true;
  for (auto& a : conns)
    all_closed = all_closed && a.rec->wait([](recorder& r) { return r.closed == 1; });
  CAF_CHECK(all_closed);
  st = srv->get_stats();
  CAF_CHECK_EQUAL(st.open, 0u);
  CAF_CHECK_EQUAL(st.closed, n);
}

CAF_TEST_FIXTURE_SCOPE_END()

namespace {

/// An edge connection that only records when the gather flushes it (the order of a round).
class flush_recorder final : public amq::net::detail::edge_connection {
public:
  flush_recorder(uint64_t id, std::vector<uint64_t>& order)
    : edge_connection(id, "test"), order_(order) {
  }
  void flush_gathered() override {
    order_.push_back(id());
  }
  void start() override {
  }
  bool done() const noexcept override {
    return false;
  }
  void abort_with(std::error_code) override {
  }
  void mark_released() noexcept override {
  }
  boost::asio::any_io_executor executor() override {
    return ctx_.get_executor();
  }
  void set_receiver(std::shared_ptr<amq::net::connection_receiver>) override {
  }
  bool send(std::vector<uint8_t>) override {
    return true;
  }
  void pause_reading() override {
  }
  void resume_reading() override {
  }
  void close() override {
  }
  void abort() override {
  }
  size_t queued_bytes() const noexcept override {
    return 0;
  }

private:
  std::vector<uint64_t>& order_;
  boost::asio::io_context ctx_;
};

} // namespace

CAF_TEST(a gather writes the connections noted late after all others) {
  // A publisher's PUBACK noted before the deliveries its PUBLISH caused still leaves after
  // them (session.cpp, acks_late).
  std::vector<uint64_t> order;
  auto c = [&](uint64_t id) { return std::make_shared<flush_recorder>(id, order); };
  write_gather g;
  g.set_late(true);
  g.note(c(1)); // the publisher's ack
  g.set_late(false);
  CAF_CHECK(!g.empty());
  g.note(c(2));
  g.note(c(3));
  g.flush();
  CAF_CHECK_EQUAL(order, (std::vector<uint64_t>{2, 3, 1}));
  CAF_CHECK(g.empty());
  // Nothing stays late in the next round.
  order.clear();
  g.note(c(4));
  g.note(c(5));
  g.flush();
  CAF_CHECK_EQUAL(order, (std::vector<uint64_t>{4, 5}));
}

CAF_TEST(the connection lock excludes under contention and wakes its sleepers) {
  // small_mutex.hpp: 4 threads, each holding the lock now and then across a syscall (as send()
  // does), so waiters go to sleep and must be woken; a non-atomic counter checks the exclusion.
  amq::net::detail::small_mutex mtx;
  uint64_t counter = 0;
  constexpr int threads = 4;
  constexpr int rounds = 20000;
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([&] {
      for (int i = 0; i < rounds; ++i) {
        std::lock_guard<amq::net::detail::small_mutex> guard{mtx};
        const uint64_t seen = counter;
        if (i % 64 == 0)
          std::this_thread::sleep_for(std::chrono::microseconds(1)); // held while sleeping
        counter = seen + 1;
      }
    });
  for (auto& t : ts)
    t.join();
  CAF_CHECK_EQUAL(counter, static_cast<uint64_t>(threads) * rounds);
  CAF_CHECK(mtx.try_lock());
  CAF_CHECK(!mtx.try_lock());
  mtx.unlock();
}
