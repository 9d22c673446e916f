#include "value_codecs.hpp"

#include <algorithm>
#include <cctype>
#include <regex>
#include <set>

namespace amq::config::detail {

// -- helpers ------------------------------------------------------------------

std::string_view trim(std::string_view s) noexcept {
  auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (!s.empty() && blank(s.front()))
    s.remove_prefix(1);
  while (!s.empty() && blank(s.back()))
    s.remove_suffix(1);
  return s;
}

std::string quoted(std::string_view s) {
  std::string out = "'";
  out.append(s.begin(), s.end());
  out += '\'';
  return out;
}

namespace {

std::string lower(std::string_view s) {
  std::string out(s.begin(), s.end());
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

} // namespace

maybe_error parse_unsigned(std::string_view text, bool allow_size_suffix, uint64_t& out) {
  auto s = trim(text);
  auto fail = [&] {
    return std::string{allow_size_suffix ? "expected a size in bytes (e.g. 65536 or 64KiB)"
                                         : "expected an unsigned integer"}
           + ", got " + quoted(s);
  };
  size_t i = 0;
  uint64_t v = 0;
  constexpr auto max = std::numeric_limits<uint64_t>::max();
  for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i) {
    auto digit = static_cast<uint64_t>(s[i] - '0');
    if (v > (max - digit) / 10)
      return "is out of range, got " + quoted(s);
    v = v * 10 + digit;
  }
  if (i == 0)
    return fail();
  auto suffix = lower(trim(s.substr(i)));
  if (!suffix.empty()) {
    if (!allow_size_suffix)
      return fail();
    uint64_t factor = 0;
    if (suffix == "k" || suffix == "kib")
      factor = uint64_t{1} << 10;
    else if (suffix == "m" || suffix == "mib")
      factor = uint64_t{1} << 20;
    else if (suffix == "g" || suffix == "gib")
      factor = uint64_t{1} << 30;
    else
      return fail();
    if (v > max / factor)
      return "is out of range, got " + quoted(s);
    v *= factor;
  }
  out = v;
  return std::nullopt;
}

maybe_error scalar_of(const YAML::Node& node, std::string& out, bool& is_null) {
  is_null = false;
  if (!node.IsDefined() || node.IsNull()) {
    out.clear();
    is_null = true;
    return std::nullopt;
  }
  if (node.IsSequence())
    return std::string{"expected a single value, got a list"};
  if (node.IsMap())
    return std::string{"expected a single value, got a map"};
  out = node.Scalar();
  return std::nullopt;
}

maybe_error load_flow(std::string_view text, YAML::Node& out) {
  try {
    out = YAML::Load(std::string{text});
  } catch (const YAML::Exception& e) {
    return "invalid YAML value " + quoted(text) + ": " + e.msg;
  }
  return std::nullopt;
}

std::string flow_text(const YAML::Node& node) {
  YAML::Emitter out;
  out << YAML::Flow << node;
  return out.c_str();
}

// -- bool ---------------------------------------------------------------------

maybe_error bool_codec::parse(std::string_view text, bool& out) const {
  auto s = lower(trim(text));
  if (s == "true" || s == "yes" || s == "on" || s == "1") {
    out = true;
    return std::nullopt;
  }
  if (s == "false" || s == "no" || s == "off" || s == "0") {
    out = false;
    return std::nullopt;
  }
  return "expected true or false, got " + quoted(trim(text));
}

maybe_error bool_codec::parse_yaml(const YAML::Node& node, bool& out) const {
  std::string s;
  bool is_null = false;
  if (auto err = scalar_of(node, s, is_null))
    return err;
  if (is_null)
    return std::string{"expected true or false, got nothing"};
  return parse(s, out);
}

// -- string list --------------------------------------------------------------

maybe_error string_list_codec::parse(std::string_view text, value_type& out) const {
  auto s = trim(text);
  out.clear();
  if (s.empty())
    return std::nullopt;
  if (s.front() == '[') {
    YAML::Node node;
    if (auto err = load_flow(s, node))
      return err;
    return parse_yaml(node, out);
  }
  while (!s.empty()) {
    auto pos = s.find(',');
    auto item = trim(s.substr(0, pos));
    if (!item.empty())
      out.emplace_back(item);
    if (pos == std::string_view::npos)
      break;
    s.remove_prefix(pos + 1);
  }
  return std::nullopt;
}

maybe_error string_list_codec::parse_yaml(const YAML::Node& node, value_type& out) const {
  out.clear();
  if (!node.IsDefined() || node.IsNull())
    return std::nullopt;
  if (node.IsScalar())
    return parse(node.Scalar(), out);
  if (!node.IsSequence())
    return std::string{"expected a list, got a map"};
  size_t index = 0;
  for (const auto& item : node) {
    ++index;
    if (!item.IsScalar())
      return "item " + std::to_string(index) + ": expected a single value";
    out.push_back(item.Scalar());
  }
  return std::nullopt;
}

maybe_error string_list_codec::check(const value_type& v) const {
  if (!item_rule)
    return std::nullopt;
  for (size_t i = 0; i < v.size(); ++i)
    if (auto err = item_rule(v[i]))
      return "item " + std::to_string(i + 1) + " (" + quoted(v[i]) + "): " + *err;
  return std::nullopt;
}

YAML::Node string_list_codec::emit(const value_type& v) const {
  YAML::Node out(YAML::NodeType::Sequence);
  for (auto& x : v)
    out.push_back(x);
  return out;
}

std::string string_list_codec::text(const value_type& v) const {
  std::string out;
  for (auto& x : v) {
    if (!out.empty())
      out += ',';
    out += x;
  }
  return out;
}

// -- string map ---------------------------------------------------------------

maybe_error string_map_codec::parse(std::string_view text, value_type& out) const {
  auto s = trim(text);
  out.clear();
  if (s.empty())
    return std::nullopt;
  if (s.front() == '{') {
    YAML::Node node;
    if (auto err = load_flow(s, node))
      return err;
    return parse_yaml(node, out);
  }
  while (!s.empty()) {
    auto pos = s.find(';');
    auto item = trim(s.substr(0, pos));
    if (!item.empty()) {
      auto eq = item.find('=');
      if (eq == std::string_view::npos || trim(item.substr(0, eq)).empty())
        return "expected key=value pairs separated by ';', got " + quoted(item);
      out[std::string{trim(item.substr(0, eq))}] = std::string{trim(item.substr(eq + 1))};
    }
    if (pos == std::string_view::npos)
      break;
    s.remove_prefix(pos + 1);
  }
  return std::nullopt;
}

maybe_error string_map_codec::parse_yaml(const YAML::Node& node, value_type& out) const {
  out.clear();
  if (!node.IsDefined() || node.IsNull())
    return std::nullopt;
  if (node.IsScalar())
    return parse(node.Scalar(), out);
  if (!node.IsMap())
    return std::string{"expected a map, got a list"};
  for (const auto& kv : node) {
    if (!kv.first.IsScalar() || !(kv.second.IsScalar() || kv.second.IsNull()))
      return std::string{"expected a map of single values"};
    auto key = kv.first.Scalar();
    if (out.count(key) > 0)
      return "duplicate key " + quoted(key);
    out[key] = kv.second.IsNull() ? std::string{} : kv.second.Scalar();
  }
  return std::nullopt;
}

YAML::Node string_map_codec::emit(const value_type& v) const {
  YAML::Node out(YAML::NodeType::Map);
  for (auto& [key, value] : v)
    out[key] = value;
  return out;
}

std::string string_map_codec::text(const value_type& v) const {
  std::string out;
  for (auto& [key, value] : v) {
    if (!out.empty())
      out += ';';
    out += key;
    out += '=';
    out += value;
  }
  return out;
}

// -- client type rules --------------------------------------------------------

maybe_error client_type_rules_codec::parse(std::string_view text, value_type& out) const {
  auto s = trim(text);
  out.clear();
  if (s.empty())
    return std::nullopt;
  YAML::Node node;
  if (auto err = load_flow(s, node))
    return err;
  if (node.IsScalar())
    return "expected a YAML list of rules such as "
           "[{field: username, kind: prefix, pattern: \"app-\", type: application}], got "
           + quoted(s);
  return parse_yaml(node, out);
}

maybe_error client_type_rules_codec::parse_yaml(const YAML::Node& node, value_type& out) const {
  out.clear();
  if (!node.IsDefined() || node.IsNull())
    return std::nullopt;
  if (!node.IsSequence())
    return std::string{"expected a list of rules ({field, kind, pattern, type})"};
  static const auto fields = match_field_codec();
  static const auto kinds = match_kind_codec();
  static const auto types = client_type_codec();
  size_t index = 0;
  for (const auto& item : node) {
    ++index;
    auto where = "rule " + std::to_string(index) + ": ";
    if (!item.IsMap())
      return where + "expected a map with field, kind, pattern and type";
    client_type_rule rule;
    std::set<std::string> seen;
    for (const auto& kv : item) {
      auto key = kv.first.Scalar();
      if (!seen.insert(key).second)
        return where + "duplicate key " + quoted(key);
      std::string value;
      bool is_null = false;
      if (auto err = scalar_of(kv.second, value, is_null))
        return where + key + ": " + *err;
      maybe_error err;
      if (key == "field")
        err = fields.parse(value, rule.field);
      else if (key == "kind")
        err = kinds.parse(value, rule.kind);
      else if (key == "pattern")
        rule.pattern = value;
      else if (key == "type")
        err = types.parse(value, rule.type);
      else
        return where + "unknown key " + quoted(key) + " (expected field, kind, pattern, type)";
      if (err)
        return where + key + ": " + *err;
    }
    for (const char* required : {"field", "kind", "pattern", "type"})
      if (seen.count(required) == 0)
        return where + "missing " + quoted(required);
    out.push_back(std::move(rule));
  }
  return std::nullopt;
}

maybe_error client_type_rules_codec::check(const value_type& v) const {
  for (size_t i = 0; i < v.size(); ++i) {
    auto where = "rule " + std::to_string(i + 1) + ": pattern: ";
    const auto& rule = v[i];
    if (rule.pattern.empty())
      return where + "must not be empty";
    if (rule.kind == match_kind::regex) {
      try {
        std::regex re{rule.pattern, std::regex::ECMAScript};
      } catch (const std::regex_error& e) {
        return where + "invalid regex " + quoted(rule.pattern) + ": " + e.what();
      }
    }
  }
  return std::nullopt;
}

YAML::Node client_type_rules_codec::emit(const value_type& v) const {
  YAML::Node out(YAML::NodeType::Sequence);
  for (auto& rule : v) {
    YAML::Node item(YAML::NodeType::Map);
    item["field"] = std::string{to_string(rule.field)};
    item["kind"] = std::string{to_string(rule.kind)};
    item["pattern"] = rule.pattern;
    item["type"] = std::string{to_string(rule.type)};
    out.push_back(item);
  }
  return out;
}

std::string client_type_rules_codec::text(const value_type& v) const {
  return v.empty() ? std::string{} : flow_text(emit(v));
}

// -- enum name tables ---------------------------------------------------------

namespace {

template <class E>
enum_codec<E> make_enum(std::initializer_list<E> values,
                        std::vector<std::pair<std::string, E>> aliases = {}) {
  enum_codec<E> out;
  for (auto v : values)
    out.names.emplace_back(std::string{to_string(v)}, v);
  for (auto& alias : aliases)
    out.names.push_back(std::move(alias));
  return out;
}

} // namespace

enum_codec<log_level> log_level_codec() {
  using enum log_level;
  return make_enum({trace, debug, info, warn, error, off});
}

enum_codec<log_format> log_format_codec() {
  return make_enum({log_format::text, log_format::json});
}

enum_codec<persistence_rule> persistence_rule_codec() {
  return make_enum({persistence_rule::seed, persistence_rule::strict});
}

enum_codec<client_type> client_type_codec() {
  return make_enum({client_type::device, client_type::application});
}

enum_codec<match_field> match_field_codec() {
  return make_enum({match_field::username, match_field::client_id});
}

enum_codec<match_kind> match_kind_codec() {
  return make_enum({match_kind::prefix, match_kind::regex, match_kind::exact});
}

enum_codec<overflow_policy> overflow_policy_codec() {
  return make_enum({overflow_policy::drop_oldest, overflow_policy::drop_newest});
}

enum_codec<slow_persistent_policy> slow_persistent_policy_codec() {
  return make_enum({slow_persistent_policy::overflow, slow_persistent_policy::hold});
}

enum_codec<storage_backend> storage_backend_codec() {
  using enum storage_backend;
  return make_enum({embedded, redis, kafka, memory});
}

enum_codec<kafka_acks> kafka_acks_codec() {
  return make_enum({kafka_acks::all, kafka_acks::leader, kafka_acks::none},
                   {{"-1", kafka_acks::all}});
}

} // namespace amq::config::detail
