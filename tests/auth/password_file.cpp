#define CAF_SUITE auth_password_file
#include <caf/test/unit_test.hpp>

#include "amq/auth/password_file.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

using namespace amq::auth;
namespace fs = std::filesystem;

namespace {

// Written by Debian 12's mosquitto_passwd 2.0.11:
//   mosquitto_passwd -b -c f alice secret            ($7$, PBKDF2-HMAC-SHA512, 101 rounds)
//   mosquitto_passwd -H sha512 -b -c f bob 'pa ss:w' ($6$, SHA-512(password || salt))
constexpr const char* golden =
  "alice:$7$101$fxdPL78TstWUTQHq$0AnEmVmJZJEBpnMjHMoq7e5Lv42xleW9XdrvGqYbGbZ+3gWwIlavPd3BbWQW9zwFK"
  "wjlb2JGr/vWHy9DOSHkGA==\n"
  "bob:$6$KgvNlN70vhrrx8Ga$8Iy/JN8oR1AzhHFNOFhmlF70IBPHY0I/Jvd8NUpKRu0csvWOGrwNVtR+fH6UEIlSNYUaDzeA"
  "sAF2h86w3QHQSQ==\n";

/// A temporary directory removed at the end of the test.
struct temp_dir {
  fs::path path;
  temp_dir() {
    auto templ = (fs::temp_directory_path() / "amq-auth-XXXXXX").string();
    CAF_REQUIRE(mkdtemp(templ.data()) != nullptr);
    path = templ;
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s)
    out += c == '\'' ? std::string{"'\\''"} : std::string(1, c);
  return out + "'";
}

/// Runs the real mosquitto_passwd in batch mode; `hash` is sha512-pbkdf2 or sha512.
void mosquitto_passwd(const fs::path& file, const std::string& hash, const std::string& user,
                      const std::string& password, bool create) {
  auto cmd = "mosquitto_passwd -H " + hash + (create ? " -c" : "") + " -b " + quote(file.string())
             + " " + quote(user) + " " + quote(password) + " >/dev/null 2>&1";
  auto rc = std::system(cmd.c_str());
  CAF_REQUIRE_EQUAL(rc, 0); // mosquitto_passwd: Debian package mosquitto (scripts/install-deps.sh)
}

void write(const fs::path& file, const std::string& text) {
  std::ofstream out{file, std::ios::binary | std::ios::trunc};
  out << text;
}

/// The parse error for `text` (empty if it parsed).
std::string error_of(const std::string& text) {
  auto r = parse_password_file(text, "pw");
  CAF_CHECK(r.table == nullptr || r.error.empty());
  return r.error;
}

} // namespace

CAF_TEST(golden vectors of mosquitto_passwd verify) {
  auto r = parse_password_file(golden, "golden");
  CAF_REQUIRE(r.table != nullptr);
  CAF_CHECK_EQUAL(r.error, "");
  CAF_CHECK_EQUAL(r.table->size(), 2u);
  const auto* alice = r.table->find("alice");
  CAF_REQUIRE(alice != nullptr);
  CAF_CHECK(alice->kind == password_entry::scheme::pbkdf2_sha512);
  CAF_CHECK_EQUAL(alice->iterations, 101u);
  CAF_CHECK_EQUAL(alice->salt.size(), 12u);
  CAF_CHECK(verify(*alice, "secret"));
  CAF_CHECK(!verify(*alice, "Secret"));
  CAF_CHECK(!verify(*alice, "secre"));
  CAF_CHECK(!verify(*alice, "secret "));
  CAF_CHECK(!verify(*alice, ""));
  const auto* bob = r.table->find("bob");
  CAF_REQUIRE(bob != nullptr);
  CAF_CHECK(bob->kind == password_entry::scheme::sha512);
  CAF_CHECK(verify(*bob, "pa ss:w"));
  CAF_CHECK(!verify(*bob, "pa ss:W"));
  CAF_CHECK(!verify(*bob, "secret"));
  CAF_CHECK(r.table->find("carol") == nullptr);
  CAF_CHECK(r.table->find("alic") == nullptr);
  CAF_CHECK(r.table->find("Alice") == nullptr);
}

