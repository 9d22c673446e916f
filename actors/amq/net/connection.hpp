#pragma once
/// The network edge: one accepted TCP connection, MQTT-agnostic.
///
/// Two implementations: `tcp_connection` (plain, described below) and `tls_connection` (a
/// listener with `server_options::tls`; src/net/tls_connection.hpp says what differs: the
/// handshake and its deadline, reads that drain OpenSSL's buffered input, close_notify on close,
/// memory). The contract of this class holds for both.
///
/// Design
/// ======
///
/// Threading model
/// ---------------
/// Every connection is bound to exactly one I/O thread for its whole life. By default the server runs
/// one `boost::asio::io_context` per I/O thread and hands accepted sockets to the contexts round-robin
/// (`io_model::context_per_thread`), so all of a connection's handlers run on one thread with no strand
/// and no lock on the I/O side. (The alternative, one shared context driven by all threads with a
/// strand per connection, is kept as `io_model::shared_context` for measurement; `io_model` in
/// server.hpp has the figures from `tests/bench/net_echo_bench.cpp` that decided the default.)
/// The receiver's callbacks (`on_data`, `on_writable`, `on_closed`) run on that I/O thread and are
/// never concurrent for one connection. `send`, `close`, `abort`, `pause_reading`, `resume_reading`
/// and `set_receiver` may be called from any thread (CAF workers): they take the connection's small
/// mutex for the write queue and hand the work to the I/O thread with `post`/`dispatch`.
///
/// Read batching and buffer ownership
/// ----------------------------------
/// An idle connection owns no read buffer. The connection waits for readability
/// (`async_wait(wait_read)`), then `read_some`s into the ONE read buffer of its I/O thread
/// (`server_options::read_buffer_size`, 64 KiB by default, allocated once per thread) and passes
/// whatever one read returned to `on_data` in one call: many MQTT packets, or a fraction of one. The
/// receiver frames; it must copy a trailing partial frame if it needs it later, because the span
/// is only valid during the call (the next read reuses the buffer). A read that fills the buffer is
/// followed by up to three more before the connection yields to others on that thread. This keeps
/// the user-space cost of an idle connection to the connection object, the socket's reactor entry
/// and one pending wait operation (well under 1 KiB; see the `memory per idle connection` test).
///
/// Write batching
/// --------------
/// `send` appends to `pending_` under the mutex and, if no write is scheduled, posts one `start_write`.
/// `start_write` swaps `pending_` with the (empty) in-flight list and issues ONE `async_write` with a
/// buffer sequence over all of them (writev). Everything sent while that write is in flight
/// accumulates in `pending_` and goes out with the next single write. Payload vectors are moved, never
/// copied, with one exception: a small send (< 2 KiB) is appended to the tail of the pending buffer
/// when that stays under 64 KiB, because a memcpy of a few dozen bytes is cheaper than an iovec entry
/// (Asio passes at most 64 iovecs to one writev, so thousands of tiny packets would otherwise cost
/// many syscalls).
///
/// Write-through (plain TCP only): a `send` made on a thread other than an I/O thread (a CAF
/// worker) when nothing is queued and no write is scheduled or in flight writes the bytes itself,
/// under the mutex, with one non-blocking `send(2)`; whatever the kernel does not take is queued
/// as above. The bytes are next on the wire either way, so order holds; what it saves is the post
/// to the I/O thread and back (two thread switches per message when both share a core: at a few
/// thousand messages per second that was most of actormq's latency over Mosquitto, see
/// docs/performance.md). Under load the queue is rarely empty, so writes still gather. Sends made
/// on the I/O thread (during `on_data`) never write through. TLS never does: its stream belongs to
/// the I/O thread.
///
/// Gathered write-through: on a thread that installed a `write_gather` (server.hpp; actormq's CAF
/// workers when they run the edge's loops), such a send queues the bytes, marks the write as
/// scheduled (so the connection's later sends append behind them and post nothing) and notes the
/// connection in the gather. The gather's `flush()` writes each noted connection's queue with one
/// non-blocking `sendmsg`, back to back, and hands what the kernel did not take to the I/O thread
/// (`start_write`); a `close()` meanwhile waits for the flush like for any scheduled write. A
/// gathered queue that reaches 16 KiB (or half `write_high_watermark`) is written by the sending
/// thread at once, so gathering never makes a connection that keeps up look back-pressured. Writes
/// that leave together wake a client sleeping in epoll once, which on a VM is an inter-processor
/// interrupt the writing core pays for.
///
/// Back-pressure
/// -------------
/// Outbound: `queued_bytes()` counts bytes accepted by `send` and not yet written. Above
/// `write_high_watermark` `send` still queues the bytes but returns false: the producer should stop.
/// When the queue drains to `write_high_watermark / 2` `on_writable` fires once. Above
/// `max_write_queue` the connection is aborted (`error::write_queue_overflow`) and counted: a
/// consumer that never drains cannot exhaust the broker's memory.
/// Inbound: `pause_reading` stops issuing reads, so the kernel's receive window fills and TCP flow
/// control slows the client down; `resume_reading` re-arms the wait. (While paused, a peer's close
/// is only noticed after resuming.)
///
/// Closing
/// -------
/// `close` flushes the queue, then shuts down the sending side (FIN) and reads and discards until the
/// peer's EOF or `server_options::close_linger` passes, then closes the socket. (Closing a socket
/// with unread input makes Linux send RST, which can destroy the flushed bytes in the peer's receive
/// buffer; the lingering close avoids that.) `abort` closes at once with SO_LINGER 0 (RST) and drops
/// the queue. Either way `on_closed` fires exactly once, on the I/O thread, after which the
/// connection drops its receiver (breaking the usual receiver <-> connection reference cycle) and
/// never calls it again. Peer EOF or an error closes at once; queued bytes are dropped.
///
/// Lifetime
/// --------
/// Connections are `shared_ptr`-owned. Every pending Asio operation holds a `shared_ptr` to its
/// connection, and every connection holds a `shared_ptr` to the server's shared state (the
/// `io_context`s and counters), so a connection_ptr kept by an actor after `server::stop()` or after
/// the server's destruction is still safe to call: `send` returns false, the rest are no-ops.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <system_error>
#include <vector>

