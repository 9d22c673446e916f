#pragma once
/// Private: what `tcp_connection` and `tls_connection` share (design: amq/net/connection.hpp): the
/// thread-safe API (receiver, write queue with coalescing, watermarks and overflow, close/abort
/// bookkeeping), the gather write path over the connection's stream, the lingering-close gate,
/// `finish` and the receiver notification. A CRTP base: `Derived` is the concrete connection and
/// provides, for this class only (befriend it):
///
/// - `socket()`: the TCP socket (`asio::basic_stream_socket<tcp, E>&`, E: loop_executor or
///   strand_executor, server_state.hpp); `stream()`: what to `async_write` to
///   (the socket itself, or the `ssl_stream` over it, tls_connection.hpp).
/// - `arm_read()`: (re)starts reading; `begin_linger()`: the flushed connection's close (FIN and
///   discard, or close_notify), which must end in `finish`.
/// - `stream_ready()`: false while nothing may be written yet (TLS: handshake pending); then
///   `start_write` calls `defer_write()` (the derived class calls `start_write` again later; the
///   write stays scheduled) and `maybe_linger` closes at once (nothing was written).
/// - `close_reason(ec)`: a failed write's close reason (see error.hpp).
/// - `direct_writes` (static constexpr bool): `send` called off the I/O thread may write the
///   bytes itself when nothing is queued or in flight (plain TCP); false: always via the I/O
///   thread (TLS: the stream is the I/O thread's).
///
/// The reading side (start, arm_read, the read loop) is the derived class's.

#include <atomic>
#include <compare>
#include <iterator>
#include <memory>
#include <mutex>
#include <vector>

#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <boost/asio/buffer.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/execution/context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/query.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include "amq/net/connection.hpp"
#include "server_state.hpp"
#include "small_mutex.hpp"

namespace amq::net::detail {

/// A list of byte vectors as an Asio ConstBufferSequence, one `const_buffer` per vector made as
/// the write reaches it: what the connection writes from needs no iovec array of its own (24
/// bytes per connection and an allocation per write). The list must stay unchanged while the
/// write that holds the view runs.
class byte_vectors_view {
public:
  using list = std::vector<std::vector<uint8_t>>;

  class const_iterator {
  public:
    using iterator_category = std::random_access_iterator_tag;
    using value_type = boost::asio::const_buffer;
    using difference_type = std::ptrdiff_t;
    using pointer = void;
    using reference = boost::asio::const_buffer; // made on access (as Asio's own buffer views)

    const_iterator() noexcept = default;
    explicit const_iterator(list::const_iterator it) noexcept : it_(it) {
    }

    reference operator*() const noexcept {
      return {it_->data(), it_->size()};
    }
    reference operator[](difference_type n) const noexcept {
      return *(*this + n);
    }
    const_iterator& operator++() noexcept {
      ++it_;
      return *this;
    }
    const_iterator operator++(int) noexcept {
      auto old = *this;
      ++it_;
      return old;
    }
    const_iterator& operator--() noexcept {
      --it_;
      return *this;
    }
    const_iterator operator--(int) noexcept {
      auto old = *this;
      --it_;
      return old;
    }
    const_iterator& operator+=(difference_type n) noexcept {
      it_ += n;
      return *this;
    }
    const_iterator& operator-=(difference_type n) noexcept {
      it_ -= n;
      return *this;
    }
    friend const_iterator operator+(const_iterator a, difference_type n) noexcept {
      return a += n;
    }
    friend const_iterator operator+(difference_type n, const_iterator a) noexcept {
      return a += n;
    }
    friend const_iterator operator-(const_iterator a, difference_type n) noexcept {
      return a -= n;
    }
    friend difference_type operator-(const const_iterator& a, const const_iterator& b) noexcept {
      return a.it_ - b.it_;
    }
    friend bool operator==(const const_iterator&, const const_iterator&) noexcept = default;
    friend auto operator<=>(const const_iterator&, const const_iterator&) noexcept = default;

  private:
    list::const_iterator it_;
  };

  using value_type = boost::asio::const_buffer;

  explicit byte_vectors_view(const list& l) noexcept : list_(&l) {
  }
  const_iterator begin() const noexcept {
    return const_iterator{list_->begin()};
  }
  const_iterator end() const noexcept {
    return const_iterator{list_->end()};
  }

private:
  const list* list_;
};

template <class Derived>
class basic_edge_connection : public edge_connection {
public:
  // -- connection ----------------------------------------------------------------------------------

