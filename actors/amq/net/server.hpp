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
#include <vector>

#include "amq/net/connection.hpp"

namespace boost::asio {
class io_context;
}

namespace amq::net {

/// How connections are spread over the I/O threads.
///
/// Measured with `tests/bench/net_echo_bench` (100 pipelined echo connections, 64-byte messages,
/// load generator in the same process) on the 2-core VM while other builds ran (load average
/// 7-12; the process got 33-87 % of one core). With 2 I/O threads, context_per_thread echoed more
/// than shared_context in the first 5 paired runs (9.59M vs 3.06M, 5.96M vs 4.03M, 5.62M vs 4.33M
/// msg/s with 16 KiB batches; 383k vs 240k, 255k vs 231k with 512-byte batches), one short
/// 20-connection run went the other way (6.0M vs 12.5M), and per CPU-second the two were within
/// noise in the last 4 runs (about 9-12M messages per CPU-second each). So the
/// measurement says "not worse"; the default rests on structure: a connection's handlers never
/// hop threads (no strand dispatch, warm caches), the threads share no scheduler lock or epoll
/// set, and the per-thread read buffer needs no care. The cost: no work stealing, so a busy
/// connection delays the others on its thread. Re-measure on a quiet machine before revisiting.
enum class io_model {
  /// One `io_context` per I/O thread; connections assigned round-robin. The default.
  context_per_thread,
  /// One `io_context` run by all I/O threads, a strand per connection. Kept for measurement.
  shared_context,
};

/// TLS of a listener (`server_options::tls`). A TLS connection keeps the contract of
/// connection.hpp; it costs more memory than a plain one (OpenSSL's SSL object and the Asio TLS
/// stream's two 17 KiB record buffers, see docs/security.md), so the idle budget of a plain
/// connection does not hold for it.
struct tls_options {
  /// Serve TLS on this listener. Everything below is ignored when false.
  bool enabled = false;
  /// PEM server certificate (chain) and private key.
  std::string cert_file;
  std::string key_file;
  /// PEM CA bundle used to verify client certificates (empty: clients are not asked for one).
  std::string ca_file;
  /// Mutual TLS: a client without a certificate signed by `ca_file` fails the handshake.
  bool require_client_cert = false;
  /// PEM certificate revocation lists for client certificates (needs `ca_file`): a revoked
  /// certificate fails the handshake. Must hold a CRL of every CA that issues client
  /// certificates (a certificate whose issuer has none fails too).
  std::string crl_file;
  /// Lowest protocol version accepted: "tls1.2" or "tls1.3".
  std::string min_version = "tls1.2";
  /// TLS 1.2 cipher list and TLS 1.3 cipher suites in OpenSSL's syntax; empty: OpenSSL's defaults.
  std::string ciphers;
  std::string ciphersuites;
  /// A connection whose handshake has not completed by then is closed
  /// (`error::tls_handshake_timeout`).
  std::chrono::milliseconds handshake_timeout{10000};
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
  /// Records when each read's bytes arrived (`connection::read_arrival`): SO_TIMESTAMPNS on
  /// plain TCP sockets (the kernel stamps every received packet; one clock read each), the read's
  /// time on TLS. False: `read_arrival` is 0.
  bool receive_timestamps = false;
  /// Plain TCP: a `send` from a thread other than an I/O thread writes to the socket itself when
  /// nothing is queued or in flight (connection.hpp, "Write-through"). False: every write is the
  /// I/O thread's (all sends meanwhile gather into one). TLS listeners ignore it (never).
  bool write_through = true;
  /// Event loops someone else runs (actormq: the CAF workers, `runtime.io_threads: 0`; see
  /// amq/actors/io_scheduler.hpp). Non-empty: the server starts no I/O thread and ignores
  /// `io_threads` and `model`; connections are spread over these contexts round-robin, the
  /// acceptor lives on the first. They must outlive the server and keep running until `stop()`
  /// returns; whoever runs a handler of theirs must hold an `io_thread_scope`.
  std::vector<boost::asio::io_context*> external_contexts;
  /// SO_RCVBUF / SO_SNDBUF of the listening socket, inherited by accepted ones (before the
  /// handshake, so the window scale fits); 0 keeps the kernel's default with autotuning.
  int receive_buffer = 0;
  int send_buffer = 0;
  /// How long `connection::close()` waits for the peer's EOF after flushing before closing.
  std::chrono::milliseconds close_linger{2000};
  /// Threading model; see `io_model`.
  io_model model = io_model::context_per_thread;
  /// TLS (disabled: plain TCP).
  tls_options tls;
};

/// Marks the calling thread, while alive, as one that runs the edge's I/O handlers (a thread of
/// `server_options::external_contexts`): reads go to `read_buffer` (at least
/// `server_options::read_buffer_size` bytes, owned by the caller and reused) and sends made
/// there never write through (connection.hpp). Scopes nest; the outer one is restored.
class io_thread_scope {
public:
  explicit io_thread_scope(std::vector<uint8_t>& read_buffer) noexcept;
  ~io_thread_scope();
  io_thread_scope(const io_thread_scope&) = delete;
  io_thread_scope& operator=(const io_thread_scope&) = delete;

private:
  std::vector<uint8_t>* previous_;
};

/// Marks the calling thread, while alive, as one that does not run the edge's I/O handlers,
/// inside an `io_thread_scope`: an actor's direct turn run from an I/O handler (a session taking
/// a connection's bytes at once, amq/actors/session.hpp) sends as an actor job does (write
/// through, or gathered by the worker's `write_gather`). It must not read: the read buffer is
/// the scope's. Restores the scope when it ends.
class io_thread_pause {
public:
  io_thread_pause() noexcept;
  ~io_thread_pause();
  io_thread_pause(const io_thread_pause&) = delete;
  io_thread_pause& operator=(const io_thread_pause&) = delete;

private:
  std::vector<uint8_t>* previous_;
};

namespace detail {
class edge_connection;
}

/// Gathers the write-throughs made on the calling thread while it is installed (connection.hpp,
/// "Gathered write-through"): a `send` from this thread, outside I/O handlers, to a plain TCP
/// connection with nothing queued or in flight queues the bytes and notes the connection here
/// instead of writing at once; `flush()` then writes each noted connection's bytes with one
/// non-blocking syscall, back to back. The thread that installs it must flush it soon (actormq:
/// its CAF worker, when its job queue runs empty or the oldest note is `runtime.write_gather_us`
/// old; amq/actors/io_scheduler.hpp). Why: a wake-up of a peer sleeping in epoll costs the
/// writer an inter-processor interrupt; writes that leave together wake it once.
class write_gather {
public:
  write_gather() noexcept = default;
  /// Uninstalls (if installed on this thread) and flushes what is left.
  ~write_gather();

