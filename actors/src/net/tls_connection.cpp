// The TLS connection. Design: amq/net/connection.hpp and tls_connection.hpp.
#include "tls_connection.hpp"

#include <sys/ioctl.h>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/write.hpp>

#include "tcp_connection.hpp" // to_close_reason

namespace amq::net::detail {

namespace asio = boost::asio;

namespace {

bool would_block(const boost::system::error_code& ec) {
  return ec == asio::error::would_block || ec == asio::error::try_again;
}

/// A peer that closes the TCP connection without close_notify (most MQTT clients) is a normal
/// close here, as for plain TCP: MQTT frames its own messages, so truncation cannot go unnoticed.
std::error_code to_tls_close_reason(const boost::system::error_code& ec) {
  if (ec == asio::ssl::error::stream_truncated)
    return error::peer_closed;
  return to_close_reason(ec);
}

} // namespace

std::error_code tls_connection::close_reason(const boost::system::error_code& ec) {
  return to_tls_close_reason(ec);
}

tls_connection::tls_connection(std::shared_ptr<server_state> state, socket_type socket, uint64_t id,
                               std::string peer)
  : basic_edge_connection(std::move(state), id, std::move(peer)),
    context_(state_->tls_context()), stream_(std::move(socket), *context_) {
}

tls_connection::~tls_connection() {
  if (!released_)
    state_->release(id());
}

// -- I/O thread: handshake ---------------------------------------------------------------------------

void tls_connection::start() {
  started_ = true;
  if (done_)
    return;
  timer_ = std::make_unique<asio::steady_timer>(executor());
  timer_->expires_after(state_->opts.tls.handshake_timeout);
  timer_->async_wait([self = self()](const boost::system::error_code& ec) {
    if (ec || self->done_ || self->handshake_done_)
      return;
    {
      std::lock_guard<std::mutex> guard{self->mtx_};
      self->phase_.store(phase::closed);
    }
    self->finish(error::tls_handshake_timeout, true);
  });
  stream_.async_handshake(asio::ssl::stream_base::server,
                          [self = self()](const boost::system::error_code& ec) { self->on_handshake(ec); });
}

void tls_connection::on_handshake(const boost::system::error_code& ec) {
  if (done_)
    return;
  if (ec) {
    {
      std::lock_guard<std::mutex> guard{mtx_};
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
  if (phase_.load() == phase::closing) {
    maybe_linger();
    return;
  }
  if (write_deferred_) {
    write_deferred_ = false;
    start_write();
  }
  if (!done_ && !paused_ && phase_.load() == phase::open && current_receiver())
    arm_read();
}

// -- I/O thread: reading -----------------------------------------------------------------------------

void tls_connection::arm_read() {
  if (reading_ || done_ || !handshake_done_ || lingering_)
    return;
  reading_ = true;
  if (drained_)
    socket().async_wait(socket_type::wait_read,
                        [self = self()](const boost::system::error_code& ec) { self->on_readable(ec); });
  else // OpenSSL may hold input the kernel no longer signals
    asio::post(executor(), [self = self()] { self->on_readable({}); });
}

void tls_connection::on_readable(const boost::system::error_code& ec) {
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
  const connection_ptr me = shared_from_this();
  for (int i = 0; i < max_reads_per_wakeup; ++i) {
    boost::system::error_code rec;
    const size_t n = stream_.read_some(asio::buffer(buf), rec);
    if (would_block(rec)) {
      drained_ = true;
      break;
    }
    if (rec) {
      finish(to_tls_close_reason(rec), false);
      return;
    }
    drained_ = false;
    if (n == 0)
      continue;
    state_->reads.fetch_add(1, std::memory_order_relaxed);
    state_->bytes_in.fetch_add(n, std::memory_order_relaxed);
    notify([&](connection_receiver& r) { r.on_data(me, std::span<const uint8_t>{buf.data(), n}); });
    if (done_ || paused_ || phase_.load() != phase::open)
      return;
  }
  arm_read();
}

// -- I/O thread: closing -----------------------------------------------------------------------------

void tls_connection::begin_linger() {
  lingering_ = true;
  timer_ = std::make_unique<asio::steady_timer>(executor());
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
  stream_.async_shutdown([self = self()](const boost::system::error_code&) { self->finish({}, false); });
}

} // namespace amq::net::detail
