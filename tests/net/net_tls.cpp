// The TLS connection of the network edge (server_options::tls, tls_connection.hpp) over real
// loopback sockets: a self-signed certificate made by the `openssl` CLI at test time, clients
// are blocking OpenSSL clients. Checks the connection contract of connection.hpp over TLS:
// records batched into reads, input OpenSSL holds while paused delivered on resume, write
// back-pressure and on_writable, close flushes then close_notify, abort, the handshake deadline
// and a failed handshake, on_closed exactly once. Every wait has a finite timeout.
#define CAF_SUITE net_tls
#include <caf/test/unit_test.hpp>

#include <arpa/inet.h>
#include <csignal>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "amq/net/server.hpp"
#include "recorder.hpp"

using namespace amq::net;
using namespace std::chrono_literals;
using bytes = std::vector<uint8_t>;

namespace {

constexpr auto timeout = 20s;

/// A self-signed certificate and key in a temporary directory, made once per process.
struct test_cert {
  std::string dir, cert, key;
  test_cert() {
    char tmpl[] = "/tmp/amq_net_tls_XXXXXX";
    dir = ::mkdtemp(tmpl);
    cert = dir + "/cert.pem";
    key = dir + "/key.pem";
    auto cmd = "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost -keyout "
               + key + " -out " + cert + " >/dev/null 2>&1";
    if (std::system(cmd.c_str()) != 0)
      throw std::runtime_error("openssl req failed: " + cmd);
  }
  ~test_cert() {
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }
};

const test_cert& cert() {
  static test_cert instance;
  return instance;
}

/// Connects a TCP socket to 127.0.0.1:port with receive/send timeouts; -1 on failure.
int tcp_connect(uint16_t port, int rcvbuf = 0) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (rcvbuf > 0)
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  timeval tv{static_cast<time_t>(timeout.count()), 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

/// Makes a self-signed certificate for localhost with organisation `org` at `cert` and `key`.
void make_cert(const std::string& cert, const std::string& key, const std::string& org) {
  auto cmd = "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost/O=" + org
             + " -keyout " + key + " -out " + cert + " >/dev/null 2>&1";
  if (std::system(cmd.c_str()) != 0)
    throw std::runtime_error("openssl req failed: " + cmd);
}

/// The test client writes through OpenSSL's socket BIO, which raises SIGPIPE when the server has
/// already closed (e.g. our close_notify after the server's close and linger). The test client's
/// writes block SIGPIPE for their thread and discard it; the process keeps the default action, so
/// a server write that raised SIGPIPE would still kill the test (the server must not raise it).
class client_sigpipe_guard {
public:
  client_sigpipe_guard() {
    sigset_t s = pipe_set();
    pthread_sigmask(SIG_BLOCK, &s, &old_);
  }
  ~client_sigpipe_guard() {
    sigset_t s = pipe_set();
    timespec zero{0, 0};
    while (sigtimedwait(&s, nullptr, &zero) > 0) {
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  client_sigpipe_guard(const client_sigpipe_guard&) = delete;
  client_sigpipe_guard& operator=(const client_sigpipe_guard&) = delete;

private:
  static sigset_t pipe_set() {
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGPIPE);
    return s;
  }
  sigset_t old_;
};

/// A blocking TLS client that verifies the server against the test certificate (or `ca`).
class tls_client {
public:
  explicit tls_client(uint16_t port, int rcvbuf = 0, const std::string& ca = cert().cert,
                      const std::function<void(SSL_CTX*)>& setup = {}) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    SSL_CTX_load_verify_locations(ctx_, ca.c_str(), nullptr);
    if (setup)
      setup(ctx_);
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    fd_ = tcp_connect(port, rcvbuf);
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_);
    SSL_set1_host(ssl_, "localhost");
    client_sigpipe_guard guard;
    ok_ = fd_ >= 0 && SSL_connect(ssl_) == 1;
  }
  ~tls_client() {
    SSL_free(ssl_);
    SSL_CTX_free(ctx_);
    if (fd_ >= 0)
      ::close(fd_);
  }
  tls_client(const tls_client&) = delete;
  tls_client& operator=(const tls_client&) = delete;

  bool ok() const {
    return ok_;
  }

  int version() const {
    return SSL_version(ssl_);
  }

  std::string cipher() const {
    const char* name = SSL_get_cipher_name(ssl_);
    return name != nullptr ? name : "";
  }

  /// TLS 1.3: asks the server to update its keys too; sent before the next record we write.
  bool request_key_update() {
    return SSL_key_update(ssl_, SSL_KEY_UPDATE_REQUESTED) == 1;
  }

  /// The O= of the certificate the server presented ("" without one).
  std::string peer_org() const {
    std::string out;
    if (X509* x = SSL_get1_peer_certificate(ssl_)) {
      char buf[256] = {};
      if (X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_organizationName, buf,
                                    sizeof(buf)) > 0)
        out = buf;
      X509_free(x);
    }
    return out;
  }

