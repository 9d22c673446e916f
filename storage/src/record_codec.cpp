// Record encodings of the storage layer. Layout: docs/storage-format.md.
#include "record_codec.hpp"

#include <cstring>
#include <limits>

namespace amq::storage::codec {

namespace {

using protocol::message;

// -- clocks -----------------------------------------------------------------

/// Deadlines further than this from now are clamped (keeps the ns
/// arithmetic of steady_clock far from overflow; ~100 years).
constexpr int64_t max_offset_ms = int64_t{100} * 366 * 24 * 3600 * 1000;

// -- writing ------------------------------------------------------------------

void put_u8(std::string& out, uint8_t x) {
  out.push_back(static_cast<char>(x));
}

void put_u16(std::string& out, uint16_t x) {
  for (int i = 0; i < 2; ++i)
    put_u8(out, static_cast<uint8_t>(x >> (8 * i)));
}

void put_u32(std::string& out, uint32_t x) {
  for (int i = 0; i < 4; ++i)
    put_u8(out, static_cast<uint8_t>(x >> (8 * i)));
}

void put_u64(std::string& out, uint64_t x) {
  for (int i = 0; i < 8; ++i)
    put_u8(out, static_cast<uint8_t>(x >> (8 * i)));
}

void put_varint(std::string& out, uint64_t x) {
  while (x >= 0x80) {
    put_u8(out, static_cast<uint8_t>(x | 0x80));
    x >>= 7;
  }
  put_u8(out, static_cast<uint8_t>(x));
}

void put_str(std::string& out, std::string_view s) {
  put_varint(out, s.size());
  out.append(s);
}

// Message flag bits (layout: docs/storage-format.md, "message").
constexpr uint8_t msg_retain = 0x01;
constexpr uint8_t msg_has_pfi = 0x02;
constexpr uint8_t msg_has_content_type = 0x04;
constexpr uint8_t msg_has_response_topic = 0x08;
constexpr uint8_t msg_has_correlation_data = 0x10;
constexpr uint8_t msg_has_expiry = 0x20;
constexpr uint8_t msg_known_flags = 0x3F;

// Subscription option bits.
constexpr uint8_t sub_no_local = 0x01;
constexpr uint8_t sub_retain_as_published = 0x02;
constexpr uint8_t sub_retain_handling_shift = 2; // bits 2-3
constexpr uint8_t sub_known_flags = 0x0F;

// Queue entry flag bits.
constexpr uint8_t entry_retain = 0x01;
constexpr uint8_t entry_stored_at = 0x02; // the record ends with i64 stored-at (wall ms)
constexpr uint8_t entry_known_flags = 0x03;

void put_header(std::string& out, record_type t) {
  put_u8(out, current_version);
  put_u8(out, static_cast<uint8_t>(t));
}

void put_message(std::string& out, const message& m, const clocks& now) {
  put_str(out, m.topic);
  put_str(out, m.payload);
  put_u8(out, static_cast<uint8_t>(m.qos_level));
  uint8_t flags = 0;
  if (m.retain)
    flags |= msg_retain;
  if (m.payload_format_indicator)
    flags |= msg_has_pfi;
  if (m.content_type)
    flags |= msg_has_content_type;
  if (m.response_topic)
    flags |= msg_has_response_topic;
  if (m.correlation_data)
    flags |= msg_has_correlation_data;
  if (m.expires_at)
    flags |= msg_has_expiry;
  put_u8(out, flags);
  if (m.payload_format_indicator)
    put_u8(out, *m.payload_format_indicator);
  if (m.content_type)
    put_str(out, *m.content_type);
  if (m.response_topic)
    put_str(out, *m.response_topic);
  if (m.correlation_data)
    put_str(out, *m.correlation_data);
  put_varint(out, m.user_properties.size());
  for (auto& [k, v] : m.user_properties) {
    put_str(out, k);
    put_str(out, v);
  }
  if (m.expires_at)
    put_u64(out, static_cast<uint64_t>(now.to_wall_ms(*m.expires_at)));
  put_str(out, m.publisher);
}

// -- reading ------------------------------------------------------------------

/// A bounds-checked cursor. Every getter returns false on failure and leaves
/// the reason in `err`.
class reader {
public:
  explicit reader(std::string_view in) : in_(in) {
  }

