// CONNACK (MQTT 5.0 §3.2, 3.1.1 §3.2).
//
// 3.1.1: remaining length 2: acknowledge flags (bit 0 Session Present, bits
// 1-7 reserved) and a return code 0-5, mapped onto reason codes with
// `from_v311_connack` / `to_v311_connack`.
// 5.0: acknowledge flags, reason code (table in §3.2.2.2), properties.
// Session Present with a non-zero code is rejected [MQTT-3.2.2-6/3.2.2-4].
#include "codec.hpp"

namespace amq::protocol {

result<connack> decode_connack(const frame& f, protocol_version v) {
  if (f.flags() != 0)
    return detail::malformed("CONNACK: reserved fixed header flags are not 0");
  if (v != protocol_version::v5 && f.body.size() != 2)
    return detail::malformed("CONNACK: remaining length is not 2");
  reader r{f.body};
  connack p;
  uint8_t ack_flags;
  uint8_t code;
  if (!r.u8(ack_flags) || !r.u8(code))
    return detail::malformed("CONNACK: variable header truncated");
  if ((ack_flags & 0xFE) != 0)
    return detail::malformed("CONNACK: reserved acknowledge flags are set");
  p.session_present = (ack_flags & 0x01) != 0;
  if (v != protocol_version::v5) {
    if (!from_v311_connack(code, p.code))
      return detail::malformed("CONNACK: return code above 5");
  } else {
    if (!detail::valid_connack_code(code))
      return decode_error{reason_code::protocol_error, "CONNACK: invalid reason code"};
    p.code = static_cast<reason_code>(code);
    if (!detail::read_props(r, property_context::connack, p.props))
      return detail::read_error(r, "CONNACK: property length truncated");
    if (!r.at_end())
      return detail::malformed("CONNACK: bytes after the properties");
  }
  if (p.session_present && p.code != reason_code::success)
    return detail::protocol_violation(v, "CONNACK: session present with a non-zero code");
  return p;
}

namespace {

size_t body_size(const connack& p, protocol_version v) noexcept {
  return v == protocol_version::v5 ? 2 + detail::props_size(p.props) : 2;
}

} // namespace

template <>
size_t encoded_size<connack>(const connack& p, protocol_version v) noexcept {
  return detail::packet_size(body_size(p, v));
}

template <>
size_t encode_to<connack>(const connack& p, protocol_version v, uint8_t* out) noexcept {
  writer w{out};
  detail::write_fixed_header(w, 0x20, body_size(p, v));
  w.u8(p.session_present ? 1 : 0);
  if (v == protocol_version::v5) {
    w.u8(static_cast<uint8_t>(p.code));
    write_properties(w, p.props);
  } else {
    w.u8(to_v311_connack(p.code));
  }
  return static_cast<size_t>(w.position() - out);
}

std::string to_string(const connack& p) {
  std::string out = "CONNACK(sp=";
  out += p.session_present ? '1' : '0';
  out += ", rc=";
  detail::append_hex(out, static_cast<uint8_t>(p.code));
  out += ' ';
  out += to_string(p.code);
  out += ')';
  return out;
}

} // namespace amq::protocol