  bool write_all(const void* data, size_t n) {
    client_sigpipe_guard guard;
    auto p = static_cast<const uint8_t*>(data);
    while (n > 0) {
      int k = SSL_write(ssl_, p, static_cast<int>(std::min<size_t>(n, 1 << 20)));
      if (k <= 0)
        return false;
      p += k;
      n -= static_cast<size_t>(k);
    }
    return true;
  }

  bool write_all(const bytes& b) {
    return write_all(b.data(), b.size());
  }

  /// One SSL_write (one record) per message, all leaving in one TCP segment (TCP_CORK).
  bool write_corked(const std::vector<bytes>& records) {
    client_sigpipe_guard guard;
    int on = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_CORK, &on, sizeof(on));
    bool ok = true;
    for (const auto& r : records)
      ok = ok && SSL_write(ssl_, r.data(), static_cast<int>(r.size())) == static_cast<int>(r.size());
    int off = 0;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_CORK, &off, sizeof(off));
    return ok;
  }

  /// Reads until `n` bytes came or the stream ends; `clean_end` tells whether it ended with the
  /// server's close_notify.
  bytes read(size_t n, bool* clean_end = nullptr) {
    client_sigpipe_guard guard; // SSL_read may write (a KeyUpdate's answer)
    bytes out;
    std::vector<uint8_t> buf(64 * 1024);
    while (out.size() < n) {
      int k = SSL_read(ssl_, buf.data(), static_cast<int>(std::min(buf.size(), n - out.size())));
      if (k <= 0) {
        last_error = SSL_get_error(ssl_, k);
        last_errno = errno;
        if (clean_end)
          *clean_end = last_error == SSL_ERROR_ZERO_RETURN;
        break;
      }
      out.insert(out.end(), buf.data(), buf.data() + k);
    }
    return out;
  }

  /// Writes `msg` and reads as many bytes back (an echo), both on this thread with the socket
  /// non-blocking. Not a writer thread beside a reader: an SSL object must not be used by two
  /// threads at once (a read that takes the server's session tickets while another thread
  /// writes can corrupt the connection: the echo test lost its data that way now and then),
  /// and one blocking write of 1 MiB would wait for a server that waits for us to read.
  bytes echo(const bytes& msg, std::chrono::seconds limit = std::chrono::seconds{20}) {
    client_sigpipe_guard guard;
    const int flags = ::fcntl(fd_, F_GETFL);
    ::fcntl(fd_, F_SETFL, flags | O_NONBLOCK);
    bytes out;
    std::vector<uint8_t> buf(64 * 1024);
    size_t sent = 0;
    const auto deadline = std::chrono::steady_clock::now() + limit;
    bool failed = false;
    while (!failed && out.size() < msg.size() && std::chrono::steady_clock::now() < deadline) {
      bool progress = false;
      bool want_write = false;
      if (sent < msg.size()) {
        // After WANT_WRITE the retry passes the same buffer and length, as OpenSSL requires.
        const int chunk = static_cast<int>(std::min<size_t>(msg.size() - sent, 16384));
        const int k = SSL_write(ssl_, msg.data() + sent, chunk);
        if (k > 0) {
          sent += static_cast<size_t>(k);
          progress = true;
        } else {
          const int e = SSL_get_error(ssl_, k);
          want_write = e == SSL_ERROR_WANT_WRITE;
          failed = !want_write && e != SSL_ERROR_WANT_READ;
        }
      }
      const int k = SSL_read(ssl_, buf.data(),
                             static_cast<int>(std::min(buf.size(), msg.size() - out.size())));
      if (k > 0) {
        out.insert(out.end(), buf.data(), buf.data() + k);
        progress = true;
      } else {
        const int e = SSL_get_error(ssl_, k);
        failed = failed || (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE);
      }
      if (!progress && !failed) {
        pollfd p{fd_, static_cast<short>(POLLIN | (want_write ? POLLOUT : 0)), 0};
        ::poll(&p, 1, 100);
      }
    }
    ::fcntl(fd_, F_SETFL, flags);
    return out;
  }

  /// Ends our side cleanly: close_notify, then the TCP close.
  void shutdown_and_close() {
    client_sigpipe_guard guard;
    SSL_shutdown(ssl_);
    ::close(fd_);
    fd_ = -1;
  }

  int last_error = 0; ///< SSL_get_error of the read that ended `read` (diagnostics)
  int last_errno = 0;

