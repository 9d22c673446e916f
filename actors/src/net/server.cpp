// The edge's TCP server: acceptor, I/O threads, shutdown. Design: amq/net/connection.hpp.
#include "amq/net/server.hpp"
#include "amq/thread_name.hpp"

#include <sys/resource.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <exception>
#include <future>
#include <thread>
#include <type_traits>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include "server_state.hpp"
#include "tcp_connection.hpp"
#include "tls_connection.hpp"

#include <openssl/ssl.h>

namespace amq::net {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using detail::edge_connection;
using detail::tcp_connection;
using detail::tls_connection;

namespace {

std::atomic<uint64_t> next_connection_id{1};

/// An accepted connection's socket on executor `E` (server_state.hpp: loop_executor).
template <class E>
using socket_on = asio::basic_stream_socket<tcp, E>;

/// Raises the soft RLIMIT_NOFILE to the hard limit: thousands of connections need thousands of fds.
void raise_fd_limit() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
  }
}

std::string to_peer_string(const tcp::endpoint& ep) {
  auto addr = ep.address();
  std::string host = addr.is_v6() ? "[" + addr.to_string() + "]" : addr.to_string();
  return host + ":" + std::to_string(ep.port());
}

/// The TLS listener's context, or an error with `detail` naming the file and OpenSSL's reason.
std::error_code make_tls_context(const tls_options& t, std::unique_ptr<asio::ssl::context>& out,
                                 std::string& detail) {
  namespace ssl = asio::ssl;
  const auto invalid = std::make_error_code(std::errc::invalid_argument);
  int min_version = 0;
  if (t.min_version == "tls1.2")
    min_version = TLS1_2_VERSION;
  else if (t.min_version == "tls1.3")
    min_version = TLS1_3_VERSION;
  else {
    detail = "min_version must be tls1.2 or tls1.3, not '" + t.min_version + "'";
    return invalid;
  }
  if (t.cert_file.empty() || t.key_file.empty()) {
    detail = t.cert_file.empty() ? "cert_file is not set" : "key_file is not set";
    return invalid;
  }
  for (const auto* f : {&t.cert_file, &t.key_file, &t.ca_file, &t.crl_file}) {
    if (f->empty())
      continue;
    if (std::FILE* fp = std::fopen(f->c_str(), "r"))
      std::fclose(fp);
    else {
      detail = std::string{f == &t.cert_file  ? "cert_file "
                           : f == &t.key_file ? "key_file "
                           : f == &t.ca_file  ? "ca_file "
                                              : "crl_file "}
               + *f + ": cannot open: " + std::strerror(errno);
      return invalid;
    }
  }
  auto ctx = std::make_unique<ssl::context>(ssl::context::tls_server);
  SSL_CTX* native = ctx->native_handle();
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2
                   | ssl::context::no_sslv3 | ssl::context::single_dh_use);
  SSL_CTX_set_min_proto_version(native, min_version);
  // OpenSSL accepts a list if it names at least one cipher it knows; one it does not know at
  // all is refused here, naming the option.
  if (!t.ciphers.empty() && SSL_CTX_set_cipher_list(native, t.ciphers.c_str()) != 1) {
    detail = "ciphers '" + t.ciphers + "': no cipher OpenSSL knows (see `openssl ciphers`)";
    return invalid;
  }
  if (!t.ciphersuites.empty() && SSL_CTX_set_ciphersuites(native, t.ciphersuites.c_str()) != 1) {
    detail = "ciphersuites '" + t.ciphersuites
             + "': not a list of TLS 1.3 cipher suites OpenSSL knows (see `openssl ciphers -s "
               "-tls1_3`)";
    return invalid;
  }
  // No TLS 1.2 renegotiation: reads and writes of one connection run as independent operations on
  // the stream (tls_connection.hpp), and a renegotiation would make a read want to write.
  SSL_CTX_set_options(native, SSL_OP_NO_RENEGOTIATION);
  // Idle connections give their record buffers back to OpenSSL (see docs/security.md, memory).
  SSL_CTX_set_mode(native, SSL_MODE_RELEASE_BUFFERS);
  boost::system::error_code ec;
  if (ctx->use_certificate_chain_file(t.cert_file, ec); ec) {
    detail = "cert_file " + t.cert_file + ": not a usable PEM certificate (OpenSSL: " + ec.message() + ")";
    return invalid;
  }
  if (ctx->use_private_key_file(t.key_file, ssl::context::pem, ec); ec) {
    detail = "key_file " + t.key_file + ": not a usable PEM private key for the certificate (OpenSSL: " + ec.message() + ")";
    return invalid;
  }
  if (SSL_CTX_check_private_key(native) != 1) {
    detail = "key_file " + t.key_file + " does not match cert_file " + t.cert_file;
    return invalid;
  }
  if (!t.ca_file.empty()) {
    if (ctx->load_verify_file(t.ca_file, ec); ec) {
      detail = "ca_file " + t.ca_file + ": not a usable PEM CA bundle (OpenSSL: " + ec.message() + ")";
      return invalid;
    }
    // The CA names the server sends in its CertificateRequest.
    if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(t.ca_file.c_str()))
      SSL_CTX_set_client_CA_list(native, names);
  }
  if (!t.crl_file.empty()) {
    if (t.ca_file.empty()) {
      detail = "crl_file needs ca_file (the CA whose client certificates it revokes)";
      return invalid;
    }
    X509_STORE* store = SSL_CTX_get_cert_store(native);
    X509_LOOKUP* lookup = X509_STORE_add_lookup(store, X509_LOOKUP_file());
    if (lookup == nullptr
        || X509_load_crl_file(lookup, t.crl_file.c_str(), X509_FILETYPE_PEM) <= 0) {
      detail = "crl_file " + t.crl_file + ": not a usable PEM certificate revocation list";
      return invalid;
    }
    // The client's certificate is checked against its issuer's CRL (not the whole chain).
    X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
  }
  if (t.require_client_cert) {
    if (t.ca_file.empty()) {
      detail = "require_client_cert needs ca_file (the CA that signs client certificates)";
      return invalid;
    }
    ctx->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
  } else if (!t.ca_file.empty()) {
    ctx->set_verify_mode(ssl::verify_peer); // a certificate is asked for and checked if sent
  }
  out = std::move(ctx);
  return {};
}

