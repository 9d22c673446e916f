#pragma once
/// Private: the TLS implementation of `amq::net::connection` for a listener with
/// `server_options::tls` enabled. Same contract as `tcp_connection` (design: connection.hpp); what
/// differs:
///
/// - Handshake first. `start()` arms a deadline (`tls_options::handshake_timeout`) and runs
///   SSL_do_handshake (waiting for the socket as OpenSSL asks); reading and writing wait for it (sends made meanwhile are queued). A failed
///   handshake (not a TLS client, no common version, bad client certificate) closes with
///   `error::tls_handshake_failed`, an expired deadline aborts with `error::tls_handshake_timeout`.
///   The accept handler (and so the receiver and the CONNECT watchdog) runs at accept, as for TCP.
/// - OpenSSL directly on the socket (a socket BIO that sends with MSG_NOSIGNAL: OpenSSL's own
///   would raise SIGPIPE on a reset peer), not Asio's `ssl::stream`: the I/O thread
///   calls SSL_do_handshake / SSL_read / SSL_write / SSL_shutdown on the non-blocking socket and
///   waits for readiness with `async_wait` when OpenSSL wants to read or write. Why: Asio's stream
///   keeps two 17 KiB record buffers and a BIO pair of two more per connection, ~69 KiB per idle
///   TLS connection; with the socket BIO and `SSL_MODE_RELEASE_BUFFERS` an idle connection holds
///   only OpenSSL's SSL object (docs/security.md, "Cost"). And one record layer serves reads and
///   writes: a TLS 1.3 KeyUpdate read while a write waits for the socket is answered in order.
/// - Reads. OpenSSL reads ahead (`SSL_set_read_ahead`: one `recv` per wake, not one per record
///   header and body) and may hold input the kernel no longer signals, so socket readiness alone
///   cannot drive reading. The connection calls SSL_read into the I/O thread's read buffer until
///   it wants more input: only then is everything buffered consumed, and only then does it arm
///   `async_wait(wait_read)`. When it yields early (paused, or after `max_reads_per_wakeup` reads)
///   the next read is posted instead.
/// - Writes: one `async_write` of the whole in-flight buffer sequence to `ssl_stream`, as for
///   TCP; each `async_write_some` packs up to 16 KiB of the sequence into one SSL_write (one record,
///   one `send`), so a burst of small MQTT packets is not a record each.
/// - Close: flush, then SSL_shutdown (close_notify, waits for the peer's close_notify or EOF),
///   bounded by `server_options::close_linger`, then close the socket. Abort: RST at once.

#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "amq/net/connection.hpp"
#include "basic_edge_connection.hpp"
#include "server_state.hpp"

namespace amq::net::detail {

/// Maps the result of an SSL_* call that failed (`ret` <= 0) to an error code: would_block when
/// OpenSSL wants the socket (`want` tells which way: SSL_ERROR_WANT_READ or _WRITE), eof for the
/// peer's close_notify or a TCP close, stream_truncated for a close in the middle of a record,
/// else OpenSSL's error (asio's ssl category) or errno. Clears nothing: call ERR_clear_error()
/// before the SSL_* call.
boost::system::error_code ssl_result(SSL* ssl, int ret, int& want);

/// The socket readiness to wait for when OpenSSL says `want` (SSL_ERROR_WANT_READ or _WRITE).
inline boost::asio::socket_base::wait_type wait_for(int want) noexcept {
  return want == SSL_ERROR_WANT_READ ? boost::asio::socket_base::wait_read
                                     : boost::asio::socket_base::wait_write;
}

/// What `basic_edge_connection::start_write` writes to (an AsyncWriteStream): SSL_write over the
/// connection's socket (on `Executor`, see tls_connection). I/O thread only; never used after the
/// socket is closed.
template <class Executor>
class ssl_stream {
public:
  using socket_type = boost::asio::basic_stream_socket<boost::asio::ip::tcp, Executor>;
  using executor_type = Executor;

  ssl_stream(socket_type socket, SSL* ssl) : socket_(std::move(socket)), ssl_(ssl) {
  }
  ~ssl_stream() {
    if (ssl_ != nullptr)
      SSL_free(ssl_);
  }
  ssl_stream(const ssl_stream&) = delete;
  ssl_stream& operator=(const ssl_stream&) = delete;

  executor_type get_executor() noexcept {
    return socket_.get_executor();
  }
  socket_type& socket() noexcept {
    return socket_;
  }
  SSL* ssl() const noexcept {
    return ssl_;
  }

