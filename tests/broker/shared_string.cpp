#define CAF_SUITE broker_shared_string
#include <caf/test/unit_test.hpp>

// shared_string (amq/broker/shared_string.hpp), the client id handle: one block shared by every
// copy and freed with the last, compared and hashed as its characters, a hash-map key found by
// std::string_view and std::string without making a handle, and its count safe across threads.

#include "amq/broker/shared_string.hpp"

#include <string>
#include <string_view>
#include <thread>
#include <vector>

using amq::broker::shared_string;
using amq::broker::shared_string_hash;
using amq::broker::shared_string_map;
using namespace std::literals;

namespace {

/// A 40-character id (a UUID-style thing name): too long for std::string's inline buffer.
constexpr std::string_view long_id = "3f2a9c4e-7b1d-4e8a-9c2f-5d6e7f8a00000001";

} // namespace

CAF_TEST(the handle is one pointer and the empty string has no block) {
  CAF_CHECK_EQUAL(sizeof(shared_string), sizeof(void*));
  shared_string e;
  CAF_CHECK(e.empty());
  CAF_CHECK_EQUAL(e.size(), 0u);
  CAF_CHECK_EQUAL(e.use_count(), 0u);
  CAF_CHECK(e.view().empty());
  CAF_CHECK_EQUAL(std::string{e.c_str()}, "");
  shared_string from_empty{""sv};
  CAF_CHECK(from_empty.empty());
  CAF_CHECK_EQUAL(from_empty.use_count(), 0u); // no block for ""
  CAF_CHECK(from_empty == e);
  auto copy = e;
  CAF_CHECK(copy.empty());
}

CAF_TEST(copies share the block and count it) {
  shared_string a{long_id};
  CAF_CHECK_EQUAL(a.use_count(), 1u);
  CAF_CHECK(a.view() == long_id);
  CAF_CHECK_EQUAL(a.size(), long_id.size());
  CAF_CHECK(std::string_view{a.c_str()} == long_id); // NUL-terminated
  {
    auto b = a;
    CAF_CHECK(b.same_block(a));
    CAF_CHECK_EQUAL(a.use_count(), 2u);
    shared_string c;
    c = b;
    CAF_CHECK_EQUAL(a.use_count(), 3u);
    CAF_CHECK(c.view().data() == a.view().data()); // the same characters, not a copy
    // Moves hand the reference over.
    auto d = std::move(c);
    CAF_CHECK(c.empty());
    CAF_CHECK_EQUAL(a.use_count(), 3u);
    shared_string e;
    e = std::move(d);
    CAF_CHECK(d.empty());
    CAF_CHECK_EQUAL(a.use_count(), 3u);
    // Assignment releases what the target held.
    shared_string other{"other"sv};
    auto other2 = other;
    CAF_CHECK_EQUAL(other.use_count(), 2u);
    other2 = a;
    CAF_CHECK_EQUAL(other.use_count(), 1u);
    CAF_CHECK_EQUAL(a.use_count(), 4u);
    // Self-assignment changes nothing.
    auto& self = other2;
    other2 = self;
    CAF_CHECK_EQUAL(a.use_count(), 4u);
    other2 = std::move(self);
    CAF_CHECK_EQUAL(a.use_count(), 4u);
    CAF_CHECK(other2.view() == long_id);
  }
  CAF_CHECK_EQUAL(a.use_count(), 1u); // b, e and other2 are gone
  a.swap(a);
  CAF_CHECK(a.view() == long_id);
}

