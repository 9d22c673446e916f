// The Boost.Asio connection. Design: amq/net/connection.hpp.
#include "tcp_connection.hpp"

#include <algorithm>

#include <sys/ioctl.h>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

namespace amq::net {

namespace {

class error_category_impl final : public std::error_category {
public:
  const char* name() const noexcept override {
    return "amq.net";
  }

  std::string message(int value) const override {
    switch (static_cast<error>(value)) {
      case error::peer_closed:
        return "peer closed the connection";
      case error::aborted:
        return "connection aborted";
      case error::write_queue_overflow:
        return "write queue above max_write_queue";
      case error::server_stopped:
        return "server stopped";
      case error::receiver_failed:
        return "receiver callback threw";
      case error::tls_handshake_failed:
        return "TLS handshake failed";
      case error::tls_handshake_timeout:
        return "TLS handshake timed out";
    }
    return "unknown amq.net error";
  }
};

} // namespace

const std::error_category& error_category() noexcept {
  static const error_category_impl instance;
  return instance;
}

} // namespace amq::net

namespace amq::net::detail {

namespace asio = boost::asio;

namespace {

thread_local std::vector<uint8_t>* tl_read_buffer = nullptr;

bool would_block(const boost::system::error_code& ec) {
  return ec == asio::error::would_block || ec == asio::error::try_again;
}

} // namespace

std::vector<uint8_t>& io_thread_read_buffer(size_t size) {
  if (tl_read_buffer != nullptr)
    return *tl_read_buffer;
  thread_local std::vector<uint8_t> fallback;
  fallback.resize(size);
  return fallback;
}

void set_io_thread_read_buffer(std::vector<uint8_t>* buf) noexcept {
  tl_read_buffer = buf;
}

std::error_code to_close_reason(const boost::system::error_code& ec) {
  if (ec == asio::error::eof)
    return error::peer_closed;
  if (ec.category() == boost::system::system_category())
    return {ec.value(), std::system_category()};
  return static_cast<std::error_code>(ec);
}

// -- construction ------------------------------------------------------------------------------------

tcp_connection::tcp_connection(std::shared_ptr<server_state> state, socket_type socket, uint64_t id,
                               std::string peer)
  : edge_connection(id, std::move(peer)), state_(std::move(state)), socket_(std::move(socket)) {
}

tcp_connection::~tcp_connection() {
  // Reached without finish() only when nothing was pending (e.g. paused, or no receiver ever set)
  // and every handle was dropped: the socket closes itself; there is no receiver to tell.
  if (!released_)
    state_->release(id());
}

// -- thread-safe API ---------------------------------------------------------------------------------

void tcp_connection::set_receiver(std::shared_ptr<connection_receiver> r) {
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
    asio::post(socket_.get_executor(), [self = self()] {
      if (self->started_ && !self->paused_ && !self->done_ && self->phase_.load() == phase::open)
        self->arm_read();
    });
}

bool tcp_connection::send(std::vector<uint8_t> bytes) {
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
    asio::post(socket_.get_executor(),
               [self = self()] { self->finish(error::write_queue_overflow, true); });
    return false;
  }
  // post, never dispatch: sends made during on_data (and by other threads meanwhile) then leave
  // together in one write after the callback returns.
  if (schedule)
    asio::post(socket_.get_executor(), [self = self()] { self->start_write(); });
  return ok;
}

void tcp_connection::pause_reading() {
  if (phase_.load() == phase::closed)
    return;
  asio::dispatch(socket_.get_executor(), [self = self()] { self->paused_ = true; });
}

void tcp_connection::resume_reading() {
  if (phase_.load() == phase::closed)
    return;
  asio::dispatch(socket_.get_executor(), [self = self()] {
    self->paused_ = false;
    if (self->started_ && !self->done_ && self->phase_.load() == phase::open && self->current_receiver())
      self->arm_read();
  });
}

void tcp_connection::close() {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (phase_.load(std::memory_order_relaxed) != phase::open)
      return;
    phase_.store(phase::closing);
  }
  asio::post(socket_.get_executor(), [self = self()] { self->maybe_linger(); });
}

void tcp_connection::abort() {
  abort_with(error::aborted);
}

void tcp_connection::abort_with(std::error_code reason) {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (phase_.load(std::memory_order_relaxed) == phase::closed)
      return; // finish() ran or is already posted
    phase_.store(phase::closed);
  }
  // post, never dispatch: an abort() from on_data must not call on_closed from inside on_data.
  asio::post(socket_.get_executor(), [self = self(), reason] { self->finish(reason, true); });
}

size_t tcp_connection::queued_bytes() const noexcept {
  return queued_.load(std::memory_order_relaxed);
}

size_t tcp_connection::readable_bytes() const noexcept {
  // Under the mutex: the socket is closed only by finish(), after it set phase_ to closed under
  // this mutex, so the descriptor is still ours here (native_handle() only reads it).
  std::lock_guard<std::mutex> guard{mtx_};
  if (phase_.load(std::memory_order_relaxed) == phase::closed)
    return 0;
  int n = 0;
  auto& sock = const_cast<socket_type&>(socket_);
  if (::ioctl(sock.native_handle(), FIONREAD, &n) != 0 || n < 0)
    return 0;
  return static_cast<size_t>(n);
}

