#define CAF_SUITE broker_packet_id_map
#include <caf/test/unit_test.hpp>

// packet_id_map (the session's in-flight identifiers) against
// std::unordered_map: the same answers under a long random mix of
// consecutive identifiers (wrapping at 65535), random identifiers that
// collide, and erases at the front, in the middle and by iterator; and it
// owns no memory once empty.

#include "amq/broker/packet_id_map.hpp"

#include <map>
#include <random>
#include <unordered_map>

using amq::broker::packet_id_map;

CAF_TEST(empty map answers nothing) {
  packet_id_map m;
  CAF_CHECK(m.empty());
  CAF_CHECK(m.begin() == m.end());
  CAF_CHECK(m.find(1) == m.end());
  CAF_CHECK_EQUAL(m.count(1), 0u);
  CAF_CHECK_EQUAL(m.erase(uint16_t{1}), 0u);
}

CAF_TEST(random operations match std::unordered_map) {
  std::mt19937_64 rng{7};
  packet_id_map m;
  std::unordered_map<uint16_t, uint64_t> ref;
  uint16_t next_id = 65'000; // wraps at 65535 -> 1 during the run
  uint64_t seq = 0;
  auto check_all = [&] {
    CAF_REQUIRE_EQUAL(m.size(), ref.size());
    size_t n = 0;
    for (auto& [id, s] : m) {
      auto r = ref.find(id);
      CAF_REQUIRE(r != ref.end());
      CAF_REQUIRE_EQUAL(r->second, s);
      ++n;
    }
    CAF_REQUIRE_EQUAL(n, ref.size());
  };
  for (int step = 0; step < 300'000; ++step) {
    auto op = rng() % 100;
    if (op < 40) { // consecutive, as next_packet_id hands them out
      if (++next_id == 0)
        next_id = 1;
      auto [it, ins] = m.emplace(next_id, ++seq);
      auto [rit, rins] = ref.emplace(next_id, seq);
      CAF_REQUIRE_EQUAL(ins, rins);
      CAF_REQUIRE_EQUAL(it->second, rit->second);
    } else if (op < 50) { // random: collisions and long probe runs
      auto id = static_cast<uint16_t>(1 + rng() % 65'535);
      auto [it, ins] = m.emplace(id, ++seq);
      auto [rit, rins] = ref.emplace(id, seq);
      CAF_REQUIRE_EQUAL(ins, rins);
      CAF_REQUIRE_EQUAL(it->second, rit->second);
    } else if (op < 75 && !ref.empty()) { // erase a present one by iterator
      auto pick = ref.begin();
      std::advance(pick, static_cast<long>(rng() % std::min<size_t>(ref.size(), 8)));
      auto id = pick->first;
      auto it = m.find(id);
      CAF_REQUIRE(it != m.end());
      CAF_REQUIRE_EQUAL(it->second, pick->second);
      m.erase(it);
      ref.erase(pick);
    } else if (op < 95) { // erase by key, present or not
      auto id = static_cast<uint16_t>(rng() % 2 ? next_id - rng() % 200 : rng() % 65'536);
      CAF_REQUIRE_EQUAL(m.erase(id), ref.erase(id));
    } else { // lookups
      auto id = static_cast<uint16_t>(next_id - rng() % 300);
      CAF_REQUIRE_EQUAL(m.count(id), ref.count(id));
      auto it = m.find(id);
      CAF_REQUIRE_EQUAL(it == m.end(), ref.find(id) == ref.end());
    }
    if (ref.size() > 3000) { // drain, as a window would
      while (!ref.empty()) {
        auto id = ref.begin()->first;
        CAF_REQUIRE_EQUAL(m.erase(id), 1u);
        ref.erase(ref.begin());
      }
      CAF_REQUIRE(m.empty());
      CAF_REQUIRE(m.begin() == m.end());
    }
    if (step % 1000 == 0)
      check_all();
  }
  check_all();
  m.clear();
  CAF_CHECK(m.empty());
}
