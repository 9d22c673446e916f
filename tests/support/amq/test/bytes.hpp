#pragma once
/// Helpers for byte-level tests.

#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace amq::test {

using bytes = std::vector<uint8_t>;

/// Bytes from a list of integers: `make_bytes({0x10, 0x0C, ...})`.
inline bytes make_bytes(std::initializer_list<int> xs) {
  bytes out;
  out.reserve(xs.size());
  for (auto x : xs)
    out.push_back(static_cast<uint8_t>(x));
  return out;
}

/// Appends the bytes of a string literal (no terminator).
inline void append(bytes& out, std::string_view s) {
  out.insert(out.end(), s.begin(), s.end());
}

/// "10 0c 00 04 ..." for failure messages.
inline std::string hex(std::span<const uint8_t> xs) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (auto x : xs) {
    if (!out.empty())
      out += ' ';
    out += digits[x >> 4];
    out += digits[x & 0x0F];
  }
  return out;
}

} // namespace amq::test
