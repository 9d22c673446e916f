#pragma once
/// Internal: value codecs, one per kind of configuration value. Each codec has
///   value_type; type_name(); range();
///   parse(text, out)        -- environment / --set / flag text
///   parse_yaml(node, out)   -- YAML value
///   check(value)            -- range and format rules
///   emit(value) -> YAML::Node; text(value) -> string (parseable by `parse`)
/// and returns error messages without the key path.

#include "option_codec.hpp"

#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace amq::config::detail {

// -- helpers (value_codecs.cpp) -------------------------------------------------

/// `s` without leading and trailing blanks.
std::string_view trim(std::string_view s) noexcept;

/// Quotes a value for an error message: 'abc'.
std::string quoted(std::string_view s);

/// Parses an unsigned decimal integer, with a KiB/MiB/GiB (or K/M/G) suffix
/// when `allow_size_suffix`. Fails on overflow beyond uint64.
maybe_error parse_unsigned(std::string_view s, bool allow_size_suffix, uint64_t& out);

/// The scalar text of a YAML node, or an error for maps and sequences.
/// A null node (`key:` or `key: ~`) yields "" and sets `is_null`.
maybe_error scalar_of(const YAML::Node& node, std::string& out, bool& is_null);

/// Loads a YAML flow value (`[a, b]`, `{k: v}`), converting exceptions.
maybe_error load_flow(std::string_view text, YAML::Node& out);

/// Renders a node in YAML flow style on one line.
std::string flow_text(const YAML::Node& node);

// -- scalars --------------------------------------------------------------------

/// Unsigned integers within [lo, hi]; `bytes` accepts size suffixes.
template <class T>
struct uint_codec {
  using value_type = T;
  uint64_t lo = 0;
  uint64_t hi = std::numeric_limits<T>::max();
  bool bytes = false;

  std::string type_name() const {
    if (bytes)
      return "bytes";
    return "uint" + std::to_string(sizeof(T) * 8);
  }

  std::string range() const { return std::to_string(lo) + ".." + std::to_string(hi); }

  maybe_error parse(std::string_view text, T& out) const {
    uint64_t v = 0;
    if (auto err = parse_unsigned(text, bytes, v))
      return err;
    if (v < lo || v > hi)
      return range_error(v);
    out = static_cast<T>(v);
    return std::nullopt;
  }

  maybe_error parse_yaml(const YAML::Node& node, T& out) const {
    std::string s;
    bool is_null = false;
    if (auto err = scalar_of(node, s, is_null))
      return err;
    if (is_null)
      return std::string{"expected "} + (bytes ? "a size in bytes" : "an unsigned integer")
             + ", got nothing";
    return parse(s, out);
  }

  maybe_error check(const T& v) const {
    auto x = static_cast<uint64_t>(v);
    if (x < lo || x > hi)
      return range_error(x);
    return std::nullopt;
  }

  YAML::Node emit(const T& v) const { return YAML::Node(static_cast<uint64_t>(v)); }

  std::string text(const T& v) const { return std::to_string(static_cast<uint64_t>(v)); }

private:
  std::string range_error(uint64_t v) const {
    return "must be between " + std::to_string(lo) + " and " + std::to_string(hi) + ", got "
           + std::to_string(v);
  }
};

/// true/false (also yes/no, on/off, 1/0).
struct bool_codec {
  using value_type = bool;
  std::string type_name() const { return "bool"; }
  std::string range() const { return "true, false"; }
  maybe_error parse(std::string_view text, bool& out) const;
  maybe_error parse_yaml(const YAML::Node& node, bool& out) const;
  maybe_error check(const bool&) const { return std::nullopt; }
  YAML::Node emit(const bool& v) const { return YAML::Node(v); }
  std::string text(const bool& v) const { return v ? "true" : "false"; }
};

/// Free text, with an optional format rule.
struct string_codec {
  using value_type = std::string;
  /// Extra rule, e.g. "must not be empty"; nullptr accepts everything.
  maybe_error (*rule)(const std::string&) = nullptr;
  /// Shown in the docs' range column.
  std::string range_doc;