  /// Encrypts up to one record's worth (16 KiB) of `buffers` and writes it; completes with the
  /// plaintext bytes written (posted, never inline).
  template <class ConstBufferSequence, class Handler>
  void async_write_some(const ConstBufferSequence& buffers, Handler&& handler) {
    constexpr size_t record = 16 * 1024;
    auto op = std::make_shared<write_op<std::decay_t<Handler>>>(std::forward<Handler>(handler));
    auto it = boost::asio::buffer_sequence_begin(buffers);
    auto end = boost::asio::buffer_sequence_end(buffers);
    for (; it != end && boost::asio::const_buffer(*it).size() == 0; ++it) {
    }
    if (it != end) {
      boost::asio::const_buffer first(*it);
      auto next = it;
      ++next;
      if (first.size() >= record || next == end) {
        op->data = static_cast<const uint8_t*>(first.data());
        op->size = std::min(first.size(), record);
      } else {
        // Several buffers (MQTT packets): pack them into one record.
        op->copy.reserve(record);
        for (; it != end && op->copy.size() < record; ++it) {
          boost::asio::const_buffer b(*it);
          const size_t take = std::min(b.size(), record - op->copy.size());
          const auto* p = static_cast<const uint8_t*>(b.data());
          op->copy.insert(op->copy.end(), p, p + take);
        }
        op->data = op->copy.data();
        op->size = op->copy.size();
      }
    }
    attempt(std::move(op));
  }

private:
  template <class Handler>
  struct write_op {
    explicit write_op(Handler h) : handler(std::move(h)) {
    }
    Handler handler;
    std::vector<uint8_t> copy; ///< the packed buffers (same bytes on every retry)
    const uint8_t* data = nullptr;
    size_t size = 0;
  };

  template <class Op>
  void attempt(std::shared_ptr<Op> op) {
    boost::system::error_code ec;
    size_t written = 0;
    if (!socket_.is_open()) {
      ec = boost::asio::error::operation_aborted;
    } else if (op->size > 0) {
      ERR_clear_error();
      const int r = SSL_write(ssl_, op->data, static_cast<int>(op->size));
      if (r > 0) {
        written = static_cast<size_t>(r);
      } else {
        int want = 0;
        ec = ssl_result(ssl_, r, want);
        if (want != 0) {
          // The socket is full (or OpenSSL must read first): retry with the same bytes once
          // it is ready.
          socket_.async_wait(wait_for(want),
                             [this, op](const boost::system::error_code& wec) mutable {
                               if (wec) {
                                 complete(std::move(op), wec, 0);
                                 return;
                               }
                               attempt(std::move(op));
                             });
          return;
        }
      }
    }
    complete(std::move(op), ec, written);
  }

  template <class Op>
  void complete(std::shared_ptr<Op> op, boost::system::error_code ec, size_t n) {
    boost::asio::post(socket_.get_executor(), [op = std::move(op), ec, n]() mutable {
      auto h = std::move(op->handler);
      op.reset();
      h(ec, n);
    });
  }

  socket_type socket_;
  SSL* ssl_ = nullptr;
};

/// `Executor`: the socket's, loop_executor or strand_executor (server_state.hpp); both are
/// instantiated in tls_connection.cpp.
template <class Executor>
class tls_connection final : public basic_edge_connection<tls_connection<Executor>> {
  using base = basic_edge_connection<tls_connection<Executor>>;

public:
  using stream_type = ssl_stream<Executor>;
  using socket_type = typename stream_type::socket_type;

  tls_connection(std::shared_ptr<server_state> state, socket_type socket, uint64_t id, std::string peer);
  ~tls_connection() override;

  // -- server side (the rest of connection / edge_connection: basic_edge_connection) ------------------

  void start() override;

  std::string peer_identity() const override {
    return peer_cn_;
  }

private:
  friend base;
  using typename base::phase;
  using base::current_receiver;
  using base::done_;
  using base::finish;
  using base::lingering_;
  using base::maybe_linger;
  using base::mtx_;
  using base::notify;
  using base::paused_;
  using base::phase_;
  using base::reading_;
  using base::released_;
  using base::self;
  using base::start_write;
  using base::started_;
  using base::state_;
  using base::timer_;

  static constexpr int max_reads_per_wakeup = 8; // an SSL_read returns at most one record (16 KiB)

  // -- for basic_edge_connection -------------------------------------------------------------------------
  socket_type& socket() {
    return stream_.socket();
  }
  stream_type& stream() noexcept {
    return stream_;
  }
  /// send() never writes itself: the SSL object belongs to the I/O thread.
  static constexpr bool direct_writes = false;
  bool stream_ready() const noexcept {
    return handshake_done_;
  }
  void defer_write() noexcept {
    write_deferred_ = true; // on_handshake calls start_write again
  }
  static std::error_code close_reason(const boost::system::error_code& ec);

  // I/O thread only:
  void do_handshake();
  void on_handshake(const boost::system::error_code& ec);
  void do_shutdown();
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
  std::string peer_cn_; ///< set when the handshake completes (see peer_identity)
  bool handshake_done_ = false;
  bool write_deferred_ = false; // start_write ran before the handshake completed
  bool drained_ = false;        // the last read_some said would_block: nothing buffered
};

extern template class tls_connection<loop_executor>;
extern template class tls_connection<strand_executor>;

} // namespace amq::net::detail
