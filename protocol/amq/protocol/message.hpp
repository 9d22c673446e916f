#pragma once
/// An application message as the broker holds it between receipt and
/// delivery: owned, immutable once shared. Local fan-out shares one
/// `message_ptr` among all subscribers; it is never copied per subscriber.
///
/// The publish properties that MQTT 5.0 §3.3.2.3 says the server forwards
/// unchanged are kept (payload format, content type, response topic,
/// correlation data, user properties); Message Expiry is kept as an absolute
/// deadline so that the remaining interval can be computed at delivery.
/// Topic Alias and Subscription Identifiers are per connection / per
/// subscription and are not part of the message.

#include "amq/protocol/packets/publish.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace amq::protocol {

struct message {
  using clock = std::chrono::steady_clock;

  std::string topic;
  std::string payload;
  qos qos_level = qos::at_most_once;
  bool retain = false;

  std::optional<uint8_t> payload_format_indicator;
  std::optional<std::string> content_type;
  std::optional<std::string> response_topic;
  std::optional<std::string> correlation_data;
  std::vector<std::pair<std::string, std::string>> user_properties;

  /// Absolute expiry (from Message Expiry Interval); nullopt = never.
  std::optional<clock::time_point> expires_at;

  /// Client id of the publishing session (No Local), empty for wills/admin.
  std::string publisher;

  bool expired(clock::time_point now) const noexcept {
    return expires_at && now >= *expires_at;
  }

  /// Remaining Message Expiry Interval in whole seconds (rounded up), or
  /// nullopt if the message never expires.
  std::optional<uint32_t> remaining_expiry(clock::time_point now) const noexcept {
    if (!expires_at)
      return std::nullopt;
    if (now >= *expires_at)
      return 0u;
    auto left = std::chrono::ceil<std::chrono::seconds>(*expires_at - now);
    return static_cast<uint32_t>(left.count());
  }

  /// Builds an owned message from a decoded PUBLISH. `topic` is passed in
  /// separately because a PUBLISH may carry an empty topic and a Topic Alias.
  static message from_publish(const publish& p, std::string_view topic,
                              std::string_view publisher, clock::time_point now) {
    message m;
    m.topic.assign(topic);
    m.payload.assign(p.payload);
    m.qos_level = p.qos_level;
    m.retain = p.retain;
    m.payload_format_indicator = p.props.payload_format_indicator;
    if (p.props.content_type)
      m.content_type.emplace(*p.props.content_type);
    if (p.props.response_topic)
      m.response_topic.emplace(*p.props.response_topic);
    if (p.props.correlation_data)
      m.correlation_data.emplace(*p.props.correlation_data);
    if (!p.props.user_properties.empty()) {
      m.user_properties.reserve(p.props.user_properties.size());
      for (auto& up : p.props.user_properties)
        m.user_properties.emplace_back(std::string{up.name}, std::string{up.value});
    }
    if (p.props.message_expiry_interval)
      m.expires_at = now + std::chrono::seconds{*p.props.message_expiry_interval};
    m.publisher.assign(publisher);
    return m;
  }
};

using message_ptr = std::shared_ptr<const message>;

/// Fills `out` (a PUBLISH view over `m`) for delivery. `user_props` is
/// caller-owned scratch storage that must outlive `out`.
inline void to_publish(const message& m, qos q, bool retain, message::clock::time_point now,
                       std::vector<string_pair>& user_props, publish& out) {
  out.dup = false;
  out.qos_level = q;
  out.retain = retain;
  out.topic = m.topic;
  out.payload = m.payload;
  out.packet_id = 0;
  auto& p = out.props;
  p = properties{};
  p.payload_format_indicator = m.payload_format_indicator;
  if (m.content_type)
    p.content_type = *m.content_type;
  if (m.response_topic)
    p.response_topic = *m.response_topic;
  if (m.correlation_data)
    p.correlation_data = *m.correlation_data;
  p.message_expiry_interval = m.remaining_expiry(now);
  if (!m.user_properties.empty()) {
    user_props.clear();
    for (auto& [k, v] : m.user_properties)
      user_props.push_back(string_pair{k, v});
    p.user_properties = user_props;
  }
}

} // namespace amq::protocol
