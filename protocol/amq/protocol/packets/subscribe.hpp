#pragma once
#include "amq/protocol/properties.hpp"

#include <string>
#include <vector>

namespace amq::protocol {

/// Retain Handling subscription option (MQTT 5.0 §3.8.3.1).
enum class retain_handling : uint8_t {
  send_on_subscribe = 0,
  send_if_new_subscription = 1,
  do_not_send = 2,
};

/// One topic filter with its subscription options.
struct subscription {
  std::string_view filter;
  qos max_qos = qos::at_most_once;
  bool no_local = false;            ///< 5.0 only
  bool retain_as_published = false; ///< 5.0 only
  retain_handling handling = retain_handling::send_on_subscribe; ///< 5.0 only
  friend bool operator==(const subscription&, const subscription&) = default;
};

/// SUBSCRIBE (MQTT 5.0 §3.8, 3.1.1 §3.8). Fixed header flags 0b0010.
/// At least one subscription; packet id non-zero.
///
/// Topic filters: `decode_subscribe` rejects only filters that make the
/// packet malformed — not valid UTF-8, or empty (0x81). A well-formed UTF-8
/// filter with invalid wildcard syntax ("a/#/b", "a+", "$share/g") is NOT a
/// decode error: in 5.0 the broker answers that one filter with SUBACK 0x8F
/// (Topic Filter invalid), in 3.1.1 with 0x80, and processes the others. Check
/// each filter with `validate_topic_filter`. The same holds for UNSUBSCRIBE.
struct subscribe {
  uint16_t packet_id = 0;
  properties props; ///< 5.0 only: subscription identifier, user properties
  std::vector<subscription> subscriptions;
  friend bool operator==(const subscribe&, const subscribe&) = default;
};

/// SUBACK (MQTT 5.0 §3.9, 3.1.1 §3.9). In 3.1.1 only 0x00–0x02 and 0x80
/// are valid return codes.
struct suback {
  uint16_t packet_id = 0;
  properties props; ///< 5.0 only
  std::vector<reason_code> codes;
  friend bool operator==(const suback&, const suback&) = default;
};

/// UNSUBSCRIBE (MQTT 5.0 §3.10, 3.1.1 §3.10). Fixed header flags 0b0010.
/// At least one filter; filters are checked for UTF-8 and non-emptiness only
/// (see SUBSCRIBE).
struct unsubscribe {
  uint16_t packet_id = 0;
  properties props; ///< 5.0 only
  std::vector<std::string_view> filters;
  friend bool operator==(const unsubscribe&, const unsubscribe&) = default;
};

/// UNSUBACK (MQTT 5.0 §3.11, 3.1.1 §3.11). 3.1.1 carries no codes.
struct unsuback {
  uint16_t packet_id = 0;
  properties props;               ///< 5.0 only
  std::vector<reason_code> codes; ///< 5.0 only
  friend bool operator==(const unsuback&, const unsuback&) = default;
};

std::string to_string(const subscribe& p);
std::string to_string(const suback& p);
std::string to_string(const unsubscribe& p);
std::string to_string(const unsuback& p);

} // namespace amq::protocol