/// The notAfter of the certificate `ctx` serves, Unix seconds; 0 if it cannot be read.
int64_t certificate_not_after(asio::ssl::context& ctx) {
  X509* cert = SSL_CTX_get0_certificate(ctx.native_handle());
  if (cert == nullptr)
    return 0;
  std::tm tm{};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) != 1)
    return 0;
  return static_cast<int64_t>(timegm(&tm));
}

} // namespace

struct server::impl {
  impl(server_options opts, accept_handler h) {
    opts.io_threads = std::max<size_t>(opts.io_threads, 1);
    opts.read_buffer_size = std::max<size_t>(opts.read_buffer_size, 1024);
    state = std::make_shared<detail::server_state>(std::move(opts), std::move(h));
  }

  /// Declared first, destroyed last: owns the io_contexts the acceptor and timer live on.
  std::shared_ptr<detail::server_state> state;
  std::unique_ptr<tcp::acceptor> acceptor;
  std::unique_ptr<asio::steady_timer> retry_timer;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  std::vector<std::thread> threads;
  std::mutex lifecycle_mtx;
  bool started = false;
  bool stopped = false;
  uint16_t bound_port = 0;
  size_t next_context = 0; // acceptor thread only
  std::string error_detail;

  std::error_code start();
  void stop();
  void do_accept();
  /// `Socket`: on the loop's own executor, or (shared_context) on a strand of it: see
  /// loop_executor in server_state.hpp.
  template <class Socket>
  void on_accepted(const boost::system::error_code& ec, Socket socket);
  void run_io_thread(asio::io_context& ctx);
};

