#pragma once
/// Shared pieces of the libFuzzer targets in tests/fuzz.
///
/// Every decoder target checks two things for each input:
///  1. the decoder never crashes, leaks, reads out of bounds or hits
///     undefined behaviour (ASan/UBSan/LSan, built with
///     -fsanitize=fuzzer,address,undefined);
///  2. what decodes re-encodes and decodes to an equal value
///     (decode ∘ encode ∘ decode = decode), with `encoded_size` matching the
///     bytes `encode` wrote. A violation aborts, which libFuzzer reports as a
///     crash with the input saved as `crash-<sha1>`.
///
/// Input layout of the per-packet targets: byte 0 supplies the fixed header
/// flags (low nibble; the acks target also takes the packet type from bits
/// 4–5), the remaining bytes are the frame body (variable header + payload).
/// Each body is decoded as MQTT 3.1.1 and as 5.0.

#include "amq/protocol/packet.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <vector>

namespace amq::fuzz {

using namespace amq::protocol;

inline constexpr protocol_version versions[] = {protocol_version::v311,
                                                protocol_version::v5};

[[noreturn]] inline void fail(const char* what, uint8_t header) {
  std::fprintf(stderr, "FUZZ INVARIANT VIOLATED: %s (fixed header 0x%02x)\n",
               what, header);
  std::abort();
}

/// Builds a frame from `header` and `body`.
inline frame make_frame(uint8_t header, std::span<const uint8_t> body) {
  frame f;
  f.header = header;
  f.body = body;
  return f;
}

/// Splits an encoded packet into a frame (fixed header byte + body), checking
/// the Remaining Length against the buffer.
inline frame reframe(const std::vector<uint8_t>& wire, uint8_t orig_header) {
  if (wire.size() < 2)
    fail("encode wrote fewer than 2 bytes", orig_header);
  uint32_t remaining = 0;
  size_t i = 1;
  for (int shift = 0;; shift += 7) {
    if (i >= wire.size() || shift > 21)
      fail("encode wrote a malformed Remaining Length", orig_header);
    auto b = wire[i++];
    remaining |= static_cast<uint32_t>(b & 0x7F) << shift;
    if ((b & 0x80) == 0)
      break;
  }
  if (i + remaining != wire.size())
    fail("Remaining Length disagrees with the encoded size", orig_header);
  return make_frame(wire[0], std::span<const uint8_t>{wire}.subspan(i));
}

/// decode ∘ encode ∘ decode = decode for one decoded value `p`.
/// `redecode(frame, version)` is the decoder under test.
template <class Packet, class Redecode>
void check_roundtrip(const Packet& p, protocol_version v, uint8_t orig_header,
                     Redecode&& redecode) {
  std::vector<uint8_t> wire;
  encode(p, v, wire);
  if (wire.size() != encoded_size(p, v))
    fail("encoded_size differs from the bytes encode wrote", orig_header);
  auto f = reframe(wire, orig_header);
  auto again = redecode(f, v);
  if (!again)
    fail("re-encoded packet does not decode", orig_header);
  if (!(*again == p))
    fail("re-encoded packet decodes to a different value", orig_header);
}

/// Decodes `body` with `header` as both versions using `dec(frame, version)`
/// and round-trips every success.
template <class Decode>
void decode_both(uint8_t header, std::span<const uint8_t> body, Decode&& dec) {
  auto f = make_frame(header, body);
  for (auto v : versions)
    if (auto r = dec(f, v))
      check_roundtrip(*r, v, header, dec);
}

/// Standard entry for a per-packet target of packet type `type`.
template <class Decode>
int run_packet_target(packet_type type, const uint8_t* data, size_t size,
                      Decode&& dec) {
  if (size == 0)
    return 0;
  auto header = static_cast<uint8_t>((static_cast<uint8_t>(type) << 4)
                                     | (data[0] & 0x0F));
  decode_both(header, std::span<const uint8_t>{data + 1, size - 1}, dec);
  return 0;
}

} // namespace amq::fuzz
