#pragma once
/// Private: the Boost.Asio implementation of `amq::net::connection` (design: connection.hpp).

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "amq/net/connection.hpp"
#include "server_state.hpp"

namespace amq::net::detail {

class tcp_connection final : public edge_connection {
public:
  using socket_type = boost::asio::ip::tcp::socket;

  tcp_connection(std::shared_ptr<server_state> state, socket_type socket, uint64_t id, std::string peer);
  ~tcp_connection() override;

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

  /// On the I/O thread, after the accept handler ran: starts reading if a receiver is set.
  void start() override;

  /// Whether `on_closed` has fired (I/O thread only).
  bool done() const noexcept override {
    return done_;
  }

  /// Aborts with `reason` (any thread).
  void abort_with(std::error_code reason) override;

  /// The executor all of this connection's handlers run on.
  boost::asio::any_io_executor executor() override {
    return socket_.get_executor();
  }

  /// The server never counted this connection (rejected while stopping).
  void mark_released() noexcept override {
    released_ = true;
  }

private:
  enum class phase : uint8_t { open, closing, closed };

  static constexpr size_t coalesce_below = 2048;      // sends smaller than this may be copied ...
  static constexpr size_t coalesce_limit = 64 * 1024; // ... into a tail buffer up to this size
  static constexpr int max_reads_per_wakeup = 4;

  std::shared_ptr<tcp_connection> self() {
    return std::static_pointer_cast<tcp_connection>(shared_from_this());
  }

  // I/O thread only:
  void arm_read();
  void on_readable(const boost::system::error_code& ec);
  void discard_input();
  void start_write();
  void on_written(const boost::system::error_code& ec, size_t n);
  void maybe_linger();
  void begin_linger();
  void finish(std::error_code reason, bool rst);
  std::shared_ptr<connection_receiver> current_receiver();
  template <class F>
  void notify(F&& f);

  /// Declared first: destroyed after `socket_` (it owns the socket's io_context).
  std::shared_ptr<server_state> state_;
  socket_type socket_;

  // -- any thread, guarded by mtx_ ----------------------------------------------------------------------
  mutable std::mutex mtx_;
  std::vector<std::vector<uint8_t>> pending_;
  std::shared_ptr<connection_receiver> receiver_;
  bool write_scheduled_ = false; // a start_write is posted or an async_write is in flight
  bool above_watermark_ = false; // send() returned false; on_writable owed
  bool receiver_final_ = false;  // on_closed delivered: keep no receiver

  // -- any thread, atomic ------------------------------------------------------------------------------
  std::atomic<phase> phase_{phase::open}; // written under mtx_
  std::atomic<size_t> queued_{0};
  std::atomic<bool> receiver_changed_{false};

  // -- I/O thread only -----------------------------------------------------------------------------------
  std::shared_ptr<connection_receiver> receiver_cache_;
  std::vector<std::vector<uint8_t>> inflight_;
  std::vector<boost::asio::const_buffer> iov_;
  std::unique_ptr<boost::asio::steady_timer> linger_timer_;
  bool started_ = false;
  bool reading_ = false; // an async_wait(wait_read) is pending
  bool paused_ = false;
  bool lingering_ = false;
  bool done_ = false;
  bool released_ = false;
};

/// Maps an Asio error to the edge's close reason (see error.hpp).
std::error_code to_close_reason(const boost::system::error_code& ec);

} // namespace amq::net::detail
