#pragma once
// Checks every backend makes before applying a batch, so that a rejected
// batch changes nothing.

#include "amq/storage/store.hpp"

#include <string_view>

namespace amq::storage::detail {

/// Client ids are key components separated by U+0000, which MQTT forbids in
/// client ids (§1.5.4); the empty id cannot name a stored session.
inline bool valid_client_id(std::string_view id) noexcept {
  return !id.empty() && id.find('\0') == std::string_view::npos;
}

/// `error::invalid_argument` if `b` holds a client id the store cannot key,
/// or a null message.
inline std::error_code validate(const write_batch& b) noexcept {
  for (auto& c : b.erase_sessions)
    if (!valid_client_id(c))
      return error::invalid_argument;
  for (auto& r : b.put_sessions)
    if (!valid_client_id(r.client_id))
      return error::invalid_argument;
  for (auto& [c, e] : b.append)
    if (!valid_client_id(c) || !e.msg)
      return error::invalid_argument;
  for (auto& [c, seq] : b.erase_entries)
    if (!valid_client_id(c))
      return error::invalid_argument;
  for (auto& [c, seq] : b.put_released)
    if (!valid_client_id(c))
      return error::invalid_argument;
  for (auto& [c, seq] : b.erase_released)
    if (!valid_client_id(c))
      return error::invalid_argument;
  for (auto& m : b.put_retained)
    if (!m)
      return error::invalid_argument;
  return {};
}

} // namespace amq::storage::detail
