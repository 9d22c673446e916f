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
#include "basic_edge_connection.hpp"
#include "edge_wait.hpp"
#include "server_state.hpp"

namespace amq::net::detail {

/// `Executor`: the socket's, loop_executor or strand_executor (server_state.hpp); both are
/// instantiated in connection.cpp.
template <class Executor>
class tcp_connection final : public basic_edge_connection<tcp_connection<Executor>> {
  using base = basic_edge_connection<tcp_connection<Executor>>;

public:
  using socket_type = boost::asio::basic_stream_socket<boost::asio::ip::tcp, Executor>;

  tcp_connection(std::shared_ptr<server_state> state, socket_type socket, uint64_t id, std::string peer);
  ~tcp_connection() override;

  // -- server side (the rest of connection / edge_connection: basic_edge_connection) ------------------

  /// On the I/O thread, after the accept handler ran: starts reading if a receiver is set.
  void start() override;

private:
  friend base;
  using typename base::phase;
  using base::current_receiver;
  using base::done_;
  using base::finish;
  using base::lingering_;
  using base::notify;
  using base::paused_;
  using base::phase_;
  using base::reading_;
  using base::released_;
  using base::self;
  using base::started_;
  using base::state_;
  using base::timer_;

  static constexpr int max_reads_per_wakeup = 4;

  // -- for basic_edge_connection -------------------------------------------------------------------------
  socket_type& socket() noexcept {
    return socket_;
  }
  socket_type& stream() noexcept {
    return socket_;
  }
  /// send() may write from the calling thread (a plain socket: one syscall, no state to share).
  static constexpr bool direct_writes = true;
  static constexpr bool stream_ready() noexcept {
    return true; // writable from the start
  }
  static constexpr void defer_write() noexcept {
  }
  static std::error_code close_reason(const boost::system::error_code& ec);

  // I/O thread only:
  /// `drained`: the last read emptied the socket, so the wait needs no re-arm syscall
  /// (edge_wait.hpp); otherwise (first read, after a pause or an early stop) it re-arms.
  void arm_read(bool drained = false);
  void on_readable(const boost::system::error_code& ec);
  void discard_input();
  void begin_linger();

  /// After the base's members: destroyed before `state_` (which owns the socket's io_context).
  socket_type socket_;
};

extern template class tcp_connection<loop_executor>;
extern template class tcp_connection<strand_executor>;

/// Maps an Asio error to the edge's close reason (see error.hpp).
std::error_code to_close_reason(const boost::system::error_code& ec);

} // namespace amq::net::detail
