#pragma once
/// Topic names and topic filters (MQTT 5.0 §4.7, 3.1.1 §4.7).
///
/// Rules:
/// - Names and filters are non-empty UTF-8 strings up to 65535 bytes.
/// - A topic name contains no wildcard ('+' or '#').
/// - In a filter, '#' is only valid as the last character and alone in its
///   level ("a/#", "#"); '+' must occupy a whole level ("a/+/b", "+").
/// - Filters starting with a wildcard do not match names starting with '$'.
/// - Shared subscriptions: "$share/{ShareName}/{filter}", ShareName non-empty
///   without '/', '+', '#'; filter a valid non-empty filter.

#include "amq/protocol/types.hpp"

#include <optional>
#include <string_view>

namespace amq::protocol {

/// nullopt if `name` is a valid topic name for PUBLISH, else the reason.
/// (An empty name is valid only with a Topic Alias; callers check that.)
std::optional<decode_error> validate_topic_name(std::string_view name) noexcept;

/// nullopt if `filter` is a valid topic filter (shared or not), else 0x8F.
std::optional<decode_error> validate_topic_filter(std::string_view filter) noexcept;

struct shared_filter {
  std::string_view group;
  std::string_view filter;
};

/// Splits "$share/group/filter"; nullopt if `filter` is not a shared filter.
/// Does not validate (see validate_topic_filter).
std::optional<shared_filter> parse_shared(std::string_view filter) noexcept;

/// True if topic name `name` matches non-shared filter `filter` (both valid).
bool topic_matches(std::string_view filter, std::string_view name) noexcept;

} // namespace amq::protocol
