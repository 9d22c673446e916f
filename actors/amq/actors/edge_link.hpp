#pragma once
/// The glue between a connection (Boost.Asio I/O thread) and the actors.
///
/// Before CONNECT, an `edge_link` frames the first bytes itself, decodes the
/// CONNECT on the I/O thread, pauses reading and hands the connection to the
/// registry. Once the registry has picked the session actor, the session
/// calls `bind`: from then on every read is forwarded to that actor as one
/// `byte_chunk` (read batching: one actor message per read(), never one per
/// packet). Read credit bounds the bytes in flight between the socket and
/// the session actor: above `max_unconsumed` the link pauses reading until
/// the session reports the chunks consumed.

#include "amq/actors/messages.hpp"
#include "amq/auth/password_file.hpp"
#include "amq/net/connection.hpp"
#include "amq/protocol/framer.hpp"

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include <atomic>
#include <memory>
#include <mutex>
#include <thread>

namespace amq::actors {

/// A one-byte lock for the link's few-instruction critical sections, which
/// only contend when a session binds or the connection closes (std::mutex
/// is 40 bytes, per connection).
class tiny_lock {
public:
  void lock() noexcept {
    while (flag_.test_and_set(std::memory_order_acquire))
      std::this_thread::yield();
  }
  void unlock() noexcept { flag_.clear(std::memory_order_release); }

private:
  std::atomic_flag flag_ = ATOMIC_FLAG_INIT;
};

class edge_link : public net::connection_receiver,
                  public std::enable_shared_from_this<edge_link> {
public:
  /// `auth` (may be null: every CONNECT accepted) checks the CONNECT's user name
  /// and password on the I/O thread before the registry hears of it, so a
  /// refused CONNECT never touches a session (no takeover, no will). It must
  /// outlive the link's I/O (the broker node owns it). `sys` is not kept (the
  /// link never used it; its 8 bytes per connection now hold `auth`).
  /// `identity_as_username` (listeners.tls.use_identity_as_username): the connection's
  /// verified certificate CN (net::connection::peer_identity) replaces the CONNECT's user name
  /// and password; a connection without one is refused (not authorized); `auth` is not asked.
  edge_link(caf::actor_system& sys, caf::actor registry, uint32_t max_packet_size,
            size_t max_unconsumed, const auth::authenticator* auth = nullptr,
            bool identity_as_username = false);

  void on_data(const net::connection_ptr& conn, std::span<const uint8_t> bytes) override;
  void on_closed(const net::connection_ptr& conn, std::error_code reason) override;
  void on_writable(const net::connection_ptr& conn) override;

  /// Called by the session actor: route bytes to `session` from now on.
  /// Returns bytes that arrived after the CONNECT before the bind. `session_actor`: `session` is
  /// a `session_actor` (session.hpp), which may take the bytes in a direct turn when it is idle.
  std::vector<uint8_t> bind(const net::connection_ptr& conn, caf::actor session,
                            bool session_actor = false);

  /// True once a CONNECT was decoded (or the connection was refused).
  bool connect_seen();

  /// The authenticator that checked this connection's CONNECT, or null when nothing is checked
  /// (no password file, anonymous allowed). The session re-checks with it after a reload.
  const auth::authenticator* authenticator() const noexcept {
    return check_credentials_ ? auth_ : nullptr;
  }

  /// The authenticator holding auth.acl_file, or null without one: the session takes its
  /// client's topic access from it (and again after a reload).
  const auth::authenticator* acl_source() const noexcept {
    return auth_ != nullptr && auth_->has_acl() ? auth_ : nullptr;
  }

  /// Called by the session actor after processing a chunk of `n` bytes.
  void consumed(const net::connection_ptr& conn, size_t n);

  /// True if the client sent bytes the session has not processed yet: read and on their way
  /// to (or stashed in) the session actor, or still unread in the socket. The keep-alive
  /// check asks before it closes: such a client was not silent.
  bool input_pending(const net::connection_ptr& conn) const noexcept {
    return unconsumed_.load() > 0 || (conn && conn->readable_bytes() > 0);
  }

private:
  void refuse(const net::connection_ptr& conn, uint8_t level, protocol::reason_code rc,
              std::string_view why);
  /// CONNACK with `rc` where the client's version allows one, then close.
  static void send_refusal(const net::connection_ptr& conn, uint8_t level,
                           protocol::reason_code rc);

  caf::actor registry_;
  /// Frames the bytes before CONNECT; released once the CONNECT is decoded.
  std::unique_ptr<protocol::framer> framer_;
  size_t max_unconsumed_;
  const auth::authenticator* auth_; ///< null: no authentication and no ACL
  caf::actor session_;          ///< guarded by mtx_
  // The one-byte members sit together (16 bytes less per connection).
  tiny_lock mtx_;
  bool connect_seen_ = false;   ///< guarded by mtx_ after CONNECT
  bool closed_ = false;         ///< guarded by mtx_
  bool direct_ = false;         ///< guarded by mtx_: session_ is a session_actor (bind)
  std::atomic<bool> paused_{false};
  bool identity_as_username_ = false;
  bool check_credentials_ = false; ///< auth_ checks the CONNECT's user name and password
  /// Guarded by mtx_: bytes after CONNECT before bind. Behind a pointer: only a client that
  /// sends before its CONNACK fills it, and inline it was 16 bytes more per connection.
  std::unique_ptr<std::vector<uint8_t>> early_;
  std::atomic<size_t> unconsumed_{0};
};

} // namespace amq::actors