  void set_receiver(std::shared_ptr<connection_receiver> r) override {
    bool first = false;
    {
      std::lock_guard<small_mutex> guard{mtx_};
      if (receiver_final_)
        return;
      first = !receiver_ && r;
      receiver_ = std::move(r);
      receiver_changed_.store(true, std::memory_order_release);
    }
    if (first)
      boost::asio::post(io_executor(), [self = self()] {
        if (self->started_ && !self->paused_ && !self->done_ && self->phase_.load() == phase::open)
          self->arm_read();
      });
  }

  const void* loop() const noexcept override {
    // The socket's executor never changes after construction. The identity is the
    // execution_context base (what io_scheduler's worker_of_loop compares with).
    auto ex = const_cast<basic_edge_connection*>(this)->io_executor();
    return static_cast<const boost::asio::execution_context*>(
      &boost::asio::query(ex, boost::asio::execution::context));
  }

  bool send(std::vector<uint8_t> bytes) override {
    size_t n = bytes.size();
    const auto& opts = state_->opts;
    bool schedule = false;
    bool overflow = false;
    bool ok = true;
    write_gather* gather = nullptr;
    {
      std::lock_guard<small_mutex> guard{mtx_};
      if (phase_.load(std::memory_order_relaxed) != phase::open)
        return false;
      if (n == 0)
        return queued_.load(std::memory_order_relaxed) <= opts.write_high_watermark;
      if constexpr (Derived::direct_writes) {
        // Write-through: nothing is queued or being written, so these bytes are next on the
        // wire; the calling (actor) thread writes them itself instead of waking the I/O thread
        // for it (two thread switches less per message on a busy core; what the I/O thread
        // would do is the same one syscall). Not on the I/O thread: sends made during on_data
        // must leave together after the callback. The socket is open: only finish() closes it,
        // after setting phase_ closed under this mutex.
        if (opts.write_through && pending_.empty() && !write_scheduled_ && !on_io_thread()) {
          gather = write_gather::current();
          if (gather != nullptr) {
            // Gathered: the thread's write_gather writes these bytes, with the other
            // connections' it holds, when it flushes (flush_gathered). The write is owned
            // meanwhile (write_scheduled_): later sends append here and schedule nothing.
            write_scheduled_ = true;
            gathered_ = true;
          } else {
            const ssize_t w = ::send(derived().socket().native_handle(), bytes.data(), n,
                                     MSG_DONTWAIT | MSG_NOSIGNAL);
            if (w > 0) {
              state_->writes.fetch_add(1, std::memory_order_relaxed);
              state_->bytes_out.fetch_add(static_cast<size_t>(w), std::memory_order_relaxed);
              if (static_cast<size_t>(w) == n)
                return queued_.load(std::memory_order_relaxed) <= opts.write_high_watermark;
              bytes.erase(bytes.begin(), bytes.begin() + w); // the rest waits for the I/O thread
              n = bytes.size();
            }
            // w <= 0: the socket buffer is full (EAGAIN), or an error, which the I/O thread's
            // write of the same bytes meets and closes the connection with (as before).
          }
        }
      }
      if (!pending_.empty() && n < coalesce_below && pending_.back().size() + n <= coalesce_limit)
        pending_.back().insert(pending_.back().end(), bytes.begin(), bytes.end());
      else
        pending_.push_back(std::move(bytes));
      size_t queued = queued_.fetch_add(n, std::memory_order_relaxed) + n;
      if constexpr (Derived::direct_writes) {
        // A gathered queue that grows past gather_direct_bytes leaves now, as write-through
        // would have sent it: held back until the flush it could pass the watermark and
        // back-pressure a subscriber that is keeping up (QoS 0 drops at max rate).
        if (gathered_ && queued >= std::min(gather_direct_bytes, opts.write_high_watermark / 2)) {
          write_pending_locked();
          queued = queued_.load(std::memory_order_relaxed);
        }
      }
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
      boost::asio::post(io_executor(), [self = self()] { self->finish(error::write_queue_overflow, true); });
      return false;
    }
    if (gather != nullptr) {
      gather->note(self());
      return ok;
    }
    // post, never dispatch: sends made during on_data (and by other threads meanwhile) then leave
    // together in one write after the callback returns.
    if (schedule)
      boost::asio::post(io_executor(), [self = self()] { self->start_write(); });
    return ok;
  }