// -- I/O thread: reading -----------------------------------------------------------------------------

void tcp_connection::start() {
  started_ = true;
  if (!done_ && !paused_ && phase_.load() == phase::open && current_receiver())
    arm_read();
}

void tcp_connection::arm_read() {
  if (reading_ || done_)
    return;
  reading_ = true;
  socket_.async_wait(socket_type::wait_read,
                     [self = self()](const boost::system::error_code& ec) { self->on_readable(ec); });
}

void tcp_connection::on_readable(const boost::system::error_code& ec) {
  reading_ = false;
  if (done_)
    return;
  if (ec) {
    if (ec != asio::error::operation_aborted)
      finish(to_close_reason(ec), false);
    return;
  }
  if (lingering_) {
    discard_input();
    return;
  }
  if (paused_ || phase_.load() != phase::open)
    return;
  auto& buf = io_thread_read_buffer(state_->opts.read_buffer_size);
  const connection_ptr me = shared_from_this();
  for (int i = 0; i < max_reads_per_wakeup; ++i) {
    boost::system::error_code rec;
    const size_t n = socket_.read_some(asio::buffer(buf), rec);
    if (would_block(rec))
      break;
    if (rec) {
      finish(to_close_reason(rec), false);
      return;
    }
    state_->reads.fetch_add(1, std::memory_order_relaxed);
    state_->bytes_in.fetch_add(n, std::memory_order_relaxed);
    notify([&](connection_receiver& r) { r.on_data(me, std::span<const uint8_t>{buf.data(), n}); });
    if (done_ || paused_ || phase_.load() != phase::open)
      return; // finish, resume_reading or begin_linger re-arm as needed
    if (n < buf.size())
      break; // drained (probably): let the reactor tell us about more
  }
  arm_read();
}

void tcp_connection::discard_input() {
  auto& buf = io_thread_read_buffer(state_->opts.read_buffer_size);
  for (int i = 0; i < 16; ++i) {
    boost::system::error_code rec;
    socket_.read_some(asio::buffer(buf), rec);
    if (would_block(rec))
      break;
    if (rec) { // the peer's EOF we waited for, or an error: either way we are done
      finish({}, false);
      return;
    }
  }
  arm_read();
}

// -- I/O thread: writing -----------------------------------------------------------------------------

void tcp_connection::start_write() {
  if (done_)
    return;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    inflight_.swap(pending_); // inflight_ is empty here: no copy, no allocation
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
  // A span, not the vector: async_write copies its buffer sequence, and copying a span is free.
  asio::async_write(socket_, std::span<const asio::const_buffer>{iov_},
                    [self = self()](const boost::system::error_code& ec, size_t n) {
                      self->on_written(ec, n);
                    });
}

void tcp_connection::on_written(const boost::system::error_code& ec, size_t n) {
  // Release the slots: an idle connection should own no buffers (the next
  // write allocates two small vectors again, noise next to its syscall).
  inflight_ = {};
  iov_ = {};
  if (done_)
    return;
  if (ec) {
    finish(to_close_reason(ec), false);
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

void tcp_connection::maybe_linger() {
  if (done_ || lingering_ || phase_.load() != phase::closing)
    return;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (write_scheduled_)
      return; // on_written comes back here once the queue is flushed
  }
  begin_linger();
}

void tcp_connection::begin_linger() {
  lingering_ = true;
  boost::system::error_code ignored;
  socket_.shutdown(socket_type::shutdown_send, ignored); // FIN after the flushed bytes
  linger_timer_ = std::make_unique<asio::steady_timer>(socket_.get_executor());
  linger_timer_->expires_after(state_->opts.close_linger);
  linger_timer_->async_wait([self = self()](const boost::system::error_code& ec) {
    if (!ec)
      self->finish({}, false);
  });
  arm_read(); // even when paused: we read to discard until the peer's EOF
}

void tcp_connection::finish(std::error_code reason, bool rst) {
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
  if (linger_timer_)
    linger_timer_->cancel();
  boost::system::error_code ignored;
  if (rst)
    socket_.set_option(asio::socket_base::linger{true, 0}, ignored);
  socket_.close(ignored); // completes pending operations with operation_aborted
  if (!released_) {
    released_ = true;
    state_->release(id());
  }
  if (r) {
    try {
      r->on_closed(shared_from_this(), reason);
    } catch (...) {
      // Nothing left to abort; the receiver is gone either way.
    }
  }
}

std::shared_ptr<connection_receiver> tcp_connection::current_receiver() {
  if (receiver_changed_.load(std::memory_order_relaxed)
      && receiver_changed_.exchange(false, std::memory_order_acq_rel)) {
    std::lock_guard<std::mutex> guard{mtx_};
    receiver_cache_ = receiver_;
  }
  return receiver_cache_;
}

template <class F>
void tcp_connection::notify(F&& f) {
  auto r = current_receiver();
  if (!r)
    return; // only after set_receiver(nullptr): the bytes are dropped
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
