// DISCONNECT (MQTT 5.0 §3.14, 3.1.1 §3.14).
//
// 3.1.1: fixed header only (remaining length 0).
// 5.0: [reason code (§3.14.2.1), [properties]]. Remaining length 0 means
// Normal disconnection without properties; remaining length 1 means a reason
// code without properties (§3.14.2.2.1: "If the Remaining Length is less
// than 2, a value of 0 is used"). The encoder writes the shortest form.
#include "codec.hpp"

namespace amq::protocol {

result<disconnect> decode_disconnect(const frame& f, protocol_version v) {
  if (f.flags() != 0)
    return detail::malformed("DISCONNECT: reserved fixed header flags are not 0");
  disconnect p;
  if (v != protocol_version::v5) {
    if (!f.body.empty())
      return detail::malformed("DISCONNECT: remaining length is not 0");
    return p;
  }
  if (f.body.empty())
    return p;
  reader r{f.body};
  uint8_t code;
  r.u8(code);
  if (!detail::valid_disconnect_code(code))
    return decode_error{reason_code::protocol_error, "DISCONNECT: invalid reason code"};
  p.code = static_cast<reason_code>(code);
  if (r.at_end())
    return p;
  if (!detail::read_props(r, property_context::disconnect, p.props))
    return detail::read_error(r, "DISCONNECT: property length truncated");
  if (!r.at_end())
    return detail::malformed("DISCONNECT: bytes after the properties");
  return p;
}

namespace {

size_t body_size(const disconnect& p, protocol_version v) noexcept {
  if (v != protocol_version::v5)
    return 0;
  if (!p.props.empty())
    return 1 + detail::props_size(p.props);
  return p.code == reason_code::normal_disconnection ? 0 : 1;
}

} // namespace

template <>
size_t encoded_size<disconnect>(const disconnect& p, protocol_version v) noexcept {
  return detail::packet_size(body_size(p, v));
}

template <>
size_t encode_to<disconnect>(const disconnect& p, protocol_version v,
                             uint8_t* out) noexcept {
  auto body = body_size(p, v);
  writer w{out};
  detail::write_fixed_header(w, 0xE0, body);
  if (body >= 1)
    w.u8(static_cast<uint8_t>(p.code));
  if (body > 1)
    write_properties(w, p.props);
  return static_cast<size_t>(w.position() - out);
}

std::string to_string(const disconnect& p) {
  std::string out = "DISCONNECT(rc=";
  detail::append_hex(out, static_cast<uint8_t>(p.code));
  out += ' ';
  out += p.code == reason_code::normal_disconnection ? "Normal disconnection"
                                                     : to_string(p.code);
  if (p.props.session_expiry_interval) {
    out += ", session_expiry=";
    out += std::to_string(*p.props.session_expiry_interval);
  }
  if (p.props.reason_string) {
    out += ", reason=";
    detail::append_quoted(out, *p.props.reason_string);
  }
  out += ')';
  return out;
}

} // namespace amq::protocol
