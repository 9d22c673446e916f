// The TLS connection. Design: amq/net/connection.hpp and tls_connection.hpp.
#include "tls_connection.hpp"

#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cerrno>
#include <climits>
#include <cstdint>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/write.hpp>

#include <openssl/err.h>

#include "tcp_connection.hpp" // to_close_reason

namespace amq::net::detail {

namespace asio = boost::asio;

namespace {

/// A peer that closes the TCP connection without close_notify (most MQTT clients) is a normal
/// close here, as for plain TCP: MQTT frames its own messages, so truncation cannot go unnoticed.
std::error_code to_tls_close_reason(const boost::system::error_code& ec) {
  if (ec == asio::ssl::error::stream_truncated)
    return error::peer_closed;
  return to_close_reason(ec);
}

} // namespace

template <class Executor>
std::error_code tls_connection<Executor>::close_reason(const boost::system::error_code& ec) {
  return to_tls_close_reason(ec);
}

boost::system::error_code ssl_result(SSL* ssl, int ret, int& want) {
  want = 0;
  const int e = SSL_get_error(ssl, ret);
  switch (e) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
      want = e;
      return asio::error::would_block;
    case SSL_ERROR_ZERO_RETURN: // the peer's close_notify
      return asio::error::eof;
    case SSL_ERROR_SYSCALL: {
      const unsigned long err = ERR_get_error();
      if (err != 0)
        return {static_cast<int>(err), asio::error::get_ssl_category()};
      if (ret == 0 || errno == 0)
        return asio::error::eof; // TCP close
      return {errno, boost::system::system_category()};
    }
    default: {
      const unsigned long err = ERR_get_error();
      if (ERR_GET_REASON(err) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
        return asio::ssl::error::stream_truncated;
      if (err == 0)
        return asio::error::fault;
      return {static_cast<int>(err), asio::error::get_ssl_category()};
    }
  }
}

namespace {

// OpenSSL's socket BIO writes with plain send()/write(): a write to a peer that reset the
// connection raises SIGPIPE, which kills the process. This BIO is the same with MSG_NOSIGNAL.
int fd_of(BIO* b) {
  return static_cast<int>(reinterpret_cast<intptr_t>(BIO_get_data(b)));
}

int bio_write(BIO* b, const char* in, int len) {
  BIO_clear_retry_flags(b);
  const ssize_t n = ::send(fd_of(b), in, static_cast<size_t>(len), MSG_NOSIGNAL | MSG_DONTWAIT);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
      BIO_set_retry_write(b);
    return -1;
  }
  return static_cast<int>(n);
}

int bio_read(BIO* b, char* out, int len) {
  BIO_clear_retry_flags(b);
  const ssize_t n = ::recv(fd_of(b), out, static_cast<size_t>(len), MSG_DONTWAIT);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
      BIO_set_retry_read(b);
    return -1;
  }
  return static_cast<int>(n); // 0: the peer's FIN
}

long bio_ctrl(BIO* b, int cmd, long, void* ptr) {
  switch (cmd) {
    case BIO_CTRL_FLUSH:
      return 1;
    case BIO_C_GET_FD:
      if (ptr != nullptr)
        *static_cast<int*>(ptr) = fd_of(b);
      return fd_of(b);
    default:
      return 0;
  }
}

BIO_METHOD* socket_bio_method() {
  static BIO_METHOD* method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR,
                                 "amq socket");
    BIO_meth_set_write(m, bio_write);
    BIO_meth_set_read(m, bio_read);
    BIO_meth_set_ctrl(m, bio_ctrl);
    BIO_meth_set_create(m, [](BIO* b) {
      BIO_set_init(b, 1);
      return 1;
    });
    BIO_meth_set_destroy(m, [](BIO*) { return 1; }); // the socket is the connection's to close
    return m;
  }();
  return method;
}

