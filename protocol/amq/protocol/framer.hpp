#pragma once
/// Incremental MQTT framer: splits a byte stream into frames.
///
/// `feed` takes whatever a read() returned. Complete frames inside that
/// buffer are handed to the callback as views into it (zero copy); only a
/// trailing partial frame is copied into the framer's own buffer until it is
/// complete. A frame whose Remaining Length makes it larger than the
/// configured maximum packet size is rejected from its fixed header alone
/// (0x95 Packet too large), before any of its body is buffered. A Remaining
/// Length longer than 4 bytes is 0x81 Malformed Packet. After an error the
/// framer stays failed (every later `feed` returns the same error without
/// calling back); the connection must be closed.

#include "amq/protocol/types.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace amq::protocol {

/// One complete control packet: first byte of the fixed header and the body
/// (variable header + payload), i.e. the `remaining length` bytes.
struct frame {
  uint8_t header = 0;
  std::span<const uint8_t> body;

  packet_type type() const noexcept { return static_cast<packet_type>(header >> 4); }
  uint8_t flags() const noexcept { return header & 0x0F; }
  /// Size of the whole packet on the wire (fixed header + body).
  size_t wire_size() const noexcept;
};

class framer {
public:
  /// `max_packet_size` bounds the whole packet (fixed header included), as
  /// MQTT 5.0's Maximum Packet Size does. 268'435'460 is the protocol limit.
  explicit framer(uint32_t max_packet_size = 268'435'460) noexcept
    : max_packet_size_(max_packet_size) {
  }

  /// Feeds `data`, calling `on_frame(const frame&)` for every complete frame.
  /// `on_frame` returns `true` to continue and `false` to stop (for example
  /// after a decode error); remaining bytes of `data` are then discarded,
  /// along with any buffered partial frame. (`on_frame` may also return void,
  /// meaning "continue".)
  /// Returns the framing error, if any. Views passed to `on_frame` are valid
  /// only during the call.
  template <class F>
  std::optional<decode_error> feed(std::span<const uint8_t> data, F&& on_frame);

  /// Bytes buffered for an incomplete frame.
  size_t buffered() const noexcept { return partial_.size(); }

  bool failed() const noexcept { return failed_; }

  uint32_t max_packet_size() const noexcept { return max_packet_size_; }

private:
  enum class parse_status { complete, need_more, error };

  /// Parses a fixed header at the front of `data`; on `complete`, sets
  /// `header_len` and `remaining`.
  parse_status parse_header(std::span<const uint8_t> data, size_t& header_len,
                            uint32_t& remaining, decode_error& err) const noexcept;

  /// Marks the framer failed, drops buffered bytes, returns `err`.
  std::optional<decode_error> fail(decode_error err) noexcept;

  /// Buffered partial frames above this capacity are released once complete.
  static constexpr size_t keep_capacity = 64 * 1024;

  uint32_t max_packet_size_;
  bool failed_ = false;
  decode_error error_; ///< The error that failed the framer.
  std::vector<uint8_t> partial_;
};

} // namespace amq::protocol

#include "amq/protocol/framer_impl.hpp"
