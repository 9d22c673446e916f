#pragma once
/// Client authentication: mosquitto password files and the CONNECT check.
///
/// The password file has the format Debian's `mosquitto_passwd` (mosquitto 2.0)
/// writes, so operators manage users with that tool:
///
///     # comment
///     alice:$7$101$<salt base64>$<hash base64>     PBKDF2-HMAC-SHA512, 101 iterations
///     bob:$6$<salt base64>$<hash base64>           SHA-512(password || salt)
///
/// One user per line, split at the first ':'; blank lines and lines starting
/// with '#' are skipped; spaces and tabs around a line are ignored. Anything
/// else (a plain-text password, an unknown hash type, bad base64, a hash that
/// is not 64 bytes, a duplicate user) is an error naming the file and line.
///
/// Verification hashes the password the client sent with the entry's salt
/// (and iterations) and compares in constant time (CRYPTO_memcmp). Nothing is
/// cached: every CONNECT with a user name is hashed again. No CAF, no I/O
/// besides reading the file; thread-safe (checks run on the I/O threads).

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "amq/auth/acl_file.hpp"

namespace amq::auth {

/// One user's stored password hash.
struct password_entry {
  enum class scheme : uint8_t {
    sha512,        ///< "$6$": SHA-512 over password then salt
    pbkdf2_sha512, ///< "$7$": PBKDF2-HMAC-SHA512, `iterations` rounds
  };
  scheme kind = scheme::pbkdf2_sha512;
  uint32_t iterations = 0; ///< pbkdf2_sha512 only
  std::vector<uint8_t> salt;
  std::vector<uint8_t> hash; ///< 64 bytes
};

/// Largest iteration count accepted in a "$7$" line (mosquitto_passwd writes 101):
/// every CONNECT of that user runs them on an I/O thread.
inline constexpr uint32_t max_iterations = 1'000'000;

/// The users of one password file, immutable once parsed.
class password_table {
public:
  const password_entry* find(std::string_view user) const;
  size_t size() const noexcept { return users_.size(); }

private:
  friend struct table_parser;
  std::unordered_map<std::string, password_entry> users_;
};

/// A table, or the first error as "<name>:<line>: <what>" (or "<name>: <what>").
struct parse_result {
  std::shared_ptr<const password_table> table;
  std::string error;
};

/// Parses the text of a password file; `name` is used in error messages.
parse_result parse_password_file(std::string_view text, std::string_view name);

/// Reads and parses the file at `path`.
parse_result load_password_file(const std::string& path);

/// True if `password` hashes to the entry's hash (constant-time comparison).
bool verify(const password_entry& entry, std::string_view password);

/// What a CONNECT gets.
enum class verdict : uint8_t {
  accepted,
  bad_credentials, ///< unknown user, wrong or missing password: 3.1.1 0x04, 5.0 0x86
  not_authorized,  ///< no user name while anonymous clients are refused: 3.1.1 0x05, 5.0 0x87
};

std::string_view to_string(verdict v) noexcept;

struct auth_options {
  /// false: a CONNECT without a user name is refused (not_authorized).
  bool allow_anonymous = true;
  /// mosquitto_passwd file; empty: user names are not checked.
  std::string password_file;
  /// Mosquitto acl_file (amq/auth/acl_file.hpp); empty: every topic is open to every client.
  std::string acl_file;
};

/// The CONNECT check: anonymous rule plus the password table, which `reload`
/// replaces atomically (the old one stays if the new file is bad).
class authenticator {
public:
  /// Loads the password file (if any). On error `error` is set and the
  /// authenticator must not be used.
  static std::unique_ptr<authenticator> create(auth_options opts, std::string& error);

  /// True if check() can refuse anything (allow_anonymous false or a password file).
  bool active() const noexcept { return !opts_.allow_anonymous || !opts_.password_file.empty(); }

  const auth_options& options() const noexcept { return opts_; }

  /// The verdict for a CONNECT's user name and password.
  verdict check(std::optional<std::string_view> username,
                std::optional<std::string_view> password) const;

  /// Re-reads the password file. Returns an empty string on success (or when
  /// there is no password file), else the error; the old table stays then.
  std::string reload();

  /// Users in the current table (0 without a password file).
  size_t users() const;

  /// True with an ACL file (whether or not check() can refuse anything).
  bool has_acl() const noexcept { return !opts_.acl_file.empty(); }

  /// The current ACL's view for a client (username nullopt: anonymous); null without an ACL file.
  std::shared_ptr<const acl_view> acl_view_for(std::optional<std::string_view> username,
                                               std::string_view client_id) const;

  /// Re-reads the ACL file. Empty string on success (or without one), else the error; the old
  /// ACL stays then.
  std::string reload_acl();

  /// Entries in the current ACL (0 without one).
  size_t acl_entries() const;

private:
  explicit authenticator(auth_options opts) : opts_(std::move(opts)) {}
  std::shared_ptr<const password_table> table() const;

  auth_options opts_;
  mutable std::mutex mtx_;
  std::shared_ptr<const password_table> table_; ///< guarded by mtx_
  std::shared_ptr<const acl_table> acl_;        ///< guarded by mtx_
};

} // namespace amq::auth
