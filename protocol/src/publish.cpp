// PUBLISH (MQTT 5.0 §3.3, 3.1.1 §3.3). The hot path: decoding allocates
// nothing unless the packet carries user properties or subscription
// identifiers, and an empty 5.0 property block is skipped inline.
#include "codec.hpp"

#include "amq/protocol/topic.hpp"

namespace amq::protocol {

result<publish> decode_publish(const frame& f, protocol_version v) {
  auto flags = f.flags();
  auto q = static_cast<uint8_t>((flags >> 1) & 0x03);
  if (q == 3)
    return detail::malformed("PUBLISH: QoS 3 in fixed header");
  bool dup = (flags & 0x08) != 0;
  // [MQTT-3.3.1-2]; an invalid fixed header flag combination is Malformed
  // (§2.1.3), as in Mosquitto.
  if (dup && q == 0)
    return detail::malformed("PUBLISH: DUP flag set with QoS 0");
  publish p;
  p.dup = dup;
  p.qos_level = static_cast<qos>(q);
  p.retain = (flags & 0x01) != 0;
  reader r{f.body};
  if (!r.utf8(p.topic))
    return detail::read_error(r, "PUBLISH: topic name truncated");
  if (q != 0) {
    if (!r.u16(p.packet_id))
      return detail::read_error(r, "PUBLISH: packet identifier truncated");
    if (p.packet_id == 0)
      return detail::protocol_violation(v, "PUBLISH: packet identifier is 0");
  }
  if (v == protocol_version::v5) {
    if (!detail::read_props(r, property_context::publish, p.props))
      return detail::read_error(r, "PUBLISH: property length truncated");
  }
  if (p.topic.empty()) {
    if (v != protocol_version::v5)
      return detail::malformed("PUBLISH: topic name is empty");
    if (!p.props.topic_alias)
      return decode_error{reason_code::protocol_error,
                          "PUBLISH: topic name is empty and no topic alias is set"};
  } else if (detail::topic_name_has_wildcard(p.topic)) {
    if (v == protocol_version::v5)
      return decode_error{reason_code::topic_name_invalid,
                          "PUBLISH: topic name contains a wildcard"};
    return detail::malformed("PUBLISH: topic name contains a wildcard");
  }
  p.payload = r.rest();
  return p;
}

namespace {

size_t body_size(const publish& p, protocol_version v) noexcept {
  size_t n = detail::lstring_size(p.topic) + p.payload.size();
  if (p.qos_level != qos::at_most_once)
    n += 2;
  if (v == protocol_version::v5)
    n += detail::props_size(p.props);
  return n;
}

} // namespace

template <>
size_t encoded_size<publish>(const publish& p, protocol_version v) noexcept {
  return detail::packet_size(body_size(p, v));
}

template <>
size_t encode_to<publish>(const publish& p, protocol_version v, uint8_t* out) noexcept {
  auto body = body_size(p, v);
  writer w{out};
  auto first = static_cast<uint8_t>(0x30 | (p.dup ? 0x08 : 0)
                                    | (static_cast<uint8_t>(p.qos_level) << 1)
                                    | (p.retain ? 0x01 : 0));
  detail::write_fixed_header(w, first, body);
  w.lstring(p.topic);
  if (p.qos_level != qos::at_most_once)
    w.u16(p.packet_id);
  if (v == protocol_version::v5)
    write_properties(w, p.props);
  w.raw(p.payload);
  return static_cast<size_t>(w.position() - out);
}

std::string to_string(const publish& p) {
  std::string out = "PUBLISH(q";
  out += static_cast<char>('0' + static_cast<int>(p.qos_level));
  out += p.dup ? ", d1" : ", d0";
  out += p.retain ? ", r1" : ", r0";
  if (p.qos_level != qos::at_most_once) {
    out += ", id=";
    out += std::to_string(p.packet_id);
  }
  out += ", topic=";
  detail::append_quoted(out, p.topic);
  if (p.props.topic_alias) {
    out += ", alias=";
    out += std::to_string(*p.props.topic_alias);
  }
  out += ", ";
  out += std::to_string(p.payload.size());
  out += " bytes)";
  return out;
}

} // namespace amq::protocol
