// Topic names, topic filters, shared subscriptions and matching, from MQTT
// 5.0 §4.7 / §4.8.2 (3.1.1 §4.7), including the spec's own examples.
// One test per rule.
#define CAF_SUITE protocol_topic
#include <caf/test/unit_test.hpp>

#include "amq/protocol/topic.hpp"

#include <string>
#include <string_view>

using namespace amq::protocol;
using namespace std::literals;

namespace {

bool filter_ok(std::string_view f) {
  auto err = validate_topic_filter(f);
  if (err)
    CAF_TEST_PRINT_ERROR("filter \"" << f << "\" rejected: "
                                     << err->message);
  return !err;
}

/// Rejected with 0x8F Topic Filter invalid (topic.hpp) and a message.
bool filter_bad(std::string_view f) {
  auto err = validate_topic_filter(f);
  if (!err) {
    CAF_TEST_PRINT_ERROR("filter \"" << f << "\" accepted");
    return false;
  }
  if (err->code != reason_code::topic_filter_invalid) {
    CAF_TEST_PRINT_ERROR("filter \"" << f << "\": code "
                                     << int{static_cast<uint8_t>(err->code)}
                                     << ", expected 0x8F");
    return false;
  }
  if (err->message.empty()) {
    CAF_TEST_PRINT_ERROR("filter \"" << f << "\": empty message");
    return false;
  }
  return true;
}

bool name_ok(std::string_view n) {
  auto err = validate_topic_name(n);
  if (err)
    CAF_TEST_PRINT_ERROR("name \"" << n << "\" rejected: " << err->message);
  return !err;
}

/// Rejected with 0x90 Topic Name invalid and a message.
bool name_bad(std::string_view n) {
  auto err = validate_topic_name(n);
  if (!err) {
    CAF_TEST_PRINT_ERROR("name \"" << n << "\" accepted");
    return false;
  }
  if (err->code != reason_code::topic_name_invalid) {
    CAF_TEST_PRINT_ERROR("name \"" << n << "\": code "
                                   << int{static_cast<uint8_t>(err->code)}
                                   << ", expected 0x90");
    return false;
  }
  if (err->message.empty()) {
    CAF_TEST_PRINT_ERROR("name \"" << n << "\": empty message");
    return false;
  }
  return true;
}

bool matches(std::string_view filter, std::string_view name) {
  return topic_matches(filter, name);
}

} // namespace

// -- topic names (§4.7.1, §4.7.3, §3.3.2.1) -----------------------------------

CAF_TEST(plain topic names are valid) {
  CAF_CHECK(name_ok("sport/tennis/player1"));
  CAF_CHECK(name_ok("/"));            // two empty levels (§4.7.1.1)
  CAF_CHECK(name_ok("a//b"));         // an empty level in the middle
  CAF_CHECK(name_ok("/finance"));     // leading separator
  CAF_CHECK(name_ok("finance/"));     // trailing separator
  CAF_CHECK(name_ok(" "));            // space is a valid character
  CAF_CHECK(name_ok("$SYS/broker"));  // '$' topics are valid names
  CAF_CHECK(name_ok("caf\xC3\xA9"sv)); // non-ASCII UTF-8
}

CAF_TEST(topic name with single level wildcard is invalid) {
  // [MQTT-3.3.2-2], [MQTT-4.7.0-1]: wildcards are for filters only.
  CAF_CHECK(name_bad("+"));
  CAF_CHECK(name_bad("a/+/b"));
  CAF_CHECK(name_bad("a+b")); // even inside a level
}

CAF_TEST(topic name with multi level wildcard is invalid) {
  CAF_CHECK(name_bad("#"));
  CAF_CHECK(name_bad("a/#"));
  CAF_CHECK(name_bad("a#"));
}

CAF_TEST(topic name longer than 65535 bytes is invalid) {
  // §1.5.4: UTF-8 strings are at most 65,535 bytes.
  CAF_CHECK(name_ok(std::string(65535, 'a')));
  CAF_CHECK(name_bad(std::string(65536, 'a')));
}

// -- topic filters (§4.7.1.2, §4.7.1.3, §4.7.3) ------------------------------

CAF_TEST(valid filters) {
  CAF_CHECK(filter_ok("sport/tennis/player1"));
  CAF_CHECK(filter_ok("#"));
  CAF_CHECK(filter_ok("+"));
  CAF_CHECK(filter_ok("sport/#"));
  CAF_CHECK(filter_ok("sport/tennis/#"));
  CAF_CHECK(filter_ok("sport/+"));
  CAF_CHECK(filter_ok("sport/+/player1"));
  CAF_CHECK(filter_ok("+/tennis/#"));
  CAF_CHECK(filter_ok("+/+"));
  CAF_CHECK(filter_ok("/+"));
  CAF_CHECK(filter_ok("+/"));
  CAF_CHECK(filter_ok("/"));
  CAF_CHECK(filter_ok("a//b"));
  CAF_CHECK(filter_ok("/#"));
  CAF_CHECK(filter_ok("$SYS/#"));
}