  /// The write_gather's flush (any thread): writes what is pending with one non-blocking
  /// sendmsg, as write-through would have, and hands whatever is left (the kernel's buffer was
  /// full, or more than one call's worth) to the I/O thread's write path.
  void flush_gathered() override {
    if constexpr (Derived::direct_writes) {
      bool more = false;
      bool writable = false;
      bool linger = false;
      {
        std::lock_guard<small_mutex> guard{mtx_};
        if (phase_.load(std::memory_order_relaxed) == phase::closed)
          return; // finish() dropped the queue
        if (!gathered_)
          return; // not ours (any more)
        gathered_ = false;
        if (!pending_.empty())
          write_pending_locked();
        // Left over: EAGAIN, an error the I/O thread's write meets and closes with, or more than
        // one call's worth.
        settle_locked(writable, more, linger);
      }
      if (more)
        boost::asio::post(io_executor(), [self = self()] { self->start_write(); });
      if (writable)
        boost::asio::post(io_executor(), [self = self()] {
          if (self->done_)
            return;
          const connection_ptr me = self->shared_from_this();
          self->notify([&](connection_receiver& r) { r.on_writable(me); });
        });
      if (linger)
        boost::asio::post(io_executor(), [self = self()] { self->maybe_linger(); });
    }
  }

  /// Under mtx_, after a write: `writable` when the queue fell to half the watermark after a
  /// refused send (on_writable is owed), `more` when bytes still wait, else the write is released
  /// and `linger` tells whether a close waited for it.
  void settle_locked(bool& writable, bool& more, bool& linger) {
    if (above_watermark_
        && queued_.load(std::memory_order_relaxed) <= state_->opts.write_high_watermark / 2) {
      above_watermark_ = false;
      writable = true;
    }
    more = !pending_.empty();
    if (!more) {
      write_scheduled_ = false;
      linger = phase_.load(std::memory_order_relaxed) == phase::closing;
    }
  }

  /// Under mtx_, while the write is the gather's (no async_write in flight): one non-blocking
  /// sendmsg of the front of pending_ (at most max_gather_iov buffers); removes what was written
  /// and counts it. Returns the bytes written (0: EAGAIN or an error, left to the I/O thread).
  size_t write_pending_locked() {
    iovec iov[max_gather_iov];
    size_t count = 0;
    for (auto& b : pending_) {
      if (count == max_gather_iov)
        break;
      iov[count++] = {b.data(), b.size()};
    }
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = count;
    const ssize_t w =
      ::sendmsg(derived().socket().native_handle(), &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (w <= 0)
      return 0;
    state_->writes.fetch_add(1, std::memory_order_relaxed);
    state_->bytes_out.fetch_add(static_cast<size_t>(w), std::memory_order_relaxed);
    auto left = static_cast<size_t>(w);
    size_t done = 0;
    while (done < pending_.size() && left >= pending_[done].size())
      left -= pending_[done++].size();
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<ptrdiff_t>(done));
    if (left > 0)
      pending_.front().erase(pending_.front().begin(),
                             pending_.front().begin() + static_cast<ptrdiff_t>(left));
    queued_.fetch_sub(static_cast<size_t>(w), std::memory_order_relaxed);
    return static_cast<size_t>(w);
  }

  void pause_reading() override {
    if (phase_.load() == phase::closed)
      return;
    boost::asio::dispatch(io_executor(), [self = self()] { self->paused_ = true; });
  }

  void resume_reading() override {
    if (phase_.load() == phase::closed)
      return;
    boost::asio::dispatch(io_executor(), [self = self()] {
      self->paused_ = false;
      if (self->started_ && !self->done_ && self->phase_.load() == phase::open && self->current_receiver())
        self->arm_read();
    });
  }

  void close() override {
    {
      std::lock_guard<small_mutex> guard{mtx_};
      if (phase_.load(std::memory_order_relaxed) != phase::open)
        return;
      phase_.store(phase::closing);
    }
    boost::asio::post(io_executor(), [self = self()] { self->maybe_linger(); });
  }

  void abort() override {
    abort_with(error::aborted);
  }