  std::string type_name() const { return "string"; }
  std::string range() const { return range_doc; }
  maybe_error parse(std::string_view text, std::string& out) const {
    out.assign(text.begin(), text.end());
    return std::nullopt;
  }
  maybe_error parse_yaml(const YAML::Node& node, std::string& out) const {
    bool is_null = false;
    return scalar_of(node, out, is_null);
  }
  maybe_error check(const std::string& v) const { return rule ? rule(v) : std::nullopt; }
  YAML::Node emit(const std::string& v) const { return YAML::Node(v); }
  std::string text(const std::string& v) const { return v; }
};

/// One of a fixed set of names; later entries with a known value are aliases.
template <class E>
struct enum_codec {
  using value_type = E;
  std::vector<std::pair<std::string, E>> names;

  std::string type_name() const { return "enum"; }

  std::string range() const {
    std::string out;
    std::vector<E> seen;
    for (auto& [name, value] : names) {
      bool dup = false;
      for (auto x : seen)
        dup = dup || x == value;
      if (dup)
        continue;
      seen.push_back(value);
      if (!out.empty())
        out += ", ";
      out += name;
    }
    return out;
  }

  maybe_error parse(std::string_view text, E& out) const {
    auto t = trim(text);
    for (auto& [name, value] : names) {
      if (name == t) {
        out = value;
        return std::nullopt;
      }
    }
    return "must be one of " + range() + "; got " + quoted(t);
  }

  maybe_error parse_yaml(const YAML::Node& node, E& out) const {
    std::string s;
    bool is_null = false;
    if (auto err = scalar_of(node, s, is_null))
      return err;
    return parse(s, out);
  }

  maybe_error check(const E& v) const {
    for (auto& entry : names)
      if (entry.second == v)
        return std::nullopt;
    return std::string{"has an invalid value"};
  }

  YAML::Node emit(const E& v) const { return YAML::Node(text(v)); }

  std::string text(const E& v) const {
    for (auto& [name, value] : names)
      if (value == v)
        return name;
    return "?";
  }
};

// -- collections ----------------------------------------------------------------

/// A list of strings: YAML sequence, or in text form "a,b,c" or "[a, b]".
struct string_list_codec {
  using value_type = std::vector<std::string>;
  /// Rule for each item; nullptr accepts everything.
  maybe_error (*item_rule)(const std::string&) = nullptr;
  std::string type_doc = "list of strings";
  std::string range_doc;

  std::string type_name() const { return type_doc; }
  std::string range() const { return range_doc; }
  maybe_error parse(std::string_view text, value_type& out) const;
  maybe_error parse_yaml(const YAML::Node& node, value_type& out) const;
  maybe_error check(const value_type& v) const;
  YAML::Node emit(const value_type& v) const;
  std::string text(const value_type& v) const;
};

/// A string-to-string map: YAML mapping, or in text form "k=v;k2=v2" or "{k: v}".
struct string_map_codec {
  using value_type = std::map<std::string, std::string>;
  std::string type_name() const { return "map of strings"; }
  std::string range() const { return ""; }
  maybe_error parse(std::string_view text, value_type& out) const;
  maybe_error parse_yaml(const YAML::Node& node, value_type& out) const;
  maybe_error check(const value_type&) const { return std::nullopt; }
  YAML::Node emit(const value_type& v) const;
  std::string text(const value_type& v) const;
};

/// Client-type rules: a YAML sequence of {field, kind, pattern, type}; the text
/// form is the same in YAML flow style.
struct client_type_rules_codec {
  using value_type = std::vector<client_type_rule>;
  std::string type_name() const { return "list of rules"; }
  std::string range() const { return ""; }
  maybe_error parse(std::string_view text, value_type& out) const;
  maybe_error parse_yaml(const YAML::Node& node, value_type& out) const;
  maybe_error check(const value_type& v) const;
  YAML::Node emit(const value_type& v) const;
  std::string text(const value_type& v) const;
};

// -- enum name tables -------------------------------------------------------------

enum_codec<log_level> log_level_codec();
enum_codec<log_format> log_format_codec();
enum_codec<persistence_rule> persistence_rule_codec();
enum_codec<client_type> client_type_codec();
enum_codec<match_field> match_field_codec();
enum_codec<match_kind> match_kind_codec();
enum_codec<overflow_policy> overflow_policy_codec();
enum_codec<slow_persistent_policy> slow_persistent_policy_codec();
enum_codec<storage_backend> storage_backend_codec();
enum_codec<kafka_acks> kafka_acks_codec();

} // namespace amq::config::detail
