#pragma once
/// Basic MQTT vocabulary shared by every packet: versions, packet types, QoS,
/// reason codes, and the `result` type that decoders return.
///
/// Nothing in `amq::protocol` depends on CAF or does I/O.

#include <cstdint>
#include <string_view>
#include <utility>
#include <variant>

namespace amq::protocol {

/// Protocol level byte of CONNECT (MQTT 3.1.1 §3.1.2.2, MQTT 5.0 §3.1.2.2).
enum class protocol_version : uint8_t {
  v311 = 4,
  v5 = 5,
};

/// Control packet type, the high nibble of the fixed header (MQTT 5.0 §2.1.2).
enum class packet_type : uint8_t {
  connect = 1,
  connack = 2,
  publish = 3,
  puback = 4,
  pubrec = 5,
  pubrel = 6,
  pubcomp = 7,
  subscribe = 8,
  suback = 9,
  unsubscribe = 10,
  unsuback = 11,
  pingreq = 12,
  pingresp = 13,
  disconnect = 14,
  auth = 15, ///< MQTT 5.0 only.
};

std::string_view to_string(packet_type t) noexcept;

enum class qos : uint8_t { at_most_once = 0, at_least_once = 1, exactly_once = 2 };

/// MQTT 5.0 reason codes (§2.4). Several names share a value, as in the spec.
/// MQTT 3.1.1 CONNACK return codes are mapped onto these (see `to_v311_connack`).
enum class reason_code : uint8_t {
  success = 0x00,
  normal_disconnection = 0x00,
  granted_qos_0 = 0x00,
  granted_qos_1 = 0x01,
  granted_qos_2 = 0x02,
  disconnect_with_will_message = 0x04,
  no_matching_subscribers = 0x10,
  no_subscription_existed = 0x11,
  continue_authentication = 0x18,
  re_authenticate = 0x19,
  unspecified_error = 0x80,
  malformed_packet = 0x81,
  protocol_error = 0x82,
  implementation_specific_error = 0x83,
  unsupported_protocol_version = 0x84,
  client_identifier_not_valid = 0x85,
  bad_user_name_or_password = 0x86,
  not_authorized = 0x87,
  server_unavailable = 0x88,
  server_busy = 0x89,
  banned = 0x8A,
  server_shutting_down = 0x8B,
  bad_authentication_method = 0x8C,
  keep_alive_timeout = 0x8D,
  session_taken_over = 0x8E,
  topic_filter_invalid = 0x8F,
  topic_name_invalid = 0x90,
  packet_identifier_in_use = 0x91,
  packet_identifier_not_found = 0x92,
  receive_maximum_exceeded = 0x93,
  topic_alias_invalid = 0x94,
  packet_too_large = 0x95,
  message_rate_too_high = 0x96,
  quota_exceeded = 0x97,
  administrative_action = 0x98,
  payload_format_invalid = 0x99,
  retain_not_supported = 0x9A,
  qos_not_supported = 0x9B,
  use_another_server = 0x9C,
  server_moved = 0x9D,
  shared_subscriptions_not_supported = 0x9E,
  connection_rate_exceeded = 0x9F,
  maximum_connect_time = 0xA0,
  subscription_identifiers_not_supported = 0xA1,
  wildcard_subscriptions_not_supported = 0xA2,
};

/// Name of a reason code as the spec writes it, e.g. "Malformed Packet".
/// For 0x00 returns "Success".
std::string_view to_string(reason_code rc) noexcept;

/// True if `rc` is a value defined by MQTT 5.0 §2.4 (any packet).
bool is_known_reason_code(uint8_t value) noexcept;

/// MQTT 3.1.1 CONNACK return code (§3.2.2.3) for a 5.0 reason code:
/// success→0, unsupported_protocol_version→1, client_identifier_not_valid→2,
/// server_unavailable/server_busy/…→3, bad_user_name_or_password→4,
/// not_authorized/banned/…→5.
uint8_t to_v311_connack(reason_code rc) noexcept;

/// Inverse of `to_v311_connack` for the six defined 3.1.1 return codes.
/// Returns false for values above 5.
bool from_v311_connack(uint8_t code, reason_code& out) noexcept;

/// Why a packet could not be decoded: the reason code the broker must answer
/// with (0x81 malformed, 0x82 protocol error, 0x95 packet too large, ...) and a
/// static, human-readable explanation ("remaining length exceeds 4 bytes").
struct decode_error {
  reason_code code = reason_code::malformed_packet;
  std::string_view message; ///< Always points to a string literal.

  friend bool operator==(const decode_error&, const decode_error&) = default;
};

/// Either a value or a decode_error. Never throws.
template <class T>
class result {
public:
  result(T value) : v_(std::move(value)) {}
  result(decode_error err) : v_(err) {}

  explicit operator bool() const noexcept { return v_.index() == 0; }
  bool has_value() const noexcept { return v_.index() == 0; }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const decode_error& error() const { return std::get<1>(v_); }

private:
  std::variant<T, decode_error> v_;
};

} // namespace amq::protocol
