#pragma once
/// Errors of the storage layer (category `amq.storage`).
///
/// Backends report failures as `std::error_code`, never by throwing. Besides
/// the values below, `open_rocksdb_store` may report
/// `std::errc::permission_denied` and other `std::generic_category` errors
/// for the data directory itself.

#include <string>
#include <system_error>

namespace amq::storage {

/// Why a storage operation or a record decode failed.
enum class error : int {
  // -- record decoding (record_codec) --------------------------------------
  /// The record ends before a field is complete (or is empty).
  truncated = 1,
  /// The format version byte is one this build cannot read (newer broker?).
  unknown_version,
  /// The record-type byte does not match the record being decoded.
  wrong_record_type,
  /// A field holds a value outside its range (QoS 3, reserved flag bits, an
  /// over-long varint, an element count larger than the record, ...).
  invalid_value,
  /// Bytes are left over after the last field of the record.
  trailing_bytes,
  /// A store key does not have the documented layout.
  bad_key,
  // -- backends -------------------------------------------------------------
  /// The data directory is locked by another process (or already open in
  /// this one).
  locked,
  /// The backend reported an I/O failure (disk full, read error, ...).
  io_error,
  /// The backend detected corruption of its own files (checksum mismatch).
  corruption,
  /// The caller passed something the store cannot hold (a client id with
  /// U+0000, which MQTT forbids).
  invalid_argument,
  /// Any other backend failure.
  backend_failure,
};

/// The `amq.storage` error category.
const std::error_category& error_category() noexcept;

/// Makes `std::error_code` from `amq::storage::error` (found by ADL).
inline std::error_code make_error_code(error e) noexcept {
  return {static_cast<int>(e), error_category()};
}

} // namespace amq::storage

template <>
struct std::is_error_code_enum<amq::storage::error> : std::true_type {};
