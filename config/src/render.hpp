#pragma once
/// Internal: renders a configuration as YAML, optionally with a comment block
/// per key (doc, type, range, default, environment names) for the example
/// config.

#include "amq/config/broker_config.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace amq::config::detail {

struct render_options {
  /// Write doc comments above each key and section (the example config).
  bool with_docs = false;
  /// Replace non-empty secrets by "<redacted>".
  bool redact_secrets = true;
};

/// The configuration as a YAML document, keys in table order.
std::string render_yaml(const broker_config& cfg, const render_options& opts);

/// Splits `text` into lines of at most `width` characters at blanks.
std::vector<std::string> wrap(std::string_view text, size_t width);

} // namespace amq::config::detail
