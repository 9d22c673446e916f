#pragma once
/// The network edge's TCP server: accepts connections and runs their I/O on `io_threads` threads.
/// MQTT-agnostic; see connection.hpp for the threading, batching and back-pressure design.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <system_error>

#include "amq/net/connection.hpp"

namespace amq::net {

/// How connections are spread over the I/O threads.
enum class io_model {
  /// One `io_context` per I/O thread; connections assigned round-robin. The default: no strand,
  /// no shared scheduler lock, one epoll set per thread (measured: see the bench summary in
  /// server.cpp).
  context_per_thread,
  /// One `io_context` run by all I/O threads, a strand per connection. Kept for measurement.
  shared_context,
};

/// Configuration of a `server`.
struct server_options {
  /// Address to listen on (IPv4 or IPv6 literal).
  std::string bind = "0.0.0.0";
  /// Port to listen on; 0 picks a free one (see `server::port()`).
  uint16_t port = 1883;
  /// Number of I/O threads (at least 1).
  size_t io_threads = 1;
  /// Size of each I/O thread's shared read buffer: the most one `on_data` call delivers.
  size_t read_buffer_size = 64 * 1024;
  /// Bytes queued for a connection above which `send` reports back-pressure.
  size_t write_high_watermark = 1 << 20;
  /// Hard cap: above it the connection is aborted, counted in `stats::aborted_queue_overflow`.
  size_t max_write_queue = 64 << 20;
  /// `listen()` backlog.
  int listen_backlog = 4096;
  /// Sets TCP_NODELAY on accepted sockets (writes are batched by the edge already).
  bool tcp_nodelay = true;
  /// How long `connection::close()` waits for the peer's EOF after flushing before closing.
  std::chrono::milliseconds close_linger{2000};
  /// Threading model; see `io_model`.
  io_model model = io_model::context_per_thread;
};

/// Accepts TCP connections and drives their I/O. Not copyable or movable.
class server {
public:
  /// Called on the new connection's I/O thread for every accepted connection, before any read; it
  /// must `set_receiver` (now or later: reading starts when a receiver is set).
  using accept_handler = std::function<void(const connection_ptr&)>;

  /// Counters, all monotonic except `open`.
  struct stats {
    uint64_t accepted;
    uint64_t closed;
    uint64_t bytes_in;
    uint64_t bytes_out;
    /// Reads that returned data (= `on_data` calls).
    uint64_t reads;
    /// Completed gather writes (each one `async_write` of everything that was queued).
    uint64_t writes;
    uint64_t aborted_queue_overflow;
    /// Failed `accept` calls (e.g. EMFILE); the server retries.
    uint64_t accept_errors;
    size_t open;
  };

  server(server_options, accept_handler);

  /// Calls `stop()`.
  ~server();

  server(const server&) = delete;
  server& operator=(const server&) = delete;

  /// Binds and listens (SO_REUSEADDR), raises RLIMIT_NOFILE to its hard limit and spawns the I/O
  /// threads. Returns the error (e.g. address in use) instead of throwing; may be called once.
  std::error_code start();

  /// The port actually bound (differs from `options().port` when that was 0); 0 before `start`.
  uint16_t port() const;

  /// Stops accepting, aborts all connections (`error::server_stopped`) and joins the I/O threads.
  /// Idempotent. Must not be called from an I/O thread (it joins them).
  void stop();

  /// A snapshot of the counters.
  stats get_stats() const;

  const server_options& options() const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace amq::net
