#pragma once
/// Every MQTT control packet as one variant, plus the generic codec entry points.

#include "amq/protocol/framer.hpp"
#include "amq/protocol/packets/acks.hpp"
#include "amq/protocol/packets/connack.hpp"
#include "amq/protocol/packets/connect.hpp"
#include "amq/protocol/packets/control.hpp"
#include "amq/protocol/packets/publish.hpp"
#include "amq/protocol/packets/subscribe.hpp"

#include <cstdint>
#include <span>
#include <string>
#include <variant>
#include <vector>

namespace amq::protocol {

using packet
  = std::variant<connect, connack, publish, puback, pubrec, pubrel, pubcomp,
                 subscribe, suback, unsubscribe, unsuback, pingreq, pingresp,
                 disconnect, auth>;

std::string to_string(const packet& p);

// -- decoding -----------------------------------------------------------------
//
// Each decoder takes one complete frame from the framer (fixed header byte and
// body) and validates everything the spec lets a receiver check without
// session state: reserved flag bits, lengths, UTF-8 rules, property
// identifiers/types/placement/repetition, reason code values, QoS values,
// packet id != 0 where required, topic name/filter syntax, non-empty
// SUBSCRIBE/UNSUBSCRIBE. Results view the frame's bytes. Never throws.
//
// Reason codes in decode errors:
// - 0x81 Malformed Packet: the bytes cannot be parsed (truncation, trailing
//   bytes, bad fixed header flags incl. DUP with QoS 0 and QoS 3 in PUBLISH
//   (§2.1.3), bad UTF-8, bad lengths, unknown property identifier or one not
//   valid for the packet type (§2.2.2.2), reserved bits in CONNECT/SUBSCRIBE).
// - 0x82 Protocol Error (5.0): parseable but not allowed (packet id 0,
//   Will QoS/Retain without Will Flag, duplicate property, invalid property value,
//   reason code not defined for the packet type, empty SUBSCRIBE/UNSUBSCRIBE,
//   SUBSCRIBE Maximum QoS 3 or Retain Handling 3 (§3.8.3.1), No Local on a
//   shared subscription, empty topic without Topic Alias, Topic Alias 0).
// - 0x90 Topic Name invalid (5.0): wildcard in a PUBLISH or will topic name.
// - 0x84 Unsupported Protocol Version: CONNECT with a name other than
//   "MQTT" or a level other than 4/5 (for either version).
// - 0x85 Client Identifier not valid: 3.1.1 CONNECT with an empty client id
//   and Clean Session 0 [MQTT-3.1.3-8].
// - MQTT 3.1.1 has no reason codes and closes the connection on every
//   violation; its decode errors are always 0x81, except 0x84/0x85 above and AUTH
//   (type 15, reserved in 3.1.1), which is 0x82.
// Messages name the packet and the rule ("PUBLISH: packet identifier is 0").

result<connect> decode_connect(const frame& f);
result<connack> decode_connack(const frame& f, protocol_version v);
result<publish> decode_publish(const frame& f, protocol_version v);
result<puback> decode_puback(const frame& f, protocol_version v);
result<pubrec> decode_pubrec(const frame& f, protocol_version v);
result<pubrel> decode_pubrel(const frame& f, protocol_version v);
result<pubcomp> decode_pubcomp(const frame& f, protocol_version v);
result<subscribe> decode_subscribe(const frame& f, protocol_version v);
result<suback> decode_suback(const frame& f, protocol_version v);
result<unsubscribe> decode_unsubscribe(const frame& f, protocol_version v);
result<unsuback> decode_unsuback(const frame& f, protocol_version v);
result<pingreq> decode_pingreq(const frame& f);
result<pingresp> decode_pingresp(const frame& f);
result<disconnect> decode_disconnect(const frame& f, protocol_version v);
/// AUTH in a 3.1.1 session is a protocol error (0x82), type 15 is reserved there.
/// In 5.0 remaining length 0 means Success; remaining length 1 (reason code
/// without property length) is 0x81, unlike DISCONNECT.
result<auth> decode_auth(const frame& f, protocol_version v);

/// Dispatches on the frame's packet type. CONNECT ignores `v`.
result<packet> decode(const frame& f, protocol_version v);

// -- encoding -----------------------------------------------------------------
//
// `encoded_size` is the exact number of bytes `encode` appends (fixed header
// included). `encode` appends to `out` with a single resize, no per-field
// allocation; `encode_to` writes into caller memory of at least
// `encoded_size` bytes and returns the number of bytes written. Fields that
// do not exist in the given version (properties, reason codes in 3.1.1) are
// not written. Encoding does not validate: callers build valid packets.
// Exceptions that make a 5.0-shaped value encodable for 3.1.1: CONNACK maps
// its reason code with `to_v311_connack`, SUBACK writes every code >= 0x80
// as 0x80. AUTH is always written in its 5.0 form. 5.0 properties are
// written in identifier order.
// CONNECT is encoded in `p.version`, the `v` argument is ignored for it.

template <class Packet>
size_t encoded_size(const Packet& p, protocol_version v) noexcept;

template <class Packet>
size_t encode_to(const Packet& p, protocol_version v, uint8_t* out) noexcept;

template <class Packet>
void encode(const Packet& p, protocol_version v, std::vector<uint8_t>& out) {
  auto n = encoded_size(p, v);
  auto old = out.size();
  out.resize(old + n);
  encode_to(p, v, out.data() + old);
}

// Each packet's codec lives in its own source file as explicit
// specializations of the two templates above.
#define AMQ_PROTOCOL_DECLARE_CODEC(P)                                          \
  template <>                                                                  \
  size_t encoded_size<P>(const P& p, protocol_version v) noexcept;             \
  template <>                                                                  \
  size_t encode_to<P>(const P& p, protocol_version v, uint8_t* out) noexcept;
AMQ_PROTOCOL_DECLARE_CODEC(connect)
AMQ_PROTOCOL_DECLARE_CODEC(connack)
AMQ_PROTOCOL_DECLARE_CODEC(publish)
AMQ_PROTOCOL_DECLARE_CODEC(puback)
AMQ_PROTOCOL_DECLARE_CODEC(pubrec)
AMQ_PROTOCOL_DECLARE_CODEC(pubrel)
AMQ_PROTOCOL_DECLARE_CODEC(pubcomp)
AMQ_PROTOCOL_DECLARE_CODEC(subscribe)
AMQ_PROTOCOL_DECLARE_CODEC(suback)
AMQ_PROTOCOL_DECLARE_CODEC(unsubscribe)
AMQ_PROTOCOL_DECLARE_CODEC(unsuback)
AMQ_PROTOCOL_DECLARE_CODEC(pingreq)
AMQ_PROTOCOL_DECLARE_CODEC(pingresp)
AMQ_PROTOCOL_DECLARE_CODEC(disconnect)
AMQ_PROTOCOL_DECLARE_CODEC(auth)
#undef AMQ_PROTOCOL_DECLARE_CODEC

size_t encoded_size(const packet& p, protocol_version v) noexcept;
size_t encode_to(const packet& p, protocol_version v, uint8_t* out) noexcept;
void encode(const packet& p, protocol_version v, std::vector<uint8_t>& out);

} // namespace amq::protocol
