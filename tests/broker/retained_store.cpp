#define CAF_SUITE broker_retained_store
#include <caf/test/unit_test.hpp>

#include "amq/broker/retained_store.hpp"

#include <algorithm>
#include <map>
#include <random>
#include <string>
#include <vector>

using namespace amq::broker;
using namespace std::chrono_literals;

namespace {

/// Stand-in for the broker's immutable PUBLISH.
struct msg {
  std::string payload;
};

using store = retained_store<msg>;
using time_point = store::time_point;

std::shared_ptr<const msg> make(std::string payload) {
  return std::make_shared<const msg>(msg{std::move(payload)});
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

bool reference_match(const std::vector<std::string>& f, const std::vector<std::string>& t) {
  if (!t[0].empty() && t[0][0] == '$' && (f[0] == "+" || f[0] == "#"))
    return false;
  size_t i = 0;
  for (; i < f.size(); ++i) {
    if (f[i] == "#")
      return true;
    if (i >= t.size())
      return false;
    if (f[i] != "+" && f[i] != t[i])
      return false;
  }
  return i == t.size();
}

struct fixture {
  store st;
  time_point t0 = time_point{} + 1000s;

  /// "topic=payload" for each match, sorted.
  std::string get(std::string_view filter, time_point now) {
    std::vector<std::string> xs;
    st.match(filter, now, [&](std::string_view topic, const store::message_ptr& m, time_point) {
      xs.push_back(std::string{topic} + "=" + m->payload);
    });
    std::sort(xs.begin(), xs.end());
    std::string out;
    for (auto& x : xs) {
      if (!out.empty())
        out += ' ';
      out += x;
    }
    return out;
  }

  std::string get(std::string_view filter) {
    return get(filter, t0);
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(retained_store_tests, fixture)

CAF_TEST(set replace and clear) {
  CAF_CHECK(!st.set("a/b", make("1")));
  CAF_CHECK_EQUAL(st.size(), 1u);
  CAF_CHECK_EQUAL(st.find("a/b", t0)->payload, "1");
  CAF_CHECK(st.set("a/b", make("2")));
  CAF_CHECK_EQUAL(st.size(), 1u);
  CAF_CHECK_EQUAL(get("a/b"), "a/b=2");
  CAF_CHECK(!st.find("a", t0));
  CAF_CHECK(!st.find("a/b/c", t0));
  CAF_CHECK(st.erase("a/b"));
  CAF_CHECK(!st.erase("a/b"));
  CAF_CHECK(st.empty());
  CAF_CHECK_EQUAL(st.node_count(), 0u);
  CAF_CHECK_EQUAL(get("#"), "");
  // A null message clears too.
  st.set("x", make("1"));
  CAF_CHECK(st.set("x", nullptr));
  CAF_CHECK(st.empty());
}

CAF_TEST(shared message is not copied) {
  auto m = make("p");
  st.set("a", m);
  st.set("b", m);
  CAF_CHECK_EQUAL(m.use_count(), 3);
  st.match("+", t0, [&](std::string_view, const store::message_ptr& x, time_point) {
    CAF_CHECK_EQUAL(x.get(), m.get());
  });
}

CAF_TEST(wildcard retrieval) {
  for (auto t : {"sport", "sport/tennis", "sport/tennis/player1", "sport/tennis/player1/ranking",
                 "sport/golf/player1", "sport/", "/finance", "news"})
    st.set(t, make("m"));
  CAF_CHECK_EQUAL(get("sport/tennis/player1/#"),
                  "sport/tennis/player1/ranking=m sport/tennis/player1=m");
  CAF_CHECK_EQUAL(get("sport/#"), "sport/=m sport/golf/player1=m sport/tennis/player1/ranking=m "
                                  "sport/tennis/player1=m sport/tennis=m sport=m");
  CAF_CHECK_EQUAL(get("sport/+"), "sport/=m sport/tennis=m");
  CAF_CHECK_EQUAL(get("sport/+/player1"), "sport/golf/player1=m sport/tennis/player1=m");
  CAF_CHECK_EQUAL(get("+"), "news=m sport=m");
  CAF_CHECK_EQUAL(get("+/+"), "/finance=m sport/=m sport/tennis=m");
  CAF_CHECK_EQUAL(get("/+"), "/finance=m");
  CAF_CHECK_EQUAL(get("news"), "news=m");
  CAF_CHECK_EQUAL(get("nope/#"), "");
  CAF_CHECK_EQUAL(get("#"), "/finance=m news=m sport/=m sport/golf/player1=m "
                            "sport/tennis/player1/ranking=m sport/tennis/player1=m "
                            "sport/tennis=m sport=m");
  std::vector<std::string> all;
  st.for_each([&](std::string_view t, const store::message_ptr&, time_point) {
    all.emplace_back(t);
  });
  CAF_CHECK_EQUAL(all.size(), 8u);
}

CAF_TEST(dollar topics - spec 4.7.2) {
  st.set("$SYS/broker/uptime", make("u"));
  st.set("$SYS", make("s"));
  st.set("a/$b", make("ab"));
  CAF_CHECK_EQUAL(get("#"), "a/$b=ab");
  CAF_CHECK_EQUAL(get("+"), "");
  CAF_CHECK_EQUAL(get("+/broker/uptime"), "");
  CAF_CHECK_EQUAL(get("$SYS/#"), "$SYS/broker/uptime=u $SYS=s");
  CAF_CHECK_EQUAL(get("$SYS/+/uptime"), "$SYS/broker/uptime=u");
  CAF_CHECK_EQUAL(get("a/+"), "a/$b=ab");
}

CAF_TEST(expiry) {
  st.set("a/1", make("1"), t0 + 10s);
  st.set("a/2", make("2"), t0 + 20s);
  st.set("a/3", make("3"));
  CAF_CHECK_EQUAL(get("a/#", t0), "a/1=1 a/2=2 a/3=3");
  // Expired entries are skipped and erased lazily.
  CAF_CHECK_EQUAL(get("a/+", t0 + 10s), "a/2=2 a/3=3");
  CAF_CHECK_EQUAL(st.size(), 2u);
  CAF_CHECK(!st.find("a/2", t0 + 25s));
  CAF_CHECK_EQUAL(st.size(), 1u);
  // Replacing resets the expiry.
  st.set("a/3", make("3b"), t0 + 30s);
  st.set("a/3", make("3c"), t0 + 60s);
  CAF_CHECK_EQUAL(st.erase_expired(t0 + 40s), 0u);
  CAF_CHECK_EQUAL(get("a/3", t0 + 40s), "a/3=3c");
  // The callback sees the expiry so the caller can send the remaining interval.
  st.match("a/3", t0, [&](std::string_view, const store::message_ptr&, time_point exp) {
    CAF_CHECK(exp == t0 + 60s);
  });
  st.set("b", make("b"), t0 + 5s);
  st.set("c", make("c"), t0 + 50s);
  st.set("d", make("d"));
  CAF_CHECK_EQUAL(st.erase_expired(t0 + 55s), 2u);
  CAF_CHECK_EQUAL(get("#", t0 + 55s), "a/3=3c d=d");
  CAF_CHECK_EQUAL(st.erase_expired(t0 + 1000s), 1u);
  CAF_CHECK_EQUAL(st.size(), 1u);
  // Clearing a topic with an expiry removes its expiry record too.
  st.set("e", make("e"), t0 + 10s);
  st.erase("e");
  CAF_CHECK_EQUAL(st.erase_expired(t0 + 1000s), 0u);
}

CAF_TEST(randomized match against a reference matcher) {
  std::mt19937_64 rng(7);
  const std::vector<std::string> words{"a", "b", "c", "", "$s"};
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
      if (r < 3) {
        f += '+';
      } else if (r == 3) {
        f += '#';
        break;
      } else {
        f += words[pick(words.size())];
      }
    }
    return f;
  };
  std::map<std::string, std::string> model;
  for (int i = 0; i < 3000; ++i) {
    auto t = random_topic();
    auto p = std::to_string(i);
    if (pick(4) == 0) {
      CAF_CHECK_EQUAL(st.erase(t), model.erase(t) > 0);
    } else {
      CAF_CHECK_EQUAL(st.set(t, make(p)), model.count(t) > 0);
      model[t] = p;
    }
  }
  CAF_CHECK_EQUAL(st.size(), model.size());
  std::vector<std::pair<std::vector<std::string>, std::string>> topics;
  for (auto& [t, p] : model)
    topics.emplace_back(split(t), t + "=" + p);
  for (int i = 0; i < 2000; ++i) {
    auto f = random_filter();
    auto levels = split(f);
    std::vector<std::string> want;
    for (auto& [t, entry] : topics)
      if (reference_match(levels, t))
        want.push_back(entry);
    std::sort(want.begin(), want.end());
    std::string w;
    for (auto& x : want) {
      if (!w.empty())
        w += ' ';
      w += x;
    }
    auto g = get(f);
    if (g != w)
      CAF_FAIL("filter " << f << ": got " << g << ", want " << w);
  }
  for (auto& [t, p] : model)
    CAF_CHECK(st.erase(t));
  CAF_CHECK(st.empty());
  CAF_CHECK_EQUAL(st.node_count(), 0u);
}

CAF_TEST_FIXTURE_SCOPE_END()
