#pragma once
/// Assigns DEVICE or APPLICATION to a connecting client from the ordered
/// `session.client_type_rules` (first match wins, else
/// `session.default_client_type`). Regexes are compiled once, here.
///
/// Matching: `exact` compares the whole field, `prefix` its beginning,
/// `regex` must match the WHOLE field (ECMAScript syntax, std::regex_match).
/// A rule on `username` never matches a client that sent no username.

#include "amq/config/broker_config.hpp"

#include <optional>
#include <regex>
#include <string_view>
#include <vector>

namespace amq::config {

class client_classifier {
public:
  explicit client_classifier(const session_config& cfg);

  client_type classify(std::string_view client_id,
                       std::optional<std::string_view> username) const;

private:
  struct rule {
    client_type_rule def;
    std::optional<std::regex> re;
  };
  std::vector<rule> rules_;
  client_type default_;
};

} // namespace amq::config