private:
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  int fd_ = -1;
  bool ok_ = false;
};

using amq::net::test::recorder; // tests/net/recorder.hpp, shared with the net suite
using amq::net::test::recorder_ptr;

struct accepted {
  connection_ptr conn;
  recorder_ptr rec;
};

bytes pattern(size_t n, size_t seed = 0) {
  bytes out(n);
  for (size_t i = 0; i < n; ++i)
    out[i] = static_cast<uint8_t>((i + seed) * 131 + (i >> 9));
  return out;
}

/// Sends the rest of `all` from `sent` in `chunk`s, a burst each time on_writable fires, until
/// all of it is queued; returns the number of bursts. Fails if the connection closes meanwhile.
int send_rest_when_writable(const connection_ptr& conn, recorder& rec, const bytes& all,
                            size_t sent, size_t chunk) {
  int seen = 0;
  int rounds = 0;
  while (sent < all.size()) {
    CAF_REQUIRE(rec.wait([&](recorder& r) { return r.writable > seen || r.closed > 0; }));
    CAF_REQUIRE_EQUAL(rec.closed, 0);
    seen = rec.writable;
    ++rounds;
    bool more = true;
    while (sent < all.size() && more) {
      more = conn->send(bytes(all.begin() + sent, all.begin() + sent + chunk));
      sent += chunk;
    }
  }
  return rounds;
}

struct fixture {
  std::mutex mtx;
  std::condition_variable cv;
  std::vector<accepted> conns;
  std::function<void(recorder&)> configure = [](recorder&) {};
  std::unique_ptr<server> srv;

  server_options default_options() {
    server_options opts;
    opts.bind = "127.0.0.1";
    opts.port = 0;
    opts.tls.enabled = true;
    opts.tls.cert_file = cert().cert;
    opts.tls.key_file = cert().key;
    opts.tls.handshake_timeout = 5s;
    opts.close_linger = 2s;
    return opts;
  }

  void start(server_options opts) {
    srv = std::make_unique<server>(opts, [this](const connection_ptr& c) {
      auto rec = std::make_shared<recorder>();
      configure(*rec);
      c->set_receiver(rec);
      {
        std::lock_guard<std::mutex> guard{mtx};
        conns.push_back({c, rec});
      }
      cv.notify_all();
    });
    auto err = srv->start();
    CAF_REQUIRE_EQUAL(srv->error_detail(), "");
    CAF_REQUIRE(!err);
  }

  void start() {
    start(default_options());
  }

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

} // namespace

CAF_TEST_FIXTURE_SCOPE(net_tls_tests, fixture)

CAF_TEST(echo round trip of small and large messages) {
  configure = [](recorder& r) { r.echo = true; };
  start();
  tls_client cl{srv->port()};
  CAF_REQUIRE(cl.ok());
  for (size_t n : {size_t{1}, size_t{100}, size_t{16384}, size_t{16385}, size_t{1} << 20}) {
    auto msg = pattern(n, n);
    auto back = cl.echo(msg);
    CAF_CHECK_EQUAL(back.size(), n);
    CAF_CHECK(back == msg);
  }
  auto st = srv->get_stats();
  CAF_MESSAGE("reads " << st.reads << ", writes " << st.writes << ", in " << st.bytes_in);
  // A read returns at most one record: 1 MiB came in at least 64 on_data calls.
  CAF_CHECK_GREATER_OR_EQUAL(st.reads, 64u);
}

