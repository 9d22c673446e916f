/// The environment layer: TBMQ variable names where TBMQ has the same knob,
/// then the generic ACTORMQ_<SECTION>__<KEY> names (which win).

#include "amq/config/load.hpp"
#include "amq/config/options.hpp"
#include "option_codec.hpp"

#include <cctype>
#include <set>

extern char** environ; // POSIX

namespace amq::config {

namespace {

/// Names starting with this prefix belong to us.
constexpr std::string_view generic_prefix = "ACTORMQ_";

/// ACTORMQ_ names that are not keys.
const std::set<std::string, std::less<>>& reserved_names() {
  static const std::set<std::string, std::less<>> names{"ACTORMQ_CONFIG"};
  return names;
}

/// Turns ACTORMQ_LIMITS__MAX_PACKET_SIZE back into limits.max_packet_size.
std::string key_of(std::string_view name) {
  name.remove_prefix(generic_prefix.size());
  std::string out;
  for (size_t i = 0; i < name.size(); ++i) {
    if (name[i] == '_' && i + 1 < name.size() && name[i + 1] == '_') {
      out += '.';
      ++i;
    } else {
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(name[i])));
    }
  }
  return out;
}

std::optional<std::string> apply_one(broker_config& cfg, const option_descriptor& opt,
                                     const std::string& name, const std::string& value) {
  if (auto err = opt.codec->from_text(cfg, value))
    return "environment variable " + name + ": " + opt.key + ": " + *err;
  return std::nullopt;
}

} // namespace

environment current_environment() {
  environment out;
  for (char** p = environ; p != nullptr && *p != nullptr; ++p) {
    std::string_view entry{*p};
    auto eq = entry.find('=');
    if (eq == std::string_view::npos)
      continue;
    out.emplace(std::string{entry.substr(0, eq)}, std::string{entry.substr(eq + 1)});
  }
  return out;
}

std::optional<std::string> apply_environment(broker_config& cfg, const environment& env,
                                             std::vector<std::string>* warnings) {
  auto tmp = cfg;
  // TBMQ names first, so that the generic name wins when both are set.
  for (const auto& opt : options())
    for (const auto& name : opt.tbmq_env)
      if (auto i = env.find(name); i != env.end())
        if (auto err = apply_one(tmp, opt, name, i->second))
          return err;
  for (const auto& opt : options())
    if (auto i = env.find(opt.generic_env()); i != env.end())
      if (auto err = apply_one(tmp, opt, i->first, i->second))
        return err;
  // Our own names that match no key are typos: do not ignore them silently.
  for (const auto& [name, value] : env) {
    if (name.compare(0, generic_prefix.size(), generic_prefix) != 0)
      continue;
    if (reserved_names().count(name) > 0 || find_option(key_of(name)) != nullptr)
      continue;
    auto msg = "environment variable " + name + ": matches no configuration key";
    if (auto hint = find_option(closest_key(key_of(name))))
      msg += " (did you mean " + hint->generic_env() + "?)";
    if (name.find("__") != std::string::npos)
      return msg;
    if (warnings != nullptr)
      warnings->push_back(msg + "; ignored");
  }
  cfg = std::move(tmp);
  return std::nullopt;
}

} // namespace amq::config
