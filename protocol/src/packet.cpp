// The `packet` variant: generic decode (dispatch on the packet type), encode
// and to_string.
#include "codec.hpp"

namespace amq::protocol {

namespace {

template <class T>
result<packet> lift(result<T>&& r) {
  if (!r)
    return r.error();
  return packet{std::move(r).value()};
}

} // namespace

result<packet> decode(const frame& f, protocol_version v) {
  switch (f.type()) {
    case packet_type::connect: return lift(decode_connect(f));
    case packet_type::connack: return lift(decode_connack(f, v));
    case packet_type::publish: return lift(decode_publish(f, v));
    case packet_type::puback: return lift(decode_puback(f, v));
    case packet_type::pubrec: return lift(decode_pubrec(f, v));
    case packet_type::pubrel: return lift(decode_pubrel(f, v));
    case packet_type::pubcomp: return lift(decode_pubcomp(f, v));
    case packet_type::subscribe: return lift(decode_subscribe(f, v));
    case packet_type::suback: return lift(decode_suback(f, v));
    case packet_type::unsubscribe: return lift(decode_unsubscribe(f, v));
    case packet_type::unsuback: return lift(decode_unsuback(f, v));
    case packet_type::pingreq: return lift(decode_pingreq(f));
    case packet_type::pingresp: return lift(decode_pingresp(f));
    case packet_type::disconnect: return lift(decode_disconnect(f, v));
    case packet_type::auth: return lift(decode_auth(f, v));
  }
  return detail::malformed("packet type 0 is reserved");
}

size_t encoded_size(const packet& p, protocol_version v) noexcept {
  return std::visit([v](const auto& x) { return encoded_size(x, v); }, p);
}

size_t encode_to(const packet& p, protocol_version v, uint8_t* out) noexcept {
  return std::visit([v, out](const auto& x) { return encode_to(x, v, out); }, p);
}

void encode(const packet& p, protocol_version v, std::vector<uint8_t>& out) {
  auto n = encoded_size(p, v);
  auto old = out.size();
  out.resize(old + n);
  encode_to(p, v, out.data() + old);
}

std::string to_string(const packet& p) {
  return std::visit([](const auto& x) { return to_string(x); }, p);
}

} // namespace amq::protocol