CAF_TEST(input OpenSSL holds while paused is delivered on resume) {
  configure = [](recorder& r) { r.pause_on_data = true; };
  start();
  tls_client cl{srv->port()};
  CAF_REQUIRE(cl.ok());
  auto [conn, rec] = wait_conn();
  // 40 records in one go: the first on_data pauses; the rest waits in OpenSSL and the kernel.
  auto msg = pattern(40 * 16384);
  CAF_REQUIRE(cl.write_all(msg));
  CAF_REQUIRE(rec->wait([](recorder& r) { return r.data_calls == 1; }));
  std::this_thread::sleep_for(100ms); // let a wrongly continued read show up
  CAF_CHECK_EQUAL(rec->data_calls, 1u);
  {
    std::lock_guard<std::mutex> guard{rec->mtx};
    rec->pause_on_data = false;
  }
  // The client sends nothing more: only the connection's own buffered-input logic can deliver.
  conn->resume_reading();
  CAF_CHECK(rec->wait([&](recorder& r) { return r.data.size() == msg.size(); }));
  std::lock_guard<std::mutex> guard{rec->mtx};
  CAF_CHECK(rec->data == msg);
}

CAF_TEST(records read from the kernel together are all delivered without more input) {
  // Three records in one TCP segment: the first read takes all of them from the kernel into
  // the TLS stream, returns the first; the receiver pauses. After resume only the connection's
  // own bookkeeping (not socket readiness: the kernel is empty) can deliver the other two.
  configure = [](recorder& r) { r.pause_on_data = true; };
  start();
  tls_client cl{srv->port()};
  CAF_REQUIRE(cl.ok());
  auto [conn, rec] = wait_conn();
  std::vector<bytes> recs{pattern(100, 1), pattern(200, 2), pattern(300, 3)};
  CAF_REQUIRE(cl.write_corked(recs));
  CAF_REQUIRE(rec->wait([](recorder& r) { return r.data_calls == 1; }));
  CAF_CHECK_EQUAL(rec->size(), 100u);
  CAF_CHECK_EQUAL(conn->readable_bytes(), 0u); // the kernel holds nothing more
  {
    std::lock_guard<std::mutex> guard{rec->mtx};
    rec->pause_on_data = false;
  }
  conn->resume_reading();
  CAF_CHECK(rec->wait([](recorder& r) { return r.data.size() == 600; }, 5s));
  bytes all;
  for (auto& r : recs)
    all.insert(all.end(), r.begin(), r.end());
  std::lock_guard<std::mutex> guard{rec->mtx};
  CAF_CHECK(rec->data == all);
}

CAF_TEST(back-pressure over TLS: send refuses above the watermark and on_writable follows) {
  auto opts = default_options();
  opts.write_high_watermark = 256 << 10;
  start(opts);
  tls_client cl{srv->port(), 64 * 1024};
  CAF_REQUIRE(cl.ok());
  auto [conn, rec] = wait_conn();
  constexpr size_t total = 16 << 20;
  constexpr size_t chunk = 64 << 10;
  auto all = pattern(total);
  size_t sent = 0;
  bool refused = false;
  while (sent < total && !refused) {
    refused = !conn->send(bytes(all.begin() + sent, all.begin() + sent + chunk));
    sent += chunk;
  }
  CAF_REQUIRE(refused);
  CAF_CHECK_LESS(sent, total);
  bytes got;
  std::thread reader([&] { got = cl.read(total); });
  const int rounds = send_rest_when_writable(conn, *rec, all, sent, chunk);
  reader.join();
  CAF_CHECK_EQUAL(got.size(), total);
  CAF_CHECK(got == all);
  CAF_CHECK_GREATER(rounds, 1);
  CAF_CHECK_EQUAL(srv->get_stats().bytes_out, total);
}

CAF_TEST(a KeyUpdate read while a write waits for the socket is answered in order) {
  // TLS 1.3: the client asks for new keys while the server's write to it waits for a full
  // socket. One record layer does both (OpenSSL on the socket, tls_connection.hpp): the server
  // finishes the pending record, sends its KeyUpdate, and goes on with the new keys; every byte
  // arrives in order and the connection stays open.
  auto opts = default_options();
  opts.write_high_watermark = 256 << 10;
  start(opts);
  tls_client cl{srv->port(), 64 * 1024};
  CAF_REQUIRE(cl.ok());
  CAF_REQUIRE_EQUAL(cl.version(), TLS1_3_VERSION);
  auto [conn, rec] = wait_conn();
  constexpr size_t total = 8 << 20;
  constexpr size_t chunk = 64 << 10;
  auto all = pattern(total, 3);
  size_t sent = 0;
  bool refused = false;
  while (sent < total && !refused) {
    refused = !conn->send(bytes(all.begin() + sent, all.begin() + sent + chunk));
    sent += chunk;
  }
  CAF_REQUIRE(refused); // the client reads nothing yet: a write waits for the socket
  CAF_REQUIRE(cl.request_key_update());
  CAF_REQUIRE(cl.write_all(std::string_view{"ping"}.data(), 4)); // KeyUpdate, then "ping"
  CAF_REQUIRE(rec->wait([](recorder& r) { return r.data.size() >= 4; }));
  bytes got;
  std::thread reader([&] { got = cl.read(total); });
  send_rest_when_writable(conn, *rec, all, sent, chunk);
  reader.join();
  CAF_CHECK_EQUAL(got.size(), total);
  CAF_CHECK(got == all);
  CAF_CHECK_EQUAL(std::string(rec->data.begin(), rec->data.end()), "ping");
  CAF_CHECK_EQUAL(rec->closed, 0);
  // And the other way after the update: the server reads what the client writes.
  CAF_REQUIRE(cl.write_all(std::string_view{"pong"}.data(), 4));
  CAF_CHECK(rec->wait([](recorder& r) { return r.data.size() >= 8; }));
}