  std::error_code err;

  size_t remaining() const noexcept {
    return in_.size() - pos_;
  }

  bool fail(error e) {
    if (!err)
      err = e;
    return false;
  }

  bool u8(uint8_t& x) {
    if (remaining() < 1)
      return fail(error::truncated);
    x = static_cast<uint8_t>(in_[pos_++]);
    return true;
  }

  template <class T>
  bool fixed(T& x) {
    if (remaining() < sizeof(T))
      return fail(error::truncated);
    T v = 0;
    for (size_t i = 0; i < sizeof(T); ++i)
      v |= static_cast<T>(static_cast<T>(static_cast<uint8_t>(in_[pos_ + i])) << (8 * i));
    pos_ += sizeof(T);
    x = v;
    return true;
  }

  bool varint(uint64_t& x) {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      uint8_t b;
      if (!u8(b))
        return false;
      // The 10th byte may only carry the top bit of a 64-bit value.
      if (shift == 63 && b > 1)
        return fail(error::invalid_value);
      v |= static_cast<uint64_t>(b & 0x7F) << shift;
      if ((b & 0x80) == 0) {
        x = v;
        return true;
      }
    }
    return fail(error::invalid_value);
  }

  /// An element count; each element takes at least `min_size` bytes, so a
  /// count larger than the rest of the record is garbage (and is rejected
  /// before anything is reserved).
  bool count(size_t& n, size_t min_size) {
    uint64_t v;
    if (!varint(v))
      return false;
    if (v > remaining() / min_size)
      return fail(error::truncated);
    n = static_cast<size_t>(v);
    return true;
  }

  bool str(std::string& s) {
    uint64_t n;
    if (!varint(n))
      return false;
    if (n > remaining())
      return fail(error::truncated);
    s.assign(in_.data() + pos_, static_cast<size_t>(n));
    pos_ += static_cast<size_t>(n);
    return true;
  }

  bool qos(uint8_t& x) {
    if (!u8(x))
      return false;
    if (x > 2)
      return fail(error::invalid_value);
    return true;
  }

