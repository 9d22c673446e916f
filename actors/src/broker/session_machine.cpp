#include "amq/broker/session_machine.hpp"

#include <mutex>

#include "amq/metrics/registry.hpp"
#include "amq/protocol/delivery_codec.hpp"
#include "amq/protocol/topic.hpp"
#include "amq/storage/store.hpp"

#include <algorithm>
#include <limits>

namespace amq::broker {

using namespace protocol;

namespace {

constexpr uint32_t never = UINT32_MAX;

qos min_qos(qos a, qos b) {
  return static_cast<uint8_t>(a) < static_cast<uint8_t>(b) ? a : b;
}

} // namespace

namespace {

/// Every session of a broker has the same limits: keep one copy (two: the
/// DEVICE and the APPLICATION variant, see session_limits::application).
std::shared_ptr<const session_limits> intern(const session_limits& l) {
  static std::mutex mtx;
  static std::shared_ptr<const session_limits> last[2];
  std::lock_guard<std::mutex> guard{mtx};
  for (auto& p : last)
    if (p && *p == l)
      return p;
  last[1] = std::move(last[0]);
  last[0] = std::make_shared<const session_limits>(l);
  return last[0];
}

thread_local std::unique_ptr<effects> tl_spare_effects;

} // namespace

session_machine::session_machine(shared_string client_id, const session_limits& limits)
  : client_id_(std::move(client_id)), limits_(intern(limits)), framer_(limits.max_packet_size) {
}

std::unique_ptr<effects> session_machine::acquire_effects() {
  if (tl_spare_effects)
    return std::move(tl_spare_effects);
  return std::make_unique<effects>();
}

void session_machine::recycle_effects() noexcept {
  if (!fx_ || !fx_->empty())
    return;
  if (!tl_spare_effects)
    tl_spare_effects = std::move(fx_);
  else
    fx_.reset();
}

// -- connect / disconnect -----------------------------------------------------

uint32_t session_machine::effective_expiry(const connect& c) const {
  uint32_t requested;
  if (c.version == protocol_version::v311) {
    requested = c.clean_start ? 0 : never;
  } else {
    requested = c.props.session_expiry_interval.value_or(0);
    if (requested == 0 && !c.clean_start && limits_->rule == persistence_rule::seed)
      requested = never;
  }
  if (requested == never && limits_->no_expiry_ttl != 0)
    requested = limits_->no_expiry_ttl;
  return std::min(requested, limits_->max_session_expiry);
}

namespace {

size_t topic_levels(std::string_view t) {
  return static_cast<size_t>(std::count(t.begin(), t.end(), '/')) + 1;
}

bool expired_in_queue(const queued_message& qm, session_machine::time_point now) {
  return qm.msg->expired(now) || (qm.ttl_deadline && now >= *qm.ttl_deadline);
}

/// acl.deny_subscribe: refused when a deny entry matches the requested filter
/// read as a topic name (for $share/group/f, the filter f).
bool subscribe_denied(const std::vector<std::string>& deny, std::string_view filter) {
  if (auto shared = parse_shared(filter))
    filter = shared->filter;
  for (const auto& d : deny)
    if (d == filter || topic_matches(d, filter))
      return true;
  return false;
}

} // namespace

bool session_machine::refuse_connect(reason_code rc, const char* detail) {
  connack ack;
  ack.code = rc;
  write(ack);
  fx().close = true;
  fx().close_reason = rc;
  fx().close_detail = detail;
  metrics::count_rejected(static_cast<uint8_t>(rc));
  return false;
}

bool session_machine::on_connect(const connect& c, time_point now) {
  version_ = c.version;
  framer_ = framer{limits_->max_packet_size};
  if (c.version == protocol_version::v5 && c.props.authentication_method) {
    // Enhanced authentication (§4.12) is not offered.
    return refuse_connect(reason_code::bad_authentication_method,
                          "enhanced authentication is not supported");
  }
  if (c.will && access_ && !access_->may_publish(c.will->topic)) {
    // As Mosquitto: a will the client may not publish refuses the CONNECT (3.1.1: 0x05).
    metrics::add(metrics::slot::acl_denied);
    return refuse_connect(reason_code::not_authorized,
                          "the will topic is not allowed by auth.acl_file");
  }
  connack ack;
  if (c.clean_start && existed_) {
    // The existing session ends here: a will still waiting for its delay is
    // published now (MQTT 5.0 §3.1.2.4, §3.1.3.2.2: "... or the Session ends,
    // whichever happens first").
    if (will_ && will_->at)
      publish_will(now);
    reset_state();
  }
  ack.session_present = existed_ && !c.clean_start;
  session_expiry_ = effective_expiry(c);
  persistent_ = session_expiry_ > 0;
  // A reconnect in time cancels a delayed will (§3.1.3.2.2).
  will_.reset();
  expires_at_.reset();
  if (c.will) {
    auto& w = *c.will;
    publish p;
    p.qos_level = w.qos_level;
    p.retain = w.retain;
    p.topic = w.topic;
    p.payload = w.payload;
    p.props = w.props;
    p.props.will_delay_interval.reset();
    // Message Expiry starts when the will is published (§3.1.3.2.4).
    auto expiry = p.props.message_expiry_interval;
    p.props.message_expiry_interval.reset();
    will_ = std::make_unique<pending_will>();
    will_->msg = std::make_shared<message>(message::from_publish(p, w.topic, client_id_, now));
    will_->delay = w.props.will_delay_interval.value_or(0);
    will_->expiry = expiry;
  }
  keep_alive_ = c.keep_alive;
  bool keep_alive_capped = false;
  if (limits_->server_keep_alive != 0 && c.version == protocol_version::v5
      && (c.keep_alive == 0 || c.keep_alive > limits_->server_keep_alive)) {
    keep_alive_ = limits_->server_keep_alive;
    keep_alive_capped = true;
  }
  client_receive_max_ = c.props.receive_maximum.value_or(65535);
  client_max_packet_ = c.props.maximum_packet_size.value_or(0);
  request_problem_info_ = c.props.request_problem_information.value_or(1) != 0;
  topic_aliases_.clear();
  out_aliases_.clear();
  client_topic_alias_max_ =
      c.version == protocol_version::v5 ? c.props.topic_alias_maximum.value_or(0) : 0;
  inbound_unacked_ = 0;
  pending_acks_.clear();
  if (version_ == protocol_version::v5) {
    auto& p = ack.props;
    p.receive_maximum = limits_->receive_maximum;
    p.maximum_packet_size = limits_->max_packet_size;
    if (limits_->topic_alias_maximum > 0)
      p.topic_alias_maximum = limits_->topic_alias_maximum;
    if (keep_alive_capped)
      p.server_keep_alive = keep_alive_;
    // §3.2.2.3.2: tell the client whenever the server uses another value,
    // including the seed rule's "Clean Start 0 + expiry 0 is persistent".
    auto requested = c.props.session_expiry_interval.value_or(0);
    if (requested != session_expiry_)
      p.session_expiry_interval = session_expiry_;
    if (c.client_id.empty())
      p.assigned_client_identifier = client_id_;
  }
  write(ack);
  connected_ = true;
  existed_ = true;
  last_rx_ = now;
  fx().record_changed = true;
  // Resend everything in flight, in order, with DUP (§4.4).
  for (auto i = inflight_.begin(); i != inflight_.end();) {
    auto& e = i->second;
    if (e.state == inflight_entry::awaiting_pubcomp) {
      pubrel rel;
      rel.packet_id = e.packet_id;
      write(rel);
    } else if (e.state == inflight_entry::releasing) {
      // The client has it; PUBREL follows once the mark is stored.
    } else if (!send_now(e.qm, e.packet_id, true, now)) {
      // Too large for this connection's Maximum Packet Size: discarded "as
      // if it had completed sending" (§3.1.2.25), so it frees its slot.
      entry_done(e.qm);
      inflight_ids_.erase(e.packet_id);
      i = inflight_.erase(i);
      continue;
    }
    ++i;
  }
  pump(now);
  return true;
}

void session_machine::connection_gone(bool publish_will_now, time_point now) {
  if (!connected_)
    return;
  if (fx().close)
    metrics::count_disconnect(static_cast<uint8_t>(fx().close_reason));
  else
    metrics::count_connection_lost();
  fx().record_changed = true;
  connected_ = false;
  writable_ = true;
  slow_ = not_slow; // offline, its queue's limit applies anyway
  pending_acks_.clear();
  inbound_unacked_ = 0;
  topic_aliases_.clear();
  if (will_) {
    if (!publish_will_now)
      will_.reset();
    else if (will_->delay == 0 || !persistent_)
      publish_will(now);
    else
      will_->at = now + std::chrono::seconds{will_->delay};
  }
  if (!persistent_) {
    end_session(now);
    return;
  }
  if (session_expiry_ != never)
    expires_at_ = now + std::chrono::seconds{session_expiry_};
}

void session_machine::close_connection(bool publish_will_now, time_point now) {
  fx().close = true;
  connection_gone(publish_will_now, now);
}

void session_machine::protocol_violation(reason_code rc, std::string_view why,
                                         bool send_disconnect) {
  if (!connected_)
    return;
  if (version_ == protocol_version::v5 && send_disconnect) {
    disconnect d;
    d.code = rc;
    d.props.reason_string = why;
    write(d);
  }
  fx().close = true;
  fx().close_reason = rc;
  fx().close_detail.assign(why);
  // The will is published: the connection did not end with DISCONNECT 0x00.
  connection_gone(true, last_rx_);
}

void session_machine::on_connection_closed(time_point now) {
  connection_gone(true, now);
}

void session_machine::on_takeover(time_point now) {
  if (!connected_)
    return;
  if (version_ == protocol_version::v5) {
    disconnect d;
    d.code = reason_code::session_taken_over;
    write(d);
  }
  fx().close = true;
  fx().close_reason = reason_code::session_taken_over;
  fx().close_detail = "session taken over";
  connection_gone(true, now);
}

void session_machine::on_server_disconnect(reason_code rc, time_point now) {
  if (!connected_)
    return;
  if (version_ == protocol_version::v5) {
    disconnect d;
    d.code = rc;
    write(d);
  }
  fx().close = true;
  fx().close_reason = rc;
  connection_gone(true, now);
}

void session_machine::on_admin_clear(time_point now) {
  on_server_disconnect(reason_code::administrative_action, now);
  will_.reset();
  end_session(now);
}

void session_machine::end_session(time_point now) {
  if (finished_)
    return;
  finished_ = true;
  connected_ = false;
  if (will_)
    publish_will(now);
  for (auto& [filter, entry] : subs_)
    fx().unsubscribes.emplace_back(filter);
  subs_.clear();
  inflight_.clear();
  inflight_ids_.clear();
  queue_.clear();
  cold_.reset();
  qos2_in_.clear();
  expires_at_.reset();
}

void session_machine::reset_state() {
  fx().state_reset = true;
  for (auto& [filter, entry] : subs_)
    fx().unsubscribes.emplace_back(filter);
  subs_.clear();
  inflight_.clear();
  inflight_ids_.clear();
  queue_.clear();
  cold_.reset();
  qos2_in_.clear();
  will_.reset();
  expires_at_.reset();
  existed_ = false;
}

void session_machine::publish_will(time_point now) {
  if (access_ && !access_->may_publish(will_->msg->topic)) {
    // Allowed at CONNECT, but an ACL reloaded since took the topic away: not published.
    metrics::add(metrics::slot::acl_denied);
    fx().denials.push_back({access_denial::kind::will, will_->msg->topic});
    will_.reset();
    return;
  }
  if (will_->expiry) {
    auto msg = std::make_shared<message>(*will_->msg);
    msg->expires_at = now + std::chrono::seconds{*will_->expiry};
    fx().routes.push_back(std::move(msg));
  } else {
    fx().routes.push_back(std::move(will_->msg));
  }
  will_.reset();
}

// -- timers -------------------------------------------------------------------

std::optional<session_machine::time_point> session_machine::next_deadline() const noexcept {
  std::optional<time_point> t;
  auto consider = [&](std::optional<time_point> x) {
    if (x && (!t || *x < *t))
      t = x;
  };
  if (connected_ && keep_alive_ > 0)
    consider(last_rx_ + std::chrono::milliseconds{keep_alive_ * 1500});
  if (will_)
    consider(will_->at);
  if (!connected_)
    consider(expires_at_);
  return t;
}

void session_machine::on_timer(time_point now) {
  if (connected_ && keep_alive_ > 0
      && now >= last_rx_ + std::chrono::milliseconds{keep_alive_ * 1500}) {
    if (version_ == protocol_version::v5) {
      disconnect d;
      d.code = reason_code::keep_alive_timeout;
      write(d);
    }
    fx().close = true;
    fx().close_reason = reason_code::keep_alive_timeout;
    fx().close_detail = "no packet within 1.5 x keep alive";
    connection_gone(true, now);
  }
  if (will_ && will_->at && now >= *will_->at)
    publish_will(now);
  if (!connected_ && expires_at_ && now >= *expires_at_)
    end_session(now);
}

// -- inbound packets ----------------------------------------------------------

void session_machine::on_bytes(std::span<const uint8_t> bytes, time_point now) {
  if (!connected_)
    return;
  last_rx_ = now;
  auto err = framer_.feed(bytes, [&](const frame& f) {
    auto res = decode(f, version_);
    if (!res) {
      protocol_violation(res.error().code, res.error().message);
      return false;
    }
    std::visit(
      [&](auto& pkt) {
        using T = std::decay_t<decltype(pkt)>;
        if constexpr (std::is_same_v<T, publish> || std::is_same_v<T, puback>
                      || std::is_same_v<T, pubrec> || std::is_same_v<T, pubrel>
                      || std::is_same_v<T, pubcomp> || std::is_same_v<T, subscribe>
                      || std::is_same_v<T, unsubscribe> || std::is_same_v<T, disconnect>) {
          handle(pkt, now);
        } else if constexpr (std::is_same_v<T, pingreq>) {
          write(pingresp{});
        } else if constexpr (std::is_same_v<T, connect>) {
          // [MQTT-3.1.0-2]: a Protocol Error, the connection is closed. No
          // DISCONNECT: 5.0 §4.13.1 asks for one after errors in packets other
          // than CONNECT; for a CONNECT only a CONNACK MAY be sent, which does
          // not fit an open connection. (Closing at once, as the Paho reference
          // broker does, also spares clients that read the socket from two
          // threads a torn packet: the Paho 5.0 suite's test_basic hung so.)
          protocol_violation(reason_code::protocol_error, "second CONNECT on a connection",
                             false);
        } else if constexpr (std::is_same_v<T, auth>) {
          protocol_violation(reason_code::protocol_error,
                             "AUTH without enhanced authentication");
        } else {
          protocol_violation(reason_code::protocol_error,
                             "packet type not allowed from a client");
        }
      },
      *res);
    return connected_;
  });
  if (err)
    protocol_violation(err->code, err->message);
}

void session_machine::handle(publish& p, time_point now) {
  ++counters_->messages_in;
  metrics::add(metrics::slot::received + static_cast<size_t>(p.qos_level));
  if (p.qos_level != qos::at_most_once && version_ == protocol_version::v5
      && inbound_unacked_ >= limits_->receive_maximum) {
    protocol_violation(reason_code::receive_maximum_exceeded,
                       "more QoS 1/2 publishes in flight than Receive Maximum");
    return;
  }
  if (!p.props.subscription_identifiers.empty()) {
    protocol_violation(reason_code::protocol_error,
                       "PUBLISH from a client must not carry a Subscription Identifier");
    return;
  }
  std::string_view topic = p.topic;
  if (p.props.topic_alias) {
    auto alias = *p.props.topic_alias;
    if (alias == 0 || alias > limits_->topic_alias_maximum) {
      protocol_violation(reason_code::topic_alias_invalid,
                         "topic alias is 0 or above Topic Alias Maximum");
      return;
    }
    if (!p.topic.empty()) {
      topic_aliases_[alias].assign(p.topic);
    } else {
      auto i = topic_aliases_.find(alias);
      if (i == topic_aliases_.end()) {
        protocol_violation(reason_code::protocol_error, "unknown topic alias");
        return;
      }
      topic = i->second;
    }
  } else if (topic.empty()) {
    protocol_violation(reason_code::protocol_error, "empty topic without topic alias");
    return;
  }
  if (limits_->max_topic_levels != 0 && topic_levels(topic) > limits_->max_topic_levels) {
    protocol_violation(reason_code::topic_name_invalid, "topic has more levels than allowed");
    return;
  }
  if (p.qos_level == qos::exactly_once) {
    if (auto i = qos2_in_.find(p.packet_id); i != qos2_in_.end()) {
      // Duplicate before PUBREL: acknowledge again, never forward twice.
      // Behind the acks still waiting, and not before the id is stored.
      ++counters_->duplicate_qos2;
      metrics::add(metrics::slot::qos2_duplicates);
      if (pending_acks_.empty() && i->second != qos2_storing) {
        pubrec rec;
        rec.packet_id = p.packet_id;
        write(rec);
      } else if (pending_acks_.empty()) {
        pending_acks_.push_back({0, p.packet_id, p.qos_level, true});
      } else {
        auto& back = pending_acks_.back();
        pending_acks_.push_back({back.seq, p.packet_id, p.qos_level, back.routed});
      }
      return;
    }
  }
  // auth.acl_file: a topic the client may not publish to is not forwarded. MQTT 5 QoS 1/2 get
  // 0x87 in their PUBACK/PUBREC; 3.1.1 has no negative ack, so its flow completes as usual
  // (Mosquitto does the same); QoS 0 is dropped. The ack keeps its place behind earlier ones.
  const bool denied = access_ && !access_->may_publish(topic);
  if (denied) {
    metrics::add(metrics::slot::acl_denied);
    fx().denials.push_back({access_denial::kind::publish, std::string{topic}});
  } else
    fx().routes.push_back(std::make_shared<message>(message::from_publish(p, topic, client_id_, now)));
  if (p.qos_level == qos::at_most_once)
    return;
  if (denied && version_ == protocol_version::v5) {
    ++inbound_unacked_;
    pending_acks_.push_back({route_seq_, p.packet_id, p.qos_level, true, reason_code::not_authorized});
    flush_acks();
    return;
  }
  if (p.qos_level == qos::exactly_once) {
    // A persistent session stores the id (fx().store_qos2_in) and PUBREC
    // waits for it (on_qos2_in_stored) as well as for the routes, so that
    // after a restart a resent PUBLISH (DUP) is known and not routed again.
    qos2_in_.insert_or_assign(p.packet_id, persistent_ ? qos2_storing : qos2_stored);
    if (persistent_)
      fx().store_qos2_in.push_back(p.packet_id);
  }
  ++inbound_unacked_;
  pending_acks_.push_back({route_seq_, p.packet_id, p.qos_level, denied});
  if (denied)
    flush_acks(); // nothing routed for it: it waits only for the acks before it
}

uint64_t session_machine::commit_routes() noexcept {
  return route_seq_++;
}

void session_machine::on_routed(uint64_t seq, time_point) {
  for (auto& a : pending_acks_) {
    if (a.seq > seq)
      break;
    a.routed = true;
  }
  flush_acks();
}

void session_machine::on_qos2_in_stored(uint16_t packet_id, bool ok, time_point) {
  (void)ok; // not stored: PUBREC goes out anyway (the actor logs it); only
            // a crash before PUBREL could then route a resent PUBLISH again
  qos2_in_stored(packet_id);
  flush_acks();
}

void session_machine::qos2_in_stored(uint16_t packet_id) {
  auto i = qos2_in_.find(packet_id);
  if (i == qos2_in_.end() || i->second != qos2_storing)
    return; // released (PUBREL) or reset meanwhile, or a stale answer
  i->second = qos2_stored;
}

const durable_batch* session_machine::commit_durable() {
  if (!fx_ || (fx_->store_qos2_in.empty() && fx_->mark_seqs.empty()
               && fx_->erase_qos2_in.empty()))
    return nullptr;
  if (++durable_token_ == 0)
    durable_token_ = 1; // 0 is "none"
  auto& b = durable_.emplace_back();
  b.token = durable_token_;
  // Copied (one exact allocation each), not moved: the effects object is
  // recycled with its capacity.
  b.store_qos2_in.assign(fx_->store_qos2_in.begin(), fx_->store_qos2_in.end());
  b.mark_seqs.assign(fx_->mark_seqs.begin(), fx_->mark_seqs.end());
  b.erase_qos2_in.assign(fx_->erase_qos2_in.begin(), fx_->erase_qos2_in.end());
  fx_->store_qos2_in.clear();
  fx_->mark_seqs.clear();
  fx_->erase_qos2_in.clear();
  return &b;
}

const durable_batch* session_machine::find_durable(uint32_t token) const noexcept {
  for (auto& b : durable_)
    if (b.token == token)
      return &b;
  return nullptr;
}

void session_machine::on_durable(uint32_t token, bool ok, time_point now) {
  // Answers come in the order the batches were written (one storage actor,
  // committing in order); a search covers answers that come otherwise (a
  // batch confirmed at once after the record was erased).
  auto i = durable_.begin();
  while (i != durable_.end() && i->token != token)
    ++i;
  if (i == durable_.end())
    return;
  auto b = std::move(*i);
  durable_.erase(i);
  // Inbound first: the PUBRECs whose ids are now stored (in the order of
  // their PUBLISHes, behind acks still waiting for routes) ...
  for (auto id : b.store_qos2_in)
    qos2_in_stored(id);
  flush_acks();
  // ... then PUBREL per mark, in the order the PUBRECs arrived ...
  for (auto seq : b.mark_seqs)
    on_mark_stored(seq, ok, now);
  // ... and PUBCOMP per erased id, in the order the PUBRELs arrived.
  for (auto id : b.erase_qos2_in)
    on_qos2_in_erased(id, ok, now);
}

void session_machine::on_qos2_in_erased(uint16_t packet_id, bool ok, time_point) {
  (void)ok; // not erased: PUBCOMP goes out anyway (the actor logs it)
  auto i = qos2_in_.find(packet_id);
  if (i == qos2_in_.end() || i->second != qos2_erasing)
    return; // stale (session reset meanwhile)
  qos2_in_.erase(i);
  if (!connected_)
    return; // the client resends PUBREL on its next connection
  pubcomp comp;
  comp.packet_id = packet_id;
  write(comp);
}

void session_machine::restore_qos2_in(const std::vector<uint16_t>& ids) {
  for (auto id : ids)
    qos2_in_.insert_or_assign(id, qos2_stored);
}

void session_machine::flush_acks() {
  while (!pending_acks_.empty() && pending_acks_.front().routed) {
    auto a = pending_acks_.front();
    if (a.q == qos::exactly_once) {
      auto i = qos2_in_.find(a.packet_id);
      if (i != qos2_in_.end() && i->second == qos2_storing)
        break; // its id is not stored yet: PUBREC (and what follows) waits
    }
    pending_acks_.pop_front();
    if (a.q == qos::at_least_once) {
      puback ack;
      ack.packet_id = a.packet_id;
      ack.code = a.code;
      write(ack);
      if (inbound_unacked_ > 0)
        --inbound_unacked_;
    } else {
      pubrec rec;
      rec.packet_id = a.packet_id;
      rec.code = a.code;
      write(rec);
      if (static_cast<uint8_t>(a.code) >= 0x80 && inbound_unacked_ > 0)
        --inbound_unacked_; // a refusing PUBREC ends the flow
    }
  }
}

void session_machine::on_route_failed(uint64_t seq, reason_code rc, time_point now) {
  if (pending_acks_.empty() || pending_acks_.front().seq > seq)
    return;
  if (version_ == protocol_version::v311) {
    // 3.1.1 has no negative acknowledgement: close so the client resends.
    pending_acks_.clear();
    fx().close = true;
    fx().close_reason = rc;
    fx().close_detail = "message could not be stored";
    connection_gone(true, now);
    return;
  }
  while (!pending_acks_.empty() && pending_acks_.front().seq <= seq) {
    auto a = pending_acks_.front();
    pending_acks_.pop_front();
    if (inbound_unacked_ > 0)
      --inbound_unacked_;
    if (a.q == qos::at_least_once) {
      puback ack;
      ack.packet_id = a.packet_id;
      ack.code = rc;
      write(ack);
    } else {
      // Refused: the id goes (its erase needs no confirmation, the refusing
      // PUBREC tells the client the flow is over).
      if (qos2_in_.erase(a.packet_id) > 0 && persistent_)
        fx().erase_qos2_in.push_back(a.packet_id);
      pubrec rec;
      rec.packet_id = a.packet_id;
      rec.code = rc;
      write(rec);
    }
  }
}

void session_machine::handle(const puback& p, time_point now) {
  auto i = inflight_ids_.find(p.packet_id);
  if (i == inflight_ids_.end())
    return; // unknown id: nothing to release (MQTT allows ignoring it)
  auto e = inflight_.find(i->second);
  if (e->second.state != inflight_entry::awaiting_puback)
    return;
  entry_done(e->second.qm);
  inflight_.erase(e);
  inflight_ids_.erase(i);
  pump(now);
}

void session_machine::handle(const pubrec& p, time_point now) {
  auto i = inflight_ids_.find(p.packet_id);
  if (i == inflight_ids_.end()) {
    pubrel rel;
    rel.packet_id = p.packet_id;
    rel.code = reason_code::packet_identifier_not_found;
    write(rel);
    return;
  }
  auto e = inflight_.find(i->second);
  if (e->second.state == inflight_entry::awaiting_puback
      || e->second.state == inflight_entry::releasing)
    return; // releasing: PUBREL follows once the mark is stored
  if (static_cast<uint8_t>(p.code) >= 0x80) {
    // The client refused the message: the flow ends here (§4.3.3).
    entry_done(e->second.qm);
    inflight_.erase(e);
    inflight_ids_.erase(i);
    pump(now);
    return;
  }
  if (e->second.state == inflight_entry::awaiting_pubrec && e->second.qm.seq != 0) {
    // A stored entry: PUBREL only once its "released" mark is durable, so
    // that a restart resends PUBREL and not the message (on_mark_stored).
    e->second.state = inflight_entry::releasing;
    e->second.qm.released = true;
    fx().mark_seqs.push_back(e->second.qm.seq);
    return;
  }
  e->second.state = inflight_entry::awaiting_pubcomp;
  e->second.qm.msg.reset(); // the message itself is no longer needed
  pubrel rel;
  rel.packet_id = p.packet_id;
  write(rel);
}

void session_machine::on_mark_stored(uint64_t seq, bool ok, time_point) {
  auto i = inflight_ids_.find(storage::packet_id_for(seq));
  if (i == inflight_ids_.end())
    return;
  auto e = inflight_.find(i->second);
  auto& en = e->second;
  if (en.state != inflight_entry::releasing || en.qm.seq != seq)
    return; // stale: the entry is gone or was sent again meanwhile
  if (!ok) {
    // Not stored: PUBREL now could be followed by the message again after a
    // crash. The entry waits for the next connection (PUBLISH, DUP=1).
    en.state = inflight_entry::awaiting_pubrec;
    en.qm.released = false;
    return;
  }
  en.state = inflight_entry::awaiting_pubcomp;
  en.qm.msg.reset();
  if (!connected_)
    return; // sent on reconnect
  pubrel rel;
  rel.packet_id = en.packet_id;
  write(rel);
}

void session_machine::handle(const pubrel& p, time_point) {
  pubcomp comp;
  comp.packet_id = p.packet_id;
  auto i = qos2_in_.find(p.packet_id);
  if (i != qos2_in_.end() && i->second == qos2_erasing)
    return; // repeated: PUBCOMP follows the erase
  if (i != qos2_in_.end() && persistent_) {
    // PUBCOMP only once the id's erase is durable (on_qos2_in_erased):
    // after PUBCOMP the client may reuse the id for a new message, which a
    // stored id left by a crash would turn into a "duplicate", never routed.
    i->second = qos2_erasing;
    fx().erase_qos2_in.push_back(p.packet_id);
    if (inbound_unacked_ > 0)
      --inbound_unacked_;
    return;
  }
  if (i != qos2_in_.end()) {
    qos2_in_.erase(i);
    if (inbound_unacked_ > 0)
      --inbound_unacked_;
  } else {
    comp.code = reason_code::packet_identifier_not_found;
  }
  write(comp);
}

void session_machine::handle(const pubcomp& p, time_point now) {
  auto i = inflight_ids_.find(p.packet_id);
  if (i == inflight_ids_.end())
    return;
  auto e = inflight_.find(i->second);
  if (e->second.state != inflight_entry::awaiting_pubcomp)
    return;
  entry_done(e->second.qm);
  inflight_.erase(e);
  inflight_ids_.erase(i);
  pump(now);
}

void session_machine::handle(const subscribe& p, time_point) {
  suback ack;
  ack.packet_id = p.packet_id;
  uint32_t sub_id = p.props.subscription_identifiers.empty()
                      ? 0
                      : p.props.subscription_identifiers.front();
  for (auto& s : p.subscriptions) {
    if (validate_topic_filter(s.filter)
        || (limits_->max_topic_levels != 0 && topic_levels(s.filter) > limits_->max_topic_levels)) {
      ack.codes.push_back(version_ == protocol_version::v5 ? reason_code::topic_filter_invalid
                                                          : reason_code::unspecified_error);
      continue;
    }
    const auto shared = parse_shared(s.filter);
    if (s.no_local && shared) {
      protocol_violation(reason_code::protocol_error,
                         "No Local must not be set on a shared subscription");
      return;
    }
    if (access_ && !access_->may_subscribe(shared ? shared->filter : std::string_view{s.filter})) {
      metrics::add(metrics::slot::acl_denied + 1);
      fx().denials.push_back({access_denial::kind::subscribe, std::string{s.filter}});
      ack.codes.push_back(version_ == protocol_version::v5 ? reason_code::not_authorized
                                                          : reason_code::unspecified_error);
      continue;
    }
    if (!limits_->deny_subscribe.empty() && subscribe_denied(limits_->deny_subscribe, s.filter)) {
      metrics::add(metrics::slot::subscribe_denied);
      // 0x80 in both versions (5.0 allows it when the reason is not revealed).
      ack.codes.push_back(reason_code::unspecified_error);
      continue;
    }
    subscription_entry entry{s.max_qos, s.no_local, s.retain_as_published, s.handling, sub_id};
    auto [stored, inserted] = subs_.insert_or_assign(s.filter, entry);
    fx().subscribes.push_back({std::string{stored}, entry, inserted});
    ack.codes.push_back(static_cast<reason_code>(s.max_qos));
  }
  fx().record_changed = true;
  write(ack);
}

void session_machine::handle(const unsubscribe& p, time_point) {
  unsuback ack;
  ack.packet_id = p.packet_id;
  for (auto f : p.filters) {
    if (!subs_.erase(f)) {
      ack.codes.push_back(reason_code::no_subscription_existed);
      continue;
    }
    fx().unsubscribes.emplace_back(f);
    ack.codes.push_back(reason_code::success);
  }
  fx().record_changed = true;
  write(ack);
}

void session_machine::handle(const disconnect& p, time_point now) {
  if (version_ == protocol_version::v5 && p.props.session_expiry_interval) {
    auto requested = *p.props.session_expiry_interval;
    if (session_expiry_ == 0 && requested != 0) {
      protocol_violation(reason_code::protocol_error,
                         "Session Expiry set in DISCONNECT after 0 in CONNECT");
      return;
    }
    session_expiry_ = std::min(requested, limits_->max_session_expiry);
    persistent_ = session_expiry_ > 0;
  }
  fx().close = true;
  fx().close_reason = p.code;
  fx().close_detail = "client sent DISCONNECT";
  // Only Normal disconnection (0x00) deletes the will (MQTT 5.0 §3.1.2.5,
  // §3.14.4); 0x04 and every error code keep it. 3.1.1 always deletes it.
  bool keep_will = version_ == protocol_version::v5
                   && p.code != reason_code::normal_disconnection;
  connection_gone(keep_will, now);
}

// -- outbound -----------------------------------------------------------------

void session_machine::set_writable(bool writable, time_point now) {
  writable_ = writable;
  if (writable)
    pump(now);
}

bool session_machine::send_now(queued_message& qm, uint16_t packet_id, bool dup, time_point now) {
  // auth.acl_file: a message on a topic the client may not read is discarded for it here, where
  // every delivery passes (live, queued while offline, stored before a restart, retained, resent),
  // "as if it had completed sending" like one too large for it.
  if (access_ && !access_->may_receive(qm.msg->topic)) {
    metrics::add(metrics::slot::acl_denied + 2);
    fx().denials.push_back({access_denial::kind::receive, qm.msg->topic});
    return false;
  }
  // Encoded straight from the shared message (amq/protocol/delivery_codec.hpp):
  // no publish/properties value is built per delivery.
  delivery_header h;
  h.q = qm.q;
  h.retain = qm.retain;
  h.dup = dup;
  h.packet_id = packet_id;
  const std::string& topic = qm.msg->topic;
  // Outbound topic alias (5.0 §3.3.2.3.4): the first PUBLISH on a topic
  // carries the name and a new alias, later ones only the alias, while the
  // client's Topic Alias Maximum leaves room. Mappings last one connection.
  uint16_t new_alias = 0;
  if (version_ == protocol_version::v5) {
    h.subscription_ids = qm.subscription_ids;
    if (client_topic_alias_max_ > 0 && !topic.empty()) {
      if (auto a = out_aliases_.find(topic); a != out_aliases_.end()) {
        h.topic_alias = a->second;
        h.alias_only = true;
      } else if (out_aliases_.size() < client_topic_alias_max_) {
        new_alias = static_cast<uint16_t>(out_aliases_.size() + 1);
        h.topic_alias = new_alias;
      }
    }
  }
  auto size = append_delivery(*qm.msg, h, version_, now, client_max_packet_, out_);
  if (client_max_packet_ != 0 && size > client_max_packet_) {
    ++counters_->dropped_too_large;
    metrics::count_drop(metrics::drop::too_large);
    return false; // not sent: a new alias is not established either
  }
  if (new_alias != 0)
    out_aliases_.emplace(topic, new_alias);
  ++counters_->messages_out;
  metrics::add(metrics::slot::sent + static_cast<size_t>(qm.q));
  return true;
}

uint16_t session_machine::next_packet_id() {
  do {
    if (++last_packet_id_ == 0)
      last_packet_id_ = 1;
  } while (inflight_ids_.count(last_packet_id_) > 0);
  return last_packet_id_;
}

void session_machine::set_application(bool application) {
  if (limits_->application == application)
    return;
  auto l = *limits_;
  l.application = application;
  limits_ = intern(l);
}

size_t session_machine::offline_limit() const noexcept {
  if (!limits_->application)
    return limits_->max_queued_offline;
  auto l = limits_->max_queued_offline_application;
  return l == 0 ? std::numeric_limits<size_t>::max() : l;
}

size_t session_machine::hold_mark() const noexcept {
  // The headroom takes the route batches already on their way (the router
  // paces at <= 1000).
  auto limit = offline_limit();
  return limit - std::min<size_t>(limit / 2, 2000);
}

int64_t session_machine::progress() const noexcept {
  auto p = static_cast<int64_t>(deliveries_);
  if (!connected_)
    return p;
  auto depth = queue_.size() + stored_backlog();
  if (slow_ != not_slow)
    return p - static_cast<int64_t>(depth); // caught up: below the router's low mark
  bool stored = cold_ || (!queue_.empty() && queue_.front().seq != 0);
  if (!persistent_ || !stored)
    return p - static_cast<int64_t>(queue_.size());
  // Hold publishers before the stored queue is full.
  auto mark = hold_mark();
  return depth > mark ? p - static_cast<int64_t>(depth - mark) : p;
}

void session_machine::set_slow(bool slow) {
  if (!slow) {
    // Still above the hold mark (a limit below the router's low mark):
    // stays marked until below it (pump), so that it does not hold its
    // publishers again at once.
    if (slow_ != not_slow)
      slow_ = queue_.size() + stored_backlog() > hold_mark() ? slow_leaving : not_slow;
    return;
  }
  if (!connected_ || !persistent_ || limits_->hold_slow_persistent)
    return;
  slow_ = slow_marked;
  if (limits_->offline_drop_newest)
    return; // what is queued stays; new messages are refused at the limit
  // Batches on their way while its publishers were held may have passed the
  // limit a little: back to it, the oldest first (as enqueue does).
  while (queue_.size() + stored_backlog() > offline_limit()) {
    ++counters_->dropped_queue_full;
    metrics::count_drop(metrics::drop::stored_queue_full);
    drop_oldest();
  }
}

void session_machine::drop_oldest() {
  // The front of the memory queue, or else the first entry of the stored tail.
  if (!queue_.empty()) {
    entry_done(queue_.front());
    queue_.pop_front();
  } else if (cold_) {
    // Not read yet: it may carry a mark (restored after a restart).
    fx().unmark_seqs.push_back(cold_->next_seq);
    fx().done_seqs.push_back(cold_->next_seq++);
    if (cold_->count > 0)
      --cold_->count;
  }
}

void session_machine::enqueue(queued_message qm) {
  // A stored entry beyond the memory window costs no memory: only the
  // store's limit (offline_limit()) applies to it, also while a client
  // is draining a long backlog; the online limit bounds the memory queue.
  // A connected session marked slow (set_slow) is bounded like an offline
  // one: the store's limit applies to its whole queue.
  bool to_store = qm.seq != 0 && (cold_ || queue_.size() >= limits_->queue_memory);
  bool whole = to_store || !connected_ || (qm.seq != 0 && slow_ != not_slow);
  auto limit = whole ? offline_limit() : limits_->max_queued_online;
  // A connected persistent session does not drop a stored (acknowledged)
  // message for its count limit unless the router marked it slow: the
  // router holds the publishers before it (progress()); batches already on
  // their way may pass the limit a little.
  bool hold = connected_ && qm.seq != 0 && slow_ == not_slow;
  if (!hold && queue_.size() + (whole ? stored_backlog() : 0) >= limit) {
    ++counters_->dropped_queue_full;
    metrics::count_drop(!connected_ ? metrics::drop::offline_queue_full
                        : whole     ? metrics::drop::stored_queue_full
                                    : metrics::drop::online_queue_full);
    // Overflow policy (a full stored queue: session.device_overflow_policy,
    // connected or not); else drop the oldest, counted.
    if ((queue_.empty() && !cold_) || (whole && limits_->offline_drop_newest)) {
      entry_done(qm);
      return;
    }
    drop_oldest();
  }
  if (qm.seq != 0) {
    // A stored entry: while cold, or once the memory window is full, only
    // its position is kept; its payload is read back from the store.
    if (!cold_ && queue_.size() >= limits_->queue_memory) {
      cold_ = std::make_unique<cold_queue>();
      cold_->next_seq = qm.seq;
    }
    if (cold_) {
      cold_->last_seq = std::max(cold_->last_seq, qm.seq);
      ++cold_->count;
      return;
    }
  }
  queue_.push_back(std::move(qm));
}

uint32_t session_machine::page_limit() const noexcept {
  size_t window = std::min<size_t>(client_receive_max_, limits_->max_inflight);
  return static_cast<uint32_t>(std::max<size_t>(1, std::min<size_t>(limits_->queue_page, window)));
}

void session_machine::want_page() {
  if (!cold_ || cold_->token != 0)
    return;
  if (cold_->next_seq > cold_->last_seq) {
    cold_.reset(); // the stored tail is drained: hot again
    return;
  }
  auto limit = page_limit();
  if (!connected_ || queue_.size() >= limit)
    return;
  // The token is the first seq asked for: unique, as seqs only grow.
  cold_->token = cold_->next_seq;
  cold_->asked_last = cold_->last_seq;
  cold_->asked_limit = limit;
  fx().page = page_request{cold_->token, cold_->next_seq, limit};
}

void session_machine::on_page(uint64_t token, std::vector<queued_message> entries,
                              time_point now) {
  if (!cold_ || token == 0 || cold_->token != token)
    return; // stale: the session was reset or ended meanwhile
  auto& c = *cold_;
  c.token = 0;
  bool exhausted = entries.size() < c.asked_limit;
  for (auto& qm : entries) {
    if (qm.seq < c.next_seq)
      continue; // dropped meanwhile (overflow)
    if (qm.seq > c.last_seq)
      break; // its delivery is on its way and brings it
    qm.dup = qm.seq <= c.dup_until;
    c.next_seq = qm.seq + 1;
    if (c.count > 0)
      --c.count;
    queue_.push_back(std::move(qm));
  }
  // Fewer than asked: the store held nothing more when it read, so every
  // entry known then is loaded or gone (a gap).
  if (exhausted)
    c.next_seq = std::max(c.next_seq, c.asked_last + 1);
  c.count = c.next_seq > c.last_seq ? 0 : std::min(c.count, c.last_seq - c.next_seq + 1);
  pump(now);
  want_page();
}

void session_machine::on_page_failed(uint64_t token, time_point now) {
  if (!cold_ || token == 0 || cold_->token != token)
    return;
  cold_->token = 0;
  pump(now);
  want_page();
}

void session_machine::pump(time_point now) {
  size_t window = std::min<size_t>(client_receive_max_, limits_->max_inflight);
  while (connected_ && writable_ && !queue_.empty()) {
    auto& front = queue_.front();
    if (front.q == qos::at_most_once) {
      if (!front.msg->expired(now))
        send_now(front, 0, false, now);
      else {
        ++counters_->dropped_expired;
        metrics::count_drop(metrics::drop::message_expired);
      }
      queue_.pop_front();
      continue;
    }
    if (inflight_.size() >= window)
      break;
    if (front.released && front.seq != 0 && front.q == qos::exactly_once) {
      // Read back with its "released" mark: the client has the message and
      // sent PUBREC before the restart. PUBREL, never the message again
      // (no expiry either: it was delivered).
      auto id = storage::packet_id_for(front.seq);
      if (inflight_ids_.count(id) > 0)
        break;
      pubrel rel;
      rel.packet_id = id;
      write(rel);
      front.msg.reset();
      auto seq = ++send_seq_;
      inflight_.emplace(seq,
                        inflight_entry{id, inflight_entry::awaiting_pubcomp, std::move(front)});
      inflight_ids_.emplace(id, seq);
      queue_.pop_front();
      continue;
    }
    if (expired_in_queue(front, now)) {
      ++counters_->dropped_expired;
      metrics::count_drop(front.msg->expired(now) ? metrics::drop::message_expired
                                                  : metrics::drop::queue_ttl);
      entry_done(front);
      queue_.pop_front();
      continue;
    }
    // A durable entry's packet id is derived from its sequence number, so it
    // is the same after a restart. If that id is still in flight (an old
    // message is stuck), wait for it.
    uint16_t id;
    if (front.seq != 0) {
      id = storage::packet_id_for(front.seq);
      if (inflight_ids_.count(id) > 0)
        break;
    } else {
      id = next_packet_id();
    }
    if (send_now(front, id, front.dup, now)) {
      auto seq = ++send_seq_;
      inflight_entry e{id,
                       front.q == qos::at_least_once ? inflight_entry::awaiting_puback
                                                     : inflight_entry::awaiting_pubrec,
                       std::move(front)};
      inflight_.emplace(seq, std::move(e));
      inflight_ids_.emplace(id, seq);
    } else {
      entry_done(front);
    }
    queue_.pop_front();
  }
  if (slow_ == slow_leaving && queue_.size() + stored_backlog() <= hold_mark())
    slow_ = not_slow;
  want_page();
}

void session_machine::on_deliver(routed_message d, time_point now) {
  ++deliveries_;
  if (finished_)
    return;
  if (d.msg->expired(now)) {
    ++counters_->dropped_expired;
    metrics::count_drop(metrics::drop::message_expired);
    if (d.seq != 0)
      fx().done_seqs.push_back(d.seq); // stored by the router: remove it again
    return;
  }
  auto q = min_qos(d.msg->qos_level, d.max_qos);
  // Moved, not copied: no reference count or identifier list copy per delivery.
  queued_message qm{std::move(d.msg), d.seq, false, false, q, d.retain,
                    std::move(d.subscription_ids)};
  if (!connected_) {
    if (qm.q == qos::at_most_once) {
      ++counters_->dropped_qos0_offline;
      metrics::count_drop(metrics::drop::qos0_offline);
      return;
    }
    // auth.acl_file: what the client may not read does not take a place in its offline queue
    // (send_now would discard it on the way out anyway). Checked with the access of its last
    // connection, as Mosquitto checks a subscriber's read access when it queues for it; a
    // session restored after a restart has none until it connects, and send_now checks then.
    if (access_ && !access_->may_receive(qm.msg->topic)) {
      metrics::add(metrics::slot::acl_denied + 2);
      fx().denials.push_back({access_denial::kind::receive, qm.msg->topic});
      if (qm.seq != 0)
        fx().done_seqs.push_back(qm.seq); // stored by the router: remove it again
      return;
    }
    if (limits_->offline_message_ttl.count() > 0 && !qm.msg->expires_at)
      qm.ttl_deadline = now + limits_->offline_message_ttl;
    enqueue(std::move(qm));
    return;
  }
  if (qm.q == qos::at_most_once && queue_.empty() && writable_) {
    send_now(qm, 0, false, now);
    return;
  }
  if (qm.q == qos::at_most_once && queue_.size() >= limits_->max_queued_qos0) {
    // The connection is not draining (writes back-pressured or the window
    // is full) and the router already paces publishers by this session's
    // backlog: a subscriber this far behind is a slow consumer, and QoS 0
    // is at most once. Dropped, counted and logged (session.cpp).
    ++counters_->dropped_queue_full;
    metrics::count_drop(metrics::drop::online_queue_full);
    return;
  }
  enqueue(std::move(qm));
  pump(now);
}

} // namespace amq::broker