CAF_TEST(close flushes then sends close_notify and on_closed fires once) {
  start();
  tls_client cl{srv->port()};
  CAF_REQUIRE(cl.ok());
  auto [conn, rec] = wait_conn();
  constexpr size_t total = 4 << 20;
  auto all = pattern(total);
  for (size_t off = 0; off < total; off += 64 << 10)
    conn->send(bytes(all.begin() + off, all.begin() + off + (64 << 10)));
  conn->close();
  CAF_CHECK(!conn->send(bytes(1, 'x')));
  bool clean = false;
  auto got = cl.read(SIZE_MAX, &clean);
  if (got.size() != total)
    CAF_MESSAGE("read ended after " << got.size() << " bytes: SSL error " << cl.last_error
                                    << ", errno " << cl.last_errno << ", server writes "
                                    << srv->get_stats().writes);
  CAF_CHECK_EQUAL(got.size(), total);
  CAF_CHECK(got == all);
  CAF_CHECK(clean); // the server's close_notify, not a bare TCP close
  cl.shutdown_and_close();
  CAF_REQUIRE(rec->wait([](recorder& r) { return r.closed == 1; }));
  CAF_CHECK_EQUAL(rec->reason, std::error_code{});
  srv->stop();
  CAF_CHECK_EQUAL(rec->closed, 1);
  CAF_CHECK_EQUAL(srv->get_stats().open, 0u);
}

CAF_TEST(peer close and abort and server stop each fire on_closed exactly once) {
  start();
  tls_client a{srv->port()};
  tls_client b{srv->port()};
  tls_client c{srv->port()};
  CAF_REQUIRE(a.ok() && b.ok() && c.ok());
  std::vector<accepted> v{wait_conn(0), wait_conn(1), wait_conn(2)};
  a.shutdown_and_close();
  // Which accepted connection is a's: the one that closes (bounded poll).
  accepted* peer = nullptr;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!peer && std::chrono::steady_clock::now() < deadline) {
    for (auto& x : v)
      if (x.rec->wait([](recorder& r) { return r.closed > 0; }, 10ms))
        peer = &x;
  }
  std::vector<accepted*> rest;
  for (auto& x : v)
    if (&x != peer)
      rest.push_back(&x);
  CAF_REQUIRE(peer != nullptr && rest.size() == 2);
  CAF_CHECK_EQUAL(peer->rec->reason, std::error_code{error::peer_closed});
  rest[0]->conn->abort();
  CAF_REQUIRE(rest[0]->rec->wait([](recorder& r) { return r.closed == 1; }));
  CAF_CHECK_EQUAL(rest[0]->rec->reason, std::error_code{error::aborted});
  srv->stop();
  CAF_CHECK_EQUAL(rest[1]->rec->reason, std::error_code{error::server_stopped});
  for (auto& x : v)
    CAF_CHECK_EQUAL(x.rec->closed, 1);
  CAF_CHECK(!rest[1]->conn->send(bytes(1, 'x')));
}

