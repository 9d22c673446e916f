// The outbound PUBLISH of one delivery, encoded from the message (see
// amq/protocol/delivery_codec.hpp). Property order is write_properties'
// order, so the bytes equal the generic encoder's.
#include "amq/protocol/delivery_codec.hpp"

#include "codec.hpp"

#include <cstring>

namespace amq::protocol {

namespace {

inline uint8_t* put_u16(uint8_t* p, uint16_t v) noexcept {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
  return p + 2;
}

inline uint8_t* put_u32(uint8_t* p, uint32_t v) noexcept {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
  return p + 4;
}

inline uint8_t* put_varint(uint8_t* p, uint32_t v) noexcept {
  do {
    auto b = static_cast<uint8_t>(v & 0x7F);
    v >>= 7;
    if (v != 0)
      b |= 0x80;
    *p++ = b;
  } while (v != 0);
  return p;
}

inline uint8_t* put_raw(uint8_t* p, std::string_view s) noexcept {
  if (!s.empty())
    std::memcpy(p, s.data(), s.size());
  return p + s.size();
}

inline uint8_t* put_lstring(uint8_t* p, std::string_view s) noexcept {
  return put_raw(put_u16(p, static_cast<uint16_t>(s.size())), s);
}

inline uint8_t* put_string_prop(uint8_t* p, property_id id, std::string_view s) noexcept {
  *p++ = static_cast<uint8_t>(id);
  return put_lstring(p, s);
}

} // namespace

size_t append_delivery(const message& m, const delivery_header& h, protocol_version v,
                       message::clock::time_point now, size_t max_size,
                       std::vector<uint8_t>& out) {
  const bool v5 = v == protocol_version::v5;
  const std::string_view topic = v5 && h.alias_only ? std::string_view{} : m.topic;
  std::optional<uint32_t> expiry;
  size_t props = 0;
  if (v5) {
    expiry = m.remaining_expiry(now);
    if (m.payload_format_indicator)
      props += 2;
    if (expiry)
      props += 5;
    if (m.content_type)
      props += 3 + m.content_type->size();
    if (m.response_topic)
      props += 3 + m.response_topic->size();
    if (m.correlation_data)
      props += 3 + m.correlation_data->size();
    for (auto id : h.subscription_ids)
      props += 1 + varint_size(id);
    if (h.topic_alias != 0)
      props += 3;
    for (auto& [name, value] : m.user_properties)
      props += 5 + name.size() + value.size();
  }
  size_t body = 2 + topic.size() + m.payload.size();
  if (h.q != qos::at_most_once)
    body += 2;
  if (v5)
    body += varint_size(static_cast<uint32_t>(props)) + props;
  const size_t size = detail::packet_size(body);
  if (max_size != 0 && size > max_size)
    return size;
  const size_t old = out.size();
  out.resize(old + size);
  uint8_t* p = out.data() + old;
  *p++ = static_cast<uint8_t>(0x30 | (h.dup ? 0x08 : 0) | (static_cast<uint8_t>(h.q) << 1)
                              | (h.retain ? 0x01 : 0));
  p = put_varint(p, static_cast<uint32_t>(body));
  p = put_lstring(p, topic);
  if (h.q != qos::at_most_once)
    p = put_u16(p, h.packet_id);
  if (v5) {
    p = put_varint(p, static_cast<uint32_t>(props));
    if (m.payload_format_indicator) {
      *p++ = static_cast<uint8_t>(property_id::payload_format_indicator);
      *p++ = *m.payload_format_indicator;
    }
    if (expiry) {
      *p++ = static_cast<uint8_t>(property_id::message_expiry_interval);
      p = put_u32(p, *expiry);
    }
    if (m.content_type)
      p = put_string_prop(p, property_id::content_type, *m.content_type);
    if (m.response_topic)
      p = put_string_prop(p, property_id::response_topic, *m.response_topic);
    if (m.correlation_data)
      p = put_string_prop(p, property_id::correlation_data, *m.correlation_data);
    for (auto id : h.subscription_ids) {
      *p++ = static_cast<uint8_t>(property_id::subscription_identifier);
      p = put_varint(p, id);
    }
    if (h.topic_alias != 0) {
      *p++ = static_cast<uint8_t>(property_id::topic_alias);
      p = put_u16(p, h.topic_alias);
    }
    for (auto& [name, value] : m.user_properties) {
      *p++ = static_cast<uint8_t>(property_id::user_property);
      p = put_lstring(p, name);
      p = put_lstring(p, value);
    }
  }
  put_raw(p, m.payload);
  return size;
}

} // namespace amq::protocol