CAF_TEST(files written by mosquitto_passwd now verify) {
  temp_dir dir;
  auto file = dir.path / "passwd";
  mosquitto_passwd(file, "sha512-pbkdf2", "dev-1", "s3cret!", true);
  mosquitto_passwd(file, "sha512", "legacy", "old:pass word", false);
  mosquitto_passwd(file, "sha512-pbkdf2", "utf8-user-\xc3\xa9", "p\xc3\xa4ss\xe2\x82\xac", false);
  mosquitto_passwd(file, "sha512-pbkdf2", "empty-ish", " ", false);
  auto r = load_password_file(file.string());
  CAF_REQUIRE(r.table != nullptr);
  CAF_CHECK_EQUAL(r.error, "");
  CAF_CHECK_EQUAL(r.table->size(), 4u);
  auto ok = [&](const char* user, const char* password) {
    const auto* e = r.table->find(user);
    return e != nullptr && verify(*e, password);
  };
  CAF_CHECK(ok("dev-1", "s3cret!"));
  CAF_CHECK(!ok("dev-1", "s3cret"));
  CAF_CHECK(ok("legacy", "old:pass word"));
  CAF_CHECK(!ok("legacy", "old"));
  CAF_CHECK(ok("utf8-user-\xc3\xa9", "p\xc3\xa4ss\xe2\x82\xac"));
  CAF_CHECK(!ok("utf8-user-\xc3\xa9", "pass"));
  CAF_CHECK(ok("empty-ish", " "));
  CAF_CHECK(!ok("empty-ish", ""));
  CAF_CHECK(r.table->find("legacy")->kind == password_entry::scheme::sha512);
  CAF_CHECK(r.table->find("dev-1")->kind == password_entry::scheme::pbkdf2_sha512);
  // mosquitto_passwd -D removes a user; the file still parses.
  auto rm = "mosquitto_passwd -D " + quote(file.string()) + " legacy >/dev/null 2>&1";
  CAF_REQUIRE_EQUAL(std::system(rm.c_str()), 0);
  auto r2 = load_password_file(file.string());
  CAF_REQUIRE(r2.table != nullptr);
  CAF_CHECK_EQUAL(r2.table->size(), 3u);
  CAF_CHECK(r2.table->find("legacy") == nullptr);
}

CAF_TEST(comments blank lines CRLF and blanks around a line are skipped) {
  std::string text = "# users\n\n   \n";
  text += std::string{golden}.substr(0, std::string{golden}.find('\n')) + "\r\n";
  text += "\t# bob below\n  " + std::string{golden}.substr(std::string{golden}.find('\n') + 1);
  auto r = parse_password_file(text, "pw");
  CAF_REQUIRE(r.table != nullptr);
  CAF_CHECK_EQUAL(r.table->size(), 2u);
  CAF_CHECK(verify(*r.table->find("alice"), "secret"));
  CAF_CHECK(verify(*r.table->find("bob"), "pa ss:w"));
  auto empty = parse_password_file("", "pw");
  CAF_REQUIRE(empty.table != nullptr);
  CAF_CHECK_EQUAL(empty.table->size(), 0u);
}

