// CONNECT (MQTT 5.0 §3.1, 3.1.1 §3.1).
//
// Variable header: protocol name "MQTT", protocol level (4 = 3.1.1,
// 5 = 5.0), connect flags, keep alive, [5.0: properties]. Payload: client id,
// [will: (5.0: will properties), will topic, will payload], [user name],
// [password].
//
// Decisions:
// - Protocol name other than "MQTT", or level other than 4/5 (MQTT 3.1's
//   "MQIsdp"/3 included) is 0x84 Unsupported Protocol Version, so the broker
//   can answer CONNACK 0x84 (5.0) or return code 0x01 (3.x) (§3.1.2.1-2).
// - Connect flags: reserved bit 0 set and Will QoS 3 are 0x81 (§3.1.2.3,
//   §3.1.2.6); Will QoS or Will Retain without the Will Flag parse but are
//   not allowed: 0x82 in 5.0 [MQTT-3.1.2-11/13], 0x81 in 3.1.1.
// - 3.1.1 only: Password Flag without User Name Flag is 0x81 [MQTT-3.1.2-22].
// - Will topic with a wildcard or empty: 0x90 (5.0) / 0x81 (3.1.1).
// - Authentication Data without Authentication Method: 0x82 (§3.1.2.11.10).
// - 3.1.1: an empty client id with Clean Session 0 is 0x85 Client Identifier
//   not valid [MQTT-3.1.3-8]; the broker answers CONNACK return code 0x02.
//   Otherwise an empty client id is decoded as is (5.0 allows it; the broker
//   assigns an identifier).
#include "codec.hpp"