CAF_TEST(a client that never handshakes is closed at the deadline) {
  auto opts = default_options();
  opts.tls.handshake_timeout = 300ms;
  start(opts);
  int fd = tcp_connect(srv->port());
  CAF_REQUIRE(fd >= 0);
  auto t0 = std::chrono::steady_clock::now();
  auto [conn, rec] = wait_conn();
  CAF_REQUIRE(rec->wait([](recorder& r) { return r.closed == 1; }, 5s));
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  CAF_CHECK_EQUAL(rec->reason, std::error_code{error::tls_handshake_timeout});
  CAF_CHECK_GREATER_OR_EQUAL(ms.count(), 250);
  char c = 0;
  CAF_CHECK_LESS_OR_EQUAL(::recv(fd, &c, 1, 0), 0); // closed (reset)
  ::close(fd);
  CAF_CHECK_EQUAL(rec->data_calls, 0u);
}

CAF_TEST(garbage instead of a ClientHello fails the handshake or hits the deadline) {
  auto opts = default_options();
  opts.tls.handshake_timeout = 500ms;
  start(opts);
  // A malformed ClientHello (a handshake record holding an empty ClientHello), a plain MQTT
  // CONNECT: both refused at once. Half a record header: the handshake deadline.
  const std::string hello("\x16\x03\x01\x00\x04\x01\x00\x00\x00", 9);
  const std::string mqtt("\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00", 14);
  const std::string half("\x16\x03", 2);
  const std::error_code expected[] = {error::tls_handshake_failed, error::tls_handshake_failed,
                                      error::tls_handshake_timeout};
  for (size_t i = 0; i < 3; ++i) {
    const auto& junk = i == 0 ? hello : i == 1 ? mqtt : half;
    int fd = tcp_connect(srv->port());
    CAF_REQUIRE(fd >= 0);
    CAF_REQUIRE(::send(fd, junk.data(), junk.size(), MSG_NOSIGNAL) > 0);
    auto [conn, rec] = wait_conn(i);
    CAF_REQUIRE(rec->wait([](recorder& r) { return r.closed == 1; }));
    CAF_CHECK_EQUAL(rec->reason, expected[i]);
    CAF_MESSAGE("junk " << i << ": " << rec->reason.message());
    CAF_CHECK_EQUAL(rec->data_calls, 0u);
    ::close(fd);
  }
  // The server still serves TLS clients.
  tls_client ok{srv->port()};
  CAF_CHECK(ok.ok());
}

CAF_TEST(bad certificate or key files are reported by name) {
  auto opts = default_options();
  opts.tls.cert_file = cert().dir + "/missing.pem";
  server s1{opts, [](const connection_ptr&) {}};
  CAF_CHECK(s1.start() == std::errc::invalid_argument);
  CAF_CHECK(s1.error_detail().find("cert_file " + opts.tls.cert_file + ": cannot open") == 0);
  CAF_MESSAGE(s1.error_detail());
  opts = default_options();
  opts.tls.key_file = cert().cert; // a certificate is not a key
  server s2{opts, [](const connection_ptr&) {}};
  CAF_CHECK(s2.start() == std::errc::invalid_argument);
  CAF_CHECK(s2.error_detail().find("key_file " + opts.tls.key_file) == 0);
  CAF_MESSAGE(s2.error_detail());
  opts = default_options();
  opts.tls.require_client_cert = true; // without ca_file
  server s3{opts, [](const connection_ptr&) {}};
  CAF_CHECK(s3.start() == std::errc::invalid_argument);
  CAF_MESSAGE(s3.error_detail());
}