CAF_TEST(a bad line is an error naming file and line) {
  std::string alice = std::string{golden}.substr(0, std::string{golden}.find('\n') + 1);
  CAF_CHECK_EQUAL(error_of(alice + "carol\n"), "pw:2: expected user:hash, found no ':'");
  CAF_CHECK_EQUAL(error_of("# c\n:$6$abc$def\n"), "pw:2: empty user name");
  CAF_CHECK_EQUAL(error_of("dave:\n"), "pw:1: user 'dave' has no password hash");
  CAF_CHECK_EQUAL(error_of("dave:hunter2\n"),
                  "pw:1: user 'dave' has a plain-text password; hash the file with "
                  "mosquitto_passwd -U");
  CAF_CHECK_EQUAL(error_of("dave:$5$abc$def\n"),
                  "pw:1: user 'dave': unknown hash type (expected $6$ or $7$)");
  CAF_CHECK_EQUAL(error_of("dave:$6$abc\n"), "pw:1: user 'dave': expected $6$<salt>$<hash>");
  CAF_CHECK_EQUAL(error_of("dave:$7$101$abc\n"),
                  "pw:1: user 'dave': expected $7$<iterations>$<salt>$<hash>");
  CAF_CHECK_EQUAL(error_of("dave:$7$0$abcd$abcd\n"),
                  "pw:1: user 'dave': iterations must be between 1 and 1000000, got '0'");
  CAF_CHECK_EQUAL(error_of("dave:$7$1000001$abcd$abcd\n"),
                  "pw:1: user 'dave': iterations must be between 1 and 1000000, got '1000001'");
  CAF_CHECK_EQUAL(error_of("dave:$7$1x$abcd$abcd\n"),
                  "pw:1: user 'dave': iterations must be between 1 and 1000000, got '1x'");
  CAF_CHECK_EQUAL(error_of("dave:$6$ab!d$abcd\n"), "pw:1: user 'dave': salt is not base64");
  CAF_CHECK_EQUAL(error_of("dave:$6$$abcd\n"), "pw:1: user 'dave': salt is not base64");
  CAF_CHECK_EQUAL(error_of("dave:$6$abcd$ab*d\n"), "pw:1: user 'dave': hash is not base64");
  CAF_CHECK_EQUAL(error_of("dave:$6$abcd$abcd\n"),
                  "pw:1: user 'dave': hash is 3 bytes, expected 64 (SHA-512)");
  CAF_CHECK_EQUAL(error_of(alice + "\n" + alice),
                  "pw:3: user 'alice' is already defined on line 1");
  auto missing = load_password_file("/nonexistent/amq-passwd");
  CAF_CHECK(missing.table == nullptr);
  CAF_CHECK_EQUAL(missing.error, "/nonexistent/amq-passwd: cannot open the password file "
                                 "(No such file or directory)");
}