CAF_TEST(equality is by characters with any string type) {
  shared_string a{"dev-1"sv};
  shared_string b{"dev-1"sv};
  shared_string c{"dev-2"sv};
  CAF_CHECK(!a.same_block(b));
  CAF_CHECK(a == b); // equal characters in different blocks
  CAF_CHECK(a != c);
  CAF_CHECK(a == "dev-1"sv);
  CAF_CHECK("dev-1"sv == a);
  CAF_CHECK(a == std::string{"dev-1"});
  CAF_CHECK(std::string{"dev-1"} == a);
  CAF_CHECK(a == "dev-1");
  CAF_CHECK(a != "dev-10");
  CAF_CHECK(a != "dev-"sv);
  CAF_CHECK(a < c);
  CAF_CHECK(a < "dev-2"sv);
  CAF_CHECK(shared_string{} == ""sv);
  CAF_CHECK(shared_string{} != a);
  // A std::string_view, std::string and a copy made from it say the same.
  std::string_view v = a;
  CAF_CHECK(v == "dev-1");
  std::string s{a};
  CAF_CHECK_EQUAL(s, "dev-1");
  CAF_CHECK_EQUAL(a.str(), "dev-1");
  s = c;
  CAF_CHECK_EQUAL(s, "dev-2");
}

CAF_TEST(hashing is the hash of the characters) {
  shared_string a{long_id};
  shared_string b{std::string{long_id}};
  CAF_CHECK_EQUAL(std::hash<shared_string>{}(a), std::hash<std::string_view>{}(long_id));
  CAF_CHECK_EQUAL(std::hash<shared_string>{}(a), std::hash<shared_string>{}(b));
  CAF_CHECK_EQUAL(shared_string_hash{}(a), shared_string_hash{}(long_id));
  CAF_CHECK_EQUAL(shared_string_hash{}(std::string{long_id}), shared_string_hash{}(a));
  CAF_CHECK_EQUAL(std::hash<shared_string>{}(shared_string{}), std::hash<std::string_view>{}(""));
}

CAF_TEST(a map keyed by handles is found by string_view and string without a new handle) {
  shared_string_map<int> m;
  std::vector<shared_string> keys;
  for (int i = 0; i < 1000; ++i) {
    keys.emplace_back(std::string{long_id.substr(0, 30)} + std::to_string(i));
    m.emplace(keys.back(), i);
  }
  CAF_CHECK_EQUAL(m.size(), 1000u);
  for (int i = 0; i < 1000; ++i) {
    auto text = std::string{long_id.substr(0, 30)} + std::to_string(i);
    auto& key = keys[static_cast<size_t>(i)];
    CAF_CHECK_EQUAL(key.use_count(), 2u); // the vector's and the map's
    auto j = m.find(std::string_view{text});
    CAF_REQUIRE(j != m.end());
    CAF_CHECK_EQUAL(j->second, i);
    CAF_CHECK(j->first.same_block(key)); // the key is the handle put in, not a copy
    CAF_CHECK_EQUAL(key.use_count(), 2u); // the lookup made no handle
    CAF_CHECK(m.find(text) == j);
    CAF_CHECK(m.find(key) == j);
    CAF_CHECK(m.find(text.c_str()) == j);
    CAF_CHECK(m.contains(std::string_view{text}));
    CAF_CHECK_EQUAL(m.count(text), 1u);
  }
  CAF_CHECK(m.find("nope"sv) == m.end());
  CAF_CHECK(m.find(long_id.substr(0, 30)) == m.end());
  // Erasing the entry releases the map's reference.
  m.erase(m.find(keys[7]));
  CAF_CHECK_EQUAL(keys[7].use_count(), 1u);
  // An equal key from another block finds the entry and does not replace its key.
  shared_string again{keys[8].view()};
  auto [k, inserted] = m.try_emplace(again, -1);
  CAF_CHECK(!inserted);
  CAF_CHECK(k->first.same_block(keys[8]));
  CAF_CHECK_EQUAL(again.use_count(), 1u);
  m.clear();
  for (auto& key : keys)
    CAF_CHECK_EQUAL(key.use_count(), 1u);
}

CAF_TEST(copies made and dropped on several threads keep the count exact) {
  shared_string a{long_id};
  constexpr int threads = 4;
  constexpr int rounds = 100'000;
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([a] { // a copy per thread
      std::vector<shared_string> held;
      for (int i = 0; i < rounds; ++i) {
        held.push_back(a);
        if (held.size() > 16)
          held.clear();
      }
    });
  for (auto& t : ts)
    t.join();
  CAF_CHECK_EQUAL(a.use_count(), 1u);
  CAF_CHECK(a.view() == long_id);
}
