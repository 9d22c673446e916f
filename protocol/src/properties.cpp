// MQTT 5.0 properties (§2.2.2): the type and placement table, and the codec
// of a property block.
//
// Design: one constexpr table indexed by identifier (0x00..0x2A) holds the
// wire type and a bit set of the contexts (table 2-4) in which the property
// may appear. Decoding keeps a 64-bit "seen" mask for duplicate detection, so
// a block is checked in one pass without allocation; only user properties and
// subscription identifiers go to vectors.
//
// Placement (table 2-4): an identifier not valid for the packet type is 0x81
// Malformed Packet (§2.2.2.2), as is an unknown identifier. Repeating a
// property that may not repeat is 0x82 Protocol Error.
//
// Value rules enforced while decoding (all 0x82 Protocol Error unless noted):
// - payload_format_indicator, request_problem_information,
//   request_response_information, maximum_qos, retain_available,
//   wildcard/subscription_identifier/shared_subscription_available: 0 or 1
//   (§3.3.2.3.2, §3.1.2.11.7, §3.1.2.11.6, §3.2.2.3.4, §3.2.2.3.5,
//   §3.2.2.3.11-13);
// - receive_maximum != 0 (§3.1.2.11.3, §3.2.2.3.3);
// - maximum_packet_size != 0 (§3.1.2.11.4, §3.2.2.3.6);
// - subscription_identifier in 1..268'435'455 (§3.3.2.3.8, §3.8.2.1.2);
// - topic_alias != 0: [MQTT-3.3.2-8] forbids sending 0, and 0 can never be a
//   valid alias whatever the session state, so we reject it here as a
//   Protocol Error. The upper bound (Topic Alias Maximum, 0x94) is session
//   state and is checked by the session;
// - response_topic must be a topic name without wildcards [MQTT-3.3.2-14];
// - UTF-8 strings and string pairs must be valid MQTT UTF-8 (0x81).
// Rules that need other packets (Session Expiry in DISCONNECT after 0 in
// CONNECT, Subscription Identifier sent by a client in PUBLISH) are session
// rules and are not checked here.
#include "amq/protocol/property_codec.hpp"

#include "codec.hpp"

#include <array>