CAF_TEST(authenticator verdicts) {
  temp_dir dir;
  auto file = dir.path / "passwd";
  write(file, golden);
  std::string err;
  // Defaults: anonymous allowed, no password file: everything accepted, nothing to check.
  auto open = authenticator::create({}, err);
  CAF_REQUIRE(open != nullptr);
  CAF_CHECK(!open->active());
  CAF_CHECK(open->check(std::nullopt, std::nullopt) == verdict::accepted);
  CAF_CHECK(open->check("anyone", "anything") == verdict::accepted);
  // No anonymous clients, no password file: nobody can be authenticated, so
  // everybody is refused (fail closed; an operator who turned anonymous off
  // must not get a broker that takes any user name).
  auto named = authenticator::create({false, ""}, err);
  CAF_REQUIRE(named != nullptr);
  CAF_CHECK(named->active());
  CAF_CHECK(named->check(std::nullopt, std::nullopt) == verdict::not_authorized);
  CAF_CHECK(named->check("anyone", std::nullopt) == verdict::not_authorized);
  CAF_CHECK(named->check("anyone", "anything") == verdict::not_authorized);
  // A password file, anonymous allowed.
  auto a = authenticator::create({true, file.string()}, err);
  CAF_REQUIRE(a != nullptr);
  CAF_CHECK_EQUAL(err, "");
  CAF_CHECK(a->active());
  CAF_CHECK_EQUAL(a->users(), 2u);
  CAF_CHECK(a->check(std::nullopt, std::nullopt) == verdict::accepted);
  CAF_CHECK(a->check("alice", "secret") == verdict::accepted);
  CAF_CHECK(a->check("bob", "pa ss:w") == verdict::accepted);
  CAF_CHECK(a->check("alice", "wrong") == verdict::bad_credentials);
  CAF_CHECK(a->check("alice", std::nullopt) == verdict::bad_credentials);
  CAF_CHECK(a->check("alice", "") == verdict::bad_credentials);
  // HMAC pads a short key with zeros, so PBKDF2 alone takes "secret\0" for "secret";
  // a password with a NUL byte is refused before hashing.
  using namespace std::string_view_literals;
  CAF_CHECK(verify(*parse_password_file(golden, "g").table->find("alice"), "secret\0"sv));
  CAF_CHECK(a->check("alice", "secret\0"sv) == verdict::bad_credentials);
  CAF_CHECK(a->check("alice", "secret\0x"sv) == verdict::bad_credentials);
  CAF_CHECK(a->check("mallory", "secret") == verdict::bad_credentials);
  CAF_CHECK(a->check("mallory", std::nullopt) == verdict::bad_credentials);
  CAF_CHECK(a->check("", "secret") == verdict::bad_credentials);
  // The same file, anonymous refused.
  auto strict = authenticator::create({false, file.string()}, err);
  CAF_REQUIRE(strict != nullptr);
  CAF_CHECK(strict->check(std::nullopt, std::nullopt) == verdict::not_authorized);
  CAF_CHECK(strict->check(std::nullopt, "secret") == verdict::not_authorized);
  CAF_CHECK(strict->check("alice", "secret") == verdict::accepted);
  // A bad file at creation: no authenticator, the error names file and line.
  write(dir.path / "bad", "# x\nalice:secret\n");
  auto bad = authenticator::create({true, (dir.path / "bad").string()}, err);
  CAF_CHECK(bad == nullptr);
  CAF_CHECK_EQUAL(err, (dir.path / "bad").string()
                         + ":2: user 'alice' has a plain-text password; hash the file with "
                           "mosquitto_passwd -U");
}

CAF_TEST(reload replaces the table and keeps it when the new file is bad) {
  temp_dir dir;
  auto file = dir.path / "passwd";
  mosquitto_passwd(file, "sha512-pbkdf2", "u1", "p1", true);
  std::string err;
  auto a = authenticator::create({false, file.string()}, err);
  CAF_REQUIRE(a != nullptr);
  CAF_CHECK(a->check("u1", "p1") == verdict::accepted);
  CAF_CHECK(a->check("u2", "p2") == verdict::bad_credentials);
  // A user added and u1's password changed: both seen after reload, not before.
  mosquitto_passwd(file, "sha512-pbkdf2", "u2", "p2", false);
  mosquitto_passwd(file, "sha512-pbkdf2", "u1", "p1-new", false);
  CAF_CHECK(a->check("u2", "p2") == verdict::bad_credentials);
  CAF_CHECK_EQUAL(a->reload(), "");
  CAF_CHECK_EQUAL(a->users(), 2u);
  CAF_CHECK(a->check("u2", "p2") == verdict::accepted);
  CAF_CHECK(a->check("u1", "p1") == verdict::bad_credentials);
  CAF_CHECK(a->check("u1", "p1-new") == verdict::accepted);
  // A bad line: the old table stays.
  {
    std::ofstream out{file, std::ios::app};
    out << "u3:plain\n";
  }
  CAF_CHECK_EQUAL(a->reload(), file.string() + ":3: user 'u3' has a plain-text password; hash "
                                                "the file with mosquitto_passwd -U");
  CAF_CHECK_EQUAL(a->users(), 2u);
  CAF_CHECK(a->check("u2", "p2") == verdict::accepted);
  // The file gone: the old table stays too.
  fs::remove(file);
  CAF_CHECK(!a->reload().empty());
  CAF_CHECK(a->check("u1", "p1-new") == verdict::accepted);
}
