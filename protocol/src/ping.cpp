// PINGREQ (§3.12) and PINGRESP (§3.13): fixed header only, flags 0,
// remaining length 0 (same in 3.1.1 and 5.0).
#include "codec.hpp"

namespace amq::protocol {

result<pingreq> decode_pingreq(const frame& f) {
  if (f.flags() != 0)
    return detail::malformed("PINGREQ: reserved fixed header flags are not 0");
  if (!f.body.empty())
    return detail::malformed("PINGREQ: remaining length is not 0");
  return pingreq{};
}

result<pingresp> decode_pingresp(const frame& f) {
  if (f.flags() != 0)
    return detail::malformed("PINGRESP: reserved fixed header flags are not 0");
  if (!f.body.empty())
    return detail::malformed("PINGRESP: remaining length is not 0");
  return pingresp{};
}

template <>
size_t encoded_size<pingreq>(const pingreq&, protocol_version) noexcept {
  return 2;
}

template <>
size_t encode_to<pingreq>(const pingreq&, protocol_version, uint8_t* out) noexcept {
  out[0] = 0xC0;
  out[1] = 0x00;
  return 2;
}

template <>
size_t encoded_size<pingresp>(const pingresp&, protocol_version) noexcept {
  return 2;
}

template <>
size_t encode_to<pingresp>(const pingresp&, protocol_version, uint8_t* out) noexcept {
  out[0] = 0xD0;
  out[1] = 0x00;
  return 2;
}

std::string to_string(const pingreq&) {
  return "PINGREQ()";
}

std::string to_string(const pingresp&) {
  return "PINGRESP()";
}

} // namespace amq::protocol
