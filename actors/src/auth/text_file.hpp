#pragma once
/// Private: what the password file and the ACL file parsers share — reading the file, and
/// walking its lines (blank and '#' lines skipped, blanks and CR trimmed) with errors that name
/// the file and line.

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

namespace amq::auth::detail {

inline std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

/// Calls `on_line(line_no, line)` for every line that is not blank or a comment; `on_line`
/// returns an error ("" to go on). The first error comes back as "<name>:<line>: <error>".
template <class OnLine>
std::string for_each_line(std::string_view text, std::string_view name, OnLine on_line) {
  size_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    auto nl = text.find('\n');
    auto line = trim(text.substr(0, nl));
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (line.empty() || line.front() == '#')
      continue;
    if (std::string err = on_line(line_no, line); !err.empty())
      return std::string{name} + ":" + std::to_string(line_no) + ": " + err;
  }
  return {};
}

/// Reads the file at `path` into `out`; false with `error` = "<path>: cannot open the <what>
/// (<reason>)" or "<path>: cannot read the <what>".
inline bool read_text_file(const std::string& path, std::string_view what, std::string& out,
                           std::string& error) {
  errno = 0;
  std::ifstream in{path, std::ios::binary};
  if (!in) {
    error = path + ": cannot open the " + std::string{what}
            + (errno != 0 ? std::string{" ("} + std::strerror(errno) + ")" : std::string{});
    return false;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) {
    error = path + ": cannot read the " + std::string{what};
    return false;
  }
  out = std::move(ss).str();
  return true;
}

} // namespace amq::auth::detail
