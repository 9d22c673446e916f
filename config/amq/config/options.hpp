#pragma once
/// The option table: ONE descriptor per configuration key. The YAML reader,
/// the environment overrides, `--set`, `--print-config`, the example config and
/// docs/configuration.md are all driven by this table, so nothing drifts.
/// The table itself is in src/options.cpp.

#include "amq/config/broker_config.hpp"

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace amq::config {

namespace detail {
class option_codec; // Parser/printer/checker of one field (src/option_codec.hpp).
} // namespace detail

/// Describes one configuration key.
struct option_descriptor {
  /// Key path, e.g. "limits.max_packet_size" (equals the member path).
  std::string key;
  /// Type for the docs, e.g. "bytes", "uint16", "enum", "list of host:port".
  std::string type;
  /// Allowed values for the docs, e.g. "16..268435455" or "seed, strict".
  std::string range;
  /// TBMQ environment variable names that set the same knob (may be empty).
  std::vector<std::string> tbmq_env;
  /// TBMQ's default for that knob, where known (docs only).
  std::optional<std::string> tbmq_default;
  /// One or two sentences: what the knob does and what 0 / empty means.
  std::string doc;
  /// YAML example shown (commented) in the example config, for list/map keys.
  std::string example;
  /// Secrets are redacted by `--print-config`.
  bool secret = false;
  std::shared_ptr<const detail::option_codec> codec;

  /// The generic variable: "ACTORMQ_" + key with '.' as "__", upper case.
  std::string generic_env() const;
  /// The environment names, TBMQ names first, then the generic one.
  std::vector<std::string> env_names() const;
};

/// A top-level section (`limits`, `storage`, ...) with its doc line.
struct section_descriptor {
  std::string name;
  std::string doc;
};

/// Every key, grouped by section in the documented order.
const std::vector<option_descriptor>& options();

/// The top-level sections in the documented order.
const std::vector<section_descriptor>& sections();

/// The descriptor for `key`, or nullptr.
const option_descriptor* find_option(std::string_view key);

/// Sets `key` from its text form (as in the environment or `--set`). Returns
/// an error message starting with the key path on failure.
std::optional<std::string> set_option(broker_config& cfg, std::string_view key,
                                      std::string_view text);

/// The text form of `key`'s current value (as the docs show it).
std::string option_text(const broker_config& cfg, const option_descriptor& opt);

/// The known key closest to `key` by edit distance, or "" if none is close.
std::string closest_key(std::string_view key);

} // namespace amq::config
