#pragma once
#include "amq/protocol/properties.hpp"

#include <string>

namespace amq::protocol {

/// PUBACK (§3.4), PUBREC (§3.5), PUBREL (§3.6), PUBCOMP (§3.7): a packet id,
/// and in 5.0 a reason code and properties. In 5.0 the reason code and the
/// property length may be omitted on the wire when they are 0x00 / empty;
/// the encoder writes the shortest form (MQTT 5.0 §3.4.2.1).
/// PUBREL's fixed header flags are 0b0010.
template <packet_type Type>
struct pub_ack {
  static constexpr packet_type type = Type;
  uint16_t packet_id = 0;
  reason_code code = reason_code::success; ///< 5.0 only
  properties props;                        ///< 5.0 only
  friend bool operator==(const pub_ack&, const pub_ack&) = default;
};

using puback = pub_ack<packet_type::puback>;
using pubrec = pub_ack<packet_type::pubrec>;
using pubrel = pub_ack<packet_type::pubrel>;
using pubcomp = pub_ack<packet_type::pubcomp>;

std::string to_string(const puback& p);
std::string to_string(const pubrec& p);
std::string to_string(const pubrel& p);
std::string to_string(const pubcomp& p);

} // namespace amq::protocol