std::error_code server::impl::start() {
  std::lock_guard<std::mutex> guard{lifecycle_mtx};
  if (started || stopped)
    return std::make_error_code(std::errc::operation_not_permitted);
  const auto& opts = state->opts;
  if (opts.tls.enabled) {
    std::unique_ptr<asio::ssl::context> ctx;
    if (auto err = make_tls_context(opts.tls, ctx, error_detail))
      return err;
    state->tls_not_after.store(certificate_not_after(*ctx));
    state->set_tls_context(std::move(ctx));
  }
  raise_fd_limit();
  boost::system::error_code ec;
  auto address = asio::ip::make_address(opts.bind, ec);
  if (ec)
    return ec;
  const bool external = !opts.external_contexts.empty();
  const size_t n_contexts = external ? opts.external_contexts.size()
                            : opts.model == io_model::context_per_thread ? opts.io_threads
                                                                         : 1;
  if (external) {
    state->contexts = opts.external_contexts;
  } else {
    // Concurrency hint 1 lets Asio skip some locking when one thread runs a context.
    const int hint = n_contexts == opts.io_threads ? 1 : static_cast<int>(opts.io_threads);
    for (size_t i = 0; i < n_contexts; ++i) {
      state->owned_contexts.push_back(std::make_unique<asio::io_context>(hint));
      state->contexts.push_back(state->owned_contexts.back().get());
    }
  }
  auto& ctx0 = *state->contexts.front();
  // With a shared context the accept handler, the retry timer and stop()'s close could run on
  // different threads: serialize them on a strand.
  asio::any_io_executor accept_ex = ctx0.get_executor();
  if (opts.model == io_model::shared_context && !external)
    accept_ex = asio::make_strand(ctx0);
  acceptor = std::make_unique<tcp::acceptor>(accept_ex);
  tcp::endpoint endpoint{address, opts.port};
  auto fail = [&](const boost::system::error_code& e) -> std::error_code {
    acceptor.reset();
    state->contexts.clear();
    state->owned_contexts.clear();
    return e;
  };
  if (acceptor->open(endpoint.protocol(), ec); ec)
    return fail(ec);
  if (acceptor->set_option(tcp::acceptor::reuse_address(true), ec); ec)
    return fail(ec);
  if (opts.receive_buffer > 0)
    if (acceptor->set_option(asio::socket_base::receive_buffer_size(opts.receive_buffer), ec); ec)
      return fail(ec);
  if (opts.send_buffer > 0)
    if (acceptor->set_option(asio::socket_base::send_buffer_size(opts.send_buffer), ec); ec)
      return fail(ec);
  if (opts.receive_timestamps && !opts.tls.enabled) {
    // The kernel turns packet stamping on in a work item when the first socket of the machine
    // asks for it: asked here, at start, it is on before the first client's bytes come, and
    // stays on while the listener lives (each accepted socket asks again below).
    int on = 1;
    (void) ::setsockopt(acceptor->native_handle(), SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on);
  }
  if (acceptor->bind(endpoint, ec); ec)
    return fail(ec);
  if (acceptor->listen(opts.listen_backlog, ec); ec)
    return fail(ec);
  bound_port = acceptor->local_endpoint(ec).port();
  if (ec)
    return fail(ec);
  retry_timer = std::make_unique<asio::steady_timer>(accept_ex);
  if (!external) {
    for (auto& ctx : state->contexts)
      guards.push_back(asio::make_work_guard(*ctx));
    for (size_t i = 0; i < opts.io_threads; ++i) {
      auto& ctx = *state->contexts[i % n_contexts];
      threads.emplace_back([this, &ctx, n = threads.size()] {
        name_this_thread(std::string{state->opts.tls.enabled ? "amq.tls." : "amq.io."}
                         + std::to_string(n));
        run_io_thread(ctx);
      });
    }
  }
  asio::post(accept_ex, [this] { do_accept(); });
  started = true;
  return {};
}

