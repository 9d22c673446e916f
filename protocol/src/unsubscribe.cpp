// UNSUBSCRIBE (MQTT 5.0 §3.10, 3.1.1 §3.10).
//
// Fixed header flags 0b0010 (0x81), packet identifier non-zero,
// [5.0: properties: user properties only], one or more topic filters.
// As for SUBSCRIBE, only non-UTF-8 (0x81) and empty (0x81) filters are
// decode errors; a syntactically invalid filter simply matches no
// subscription (5.0 UNSUBACK may answer 0x8F for it). An empty payload is a
// Protocol Error in 5.0 [MQTT-3.10.3-2], 0x81 in 3.1.1.
#include "codec.hpp"

namespace amq::protocol {

result<unsubscribe> decode_unsubscribe(const frame& f, protocol_version v) {
  if (f.flags() != 0x02)
    return detail::malformed("UNSUBSCRIBE: fixed header flags are not 0b0010");
  reader r{f.body};
  unsubscribe p;
  if (!r.u16(p.packet_id))
    return detail::malformed("UNSUBSCRIBE: packet identifier truncated");
  if (p.packet_id == 0)
    return detail::protocol_violation(v, "UNSUBSCRIBE: packet identifier is 0");
  if (v == protocol_version::v5
      && !detail::read_props(r, property_context::unsubscribe, p.props))
    return detail::read_error(r, "UNSUBSCRIBE: property length truncated");
  if (r.at_end())
    return detail::protocol_violation(v, "UNSUBSCRIBE: no topic filters");
  while (!r.at_end()) {
    std::string_view filter;
    if (!r.utf8(filter))
      return detail::read_error(r, "UNSUBSCRIBE: topic filter truncated");
    if (filter.empty())
      return detail::malformed("UNSUBSCRIBE: topic filter is empty");
    p.filters.push_back(filter);
  }
  return p;
}

namespace {

size_t body_size(const unsubscribe& p, protocol_version v) noexcept {
  size_t n = 2;
  if (v == protocol_version::v5)
    n += detail::props_size(p.props);
  for (auto filter : p.filters)
    n += detail::lstring_size(filter);
  return n;
}

} // namespace

template <>
size_t encoded_size<unsubscribe>(const unsubscribe& p, protocol_version v) noexcept {
  return detail::packet_size(body_size(p, v));
}

template <>
size_t encode_to<unsubscribe>(const unsubscribe& p, protocol_version v,
                              uint8_t* out) noexcept {
  writer w{out};
  detail::write_fixed_header(w, 0xA2, body_size(p, v));
  w.u16(p.packet_id);
  if (v == protocol_version::v5)
    write_properties(w, p.props);
  for (auto filter : p.filters)
    w.lstring(filter);
  return static_cast<size_t>(w.position() - out);
}

std::string to_string(const unsubscribe& p) {
  std::string out = "UNSUBSCRIBE(id=";
  out += std::to_string(p.packet_id);
  for (auto filter : p.filters) {
    out += ", ";
    detail::append_quoted(out, filter);
  }
  out += ')';
  return out;
}

} // namespace amq::protocol
