#pragma once
/// Private: state shared by the server and its connections. Connections hold it by `shared_ptr`, so
/// the `io_context`s and counters outlive every connection even when the `server` object is gone.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/strand.hpp>

#include "amq/net/server.hpp"

namespace amq::net::detail {

/// The executor of a connection's socket, and so of all its handlers: its loop's own
/// (`io_model::context_per_thread`, external loops), or a strand of the one shared context
/// (`io_model::shared_context`). A concrete type, not `any_io_executor`: the socket is 32 bytes
/// smaller (48), and Asio's ops on it need no work tracking (edge_wait.hpp).
using loop_executor = boost::asio::io_context::executor_type;
using strand_executor = boost::asio::strand<loop_executor>;

/// What the server needs of an accepted connection beyond the public interface; implemented by
/// `tcp_connection` (plain) and `tls_connection` (TLS listener).
class edge_connection : public connection {
public:
  /// On the I/O thread, after the accept handler ran: starts reading (TLS: the handshake first).
  virtual void start() = 0;
  /// Whether `on_closed` has fired (I/O thread only).
  virtual bool done() const noexcept = 0;
  /// Aborts with `reason` (any thread).
  virtual void abort_with(std::error_code reason) = 0;
  /// The server never counted this connection (rejected while stopping).
  virtual void mark_released() noexcept = 0;
  /// The executor all of this connection's handlers run on.
  virtual boost::asio::any_io_executor executor() = 0;
  /// Writes what a `write_gather` holds back for this connection (its flush; any thread).
  virtual void flush_gathered() {
  }

protected:
  using connection::connection;

private:
  friend struct server_state;
  /// Links of the server's list of open connections (server_state::registry), guarded by its
  /// registry_mtx: 16 bytes here instead of a hash-map node and bucket per connection.
  edge_connection* registry_prev_ = nullptr;
  edge_connection* registry_next_ = nullptr;
};

/// The read buffer of the calling I/O thread (set when the thread starts; see connection.hpp). On
/// any other thread (only `stop()` draining leftover handlers) a thread-local fallback of `size`.
std::vector<uint8_t>& io_thread_read_buffer(size_t size);

/// Installs `buf` as the calling thread's read buffer.
void set_io_thread_read_buffer(std::vector<uint8_t>* buf) noexcept;

/// True on a server's I/O thread (between `set_io_thread_read_buffer(buf)` and `(nullptr)`).
bool on_io_thread() noexcept;

/// Sets `connection::read_arrival()` for the calling thread while it hands one read's bytes to
/// a receiver (`on_data`); restores the previous value after.
class arrival_scope {
public:
  explicit arrival_scope(int64_t arrival) noexcept;
  ~arrival_scope();
  arrival_scope(const arrival_scope&) = delete;
  arrival_scope& operator=(const arrival_scope&) = delete;

private:
  int64_t previous_;
};

/// CLOCK_REALTIME now, in nanoseconds since the epoch (the clock of SO_TIMESTAMPNS).
int64_t realtime_ns() noexcept;

/// One non-blocking read of up to `size` bytes from the stream socket `fd` (a `recvmsg`, the
/// syscall Asio's read_some makes). With SO_TIMESTAMPNS set on the socket, `arrival` is the
/// kernel's receive time of the newest byte read (CLOCK_REALTIME ns; a TCP read that spans
/// segments reports the last one's); 0 without it. `ec`: would_block, eof (the peer's FIN) or
/// the system error, as Asio reports them.
size_t read_stamped(int fd, uint8_t* data, size_t size, int64_t& arrival,
                    boost::system::error_code& ec) noexcept;

struct server_state {
  server_state(server_options o, server::accept_handler h)
    : opts(std::move(o)), on_accept(std::move(h)) {
  }

  const server_options opts;
  const server::accept_handler on_accept;

  /// One per I/O thread (context_per_thread) or exactly one (shared_context). Filled by `start`.
  std::vector<boost::asio::io_context*> contexts;
  /// The contexts of the server's own I/O threads (empty with `external_contexts`).
  std::vector<std::unique_ptr<boost::asio::io_context>> owned_contexts;

  /// The TLS listener's context (certificate, key, verification) for new connections; null for
  /// plain TCP. Built by `start`, replaced by `server::reload_tls`; each TLS connection holds
  /// the one it was accepted with.
  std::shared_ptr<boost::asio::ssl::context> tls_context() const {
    std::lock_guard<std::mutex> guard{tls_mtx};
    return tls;
  }
  void set_tls_context(std::shared_ptr<boost::asio::ssl::context> c) {
    std::lock_guard<std::mutex> guard{tls_mtx};
    tls = std::move(c);
  }
  /// The served certificate's notAfter, Unix seconds (0: none); set with the context.
  std::atomic<int64_t> tls_not_after{0};
  mutable std::mutex tls_mtx;
  std::shared_ptr<boost::asio::ssl::context> tls; ///< guarded by tls_mtx

  std::atomic<uint64_t> accepted{0};
  std::atomic<uint64_t> closed{0};
  std::atomic<uint64_t> bytes_in{0};
  std::atomic<uint64_t> bytes_out{0};
  std::atomic<uint64_t> reads{0};
  std::atomic<uint64_t> writes{0};
  std::atomic<uint64_t> aborted_queue_overflow{0};
  std::atomic<uint64_t> accept_errors{0};
  std::atomic<size_t> open{0};

  /// Guards `stopping` and `registry`.
  std::mutex registry_mtx;
  /// Notified when `registry` becomes empty while `stopping` (stop() with external contexts waits).
  std::condition_variable drained;
  bool stopping = false;
  /// Open connections, for `stop()` to abort them: the head of a list linked through the
  /// connections themselves (a connection is in it from its accept until `release`).
  edge_connection* registry = nullptr;

  /// Under registry_mtx: a new connection is open.
  void enlist_locked(edge_connection& c) noexcept {
    c.registry_prev_ = nullptr;
    c.registry_next_ = registry;
    if (registry != nullptr)
      registry->registry_prev_ = &c;
    registry = &c;
  }

  /// Under registry_mtx: the open connections, weakly (one may be in its destructor, before its
  /// `release`: then it is expired).
  std::vector<std::weak_ptr<connection>> registered_locked() const {
    std::vector<std::weak_ptr<connection>> out;
    for (edge_connection* c = registry; c != nullptr; c = c->registry_next_)
      out.push_back(c->weak_from_this());
    return out;
  }

  /// A connection is gone (from `finish`, or its destructor if it never finished): unregisters it
  /// and counts it closed. Once per enlisted connection.
  void release(edge_connection& c) {
    std::lock_guard<std::mutex> guard{registry_mtx};
    if (c.registry_prev_ != nullptr)
      c.registry_prev_->registry_next_ = c.registry_next_;
    else if (registry == &c)
      registry = c.registry_next_;
    if (c.registry_next_ != nullptr)
      c.registry_next_->registry_prev_ = c.registry_prev_;
    c.registry_prev_ = c.registry_next_ = nullptr;
    closed.fetch_add(1, std::memory_order_relaxed);
    open.fetch_sub(1, std::memory_order_relaxed);
    if (stopping && registry == nullptr)
      drained.notify_all(); // after the counters: stop() returns with them final
  }
};

} // namespace amq::net::detail
