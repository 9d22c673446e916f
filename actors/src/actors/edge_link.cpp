#include "amq/actors/edge_link.hpp"
#include "amq/actors/session.hpp"

#include "amq/log.hpp"
#include "amq/metrics/registry.hpp"
#include "amq/net/error.hpp"
#include "amq/protocol/packet.hpp"

#include <caf/send.hpp>

namespace amq::actors {

using namespace protocol;

namespace {

/// Refused connections are logged at most 20 a second (a client can refuse itself as fast as it
/// can connect); actormq_connections_rejected_total counts every one.
log::rate_limit refusal_log{20};

} // namespace

edge_link::edge_link(caf::actor_system&, caf::actor registry, uint32_t max_packet_size,
                     size_t max_unconsumed, const auth::authenticator* auth,
                     bool identity_as_username)
  : registry_(std::move(registry)),
    framer_(std::make_unique<protocol::framer>(max_packet_size)),
    max_unconsumed_(max_unconsumed),
    auth_(auth != nullptr && (auth->active() || auth->has_acl()) ? auth : nullptr),
    identity_as_username_(identity_as_username),
    check_credentials_(!identity_as_username && auth != nullptr && auth->active()) {
}

void edge_link::refuse(const net::connection_ptr& conn, uint8_t level, reason_code rc,
                       std::string_view why) {
  if (uint64_t held = 0; refusal_log.admit(held))
    AMQ_LOG_INFO("connection {} refused before CONNECT: {} ({}){}", conn->peer(), why,
                 to_string(rc), log::held_back(held, "refusals"));
  metrics::count_rejected(static_cast<uint8_t>(rc));
  send_refusal(conn, level, rc);
}

void edge_link::send_refusal(const net::connection_ptr& conn, uint8_t level, reason_code rc) {
  // Answer with a CONNACK in the client's protocol version where the spec
  // allows one (§3.1.4, §3.2.2.2); otherwise just close.
  if (level == 5) {
    connack ack;
    ack.code = rc;
    std::vector<uint8_t> out;
    encode(ack, protocol_version::v5, out);
    conn->send(std::move(out));
  } else if (level == 4 && rc != reason_code::malformed_packet
             && rc != reason_code::protocol_error) {
    // 3.1.1 refusals with a CONNACK return code (§3.2.2.3), e.g. 0x02 for an
    // empty client id with Clean Session 0 [MQTT-3.1.3-8]; a malformed
    // CONNECT is just closed (§4.8).
    connack ack;
    ack.code = rc;
    std::vector<uint8_t> out;
    encode(ack, protocol_version::v311, out);
    conn->send(std::move(out));
  } else if (level == 3 || level == 4) {
    if (rc == reason_code::unsupported_protocol_version) {
      conn->send(std::vector<uint8_t>{0x20, 0x02, 0x00, 0x01});
    }
  } else if (rc == reason_code::unsupported_protocol_version) {
    conn->send(std::vector<uint8_t>{0x20, 0x02, 0x00, 0x01});
  }
  conn->close();
}

void edge_link::on_data(const net::connection_ptr& conn, std::span<const uint8_t> bytes) {
  caf::actor target;
  bool direct = false;
  {
    std::lock_guard<tiny_lock> guard{mtx_};
    if (session_) {
      target = session_;
      direct = direct_;
    } else if (connect_seen_) {
      if (!early_)
        early_ = std::make_unique<std::vector<uint8_t>>();
      early_->insert(early_->end(), bytes.begin(), bytes.end());
      return;
    }
  }
  if (target) {
    auto n = unconsumed_.fetch_add(bytes.size()) + bytes.size();
    // An idle session homed on this worker takes the bytes at once, in a direct turn
    // (session.hpp): no mailbox element, job or dispatch between the read and its PUBLISH.
    auto* s = direct ? as_session(target) : nullptr;
    auto* eu = s != nullptr ? current_worker(s->home_system()) : nullptr;
    if (s != nullptr && s->try_claim(eu)) {
      byte_chunk chunk{bytes, net::connection::read_arrival()};
      s->bytes_claimed(eu, conn->id(), chunk);
    } else {
      caf::anon_send(target, bytes_atom::value, conn->id(),
                     byte_chunk{bytes, net::connection::read_arrival()});
    }
    if (n > max_unconsumed_ && !paused_.exchange(true)) {
      conn->pause_reading();
      // The session may have consumed everything in between.
      if (unconsumed_.load() <= max_unconsumed_ / 2 && paused_.exchange(false))
        conn->resume_reading();
    }
    return;
  }
  if (!framer_)
    return; // refused or closing: nothing more to frame
  // Before CONNECT: the first packet must be CONNECT (§3.1). Its first byte
  // already tells: do not wait for the rest of a packet that cannot be one.
  if (framer_->buffered() == 0 && !bytes.empty() && (bytes[0] >> 4) != 1) {
    refuse(conn, 0, reason_code::protocol_error, "first packet is not CONNECT");
    return;
  }
  connect_frame_ptr cf;
  std::vector<uint8_t> rest;
  bool stop = false;
  bool auth_refused = false;
  auto buffered_before = framer_->buffered();
  // A CONNECT refused by authentication: one log line (rate-limited; `why` is formatted only
  // if it is written), counted, CONNACK, closed.
  auto refuse_client = [&](const connect& p, uint8_t level, reason_code rc, auto why) {
    if (uint64_t held = 0; refusal_log.admit(held))
      AMQ_LOG_INFO("client '{}' refused from {}: {}{}", log::printable(p.client_id), conn->peer(), why(),
                   log::held_back(held, "refusals"));
    metrics::count_rejected(static_cast<uint8_t>(rc));
    send_refusal(conn, level, rc);
    auth_refused = true;
  };
  auto err = framer_->feed(bytes, [&](const frame& f) {
    stop = true;
    if (f.type() != packet_type::connect) {
      refuse(conn, 0, reason_code::protocol_error, "first packet is not CONNECT");
      return false;
    }
    uint8_t level = f.body.size() > 6 ? f.body[6] : 0;
    auto owned = std::make_shared<connect_frame>();
    owned->bytes.assign(f.body.begin(), f.body.end());
    auto res = decode_connect(frame{f.header, owned->bytes});
    if (!res) {
      refuse(conn, level, res.error().code, res.error().message);
      return false;
    }
    owned->packet = std::move(*res);
    if (identity_as_username_) {
      // The certificate is the credential (listeners.tls.use_identity_as_username).
      auto identity = conn->peer_identity();
      if (identity.empty()) {
        const auto rc = reason_code::not_authorized;
        refuse_client(owned->packet, level, rc, [&] {
          return fmt::format("its certificate names no user (no CN; "
                             "listeners.tls.use_identity_as_username), CONNACK {}",
                             to_string(rc));
        });
        return false;
      }
      owned->identity = std::move(identity);
      owned->packet.username = std::string_view{owned->identity};
      owned->packet.password.reset();
    }
    if (check_credentials_) {
      const auto& p = owned->packet;
      auto v = auth_->check(p.username, p.password);
      if (v != auth::verdict::accepted) {
        auto rc = v == auth::verdict::not_authorized ? reason_code::not_authorized
                                                     : reason_code::bad_user_name_or_password;
        refuse_client(p, level, rc, [&] {
          return fmt::format("{} (user {}, CONNACK {})", auth::to_string(v),
                             p.username ? "'" + log::printable(*p.username) + "'" : std::string{"none"},
                             to_string(rc));
        });
        return false;
      }
    }
    // Bytes after the CONNECT in this read (only if the frame lies in `bytes`).
    auto* end = f.body.data() + f.body.size();
    if (end >= bytes.data() && end <= bytes.data() + bytes.size()) {
      rest.assign(end, bytes.data() + bytes.size());
    } else {
      // The CONNECT was completed from the framer's buffer: the first
      // (wire_size - buffered_before) bytes of this read belong to it.
      auto used = f.wire_size() - buffered_before;
      if (used < bytes.size())
        rest.assign(bytes.begin() + used, bytes.end());
    }
    cf = std::move(owned);
    return false;
  });
  if (err && !stop) {
    refuse(conn, 0, err->code, err->message);
    return;
  }
  if (auth_refused) {
    framer_.reset(); // closing: frame nothing more
    return;
  }
  if (!cf)
    return;
  framer_.reset();
  conn->pause_reading();
  {
    std::lock_guard<tiny_lock> guard{mtx_};
    connect_seen_ = true;
    if (!rest.empty())
      early_ = std::make_unique<std::vector<uint8_t>>(std::move(rest));
  }
  caf::anon_send(registry_, connect_atom::value, conn, cf, shared_from_this());
}

void edge_link::on_closed(const net::connection_ptr& conn, std::error_code reason) {
  caf::actor target;
  {
    std::lock_guard<tiny_lock> guard{mtx_};
    closed_ = true;
    target = session_;
  }
  if (target)
    caf::anon_send(target, closed_atom::value, conn->id());
  else if (reason == net::error::tls_handshake_failed
           || reason == net::error::tls_handshake_timeout) { // TLS listener
    AMQ_LOG_INFO("connection {} closed: {}", conn->peer(), reason.message());
    metrics::add(metrics::slot::tls_handshake_failures);
  }
  else if (!connect_seen_)
    AMQ_LOG_DEBUG("connection {} closed before CONNECT: {}", conn->peer(), reason.message());
}

void edge_link::on_writable(const net::connection_ptr& conn) {
  caf::actor target;
  {
    std::lock_guard<tiny_lock> guard{mtx_};
    target = session_;
  }
  if (target)
    caf::anon_send(target, writable_atom::value, conn->id(), true);
}

std::vector<uint8_t> edge_link::bind(const net::connection_ptr& conn, caf::actor session,
                                     bool session_actor) {
  std::vector<uint8_t> early;
  bool closed;
  {
    std::lock_guard<tiny_lock> guard{mtx_};
    session_ = session;
    direct_ = session_actor;
    if (early_) {
      early.swap(*early_);
      early_.reset();
    }
    closed = closed_;
  }
  if (closed)
    caf::anon_send(session, closed_atom::value, conn->id());
  else
    conn->resume_reading();
  return early;
}

bool edge_link::connect_seen() {
  std::lock_guard<tiny_lock> guard{mtx_};
  return connect_seen_ || closed_;
}

void edge_link::consumed(const net::connection_ptr& conn, size_t n) {
  auto left = unconsumed_.fetch_sub(n) - n;
  if (left <= max_unconsumed_ / 2 && paused_.load() && paused_.exchange(false))
    conn->resume_reading();
}

} // namespace amq::actors
