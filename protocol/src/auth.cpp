// AUTH (MQTT 5.0 §3.15). Not defined in 3.1.1, where packet type 15 is
// reserved: receiving it there is a Protocol Error (0x82).
//
// Remaining length 0 means Success without properties (§3.15.2.1). Otherwise
// reason code (0x00, 0x18, 0x19, else 0x82) and a property block, which
// unlike DISCONNECT has no short form: remaining length 1 is 0x81.
// The encoder writes the 5.0 form whatever version it is given.
#include "codec.hpp"

namespace amq::protocol {

result<auth> decode_auth(const frame& f, protocol_version v) {
  if (v != protocol_version::v5)
    return decode_error{reason_code::protocol_error,
                        "AUTH: packet type 15 is reserved in MQTT 3.1.1"};
  if (f.flags() != 0)
    return detail::malformed("AUTH: reserved fixed header flags are not 0");
  auth p;
  if (f.body.empty())
    return p;
  reader r{f.body};
  uint8_t code;
  r.u8(code);
  if (!detail::valid_auth_code(code))
    return decode_error{reason_code::protocol_error, "AUTH: invalid reason code"};
  p.code = static_cast<reason_code>(code);
  if (r.at_end())
    return detail::malformed("AUTH: property length missing after the reason code");
  if (!detail::read_props(r, property_context::auth, p.props))
    return detail::read_error(r, "AUTH: property length truncated");
  if (!r.at_end())
    return detail::malformed("AUTH: bytes after the properties");
  return p;
}

namespace {

size_t body_size(const auth& p) noexcept {
  if (p.code == reason_code::success && p.props.empty())
    return 0;
  return 1 + detail::props_size(p.props);
}

} // namespace

template <>
size_t encoded_size<auth>(const auth& p, protocol_version) noexcept {
  return detail::packet_size(body_size(p));
}

template <>
size_t encode_to<auth>(const auth& p, protocol_version, uint8_t* out) noexcept {
  auto body = body_size(p);
  writer w{out};
  detail::write_fixed_header(w, 0xF0, body);
  if (body != 0) {
    w.u8(static_cast<uint8_t>(p.code));
    write_properties(w, p.props);
  }
  return static_cast<size_t>(w.position() - out);
}

std::string to_string(const auth& p) {
  std::string out = "AUTH(rc=";
  detail::append_hex(out, static_cast<uint8_t>(p.code));
  out += ' ';
  out += to_string(p.code);
  if (p.props.authentication_method) {
    out += ", method=";
    detail::append_quoted(out, *p.props.authentication_method);
  }
  out += ')';
  return out;
}

} // namespace amq::protocol
