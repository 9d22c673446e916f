#include "amq/auth/password_file.hpp"

#include "text_file.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <sstream>

namespace amq::auth {

namespace {

constexpr size_t hash_size = 64; // SHA-512

using detail::trim;

int b64_value(char c) {
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '+')
    return 62;
  if (c == '/')
    return 63;
  return -1;
}

/// Standard base64 (RFC 4648 §4), '=' padding optional. False on any other character.
bool b64_decode(std::string_view in, std::vector<uint8_t>& out) {
  while (!in.empty() && in.back() == '=')
    in.remove_suffix(1);
  if (in.size() % 4 == 1)
    return false;
  out.clear();
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v = b64_value(c);
    if (v < 0)
      return false;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<uint8_t>(acc >> bits));
      acc &= (1u << bits) - 1;
    }
  }
  return true;
}

/// Splits `s` at '$' into exactly `n` fields.
bool split_dollar(std::string_view s, size_t n, std::vector<std::string_view>& out) {
  out.clear();
  while (true) {
    auto d = s.find('$');
    out.push_back(s.substr(0, d));
    if (d == std::string_view::npos)
      break;
    s.remove_prefix(d + 1);
  }
  return out.size() == n;
}

bool digest(const password_entry& e, std::string_view password, std::array<uint8_t, hash_size>& out) {
  if (e.kind == password_entry::scheme::pbkdf2_sha512) {
    return PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()), e.salt.data(),
                             static_cast<int>(e.salt.size()), static_cast<int>(e.iterations),
                             EVP_sha512(), static_cast<int>(out.size()), out.data())
           == 1;
  }
  auto* ctx = EVP_MD_CTX_new();
  if (ctx == nullptr)
    return false;
  unsigned int len = 0;
  bool ok = EVP_DigestInit_ex(ctx, EVP_sha512(), nullptr) == 1
            && EVP_DigestUpdate(ctx, password.data(), password.size()) == 1
            && EVP_DigestUpdate(ctx, e.salt.data(), e.salt.size()) == 1
            && EVP_DigestFinal_ex(ctx, out.data(), &len) == 1 && len == out.size();
  EVP_MD_CTX_free(ctx);
  return ok;
}

/// Hashed for an unknown user so that it takes as long as a known one with
/// mosquitto_passwd's default (101 PBKDF2 iterations): no user enumeration by timing.
const password_entry& dummy_entry() {
  static const password_entry e{password_entry::scheme::pbkdf2_sha512, 101,
                                std::vector<uint8_t>(12, 0x5a),
                                std::vector<uint8_t>(hash_size, 0)};
  return e;
}

} // namespace

struct table_parser {
  static parse_result parse(std::string_view text, std::string_view name) {
    auto table = std::make_shared<password_table>();
    std::unordered_map<std::string, size_t> line_of;
    std::vector<std::string_view> fields;
    auto err = detail::for_each_line(text, name, [&](size_t line_no, std::string_view line) {
      auto colon = line.find(':');
      if (colon == std::string_view::npos)
        return std::string("expected user:hash, found no ':'");
      auto user = trim(line.substr(0, colon));
      auto hashed = trim(line.substr(colon + 1));
      if (user.empty())
        return std::string("empty user name");
      std::string user_s{user};
      if (auto it = line_of.find(user_s); it != line_of.end())
        return std::string("user '" + user_s + "' is already defined on line " + std::to_string(it->second));
      password_entry e;
      if (hashed.starts_with("$6$")) {
        if (!split_dollar(hashed.substr(3), 2, fields))
          return std::string("user '" + user_s + "': expected $6$<salt>$<hash>");
        e.kind = password_entry::scheme::sha512;
      } else if (hashed.starts_with("$7$")) {
        if (!split_dollar(hashed.substr(3), 3, fields))
          return std::string("user '" + user_s + "': expected $7$<iterations>$<salt>$<hash>");
        e.kind = password_entry::scheme::pbkdf2_sha512;
        auto it = fields[0];
        auto [end, ec] = std::from_chars(it.data(), it.data() + it.size(), e.iterations);
        if (ec != std::errc{} || end != it.data() + it.size() || e.iterations == 0
            || e.iterations > max_iterations)
          return std::string("user '" + user_s + "': iterations must be between 1 and "
                      + std::to_string(max_iterations) + ", got '" + std::string{it} + "'");
        fields.erase(fields.begin());
      } else if (hashed.empty()) {
        return std::string("user '" + user_s + "' has no password hash");
      } else if (hashed.front() != '$') {
        return std::string("user '" + user_s
                    + "' has a plain-text password; hash the file with mosquitto_passwd -U");
      } else {
        return std::string("user '" + user_s + "': unknown hash type (expected $6$ or $7$)");
      }
      if (!b64_decode(fields[0], e.salt) || e.salt.empty())
        return std::string("user '" + user_s + "': salt is not base64");
      if (!b64_decode(fields[1], e.hash))
        return std::string("user '" + user_s + "': hash is not base64");
      if (e.hash.size() != hash_size)
        return std::string("user '" + user_s + "': hash is " + std::to_string(e.hash.size())
                    + " bytes, expected 64 (SHA-512)");
      line_of.emplace(user_s, line_no);
      table->users_.emplace(std::move(user_s), std::move(e));
      return std::string{};
    });
    if (!err.empty())
      return parse_result{nullptr, std::move(err)};
    return parse_result{std::move(table), {}};
  }
};

