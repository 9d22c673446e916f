/// The YAML layer: walks a document, maps each leaf to its option descriptor,
/// and rejects unknown and duplicate keys with file:line:column.

#include "amq/config/load.hpp"
#include "amq/config/options.hpp"
#include "option_codec.hpp"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

namespace amq::config {

namespace {

std::string where(std::string_view origin, const YAML::Mark& mark) {
  std::string out{origin};
  if (!mark.is_null()) {
    out += ':';
    out += std::to_string(mark.line + 1);
    out += ':';
    out += std::to_string(mark.column + 1);
  }
  return out;
}

/// True if some key lives below `path` ("storage" or "storage.redis").
bool is_section(const std::string& path) {
  auto prefix = path + ".";
  for (const auto& opt : options())
    if (opt.key.compare(0, prefix.size(), prefix) == 0)
      return true;
  return false;
}

std::optional<std::string> walk(broker_config& cfg, const YAML::Node& map,
                                const std::string& prefix, std::string_view origin) {
  std::set<std::string> seen;
  for (const auto& kv : map) {
    const auto& key_node = kv.first;
    const auto& value = kv.second;
    if (!key_node.IsScalar())
      return where(origin, key_node.Mark()) + ": " + (prefix.empty() ? "" : prefix + ": ")
             + "keys must be plain names";
    const auto& name = key_node.Scalar();
    auto path = prefix.empty() ? name : prefix + "." + name;
    if (!seen.insert(name).second)
      return where(origin, key_node.Mark()) + ": " + path + ": duplicate key";
    if (const auto* opt = find_option(path)) {
      if (auto err = opt->codec->from_yaml(cfg, value)) {
        auto mark = value.Mark().is_null() ? key_node.Mark() : value.Mark();
        return where(origin, mark) + ": " + path + ": " + *err;
      }
      continue;
    }
    if (is_section(path)) {
      if (value.IsNull())
        continue; // An empty section ("limits:") keeps the defaults.
      if (!value.IsMap())
        return where(origin, value.Mark()) + ": " + path + ": expected a map of keys";
      if (auto err = walk(cfg, value, path, origin))
        return err;
      continue;
    }
    auto msg = where(origin, key_node.Mark()) + ": " + path + ": unknown key";
    if (auto hint = closest_key(path); !hint.empty())
      msg += " (did you mean " + hint + "?)";
    return msg;
  }
  return std::nullopt;
}

} // namespace

std::optional<std::string> apply_yaml(broker_config& cfg, std::string_view yaml_text,
                                      std::string_view origin) {
  try {
    auto root = YAML::Load(std::string{yaml_text});
    if (!root.IsDefined() || root.IsNull())
      return std::nullopt; // An empty file keeps the defaults.
    if (!root.IsMap())
      return where(origin, root.Mark()) + ": expected a map of sections at the top level";
    // Apply to a copy so that a failed load leaves `cfg` unchanged.
    auto tmp = cfg;
    if (auto err = walk(tmp, root, "", origin))
      return err;
    cfg = std::move(tmp);
    return std::nullopt;
  } catch (const YAML::Exception& e) {
    return where(origin, e.mark) + ": invalid YAML: " + e.msg;
  } catch (const std::exception& e) {
    return std::string{origin} + ": " + e.what();
  }
}

std::optional<std::string> apply_yaml_file(broker_config& cfg, const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  if (!in)
    return "cannot read config file " + path + ": " + std::strerror(errno);
  std::ostringstream text;
  text << in.rdbuf();
  return apply_yaml(cfg, text.str(), path);
}

} // namespace amq::config