  size_t queued_bytes() const noexcept override {
    return queued_.load(std::memory_order_relaxed);
  }

  size_t readable_bytes() const noexcept override {
    // Under the mutex: the socket is closed only by finish(), after it set phase_ to closed under
    // this mutex, so the descriptor is still ours here (native_handle() only reads it). TLS: the
    // encrypted bytes the kernel holds (OpenSSL's buffered input is not asked: its SSL object is
    // the I/O thread's); enough for the keep-alive check, a waiting PINGREQ shows up here.
    std::lock_guard<small_mutex> guard{mtx_};
    if (phase_.load(std::memory_order_relaxed) == phase::closed)
      return 0;
    int n = 0;
    auto& sock = const_cast<Derived&>(derived()).socket();
    if (::ioctl(sock.native_handle(), FIONREAD, &n) != 0 || n < 0)
      return 0;
    return static_cast<size_t>(n);
  }

  // -- server side -----------------------------------------------------------------------------------

  /// Whether `on_closed` has fired (I/O thread only).
  bool done() const noexcept override {
    return done_;
  }

  /// Aborts with `reason` (any thread).
  void abort_with(std::error_code reason) override {
    {
      std::lock_guard<small_mutex> guard{mtx_};
      if (phase_.load(std::memory_order_relaxed) == phase::closed)
        return; // finish() ran or is already posted
      phase_.store(phase::closed);
    }
    // post, never dispatch: an abort() from on_data must not call on_closed from inside on_data.
    boost::asio::post(io_executor(), [self = self(), reason] { self->finish(reason, true); });
  }

  /// The executor all of this connection's handlers run on.
  boost::asio::any_io_executor executor() override {
    return io_executor();
  }

  /// The server never counted this connection (rejected while stopping).
  void mark_released() noexcept override {
    released_ = true;
  }

protected:
  enum class phase : uint8_t { open, closing, closed };

  static constexpr size_t coalesce_below = 2048;      // sends smaller than this may be copied ...
  static constexpr size_t coalesce_limit = 64 * 1024; // ... into a tail buffer up to this size
  static constexpr size_t max_gather_iov = 64;         // iovecs per flush_gathered sendmsg
  static constexpr size_t gather_direct_bytes = 16 * 1024; // a gathered queue this big leaves now

  basic_edge_connection(std::shared_ptr<server_state> state, uint64_t id, std::string peer)
    : edge_connection(id, std::move(peer)), state_(std::move(state)) {
  }

  Derived& derived() noexcept {
    return static_cast<Derived&>(*this);
  }

  const Derived& derived() const noexcept {
    return static_cast<const Derived&>(*this);
  }

  std::shared_ptr<Derived> self() {
    return std::static_pointer_cast<Derived>(shared_from_this());
  }

  /// The socket's executor (loop_executor or strand_executor, server_state.hpp).
  auto io_executor() {
    return derived().stream().get_executor();
  }

  // -- I/O thread: writing -----------------------------------------------------------------------------

  void start_write() {
    if (done_)
      return;
    if (!derived().stream_ready()) {
      derived().defer_write(); // the derived class comes back here; write_scheduled_ stays set
      return;
    }
    {
      std::lock_guard<small_mutex> guard{mtx_};
      inflight_.swap(pending_); // inflight_ is empty here: no copy, no allocation
    }
    if (inflight_.empty()) {
      {
        std::lock_guard<small_mutex> guard{mtx_};
        write_scheduled_ = false;
      }
      maybe_linger();
      return;
    }
    // A view over inflight_, which stays as it is until on_written: async_write copies its
    // buffer sequence (a view costs a pointer) and makes the const_buffers as it writes.
    boost::asio::async_write(derived().stream(), byte_vectors_view{inflight_},
                             [self = self()](const boost::system::error_code& ec, size_t n) {
                               self->on_written(ec, n);
                             });
  }

