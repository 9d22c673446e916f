// Topic names and filters (MQTT 5.0 §4.7, §4.8.2; 3.1.1 §4.7).
//
// Matching walks filter and name level by level without allocating:
// - '+' matches exactly one level, which may be empty ("a/+" matches "a/");
// - '#' (always last) matches the parent level and any number of child levels
//   ("a/#" matches "a", "a/b", "a/b/c");
// - a filter starting with '+' or '#' does not match a name starting with '$'
//   (§4.7.2), so "#" does not see "$SYS/..." but "$SYS/#" does.
// Shared filters ("$share/group/filter") are split with `parse_shared` and
// their filter part is matched; `topic_matches` itself treats "$share/..."
// literally.
#include "amq/protocol/topic.hpp"

#include "amq/protocol/wire.hpp"

#include "codec.hpp"

namespace amq::protocol {

namespace detail {

bool topic_name_has_wildcard(std::string_view name) noexcept {
  for (char c : name)
    if (c == '+' || c == '#')
      return true;
  return false;
}

} // namespace detail

namespace {

constexpr decode_error filter_error(std::string_view msg) noexcept {
  return {reason_code::topic_filter_invalid, msg};
}

/// Checks wildcard placement in a non-shared filter (already non-empty).
std::optional<decode_error> check_plain_filter(std::string_view f) noexcept {
  for (size_t i = 0; i < f.size(); ++i) {
    char c = f[i];
    if (c == '#') {
      if (i + 1 != f.size())
        return filter_error("'#' is not the last character of the topic filter");
      if (i != 0 && f[i - 1] != '/')
        return filter_error("'#' does not occupy a whole topic level");
    } else if (c == '+') {
      if ((i != 0 && f[i - 1] != '/') || (i + 1 != f.size() && f[i + 1] != '/'))
        return filter_error("'+' does not occupy a whole topic level");
    }
  }
  return std::nullopt;
}

} // namespace

std::optional<decode_error> validate_topic_name(std::string_view name) noexcept {
  if (name.empty())
    return decode_error{reason_code::protocol_error, "topic name is empty"};
  if (name.size() > 65535)
    return decode_error{reason_code::topic_name_invalid,
                        "topic name longer than 65535 bytes"};
  if (auto err = validate_utf8(name))
    return err;
  if (detail::topic_name_has_wildcard(name))
    return decode_error{reason_code::topic_name_invalid,
                        "topic name contains a wildcard ('+' or '#')"};
  return std::nullopt;
}

std::optional<decode_error> validate_topic_filter(std::string_view filter) noexcept {
  if (filter.empty())
    return filter_error("topic filter is empty");
  if (filter.size() > 65535)
    return filter_error("topic filter longer than 65535 bytes");
  if (validate_utf8(filter))
    return filter_error("topic filter is not valid UTF-8");
  if (auto shared = parse_shared(filter)) {
    if (shared->group.empty())
      return filter_error("shared subscription has an empty share name");
    for (char c : shared->group)
      if (c == '+' || c == '#')
        return filter_error("share name contains a wildcard");
    if (shared->filter.empty())
      return filter_error("shared subscription has no topic filter");
    return check_plain_filter(shared->filter);
  }
  return check_plain_filter(filter);
}

std::optional<shared_filter> parse_shared(std::string_view filter) noexcept {
  if (!detail::is_shared_filter(filter))
    return std::nullopt;
  auto rest = filter.substr(7);
  auto slash = rest.find('/');
  if (slash == std::string_view::npos)
    return shared_filter{rest, {}};
  return shared_filter{rest.substr(0, slash), rest.substr(slash + 1)};
}

bool topic_matches(std::string_view filter, std::string_view name) noexcept {
  if (filter.empty() || name.empty())
    return false;
  if (name.front() == '$' && (filter.front() == '+' || filter.front() == '#'))
    return false;
  size_t fi = 0;
  size_t ni = 0;
  for (;;) {
    auto fe = filter.find('/', fi);
    if (fe == std::string_view::npos)
      fe = filter.size();
    auto flevel = filter.substr(fi, fe - fi);
    if (flevel == "#")
      return true;
    auto ne = name.find('/', ni);
    if (ne == std::string_view::npos)
      ne = name.size();
    if (flevel != "+" && flevel != name.substr(ni, ne - ni))
      return false;
    bool filter_done = fe == filter.size();
    bool name_done = ne == name.size();
    if (filter_done || name_done) {
      if (filter_done && name_done)
        return true;
      // "a/#" also matches "a": the name ended, the filter has only "/#" left.
      return name_done && filter.substr(fe + 1) == "#";
    }
    fi = fe + 1;
    ni = ne + 1;
  }
}

} // namespace amq::protocol
