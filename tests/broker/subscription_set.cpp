#define CAF_SUITE broker_subscription_set
#include <caf/test/unit_test.hpp>

#include "amq/broker/subscription_set.hpp"

#include <map>
#include <random>
#include <string>

using namespace amq::broker;

namespace {

subscription_entry entry(uint32_t id, bool no_local = false) {
  subscription_entry e;
  e.max_qos = amq::protocol::qos::at_least_once;
  e.no_local = no_local;
  e.subscription_id = id;
  return e;
}

/// Checks every observable of `s` against `model`.
void check_same(const subscription_set& s, const std::map<std::string, subscription_entry>& model) {
  CAF_CHECK_EQUAL(s.size(), model.size());
  CAF_CHECK_EQUAL(s.empty(), model.empty());
  size_t seen = 0;
  for (auto& [filter, e] : s) {
    auto i = model.find(std::string{filter});
    if (i == model.end() || !(i->second == e))
      CAF_FAIL("unexpected or wrong entry for '" << std::string{filter} << "'");
    ++seen;
  }
  CAF_CHECK_EQUAL(seen, model.size());
  for (auto& [filter, e] : model) {
    CAF_CHECK_EQUAL(s.count(filter), 1u);
    CAF_CHECK(s.at(filter) == e);
  }
}

} // namespace

CAF_TEST(empty set allocates nothing and finds nothing) {
  subscription_set s;
  CAF_CHECK(s.empty());
  CAF_CHECK_EQUAL(s.size(), 0u);
  CAF_CHECK(s.begin() == s.end());
  CAF_CHECK_EQUAL(s.count("a"), 0u);
  CAF_CHECK(!s.get("a"));
  CAF_CHECK(!s.erase("a"));
  CAF_CHECK_EQUAL(sizeof(subscription_set), sizeof(void*));
}

CAF_TEST(insert replace erase while small) {
  subscription_set s;
  auto [f1, new1] = s.insert_or_assign("dev/1/cmd", entry(1));
  CAF_CHECK(new1);
  CAF_CHECK_EQUAL(f1, "dev/1/cmd");
  auto [f2, new2] = s.insert_or_assign("dev/1/cmd", entry(2, true));
  CAF_CHECK(!new2);
  CAF_CHECK_EQUAL(f2, "dev/1/cmd");
  CAF_CHECK_EQUAL(s.size(), 1u);
  CAF_CHECK(s.at("dev/1/cmd") == entry(2, true));
  CAF_CHECK(s.insert_or_assign("", entry(3)).second); // stored as given
  CAF_CHECK(s.insert_or_assign("dev/1/cm", entry(4)).second);
  CAF_CHECK_EQUAL(s.size(), 3u);
  CAF_CHECK(s.at("") == entry(3));
  CAF_CHECK(s.at("dev/1/cm") == entry(4));
  CAF_CHECK(!s.erase("dev/1/c"));
  CAF_CHECK(s.erase("dev/1/cmd"));
  CAF_CHECK(!s.erase("dev/1/cmd"));
  CAF_CHECK_EQUAL(s.count("dev/1/cmd"), 0u);
  CAF_CHECK(s.at("dev/1/cm") == entry(4)); // moved down by the erase
  CAF_CHECK(s.erase(""));
  CAF_CHECK(s.erase("dev/1/cm"));
  CAF_CHECK(s.empty());
  CAF_CHECK(s.begin() == s.end());
}

CAF_TEST(randomized against std::map across the small and large forms) {
  std::mt19937_64 rng(42);
  for (int trial = 0; trial < 40; ++trial) {
    subscription_set s;
    std::map<std::string, subscription_entry> model;
    // Few distinct filters keep it small; many push it past small_max.
    auto distinct = trial % 2 == 0 ? 10u : 3u * subscription_set::small_max;
    for (int step = 0; step < 600; ++step) {
      auto k = rng() % distinct;
      auto filter = k == 0 ? std::string{} : "f/" + std::to_string(k) + std::string(k % 23, 'x');
      if (rng() % 3 != 0) {
        auto e = entry(static_cast<uint32_t>(rng() % 100), rng() % 2 == 0);
        auto fresh = model.find(filter) == model.end();
        auto [stored, added] = s.insert_or_assign(filter, e);
        CAF_CHECK_EQUAL(added, fresh);
        CAF_CHECK_EQUAL(stored, filter);
        model[filter] = e;
      } else {
        CAF_CHECK_EQUAL(s.erase(filter), model.erase(filter) > 0);
      }
      if (step % 25 == 0)
        check_same(s, model);
    }
    check_same(s, model);
    subscription_set moved = std::move(s);
    CAF_CHECK(s.empty());
    check_same(moved, model);
    s = std::move(moved);
    check_same(s, model);
    s.clear();
    CAF_CHECK(s.empty());
  }
}
