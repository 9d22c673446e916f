// Wire primitives (MQTT 5.0 §1.5, 3.1.1 §1.5): integers, Variable Byte
// Integers, length-prefixed strings, and the MQTT UTF-8 rules (§1.5.4).
#include "amq/protocol/wire.hpp"

#include <cstring>

namespace amq::protocol {

namespace {

constexpr decode_error utf8_error(std::string_view msg) noexcept {
  return {reason_code::malformed_packet, msg};
}

/// True if none of the 8 bytes has the high bit set or is zero.
inline bool plain_ascii8(const unsigned char* p) noexcept {
  uint64_t w;
  std::memcpy(&w, p, 8);
  constexpr uint64_t ones = 0x0101010101010101ULL;
  constexpr uint64_t highs = 0x8080808080808080ULL;
  // High bit anywhere, or a zero byte (classic "has zero byte" test).
  return ((w | ((w - ones) & ~w)) & highs) == 0;
}

} // namespace

std::optional<decode_error> validate_utf8(std::string_view s) noexcept {
  auto p = reinterpret_cast<const unsigned char*>(s.data());
  auto end = p + s.size();
  while (p != end) {
    if (end - p >= 8 && plain_ascii8(p)) {
      p += 8;
      continue;
    }
    unsigned char c = *p;
    if (c < 0x80) {
      if (c == 0)
        return utf8_error("UTF-8 string contains U+0000");
      ++p;
      continue;
    }
    size_t n;               // continuation bytes
    unsigned char lo = 0x80; // bounds of the first continuation byte
    unsigned char hi = 0xBF;
    if (c < 0xC0)
      return utf8_error("invalid UTF-8: unexpected continuation byte");
    if (c < 0xC2)
      return utf8_error("invalid UTF-8: overlong encoding");
    if (c < 0xE0) {
      n = 1;
    } else if (c < 0xF0) {
      n = 2;
      if (c == 0xE0)
        lo = 0xA0; // below is an overlong 3-byte form
      else if (c == 0xED)
        hi = 0x9F; // above is a surrogate U+D800..U+DFFF
    } else if (c < 0xF5) {
      n = 3;
      if (c == 0xF0)
        lo = 0x90; // below is an overlong 4-byte form
      else if (c == 0xF4)
        hi = 0x8F; // above is beyond U+10FFFF
    } else {
      return utf8_error("invalid UTF-8: code point above U+10FFFF");
    }
    if (static_cast<size_t>(end - p) <= n)
      return utf8_error("invalid UTF-8: truncated multi-byte sequence");
    unsigned char c1 = p[1];
    if (c1 < lo || c1 > hi) {
      if (c1 < 0x80 || c1 > 0xBF)
        return utf8_error("invalid UTF-8: missing continuation byte");
      if (c == 0xED)
        return utf8_error("UTF-8 string contains a surrogate (U+D800..U+DFFF)");
      if (c == 0xF4)
        return utf8_error("invalid UTF-8: code point above U+10FFFF");
      return utf8_error("invalid UTF-8: overlong encoding");
    }
    for (size_t i = 2; i <= n; ++i)
      if ((p[i] & 0xC0) != 0x80)
        return utf8_error("invalid UTF-8: missing continuation byte");
    p += n + 1;
  }
  return std::nullopt;
}

// -- reader -------------------------------------------------------------------

bool reader::u8(uint8_t& out) noexcept {
  if (p_ == end_) {
    err_ = {reason_code::malformed_packet, truncated_message};
    return false;
  }
  out = *p_++;
  return true;
}

bool reader::u16(uint16_t& out) noexcept {
  if (end_ - p_ < 2) {
    err_ = {reason_code::malformed_packet, truncated_message};
    return false;
  }
  out = static_cast<uint16_t>((p_[0] << 8) | p_[1]);
  p_ += 2;
  return true;
}

bool reader::u32(uint32_t& out) noexcept {
  if (end_ - p_ < 4) {
    err_ = {reason_code::malformed_packet, truncated_message};
    return false;
  }
  out = (uint32_t{p_[0]} << 24) | (uint32_t{p_[1]} << 16) | (uint32_t{p_[2]} << 8)
        | uint32_t{p_[3]};
  p_ += 4;
  return true;
}

bool reader::varint(uint32_t& out) noexcept {
  uint32_t value = 0;
  for (int i = 0; i < 4; ++i) {
    if (p_ == end_) {
      err_ = {reason_code::malformed_packet, truncated_message};
      return false;
    }
    uint8_t b = *p_++;
    value |= uint32_t{static_cast<uint8_t>(b & 0x7F)} << (7 * i);
    if ((b & 0x80) == 0) {
      out = value;
      return true;
    }
  }
  err_ = {reason_code::malformed_packet,
          "variable byte integer longer than 4 bytes"};
  return false;
}

bool reader::binary(std::string_view& out) noexcept {
  uint16_t len;
  if (!u16(len))
    return false;
  return bytes(len, out);
}

bool reader::utf8(std::string_view& out) noexcept {
  if (!binary(out))
    return false;
  if (auto err = validate_utf8(out)) {
    err_ = *err;
    return false;
  }
  return true;
}

bool reader::bytes(size_t n, std::string_view& out) noexcept {
  if (remaining() < n) {
    err_ = {reason_code::malformed_packet, truncated_message};
    return false;
  }
  out = std::string_view{reinterpret_cast<const char*>(p_), n};
  p_ += n;
  return true;
}

bool reader::skip(size_t n) noexcept {
  if (remaining() < n) {
    err_ = {reason_code::malformed_packet, truncated_message};
    return false;
  }
  p_ += n;
  return true;
}

std::string_view reader::rest() noexcept {
  std::string_view out{reinterpret_cast<const char*>(p_), remaining()};
  p_ = end_;
  return out;
}

bool reader::split(size_t n, reader& tail) noexcept {
  if (remaining() < n) {
    err_ = {reason_code::malformed_packet, truncated_message};
    return false;
  }
  tail = *this;
  tail.p_ = p_ + n;
  end_ = p_ + n;
  return true;
}

// -- writer -------------------------------------------------------------------

void writer::u32(uint32_t v) noexcept {
  *p_++ = static_cast<uint8_t>(v >> 24);
  *p_++ = static_cast<uint8_t>(v >> 16);
  *p_++ = static_cast<uint8_t>(v >> 8);
  *p_++ = static_cast<uint8_t>(v);
}

void writer::varint(uint32_t v) noexcept {
  do {
    uint8_t b = v & 0x7F;
    v >>= 7;
    if (v != 0)
      b |= 0x80;
    *p_++ = b;
  } while (v != 0);
}

void writer::lstring(std::string_view s) noexcept {
  u16(static_cast<uint16_t>(s.size()));
  raw(s);
}

void writer::raw(std::string_view s) noexcept {
  if (!s.empty())
    std::memcpy(p_, s.data(), s.size());
  p_ += s.size();
}

} // namespace amq::protocol