void server::impl::run_io_thread(asio::io_context& ctx) {
  // The one read buffer of this thread (see connection.hpp: "Read batching and buffer ownership").
  std::vector<uint8_t> read_buffer(state->opts.read_buffer_size);
  detail::set_io_thread_read_buffer(&read_buffer);
  for (;;) {
    try {
      ctx.run();
      break;
    } catch (const std::exception& e) {
      // Receiver exceptions are caught per connection; this is a last line of defence.
      std::fprintf(stderr, "amq.net: exception escaped an I/O handler: %s\n", e.what());
    } catch (...) {
      std::fprintf(stderr, "amq.net: unknown exception escaped an I/O handler\n");
    }
  }
  detail::set_io_thread_read_buffer(nullptr);
}

void server::impl::do_accept() {
  if (!acceptor || !acceptor->is_open())
    return;
  const auto& opts = state->opts;
  auto& ctx = *state->contexts[next_context++ % state->contexts.size()];
  // The accepted socket comes on the executor given here: the loop's, or a strand of it.
  if (opts.model == io_model::context_per_thread || !opts.external_contexts.empty())
    acceptor->async_accept(ctx, [this](const boost::system::error_code& ec,
                                       socket_on<detail::loop_executor> socket) {
      on_accepted(ec, std::move(socket));
    });
  else
    acceptor->async_accept(asio::make_strand(ctx), [this](const boost::system::error_code& ec,
                                                          socket_on<detail::strand_executor> socket) {
      on_accepted(ec, std::move(socket));
    });
}

template <class Socket>
void server::impl::on_accepted(const boost::system::error_code& ec, Socket socket) {
  using executor = typename Socket::executor_type;
  static_assert(std::is_same_v<executor, detail::loop_executor>
                || std::is_same_v<executor, detail::strand_executor>);
  if (ec == asio::error::operation_aborted || !acceptor->is_open())
    return;
  if (ec) {
    state->accept_errors.fetch_add(1, std::memory_order_relaxed);
    // Out of descriptors or memory: the pending connection stays in the backlog; retry shortly
    // instead of spinning on the error.
    retry_timer->expires_after(std::chrono::milliseconds(50));
    retry_timer->async_wait([this](const boost::system::error_code& e) {
      if (!e)
        do_accept();
    });
    return;
  }
  boost::system::error_code ignored;
  const auto& opts = state->opts;
  auto remote = socket.remote_endpoint(ignored);
  if (ignored) { // the peer is already gone
    do_accept();
    return;
  }
  if (opts.tcp_nodelay)
    socket.set_option(tcp::no_delay(true), ignored);
  socket.non_blocking(true, ignored); // reads are read_some after async_wait: must not block
  if (opts.receive_timestamps && !opts.tls.enabled) {
    // Should it fail (it does not on Linux), read_arrival stays 0: the reads' order only.
    int on = 1;
    (void) ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on);
  }
  std::shared_ptr<edge_connection> conn;
  if (opts.tls.enabled)
    conn = std::make_shared<tls_connection<executor>>(state, std::move(socket),
                                                      next_connection_id++, to_peer_string(remote));
  else
    conn = std::make_shared<tcp_connection<executor>>(state, std::move(socket),
                                                      next_connection_id++, to_peer_string(remote));
  {
    std::lock_guard<std::mutex> guard{state->registry_mtx};
    if (!state->stopping) {
      state->enlist_locked(*conn);
      state->accepted.fetch_add(1, std::memory_order_relaxed);
      state->open.fetch_add(1, std::memory_order_relaxed);
      // Posted under the lock so that stop()'s abort is queued after it (the executor is FIFO).
      asio::post(conn->executor(), [st = state, conn] {
        if (conn->done())
          return;
        try {
          st->on_accept(conn);
        } catch (...) {
          conn->abort();
        }
        conn->start();
      });
    } else {
      conn->mark_released(); // never counted
    }
  }
  do_accept();
}

