#pragma once
/// The outbound PUBLISH of one delivery (MQTT 5.0 §3.3, 3.1.1 §3.3), encoded
/// straight from the shared `message`: the hot path of every subscriber.
///
/// It writes the same bytes as building the packet with `to_publish` and
/// encoding it with `encode_to<publish>` (test: protocol_delivery_codec), but
/// without the `publish`/`properties` value (~300 bytes, 27 optional fields
/// walked three times per packet) and without copying the subscription
/// identifiers into it: on a max-rate QoS 0 fan-out, building and encoding
/// that value was a quarter of the broker's CPU (docs/performance.md,
/// "Profile-driven speed work (third pass)").

#include "amq/protocol/message.hpp"

#include <cstdint>
#include <span>
#include <vector>

namespace amq::protocol {

/// The per-subscriber parts of a delivered PUBLISH.
struct delivery_header {
  qos q = qos::at_most_once;
  bool retain = false;
  bool dup = false;
  uint16_t packet_id = 0;                     ///< on the wire for QoS 1/2 only
  std::span<const uint32_t> subscription_ids; ///< 5.0 only
  uint16_t topic_alias = 0;                   ///< 5.0 only; 0 = no Topic Alias property
  bool alias_only = false;                    ///< 5.0: empty topic name, the alias stands for it
};

/// Appends the PUBLISH delivering `m` with `h` to `out` and returns its size
/// — or, when that size is above `max_size` (0 = no limit), appends nothing
/// and returns the size it would have had. The Message Expiry Interval (5.0)
/// is the time `m` has left at `now`, as `to_publish` computes it.
size_t append_delivery(const message& m, const delivery_header& h, protocol_version v,
                       message::clock::time_point now, size_t max_size,
                       std::vector<uint8_t>& out);

} // namespace amq::protocol