  /// Succeeds iff every byte was consumed.
  std::error_code finish() {
    if (!err && remaining() != 0)
      err = error::trailing_bytes;
    return err;
  }

private:
  std::string_view in_;
  size_t pos_ = 0;
};

/// Reads the version and record-type bytes.
bool get_header(reader& r, record_type expected, uint8_t& version) {
  uint8_t t;
  if (!r.u8(version) || !r.u8(t))
    return false;
  if (version == 0 || version > current_version)
    return r.fail(error::unknown_version);
  if (t != static_cast<uint8_t>(expected))
    return r.fail(error::wrong_record_type);
  return true;
}

bool get_message_v1(reader& r, message& m, const clocks& now) {
  uint8_t q, flags;
  if (!r.str(m.topic) || !r.str(m.payload) || !r.qos(q) || !r.u8(flags))
    return false;
  if ((flags & ~msg_known_flags) != 0)
    return r.fail(error::invalid_value);
  m.qos_level = static_cast<protocol::qos>(q);
  m.retain = (flags & msg_retain) != 0;
  if (flags & msg_has_pfi) {
    uint8_t pfi;
    if (!r.u8(pfi))
      return false;
    m.payload_format_indicator = pfi;
  }
  if (flags & msg_has_content_type)
    if (!r.str(m.content_type.emplace()))
      return false;
  if (flags & msg_has_response_topic)
    if (!r.str(m.response_topic.emplace()))
      return false;
  if (flags & msg_has_correlation_data)
    if (!r.str(m.correlation_data.emplace()))
      return false;
  size_t n;
  if (!r.count(n, 2)) // two empty strings take two bytes
    return false;
  m.user_properties.resize(n);
  for (auto& [k, v] : m.user_properties)
    if (!r.str(k) || !r.str(v))
      return false;
  if (flags & msg_has_expiry) {
    uint64_t ms;
    if (!r.fixed(ms))
      return false;
    m.expires_at = now.to_steady(static_cast<int64_t>(ms));
  }
  return r.str(m.publisher);
}

bool get_session_v1(reader& r, session_record& x) {
  uint64_t disconnected;
  if (!r.str(x.client_id) || !r.u8(x.protocol_version) || !r.u8(x.client_type)
      || !r.fixed(x.session_expiry) || !r.fixed(disconnected))
    return false;
  x.disconnected_at_ms = static_cast<int64_t>(disconnected);
  size_t n;
  if (!r.count(n, 7)) // filter length, max QoS, options, 4-byte id
    return false;
  x.subscriptions.resize(n);
  for (auto& s : x.subscriptions) {
    uint8_t opts;
    if (!r.str(s.filter) || !r.qos(s.max_qos) || !r.u8(opts) || !r.fixed(s.subscription_id))
      return false;
    if ((opts & ~sub_known_flags) != 0)
      return r.fail(error::invalid_value);
    s.no_local = (opts & sub_no_local) != 0;
    s.retain_as_published = (opts & sub_retain_as_published) != 0;
    s.retain_handling = static_cast<uint8_t>(opts >> sub_retain_handling_shift);
    if (s.retain_handling > 2)
      return r.fail(error::invalid_value);
  }
  if (!r.count(n, 2))
    return false;
  x.qos2_in.resize(n);
  for (auto& id : x.qos2_in)
    if (!r.fixed(id))
      return false;
  return true;
}

bool get_entry_v1(reader& r, queued_entry& x, const clocks& now) {
  uint8_t flags;
  if (!r.fixed(x.seq) || !r.qos(x.qos) || !r.u8(flags))
    return false;
  if ((flags & ~entry_known_flags) != 0)
    return r.fail(error::invalid_value);
  x.retain = (flags & entry_retain) != 0;
  size_t n;
  if (!r.count(n, 4))
    return false;
  x.subscription_ids.resize(n);
  for (auto& id : x.subscription_ids)
    if (!r.fixed(id))
      return false;
  auto m = std::make_shared<message>();
  if (!get_message_v1(r, *m, now))
    return false;
  x.msg = std::move(m);
  x.stored_at.reset();
  if ((flags & entry_stored_at) != 0) {
    uint64_t ms;
    if (!r.fixed(ms))
      return false;
    x.stored_at = now.to_steady(static_cast<int64_t>(ms));
  }
  return true;
}

} // namespace

// -- clocks -------------------------------------------------------------------

clocks clocks::now() noexcept {
  clocks c;
  c.steady = message::clock::now();
  c.wall_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::system_clock::now().time_since_epoch())
                .count();
  return c;
}

int64_t clocks::to_wall_ms(message::clock::time_point t) const noexcept {
  // Compare before subtracting: `t - steady` could overflow for extreme t.
  const std::chrono::milliseconds limit{max_offset_ms};
  if (t >= steady + limit)
    return wall_ms + max_offset_ms;
  if (t <= steady - limit)
    return wall_ms - max_offset_ms;
  // Round up: a deadline never moves earlier than it was.
  return wall_ms + std::chrono::ceil<std::chrono::milliseconds>(t - steady).count();
}

message::clock::time_point clocks::to_steady(int64_t ms) const noexcept {
  int64_t offset;
  if (__builtin_sub_overflow(ms, wall_ms, &offset) || offset > max_offset_ms)
    offset = ms > wall_ms ? max_offset_ms : -max_offset_ms;
  else if (offset < -max_offset_ms)
    offset = -max_offset_ms;
  return steady + std::chrono::milliseconds{offset};
}

// -- encoders -------------------------------------------------------------------

