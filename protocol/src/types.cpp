// Names of packet types and reason codes; reason-code helpers (MQTT 5.0 §2.4,
// 3.1.1 §3.2.2.3).
#include "amq/protocol/types.hpp"

#include "codec.hpp"

namespace amq::protocol {

std::string_view to_string(packet_type t) noexcept {
  switch (t) {
    case packet_type::connect: return "CONNECT";
    case packet_type::connack: return "CONNACK";
    case packet_type::publish: return "PUBLISH";
    case packet_type::puback: return "PUBACK";
    case packet_type::pubrec: return "PUBREC";
    case packet_type::pubrel: return "PUBREL";
    case packet_type::pubcomp: return "PUBCOMP";
    case packet_type::subscribe: return "SUBSCRIBE";
    case packet_type::suback: return "SUBACK";
    case packet_type::unsubscribe: return "UNSUBSCRIBE";
    case packet_type::unsuback: return "UNSUBACK";
    case packet_type::pingreq: return "PINGREQ";
    case packet_type::pingresp: return "PINGRESP";
    case packet_type::disconnect: return "DISCONNECT";
    case packet_type::auth: return "AUTH";
  }
  return "RESERVED";
}

std::string_view to_string(reason_code rc) noexcept {
  switch (static_cast<uint8_t>(rc)) {
    case 0x00: return "Success";
    case 0x01: return "Granted QoS 1";
    case 0x02: return "Granted QoS 2";
    case 0x04: return "Disconnect with Will Message";
    case 0x10: return "No matching subscribers";
    case 0x11: return "No subscription existed";
    case 0x18: return "Continue authentication";
    case 0x19: return "Re-authenticate";
    case 0x80: return "Unspecified error";
    case 0x81: return "Malformed Packet";
    case 0x82: return "Protocol Error";
    case 0x83: return "Implementation specific error";
    case 0x84: return "Unsupported Protocol Version";
    case 0x85: return "Client Identifier not valid";
    case 0x86: return "Bad User Name or Password";
    case 0x87: return "Not authorized";
    case 0x88: return "Server unavailable";
    case 0x89: return "Server busy";
    case 0x8A: return "Banned";
    case 0x8B: return "Server shutting down";
    case 0x8C: return "Bad authentication method";
    case 0x8D: return "Keep Alive timeout";
    case 0x8E: return "Session taken over";
    case 0x8F: return "Topic Filter invalid";
    case 0x90: return "Topic Name invalid";
    case 0x91: return "Packet Identifier in use";
    case 0x92: return "Packet Identifier not found";
    case 0x93: return "Receive Maximum exceeded";
    case 0x94: return "Topic Alias invalid";
    case 0x95: return "Packet too large";
    case 0x96: return "Message rate too high";
    case 0x97: return "Quota exceeded";
    case 0x98: return "Administrative action";
    case 0x99: return "Payload format invalid";
    case 0x9A: return "Retain not supported";
    case 0x9B: return "QoS not supported";
    case 0x9C: return "Use another server";
    case 0x9D: return "Server moved";
    case 0x9E: return "Shared Subscriptions not supported";
    case 0x9F: return "Connection rate exceeded";
    case 0xA0: return "Maximum connect time";
    case 0xA1: return "Subscription Identifiers not supported";
    case 0xA2: return "Wildcard Subscriptions not supported";
    default: return "Unknown reason code";
  }
}

bool is_known_reason_code(uint8_t value) noexcept {
  switch (value) {
    case 0x00: case 0x01: case 0x02: case 0x04: case 0x10: case 0x11:
    case 0x18: case 0x19:
      return true;
    default:
      return value >= 0x80 && value <= 0xA2;
  }
}

uint8_t to_v311_connack(reason_code rc) noexcept {
  switch (rc) {
    case reason_code::success:
      return 0;
    case reason_code::unsupported_protocol_version:
      return 1;
    case reason_code::client_identifier_not_valid:
      return 2;
    case reason_code::bad_user_name_or_password:
    case reason_code::bad_authentication_method:
      return 4;
    case reason_code::not_authorized:
    case reason_code::banned:
      return 5;
    default:
      // Server unavailable, busy, moved, shutting down, quota, rate limits,
      // unspecified and implementation specific errors: the server cannot
      // serve this client now.
      return 3;
  }
}

bool from_v311_connack(uint8_t code, reason_code& out) noexcept {
  static constexpr reason_code codes[] = {
    reason_code::success,
    reason_code::unsupported_protocol_version,
    reason_code::client_identifier_not_valid,
    reason_code::server_unavailable,
    reason_code::bad_user_name_or_password,
    reason_code::not_authorized,
  };
  if (code > 5)
    return false;
  out = codes[code];
  return true;
}

namespace detail {

// Reason codes per packet: MQTT 5.0 §3.2.2.2, §3.4.2.1, §3.5.2.1, §3.6.2.1,
// §3.7.2.1, §3.9.3, §3.11.3, §3.14.2.1, §3.15.2.1.

bool valid_connack_code(uint8_t c) noexcept {
  switch (c) {
    case 0x00: case 0x80: case 0x81: case 0x82: case 0x83: case 0x84:
    case 0x85: case 0x86: case 0x87: case 0x88: case 0x89: case 0x8A:
    case 0x8C: case 0x90: case 0x95: case 0x97: case 0x99: case 0x9A:
    case 0x9B: case 0x9C: case 0x9D: case 0x9F:
      return true;
    default:
      return false;
  }
}

bool valid_puback_code(uint8_t c) noexcept {
  switch (c) {
    case 0x00: case 0x10: case 0x80: case 0x83: case 0x87: case 0x90:
    case 0x91: case 0x97: case 0x99:
      return true;
    default:
      return false;
  }
}

bool valid_pubrel_code(uint8_t c) noexcept {
  return c == 0x00 || c == 0x92;
}

bool valid_suback_code(uint8_t c) noexcept {
  switch (c) {
    case 0x00: case 0x01: case 0x02: case 0x80: case 0x83: case 0x87:
    case 0x8F: case 0x91: case 0x97: case 0x9E: case 0xA1: case 0xA2:
      return true;
    default:
      return false;
  }
}

bool valid_unsuback_code(uint8_t c) noexcept {
  switch (c) {
    case 0x00: case 0x11: case 0x80: case 0x83: case 0x87: case 0x8F:
    case 0x91:
      return true;
    default:
      return false;
  }
}

bool valid_disconnect_code(uint8_t c) noexcept {
  switch (c) {
    case 0x00: case 0x04: case 0x80: case 0x81: case 0x82: case 0x83:
    case 0x87: case 0x89: case 0x8B: case 0x8D: case 0x8E: case 0x8F:
    case 0x90: case 0x93: case 0x94: case 0x95: case 0x96: case 0x97:
    case 0x98: case 0x99: case 0x9A: case 0x9B: case 0x9C: case 0x9D:
    case 0x9E: case 0x9F: case 0xA0: case 0xA1: case 0xA2:
      return true;
    default:
      return false;
  }
}

bool valid_auth_code(uint8_t c) noexcept {
  return c == 0x00 || c == 0x18 || c == 0x19;
}

void append_hex(std::string& out, uint8_t v) {
  static constexpr char digits[] = "0123456789ABCDEF";
  out += "0x";
  out += digits[v >> 4];
  out += digits[v & 0x0F];
}

void append_quoted(std::string& out, std::string_view s) {
  out += '"';
  if (s.size() > 64) {
    out.append(s.substr(0, 64));
    out += "...";
  } else {
    out.append(s);
  }
  out += '"';
}

} // namespace detail

} // namespace amq::protocol