const password_entry* password_table::find(std::string_view user) const {
  auto it = users_.find(std::string{user});
  return it == users_.end() ? nullptr : &it->second;
}

parse_result parse_password_file(std::string_view text, std::string_view name) {
  return table_parser::parse(text, name);
}

parse_result load_password_file(const std::string& path) {
  std::string text;
  std::string error;
  if (!detail::read_text_file(path, "password file", text, error))
    return parse_result{nullptr, std::move(error)};
  return parse_password_file(text, path);
}

bool verify(const password_entry& entry, std::string_view password) {
  std::array<uint8_t, hash_size> got{};
  if (entry.hash.size() != hash_size || !digest(entry, password, got))
    return false;
  return CRYPTO_memcmp(got.data(), entry.hash.data(), hash_size) == 0;
}

std::string_view to_string(verdict v) noexcept {
  switch (v) {
    case verdict::accepted:
      return "accepted";
    case verdict::bad_credentials:
      return "bad user name or password";
    case verdict::not_authorized:
      return "not authorized (auth.allow_anonymous is false and the client gave no user name "
             "or there is no auth.password_file)";
  }
  return "?";
}

namespace {

/// Loads `path` with `load` into `slot` under `mtx` (unchanged on error); the error or "".
template <class Load, class Slot>
std::string reload_into(const std::string& path, Load load, std::mutex& mtx, Slot& slot) {
  if (path.empty())
    return {};
  auto r = load(path);
  if (!r.table)
    return std::move(r.error);
  std::lock_guard<std::mutex> guard{mtx};
  slot = std::move(r.table);
  return {};
}

} // namespace

std::unique_ptr<authenticator> authenticator::create(auth_options opts, std::string& error) {
  std::unique_ptr<authenticator> a{new authenticator(std::move(opts))};
  error = reload_into(a->opts_.password_file, load_password_file, a->mtx_, a->table_);
  if (error.empty())
    error = reload_into(a->opts_.acl_file, load_acl_file, a->mtx_, a->acl_);
  if (!error.empty())
    return nullptr;
  return a;
}

std::shared_ptr<const password_table> authenticator::table() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return table_;
}

verdict authenticator::check(std::optional<std::string_view> username,
                             std::optional<std::string_view> password) const {
  if (!username)
    return opts_.allow_anonymous ? verdict::accepted : verdict::not_authorized;
  auto t = table();
  if (!t) // no password file: nothing to check a user name against; without
           // anonymous clients that refuses everyone (fail closed)
    return opts_.allow_anonymous ? verdict::accepted : verdict::not_authorized;
  const auto* e = t->find(*username);
  if (e == nullptr) {
    (void) verify(dummy_entry(), password.value_or(std::string_view{}));
    return verdict::bad_credentials;
  }
  // A password with a NUL byte never matches: mosquitto_passwd cannot write one,
  // and HMAC would take "pw\0" for "pw" (a short key is padded with zeros).
  if (!password || password->find('\0') != std::string_view::npos) {
    (void) verify(*e, std::string_view{});
    return verdict::bad_credentials;
  }
  return verify(*e, *password) ? verdict::accepted : verdict::bad_credentials;
}


std::string authenticator::reload() {
  return reload_into(opts_.password_file, load_password_file, mtx_, table_);
}

std::shared_ptr<const acl_view> authenticator::acl_view_for(std::optional<std::string_view> username,
                                                            std::string_view client_id) const {
  std::shared_ptr<const acl_table> acl;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    acl = acl_;
  }
  return acl ? acl->view_for(username, client_id) : nullptr;
}

std::string authenticator::reload_acl() {
  return reload_into(opts_.acl_file, load_acl_file, mtx_, acl_);
}

size_t authenticator::acl_entries() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return acl_ ? acl_->size() : 0;
}

size_t authenticator::users() const {
  auto t = table();
  return t ? t->size() : 0;
}

} // namespace amq::auth