  write_gather(const write_gather&) = delete;
  write_gather& operator=(const write_gather&) = delete;

  /// Makes this the calling thread's gather (replacing any other; `uninstall` restores none).
  void install() noexcept;
  /// The calling thread has no gather any more (if this one was it).
  void uninstall() noexcept;

  /// Writes the bytes of every noted connection, in the order they were noted (those noted
  /// `late` after all others); what the kernel does not take goes to the connection's I/O
  /// thread as usual.
  void flush();

  bool empty() const noexcept {
    return conns_.empty() && late_.empty();
  }

  /// While set, connections noted go behind all others in the flush: a publisher's PUBACK
  /// after the deliveries its PUBLISH caused in the same round (the subscribers' latency is
  /// what waits; the ack only frees a slot of the publisher's window).
  void set_late(bool late) noexcept {
    noting_late_ = late;
  }

  /// When the oldest note since the last flush was taken (only meaningful while !empty()).
  std::chrono::steady_clock::time_point oldest() const noexcept {
    return oldest_;
  }

  /// The calling thread's installed gather, or null.
  static write_gather* current() noexcept;

  /// For the edge: `c` queued bytes and waits for `flush()`.
  void note(std::shared_ptr<detail::edge_connection> c);

private:
  std::vector<std::shared_ptr<detail::edge_connection>> conns_;
  std::vector<std::shared_ptr<detail::edge_connection>> late_;
  std::chrono::steady_clock::time_point oldest_;
  bool noting_late_ = false;
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
  /// With TLS, loads the certificate and key first; a bad file returns `invalid_argument` and
  /// `error_detail()` names the file and OpenSSL's reason.
  std::error_code start();

  /// TLS listener: reads the certificate, key and CA files of `options().tls` again (a
  /// renewed certificate). On success new connections use them; connections already open keep
  /// the context they were accepted with. On failure nothing changes and `detail` names the
  /// file and OpenSSL's reason, as `error_detail()` does for `start()`. Any thread, after start.
  std::error_code reload_tls(std::string& detail);

  /// Why `start()` failed, when the error code alone does not say (TLS files); else empty.
  const std::string& error_detail() const;

  /// The port actually bound (differs from `options().port` when that was 0); 0 before `start`.
  uint16_t port() const;

  /// Stops accepting, aborts all connections (`error::server_stopped`) and joins the I/O threads.
  /// Idempotent. Must not be called from an I/O thread (it joins them).
  void stop();

  /// A snapshot of the counters.
  stats get_stats() const;

  /// TLS listener: when the certificate new connections get expires (its notAfter), Unix
  /// seconds; 0 for a plain listener. Follows reload_tls.
  int64_t tls_certificate_expiry() const;

  const server_options& options() const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace amq::net
