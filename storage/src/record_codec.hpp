#pragma once
/// Versioned binary encodings of the records the stores persist: session
/// records, queue entries and retained messages. Byte-by-byte layout:
/// docs/storage-format.md.
///
/// Every record starts with the format version (1 today) and a record-type
/// byte, then fixed-width little-endian integers and length-prefixed
/// (unsigned LEB128 varint) byte strings. The encoders always write the
/// newest version; the decoders dispatch on the version byte
/// (`switch (version)`) so that a future v2 reader keeps a v1 reader.
///
/// Decoding never throws (allocation failure aside) and rejects truncated,
/// over-long or out-of-range input with an `amq::storage::error`, leaving
/// the output unspecified: a corrupt record is reported and skipped, it must
/// not take the broker down.
///
/// Time: `message::expires_at` is a `steady_clock` deadline, meaningless
/// after a restart. It is written as a wall-clock deadline (ms since the Unix
/// epoch) computed at encode time and turned back into a `steady_clock`
/// deadline at decode time, so a message that expired while the broker was
/// down comes back already expired.

#include "amq/protocol/message.hpp"
#include "amq/storage/store.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

namespace amq::storage::codec {

/// The format version the encoders write.
inline constexpr uint8_t current_version = 1;

/// The record-type byte (second byte of every record).
enum class record_type : uint8_t {
  session = 0x01,
  queue_entry = 0x02,
  retained = 0x03,
  last_seq = 0x04,
  released = 0x05,
};

/// A reading of both clocks, taken together, to convert deadlines between
/// them. Tests pass fixed values.
struct clocks {
  protocol::message::clock::time_point steady;
  int64_t wall_ms = 0; ///< ms since the Unix epoch

  static clocks now() noexcept;

  /// Wall-clock ms of the steady deadline `t`.
  int64_t to_wall_ms(protocol::message::clock::time_point t) const noexcept;
  /// Steady deadline of the wall-clock ms `ms` (saturating: a deadline far
  /// in the past or future is clamped, never overflows).
  protocol::message::clock::time_point to_steady(int64_t ms) const noexcept;
};

// -- encoders (append to `out`) ---------------------------------------------

void encode(const session_record& x, std::string& out);
void encode(const queued_entry& x, std::string& out, const clocks& now);
void encode_retained(const protocol::message& m, std::string& out, const clocks& now);
void encode_last_seq(uint64_t seq, std::string& out);
/// The "released" mark of queue entry `seq` (PUBREC received).
void encode_released(uint64_t seq, std::string& out);

// -- decoders -----------------------------------------------------------------

std::error_code decode(std::string_view in, session_record& out);
std::error_code decode(std::string_view in, queued_entry& out, const clocks& now);
std::error_code decode_retained(std::string_view in, protocol::message_ptr& out,
                                const clocks& now);
std::error_code decode_last_seq(std::string_view in, uint64_t& out);
std::error_code decode_released(std::string_view in, uint64_t& seq);

} // namespace amq::storage::codec
