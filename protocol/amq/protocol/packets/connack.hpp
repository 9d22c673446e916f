#pragma once
#include "amq/protocol/properties.hpp"

#include <string>

namespace amq::protocol {

/// CONNACK — connect acknowledgement (MQTT 5.0 §3.2, 3.1.1 §3.2).
/// In 3.1.1 the reason code is carried as a return code 0–5, see
/// `to_v311_connack`; properties are not encoded.
struct connack {
  bool session_present = false;
  reason_code code = reason_code::success;
  properties props; ///< 5.0 only
  friend bool operator==(const connack&, const connack&) = default;
};

std::string to_string(const connack& p);

} // namespace amq::protocol
