#define CAF_SUITE admin_directory
#include <deque>
#include <caf/test/unit_test.hpp>

#include "amq/admin/session_directory.hpp"

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

using namespace amq::admin;

namespace {

/// A directory with `n` sessions in varied states, and the same data as a
/// plain vector to check answers against by brute force.
struct fixture {
  /// The sessions' stats blocks (the directory points at them; they outlive it).
  std::deque<session_stats> stats;
  session_directory dir{"node-a"};
  std::vector<session_info> all;

  fixture() {
    std::mt19937 rng{42};
    for (int i = 0; i < 300; ++i) {
      session_info s;
      s.client_id = "c" + std::to_string(rng() % 100000) + "-" + std::to_string(i);
      s.connected = rng() % 3 != 0;
      s.persistent = !s.connected || rng() % 2 == 0;
      s.type = rng() % 4 == 0 ? client_kind::application : client_kind::device;
      s.address = "10." + std::to_string(i % 3) + ".0." + std::to_string(i) + ":1883";
      s.connected_at_ms = 1000 + static_cast<int64_t>(rng() % 50); // many ties
      s.disconnected_at_ms = s.connected ? 0 : 5000 + static_cast<int64_t>(rng() % 50);
      s.subscriptions = rng() % 5;
      dir.upsert(static_cast<uint64_t>(i + 1), s, &stats.emplace_back());
      all.push_back(s);
    }
  }

  static int64_t key(const session_info& s, sort_key k) {
    switch (k) {
      case sort_key::connected_at:
        return s.connected_at_ms;
      case sort_key::disconnected_at:
        return s.disconnected_at_ms;
      case sort_key::subscriptions:
        return s.subscriptions;
      default:
        return 0;
    }
  }

  std::vector<std::string> expected(const directory_query& q, bool (*pred)(const session_info&)) {
    std::vector<const session_info*> v;
    for (auto& s : all)
      if (pred(s))
        v.push_back(&s);
    std::sort(v.begin(), v.end(), [&](auto* a, auto* b) {
      auto ka = key(*a, q.sort), kb = key(*b, q.sort);
      if (ka != kb)
        return q.descending ? ka > kb : ka < kb;
      return q.descending ? a->client_id > b->client_id : a->client_id < b->client_id;
    });
    std::vector<std::string> out;
    for (auto* s : v)
      out.push_back(s->client_id);
    return out;
  }