namespace amq::protocol {

namespace {

using ctx = property_context;

constexpr uint16_t bit(ctx c) noexcept {
  return static_cast<uint16_t>(1u << static_cast<unsigned>(c));
}

struct prop_info {
  property_type type = property_type::byte;
  uint16_t contexts = 0; ///< 0 = unknown identifier
};

constexpr uint16_t all_contexts = 0x3FFF;

constexpr std::array<prop_info, 0x2B> make_table() {
  std::array<prop_info, 0x2B> t{};
  using pt = property_type;
  auto set = [&](property_id id, pt type, uint16_t where) {
    t[static_cast<uint8_t>(id)] = {type, where};
  };
  constexpr uint16_t pub_will = bit(ctx::publish) | bit(ctx::will);
  set(property_id::payload_format_indicator, pt::byte, pub_will);
  set(property_id::message_expiry_interval, pt::four_byte_integer, pub_will);
  set(property_id::content_type, pt::utf8_string, pub_will);
  set(property_id::response_topic, pt::utf8_string, pub_will);
  set(property_id::correlation_data, pt::binary_data, pub_will);
  set(property_id::subscription_identifier, pt::variable_byte_integer,
      bit(ctx::publish) | bit(ctx::subscribe));
  set(property_id::session_expiry_interval, pt::four_byte_integer,
      bit(ctx::connect) | bit(ctx::connack) | bit(ctx::disconnect));
  set(property_id::assigned_client_identifier, pt::utf8_string, bit(ctx::connack));
  set(property_id::server_keep_alive, pt::two_byte_integer, bit(ctx::connack));
  set(property_id::authentication_method, pt::utf8_string,
      bit(ctx::connect) | bit(ctx::connack) | bit(ctx::auth));
  set(property_id::authentication_data, pt::binary_data,
      bit(ctx::connect) | bit(ctx::connack) | bit(ctx::auth));
  set(property_id::request_problem_information, pt::byte, bit(ctx::connect));
  set(property_id::will_delay_interval, pt::four_byte_integer, bit(ctx::will));
  set(property_id::request_response_information, pt::byte, bit(ctx::connect));
  set(property_id::response_information, pt::utf8_string, bit(ctx::connack));
  set(property_id::server_reference, pt::utf8_string,
      bit(ctx::connack) | bit(ctx::disconnect));
  set(property_id::reason_string, pt::utf8_string,
      bit(ctx::connack) | bit(ctx::puback) | bit(ctx::pubrec) | bit(ctx::pubrel)
        | bit(ctx::pubcomp) | bit(ctx::suback) | bit(ctx::unsuback)
        | bit(ctx::disconnect) | bit(ctx::auth));
  set(property_id::receive_maximum, pt::two_byte_integer,
      bit(ctx::connect) | bit(ctx::connack));
  set(property_id::topic_alias_maximum, pt::two_byte_integer,
      bit(ctx::connect) | bit(ctx::connack));
  set(property_id::topic_alias, pt::two_byte_integer, bit(ctx::publish));
  set(property_id::maximum_qos, pt::byte, bit(ctx::connack));
  set(property_id::retain_available, pt::byte, bit(ctx::connack));
  set(property_id::user_property, pt::utf8_string_pair, all_contexts);
  set(property_id::maximum_packet_size, pt::four_byte_integer,
      bit(ctx::connect) | bit(ctx::connack));
  set(property_id::wildcard_subscription_available, pt::byte, bit(ctx::connack));
  set(property_id::subscription_identifier_available, pt::byte, bit(ctx::connack));
  set(property_id::shared_subscription_available, pt::byte, bit(ctx::connack));
  return t;
}

constexpr auto table = make_table();

/// Reads a one-byte property that must be 0 or 1.
bool read_flag(reader& r, std::optional<uint8_t>& out, std::string_view bad) {
  uint8_t v;
  if (!r.u8(v))
    return false;
  if (v > 1) {
    r.fail(reason_code::protocol_error, bad);
    return false;
  }
  out = v;
  return true;
}

bool read_u16(reader& r, std::optional<uint16_t>& out) {
  uint16_t v;
  if (!r.u16(v))
    return false;
  out = v;
  return true;
}

bool read_u32(reader& r, std::optional<uint32_t>& out) {
  uint32_t v;
  if (!r.u32(v))
    return false;
  out = v;
  return true;
}

bool read_str(reader& r, std::optional<std::string_view>& out) {
  std::string_view v;
  if (!r.utf8(v))
    return false;
  out = v;
  return true;
}

bool read_bin(reader& r, std::optional<std::string_view>& out) {
  std::string_view v;
  if (!r.binary(v))
    return false;
  out = v;
  return true;
}

/// Decodes one property value (identifier already read and checked).
bool read_value(reader& r, property_id id, properties& p) {
  using pid = property_id;
  switch (id) {
    case pid::payload_format_indicator:
      return read_flag(r, p.payload_format_indicator,
                       "payload format indicator is not 0 or 1");
    case pid::message_expiry_interval:
      return read_u32(r, p.message_expiry_interval);
    case pid::content_type:
      return read_str(r, p.content_type);
    case pid::response_topic:
      if (!read_str(r, p.response_topic))
        return false;
      if (p.response_topic->empty()
          || detail::topic_name_has_wildcard(*p.response_topic)) {
        r.fail(reason_code::protocol_error,
               "response topic is empty or contains a wildcard");
        return false;
      }
      return true;
    case pid::correlation_data:
      return read_bin(r, p.correlation_data);
    case pid::subscription_identifier: {
      uint32_t v;
      if (!r.varint(v))
        return false;
      if (v == 0) {
        r.fail(reason_code::protocol_error, "subscription identifier is 0");
        return false;
      }
      p.subscription_identifiers.push_back(v);
      return true;
    }
    case pid::session_expiry_interval:
      return read_u32(r, p.session_expiry_interval);
    case pid::assigned_client_identifier:
      return read_str(r, p.assigned_client_identifier);
    case pid::server_keep_alive:
      return read_u16(r, p.server_keep_alive);
    case pid::authentication_method:
      return read_str(r, p.authentication_method);
    case pid::authentication_data:
      return read_bin(r, p.authentication_data);
    case pid::request_problem_information:
      return read_flag(r, p.request_problem_information,
                       "request problem information is not 0 or 1");
    case pid::will_delay_interval:
      return read_u32(r, p.will_delay_interval);
    case pid::request_response_information:
      return read_flag(r, p.request_response_information,
                       "request response information is not 0 or 1");
    case pid::response_information:
      return read_str(r, p.response_information);
    case pid::server_reference:
      return read_str(r, p.server_reference);
    case pid::reason_string:
      return read_str(r, p.reason_string);
    case pid::receive_maximum:
      if (!read_u16(r, p.receive_maximum))
        return false;
      if (*p.receive_maximum == 0) {
        r.fail(reason_code::protocol_error, "receive maximum is 0");
        return false;
      }
      return true;
    case pid::topic_alias_maximum:
      return read_u16(r, p.topic_alias_maximum);
    case pid::topic_alias:
      if (!read_u16(r, p.topic_alias))
        return false;
      if (*p.topic_alias == 0) {
        r.fail(reason_code::protocol_error, "topic alias is 0");
        return false;
      }
      return true;
    case pid::maximum_qos:
      return read_flag(r, p.maximum_qos, "maximum QoS is not 0 or 1");
    case pid::retain_available:
      return read_flag(r, p.retain_available, "retain available is not 0 or 1");
    case pid::user_property: {
      string_pair sp;
      if (!r.utf8(sp.name) || !r.utf8(sp.value))
        return false;
      p.user_properties.push_back(sp);
      return true;
    }
    case pid::maximum_packet_size:
      if (!read_u32(r, p.maximum_packet_size))
        return false;
      if (*p.maximum_packet_size == 0) {
        r.fail(reason_code::protocol_error, "maximum packet size is 0");
        return false;
      }
      return true;
    case pid::wildcard_subscription_available:
      return read_flag(r, p.wildcard_subscription_available,
                       "wildcard subscription available is not 0 or 1");
    case pid::subscription_identifier_available:
      return read_flag(r, p.subscription_identifier_available,
                       "subscription identifier available is not 0 or 1");
    case pid::shared_subscription_available:
      return read_flag(r, p.shared_subscription_available,
                       "shared subscription available is not 0 or 1");
  }
  r.fail(reason_code::malformed_packet, "unknown property identifier");
  return false;
}

// -- encoding helpers ---------------------------------------------------------

size_t str_prop(const std::optional<std::string_view>& v) noexcept {
  return v ? 1 + 2 + v->size() : 0;
}

template <class T>
size_t int_prop(const std::optional<T>& v) noexcept {
  return v ? 1 + sizeof(T) : 0;
}

void put(writer& w, property_id id, const std::optional<uint8_t>& v) noexcept {
  if (v) {
    w.u8(static_cast<uint8_t>(id));
    w.u8(*v);
  }
}

void put(writer& w, property_id id, const std::optional<uint16_t>& v) noexcept {
  if (v) {
    w.u8(static_cast<uint8_t>(id));
    w.u16(*v);
  }
}

void put(writer& w, property_id id, const std::optional<uint32_t>& v) noexcept {
  if (v) {
    w.u8(static_cast<uint8_t>(id));
    w.u32(*v);
  }
}

void put(writer& w, property_id id,
         const std::optional<std::string_view>& v) noexcept {
  if (v) {
    w.u8(static_cast<uint8_t>(id));
    w.lstring(*v);
  }
}

} // namespace

std::optional<property_type> type_of(uint8_t id) noexcept {
  if (id >= table.size() || table[id].contexts == 0)
    return std::nullopt;
  return table[id].type;
}

bool allowed_in(property_id id, property_context c) noexcept {
  auto i = static_cast<uint8_t>(id);
  return i < table.size() && (table[i].contexts & bit(c)) != 0;
}

bool may_repeat(property_id id, property_context c) noexcept {
  return id == property_id::user_property
         || (id == property_id::subscription_identifier && c == ctx::publish);
}

std::string_view to_string(property_id id) noexcept {
  switch (id) {
    case property_id::payload_format_indicator: return "Payload Format Indicator";
    case property_id::message_expiry_interval: return "Message Expiry Interval";
    case property_id::content_type: return "Content Type";
    case property_id::response_topic: return "Response Topic";
    case property_id::correlation_data: return "Correlation Data";
    case property_id::subscription_identifier: return "Subscription Identifier";
    case property_id::session_expiry_interval: return "Session Expiry Interval";
    case property_id::assigned_client_identifier: return "Assigned Client Identifier";
    case property_id::server_keep_alive: return "Server Keep Alive";
    case property_id::authentication_method: return "Authentication Method";
    case property_id::authentication_data: return "Authentication Data";
    case property_id::request_problem_information: return "Request Problem Information";
    case property_id::will_delay_interval: return "Will Delay Interval";
    case property_id::request_response_information: return "Request Response Information";
    case property_id::response_information: return "Response Information";
    case property_id::server_reference: return "Server Reference";
    case property_id::reason_string: return "Reason String";
    case property_id::receive_maximum: return "Receive Maximum";
    case property_id::topic_alias_maximum: return "Topic Alias Maximum";
    case property_id::topic_alias: return "Topic Alias";
    case property_id::maximum_qos: return "Maximum QoS";
    case property_id::retain_available: return "Retain Available";
    case property_id::user_property: return "User Property";
    case property_id::maximum_packet_size: return "Maximum Packet Size";
    case property_id::wildcard_subscription_available:
      return "Wildcard Subscription Available";
    case property_id::subscription_identifier_available:
      return "Subscription Identifier Available";
    case property_id::shared_subscription_available:
      return "Shared Subscription Available";
  }
  return "Unknown Property";
}

bool properties::empty() const noexcept {
  return !payload_format_indicator && !message_expiry_interval && !content_type
         && !response_topic && !correlation_data && subscription_identifiers.empty()
         && !session_expiry_interval && !assigned_client_identifier
         && !server_keep_alive && !authentication_method && !authentication_data
         && !request_problem_information && !will_delay_interval
         && !request_response_information && !response_information
         && !server_reference && !reason_string && !receive_maximum
         && !topic_alias_maximum && !topic_alias && !maximum_qos
         && !retain_available && user_properties.empty() && !maximum_packet_size
         && !wildcard_subscription_available && !subscription_identifier_available
         && !shared_subscription_available;
}

uint32_t encoded_size(const properties& p) noexcept {
  size_t n = int_prop(p.payload_format_indicator) + int_prop(p.message_expiry_interval)
             + str_prop(p.content_type) + str_prop(p.response_topic)
             + str_prop(p.correlation_data) + int_prop(p.session_expiry_interval)
             + str_prop(p.assigned_client_identifier) + int_prop(p.server_keep_alive)
             + str_prop(p.authentication_method) + str_prop(p.authentication_data)
             + int_prop(p.request_problem_information) + int_prop(p.will_delay_interval)
             + int_prop(p.request_response_information)
             + str_prop(p.response_information) + str_prop(p.server_reference)
             + str_prop(p.reason_string) + int_prop(p.receive_maximum)
             + int_prop(p.topic_alias_maximum) + int_prop(p.topic_alias)
             + int_prop(p.maximum_qos) + int_prop(p.retain_available)
             + int_prop(p.maximum_packet_size)
             + int_prop(p.wildcard_subscription_available)
             + int_prop(p.subscription_identifier_available)
             + int_prop(p.shared_subscription_available);
  for (auto id : p.subscription_identifiers)
    n += 1 + varint_size(id);
  for (const auto& up : p.user_properties)
    n += 1 + 2 + up.name.size() + 2 + up.value.size();
  return static_cast<uint32_t>(n);
}

bool read_properties(reader& r, property_context c, properties& out) {
  uint32_t len;
  if (!r.varint(len)) {
    if (r.truncated())
      r.fail(reason_code::malformed_packet, "property length truncated");
    return false;
  }
  if (len == 0)
    return true;
  reader block = r;
  reader tail = r;
  if (!block.split(len, tail)) {
    r.fail(reason_code::malformed_packet, "property length exceeds the packet");
    return false;
  }
  uint64_t seen = 0;
  while (!block.at_end()) {
    uint8_t raw_id;
    block.u8(raw_id); // cannot fail: not at end
    if (raw_id >= table.size() || table[raw_id].contexts == 0) {
      r.fail(reason_code::malformed_packet, "unknown property identifier");
      return false;
    }
    auto id = static_cast<property_id>(raw_id);
    if ((table[raw_id].contexts & bit(c)) == 0) {
      // §2.2.2.2: "A Control Packet which contains an Identifier which is not
      // valid for its packet type ... is a Malformed Packet."
      r.fail(reason_code::malformed_packet, "property not allowed in this packet");
      return false;
    }
    uint64_t mask = uint64_t{1} << raw_id;
    if ((seen & mask) != 0 && !may_repeat(id, c)) {
      r.fail(reason_code::protocol_error, "property included more than once");
      return false;
    }
    seen |= mask;
    if (!read_value(block, id, out)) {
      if (block.truncated())
        r.fail(reason_code::malformed_packet,
               "property value exceeds the property length");
      else
        r.fail(block.error().code, block.error().message);
      return false;
    }
  }
  r = tail;
  return true;
}

void write_properties(writer& w, const properties& p) noexcept {
  using pid = property_id;
  w.varint(encoded_size(p));
  put(w, pid::payload_format_indicator, p.payload_format_indicator);
  put(w, pid::message_expiry_interval, p.message_expiry_interval);
  put(w, pid::content_type, p.content_type);
  put(w, pid::response_topic, p.response_topic);
  put(w, pid::correlation_data, p.correlation_data);
  for (auto id : p.subscription_identifiers) {
    w.u8(static_cast<uint8_t>(pid::subscription_identifier));
    w.varint(id);
  }
  put(w, pid::session_expiry_interval, p.session_expiry_interval);
  put(w, pid::assigned_client_identifier, p.assigned_client_identifier);
  put(w, pid::server_keep_alive, p.server_keep_alive);
  put(w, pid::authentication_method, p.authentication_method);
  put(w, pid::authentication_data, p.authentication_data);
  put(w, pid::request_problem_information, p.request_problem_information);
  put(w, pid::will_delay_interval, p.will_delay_interval);
  put(w, pid::request_response_information, p.request_response_information);
  put(w, pid::response_information, p.response_information);
  put(w, pid::server_reference, p.server_reference);
  put(w, pid::reason_string, p.reason_string);
  put(w, pid::receive_maximum, p.receive_maximum);
  put(w, pid::topic_alias_maximum, p.topic_alias_maximum);
  put(w, pid::topic_alias, p.topic_alias);
  put(w, pid::maximum_qos, p.maximum_qos);
  put(w, pid::retain_available, p.retain_available);
  for (const auto& up : p.user_properties) {
    w.u8(static_cast<uint8_t>(pid::user_property));
    w.lstring(up.name);
    w.lstring(up.value);
  }
  put(w, pid::maximum_packet_size, p.maximum_packet_size);
  put(w, pid::wildcard_subscription_available, p.wildcard_subscription_available);
  put(w, pid::subscription_identifier_available, p.subscription_identifier_available);
  put(w, pid::shared_subscription_available, p.shared_subscription_available);
}

} // namespace amq::protocol