void encode(const session_record& x, std::string& out) {
  put_header(out, record_type::session);
  put_str(out, x.client_id);
  put_u8(out, x.protocol_version);
  put_u8(out, x.client_type);
  put_u32(out, x.session_expiry);
  put_u64(out, static_cast<uint64_t>(x.disconnected_at_ms));
  put_varint(out, x.subscriptions.size());
  for (auto& s : x.subscriptions) {
    put_str(out, s.filter);
    put_u8(out, s.max_qos);
    uint8_t opts = static_cast<uint8_t>((s.retain_handling & 0x03) << sub_retain_handling_shift);
    if (s.no_local)
      opts |= sub_no_local;
    if (s.retain_as_published)
      opts |= sub_retain_as_published;
    put_u8(out, opts);
    put_u32(out, s.subscription_id);
  }
  put_varint(out, x.qos2_in.size());
  for (auto id : x.qos2_in)
    put_u16(out, id);
}

void encode(const queued_entry& x, std::string& out, const clocks& now) {
  put_header(out, record_type::queue_entry);
  put_u64(out, x.seq);
  put_u8(out, x.qos);
  put_u8(out, static_cast<uint8_t>((x.retain ? entry_retain : 0)
                                   | (x.stored_at ? entry_stored_at : 0)));
  put_varint(out, x.subscription_ids.size());
  for (auto id : x.subscription_ids)
    put_u32(out, id);
  if (x.msg) {
    put_message(out, *x.msg, now);
  } else {
    // No message: encode an empty one so that the record stays decodable.
    put_message(out, message{}, now);
  }
  if (x.stored_at)
    put_u64(out, static_cast<uint64_t>(now.to_wall_ms(*x.stored_at)));
}

void encode_retained(const message& m, std::string& out, const clocks& now) {
  put_header(out, record_type::retained);
  put_message(out, m, now);
}

void encode_last_seq(uint64_t seq, std::string& out) {
  put_header(out, record_type::last_seq);
  put_u64(out, seq);
}

void encode_released(uint64_t seq, std::string& out) {
  put_header(out, record_type::released);
  put_u64(out, seq);
}

// -- decoders -------------------------------------------------------------------

std::error_code decode(std::string_view in, session_record& out) {
  reader r{in};
  uint8_t version;
  if (!get_header(r, record_type::session, version))
    return r.err;
  switch (version) {
    case 1:
      get_session_v1(r, out);
      break;
    default:
      return error::unknown_version;
  }
  return r.finish();
}

std::error_code decode(std::string_view in, queued_entry& out, const clocks& now) {
  reader r{in};
  uint8_t version;
  if (!get_header(r, record_type::queue_entry, version))
    return r.err;
  switch (version) {
    case 1:
      get_entry_v1(r, out, now);
      break;
    default:
      return error::unknown_version;
  }
  return r.finish();
}

std::error_code decode_retained(std::string_view in, protocol::message_ptr& out,
                                const clocks& now) {
  reader r{in};
  uint8_t version;
  if (!get_header(r, record_type::retained, version))
    return r.err;
  auto m = std::make_shared<message>();
  switch (version) {
    case 1:
      get_message_v1(r, *m, now);
      break;
    default:
      return error::unknown_version;
  }
  if (auto err = r.finish())
    return err;
  out = std::move(m);
  return {};
}

std::error_code decode_last_seq(std::string_view in, uint64_t& out) {
  reader r{in};
  uint8_t version;
  if (!get_header(r, record_type::last_seq, version))
    return r.err;
  switch (version) {
    case 1:
      r.fixed(out);
      break;
    default:
      return error::unknown_version;
  }
  return r.finish();
}

std::error_code decode_released(std::string_view in, uint64_t& seq) {
  reader r{in};
  uint8_t version;
  if (!get_header(r, record_type::released, version))
    return r.err;
  switch (version) {
    case 1:
      r.fixed(seq);
      break;
    default:
      return error::unknown_version;
  }
  return r.finish();
}

} // namespace amq::storage::codec
