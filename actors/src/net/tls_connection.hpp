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
#include "basic_edge_connection.hpp"
#include "server_state.hpp"

namespace amq::net::detail {

class tls_connection final : public basic_edge_connection<tls_connection> {
public:
  using socket_type = boost::asio::ip::tcp::socket;
  using stream_type = boost::asio::ssl::stream<socket_type>;

  tls_connection(std::shared_ptr<server_state> state, socket_type socket, uint64_t id, std::string peer);
  ~tls_connection() override;

  // -- server side (the rest of connection / edge_connection: basic_edge_connection) ------------------

  void start() override;

private:
  friend class basic_edge_connection<tls_connection>;

  static constexpr int max_reads_per_wakeup = 8; // a read returns at most one record (16 KiB)

  // -- for basic_edge_connection -------------------------------------------------------------------------
  socket_type& socket() {
    return stream_.next_layer();
  }
  stream_type& stream() noexcept {
    return stream_;
  }
  /// send() never writes itself: the ssl::stream (its engine) belongs to the I/O thread.
  static constexpr bool direct_writes = false;
  bool stream_ready() const noexcept {
    return handshake_done_;
  }
  void defer_write() noexcept {
    write_deferred_ = true; // on_handshake calls start_write again
  }
  static std::error_code close_reason(const boost::system::error_code& ec);

  // I/O thread only:
  void on_handshake(const boost::system::error_code& ec);
  void arm_read();
  void on_readable(const boost::system::error_code& ec);
  /// The flushed connection's close: close_notify, bounded by `close_linger` (uses `timer_`).
  void begin_linger();

  /// The SSL context this connection was accepted with (server::reload_tls replaces the server's
  /// for new connections only); declared before the stream, which is destroyed first.
  std::shared_ptr<boost::asio::ssl::context> context_;
  /// After the base's members: destroyed before `state_` (which owns the io_context).
  stream_type stream_;

  // -- I/O thread only -----------------------------------------------------------------------------------
  // (the base's `timer_` is the handshake deadline first, later the close linger; null in between)
  bool handshake_done_ = false;
  bool write_deferred_ = false; // start_write ran before the handshake completed
  bool drained_ = false;        // the last read_some said would_block: nothing buffered
};

} // namespace amq::net::detail
