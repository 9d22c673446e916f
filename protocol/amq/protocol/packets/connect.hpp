#pragma once
#include "amq/protocol/properties.hpp"

#include <string>

#include <optional>
#include <string_view>

namespace amq::protocol {

/// Will message carried in CONNECT (MQTT 5.0 §3.1.3.2–3.1.3.4, 3.1.1 §3.1.3.2–3.1.3.3).
struct will_message {
  qos qos_level = qos::at_most_once;
  bool retain = false;
  std::string_view topic;
  std::string_view payload; ///< binary data
  properties props;         ///< will properties (5.0 only)
  friend bool operator==(const will_message&, const will_message&) = default;
};

/// CONNECT — client request to connect (MQTT 5.0 §3.1, 3.1.1 §3.1).
/// The protocol version is part of the packet; decoding accepts protocol
/// level 4 (3.1.1, name "MQTT") and 5 (5.0). Other levels decode to
/// `unsupported_protocol_version` so the broker can answer with the right
/// CONNACK (return code 0x01 for 3.x clients).
struct connect {
  protocol_version version = protocol_version::v5;
  bool clean_start = true; ///< "Clean Session" in 3.1.1.
  uint16_t keep_alive = 0;
  properties props; ///< 5.0 only
  std::string_view client_id;
  std::optional<will_message> will;
  std::optional<std::string_view> username;
  std::optional<std::string_view> password; ///< binary data
  friend bool operator==(const connect&, const connect&) = default;
};

std::string to_string(const connect& p);

} // namespace amq::protocol
