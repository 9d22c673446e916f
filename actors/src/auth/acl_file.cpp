#include "amq/auth/acl_file.hpp"


#include "amq/protocol/topic.hpp"
#include "text_file.hpp"

namespace amq::auth {

namespace {

using detail::trim;

/// Splits off the first word (up to a space or tab); returns it and leaves the rest in `s`.
std::string_view word(std::string_view& s) {
  s = trim(s);
  size_t n = 0;
  while (n < s.size() && s[n] != ' ' && s[n] != '\t')
    ++n;
  auto w = s.substr(0, n);
  s = trim(s.substr(n));
  return w;
}

std::optional<acl_access> access_of(std::string_view w) {
  if (w == "read")
    return acl_access::read;
  if (w == "write")
    return acl_access::write;
  if (w == "readwrite")
    return acl_access::readwrite;
  if (w == "deny")
    return acl_access::deny;
  return std::nullopt;
}

/// Next level of a topic or filter ('/'-separated); false once `s` is used up.
bool next_level(std::string_view& s, bool& done, std::string_view& level) {
  if (done)
    return false;
  auto slash = s.find('/');
  if (slash == std::string_view::npos) {
    level = s;
    done = true;
  } else {
    level = s.substr(0, slash);
    s.remove_prefix(slash + 1);
  }
  return true;
}

void substitute(std::string& f, std::string_view token, std::string_view value) {
  for (size_t at = f.find(token); at != std::string::npos; at = f.find(token, at + value.size()))
    f.replace(at, token.size(), value);
}

} // namespace

bool filter_covers(std::string_view entry, std::string_view filter) noexcept {
  // The $-rule: a filter starting with a wildcard matches no topic starting with '$'.
  if (!filter.empty() && filter.front() == '$' && !entry.empty()
      && (entry.front() == '+' || entry.front() == '#'))
    return false;
  bool entry_done = false;
  bool filter_done = false;
  std::string_view e;
  std::string_view f;
  for (;;) {
    const bool has_e = next_level(entry, entry_done, e);
    const bool has_f = next_level(filter, filter_done, f);
    if (has_e && e == "#")
      return true; // the rest, including nothing ("a/#" covers "a")
    if (!has_e || !has_f)
      return !has_e && !has_f;
    if (f == "#")
      return false; // only '#' covers '#'
    if (e == "+")
      continue; // covers any single level, '+' included
    if (f == "+" || e != f)
      return false;
  }
}

bool acl_view::allowed(std::string_view topic, acl_access want) const {
  bool granted = false;
  for (const auto& e : entries_) {
    if (!protocol::topic_matches(e.filter, topic))
      continue;
    if (e.access == acl_access::deny)
      return false;
    granted = granted || (static_cast<uint8_t>(e.access) & static_cast<uint8_t>(want)) != 0;
  }
  return granted;
}

bool acl_view::may_publish(std::string_view topic) const {
  return allowed(topic, acl_access::write);
}

bool acl_view::may_receive(std::string_view topic) const {
  return allowed(topic, acl_access::read);
}

bool acl_view::may_subscribe(std::string_view filter) const {
  bool granted = false;
  for (const auto& e : entries_) {
    if (!filter_covers(e.filter, filter))
      continue;
    if (e.access == acl_access::deny)
      return false;
    granted = granted || (static_cast<uint8_t>(e.access) & static_cast<uint8_t>(acl_access::read)) != 0;
  }
  return granted;
}

std::shared_ptr<const acl_view> acl_table::view_for(std::optional<std::string_view> username,
                                                    std::string_view client_id) const {
  auto v = std::make_shared<acl_view>();
  if (username) {
    if (auto i = users_.find(std::string{*username}); i != users_.end())
      v->entries_ = i->second;
  } else {
    v->entries_ = anonymous_;
  }
  for (const auto& p : patterns_) {
    const bool uses_c = p.filter.find("%c") != std::string::npos;
    const bool uses_u = p.filter.find("%u") != std::string::npos;
    if (uses_u && !username)
      continue;
    // A client id or user name with '+', '#' or '/' in it would widen or reshape the pattern:
    // such a substitution grants nothing. A deny pattern still applies (denying more is safe);
    // one that no longer parses as a filter denies everything.
    auto unsafe = [](std::string_view value) { return value.find_first_of("+#/") != std::string_view::npos; };
    const bool is_deny = p.access == acl_access::deny;
    if (!is_deny && ((uses_u && unsafe(*username)) || (uses_c && unsafe(client_id))))
      continue;
    auto e = p;
    substitute(e.filter, "%c", client_id);
    if (username)
      substitute(e.filter, "%u", *username);
    if (protocol::validate_topic_filter(e.filter)) {
      if (!is_deny)
        continue;
      e.filter = "#";
    }
    v->entries_.push_back(std::move(e));
  }
  return v;
}

size_t acl_table::size() const noexcept {
  size_t n = anonymous_.size() + patterns_.size();
  for (const auto& [u, es] : users_)
    n += es.size();
  return n;
}

struct acl_parser {
  static acl_parse_result parse(std::string_view text, std::string_view name) {
    auto table = std::make_shared<acl_table>();
    std::vector<acl_entry>* current = &table->anonymous_;
    auto err = detail::for_each_line(text, name, [&](size_t, std::string_view line) {
      auto rest = line;
      auto kind = word(rest);
      if (kind == "user") {
        if (rest.empty())
          return std::string("'user' needs a user name");
        current = &table->users_[std::string{rest}];
        return std::string{};
      }
      if (kind != "topic" && kind != "pattern")
        return std::string("unknown line '" + std::string{kind} + "' (expected user, topic or pattern)");
      acl_entry e;
      auto save = rest;
      auto first = word(rest);
      if (auto a = access_of(first)) {
        e.access = *a;
      } else if (!rest.empty()) {
        // Two words: the first must be the access (as in Mosquitto); a typo is not a filter.
        return std::string("unknown access '" + std::string{first} + "' (read, write, readwrite or deny)");
      } else {
        rest = save; // one word: the filter, readwrite
      }
      if (rest.empty())
        return std::string("'" + std::string{kind} + "' needs a topic filter");
      e.filter = std::string{rest};
      // %c / %u stand for one level's worth of text; validate with a placeholder.
      std::string check = e.filter;
      substitute(check, "%c", "c");
      substitute(check, "%u", "u");
      if (protocol::validate_topic_filter(check))
        return std::string("'" + e.filter + "' is not a valid topic filter");
      if (kind == "pattern")
        table->patterns_.push_back(std::move(e));
      else
        current->push_back(std::move(e));
      return std::string{};
    });
    if (!err.empty())
      return {nullptr, std::move(err)};
    return {std::move(table), {}};
  }
};

acl_parse_result parse_acl_file(std::string_view text, std::string_view name) {
  return acl_parser::parse(text, name);
}

acl_parse_result load_acl_file(const std::string& path) {
  std::string text;
  std::string error;
  if (!detail::read_text_file(path, "ACL file", text, error))
    return {nullptr, std::move(error)};
  return parse_acl_file(text, path);
}

} // namespace amq::auth
