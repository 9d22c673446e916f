#include "amq/config/client_classifier.hpp"

namespace amq::config {

client_classifier::client_classifier(const session_config& cfg)
  : default_(cfg.default_client_type) {
  for (auto& r : cfg.client_type_rules) {
    rule x{r, std::nullopt};
    if (r.kind == match_kind::regex) {
      // validate() already rejected invalid patterns; be safe anyway.
      try {
        x.re.emplace(r.pattern, std::regex::ECMAScript | std::regex::optimize);
      } catch (const std::regex_error&) {
        continue;
      }
    }
    rules_.push_back(std::move(x));
  }
}

client_type client_classifier::classify(std::string_view client_id,
                                        std::optional<std::string_view> username) const {
  for (auto& r : rules_) {
    std::string_view field;
    if (r.def.field == match_field::username) {
      if (!username)
        continue;
      field = *username;
    } else {
      field = client_id;
    }
    bool hit = false;
    switch (r.def.kind) {
      case match_kind::exact:
        hit = field == r.def.pattern;
        break;
      case match_kind::prefix:
        hit = field.substr(0, r.def.pattern.size()) == r.def.pattern;
        break;
      case match_kind::regex:
        hit = std::regex_match(field.begin(), field.end(), *r.re);
        break;
    }
    if (hit)
      return r.def.type;
  }
  return default_;
}

} // namespace amq::config
