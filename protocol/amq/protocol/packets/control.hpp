#pragma once
#include "amq/protocol/properties.hpp"

#include <string>

namespace amq::protocol {

/// PINGREQ (§3.12): no variable header, no payload.
struct pingreq {
  friend bool operator==(const pingreq&, const pingreq&) = default;
};

/// PINGRESP (§3.13): no variable header, no payload.
struct pingresp {
  friend bool operator==(const pingresp&, const pingresp&) = default;
};

/// DISCONNECT (MQTT 5.0 §3.14, 3.1.1 §3.14). In 3.1.1 it is just the fixed
/// header. In 5.0 a remaining length of 0 means Normal disconnection without
/// properties; the encoder writes the shortest form.
struct disconnect {
  reason_code code = reason_code::normal_disconnection; ///< 5.0 only
  properties props;                                     ///< 5.0 only
  friend bool operator==(const disconnect&, const disconnect&) = default;
};

/// AUTH (MQTT 5.0 §3.15), 5.0 only. Remaining length 0 means Success
/// without properties.
struct auth {
  reason_code code = reason_code::success;
  properties props;
  friend bool operator==(const auth&, const auth&) = default;
};

std::string to_string(const pingreq& p);
std::string to_string(const pingresp& p);
std::string to_string(const disconnect& p);
std::string to_string(const auth& p);

} // namespace amq::protocol
