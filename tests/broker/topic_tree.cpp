#define CAF_SUITE broker_topic_tree
#include <caf/test/unit_test.hpp>

#include "amq/broker/topic_tree.hpp"

#include "amq/protocol/topic.hpp"

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

using namespace amq::broker;

namespace {

subscription_options qos(uint8_t q, uint32_t id = 0) {
  subscription_options o;
  o.max_qos = q;
  o.subscription_id = id;
  return o;
}

/// "s:qQ[:rap][:shared][ids...]" per delivery, sorted: order-independent.
std::string render(const std::vector<delivery>& ds) {
  std::vector<std::string> parts;
  for (auto& d : ds) {
    std::string s;
    s.append(std::to_string(d.session)).append(":q").append(std::to_string(d.qos));
    if (d.retain_as_published)
      s.append(":rap");
    if (d.shared)
      s.append(":shared");
    auto ids = d.ids.to_vector();
    std::sort(ids.begin(), ids.end());
    for (auto id : ids)
      s.append("#").append(std::to_string(id));
    parts.push_back(std::move(s));
  }
  std::sort(parts.begin(), parts.end());
  std::string out;
  for (auto& p : parts) {
    if (!out.empty())
      out += ' ';
    out += p;
  }
  return out;
}

/// Sessions of the deliveries, sorted.
std::vector<session_id> sessions(const std::vector<delivery>& ds) {
  std::vector<session_id> out;
  for (auto& d : ds)
    out.push_back(d.session);
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> split(std::string_view s) {
  std::vector<std::string> out;
  size_t pos = 0;
  for (;;) {
    auto slash = s.find('/', pos);
    if (slash == std::string_view::npos) {
      out.emplace_back(s.substr(pos));
      return out;
    }
    out.emplace_back(s.substr(pos, slash - pos));
    pos = slash + 1;
  }
}

/// Reference matcher straight from MQTT 5.0 §4.7 (non-shared filters), on
/// pre-split levels.
bool reference_match(const std::vector<std::string>& f, const std::vector<std::string>& t) {
  if (!t[0].empty() && t[0][0] == '$' && (f[0] == "+" || f[0] == "#"))
    return false;
  size_t i = 0;
  for (; i < f.size(); ++i) {
    if (f[i] == "#")
      return true; // matches the parent level and everything below
    if (i >= t.size())
      return false;
    if (f[i] != "+" && f[i] != t[i])
      return false;
  }
  return i == t.size();
}

struct fixture {
  topic_tree tree;
  std::vector<delivery> out;

  std::string deliver(std::string_view topic, std::optional<session_id> publisher = std::nullopt) {
    tree.match(topic, publisher, out);
    return render(out);
  }

  /// True if a single subscription to `filter` receives `topic`.
  bool matches(std::string_view filter, std::string_view topic) {
    topic_tree t;
    t.subscribe(1, filter, qos(0));
    t.match(topic, std::nullopt, out);
    return out.size() == 1;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(topic_tree_tests, fixture)

CAF_TEST(multi level wildcard - spec 4.7.1.2) {
  CAF_CHECK(matches("sport/tennis/player1/#", "sport/tennis/player1"));
  CAF_CHECK(matches("sport/tennis/player1/#", "sport/tennis/player1/ranking"));
  CAF_CHECK(matches("sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon"));
  CAF_CHECK(matches("sport/#", "sport"));
  CAF_CHECK(matches("sport/#", "sport/"));
  CAF_CHECK(matches("#", "sport/tennis"));
  CAF_CHECK(matches("#", "/"));
  CAF_CHECK(!matches("sport/tennis/player1/#", "sport/tennis/player2"));
  CAF_CHECK(!matches("sport/tennis/player1/#", "sport/tennis"));
  CAF_CHECK(!matches("sport/#", "sports"));
}

CAF_TEST(single level wildcard - spec 4.7.1.3) {
  CAF_CHECK(matches("sport/tennis/+", "sport/tennis/player1"));
  CAF_CHECK(matches("sport/tennis/+", "sport/tennis/player2"));
  CAF_CHECK(!matches("sport/tennis/+", "sport/tennis/player1/ranking"));
  CAF_CHECK(!matches("sport/+", "sport"));
  CAF_CHECK(matches("sport/+", "sport/"));
  CAF_CHECK(matches("+/+", "/finance"));
  CAF_CHECK(matches("/+", "/finance"));
  CAF_CHECK(!matches("+", "/finance"));
  CAF_CHECK(matches("+", "finance"));
  CAF_CHECK(matches("+/tennis/#", "sport/tennis/player1/ranking"));
  CAF_CHECK(matches("sport/+/player1", "sport/tennis/player1"));
  CAF_CHECK(matches("+/+", "/"));
  CAF_CHECK(matches("a//b", "a//b"));
  CAF_CHECK(matches("a/+/b", "a//b"));
  CAF_CHECK(!matches("a/b", "a/b/"));
  CAF_CHECK(!matches("a/b/", "a/b"));
  CAF_CHECK(!matches("A/b", "a/b"));
}

CAF_TEST(dollar topics - spec 4.7.2) {
  CAF_CHECK(!matches("#", "$SYS/monitor/Clients"));
  CAF_CHECK(!matches("+/monitor/Clients", "$SYS/monitor/Clients"));
  CAF_CHECK(!matches("+", "$SYS"));
  CAF_CHECK(matches("$SYS/#", "$SYS/monitor/Clients"));
  CAF_CHECK(matches("$SYS/#", "$SYS"));
  CAF_CHECK(matches("$SYS/monitor/+", "$SYS/monitor/Clients"));
  CAF_CHECK(matches("$SYS/monitor/Clients", "$SYS/monitor/Clients"));
  // Only the first level is special.
  CAF_CHECK(matches("a/+", "a/$b"));
  CAF_CHECK(matches("a/#", "a/$b/c"));
  CAF_CHECK(matches("#", "a$/b"));
  // Shared subscriptions follow the same rule.
  tree.subscribe(1, "$share/g/#", qos(0));
  CAF_CHECK_EQUAL(deliver("$SYS/x"), "");
  CAF_CHECK_EQUAL(deliver("x"), "1:q0:shared");
}

CAF_TEST(exact and wildcard subscribers of different sessions) {
  tree.subscribe(1, "devices/42/cmd", qos(1));
  tree.subscribe(2, "devices/+/cmd", qos(0));
  tree.subscribe(3, "devices/#", qos(2));
  tree.subscribe(4, "devices/43/cmd", qos(2));
  CAF_CHECK_EQUAL(deliver("devices/42/cmd"), "1:q1 2:q0 3:q2");
  CAF_CHECK_EQUAL(deliver("devices/43/cmd"), "2:q0 3:q2 4:q2");
  CAF_CHECK_EQUAL(deliver("devices"), "3:q2");
  CAF_CHECK_EQUAL(deliver("device"), "");
  CAF_CHECK_EQUAL(tree.size(), 4u);
}

CAF_TEST(overlapping subscriptions give one delivery) {
  tree.subscribe(1, "a/b", qos(0, 1));
  tree.subscribe(1, "a/+", qos(2, 2));
  tree.subscribe(1, "#", qos(1));
  tree.subscribe(1, "+/b", qos(1, 2)); // same id twice: listed once
  tree.subscribe(2, "a/b", qos(1, 7));
  CAF_CHECK_EQUAL(deliver("a/b"), "1:q2#1#2 2:q1#7");
  CAF_CHECK_EQUAL(deliver("a/c"), "1:q2#2");
  CAF_CHECK_EQUAL(deliver("x"), "1:q1");
}

CAF_TEST(many overlapping identifiers overflow the inline array) {
  tree.subscribe(9, "a/b/c", qos(0, 1));
  tree.subscribe(9, "a/b/+", qos(0, 2));
  tree.subscribe(9, "a/+/c", qos(0, 3));
  tree.subscribe(9, "+/b/c", qos(0, 4));
  tree.subscribe(9, "a/#", qos(1, 5));
  tree.subscribe(9, "#", qos(0, 6));
  CAF_CHECK_EQUAL(deliver("a/b/c"), "9:q1#1#2#3#4#5#6");
  CAF_REQUIRE_EQUAL(out.size(), 1u);
  CAF_CHECK(out[0].ids.contains(6));
  CAF_CHECK(!out[0].ids.contains(7));
}

CAF_TEST(retain as published is ORed over merged subscriptions) {
  auto rap = qos(1);
  rap.retain_as_published = true;
  tree.subscribe(1, "a/b", qos(0));
  tree.subscribe(1, "a/#", rap);
  tree.subscribe(2, "a/b", qos(0));
  CAF_CHECK_EQUAL(deliver("a/b"), "1:q1:rap 2:q0");
}

CAF_TEST(no local applies per subscription before merging) {
  auto nl = qos(2, 1);
  nl.no_local = true;
  tree.subscribe(1, "a/b", nl);
  tree.subscribe(1, "a/#", qos(0, 2));
  tree.subscribe(2, "a/b", nl);
  // Publisher 1: its no-local subscription is skipped, the other delivers.
  CAF_CHECK_EQUAL(deliver("a/b", 1), "1:q0#2 2:q2#1");
  // Publisher 2: its only subscription is no-local.
  CAF_CHECK_EQUAL(deliver("a/b", 2), "1:q2#1#2");
  // Nobody (e.g. a will): everything delivers.
  CAF_CHECK_EQUAL(deliver("a/b"), "1:q2#1#2 2:q2#1");
  tree.match("a/b", std::nullopt, out);
  for (auto& d : out)
    CAF_CHECK_EQUAL(d.no_local, d.session == 2);
  // No Local in the first contributing node (no dedup table yet).
  CAF_CHECK_EQUAL(deliver("a/c", 1), "1:q0#2");
  tree.unsubscribe(1, "a/#");
  CAF_CHECK_EQUAL(deliver("a/b", 1), "2:q2#1");
}

CAF_TEST(subscribe reports new versus replaced) {
  CAF_CHECK(tree.subscribe(1, "a/+", qos(0, 1)));
  CAF_CHECK(!tree.subscribe(1, "a/+", qos(2, 5)));
  CAF_CHECK(tree.subscribe(2, "a/+", qos(1)));
  CAF_CHECK(tree.subscribe(1, "a/#", qos(1)));
  CAF_CHECK(tree.subscribe(1, "$share/g/a/+", qos(1)));
  CAF_CHECK(!tree.subscribe(1, "$share/g/a/+", qos(2)));
  CAF_CHECK(tree.subscribe(1, "$share/h/a/+", qos(1)));
  CAF_CHECK_EQUAL(tree.size(), 5u);
  CAF_CHECK_EQUAL(tree.subscription_count(), 3u);
  CAF_CHECK_EQUAL(tree.shared_subscription_count(), 2u);
  CAF_CHECK_EQUAL(tree.shared_group_count(), 2u);
  auto opts = tree.find(1, "a/+");
  CAF_REQUIRE(opts.has_value());
  CAF_CHECK_EQUAL(opts->max_qos, 2);
  CAF_CHECK_EQUAL(opts->subscription_id, 5u);
  auto shared_opts = tree.find(1, "$share/g/a/+");
  CAF_REQUIRE(shared_opts.has_value());
  CAF_CHECK_EQUAL(shared_opts->max_qos, 2);
  CAF_CHECK(!tree.find(3, "a/+"));
  CAF_CHECK(!tree.find(1, "a/b"));
  CAF_CHECK(!tree.find(1, "$share/x/a/+"));
}

CAF_TEST(unsubscribe prunes empty nodes) {
  tree.subscribe(1, "a/b/c", qos(0));
  tree.subscribe(1, "a/+/c", qos(0));
  tree.subscribe(2, "a/b/c/#", qos(0));
  tree.subscribe(3, "$share/g/a/b", qos(0));
  CAF_CHECK_EQUAL(tree.node_count(), 6u); // a, b, c, +, c, #
  CAF_CHECK(!tree.unsubscribe(2, "a/b/c"));
  CAF_CHECK(!tree.unsubscribe(1, "a/b"));
  CAF_CHECK(!tree.unsubscribe(1, "x/y"));
  CAF_CHECK(!tree.unsubscribe(1, "$share/g/a/b"));
  CAF_CHECK(!tree.unsubscribe(3, "$share/h/a/b"));
  CAF_CHECK_EQUAL(tree.exact_filter_count(), 1u); // a/b/c: not in the trie
  CAF_CHECK(tree.unsubscribe(2, "a/b/c/#"));
  CAF_CHECK_EQUAL(tree.node_count(), 4u); // a, b (group), +, c
  CAF_CHECK(tree.unsubscribe(1, "a/b/c"));
  CAF_CHECK_EQUAL(tree.exact_filter_count(), 0u);
  CAF_CHECK_EQUAL(tree.node_count(), 4u);
  CAF_CHECK(!tree.unsubscribe(1, "a/b/c"));
  CAF_CHECK(tree.unsubscribe(3, "$share/g/a/b"));
  CAF_CHECK_EQUAL(tree.node_count(), 3u);
  CAF_CHECK_EQUAL(tree.shared_group_count(), 0u);
  CAF_CHECK(tree.unsubscribe(1, "a/+/c"));
  CAF_CHECK_EQUAL(tree.node_count(), 0u);
  CAF_CHECK_EQUAL(tree.size(), 0u);
  CAF_CHECK_EQUAL(deliver("a/b/c"), "");
  // The tree is usable after being emptied.
  CAF_CHECK(tree.subscribe(1, "a/b/c", qos(1)));
  CAF_CHECK_EQUAL(deliver("a/b/c"), "1:q1");
}

CAF_TEST(large subscriber lists use an index) {
  constexpr session_id n = 1000;
  for (session_id s = 1; s <= n; ++s)
    CAF_CHECK(tree.subscribe(s, "fleet/#", qos(s % 3)));
  for (session_id s = 1; s <= n; ++s)
    CAF_CHECK(!tree.subscribe(s, "fleet/#", qos(1)));
  CAF_CHECK_EQUAL(tree.size(), n);
  for (session_id s = 2; s <= n; s += 2)
    CAF_CHECK(tree.unsubscribe(s, "fleet/#"));
  for (session_id s = 2; s <= n; s += 2)
    CAF_CHECK(!tree.unsubscribe(s, "fleet/#"));
  tree.match("fleet/7/status", std::nullopt, out);
  CAF_REQUIRE_EQUAL(out.size(), n / 2);
  auto ss = sessions(out);
  for (size_t i = 0; i < ss.size(); ++i)
    CAF_CHECK_EQUAL(ss[i], 2 * i + 1);
  for (session_id s = 1; s <= n; s += 2)
    CAF_CHECK(tree.unsubscribe(s, "fleet/#"));
  CAF_CHECK_EQUAL(tree.node_count(), 0u);
}

CAF_TEST(many children switch to a hash map) {
  // Wildcard filters: exact ones would not be in the trie.
  for (session_id s = 0; s < 100; ++s)
    tree.subscribe(s, "d/" + std::to_string(s) + "/+", qos(1));
  for (session_id s = 0; s < 100; ++s) {
    auto want = std::to_string(s);
    want.append(":q1");
    CAF_CHECK_EQUAL(deliver("d/" + std::to_string(s) + "/cmd"), want);
  }
  CAF_CHECK_EQUAL(tree.node_count(), 201u);
  CAF_CHECK_EQUAL(deliver("d/5"), "");
  for (session_id s = 0; s < 100; ++s)
    CAF_CHECK(tree.unsubscribe(s, "d/" + std::to_string(s) + "/+"));
  CAF_CHECK_EQUAL(tree.node_count(), 0u);
}

CAF_TEST(exact filters live in a table outside the trie) {
  CAF_CHECK(tree.subscribe(1, "dev/1/cmd", qos(1, 7)));
  CAF_CHECK_EQUAL(tree.node_count(), 0u);
  CAF_CHECK_EQUAL(tree.exact_filter_count(), 1u);
  CAF_CHECK_EQUAL(deliver("dev/1/cmd"), "1:q1#7");
  CAF_CHECK_EQUAL(deliver("dev/1"), "");
  CAF_CHECK_EQUAL(deliver("dev/1/cmd/x"), "");
  CAF_CHECK_EQUAL(deliver("dev/1/cmdx"), "");
  // Replacing the options of the only subscriber.
  CAF_CHECK(!tree.subscribe(1, "dev/1/cmd", qos(2, 8)));
  CAF_CHECK_EQUAL(deliver("dev/1/cmd"), "1:q2#8");
  // Second and third subscriber: a list; back to one inline subscriber.
  CAF_CHECK(tree.subscribe(2, "dev/1/cmd", qos(0)));
  CAF_CHECK(tree.subscribe(3, "dev/1/cmd", qos(1)));
  CAF_CHECK(!tree.subscribe(2, "dev/1/cmd", qos(1)));
  CAF_CHECK_EQUAL(tree.exact_filter_count(), 1u);
  CAF_CHECK_EQUAL(tree.size(), 3u);
  CAF_CHECK_EQUAL(deliver("dev/1/cmd"), "1:q2#8 2:q1 3:q1");
  CAF_CHECK(tree.find(2, "dev/1/cmd") == std::optional{qos(1)});
  CAF_CHECK(!tree.find(4, "dev/1/cmd"));
  CAF_CHECK(!tree.unsubscribe(4, "dev/1/cmd"));
  CAF_CHECK(tree.unsubscribe(1, "dev/1/cmd"));
  CAF_CHECK(tree.unsubscribe(3, "dev/1/cmd"));
  CAF_CHECK_EQUAL(deliver("dev/1/cmd"), "2:q1");
  CAF_CHECK(!tree.find(1, "dev/1/cmd"));
  CAF_CHECK(tree.find(2, "dev/1/cmd") == std::optional{qos(1)});
  CAF_CHECK(!tree.unsubscribe(1, "dev/1/cmd"));
  CAF_CHECK(tree.unsubscribe(2, "dev/1/cmd"));
  CAF_CHECK_EQUAL(tree.exact_filter_count(), 0u);
  CAF_CHECK_EQUAL(tree.size(), 0u);
  CAF_CHECK_EQUAL(deliver("dev/1/cmd"), "");
  // Merged with an overlapping wildcard subscription of the same session;
  // No Local applies per subscription.
  tree.subscribe(5, "dev/2/cmd", qos(0, 1));
  tree.subscribe(5, "dev/+/cmd", qos(2, 2));
  tree.subscribe(6, "dev/#", qos(1));
  tree.subscribe(7, "dev/2/cmd", subscription_options{1, true, false, 0, 0});
  CAF_CHECK_EQUAL(deliver("dev/2/cmd"), "5:q2#1#2 6:q1 7:q1");
  CAF_CHECK_EQUAL(deliver("dev/2/cmd", session_id{7}), "5:q2#1#2 6:q1");
  // Empty levels and '$' topics are plain bytes to an exact filter.
  tree.subscribe(8, "a//b", qos(0));
  tree.subscribe(8, "/", qos(1));
  tree.subscribe(8, "$SYS/x", qos(0));
  CAF_CHECK_EQUAL(deliver("a//b"), "8:q0");
  CAF_CHECK_EQUAL(deliver("a/b"), "");
  CAF_CHECK_EQUAL(deliver("/"), "8:q1");
  CAF_CHECK_EQUAL(deliver("//"), "");
  CAF_CHECK_EQUAL(deliver("$SYS/x"), "8:q0");
  // A shared group on a wildcard-free filter stays in the trie.
  tree.subscribe(9, "$share/g/dev/2/cmd", qos(1));
  CAF_CHECK_EQUAL(tree.exact_filter_count(), 4u); // dev/2/cmd, a//b, /, $SYS/x
  CAF_CHECK_EQUAL(deliver("dev/2/cmd"), "5:q2#1#2 6:q1 7:q1 9:q1:shared");
}

CAF_TEST(many exact filters grow and shrink the table) {
  constexpr session_id n = 5000;
  for (session_id s = 0; s < n; ++s)
    CAF_CHECK(tree.subscribe(s, "devices/" + std::to_string(s) + "/cmd", qos(1)));
  CAF_CHECK_EQUAL(tree.exact_filter_count(), n);
  for (session_id s = 0; s < n; s += 7)
    CAF_CHECK_EQUAL(deliver("devices/" + std::to_string(s) + "/cmd"), std::to_string(s) + ":q1");
  CAF_CHECK_EQUAL(deliver("devices/" + std::to_string(n) + "/cmd"), "");
  // Remove all but every 100th (the table shrinks), then check the rest.
  for (session_id s = 0; s < n; ++s)
    if (s % 100 != 0)
      CAF_CHECK(tree.unsubscribe(s, "devices/" + std::to_string(s) + "/cmd"));
  CAF_CHECK_EQUAL(tree.exact_filter_count(), n / 100);
  for (session_id s = 0; s < n; ++s) {
    auto want = s % 100 == 0 ? std::to_string(s) + ":q1" : std::string{};
    if (deliver("devices/" + std::to_string(s) + "/cmd") != want)
      CAF_FAIL("devices/" << s << "/cmd: want '" << want << "'");
  }
  for (session_id s = 0; s < n; s += 100)
    CAF_CHECK(tree.unsubscribe(s, "devices/" + std::to_string(s) + "/cmd"));
  CAF_CHECK_EQUAL(tree.size(), 0u);
  CAF_CHECK_EQUAL(tree.exact_filter_count(), 0u);
  CAF_CHECK(tree.subscribe(1, "devices/1/cmd", qos(0)));
  CAF_CHECK_EQUAL(deliver("devices/1/cmd"), "1:q0");
}

CAF_TEST(a shared exact filter with many subscribers keeps its index consistent) {
  // Members join and leave in a scrambled order: the flat session index
  // (backward-shift deletion, swap with the last member) must stay exact.
  std::mt19937_64 rng(7);
  std::set<session_id> model;
  for (int round = 0; round < 20000; ++round) {
    session_id s = rng() % 3000;
    if (rng() % 3 != 0) {
      CAF_CHECK_EQUAL(tree.subscribe(s, "fleet/cmd", qos(1)), model.insert(s).second);
    } else {
      CAF_CHECK_EQUAL(tree.unsubscribe(s, "fleet/cmd"), model.erase(s) > 0);
    }
  }
  CAF_CHECK_EQUAL(tree.size(), model.size());
  tree.match("fleet/cmd", std::nullopt, out);
  auto got = sessions(out);
  CAF_CHECK(got == std::vector<session_id>(model.begin(), model.end()));
  for (auto s : model)
    CAF_CHECK(tree.find(s, "fleet/cmd").has_value());
  for (auto s : model)
    CAF_CHECK(tree.unsubscribe(s, "fleet/cmd"));
  CAF_CHECK_EQUAL(tree.exact_filter_count(), 0u);
}

CAF_TEST(shared group delivers round robin to one member) {
  tree.subscribe(1, "$share/g/jobs/+", qos(1, 11));
  tree.subscribe(2, "$share/g/jobs/+", qos(1, 12));
  tree.subscribe(3, "$share/g/jobs/+", qos(1, 13));
  std::map<session_id, int> counts;
  for (int i = 0; i < 30; ++i) {
    tree.match("jobs/x", std::nullopt, out);
    CAF_REQUIRE_EQUAL(out.size(), 1u);
    CAF_CHECK(out[0].shared);
    CAF_CHECK_EQUAL(out[0].ids.size(), 1u);
    CAF_CHECK_EQUAL(out[0].ids[0], 10 + out[0].session);
    ++counts[out[0].session];
  }
  CAF_CHECK_EQUAL(counts.size(), 3u);
  for (auto& [s, c] : counts)
    CAF_CHECK_EQUAL(c, 10);
  // Consecutive messages go to different members.
  tree.match("jobs/x", std::nullopt, out);
  auto first = out.at(0).session;
  tree.match("jobs/y", std::nullopt, out);
  CAF_CHECK_NOT_EQUAL(out.at(0).session, first);
  CAF_CHECK_EQUAL(deliver("jobs"), "");
}

CAF_TEST(shared group skips offline members) {
  for (session_id s = 1; s <= 3; ++s)
    tree.subscribe(s, "$share/g/t", qos(1));
  tree.set_online(2, false);
  CAF_CHECK(!tree.is_online(2));
  CAF_CHECK(tree.is_online(1));
  CAF_CHECK_EQUAL(tree.offline_count(), 1u);
  std::map<session_id, int> counts;
  for (int i = 0; i < 20; ++i) {
    tree.match("t", std::nullopt, out);
    CAF_REQUIRE_EQUAL(out.size(), 1u);
    ++counts[out[0].session];
  }
  CAF_CHECK_EQUAL(counts[1], 10);
  CAF_CHECK_EQUAL(counts[2], 0);
  CAF_CHECK_EQUAL(counts[3], 10);
  // With only member 3 online, it gets everything.
  tree.set_online(1, false);
  for (int i = 0; i < 5; ++i)
    CAF_CHECK_EQUAL(deliver("t"), "3:q1:shared");
  // Back online.
  tree.set_online(2, true);
  counts.clear();
  for (int i = 0; i < 10; ++i) {
    tree.match("t", std::nullopt, out);
    ++counts[out.at(0).session];
  }
  CAF_CHECK_EQUAL(counts[1], 0);
  CAF_CHECK_EQUAL(counts[2], 5);
  CAF_CHECK_EQUAL(counts[3], 5);
}

CAF_TEST(shared group with no member online queues for one member) {
  for (session_id s = 1; s <= 2; ++s) {
    tree.subscribe(s, "$share/g/t", qos(1));
    tree.set_online(s, false);
  }
  std::map<session_id, int> counts;
  for (int i = 0; i < 10; ++i) {
    tree.match("t", std::nullopt, out);
    CAF_REQUIRE_EQUAL(out.size(), 1u);
    ++counts[out[0].session];
  }
  // Deterministic rotation over the offline members.
  CAF_CHECK_EQUAL(counts[1], 5);
  CAF_CHECK_EQUAL(counts[2], 5);
  tree.forget_session(1);
  CAF_CHECK(tree.is_online(1));
  tree.set_online(2, true);
  CAF_CHECK_EQUAL(tree.offline_count(), 0u);
}

CAF_TEST(shared and non shared deliveries are separate) {
  tree.subscribe(1, "$share/g/a/#", qos(1, 1));
  tree.subscribe(1, "a/b", qos(0, 2));
  tree.subscribe(1, "a/+", qos(2, 3));
  tree.subscribe(1, "$share/h/a/b", qos(0, 4));
  tree.subscribe(2, "$share/h/a/b", qos(0, 5));
  tree.set_online(2, false);
  // Group g and group h each deliver once; the non-shared ones merge.
  CAF_CHECK_EQUAL(deliver("a/b"), "1:q0:shared#4 1:q1:shared#1 1:q2#2#3");
  // Shared deliveries are not merged even across nodes of one session and
  // do not disturb the dedup of later non-shared ones.
  tree.subscribe(1, "#", qos(1, 6));
  CAF_CHECK_EQUAL(deliver("a/b"), "1:q0:shared#4 1:q1:shared#1 1:q2#2#3#6");
}

CAF_TEST(deliveries are deduplicated across repeated matches) {
  // Exercise the generation-stamped dedup table across calls and growth.
  for (session_id s = 0; s < 500; ++s) {
    tree.subscribe(s, "x/#", qos(0, 1));
    tree.subscribe(s, "x/+", qos(1, 2));
    tree.subscribe(s, "+/y", qos(2, 3));
  }
  for (int round = 0; round < 3; ++round) {
    tree.match("x/y", std::nullopt, out);
    CAF_REQUIRE_EQUAL(out.size(), 500u);
    for (auto& d : out) {
      CAF_CHECK_EQUAL(d.qos, 2);
      CAF_CHECK_EQUAL(d.ids.size(), 3u);
    }
    tree.match("x/z", std::nullopt, out);
    CAF_REQUIRE_EQUAL(out.size(), 500u);
    for (auto& d : out)
      CAF_CHECK_EQUAL(d.qos, 1);
  }
}

CAF_TEST(randomized match against a reference matcher) {
  std::mt19937_64 rng(20240611);
  const std::vector<std::string> words{"a", "b", "c", "", "$s", "x$"};
  auto pick = [&](size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng); };
  auto random_topic = [&] {
    std::string t;
    auto levels = 1 + pick(4);
    for (size_t i = 0; i < levels; ++i) {
      if (i > 0)
        t += '/';
      t += words[pick(words.size())];
    }
    return t;
  };
  auto random_filter = [&] {
    std::string f;
    auto levels = 1 + pick(4);
    for (size_t i = 0; i < levels; ++i) {
      if (i > 0)
        f += '/';
      auto r = pick(10);
      if (r < 2) {
        f += '+';
      } else if (r == 2) {
        f += '#';
        break;
      } else {
        f += words[pick(words.size())];
      }
    }
    return f;
  };
  for (int trial = 0; trial < 3; ++trial) {
    topic_tree t;
    std::map<std::pair<session_id, std::string>, subscription_options> model;
    for (int i = 0; i < 3000; ++i) {
      session_id s = pick(200);
      auto f = random_filter();
      subscription_options o;
      o.max_qos = static_cast<uint8_t>(pick(3));
      o.no_local = pick(4) == 0;
      o.retain_as_published = pick(3) == 0;
      o.subscription_id = static_cast<uint32_t>(pick(4));
      bool fresh = model.find({s, f}) == model.end();
      CAF_CHECK_EQUAL(t.subscribe(s, f, o), fresh);
      model[{s, f}] = o;
    }
    // Remove a random third (some of them not subscribed).
    for (int i = 0; i < 1500; ++i) {
      session_id s = pick(200);
      auto f = random_filter();
      bool existed = model.erase({s, f}) > 0;
      CAF_CHECK_EQUAL(t.unsubscribe(s, f), existed);
    }
    CAF_CHECK_EQUAL(t.size(), model.size());
    std::vector<delivery> got;
    struct entry {
      session_id session;
      std::vector<std::string> levels;
      subscription_options opts;
    };
    std::vector<entry> entries;
    for (auto& [key, o] : model)
      entries.push_back(entry{key.first, split(key.second), o});
    for (int i = 0; i < 1000; ++i) {
      auto topic = random_topic();
      std::optional<session_id> publisher;
      if (pick(2) == 0)
        publisher = pick(200);
      auto topic_levels = split(topic);
      // Expected: one entry per session, merged.
      std::map<session_id, delivery> expected;
      for (auto& [s, levels, o] : entries) {
        if (!reference_match(levels, topic_levels))
          continue;
        if (o.no_local && publisher == s)
          continue;
        auto [it, added] = expected.try_emplace(s);
        auto& d = it->second;
        if (added) {
          d.session = s;
          d.qos = o.max_qos;
          d.retain_as_published = o.retain_as_published;
        } else {
          d.qos = std::max(d.qos, o.max_qos);
          d.retain_as_published = d.retain_as_published || o.retain_as_published;
        }
        d.ids.add(o.subscription_id);
      }
      std::vector<delivery> want;
      for (auto& [s, d] : expected)
        want.push_back(d);
      t.match(topic, publisher, got);
      auto lhs = render(got);
      auto rhs = render(want);
      if (lhs != rhs)
        CAF_FAIL("topic " << topic << ": got " << lhs << ", want " << rhs);
    }
    // Unsubscribing everything leaves an empty tree.
    for (auto& [key, o] : model)
      CAF_CHECK(t.unsubscribe(key.first, key.second));
    CAF_CHECK_EQUAL(t.size(), 0u);
    CAF_CHECK_EQUAL(t.node_count(), 0u);
    CAF_CHECK_EQUAL(t.exact_filter_count(), 0u);
  }
}

CAF_TEST(agrees with protocol topic_matches and validate_topic_filter) {
  // Cross-check with the protocol layer: every random filter the tree gets is
  // one validate_topic_filter accepts, and the tree's answer for a single
  // subscription equals topic_matches.
  std::mt19937_64 rng(99);
  const std::vector<std::string> words{"a", "b", "", "$s", "x$y"};
  auto pick = [&](size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng); };
  auto random_levels = [&](bool wildcards) {
    std::string s;
    auto levels = 1 + pick(4);
    for (size_t i = 0; i < levels; ++i) {
      if (i > 0)
        s += '/';
      auto r = wildcards ? pick(8) : 7;
      if (r == 0) {
        s += '+';
      } else if (r == 1) {
        s += '#';
        break;
      } else {
        s += words[pick(words.size())];
      }
    }
    return s;
  };
  size_t compared = 0;
  size_t positives = 0;
  for (int i = 0; i < 3000; ++i) {
    auto filter = random_levels(true);
    auto topic = random_levels(false);
    if (filter.empty() || topic.empty())
      continue; // not valid at all
    if (auto err = amq::protocol::validate_topic_filter(filter))
      CAF_FAIL("validate_topic_filter rejects " << filter);
    auto tree_says = matches(filter, topic);
    if (tree_says != amq::protocol::topic_matches(filter, topic))
      CAF_FAIL("filter " << filter << ", topic " << topic << ": tree says " << tree_says);
    ++compared;
    positives += tree_says ? 1 : 0;
  }
  CAF_CHECK(compared > 2000);
  CAF_CHECK(positives > 100);
}

CAF_TEST(delivers_to asks the non shared subscriptions without turning a shared group) {
  tree.subscribe(1, "a/+", qos(1, 0));
  auto own = qos(0, 0);
  own.no_local = true;
  tree.subscribe(2, "a/b", own);
  tree.subscribe(1, "$share/g/a/b", qos(1, 0));
  tree.subscribe(3, "$share/g/a/b", qos(1, 0));
  CAF_CHECK(tree.delivers_to("a/b", std::nullopt, 1));
  CAF_CHECK(tree.delivers_to("a/b", std::nullopt, 2));
  CAF_CHECK(!tree.delivers_to("a/b", 2, 2)); // No Local
  CAF_CHECK(!tree.delivers_to("x/b", std::nullopt, 1));
  // Member 3 only through the group: not asked.
  CAF_CHECK(!tree.delivers_to("a/b", std::nullopt, 3));
  // The group's turn is where it was: the first match picks its first member, the next the
  // other one, however often delivers_to asked in between.
  tree.match("a/b", std::nullopt, out);
  session_id first = 0;
  for (auto& d : out)
    if (d.shared)
      first = d.session;
  for (int i = 0; i < 3; ++i)
    tree.delivers_to("a/b", std::nullopt, 1);
  tree.match("a/b", std::nullopt, out);
  session_id second = 0;
  for (auto& d : out)
    if (d.shared)
      second = d.session;
  CAF_CHECK_NOT_EQUAL(first, 0u);
  CAF_CHECK_NOT_EQUAL(second, 0u);
  CAF_CHECK_NOT_EQUAL(first, second);
}

CAF_TEST_FIXTURE_SCOPE_END()