void server::impl::stop() {
  std::lock_guard<std::mutex> guard{lifecycle_mtx};
  if (stopped)
    return;
  stopped = true;
  if (!started)
    return;
  std::vector<std::weak_ptr<connection>> snapshot;
  {
    std::lock_guard<std::mutex> reg_guard{state->registry_mtx};
    state->stopping = true;
    snapshot = state->registered_locked();
  }
  const bool external = !state->opts.external_contexts.empty();
  // External loops keep running: stop() learns that the acceptor's handlers are done (the
  // aborted accept completes before anything posted after the close) and waits for that.
  auto acceptor_closed = std::make_shared<std::promise<void>>();
  auto acceptor_done = acceptor_closed->get_future();
  asio::post(acceptor->get_executor(), [this, external, acceptor_closed] {
    boost::system::error_code ignored;
    acceptor->close(ignored);
    retry_timer->cancel();
    if (external)
      asio::post(acceptor->get_executor(), [acceptor_closed] { acceptor_closed->set_value(); });
    else
      acceptor_closed->set_value();
  });
  for (auto& weak : snapshot)
    if (auto conn = weak.lock()) // every registered connection is an edge_connection
      std::static_pointer_cast<edge_connection>(conn)->abort_with(error::server_stopped);
  if (external) {
    // Every connection's finish() runs on its loop; wait until all of them have (bounded: a loop
    // that no longer runs would otherwise hang the shutdown).
    acceptor_done.wait_for(std::chrono::seconds(10));
    {
      std::unique_lock<std::mutex> lock{state->registry_mtx};
      state->drained.wait_for(lock, std::chrono::seconds(10),
                              [this] { return state->registry == nullptr; });
    }
    if (acceptor_done.wait_for(std::chrono::seconds(0)) == std::future_status::ready) {
      retry_timer.reset();
      acceptor.reset();
    } else {
      // The loop is gone: leak the acceptor rather than touch it from here.
      (void)retry_timer.release();
      (void)acceptor.release();
    }
    return;
  }
  // With the guards gone, each run() returns once its aborted connections' handlers have run.
  guards.clear();
  for (auto& t : threads)
    if (t.joinable())
      t.join();
  threads.clear();
  // Handlers posted by other threads after a context's run() returned (e.g. a pause_reading that
  // raced with the abort) would keep their connection, and so the context, alive in a cycle. Run
  // them here: every connection is finished, so they only see done() and return.
  for (auto& ctx : state->contexts) {
    ctx->restart();
    ctx->poll();
  }
  retry_timer.reset();
  acceptor.reset();
}

// -- server ----------------------------------------------------------------------------------------

server::server(server_options opts, accept_handler h)
  : impl_(std::make_unique<impl>(std::move(opts), std::move(h))) {
}

server::~server() {
  stop();
}

std::error_code server::start() {
  return impl_->start();
}

std::error_code server::reload_tls(std::string& detail) {
  auto& st = *impl_->state;
  if (!st.opts.tls.enabled) {
    detail = "not a TLS listener";
    return std::make_error_code(std::errc::operation_not_supported);
  }
  std::unique_ptr<asio::ssl::context> ctx;
  if (auto err = make_tls_context(st.opts.tls, ctx, detail))
    return err; // the context loaded before stays
  st.tls_not_after.store(certificate_not_after(*ctx));
  st.set_tls_context(std::move(ctx));
  return {};
}

const std::string& server::error_detail() const {
  return impl_->error_detail;
}

uint16_t server::port() const {
  return impl_->bound_port;
}

void server::stop() {
  impl_->stop();
}

int64_t server::tls_certificate_expiry() const {
  return impl_->state->tls_not_after.load(std::memory_order_relaxed);
}

server::stats server::get_stats() const {
  const auto& s = *impl_->state;
  constexpr auto relaxed = std::memory_order_relaxed;
  return {s.accepted.load(relaxed),
          s.closed.load(relaxed),
          s.bytes_in.load(relaxed),
          s.bytes_out.load(relaxed),
          s.reads.load(relaxed),
          s.writes.load(relaxed),
          s.aborted_queue_overflow.load(relaxed),
          s.accept_errors.load(relaxed),
          s.open.load(relaxed)};
}

const server_options& server::options() const {
  return impl_->state->opts;
}

} // namespace amq::net
