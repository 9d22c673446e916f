#pragma once
/// Topic authorization: Mosquitto's `acl_file` format and its checks.
///
///     # comment
///     topic read $SYS/#                 before any `user` line: anonymous clients
///     user alice
///     topic readwrite sensors/#         alice's own entries
///     topic deny sensors/secret/#
///     pattern write devices/%c/up       every client; %c its client id, %u its user name
///     pattern read devices/%u/down
///
/// `topic [read|write|readwrite|deny] <filter>` (no access word: readwrite; with two words the
/// first must be the access, so a filter with a space needs one) applies to the user
/// of the preceding `user <name>` line, or to clients without a user name when it comes before
/// the first `user` line. `pattern ...` applies to every client; a pattern with `%u` does not
/// apply to a client without a user name. Filters may hold `+` and `#` and are validated as MQTT
/// topic filters. Anything else is an error naming the file and line.
///
/// The checks (as Mosquitto 2.0): with an ACL file, access is denied unless an entry grants it,
/// and a `deny` entry that matches overrides any grant.
/// - publish (write): some `write`/`readwrite` entry matches the topic, no `deny` entry does;
/// - receive (read), checked for each message before it is queued for the client: some
///   `read`/`readwrite` entry matches the topic, no `deny` entry does;
/// - subscribe: some `read`/`readwrite` entry covers the whole filter (every topic the filter
///   can match is matched by the entry), and no `deny` entry covers it. A filter that only
///   overlaps a `deny` entry is granted; the receive check keeps the denied topics out.
/// No CAF, no I/O besides reading the file; immutable once parsed, so views are shared freely.
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace amq::auth {

enum class acl_access : uint8_t { read = 1, write = 2, readwrite = 3, deny = 4 };

struct acl_entry {
  acl_access access = acl_access::readwrite;
  std::string filter; ///< pattern entries: with %c / %u still in it
};

/// One client's entries, with %c and %u substituted: what the checks run on.
class acl_view {
public:
  bool may_publish(std::string_view topic) const;
  bool may_receive(std::string_view topic) const;
  bool may_subscribe(std::string_view filter) const;

  /// Its entries (tests, logs).
  const std::vector<acl_entry>& entries() const noexcept {
    return entries_;
  }

private:
  friend class acl_table;
  bool allowed(std::string_view topic, acl_access want) const;
  std::vector<acl_entry> entries_;
};

/// The entries of one ACL file, immutable once parsed.
class acl_table {
public:
  /// The view for a client; `username` empty (nullopt) for an anonymous client.
  std::shared_ptr<const acl_view> view_for(std::optional<std::string_view> username,
                                           std::string_view client_id) const;

  /// Entries in the file (`topic` and `pattern` lines).
  size_t size() const noexcept;

private:
  friend struct acl_parser;
  std::vector<acl_entry> anonymous_;
  std::unordered_map<std::string, std::vector<acl_entry>> users_;
  std::vector<acl_entry> patterns_;
};

struct acl_parse_result {
  std::shared_ptr<const acl_table> table;
  std::string error; ///< "<name>:<line>: <what>" or "<name>: <what>"
};

/// Parses the text of an ACL file; `name` is used in error messages.
acl_parse_result parse_acl_file(std::string_view text, std::string_view name);

/// Reads and parses the file at `path`.
acl_parse_result load_acl_file(const std::string& path);

/// True if every topic `filter` can match is matched by `entry` (both valid topic filters).
bool filter_covers(std::string_view entry, std::string_view filter) noexcept;

} // namespace amq::auth
