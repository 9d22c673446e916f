#pragma once
/// Close reasons of the network edge that are not operating-system errors.
///
/// `connection_receiver::on_closed` receives one of:
/// - `std::error_code{}`: the connection was closed locally with `connection::close()`;
/// - an `amq::net::error` value (category `amq.net`) from the list below;
/// - an operating-system error in `std::system_category()` (ECONNRESET, EPIPE, ETIMEDOUT, ...).

#include <string>
#include <system_error>

namespace amq::net {

/// Why the edge closed a connection, when no OS error says it.
enum class error : int {
  /// The peer closed its side (read returned EOF).
  peer_closed = 1,
  /// `connection::abort()` was called.
  aborted,
  /// More than `server_options::max_write_queue` bytes were queued: aborted, counted in
  /// `server::stats::aborted_queue_overflow`.
  write_queue_overflow,
  /// `server::stop()` aborted the connection.
  server_stopped,
  /// A receiver callback threw; the connection was aborted.
  receiver_failed,
  /// TLS listener: the TLS handshake failed (not a TLS client, no shared version or cipher, a
  /// missing or bad client certificate, ...).
  tls_handshake_failed,
  /// TLS listener: the handshake did not complete within `tls_options::handshake_timeout`.
  tls_handshake_timeout,
};

/// The `amq.net` error category.
const std::error_category& error_category() noexcept;

/// Makes `std::error_code` from `amq::net::error` (found by ADL).
inline std::error_code make_error_code(error e) noexcept {
  return {static_cast<int>(e), error_category()};
}

} // namespace amq::net

template <>
struct std::is_error_code_enum<amq::net::error> : std::true_type {};
