#define CAF_SUITE auth_acl_file
#include <caf/test/unit_test.hpp>

#include "amq/auth/acl_file.hpp"
#include "amq/auth/password_file.hpp"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

using namespace amq::auth;
namespace fs = std::filesystem;

namespace {

// Shaped like Mosquitto's documented example (mosquitto.conf(5), "acl_file").
constexpr const char* example = R"(# anonymous clients
topic read $SYS/#
topic read public/#

user alice
topic readwrite sensors/#
topic deny sensors/secret/#
topic write  alerts/alice

user bob
topic sensors/+/temp
topic read logs/#

# every client
pattern write devices/%c/up
pattern read devices/%u/down
pattern deny devices/%c/up/forbidden
)";

std::shared_ptr<const acl_table> parsed(const std::string& text) {
  auto r = parse_acl_file(text, "acl");
  if (!r.table)
    CAF_FAIL("parse failed: " << r.error);
  return r.table;
}

} // namespace

CAF_TEST(filter coverage follows the topic filter rules) {
  CAF_CHECK(filter_covers("#", "a/b"));
  CAF_CHECK(filter_covers("#", "#"));
  CAF_CHECK(filter_covers("a/#", "a"));
  CAF_CHECK(filter_covers("a/#", "a/+/c"));
  CAF_CHECK(filter_covers("a/+", "a/+"));
  CAF_CHECK(filter_covers("a/+", "a/b"));
  CAF_CHECK(filter_covers("a/b", "a/b"));
  CAF_CHECK(!filter_covers("a/+", "a/#"));
  CAF_CHECK(!filter_covers("a/b", "a/+"));
  CAF_CHECK(!filter_covers("a/b", "a/b/c"));
  CAF_CHECK(!filter_covers("a/b/c", "a/b"));
  CAF_CHECK(!filter_covers("a/+", "a"));
  CAF_CHECK(!filter_covers("+/b", "a/c"));
  // The $-rule: a filter starting with a wildcard matches no $ topic.
  CAF_CHECK(!filter_covers("#", "$SYS/#"));
  CAF_CHECK(!filter_covers("+/x", "$SYS/x"));
  CAF_CHECK(filter_covers("$SYS/#", "$SYS/broker/+"));
}

CAF_TEST(a user gets its own entries and the patterns and deny wins) {
  auto t = parsed(example);
  CAF_CHECK_EQUAL(t->size(), 10u);
  auto alice = t->view_for(std::string_view{"alice"}, "dev1");
  CAF_CHECK(alice->may_publish("sensors/kitchen/temp"));
  CAF_CHECK(alice->may_receive("sensors/kitchen/temp"));
  CAF_CHECK(!alice->may_publish("sensors/secret/key"));
  CAF_CHECK(!alice->may_receive("sensors/secret/key"));
  CAF_CHECK(alice->may_publish("alerts/alice"));
  CAF_CHECK(!alice->may_receive("alerts/alice")); // write only
  CAF_CHECK(!alice->may_publish("public/news"));  // the anonymous section is not hers
  CAF_CHECK(!alice->may_publish("anything/else"));
  // Patterns: %c her client id, %u her user name; the deny pattern overrides.
  CAF_CHECK(alice->may_publish("devices/dev1/up"));
  CAF_CHECK(!alice->may_publish("devices/dev2/up"));
  CAF_CHECK(alice->may_receive("devices/alice/down"));
  CAF_CHECK(!alice->may_receive("devices/bob/down"));
  CAF_CHECK(!alice->may_publish("devices/dev1/up/forbidden"));
  // Subscribe: covered by a read entry, and not wholly inside a deny entry.
  CAF_CHECK(alice->may_subscribe("sensors/#"));   // overlaps the deny: granted, reads filtered
  CAF_CHECK(alice->may_subscribe("sensors/+/temp"));
  CAF_CHECK(!alice->may_subscribe("sensors/secret/#"));
  CAF_CHECK(!alice->may_subscribe("alerts/alice")); // write only
  CAF_CHECK(!alice->may_subscribe("#"));
  CAF_CHECK(alice->may_subscribe("devices/alice/down"));
  CAF_CHECK(!alice->may_subscribe("devices/+/down"));
  // No access word: readwrite.
  auto bob = t->view_for(std::string_view{"bob"}, "b-1");
  CAF_CHECK(bob->may_publish("sensors/x/temp"));
  CAF_CHECK(bob->may_receive("sensors/x/temp"));
  CAF_CHECK(!bob->may_publish("logs/today"));
  CAF_CHECK(bob->may_receive("logs/today"));
  // A user the file does not name gets the patterns only.
  auto carol = t->view_for(std::string_view{"carol"}, "c");
  CAF_CHECK(!carol->may_receive("sensors/x/temp"));
  CAF_CHECK(carol->may_publish("devices/c/up"));
}

