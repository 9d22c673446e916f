// libFuzzer target: decode_unsuback on arbitrary frame bodies, both versions,
// with the round-trip check of fuzz_common.hpp. Seeds: corpus/unsuback/.
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace amq::fuzz;
  return run_packet_target(packet_type::unsuback, data, size,
                           [](const frame& f, protocol_version v) {
                             return decode_unsuback(f, v);
                           });
}
