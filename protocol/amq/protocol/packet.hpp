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

size_t encoded_size(const packet& p, protocol_version v) noexcept;
size_t encode_to(const packet& p, protocol_version v, uint8_t* out) noexcept;
void encode(const packet& p, protocol_version v, std::vector<uint8_t>& out);

} // namespace amq::protocol