namespace amq::protocol {

namespace {

constexpr uint8_t flag_clean = 0x02;
constexpr uint8_t flag_will = 0x04;
constexpr uint8_t flag_will_retain = 0x20;
constexpr uint8_t flag_password = 0x40;
constexpr uint8_t flag_username = 0x80;

} // namespace

result<connect> decode_connect(const frame& f) {
  if (f.flags() != 0)
    return detail::malformed("CONNECT: reserved fixed header flags are not 0");
  reader r{f.body};
  std::string_view name;
  if (!r.binary(name))
    return detail::malformed("CONNECT: protocol name truncated");
  uint8_t level;
  if (!r.u8(level))
    return detail::malformed("CONNECT: protocol level truncated");
  if (name != "MQTT") {
    if (name == "MQIsdp")
      return decode_error{reason_code::unsupported_protocol_version,
                          "CONNECT: MQTT 3.1 (MQIsdp) is not supported"};
    return decode_error{reason_code::unsupported_protocol_version,
                        "CONNECT: protocol name is not \"MQTT\""};
  }
  if (level != 4 && level != 5)
    return decode_error{reason_code::unsupported_protocol_version,
                        "CONNECT: protocol level is not 4 (3.1.1) or 5 (5.0)"};
  connect p;
  p.version = static_cast<protocol_version>(level);
  auto v = p.version;
  uint8_t flags;
  if (!r.u8(flags))
    return detail::malformed("CONNECT: connect flags truncated");
  if ((flags & 0x01) != 0)
    return detail::malformed("CONNECT: reserved connect flag is set");
  auto will_qos = static_cast<uint8_t>((flags >> 3) & 0x03);
  bool has_will = (flags & flag_will) != 0;
  if (will_qos == 3)
    return detail::malformed("CONNECT: will QoS 3");
  // [MQTT-3.1.2-11/13]: the packet parses, the flags are not allowed.
  if (!has_will && will_qos != 0)
    return detail::protocol_violation(v, "CONNECT: will QoS set without will flag");
  if (!has_will && (flags & flag_will_retain) != 0)
    return detail::protocol_violation(v, "CONNECT: will retain set without will flag");
  bool has_user = (flags & flag_username) != 0;
  bool has_password = (flags & flag_password) != 0;
  if (v == protocol_version::v311 && has_password && !has_user)
    return detail::malformed("CONNECT: password flag set without user name flag");
  p.clean_start = (flags & flag_clean) != 0;
  if (!r.u16(p.keep_alive))
    return detail::malformed("CONNECT: keep alive truncated");
  if (v == protocol_version::v5) {
    if (!detail::read_props(r, property_context::connect, p.props))
      return detail::read_error(r, "CONNECT: property length truncated");
    if (p.props.authentication_data && !p.props.authentication_method)
      return decode_error{reason_code::protocol_error,
                          "CONNECT: authentication data without authentication method"};
  }
  if (!r.utf8(p.client_id))
    return detail::read_error(r, "CONNECT: client identifier truncated");
  if (v == protocol_version::v311 && p.client_id.empty() && !p.clean_start)
    return decode_error{reason_code::client_identifier_not_valid,
                        "CONNECT: empty client identifier without clean session"};
  if (has_will) {
    will_message w;
    w.qos_level = static_cast<qos>(will_qos);
    w.retain = (flags & flag_will_retain) != 0;
    if (v == protocol_version::v5
        && !detail::read_props(r, property_context::will, w.props))
      return detail::read_error(r, "CONNECT: will property length truncated");
    if (!r.utf8(w.topic))
      return detail::read_error(r, "CONNECT: will topic truncated");
    if (w.topic.empty() || detail::topic_name_has_wildcard(w.topic)) {
      if (v == protocol_version::v5)
        return decode_error{reason_code::topic_name_invalid,
                            "CONNECT: will topic is empty or contains a wildcard"};
      return detail::malformed("CONNECT: will topic is empty or contains a wildcard");
    }
    if (!r.binary(w.payload))
      return detail::malformed("CONNECT: will payload truncated");
    p.will = std::move(w);
  }
  if (has_user) {
    std::string_view user;
    if (!r.utf8(user))
      return detail::read_error(r, "CONNECT: user name truncated");
    p.username = user;
  }
  if (has_password) {
    std::string_view password;
    if (!r.binary(password))
      return detail::malformed("CONNECT: password truncated");
    p.password = password;
  }
  if (!r.at_end())
    return detail::malformed("CONNECT: bytes after the payload");
  return p;
}

namespace {

size_t body_size(const connect& p) noexcept {
  bool v5 = p.version == protocol_version::v5;
  size_t n = 6 + 1 + 1 + 2; // "MQTT", level, flags, keep alive
  if (v5)
    n += detail::props_size(p.props);
  n += detail::lstring_size(p.client_id);
  if (p.will) {
    if (v5)
      n += detail::props_size(p.will->props);
    n += detail::lstring_size(p.will->topic) + detail::lstring_size(p.will->payload);
  }
  if (p.username)
    n += detail::lstring_size(*p.username);
  if (p.password)
    n += detail::lstring_size(*p.password);
  return n;
}

} // namespace

template <>
size_t encoded_size<connect>(const connect& p, protocol_version) noexcept {
  return detail::packet_size(body_size(p));
}

template <>
size_t encode_to<connect>(const connect& p, protocol_version, uint8_t* out) noexcept {
  bool v5 = p.version == protocol_version::v5;
  writer w{out};
  detail::write_fixed_header(w, 0x10, body_size(p));
  w.lstring("MQTT");
  w.u8(static_cast<uint8_t>(p.version));
  uint8_t flags = p.clean_start ? flag_clean : 0;
  if (p.will) {
    flags |= flag_will;
    flags |= static_cast<uint8_t>(static_cast<uint8_t>(p.will->qos_level) << 3);
    if (p.will->retain)
      flags |= flag_will_retain;
  }
  if (p.username)
    flags |= flag_username;
  if (p.password)
    flags |= flag_password;
  w.u8(flags);
  w.u16(p.keep_alive);
  if (v5)
    write_properties(w, p.props);
  w.lstring(p.client_id);
  if (p.will) {
    if (v5)
      write_properties(w, p.will->props);
    w.lstring(p.will->topic);
    w.lstring(p.will->payload);
  }
  if (p.username)
    w.lstring(*p.username);
  if (p.password)
    w.lstring(*p.password);
  return static_cast<size_t>(w.position() - out);
}

std::string to_string(const connect& p) {
  std::string out = "CONNECT(";
  out += p.version == protocol_version::v5 ? "v5" : "v3.1.1";
  out += ", client_id=";
  detail::append_quoted(out, p.client_id);
  out += p.clean_start ? ", clean=1" : ", clean=0";
  out += ", keep_alive=";
  out += std::to_string(p.keep_alive);
  if (p.will) {
    out += ", will=(q";
    out += static_cast<char>('0' + static_cast<int>(p.will->qos_level));
    out += p.will->retain ? ", r1, topic=" : ", r0, topic=";
    detail::append_quoted(out, p.will->topic);
    out += ", ";
    out += std::to_string(p.will->payload.size());
    out += " bytes)";
  }
  if (p.username) {
    out += ", user=";
    detail::append_quoted(out, *p.username);
  }
  if (p.password)
    out += ", password=***";
  out += ')';
  return out;
}

} // namespace amq::protocol
