#define CAF_SUITE broker_seq_map
#include <caf/test/unit_test.hpp>

// seq_map (the session's in-flight window) against std::map: the same
// contents, order, find and erase results under a long random mix of
// in-order inserts, out-of-order inserts, acks at the front, acks in the
// middle and erase-while-iterating (the reconnect resend loop); and that it
// owns no memory once empty.

#include "amq/broker/seq_map.hpp"

#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

using amq::broker::seq_map;

namespace {

/// A move-only value that counts live instances (no leak, no double free).
struct tracked {
  static inline int live = 0;
  std::unique_ptr<std::string> s;
  explicit tracked(std::string x) : s(std::make_unique<std::string>(std::move(x))) { ++live; }
  tracked(tracked&& o) noexcept : s(std::move(o.s)) { ++live; }
  tracked& operator=(tracked&&) = delete;
  ~tracked() { --live; }
};

template <class M>
std::vector<std::pair<uint64_t, std::string>> contents(M& m) {
  std::vector<std::pair<uint64_t, std::string>> out;
  for (auto& [k, v] : m)
    out.emplace_back(k, *v.s);
  return out;
}

} // namespace

CAF_TEST(empty map owns nothing and iterates nothing) {
  seq_map<tracked> m;
  CAF_CHECK(m.empty());
  CAF_CHECK(m.begin() == m.end());
  CAF_CHECK(m.find(1) == m.end());
}

CAF_TEST(front acks keep order and reclaim the prefix) {
  seq_map<tracked> m;
  for (uint64_t k = 1; k <= 1000; ++k)
    m.emplace(k, tracked{std::to_string(k)});
  for (uint64_t k = 1; k <= 990; ++k) {
    auto i = m.find(k);
    CAF_REQUIRE(i != m.end());
    CAF_CHECK_EQUAL(*i->second.s, std::to_string(k));
    m.erase(i);
  }
  CAF_CHECK_EQUAL(m.size(), 10u);
  CAF_CHECK_EQUAL(m.begin()->first, 991u);
  CAF_CHECK_EQUAL(tracked::live, 10);
  m.clear();
  CAF_CHECK_EQUAL(tracked::live, 0);
}

CAF_TEST(random operations match std::map) {
  std::mt19937_64 rng{42};
  seq_map<tracked> m;
  std::map<uint64_t, std::string> ref;
  uint64_t next = 1;
  for (int step = 0; step < 200'000; ++step) {
    auto op = rng() % 100;
    if (op < 45) { // send: the next key
      auto k = next++;
      auto v = "v" + std::to_string(k);
      CAF_REQUIRE(m.emplace(k, tracked{v}).second);
      ref.emplace(k, v);
    } else if (op < 47 && next > 5) { // out of order: a key below the last
      auto k = next - 1 - rng() % 5;
      auto v = "o" + std::to_string(k);
      auto [it, inserted] = m.emplace(k, tracked{v});
      auto [rit, rinserted] = ref.emplace(k, v);
      CAF_REQUIRE_EQUAL(inserted, rinserted);
      CAF_REQUIRE_EQUAL(it->first, k);
      CAF_REQUIRE_EQUAL(*it->second.s, rit->second);
    } else if (op < 80 && !ref.empty()) { // ack the oldest
      auto k = ref.begin()->first;
      auto i = m.find(k);
      CAF_REQUIRE(i != m.end());
      auto n = m.erase(i);
      auto rn = ref.erase(ref.begin());
      CAF_REQUIRE_EQUAL(n == m.end(), rn == ref.end());
      if (rn != ref.end())
        CAF_REQUIRE_EQUAL(n->first, rn->first);
    } else if (op < 97 && !ref.empty()) { // ack one in the middle (or a stale id)
      auto k = ref.begin()->first + rng() % (next - ref.begin()->first + 2);
      auto i = m.find(k);
      auto ri = ref.find(k);
      CAF_REQUIRE_EQUAL(i == m.end(), ri == ref.end());
      if (ri != ref.end()) {
        auto n = m.erase(i);
        auto rn = ref.erase(ri);
        CAF_REQUIRE_EQUAL(n == m.end(), rn == ref.end());
        if (rn != ref.end())
          CAF_REQUIRE_EQUAL(n->first, rn->first);
      }
    } else { // reconnect: walk everything, drop some while iterating
      auto i = m.begin();
      auto ri = ref.begin();
      while (ri != ref.end()) {
        CAF_REQUIRE(i != m.end());
        CAF_REQUIRE_EQUAL(i->first, ri->first);
        if (rng() % 4 == 0) {
          i = m.erase(i);
          ri = ref.erase(ri);
        } else {
          ++i;
          ++ri;
        }
      }
      CAF_REQUIRE(i == m.end());
    }
    CAF_REQUIRE_EQUAL(m.size(), ref.size());
    CAF_REQUIRE_EQUAL(tracked::live, static_cast<int>(ref.size()));
  }
  std::vector<std::pair<uint64_t, std::string>> want(ref.begin(), ref.end());
  CAF_CHECK(contents(m) == want);
  m.clear();
  CAF_CHECK_EQUAL(tracked::live, 0);
}