SSL* new_ssl(const std::shared_ptr<asio::ssl::context>& ctx) {
  SSL* ssl = SSL_new(ctx->native_handle());
  if (ssl == nullptr)
    throw std::bad_alloc{};
  SSL_set_accept_state(ssl);
  // One recv per wake (not one for a record's header and one for its body); partial writes of
  // a buffer, retried with the same bytes from wherever they are.
  SSL_set_read_ahead(ssl, 1);
  SSL_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER
                      | SSL_MODE_RELEASE_BUFFERS);
  return ssl;
}

} // namespace

template <class Executor>
tls_connection<Executor>::tls_connection(std::shared_ptr<server_state> state, socket_type socket,
                                         uint64_t id, std::string peer)
  : base(std::move(state), id, std::move(peer)),
    context_(state_->tls_context()),
    stream_(std::move(socket), new_ssl(context_)) {
  BIO* bio = BIO_new(socket_bio_method());
  if (bio == nullptr)
    throw std::bad_alloc{};
  BIO_set_data(bio, reinterpret_cast<void*>(static_cast<intptr_t>(stream_.socket().native_handle())));
  SSL_set_bio(stream_.ssl(), bio, bio); // one reference, owned by the SSL object
}

template <class Executor>
tls_connection<Executor>::~tls_connection() {
  if (!released_)
    state_->release(*this);
}

// -- I/O thread: handshake ---------------------------------------------------------------------------

template <class Executor>
void tls_connection<Executor>::start() {
  started_ = true;
  if (done_)
    return;
  timer_ = std::make_unique<asio::steady_timer>(this->io_executor());
  timer_->expires_after(state_->opts.tls.handshake_timeout);
  timer_->async_wait([self = self()](const boost::system::error_code& ec) {
    if (ec || self->done_ || self->handshake_done_)
      return;
    {
      std::lock_guard<small_mutex> guard{self->mtx_};
      self->phase_.store(phase::closed);
    }
    self->finish(error::tls_handshake_timeout, true);
  });
  do_handshake();
}

template <class Executor>
void tls_connection<Executor>::do_handshake() {
  if (done_ || handshake_done_)
    return;
  ERR_clear_error();
  const int r = SSL_do_handshake(stream_.ssl());
  if (r == 1) {
    on_handshake({});
    return;
  }
  int want = 0;
  auto ec = ssl_result(stream_.ssl(), r, want);
  if (want == 0) {
    on_handshake(ec);
    return;
  }
  socket().async_wait(wait_for(want),
                      [self = self()](const boost::system::error_code& wec) {
                        if (wec) {
                          if (wec != asio::error::operation_aborted)
                            self->on_handshake(wec);
                          return;
                        }
                        self->do_handshake();
                      });
}

template <class Executor>
void tls_connection<Executor>::on_handshake(const boost::system::error_code& ec) {
  if (done_)
    return;
  if (ec) {
    {
      std::lock_guard<small_mutex> guard{mtx_};
      phase_.store(phase::closed);
    }
    finish(ec == asio::error::eof || ec == asio::ssl::error::stream_truncated
               ? std::error_code{error::peer_closed}
               : std::error_code{error::tls_handshake_failed},
           false);
    return;
  }
  handshake_done_ = true;
  timer_.reset(); // cancels the deadline
  if (X509* cert = SSL_get0_peer_certificate(stream_.ssl());
      cert != nullptr && SSL_get_verify_result(stream_.ssl()) == X509_V_OK) {
    char cn[256] = {};
    const int n = X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn,
                                            sizeof(cn));
    if (n > 0)
      peer_cn_.assign(cn, static_cast<size_t>(n));
  }
  // What was sent before the handshake completed goes out first, also when close() came
  // meanwhile: the close flushes it, then close_notify (on_written -> maybe_linger). Checking
  // for closing first left the write unstarted and the connection waiting for it until the
  // server stopped (the client saw a reset and none of its data).
  if (write_deferred_) {
    write_deferred_ = false;
    start_write();
  }
  if (phase_.load() == phase::closing) {
    maybe_linger();
    return;
  }
  if (!done_ && !paused_ && phase_.load() == phase::open && current_receiver())
    arm_read();
}

// -- I/O thread: reading -----------------------------------------------------------------------------

