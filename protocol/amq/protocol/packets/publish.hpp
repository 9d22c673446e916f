#pragma once
#include "amq/protocol/properties.hpp"

#include <string>

namespace amq::protocol {

/// PUBLISH — application message (MQTT 5.0 §3.3, 3.1.1 §3.3).
/// `topic` and `payload` view the frame they were decoded from; decoding a
/// PUBLISH without user properties or subscription identifiers allocates
/// nothing. `topic` may be empty in 5.0 when a Topic Alias is set.
///
/// The decoder checks what needs no session state: QoS 3 (0x81), DUP with
/// QoS 0 (0x81, §2.1.3), packet id 0 for QoS > 0 (0x82), wildcards in the topic
/// (0x90), empty topic without Topic Alias (0x82), Topic Alias 0 (0x82).
/// Left to the session: Topic Alias above the negotiated maximum (0x94),
/// alias lookup, Subscription Identifier sent by a client (0x82), payload
/// format (0x99), maximum QoS / retain availability. (3.1.1: all 0x81.)
struct publish {
  bool dup = false;
  qos qos_level = qos::at_most_once;
  bool retain = false;
  std::string_view topic;
  uint16_t packet_id = 0; ///< present on the wire only for QoS > 0
  properties props;       ///< 5.0 only
  std::string_view payload;
  friend bool operator==(const publish&, const publish&) = default;
};

std::string to_string(const publish& p);

} // namespace amq::protocol
