// SUBACK (MQTT 5.0 §3.9, 3.1.1 §3.9): packet identifier, [5.0: properties],
// one return/reason code per topic filter of the SUBSCRIBE.
//
// 3.1.1 codes are 0x00-0x02 and 0x80 (else 0x81). 5.0 codes per §3.9.3
// (else 0x82). An empty code list is rejected (a SUBSCRIBE has at least one
// filter). When encoding for 3.1.1, any failure code (>= 0x80) is written as
// 0x80 Failure, so a broker can compute 5.0 codes for every client.
#include "codec.hpp"

namespace amq::protocol {

result<suback> decode_suback(const frame& f, protocol_version v) {
  if (f.flags() != 0)
    return detail::malformed("SUBACK: reserved fixed header flags are not 0");
  reader r{f.body};
  suback p;
  if (!r.u16(p.packet_id))
    return detail::malformed("SUBACK: packet identifier truncated");
  if (p.packet_id == 0)
    return detail::protocol_violation(v, "SUBACK: packet identifier is 0");
  bool v5 = v == protocol_version::v5;
  if (v5 && !detail::read_props(r, property_context::suback, p.props))
    return detail::read_error(r, "SUBACK: property length truncated");
  if (r.at_end())
    return detail::protocol_violation(v, "SUBACK: no return codes");
  p.codes.reserve(r.remaining());
  while (!r.at_end()) {
    uint8_t c;
    r.u8(c);
    if (v5) {
      if (!detail::valid_suback_code(c))
        return decode_error{reason_code::protocol_error, "SUBACK: invalid reason code"};
    } else if (c > 0x02 && c != 0x80) {
      return detail::malformed("SUBACK: return code is not 0x00-0x02 or 0x80");
    }
    p.codes.push_back(static_cast<reason_code>(c));
  }
  return p;
}

namespace {

size_t body_size(const suback& p, protocol_version v) noexcept {
  size_t n = 2 + p.codes.size();
  if (v == protocol_version::v5)
    n += detail::props_size(p.props);
  return n;
}

} // namespace

template <>
size_t encoded_size<suback>(const suback& p, protocol_version v) noexcept {
  return detail::packet_size(body_size(p, v));
}

template <>
size_t encode_to<suback>(const suback& p, protocol_version v, uint8_t* out) noexcept {
  bool v5 = v == protocol_version::v5;
  writer w{out};
  detail::write_fixed_header(w, 0x90, body_size(p, v));
  w.u16(p.packet_id);
  if (v5)
    write_properties(w, p.props);
  for (auto c : p.codes) {
    auto b = static_cast<uint8_t>(c);
    w.u8(v5 || b < 0x80 ? b : uint8_t{0x80});
  }
  return static_cast<size_t>(w.position() - out);
}

std::string to_string(const suback& p) {
  std::string out = "SUBACK(id=";
  out += std::to_string(p.packet_id);
  out += ", codes=[";
  bool first = true;
  for (auto c : p.codes) {
    if (!first)
      out += ' ';
    first = false;
    detail::append_hex(out, static_cast<uint8_t>(c));
  }
  out += "])";
  return out;
}

} // namespace amq::protocol
