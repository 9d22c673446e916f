#pragma once
/// MQTT 5.0 properties (§2.2.2): identifiers, value types, where each may
/// appear and how often, and the decoded property set.

#include "amq/protocol/types.hpp"

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace amq::protocol {

/// Property identifiers (MQTT 5.0 §2.2.2.2, table 2-4).
enum class property_id : uint8_t {
  payload_format_indicator = 0x01,          // byte
  message_expiry_interval = 0x02,           // four byte integer
  content_type = 0x03,                      // UTF-8 string
  response_topic = 0x08,                    // UTF-8 string
  correlation_data = 0x09,                  // binary data
  subscription_identifier = 0x0B,           // variable byte integer
  session_expiry_interval = 0x11,           // four byte integer
  assigned_client_identifier = 0x12,        // UTF-8 string
  server_keep_alive = 0x13,                 // two byte integer
  authentication_method = 0x15,             // UTF-8 string
  authentication_data = 0x16,               // binary data
  request_problem_information = 0x17,       // byte
  will_delay_interval = 0x18,               // four byte integer
  request_response_information = 0x19,     // byte
  response_information = 0x1A,              // UTF-8 string
  server_reference = 0x1C,                  // UTF-8 string
  reason_string = 0x1F,                     // UTF-8 string
  receive_maximum = 0x21,                   // two byte integer
  topic_alias_maximum = 0x22,               // two byte integer
  topic_alias = 0x23,                       // two byte integer
  maximum_qos = 0x24,                       // byte
  retain_available = 0x25,                  // byte
  user_property = 0x26,                     // UTF-8 string pair
  maximum_packet_size = 0x27,               // four byte integer
  wildcard_subscription_available = 0x28,   // byte
  subscription_identifier_available = 0x29, // byte
  shared_subscription_available = 0x2A,     // byte
};

/// Wire type of a property value (MQTT 5.0 §1.5).
enum class property_type : uint8_t {
  byte,
  two_byte_integer,
  four_byte_integer,
  variable_byte_integer,
  utf8_string,
  binary_data,
  utf8_string_pair,
};

/// Where a property block appears. The will properties of CONNECT are their
/// own context (§3.1.3.2).
enum class property_context : uint8_t {
  connect,
  will,
  connack,
  publish,
  puback,
  pubrec,
  pubrel,
  pubcomp,
  subscribe,
  suback,
  unsubscribe,
  unsuback,
  disconnect,
  auth,
};

/// Type of a property, or nullopt for an unknown identifier.
std::optional<property_type> type_of(uint8_t id) noexcept;

/// True if property `id` may appear in `ctx` (MQTT 5.0 table 2-4).
bool allowed_in(property_id id, property_context ctx) noexcept;

/// True if the property may appear more than once in one block: only
/// user_property anywhere, and subscription_identifier in PUBLISH.
bool may_repeat(property_id id, property_context ctx) noexcept;

std::string_view to_string(property_id id) noexcept;

struct string_pair {
  std::string_view name;
  std::string_view value;
  friend bool operator==(const string_pair&, const string_pair&) = default;
};

/// A decoded (or to-be-encoded) property block (codec: property_codec.hpp).
/// Decoding enforces the per-value rules of the spec: the one-byte flags are
/// 0 or 1, Receive Maximum, Maximum Packet Size, Subscription Identifier and
/// Topic Alias are non-zero (0x82). Topic Alias 0 is rejected while decoding
/// because it is invalid whatever the session state [MQTT-3.3.2-8]; the
/// upper bound (0x94) is the session's check. Strings and binary data are
/// views into the frame they were decoded from (or into caller-owned memory
/// when encoding). An empty block decodes without any heap allocation: the
/// vectors are only filled when the packet carries those properties.
struct properties {
  std::optional<uint8_t> payload_format_indicator;
  std::optional<uint32_t> message_expiry_interval;
  std::optional<std::string_view> content_type;
  std::optional<std::string_view> response_topic;
  std::optional<std::string_view> correlation_data; ///< binary data
  /// SUBSCRIBE carries at most one; PUBLISH may carry several.
  std::vector<uint32_t> subscription_identifiers;
  std::optional<uint32_t> session_expiry_interval;
  std::optional<std::string_view> assigned_client_identifier;
  std::optional<uint16_t> server_keep_alive;
  std::optional<std::string_view> authentication_method;
  std::optional<std::string_view> authentication_data; ///< binary data
  std::optional<uint8_t> request_problem_information;
  std::optional<uint32_t> will_delay_interval;
  std::optional<uint8_t> request_response_information;
  std::optional<std::string_view> response_information;
  std::optional<std::string_view> server_reference;
  std::optional<std::string_view> reason_string;
  std::optional<uint16_t> receive_maximum;
  std::optional<uint16_t> topic_alias_maximum;
  std::optional<uint16_t> topic_alias;
  std::optional<uint8_t> maximum_qos;
  std::optional<uint8_t> retain_available;
  std::vector<string_pair> user_properties; ///< in wire order
  std::optional<uint32_t> maximum_packet_size;
  std::optional<uint8_t> wildcard_subscription_available;
  std::optional<uint8_t> subscription_identifier_available;
  std::optional<uint8_t> shared_subscription_available;

  bool empty() const noexcept;

  friend bool operator==(const properties&, const properties&) = default;
};

/// Encoded length of the property block *without* its own length prefix.
uint32_t encoded_size(const properties& p) noexcept;

} // namespace amq::protocol
