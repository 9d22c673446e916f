// libFuzzer target: the generic `decode` (dispatch on the packet type).
// Byte 0 is the whole fixed header byte (type and flags, including the
// reserved types 0 and, for 3.1.1, 15), the rest is the body. Decoded as
// both versions; every success goes through `encode(const packet&)` and back.
// Also checks that `to_string` works on every decoded packet.
// Seeds: corpus/decode/.
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace amq::fuzz;
  if (size == 0)
    return 0;
  auto f = make_frame(data[0], std::span<const uint8_t>{data + 1, size - 1});
  for (auto v : versions) {
    auto r = decode(f, v);
    if (!r)
      continue;
    if (static_cast<uint8_t>(r->index() + 1) != (data[0] >> 4))
      fail("decode returned a packet of another type", data[0]);
    if (to_string(*r).empty())
      fail("to_string of a decoded packet is empty", data[0]);
    check_roundtrip(*r, v, data[0], [](const frame& g, protocol_version w) {
      return decode(g, w);
    });
  }
  return 0;
}
