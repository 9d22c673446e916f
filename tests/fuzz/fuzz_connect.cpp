// libFuzzer target: decode_connect on arbitrary frame bodies, with the
// round-trip check of fuzz_common.hpp. CONNECT carries its own protocol
// level, so the version argument only selects nothing here: both passes
// decode the same way, which also checks that decoding is deterministic.
// Seeds: corpus/connect/.
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace amq::fuzz;
  return run_packet_target(packet_type::connect, data, size,
                           [](const frame& f, protocol_version) {
                             return decode_connect(f);
                           });
}