template <class Executor>
void tls_connection<Executor>::arm_read() {
  if (reading_ || done_ || !handshake_done_ || lingering_)
    return;
  reading_ = true;
  if (drained_)
    socket().async_wait(socket_type::wait_read,
                        [self = self()](const boost::system::error_code& ec) { self->on_readable(ec); });
  else // OpenSSL may hold input the kernel no longer signals
    asio::post(this->io_executor(), [self = self()] { self->on_readable({}); });
}

template <class Executor>
void tls_connection<Executor>::on_readable(const boost::system::error_code& ec) {
  reading_ = false;
  if (done_ || lingering_)
    return;
  if (ec) {
    if (ec != asio::error::operation_aborted)
      finish(to_close_reason(ec), false);
    return;
  }
  if (paused_ || phase_.load() != phase::open)
    return;
  auto& buf = io_thread_read_buffer(state_->opts.read_buffer_size);
  const connection_ptr me = this->shared_from_this();
  for (int i = 0; i < max_reads_per_wakeup; ++i) {
    ERR_clear_error();
    const int r = SSL_read(stream_.ssl(), buf.data(), static_cast<int>(std::min<size_t>(buf.size(), INT_MAX)));
    if (r <= 0) {
      int want = 0;
      auto rec = ssl_result(stream_.ssl(), r, want);
      if (want != 0) {
        // Wants more input (or, rarely, to write first: readiness to read retries either way).
        drained_ = true;
        break;
      }
      finish(to_tls_close_reason(rec), false);
      return;
    }
    drained_ = false;
    const auto n = static_cast<size_t>(r);
    state_->reads.fetch_add(1, std::memory_order_relaxed);
    state_->bytes_in.fetch_add(n, std::memory_order_relaxed);
    // The kernel's stamp of the TCP segments is not reachable through OpenSSL's read: the time
    // of the read stands in (later than the arrival, never earlier).
    arrival_scope stamp{state_->opts.receive_timestamps ? realtime_ns() : 0};
    notify([&](connection_receiver& r) { r.on_data(me, std::span<const uint8_t>{buf.data(), n}); });
    if (done_ || paused_ || phase_.load() != phase::open)
      return;
  }
  arm_read();
}

// -- I/O thread: closing -----------------------------------------------------------------------------

template <class Executor>
void tls_connection<Executor>::begin_linger() {
  lingering_ = true;
  timer_ = std::make_unique<asio::steady_timer>(this->io_executor());
  timer_->expires_after(state_->opts.close_linger);
  timer_->async_wait([self = self()](const boost::system::error_code& ec) {
    if (!ec)
      self->finish({}, false);
  });
  // A pending readiness wait would read alongside the shutdown: cancel it (its handler sees
  // lingering_ and returns). Nothing else is pending: the queue is flushed.
  boost::system::error_code ignored;
  if (reading_)
    socket().cancel(ignored);
  // close_notify, then wait for the peer's close_notify or EOF; whatever comes, we are done.
  do_shutdown();
}

template <class Executor>
void tls_connection<Executor>::do_shutdown() {
  if (done_)
    return;
  ERR_clear_error();
  int r = SSL_shutdown(stream_.ssl());
  if (r == 0) {
    // Our close_notify is out; the peer's is awaited (its application data, if any, discarded).
    ERR_clear_error();
    r = SSL_shutdown(stream_.ssl());
  }
  if (r == 1) {
    finish({}, false);
    return;
  }
  int want = 0;
  (void)ssl_result(stream_.ssl(), r, want);
  if (want == 0) {
    // The peer closed, or sent something OpenSSL refuses after close_notify: done either way.
    finish({}, false);
    return;
  }
  socket().async_wait(wait_for(want),
                      [self = self()](const boost::system::error_code& wec) {
                        if (wec)
                          return; // closed meanwhile (finish ran), or the linger timer
                        self->do_shutdown();
                      });
}

template class tls_connection<loop_executor>;
template class tls_connection<strand_executor>;

} // namespace amq::net::detail
