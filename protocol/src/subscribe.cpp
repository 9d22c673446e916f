// SUBSCRIBE (MQTT 5.0 §3.8, 3.1.1 §3.8).
//
// Fixed header flags must be 0b0010 (0x81). Packet identifier non-zero,
// [5.0: properties: at most one Subscription Identifier, user properties],
// then one or more (topic filter, subscription options) pairs.
//
// Subscription options:
// - 3.1.1: bits 2-7 reserved, QoS 3: Malformed [MQTT-3.8.3-4].
// - 5.0: bits 6-7 reserved: Malformed [MQTT-3.8.3-5]; Maximum QoS 3 and
//   Retain Handling 3 are Protocol Errors (§3.8.3.1); No Local on a shared
//   subscription is a Protocol Error [MQTT-3.8.3-4].
//
// Topic filters: the decoder only rejects what makes the packet malformed:
// a filter that is not valid UTF-8 (0x81) or is empty (0x81, [MQTT-4.7.3-1]).
// A filter that is well-formed UTF-8 but syntactically invalid ("a/#/b",
// "a+") is NOT a decode error: the broker answers it per filter in SUBACK
// (0x8F Topic Filter invalid in 5.0, 0x80 Failure in 3.1.1) and keeps the
// other subscriptions. Use `validate_topic_filter` for that check.
// An empty payload is a Protocol Error in 5.0 [MQTT-3.8.3-2], 0x81 in 3.1.1.
#include "codec.hpp"

namespace amq::protocol {

result<subscribe> decode_subscribe(const frame& f, protocol_version v) {
  if (f.flags() != 0x02)
    return detail::malformed("SUBSCRIBE: fixed header flags are not 0b0010");
  reader r{f.body};
  subscribe p;
  if (!r.u16(p.packet_id))
    return detail::malformed("SUBSCRIBE: packet identifier truncated");
  if (p.packet_id == 0)
    return detail::protocol_violation(v, "SUBSCRIBE: packet identifier is 0");
  bool v5 = v == protocol_version::v5;
  if (v5 && !detail::read_props(r, property_context::subscribe, p.props))
    return detail::read_error(r, "SUBSCRIBE: property length truncated");
  if (r.at_end())
    return detail::protocol_violation(v, "SUBSCRIBE: no topic filters");
  while (!r.at_end()) {
    subscription s;
    if (!r.utf8(s.filter))
      return detail::read_error(r, "SUBSCRIBE: topic filter truncated");
    if (s.filter.empty())
      return detail::malformed("SUBSCRIBE: topic filter is empty");
    uint8_t opts;
    if (!r.u8(opts))
      return detail::malformed("SUBSCRIBE: subscription options missing");
    auto q = static_cast<uint8_t>(opts & 0x03);
    if (!v5) {
      if ((opts & 0xFC) != 0)
        return detail::malformed("SUBSCRIBE: reserved bits in the requested QoS byte are set");
      if (q == 3)
        return detail::malformed("SUBSCRIBE: requested QoS 3");
    } else {
      if ((opts & 0xC0) != 0)
        return detail::malformed("SUBSCRIBE: reserved subscription option bits are set");
      if (q == 3)
        return decode_error{reason_code::protocol_error, "SUBSCRIBE: maximum QoS 3"};
      auto rh = static_cast<uint8_t>((opts >> 4) & 0x03);
      if (rh == 3)
        return decode_error{reason_code::protocol_error, "SUBSCRIBE: retain handling 3"};
      s.no_local = (opts & 0x04) != 0;
      s.retain_as_published = (opts & 0x08) != 0;
      s.handling = static_cast<retain_handling>(rh);
      if (s.no_local && detail::is_shared_filter(s.filter))
        return decode_error{reason_code::protocol_error,
                            "SUBSCRIBE: no local set on a shared subscription"};
    }
    s.max_qos = static_cast<qos>(q);
    p.subscriptions.push_back(s);
  }
  return p;
}

namespace {

size_t body_size(const subscribe& p, protocol_version v) noexcept {
  size_t n = 2;
  if (v == protocol_version::v5)
    n += detail::props_size(p.props);
  for (const auto& s : p.subscriptions)
    n += detail::lstring_size(s.filter) + 1;
  return n;
}

} // namespace

template <>
size_t encoded_size<subscribe>(const subscribe& p, protocol_version v) noexcept {
  return detail::packet_size(body_size(p, v));
}

template <>
size_t encode_to<subscribe>(const subscribe& p, protocol_version v,
                            uint8_t* out) noexcept {
  bool v5 = v == protocol_version::v5;
  writer w{out};
  detail::write_fixed_header(w, 0x82, body_size(p, v));
  w.u16(p.packet_id);
  if (v5)
    write_properties(w, p.props);
  for (const auto& s : p.subscriptions) {
    w.lstring(s.filter);
    auto opts = static_cast<uint8_t>(s.max_qos);
    if (v5) {
      if (s.no_local)
        opts |= 0x04;
      if (s.retain_as_published)
        opts |= 0x08;
      opts |= static_cast<uint8_t>(static_cast<uint8_t>(s.handling) << 4);
    }
    w.u8(opts);
  }
  return static_cast<size_t>(w.position() - out);
}

std::string to_string(const subscribe& p) {
  std::string out = "SUBSCRIBE(id=";
  out += std::to_string(p.packet_id);
  for (const auto& s : p.subscriptions) {
    out += ", ";
    detail::append_quoted(out, s.filter);
    out += ":q";
    out += static_cast<char>('0' + static_cast<int>(s.max_qos));
    if (s.no_local)
      out += ",nl";
    if (s.retain_as_published)
      out += ",rap";
    if (s.handling != retain_handling::send_on_subscribe) {
      out += ",rh";
      out += static_cast<char>('0' + static_cast<int>(s.handling));
    }
  }
  if (!p.props.subscription_identifiers.empty()) {
    out += ", sub_id=";
    out += std::to_string(p.props.subscription_identifiers.front());
  }
  out += ')';
  return out;
}

} // namespace amq::protocol