  /// Pages through everything with `q` (limit as given); returns the ids.
  std::vector<std::string> page_all(directory_query q) {
    std::vector<std::string> out;
    for (int guard = 0; guard < 1000; ++guard) {
      directory_page p;
      std::string err;
      CAF_REQUIRE(dir.list(q, p, err));
      CAF_CHECK_LESS_OR_EQUAL(p.items.size(), q.limit);
      for (auto& r : p.items)
        out.push_back(r.info.client_id);
      if (!p.next_cursor)
        return out;
      q.cursor = *p.next_cursor;
    }
    CAF_FAIL("paging did not end");
    return out;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(directory_tests, fixture)

CAF_TEST(paging unfiltered in every sort order returns every session once in order) {
  for (size_t k = 0; k < sort_key_count; ++k)
    for (bool desc : {false, true}) {
      directory_query q;
      q.sort = static_cast<sort_key>(k);
      q.descending = desc;
      q.limit = 7;
      CAF_CHECK_EQUAL(page_all(q), expected(q, [](const session_info&) { return true; }));
    }
}

CAF_TEST(category filters) {
  directory_query q;
  q.connected = false;
  q.type = client_kind::application;
  q.limit = 5;
  auto pred = [](const session_info& s) {
    return !s.connected && s.type == client_kind::application;
  };
  CAF_CHECK_EQUAL(page_all(q), expected(q, pred));
  directory_page p;
  std::string err;
  CAF_REQUIRE(dir.list(q, p, err));
  CAF_REQUIRE(p.matching.has_value());
  CAF_CHECK_EQUAL(*p.matching, expected(q, pred).size());
  q.sort = sort_key::disconnected_at;
  q.descending = true;
  CAF_CHECK_EQUAL(page_all(q), expected(q, pred));
  directory_query q2;
  q2.persistent = false;
  q2.sort = sort_key::subscriptions;
  CAF_CHECK_EQUAL(page_all(q2), expected(q2, [](const session_info& s) { return !s.persistent; }));
}

CAF_TEST(residual filters and the scan limit) {
  directory_query q;
  q.client_id_contains = "-1";
  q.min_subscriptions = 2;
  q.client_ip = "10.1.";
  q.limit = 3;
  auto pred = [](const session_info& s) {
    return s.client_id.find("-1") != std::string::npos && s.subscriptions >= 2
           && s.address.starts_with("10.1.");
  };
  auto want = expected(q, pred);
  CAF_CHECK(!want.empty());
  CAF_CHECK_EQUAL(page_all(q), want);
  // A tiny scan limit: short pages, but paging still finds every match.
  q.scan_limit = 4;
  CAF_CHECK_EQUAL(page_all(q), want);
  directory_page p;
  std::string err;
  CAF_REQUIRE(dir.list(q, p, err));
  CAF_CHECK(!p.matching.has_value());
  CAF_CHECK_LESS_OR_EQUAL(p.scanned, 4u);
  q.node = "node-b";
  q.scan_limit = 1000;
  CAF_CHECK(page_all(q).empty());
  q.node = "node-a";
  CAF_CHECK_EQUAL(page_all(q), want);
}

CAF_TEST(totals and state changes) {
  auto t = dir.totals();
  CAF_CHECK_EQUAL(t.sessions, 300u);
  CAF_CHECK_EQUAL(t.connected + t.disconnected, 300u);
  CAF_CHECK_EQUAL(t.persistent + t.clean, 300u);
  CAF_CHECK_EQUAL(t.device + t.application, 300u);
  // Find a connected one, disconnect it.
  auto it = std::find_if(all.begin(), all.end(), [](auto& s) { return s.connected; });
  auto owner = static_cast<uint64_t>(it - all.begin() + 1);
  dir.set_disconnected(owner + 1000, it->client_id, 9999, 0); // not the owner: ignored
  CAF_CHECK(dir.find(it->client_id)->info.connected);
  dir.set_disconnected(owner, it->client_id, 9999, 19999);
  auto row = dir.find(it->client_id);
  CAF_REQUIRE(row);
  CAF_CHECK(!row->info.connected);
  CAF_CHECK_EQUAL(row->info.expires_at_ms, 19999);
  CAF_CHECK_EQUAL(row->node, "node-a");
  CAF_CHECK_EQUAL(dir.totals().connected, t.connected - 1);
  dir.set_subscriptions(owner, it->client_id, 77);
  directory_query q;
  q.sort = sort_key::subscriptions;
  q.descending = true;
  q.limit = 1;
  directory_page p;
  std::string err;
  CAF_REQUIRE(dir.list(q, p, err));
  CAF_CHECK_EQUAL(p.items.at(0).info.client_id, it->client_id);
  // Takeover by a new owner; the old owner's removal is then ignored.
  session_info again = *it;
  again.connected = true;
  dir.upsert(5000, again, nullptr);
  dir.remove(owner, it->client_id);
  CAF_CHECK(dir.find(it->client_id).has_value());
  dir.remove(5000, it->client_id);
  CAF_CHECK(!dir.find(it->client_id).has_value());
  CAF_CHECK_EQUAL(dir.totals().sessions, 299u);
  CAF_CHECK(dir.erase(all.back().client_id));
  CAF_CHECK(!dir.erase(all.back().client_id));
  CAF_CHECK_EQUAL(dir.size(), 298u);
}

CAF_TEST(hot numbers come from the shared stats) {
  session_info s;
  s.client_id = "hot";
  auto& st = stats.emplace_back();
  dir.upsert(1, s, &st);
  st.queue_depth.store(12);
  st.inflight.store(3);
  st.dropped.store(5);
  auto r = dir.find("hot");
  CAF_REQUIRE(r);
  CAF_CHECK_EQUAL(r->queue_depth, 12u);
  CAF_CHECK_EQUAL(r->inflight, 3u);
  CAF_CHECK_EQUAL(r->dropped, 5u);
}

CAF_TEST(bad cursors are refused with the parameter named) {
  directory_query q;
  directory_page p;
  std::string err;
  for (auto c : {"x", "v1.", "v1.9.a.0.61", "v1.0.x.0.61", "v1.0.a.zz.61", "v1.0.a.0.6",
                 "v1.0.a.0.6g", "v1.0.a..61"}) {
    q.cursor = c;
    CAF_CHECK(!dir.list(q, p, err));
    CAF_CHECK(err.starts_with("cursor"));
  }
  q.cursor = encode_cursor(sort_key::subscriptions, false, 1, "a");
  CAF_CHECK(!dir.list(q, p, err)); // another sort order
  q.sort = sort_key::subscriptions;
  CAF_CHECK(dir.list(q, p, err));
  sort_key k;
  bool d;
  int64_t v;
  std::string id;
  CAF_CHECK(decode_cursor(encode_cursor(sort_key::connected_at, true, -5, std::string{"a\0/b", 4}),
                          k, d, v, id));
  CAF_CHECK(k == sort_key::connected_at && d && v == -5 && id == std::string("a\0/b", 4));
}

CAF_TEST(random state changes keep every index in order) {
  // A mirror of the directory (owner, state) checked by brute force after
  // random reports: reconnects with addresses of every length, late reports
  // of former owners, subscription changes, ends and clears.
  std::map<std::string, std::pair<uint64_t, session_info>> mirror;
  for (size_t i = 0; i < all.size(); ++i)
    mirror[all[i].client_id] = {i + 1, all[i]};
  std::mt19937 rng{7};
  std::vector<std::string> pool;
  for (auto& s : all)
    pool.push_back(s.client_id);
  pool.emplace_back(""); // the empty id is an id too
  for (int i = 0; i < 100; ++i)
    pool.push_back("new-" + std::string(rng() % 40, 'x') + std::to_string(i));
  uint64_t next_owner = 1000;
  auto check = [&] {
    CAF_REQUIRE_EQUAL(dir.size(), mirror.size());
    for (auto& [id, v] : mirror) {
      auto r = dir.find(id);
      CAF_REQUIRE(r);
      auto& s = v.second;
      CAF_CHECK(r->info.client_id == s.client_id && r->info.address == s.address
                && r->info.connected == s.connected && r->info.persistent == s.persistent
                && r->info.type == s.type && r->info.protocol_version == s.protocol_version
                && r->info.connected_at_ms == s.connected_at_ms
                && r->info.disconnected_at_ms == s.disconnected_at_ms
                && r->info.keep_alive == s.keep_alive
                && r->info.session_expiry == s.session_expiry
                && r->info.expires_at_ms == s.expires_at_ms
                && r->info.subscriptions == s.subscriptions);
    }
    for (size_t k = 0; k < sort_key_count; ++k)
      for (bool desc : {false, true})
        for (int conn : {-1, 0, 1})
          for (int app : {-1, 1}) {
            directory_query q;
            q.sort = static_cast<sort_key>(k);
            q.descending = desc;
            q.limit = 13;
            if (conn >= 0)
              q.connected = conn == 1;
            if (app >= 0)
              q.type = client_kind::application;
            std::vector<const session_info*> v;
            for (auto& [id, e] : mirror)
              if ((!q.connected || e.second.connected == *q.connected)
                  && (!q.type || e.second.type == *q.type))
                v.push_back(&e.second);
            std::sort(v.begin(), v.end(), [&](auto* a, auto* b) {
              auto ka = key(*a, q.sort), kb = key(*b, q.sort);
              if (ka != kb)
                return desc ? ka > kb : ka < kb;
              return desc ? a->client_id > b->client_id : a->client_id < b->client_id;
            });
            std::vector<std::string> want;
            for (auto* s : v)
              want.push_back(s->client_id);
            CAF_CHECK_EQUAL(page_all(q), want);
          }
  };
  for (int round = 0; round < 4; ++round) {
    for (int op = 0; op < 1500; ++op) {
      auto& id = pool[rng() % pool.size()];
      auto it = mirror.find(id);
      // Mostly the current owner; sometimes a former or unknown one.
      uint64_t owner = it != mirror.end() && rng() % 8 != 0 ? it->second.first : rng() % 50;
      switch (rng() % 6) {
        case 0:
        case 1: {
          session_info s;
          s.client_id = id;
          s.connected = rng() % 3 != 0;
          s.persistent = rng() % 2 == 0;
          s.type = rng() % 4 == 0 ? client_kind::application : client_kind::device;
          s.protocol_version = rng() % 2 ? 5 : 4;
          s.address = rng() % 5 == 0 ? std::string{}
                                     : "10.0." + std::string(rng() % 50, '1') + ":"
                                         + std::to_string(rng() % 65536);
          s.connected_at_ms = 1000 + static_cast<int64_t>(rng() % 50);
          s.disconnected_at_ms = s.connected ? 0 : 5000 + static_cast<int64_t>(rng() % 50);
          s.keep_alive = static_cast<uint16_t>(rng());
          s.session_expiry = rng() % 2 ? UINT32_MAX : rng() % 100;
          s.expires_at_ms = static_cast<int64_t>(rng() % 100000);
          s.subscriptions = rng() % 5;
          auto o = ++next_owner;
          dir.upsert(o, s, rng() % 2 ? &stats.emplace_back() : nullptr);
          mirror[id] = {o, s};
          break;
        }
        case 2: {
          auto at = 5000 + static_cast<int64_t>(rng() % 50);
          dir.set_disconnected(owner, id, at, at + 10);
          if (it != mirror.end() && it->second.first == owner) {
            it->second.second.connected = false;
            it->second.second.disconnected_at_ms = at;
            it->second.second.expires_at_ms = at + 10;
          }
          break;
        }
        case 3: {
          auto n = static_cast<uint32_t>(rng() % 5);
          dir.set_subscriptions(owner, id, n);
          if (it != mirror.end() && it->second.first == owner)
            it->second.second.subscriptions = n;
          break;
        }
        case 4:
          dir.remove(owner, id);
          if (it != mirror.end() && it->second.first == owner)
            mirror.erase(it);
          break;
        default:
          if (rng() % 4 == 0) {
            CAF_CHECK_EQUAL(dir.erase(id), it != mirror.end());
            if (it != mirror.end())
              mirror.erase(it);
          }
      }
    }
    check();
  }
}

CAF_TEST_FIXTURE_SCOPE_END()