CAF_TEST(empty filter is invalid) {
  // [MQTT-4.7.3-1]: at least one character long.
  CAF_CHECK(filter_bad(""));
}

CAF_TEST(multi level wildcard must be last) {
  // [MQTT-4.7.1-1]: '#' must be the last character.
  CAF_CHECK(filter_bad("sport/tennis/#/ranking"));
  CAF_CHECK(filter_bad("#/a"));
  CAF_CHECK(filter_bad("##"));
}

CAF_TEST(multi level wildcard must occupy a whole level) {
  // §4.7.1.2: "sport/tennis#" is not valid.
  CAF_CHECK(filter_bad("sport/tennis#"));
  CAF_CHECK(filter_bad("a#"));
  CAF_CHECK(filter_bad("#a"));
  CAF_CHECK(filter_bad("a/b#"));
}

CAF_TEST(single level wildcard must occupy a whole level) {
  // [MQTT-4.7.1-2]: "sport+" is not valid.
  CAF_CHECK(filter_bad("sport+"));
  CAF_CHECK(filter_bad("a/+b"));
  CAF_CHECK(filter_bad("+a/b"));
  CAF_CHECK(filter_bad("a/b+/c"));
  CAF_CHECK(filter_bad("++"));
  CAF_CHECK(filter_bad("+#"));
}

CAF_TEST(filter longer than 65535 bytes is invalid) {
  CAF_CHECK(filter_ok(std::string(65535, 'a')));
  CAF_CHECK(filter_bad(std::string(65536, 'a')));
}

// -- shared subscriptions (§4.8.2) --------------------------------------------

CAF_TEST(parse shared subscription) {
  auto s = parse_shared("$share/grp/sport/+/score");
  CAF_REQUIRE(s.has_value());
  CAF_CHECK_EQUAL(s->group, "grp"sv);
  CAF_CHECK_EQUAL(s->filter, "sport/+/score"sv);
  auto h = parse_shared("$share/g/#");
  CAF_REQUIRE(h.has_value());
  CAF_CHECK_EQUAL(h->group, "g"sv);
  CAF_CHECK_EQUAL(h->filter, "#"sv);
}

CAF_TEST(non shared filters are not parsed as shared) {
  CAF_CHECK(!parse_shared("sport/tennis").has_value());
  CAF_CHECK(!parse_shared("$SYS/x").has_value());
  CAF_CHECK(!parse_shared("$sharex/g/a").has_value());
  CAF_CHECK(!parse_shared("$SHARE/g/a").has_value()); // case sensitive
  CAF_CHECK(!parse_shared("share/g/a").has_value());
  CAF_CHECK(!parse_shared("a/$share/g/b").has_value());
}

CAF_TEST(valid shared filters) {
  CAF_CHECK(filter_ok("$share/grp/a/b"));
  CAF_CHECK(filter_ok("$share/grp/#"));
  CAF_CHECK(filter_ok("$share/grp/+/x"));
  CAF_CHECK(filter_ok("$share/grp//")); // filter "/" is valid
  CAF_CHECK(filter_ok("$share/g-1_x/a"));
}

CAF_TEST(shared subscription with empty share name) {
  // [MQTT-4.8.2-1]: ShareName MUST be at least one character long.
  CAF_CHECK(filter_bad("$share//a"));
}

CAF_TEST(shared subscription share name with wildcard) {
  // [MQTT-4.8.2-2]: ShareName MUST NOT contain '/', '+' or '#'.
  CAF_CHECK(filter_bad("$share/g+/a"));
  CAF_CHECK(filter_bad("$share/+/a"));
  CAF_CHECK(filter_bad("$share/g#/a"));
  CAF_CHECK(filter_bad("$share/#/a"));
}

CAF_TEST(shared subscription without filter) {
  // §4.8.2: "$share/{ShareName}/{filter}" -- the filter is required.
  CAF_CHECK(filter_bad("$share/grp"));
  CAF_CHECK(filter_bad("$share/grp/"));
  CAF_CHECK(filter_bad("$share/"));
  // "$share" without the '/' is not a shared subscription (§4.8.2: it
  // "MUST start with $share/"), just an ordinary valid filter.
  CAF_CHECK(filter_ok("$share"));
}

CAF_TEST(shared subscription with an invalid inner filter) {
  CAF_CHECK(filter_bad("$share/grp/a/#/b"));
  CAF_CHECK(filter_bad("$share/grp/a+"));
}

// -- matching (§4.7.1.2, §4.7.1.3, §4.7.2) ------------------------------------

CAF_TEST(exact match only without wildcards) {
  CAF_CHECK(matches("sport/tennis", "sport/tennis"));
  CAF_CHECK(!matches("sport/tennis", "sport/tennis/player1"));
  CAF_CHECK(!matches("sport/tennis", "sport"));
  CAF_CHECK(!matches("sport/tennis", "sport/tennisX"));
  CAF_CHECK(!matches("a/b", "a/b/"));
  CAF_CHECK(matches("/", "/"));
}

