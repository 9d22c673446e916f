// libFuzzer target: decode_disconnect on arbitrary frame bodies, both versions,
// with the round-trip check of fuzz_common.hpp. Seeds: corpus/disconnect/.
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace amq::fuzz;
  return run_packet_target(packet_type::disconnect, data, size,
                           [](const frame& f, protocol_version v) {
                             return decode_disconnect(f, v);
                           });
}
