// libFuzzer target: decode_suback on arbitrary frame bodies, both versions,
// with the round-trip check of fuzz_common.hpp. Seeds: corpus/suback/.
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace amq::fuzz;
  return run_packet_target(packet_type::suback, data, size,
                           [](const frame& f, protocol_version v) {
                             return decode_suback(f, v);
                           });
}