CAF_TEST(topics are case sensitive) {
  // §4.7.3: "ACCOUNTS" and "Accounts" are two different topic names.
  CAF_CHECK(!matches("ACCOUNTS", "Accounts"));
  CAF_CHECK(!matches("Accounts/+", "accounts/x"));
}

CAF_TEST(multi level wildcard spec examples) {
  // §4.7.1.2: "sport/tennis/player1/#" matches these three.
  CAF_CHECK(matches("sport/tennis/player1/#", "sport/tennis/player1"));
  CAF_CHECK(matches("sport/tennis/player1/#", "sport/tennis/player1/ranking"));
  CAF_CHECK(matches("sport/tennis/player1/#",
                    "sport/tennis/player1/score/wimbledon"));
  // "sport/#" also matches the singular "sport" (parent level).
  CAF_CHECK(matches("sport/#", "sport"));
}

CAF_TEST(multi level wildcard matches the parent level) {
  CAF_CHECK(matches("sport/tennis/#", "sport/tennis"));
  CAF_CHECK(matches("sport/tennis/#", "sport/tennis/"));
  CAF_CHECK(matches("sport/tennis/#", "sport/tennis/a/b/c"));
  CAF_CHECK(!matches("sport/tennis/#", "sport"));
  CAF_CHECK(!matches("sport/tennis/#", "sport/tennisX"));
  CAF_CHECK(!matches("sport/tennis/#", "sport/badminton"));
}

CAF_TEST(hash alone matches every non dollar topic) {
  CAF_CHECK(matches("#", "a"));
  CAF_CHECK(matches("#", "a/b/c"));
  CAF_CHECK(matches("#", "/"));
  CAF_CHECK(matches("#", "/finance"));
}

CAF_TEST(single level wildcard spec examples) {
  // §4.7.1.3
  CAF_CHECK(matches("sport/tennis/+", "sport/tennis/player1"));
  CAF_CHECK(matches("sport/tennis/+", "sport/tennis/player2"));
  CAF_CHECK(!matches("sport/tennis/+", "sport/tennis/player1/ranking"));
  // "sport/+" does not match "sport" but does match "sport/".
  CAF_CHECK(!matches("sport/+", "sport"));
  CAF_CHECK(matches("sport/+", "sport/"));
  CAF_CHECK(matches("sport/+/player1", "sport/tennis/player1"));
}

CAF_TEST(leading separator spec examples) {
  // §4.7.1.3: "+/+" and "/+" match "/finance"; "+" does not.
  CAF_CHECK(matches("+/+", "/finance"));
  CAF_CHECK(matches("/+", "/finance"));
  CAF_CHECK(!matches("+", "/finance"));
  CAF_CHECK(matches("+/+", "/"));
  CAF_CHECK(matches("+", "finance"));
}

CAF_TEST(single level wildcard matches an empty level) {
  CAF_CHECK(matches("a/+/b", "a//b"));
  CAF_CHECK(matches("+/b", "/b"));
  CAF_CHECK(!matches("a/+/b", "a/b"));
}

CAF_TEST(multi level cases combining wildcards) {
  CAF_CHECK(matches("+/tennis/#", "sport/tennis"));
  CAF_CHECK(matches("+/tennis/#", "sport/tennis/player1/ranking"));
  CAF_CHECK(!matches("+/tennis/#", "sport/golf/player1"));
  CAF_CHECK(matches("+/+/+", "a/b/c"));
  CAF_CHECK(!matches("+/+/+", "a/b"));
  CAF_CHECK(!matches("+/+/+", "a/b/c/d"));
  CAF_CHECK(matches("a/+/c/#", "a/b/c"));
  CAF_CHECK(matches("a/+/c/#", "a/x/c/d/e"));
  CAF_CHECK(!matches("a/+/c/#", "a/b/d"));
  CAF_CHECK(matches("/#", "/"));
  CAF_CHECK(matches("/#", "/a/b"));
  CAF_CHECK(!matches("/#", "a"));
}

CAF_TEST(wildcards at the first level do not match dollar topics) {
  // §4.7.2 [MQTT-4.7.2-1]
  CAF_CHECK(!matches("#", "$SYS"));
  CAF_CHECK(!matches("#", "$SYS/x"));
  CAF_CHECK(!matches("+", "$SYS"));
  CAF_CHECK(!matches("+/x", "$SYS/x"));
  CAF_CHECK(!matches("+/monitor/Clients", "$SYS/monitor/Clients"));
  CAF_CHECK(!matches("#", "$share"));
}

CAF_TEST(explicit dollar filters match dollar topics) {
  // §4.7.2: "$SYS/#" and "$SYS/monitor/+" match "$SYS/monitor/Clients".
  CAF_CHECK(matches("$SYS/#", "$SYS/monitor/Clients"));
  CAF_CHECK(matches("$SYS/monitor/+", "$SYS/monitor/Clients"));
  CAF_CHECK(matches("$SYS/#", "$SYS"));
  CAF_CHECK(matches("$SYS", "$SYS"));
}

CAF_TEST(dollar is special only at the start of the name) {
  CAF_CHECK(matches("#", "a/$SYS"));
  CAF_CHECK(matches("a/+", "a/$x"));
}
