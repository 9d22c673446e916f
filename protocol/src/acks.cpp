// PUBACK (§3.4), PUBREC (§3.5), PUBREL (§3.6), PUBCOMP (§3.7) for MQTT 5.0
// and 3.1.1.
//
// 3.1.1: exactly a packet identifier (remaining length 2).
// 5.0: packet identifier, then optionally a reason code, then optionally a
// property block. Remaining length 2 means Success without properties,
// remaining length 3 a reason code without properties (§3.4.2.1,
// §3.4.2.2.1). The encoder writes the shortest of these forms.
#include "codec.hpp"

namespace amq::protocol {

namespace {

template <packet_type Type>
struct ack_traits;

template <>
struct ack_traits<packet_type::puback> {
  static constexpr uint8_t flags = 0;
  static constexpr property_context ctx = property_context::puback;
  static constexpr std::string_view name = "PUBACK";
  static bool valid(uint8_t c) noexcept { return detail::valid_puback_code(c); }
  static constexpr std::string_view bad_flags = "PUBACK: reserved fixed header flags are not 0";
  static constexpr std::string_view bad_length = "PUBACK: remaining length is not 2";
  static constexpr std::string_view short_length = "PUBACK: remaining length less than 2";
  static constexpr std::string_view zero_id = "PUBACK: packet identifier is 0";
  static constexpr std::string_view bad_code = "PUBACK: invalid reason code";
  static constexpr std::string_view props_trunc = "PUBACK: property length truncated";
  static constexpr std::string_view trailing = "PUBACK: bytes after the properties";
};

template <>
struct ack_traits<packet_type::pubrec> {
  static constexpr uint8_t flags = 0;
  static constexpr property_context ctx = property_context::pubrec;
  static constexpr std::string_view name = "PUBREC";
  static bool valid(uint8_t c) noexcept { return detail::valid_puback_code(c); }
  static constexpr std::string_view bad_flags = "PUBREC: reserved fixed header flags are not 0";
  static constexpr std::string_view bad_length = "PUBREC: remaining length is not 2";
  static constexpr std::string_view short_length = "PUBREC: remaining length less than 2";
  static constexpr std::string_view zero_id = "PUBREC: packet identifier is 0";
  static constexpr std::string_view bad_code = "PUBREC: invalid reason code";
  static constexpr std::string_view props_trunc = "PUBREC: property length truncated";
  static constexpr std::string_view trailing = "PUBREC: bytes after the properties";
};

template <>
struct ack_traits<packet_type::pubrel> {
  static constexpr uint8_t flags = 0x02;
  static constexpr property_context ctx = property_context::pubrel;
  static constexpr std::string_view name = "PUBREL";
  static bool valid(uint8_t c) noexcept { return detail::valid_pubrel_code(c); }
  static constexpr std::string_view bad_flags = "PUBREL: fixed header flags are not 0b0010";
  static constexpr std::string_view bad_length = "PUBREL: remaining length is not 2";
  static constexpr std::string_view short_length = "PUBREL: remaining length less than 2";
  static constexpr std::string_view zero_id = "PUBREL: packet identifier is 0";
  static constexpr std::string_view bad_code = "PUBREL: invalid reason code";
  static constexpr std::string_view props_trunc = "PUBREL: property length truncated";
  static constexpr std::string_view trailing = "PUBREL: bytes after the properties";
};

template <>
struct ack_traits<packet_type::pubcomp> {
  static constexpr uint8_t flags = 0;
  static constexpr property_context ctx = property_context::pubcomp;
  static constexpr std::string_view name = "PUBCOMP";
  static bool valid(uint8_t c) noexcept { return detail::valid_pubrel_code(c); }
  static constexpr std::string_view bad_flags = "PUBCOMP: reserved fixed header flags are not 0";
  static constexpr std::string_view bad_length = "PUBCOMP: remaining length is not 2";
  static constexpr std::string_view short_length = "PUBCOMP: remaining length less than 2";
  static constexpr std::string_view zero_id = "PUBCOMP: packet identifier is 0";
  static constexpr std::string_view bad_code = "PUBCOMP: invalid reason code";
  static constexpr std::string_view props_trunc = "PUBCOMP: property length truncated";
  static constexpr std::string_view trailing = "PUBCOMP: bytes after the properties";
};

template <packet_type Type>
result<pub_ack<Type>> decode_ack(const frame& f, protocol_version v) {
  using traits = ack_traits<Type>;
  if (f.flags() != traits::flags)
    return detail::malformed(traits::bad_flags);
  pub_ack<Type> p;
  if (v != protocol_version::v5) {
    if (f.body.size() != 2)
      return detail::malformed(traits::bad_length);
  } else if (f.body.size() < 2) {
    return detail::malformed(traits::short_length);
  }
  reader r{f.body};
  r.u16(p.packet_id);
  if (p.packet_id == 0)
    return detail::protocol_violation(v, traits::zero_id);
  if (r.at_end())
    return p;
  uint8_t code;
  r.u8(code);
  if (!traits::valid(code))
    return decode_error{reason_code::protocol_error, traits::bad_code};
  p.code = static_cast<reason_code>(code);
  if (r.at_end())
    return p;
  if (!detail::read_props(r, traits::ctx, p.props))
    return detail::read_error(r, traits::props_trunc);
  if (!r.at_end())
    return detail::malformed(traits::trailing);
  return p;
}

template <packet_type Type>
size_t ack_body_size(const pub_ack<Type>& p, protocol_version v) noexcept {
  if (v != protocol_version::v5)
    return 2;
  bool no_props = p.props.empty();
  if (no_props && p.code == reason_code::success)
    return 2;
  if (no_props)
    return 3;
  return 3 + detail::props_size(p.props);
}

template <packet_type Type>
size_t ack_encode(const pub_ack<Type>& p, protocol_version v, uint8_t* out) noexcept {
  auto body = ack_body_size(p, v);
  writer w{out};
  detail::write_fixed_header(
    w, static_cast<uint8_t>((static_cast<uint8_t>(Type) << 4) | ack_traits<Type>::flags),
    body);
  w.u16(p.packet_id);
  if (body >= 3)
    w.u8(static_cast<uint8_t>(p.code));
  if (body > 3)
    write_properties(w, p.props);
  return static_cast<size_t>(w.position() - out);
}

template <packet_type Type>
std::string ack_to_string(const pub_ack<Type>& p) {
  std::string out{ack_traits<Type>::name};
  out += "(id=";
  out += std::to_string(p.packet_id);
  if (p.code != reason_code::success) {
    out += ", rc=";
    detail::append_hex(out, static_cast<uint8_t>(p.code));
    out += ' ';
    out += to_string(p.code);
  }
  out += ')';
  return out;
}

} // namespace

result<puback> decode_puback(const frame& f, protocol_version v) {
  return decode_ack<packet_type::puback>(f, v);
}
result<pubrec> decode_pubrec(const frame& f, protocol_version v) {
  return decode_ack<packet_type::pubrec>(f, v);
}
result<pubrel> decode_pubrel(const frame& f, protocol_version v) {
  return decode_ack<packet_type::pubrel>(f, v);
}
result<pubcomp> decode_pubcomp(const frame& f, protocol_version v) {
  return decode_ack<packet_type::pubcomp>(f, v);
}

template <>
size_t encoded_size<puback>(const puback& p, protocol_version v) noexcept {
  return detail::packet_size(ack_body_size(p, v));
}
template <>
size_t encoded_size<pubrec>(const pubrec& p, protocol_version v) noexcept {
  return detail::packet_size(ack_body_size(p, v));
}
template <>
size_t encoded_size<pubrel>(const pubrel& p, protocol_version v) noexcept {
  return detail::packet_size(ack_body_size(p, v));
}
template <>
size_t encoded_size<pubcomp>(const pubcomp& p, protocol_version v) noexcept {
  return detail::packet_size(ack_body_size(p, v));
}

template <>
size_t encode_to<puback>(const puback& p, protocol_version v, uint8_t* out) noexcept {
  return ack_encode(p, v, out);
}
template <>
size_t encode_to<pubrec>(const pubrec& p, protocol_version v, uint8_t* out) noexcept {
  return ack_encode(p, v, out);
}
template <>
size_t encode_to<pubrel>(const pubrel& p, protocol_version v, uint8_t* out) noexcept {
  return ack_encode(p, v, out);
}
template <>
size_t encode_to<pubcomp>(const pubcomp& p, protocol_version v, uint8_t* out) noexcept {
  return ack_encode(p, v, out);
}

std::string to_string(const puback& p) {
  return ack_to_string(p);
}
std::string to_string(const pubrec& p) {
  return ack_to_string(p);
}
std::string to_string(const pubrel& p) {
  return ack_to_string(p);
}
std::string to_string(const pubcomp& p) {
  return ack_to_string(p);
}

} // namespace amq::protocol