CAF_TEST(reload_tls: new connections get the renewed certificate and open ones keep theirs) {
  // The files the listener is configured with are replaced (a renewed certificate) and
  // reloaded: the next handshake presents the new certificate, a connection accepted before
  // keeps working with the old one, and a bad file changes nothing.
  const auto dir = cert().dir + "/reload";
  std::filesystem::create_directories(dir);
  const auto live_cert = dir + "/live.pem", live_key = dir + "/live.key";
  const auto first = dir + "/first.pem", second = dir + "/second.pem";
  make_cert(live_cert, live_key, "first");
  std::filesystem::copy_file(live_cert, first);
  configure = [](recorder& r) { r.echo = true; };
  auto opts = default_options();
  opts.tls.cert_file = live_cert;
  opts.tls.key_file = live_key;
  start(opts);
  tls_client old_conn{srv->port(), 0, first};
  CAF_REQUIRE(old_conn.ok());
  CAF_CHECK_EQUAL(old_conn.peer_org(), "first");
  make_cert(live_cert, live_key, "second"); // renewed in place
  std::filesystem::copy_file(live_cert, second);
  {
    tls_client before_reload{srv->port(), 0, first};
    CAF_CHECK(before_reload.ok()); // read at start only: still the first
    CAF_CHECK_EQUAL(before_reload.peer_org(), "first");
  }
  std::string detail;
  CAF_REQUIRE(!srv->reload_tls(detail));
  CAF_CHECK_EQUAL(detail, "");
  tls_client renewed{srv->port(), 0, second};
  CAF_CHECK(renewed.ok());
  CAF_CHECK_EQUAL(renewed.peer_org(), "second");
  tls_client trusting_old{srv->port(), 0, first};
  CAF_CHECK(!trusting_old.ok()); // the new certificate is presented, the old is not
  // The connection accepted before the reload still works, with its context.
  const auto msg = pattern(3000, 7);
  CAF_REQUIRE(old_conn.write_all(msg));
  CAF_CHECK(old_conn.read(msg.size()) == msg);
  // A bad certificate file: refused, named, and the second certificate stays.
  {
    std::FILE* f = std::fopen(live_cert.c_str(), "w");
    CAF_REQUIRE(f != nullptr);
    std::fputs("not a certificate\n", f);
    std::fclose(f);
  }
  CAF_CHECK(srv->reload_tls(detail) == std::errc::invalid_argument);
  CAF_CHECK(detail.find("cert_file " + live_cert + ": not a usable PEM certificate") == 0);
  CAF_MESSAGE(detail);
  tls_client after_bad{srv->port(), 0, second};
  CAF_CHECK(after_bad.ok());
  CAF_CHECK_EQUAL(after_bad.peer_org(), "second");
}

CAF_TEST(ciphers and ciphersuites limit what the handshake may choose) {
  auto only = [](int version, const char* list) {
    return [version, list](SSL_CTX* c) {
      SSL_CTX_set_max_proto_version(c, version);
      if (version == TLS1_2_VERSION)
        SSL_CTX_set_cipher_list(c, list);
      else
        SSL_CTX_set_ciphersuites(c, list);
    };
  };
  auto opts = default_options();
  opts.tls.ciphers = "ECDHE-RSA-AES128-GCM-SHA256";
  opts.tls.ciphersuites = "TLS_CHACHA20_POLY1305_SHA256";
  start(opts);
  const auto& ca = cert().cert;
  tls_client v12{srv->port(), 0, ca, only(TLS1_2_VERSION, "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384")};
  CAF_CHECK(v12.ok());
  CAF_CHECK_EQUAL(v12.cipher(), "ECDHE-RSA-AES128-GCM-SHA256");
  tls_client v12_other{srv->port(), 0, ca, only(TLS1_2_VERSION, "ECDHE-RSA-AES256-GCM-SHA384")};
  CAF_CHECK(!v12_other.ok()); // no cipher in common
  tls_client v13{srv->port(), 0, ca, only(TLS1_3_VERSION, "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256")};
  CAF_CHECK(v13.ok());
  CAF_CHECK_EQUAL(v13.cipher(), "TLS_CHACHA20_POLY1305_SHA256");
  tls_client v13_other{srv->port(), 0, ca, only(TLS1_3_VERSION, "TLS_AES_256_GCM_SHA384")};
  CAF_CHECK(!v13_other.ok());
  // Lists OpenSSL does not know stop the listener at start, naming the option.
  auto bad = default_options();
  bad.tls.ciphers = "NO-SUCH-CIPHER";
  server s1{bad, [](const connection_ptr&) {}};
  CAF_CHECK(s1.start() == std::errc::invalid_argument);
  CAF_CHECK(s1.error_detail().find("ciphers 'NO-SUCH-CIPHER': no cipher OpenSSL knows") == 0);
  bad = default_options();
  bad.tls.ciphersuites = "TLS_NO_SUCH_SUITE";
  server s2{bad, [](const connection_ptr&) {}};
  CAF_CHECK(s2.start() == std::errc::invalid_argument);
  CAF_CHECK(s2.error_detail().find("ciphersuites 'TLS_NO_SUCH_SUITE'") == 0);
  CAF_MESSAGE(s1.error_detail() << " | " << s2.error_detail());
}

CAF_TEST(reload_tls on a plain listener is refused) {
  auto opts = default_options();
  opts.tls.enabled = false;
  start(opts);
  std::string detail;
  CAF_CHECK(srv->reload_tls(detail) == std::errc::operation_not_supported);
  CAF_CHECK_EQUAL(detail, "not a TLS listener");
}

CAF_TEST_FIXTURE_SCOPE_END()