namespace amq::broker {

void session_machine::entry_done(const queued_message& qm) {
  if (qm.seq == 0)
    return;
  fx().done_seqs.push_back(qm.seq);
  if (qm.released)
    fx().unmark_seqs.push_back(qm.seq); // the mark goes with its entry
}

void session_machine::restore(protocol_version v, uint32_t session_expiry,
                              std::optional<time_point> expires_at,
                              std::vector<std::pair<std::string, subscription_entry>> subs,
                              std::deque<queued_message> queue) {
  version_ = v;
  session_expiry_ = session_expiry;
  persistent_ = true;
  existed_ = true;
  connected_ = false;
  expires_at_ = expires_at;
  subs_.clear();
  for (auto& [filter, entry] : subs) {
    subs_.insert_or_assign(filter, entry);
    subscribe_request req{std::move(filter), entry, true, true};
    fx().subscribes.push_back(std::move(req));
  }
  queue_ = std::move(queue);
  for (auto& qm : queue_)
    qm.dup = true;
  cold_.reset();
  deliveries_ = 0;
}

void session_machine::restore_cold(protocol_version v, uint32_t session_expiry,
                                   std::optional<time_point> expires_at,
                                   std::vector<std::pair<std::string, subscription_entry>> subs,
                                   uint64_t first_seq, uint64_t last_seq, uint64_t depth) {
  restore(v, session_expiry, expires_at, std::move(subs), {});
  if (first_seq == 0 || last_seq < first_seq || depth == 0)
    return;
  cold_ = std::make_unique<cold_queue>();
  cold_->next_seq = first_seq;
  cold_->last_seq = last_seq;
  cold_->count = depth;
  cold_->dup_until = last_seq;
}

} // namespace amq::broker
