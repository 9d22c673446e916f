// libFuzzer target: PUBACK, PUBREC, PUBREL and PUBCOMP. Byte 0: bits 4–5
// choose the packet (0 PUBACK, 1 PUBREC, 2 PUBREL, 3 PUBCOMP), bits 0–3 are
// the fixed header flags (PUBREL needs 0b0010); the rest is the body.
// Decoded as both versions, with the round-trip check of fuzz_common.hpp.
// Seeds: corpus/acks/.
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace amq::fuzz;
  if (size == 0)
    return 0;
  auto type = static_cast<packet_type>(4 + ((data[0] >> 4) & 0x03));
  auto header = static_cast<uint8_t>((static_cast<uint8_t>(type) << 4)
                                     | (data[0] & 0x0F));
  std::span<const uint8_t> body{data + 1, size - 1};
  switch (type) {
    case packet_type::puback:
      decode_both(header, body, [](const frame& f, protocol_version v) {
        return decode_puback(f, v);
      });
      break;
    case packet_type::pubrec:
      decode_both(header, body, [](const frame& f, protocol_version v) {
        return decode_pubrec(f, v);
      });
      break;
    case packet_type::pubrel:
      decode_both(header, body, [](const frame& f, protocol_version v) {
        return decode_pubrel(f, v);
      });
      break;
    default:
      decode_both(header, body, [](const frame& f, protocol_version v) {
        return decode_pubcomp(f, v);
      });
      break;
  }
  return 0;
}