  void on_written(const boost::system::error_code& ec, size_t n) {
    // Release the slot: an idle connection should own no buffers (the next write allocates
    // the small vector again, noise next to its syscall).
    inflight_ = {};
    if (done_)
      return;
    if (ec) {
      finish(derived().close_reason(ec), false);
      return;
    }
    state_->writes.fetch_add(1, std::memory_order_relaxed);
    state_->bytes_out.fetch_add(n, std::memory_order_relaxed);
    bool more = false;
    bool writable = false;
    bool linger = false;
    {
      std::lock_guard<small_mutex> guard{mtx_};
      queued_.fetch_sub(n, std::memory_order_relaxed);
      settle_locked(writable, more, linger);
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

  void maybe_linger() {
    if (done_ || lingering_ || phase_.load() != phase::closing)
      return;
    if (!derived().stream_ready()) {
      // TLS before its handshake completed: nothing was written yet. What was sent meanwhile
      // waits for the handshake (on_handshake starts the write, which comes back here); with
      // nothing sent there is nothing to flush or shut down.
      {
        std::lock_guard<small_mutex> guard{mtx_};
        if (write_scheduled_)
          return;
      }
      finish({}, false);
      return;
    }
    {
      std::lock_guard<small_mutex> guard{mtx_};
      if (write_scheduled_)
        return; // on_written comes back here once the queue is flushed
    }
    derived().begin_linger();
  }

  void finish(std::error_code reason, bool rst) {
    if (done_)
      return;
    done_ = true;
    std::vector<std::vector<uint8_t>> dropped;
    std::shared_ptr<connection_receiver> r;
    {
      std::lock_guard<small_mutex> guard{mtx_};
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
    auto& sock = derived().socket();
    boost::system::error_code ignored;
    if (rst)
      sock.set_option(boost::asio::socket_base::linger{true, 0}, ignored);
    sock.close(ignored); // completes pending operations with operation_aborted
    if (!released_) {
      released_ = true;
      state_->release(*this);
    }
    if (r) {
      try {
        r->on_closed(shared_from_this(), reason);
      } catch (...) {
        // Nothing left to abort; the receiver is gone either way.
      }
    }
  }

  std::shared_ptr<connection_receiver> current_receiver() {
    if (receiver_changed_.load(std::memory_order_relaxed)
        && receiver_changed_.exchange(false, std::memory_order_acq_rel)) {
      std::lock_guard<small_mutex> guard{mtx_};
      receiver_cache_ = receiver_;
    }
    return receiver_cache_;
  }

  template <class F>
  void notify(F&& f) {
    auto r = current_receiver();
    if (!r)
      return; // only after set_receiver(nullptr): the bytes are dropped
    try {
      f(*r);
    } catch (...) {
      {
        std::lock_guard<small_mutex> guard{mtx_};
        phase_.store(phase::closed);
      }
      finish(error::receiver_failed, true);
    }
  }

  /// Declared first: destroyed after the derived class's socket or stream (the server state owns
  /// their io_context and, for TLS, the SSL context).
  std::shared_ptr<server_state> state_;

  // Grouped by who touches them; within a group the one-byte members sit together (after the
  // 4-byte lock), so the connection has no padding holes (its size is per connection).

  // -- any thread, guarded by mtx_ ----------------------------------------------------------------------
  /// 4 bytes, not std::mutex's 40 (small_mutex.hpp); the same critical sections.
  mutable small_mutex mtx_;
  bool write_scheduled_ = false; // a start_write is posted or an async_write is in flight
  bool above_watermark_ = false; // send() returned false; on_writable owed
  bool receiver_final_ = false;  // on_closed delivered: keep no receiver
  bool gathered_ = false;        // the write is a write_gather's (noted, not flushed yet)
  std::vector<std::vector<uint8_t>> pending_;
  std::shared_ptr<connection_receiver> receiver_;

  // -- any thread, atomic ------------------------------------------------------------------------------
  std::atomic<size_t> queued_{0};
  std::atomic<phase> phase_{phase::open}; // written under mtx_
  std::atomic<bool> receiver_changed_{false};

  // -- I/O thread only -----------------------------------------------------------------------------------
  bool started_ = false;
  bool reading_ = false; // a read is pending (see the derived class's arm_read)
  bool paused_ = false;
  bool lingering_ = false;
  bool done_ = false;
  bool released_ = false;
  std::shared_ptr<connection_receiver> receiver_cache_;
  std::vector<std::vector<uint8_t>> inflight_; // being written (async_write over a view of it)
  /// The close linger (TLS: before that, the handshake deadline); null until needed. finish()
  /// cancels it.
  std::unique_ptr<boost::asio::steady_timer> timer_;
};

} // namespace amq::net::detail