#include "amq/net/error.hpp"

namespace amq::net {

class connection;

/// Shared ownership handle of one accepted connection.
using connection_ptr = std::shared_ptr<connection>;

/// Receives a connection's events. Called on the connection's I/O thread, never concurrently for
/// one connection. Callbacks must not block: they hold up every connection of that I/O thread.
/// A callback that throws aborts the connection (`error::receiver_failed`).
struct connection_receiver {
  virtual ~connection_receiver() = default;

  /// What one read returned (any number of frames, or part of one). `bytes` is valid during the
  /// call only.
  virtual void on_data(const connection_ptr&, std::span<const uint8_t> bytes) = 0;

  /// Exactly once, after which no more callbacks. `reason`: see error.hpp.
  virtual void on_closed(const connection_ptr&, std::error_code reason) = 0;

  /// Queued bytes fell to `write_high_watermark / 2` after having been above it.
  virtual void on_writable(const connection_ptr&) {
  }
};

/// One accepted TCP connection. All members are thread-safe. The server creates the only
/// implementation; the class is abstract so that tests of the layers above can substitute a fake.
class connection : public std::enable_shared_from_this<connection> {
public:
  virtual ~connection() = default;

  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  /// Unique per process, never 0.
  uint64_t id() const noexcept {
    return id_;
  }

  /// The peer's address, e.g. "127.0.0.1:53422" or "[::1]:53422".
  const std::string& peer() const noexcept {
    return peer_;
  }

  /// Sets (or swaps) the receiver of this connection's events; thread-safe. Reading starts once a
  /// receiver is set. After `on_closed` the connection keeps no receiver.
  virtual void set_receiver(std::shared_ptr<connection_receiver>) = 0;

  /// Appends `bytes` to the write queue; thread-safe. All bytes queued while a write is in flight
  /// go out in ONE gather write when it completes. Returns false when the queue is above
  /// `write_high_watermark` after appending (the bytes ARE queued: the caller should stop producing
  /// until `on_writable`), or when the connection is closing or closed (the bytes are dropped;
  /// `on_closed` comes or came).
  virtual bool send(std::vector<uint8_t> bytes) = 0;

  /// Stops issuing reads (back-pressure toward the client); thread-safe. Called from `on_data`,
  /// no further `on_data` follows; from another thread, it takes effect after at most one more
  /// read batch.
  virtual void pause_reading() = 0;

  /// Resumes reading after `pause_reading`; thread-safe.
  virtual void resume_reading() = 0;

  /// Flushes what is queued, then shuts down and closes; `on_closed` fires with an empty error
  /// code. No `on_data` after the call returns (on the I/O thread) or after the next batch
  /// (elsewhere). Thread-safe; later sends are dropped.
  virtual void close() = 0;

  /// Closes now (RST), dropping queued bytes; `on_closed` fires with `error::aborted`. Thread-safe.
  virtual void abort() = 0;

  /// Bytes accepted by `send` and not yet written to the socket.
  virtual size_t queued_bytes() const noexcept = 0;

  /// Bytes the kernel received on this connection that have not been read yet (FIONREAD), 0
  /// once closed; thread-safe. The session's keep-alive check asks this before it closes a
  /// connection: a PINGREQ that arrived in time but waits unread (reading paused, or the I/O
  /// thread busy) must not count as silence.
  virtual size_t readable_bytes() const noexcept {
    return 0;
  }

  /// The event loop that runs this connection's I/O (its `boost::asio::execution_context`), as
  /// an opaque identity: the session actor runs on the worker that runs this loop
  /// (amq/actors/io_scheduler.hpp, `worker_of_loop`). Null if unknown (a connection a test made up).
  virtual const void* loop() const noexcept {
    return nullptr;
  }

  /// During a receiver's `on_data` (on the I/O thread): when the bytes handed over arrived, in
  /// nanoseconds since the epoch (CLOCK_REALTIME). Plain TCP with
  /// `server_options::receive_timestamps`: the kernel's receive time of the newest of them
  /// (SO_TIMESTAMPNS, so not how late a busy or sleeping I/O thread read them); TLS: the time
  /// of the read. 0 outside `on_data`, when timestamps are off, or for a read that came before
  /// the kernel finished turning stamping on (it does so in a work item when the first socket of
  /// the machine asks, so a read right after may carry none). It orders input read on
  /// different threads by when it reached the machine (amq/actors/router.hpp, "Arrival
  /// order").
  static int64_t read_arrival() noexcept;

  /// TLS: the Common Name of the client certificate the handshake verified; empty for plain
  /// TCP, a client without a certificate, or one whose certificate has no CN. On the I/O thread
  /// (a receiver's on_data), from the first data on.
  virtual std::string peer_identity() const {
    return {};
  }

protected:
  connection(uint64_t id, std::string peer) : id_(id), peer_(std::move(peer)) {
  }

private:
  uint64_t id_;
  std::string peer_;
};

} // namespace amq::net