CAF_TEST(anonymous clients get the lines before the first user and no percent-u patterns) {
  auto t = parsed(example);
  auto anon = t->view_for(std::nullopt, "dev9");
  CAF_CHECK(anon->may_receive("$SYS/broker/uptime"));
  CAF_CHECK(anon->may_receive("public/news"));
  CAF_CHECK(!anon->may_publish("public/news"));
  CAF_CHECK(!anon->may_receive("sensors/x/temp"));
  CAF_CHECK(anon->may_publish("devices/dev9/up")); // %c pattern
  for (const auto& e : anon->entries())
    CAF_CHECK(e.filter.find("%u") == std::string::npos);
}

CAF_TEST(a client id or user name with wildcards or slashes grants nothing through a pattern) {
  auto t = parsed("pattern write devices/%c/up\npattern deny private/%c\npattern read inbox/%u\n");
  auto wide = t->view_for(std::string_view{"#"}, "+");
  CAF_CHECK(!wide->may_publish("devices/x/up"));
  CAF_CHECK(!wide->may_receive("inbox/anyone"));
  auto slash = t->view_for(std::string_view{"u"}, "a/b");
  CAF_CHECK(!slash->may_publish("devices/a/b/up"));
  // A deny pattern still applies: substituted as is (it can only deny more).
  auto t2 = parsed("topic readwrite private/#\npattern deny private/%c\n");
  auto denied = t2->view_for(std::nullopt, "+");
  CAF_CHECK(!denied->may_publish("private/anything"));
}

CAF_TEST(bad lines are errors naming the file and line) {
  auto bad = [](const std::string& text) { return parse_acl_file(text, "f").error; };
  CAF_CHECK_EQUAL(bad("user alice\ntopic read a/#/b\n"), "f:2: 'a/#/b' is not a valid topic filter");
  CAF_CHECK_EQUAL(bad("topics read a\n"), "f:1: unknown line 'topics' (expected user, topic or pattern)");
  CAF_CHECK_EQUAL(bad("\n\nuser\n"), "f:3: 'user' needs a user name");
  CAF_CHECK_EQUAL(bad("topic read\n"), "f:1: 'topic' needs a topic filter");
  CAF_CHECK_EQUAL(bad("pattern write dev/%c+/x\n"), "f:1: 'dev/%c+/x' is not a valid topic filter");
  CAF_CHECK_EQUAL(bad("topic writ a/b\n"), "f:1: unknown access 'writ' (read, write, readwrite or deny)");
  // Comments, blank lines, CR and surrounding blanks are fine.
  CAF_CHECK(parse_acl_file("  # c\r\n\r\n\ttopic   read   a/b  \r\n", "f").table != nullptr);
}

CAF_TEST(the authenticator loads the acl file and keeps the old rules when a reload fails) {
  auto dir = fs::temp_directory_path() / ("amq-acl-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  auto path = (dir / "acl").string();
  { std::ofstream(path) << "user alice\ntopic read a/#\n"; }
  std::string error;
  auto a = authenticator::create({true, "", path}, error);
  CAF_REQUIRE(a != nullptr);
  CAF_CHECK(a->has_acl());
  CAF_CHECK(!a->active()); // the ACL alone refuses no CONNECT
  CAF_CHECK_EQUAL(a->acl_entries(), 1u);
  CAF_CHECK(a->acl_view_for(std::string_view{"alice"}, "c")->may_receive("a/b"));
  { std::ofstream(path) << "user alice\ntopic read b/#\n"; }
  CAF_CHECK_EQUAL(a->reload_acl(), "");
  CAF_CHECK(!a->acl_view_for(std::string_view{"alice"}, "c")->may_receive("a/b"));
  CAF_CHECK(a->acl_view_for(std::string_view{"alice"}, "c")->may_receive("b/c"));
  { std::ofstream(path) << "user alice\nbogus\n"; }
  CAF_CHECK_EQUAL(a->reload_acl(), path + ":2: unknown line 'bogus' (expected user, topic or pattern)");
  CAF_CHECK(a->acl_view_for(std::string_view{"alice"}, "c")->may_receive("b/c")); // kept
  // Without a file: no view at all (every topic open).
  auto none = authenticator::create({true, "", ""}, error);
  CAF_CHECK(none->acl_view_for(std::string_view{"alice"}, "c") == nullptr);
  // A bad file at start is an error.
  CAF_CHECK(authenticator::create({true, "", path}, error) == nullptr);
  CAF_CHECK_EQUAL(error, path + ":2: unknown line 'bogus' (expected user, topic or pattern)");
  CAF_CHECK(authenticator::create({true, "", (dir / "missing").string()}, error) == nullptr);
  CAF_CHECK_EQUAL(error, (dir / "missing").string() + ": cannot open the ACL file (No such file or directory)");
  fs::remove_all(dir);
}
