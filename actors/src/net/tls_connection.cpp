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

tls_connection::tls_connection(std::shared_ptr<server_state> state, socket_type socket, uint64_t id,
                               std::string peer)
  : edge_connection(id, std::move(peer)), state_(std::move(state)),
    stream_(std::move(socket), *state_->tls) {
}

tls_connection::~tls_connection() {
  if (!released_)
    state_->release(id());
}

// -- thread-safe API ---------------------------------------------------------------------------------

void tls_connection::set_receiver(std::shared_ptr<connection_receiver> r) {
  bool first = false;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (receiver_final_)
      return;
    first = !receiver_ && r;
    receiver_ = std::move(r);
    receiver_changed_.store(true, std::memory_order_release);
  }
  if (first)
    asio::post(executor(), [self = self()] {
      if (self->started_ && !self->paused_ && !self->done_ && self->phase_.load() == phase::open)
        self->arm_read();
    });
}

bool tls_connection::send(std::vector<uint8_t> bytes) {
  const size_t n = bytes.size();
  const auto& opts = state_->opts;
  bool schedule = false;
  bool overflow = false;
  bool ok = true;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (phase_.load(std::memory_order_relaxed) != phase::open)
      return false;
    if (n == 0)
      return queued_.load(std::memory_order_relaxed) <= opts.write_high_watermark;
    if (!pending_.empty() && n < coalesce_below && pending_.back().size() + n <= coalesce_limit)
      pending_.back().insert(pending_.back().end(), bytes.begin(), bytes.end());
    else
      pending_.push_back(std::move(bytes));
    const size_t queued = queued_.fetch_add(n, std::memory_order_relaxed) + n;
    if (queued > opts.max_write_queue) {
      overflow = true;
      phase_.store(phase::closed);
    } else {
      if (!write_scheduled_) {
        write_scheduled_ = true;
        schedule = true;
      }
      if (queued > opts.write_high_watermark) {
        above_watermark_ = true;
        ok = false;
      }
    }
  }
  if (overflow) {
    state_->aborted_queue_overflow.fetch_add(1, std::memory_order_relaxed);
    asio::post(executor(), [self = self()] { self->finish(error::write_queue_overflow, true); });
    return false;
  }
  if (schedule)
    asio::post(executor(), [self = self()] { self->start_write(); });
  return ok;
}

void tls_connection::pause_reading() {
  if (phase_.load() == phase::closed)
    return;
  asio::dispatch(executor(), [self = self()] { self->paused_ = true; });
}

void tls_connection::resume_reading() {
  if (phase_.load() == phase::closed)
    return;
  asio::dispatch(executor(), [self = self()] {
    self->paused_ = false;
    if (self->started_ && !self->done_ && self->phase_.load() == phase::open && self->current_receiver())
      self->arm_read();
  });
}

void tls_connection::close() {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (phase_.load(std::memory_order_relaxed) != phase::open)
      return;
    phase_.store(phase::closing);
  }
  asio::post(executor(), [self = self()] { self->maybe_linger(); });
}

void tls_connection::abort() {
  abort_with(error::aborted);
}

void tls_connection::abort_with(std::error_code reason) {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (phase_.load(std::memory_order_relaxed) == phase::closed)
      return;
    phase_.store(phase::closed);
  }
  asio::post(executor(), [self = self(), reason] { self->finish(reason, true); });
}

size_t tls_connection::queued_bytes() const noexcept {
  return queued_.load(std::memory_order_relaxed);
}

