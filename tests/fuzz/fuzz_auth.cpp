// libFuzzer target: decode_auth on arbitrary frame bodies, both versions,
// with the round-trip check of fuzz_common.hpp. Seeds: corpus/auth/.
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace amq::fuzz;
  return run_packet_target(packet_type::auth, data, size,
                           [](const frame& f, protocol_version v) {
                             return decode_auth(f, v);
                           });
}
