// libFuzzer target: decode_subscribe on arbitrary frame bodies, both versions,
// with the round-trip check of fuzz_common.hpp. Seeds: corpus/subscribe/.
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace amq::fuzz;
  return run_packet_target(packet_type::subscribe, data, size,
                           [](const frame& f, protocol_version v) {
                             return decode_subscribe(f, v);
                           });
}