size_t tls_connection::readable_bytes() const noexcept {
  // Encrypted bytes the kernel holds (OpenSSL's buffered input is not asked: its SSL object is
  // the I/O thread's). Enough for the keep-alive check: a waiting PINGREQ shows up here.
  std::lock_guard<std::mutex> guard{mtx_};
  if (phase_.load(std::memory_order_relaxed) == phase::closed)
    return 0;
  int n = 0;
  auto& sock = const_cast<stream_type&>(stream_).next_layer();
  if (::ioctl(sock.native_handle(), FIONREAD, &n) != 0 || n < 0)
    return 0;
  return static_cast<size_t>(n);
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

// -- I/O thread: writing -----------------------------------------------------------------------------

void tls_connection::start_write() {
  if (done_)
    return;
  if (!handshake_done_) {
    write_deferred_ = true; // on_handshake comes back here; write_scheduled_ stays set
    return;
  }
  {
    std::lock_guard<std::mutex> guard{mtx_};
    inflight_.swap(pending_);
  }
  if (inflight_.empty()) {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      write_scheduled_ = false;
    }
    maybe_linger();
    return;
  }
  iov_.clear();
  iov_.reserve(inflight_.size());
  for (const auto& b : inflight_)
    iov_.emplace_back(b.data(), b.size());
  asio::async_write(stream_, std::span<const asio::const_buffer>{iov_},
                    [self = self()](const boost::system::error_code& ec, size_t n) {
                      self->on_written(ec, n);
                    });
}

void tls_connection::on_written(const boost::system::error_code& ec, size_t n) {
  inflight_ = {};
  iov_ = {};
  if (done_)
    return;
  if (ec) {
    finish(to_tls_close_reason(ec), false);
    return;
  }
  state_->writes.fetch_add(1, std::memory_order_relaxed);
  state_->bytes_out.fetch_add(n, std::memory_order_relaxed);
  bool more = false;
  bool writable = false;
  bool linger = false;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    const size_t queued = queued_.fetch_sub(n, std::memory_order_relaxed) - n;
    if (above_watermark_ && queued <= state_->opts.write_high_watermark / 2) {
      above_watermark_ = false;
      writable = true;
    }
    more = !pending_.empty();
    if (!more) {
      write_scheduled_ = false;
      linger = phase_.load(std::memory_order_relaxed) == phase::closing;
    }
  }
  if (writable) {
    const connection_ptr me = shared_from_this();
    notify([&](connection_receiver& r) { r.on_writable(me); });
  }
  if (done_)
    return;
  if (more)
    start_write();
  else if (linger)
    maybe_linger();
}

// -- I/O thread: closing -----------------------------------------------------------------------------

void tls_connection::maybe_linger() {
  if (done_ || lingering_ || phase_.load() != phase::closing)
    return;
  if (!handshake_done_) { // nothing was written; nothing to flush or shut down
    finish({}, false);
    return;
  }
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (write_scheduled_)
      return; // on_written comes back here once the queue is flushed
  }
  begin_shutdown();
}

void tls_connection::begin_shutdown() {
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

void tls_connection::finish(std::error_code reason, bool rst) {
  if (done_)
    return;
  done_ = true;
  std::vector<std::vector<uint8_t>> dropped;
  std::shared_ptr<connection_receiver> r;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    phase_.store(phase::closed);
    dropped.swap(pending_);
    above_watermark_ = false;
    r = std::move(receiver_);
    receiver_final_ = true;
  }
  receiver_cache_.reset();
  queued_.store(0, std::memory_order_relaxed);
  if (timer_)
    timer_->cancel();
  boost::system::error_code ignored;
  if (rst)
    socket().set_option(asio::socket_base::linger{true, 0}, ignored);
  socket().close(ignored); // completes pending operations with operation_aborted
  if (!released_) {
    released_ = true;
    state_->release(id());
  }
  if (r) {
    try {
      r->on_closed(shared_from_this(), reason);
    } catch (...) {
    }
  }
}

std::shared_ptr<connection_receiver> tls_connection::current_receiver() {
  if (receiver_changed_.load(std::memory_order_relaxed)
      && receiver_changed_.exchange(false, std::memory_order_acq_rel)) {
    std::lock_guard<std::mutex> guard{mtx_};
    receiver_cache_ = receiver_;
  }
  return receiver_cache_;
}

template <class F>
void tls_connection::notify(F&& f) {
  auto r = current_receiver();
  if (!r)
    return;
  try {
    f(*r);
  } catch (...) {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      phase_.store(phase::closed);
    }
    finish(error::receiver_failed, true);
  }
}

} // namespace amq::net::detail
