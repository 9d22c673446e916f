// Non-template parts of the framer (MQTT 5.0 §2.1, fixed header; §1.5.5
// Variable Byte Integer for the Remaining Length).
#include "amq/protocol/framer.hpp"

#include "amq/protocol/wire.hpp"

namespace amq::protocol {

size_t frame::wire_size() const noexcept {
  // Assumes the minimal Remaining Length encoding, which [MQTT-1.5.5-1]
  // requires of senders.
  return 1 + varint_size(static_cast<uint32_t>(body.size())) + body.size();
}

framer::parse_status framer::parse_header(std::span<const uint8_t> data,
                                          size_t& header_len, uint32_t& remaining,
                                          decode_error& err) const noexcept {
  uint32_t value = 0;
  for (size_t i = 1; i <= 4; ++i) {
    if (i >= data.size())
      return parse_status::need_more;
    uint8_t b = data[i];
    value |= uint32_t{static_cast<uint8_t>(b & 0x7F)} << (7 * (i - 1));
    if ((b & 0x80) == 0) {
      if (uint64_t{i} + 1 + value > max_packet_size_) {
        err = {reason_code::packet_too_large,
               "packet exceeds the maximum packet size"};
        return parse_status::error;
      }
      header_len = i + 1;
      remaining = value;
      return parse_status::complete;
    }
  }
  err = {reason_code::malformed_packet, "remaining length longer than 4 bytes"};
  return parse_status::error;
}

std::optional<decode_error> framer::fail(decode_error err) noexcept {
  failed_ = true;
  error_ = err;
  std::vector<uint8_t>{}.swap(partial_);
  return err;
}

} // namespace amq::protocol
