#pragma once
/// Low-level wire primitives (MQTT 5.0 §1.5): integers, variable byte
/// integers, UTF-8 strings, binary data, string pairs. Used by the packet
/// codecs; exposed for tests and fuzzers.

#include "amq/protocol/types.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace amq::protocol {

/// Checks MQTT's UTF-8 rules (§1.5.4): well-formed UTF-8 (no overlong
/// forms, no code points above U+10FFFF), no surrogates U+D800–U+DFFF, no
/// U+0000. Returns nullopt or a 0x81 error saying which rule was broken.
std::optional<decode_error> validate_utf8(std::string_view s) noexcept;

/// Number of bytes of the variable byte integer encoding of `v` (1–4).
/// `v` must be ≤ 268'435'455.
constexpr size_t varint_size(uint32_t v) noexcept {
  return v < 128 ? 1 : v < 16'384 ? 2 : v < 2'097'152 ? 3 : 4;
}

/// Bounds-checked cursor over a frame body. Every read returns false (and
/// sets `error()`) instead of reading past the end.
class reader {
public:
  explicit reader(std::span<const uint8_t> data) noexcept
    : p_(data.data()), end_(data.data() + data.size()) {
  }

  size_t remaining() const noexcept { return static_cast<size_t>(end_ - p_); }
  bool at_end() const noexcept { return p_ == end_; }
  const uint8_t* position() const noexcept { return p_; }

  bool u8(uint8_t& out) noexcept;
  bool u16(uint16_t& out) noexcept;
  bool u32(uint32_t& out) noexcept;
  /// Variable byte integer: at most 4 bytes, else malformed.
  bool varint(uint32_t& out) noexcept;
  /// Two-byte length + bytes, validated as MQTT UTF-8.
  bool utf8(std::string_view& out) noexcept;
  /// Two-byte length + bytes, no validation.
  bool binary(std::string_view& out) noexcept;
  /// `n` raw bytes.
  bool bytes(size_t n, std::string_view& out) noexcept;
  /// Skips `n` bytes.
  bool skip(size_t n) noexcept;
  /// All remaining bytes.
  std::string_view rest() noexcept;
  /// Restricts the reader to the next `n` bytes; returns the bytes after
  /// them as a separate reader.
  bool split(size_t n, reader& tail) noexcept;

  /// The last error. A read past the end sets {0x81, `truncated_message`};
  /// `truncated()` tells that case apart so callers can name the field.
  const decode_error& error() const noexcept { return err_; }
  bool truncated() const noexcept { return err_.message.data() == truncated_message.data(); }
  void fail(reason_code rc, std::string_view msg) noexcept { err_ = {rc, msg}; }

private:
  const uint8_t* p_;
  const uint8_t* end_;
  static constexpr std::string_view truncated_message = "packet truncated";
  decode_error err_{reason_code::malformed_packet, truncated_message};
};

/// Unchecked writer into memory sized by `encoded_size`.
class writer {
public:
  explicit writer(uint8_t* out) noexcept : p_(out) {}
  void u8(uint8_t v) noexcept { *p_++ = v; }
  void u16(uint16_t v) noexcept {
    *p_++ = static_cast<uint8_t>(v >> 8);
    *p_++ = static_cast<uint8_t>(v);
  }
  void u32(uint32_t v) noexcept;
  void varint(uint32_t v) noexcept;
  /// Two-byte length prefix + bytes (UTF-8 string or binary data).
  void lstring(std::string_view s) noexcept;
  void raw(std::string_view s) noexcept;
  uint8_t* position() const noexcept { return p_; }

private:
  uint8_t* p_;
};

} // namespace amq::protocol
