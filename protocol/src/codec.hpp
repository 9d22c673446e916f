#pragma once
// Internal helpers shared by the packet codecs (not installed, not public).

#include "amq/protocol/packet.hpp"
#include "amq/protocol/property_codec.hpp"
#include "amq/protocol/wire.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace amq::protocol::detail {

/// MQTT 3.1.1 has no reason codes and no Protocol Error / Malformed Packet
/// distinction: every violation closes the connection. We report the
/// violations that 5.0 calls a Protocol Error as 0x82 for 5.0 and as 0x81 for
/// 3.1.1, so a 3.1.1 decode error is always 0x81 (except AUTH, 0x82, and the
/// CONNECT protocol level, 0x84).
constexpr reason_code protocol_error_for(protocol_version v) noexcept {
  return v == protocol_version::v5 ? reason_code::protocol_error
                                   : reason_code::malformed_packet;
}

constexpr decode_error malformed(std::string_view msg) noexcept {
  return {reason_code::malformed_packet, msg};
}

constexpr decode_error protocol_violation(protocol_version v,
                                          std::string_view msg) noexcept {
  return {protocol_error_for(v), msg};
}

/// The reader's error, with a field-specific message when it merely ran out
/// of bytes ("PUBLISH: topic name truncated" instead of "packet truncated").
inline decode_error read_error(const reader& r, std::string_view truncated_msg) noexcept {
  if (r.truncated())
    return malformed(truncated_msg);
  return r.error();
}

/// Size of a whole packet from the size of its body.
constexpr size_t packet_size(size_t body) noexcept {
  return 1 + varint_size(static_cast<uint32_t>(body)) + body;
}

/// Writes the fixed header.
inline void write_fixed_header(writer& w, uint8_t first, size_t body) noexcept {
  w.u8(first);
  w.varint(static_cast<uint32_t>(body));
}

/// Length of a two-byte-length-prefixed string on the wire.
constexpr size_t lstring_size(std::string_view s) noexcept {
  return 2 + s.size();
}

/// Reads a property block, with the 5.0 empty-block fast path inlined into the
/// caller (the common case for PUBLISH and the acks).
inline bool read_props(reader& r, property_context ctx, properties& out) {
  if (r.remaining() != 0 && *r.position() == 0) {
    r.skip(1);
    return true;
  }
  return read_properties(r, ctx, out);
}

/// Wire size of a property block; 1 for an empty block.
inline size_t props_size(const properties& p) noexcept {
  return properties_wire_size(p);
}

/// Whether `code` is a valid reason code for a packet (5.0 §2.4 table 2-6).
bool valid_connack_code(uint8_t code) noexcept;
bool valid_puback_code(uint8_t code) noexcept; ///< PUBACK and PUBREC.
bool valid_pubrel_code(uint8_t code) noexcept; ///< PUBREL and PUBCOMP.
bool valid_suback_code(uint8_t code) noexcept;
bool valid_unsuback_code(uint8_t code) noexcept;
bool valid_disconnect_code(uint8_t code) noexcept;
bool valid_auth_code(uint8_t code) noexcept;

/// Topic name checks without UTF-8 validation (the reader already did that):
/// nullopt, or a message for a wildcard character.
bool topic_name_has_wildcard(std::string_view name) noexcept;

/// Starts with "$share/".
constexpr bool is_shared_filter(std::string_view f) noexcept {
  return f.size() >= 7 && f.substr(0, 7) == "$share/";
}

/// Appends "0x%02X" to `out`.
void append_hex(std::string& out, uint8_t v);

/// Appends a string, quoted, truncated at 64 bytes with "...".
void append_quoted(std::string& out, std::string_view s);

} // namespace amq::protocol::detail
