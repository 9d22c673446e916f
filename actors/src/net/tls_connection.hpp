#pragma once
/// Private: the TLS implementation of `amq::net::connection` for a listener with
/// `server_options::tls` enabled. Same contract as `tcp_connection` (design: connection.hpp); what
/// differs:
///
/// - Handshake first. `start()` arms a deadline (`tls_options::handshake_timeout`) and
///   `async_handshake`s; reading and writing wait for it (sends made meanwhile are queued). A failed
///   handshake (not a TLS client, no common version, bad client certificate) closes with
///   `error::tls_handshake_failed`, an expired deadline aborts with `error::tls_handshake_timeout`.
///   The accept handler (and so the receiver and the CONNECT watchdog) runs at accept, as for TCP.
/// - Reads. OpenSSL may hold input that the kernel no longer has (the rest of a record read
///   together with the previous one, or decrypted bytes of a record larger than one read), so
///   socket readiness alone cannot drive reading. The connection reads with the stream's
///   synchronous `read_some` on the non-blocking socket into the I/O thread's read buffer until it
///   reports `would_block`: only then is everything buffered consumed, and only then does it arm
///   `async_wait(wait_read)`. When it yields early (paused, or after `max_reads_per_wakeup` reads)
///   the next read is posted instead. (Not `async_read_some` into the shared buffer: when OpenSSL
///   already holds data, Asio decrypts into the buffer at once but runs the completion handler
///   later, and another connection of the thread may overwrite the buffer in between.)
/// - Writes: one `async_write` of the whole in-flight buffer sequence, as for TCP; the stream
///   encrypts it record by record (at most 16 KiB each, one socket write per record). Reads and
///   writes are independent operations on the stream, which is why renegotiation is disabled
///   (server.cpp): it would make a read want to write.
/// - Close: flush, then `async_shutdown` (close_notify, waits for the peer's close_notify or EOF),
///   bounded by `server_options::close_linger`, then close the socket. Abort: RST at once.
/// - Memory: Asio's TLS stream allocates two 17 KiB record buffers per connection, plus OpenSSL's
///   SSL object and BIO pair; `SSL_MODE_RELEASE_BUFFERS` (set on the context) frees OpenSSL's own
///   read/write buffers while idle. A TLS connection therefore costs tens of KiB, not the ~3 KiB of
///   a plain one (figures: docs/security.md).

#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>

#include "amq/net/connection.hpp"
#include "server_state.hpp"

namespace amq::net::detail {

class tls_connection final : public edge_connection {
public:
  using socket_type = boost::asio::ip::tcp::socket;
  using stream_type = boost::asio::ssl::stream<socket_type>;

  tls_connection(std::shared_ptr<server_state> state, socket_type socket, uint64_t id, std::string peer);
  ~tls_connection() override;

  // -- connection ----------------------------------------------------------------------------------

  void set_receiver(std::shared_ptr<connection_receiver> r) override;
  bool send(std::vector<uint8_t> bytes) override;
  void pause_reading() override;
  void resume_reading() override;
  void close() override;
  void abort() override;
  size_t queued_bytes() const noexcept override;
  size_t readable_bytes() const noexcept override;

  // -- server side -----------------------------------------------------------------------------------

  void start() override;
  bool done() const noexcept override {
    return done_;
  }
  void abort_with(std::error_code reason) override;
  boost::asio::any_io_executor executor() override {
    return stream_.get_executor();
  }
  void mark_released() noexcept override {
    released_ = true;
  }

private:
  enum class phase : uint8_t { open, closing, closed };

  static constexpr size_t coalesce_below = 2048;
  static constexpr size_t coalesce_limit = 64 * 1024;
  static constexpr int max_reads_per_wakeup = 8; // a read returns at most one record (16 KiB)

  std::shared_ptr<tls_connection> self() {
    return std::static_pointer_cast<tls_connection>(shared_from_this());
  }

  socket_type& socket() {
    return stream_.next_layer();
  }

  // I/O thread only:
  void on_handshake(const boost::system::error_code& ec);
  void arm_read();
  void on_readable(const boost::system::error_code& ec);
  void start_write();
  void on_written(const boost::system::error_code& ec, size_t n);
  void maybe_linger();
  void begin_shutdown();
  void finish(std::error_code reason, bool rst);
  std::shared_ptr<connection_receiver> current_receiver();
  template <class F>
  void notify(F&& f);

  /// Declared first: destroyed after `stream_` (it owns the io_context and the SSL context).
  std::shared_ptr<server_state> state_;
  stream_type stream_;

  // -- any thread, guarded by mtx_ ----------------------------------------------------------------------
  mutable std::mutex mtx_;
  std::vector<std::vector<uint8_t>> pending_;
  std::shared_ptr<connection_receiver> receiver_;
  bool write_scheduled_ = false;
  bool above_watermark_ = false;
  bool receiver_final_ = false;

  // -- any thread, atomic ------------------------------------------------------------------------------
  std::atomic<phase> phase_{phase::open};
  std::atomic<size_t> queued_{0};
  std::atomic<bool> receiver_changed_{false};

  // -- I/O thread only -----------------------------------------------------------------------------------
  std::shared_ptr<connection_receiver> receiver_cache_;
  std::vector<std::vector<uint8_t>> inflight_;
  std::vector<boost::asio::const_buffer> iov_;
  /// The handshake deadline, later the close linger; null in between.
  std::unique_ptr<boost::asio::steady_timer> timer_;
  bool started_ = false;
  bool handshake_done_ = false;
  bool write_deferred_ = false; // start_write ran before the handshake completed
  bool reading_ = false;        // an async_wait(wait_read) or a posted read is pending
  bool drained_ = false;        // the last read_some said would_block: nothing buffered
  bool paused_ = false;
  bool lingering_ = false;
  bool done_ = false;
  bool released_ = false;
};

} // namespace amq::net::detail
