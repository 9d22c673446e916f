// UNSUBACK (MQTT 5.0 §3.11, 3.1.1 §3.11).
//
// 3.1.1: exactly a packet identifier (remaining length 2); no codes.
// 5.0: packet identifier, properties, one reason code per topic filter
// (§3.11.3, else 0x82); an empty list is a Protocol Error.
#include "codec.hpp"

namespace amq::protocol {

result<unsuback> decode_unsuback(const frame& f, protocol_version v) {
  if (f.flags() != 0)
    return detail::malformed("UNSUBACK: reserved fixed header flags are not 0");
  bool v5 = v == protocol_version::v5;
  if (!v5 && f.body.size() != 2)
    return detail::malformed("UNSUBACK: remaining length is not 2");
  reader r{f.body};
  unsuback p;
  if (!r.u16(p.packet_id))
    return detail::malformed("UNSUBACK: packet identifier truncated");
  if (p.packet_id == 0)
    return detail::protocol_violation(v, "UNSUBACK: packet identifier is 0");
  if (!v5)
    return p;
  if (!detail::read_props(r, property_context::unsuback, p.props))
    return detail::read_error(r, "UNSUBACK: property length truncated");
  if (r.at_end())
    return decode_error{reason_code::protocol_error, "UNSUBACK: no reason codes"};
  p.codes.reserve(r.remaining());
  while (!r.at_end()) {
    uint8_t c;
    r.u8(c);
    if (!detail::valid_unsuback_code(c))
      return decode_error{reason_code::protocol_error, "UNSUBACK: invalid reason code"};
    p.codes.push_back(static_cast<reason_code>(c));
  }
  return p;
}

namespace {

size_t body_size(const unsuback& p, protocol_version v) noexcept {
  if (v != protocol_version::v5)
    return 2;
  return 2 + detail::props_size(p.props) + p.codes.size();
}

} // namespace

template <>
size_t encoded_size<unsuback>(const unsuback& p, protocol_version v) noexcept {
  return detail::packet_size(body_size(p, v));
}

template <>
size_t encode_to<unsuback>(const unsuback& p, protocol_version v,
                           uint8_t* out) noexcept {
  writer w{out};
  detail::write_fixed_header(w, 0xB0, body_size(p, v));
  w.u16(p.packet_id);
  if (v == protocol_version::v5) {
    write_properties(w, p.props);
    for (auto c : p.codes)
      w.u8(static_cast<uint8_t>(c));
  }
  return static_cast<size_t>(w.position() - out);
}

std::string to_string(const unsuback& p) {
  std::string out = "UNSUBACK(id=";
  out += std::to_string(p.packet_id);
  if (!p.codes.empty()) {
    out += ", codes=[";
    bool first = true;
    for (auto c : p.codes) {
      if (!first)
        out += ' ';
      first = false;
      detail::append_hex(out, static_cast<uint8_t>(c));
    }
    out += ']';
  }
  out += ')';
  return out;
}

} // namespace amq::protocol
