// Micro-benchmarks of the router's topic tree with 1,000,000 subscriptions.
//
// The tree (built once per process, ~1 s) holds, for 1,000,000 subscriptions:
//   900,000  devices/<i>/cmd          exact, session i           (i < 900,000)
//    90,000  devices/<i>/+            wildcard, same session i   (i < 90,000):
//                                     overlaps devices/<i>/cmd → dedup path
//     9,000  sites/<s>/+/status       1,000 sites × 9 sessions
//       500  fleet/+/status           500 sessions
//       500  fleet/#                  500 other sessions
// plus 10 shared groups "$share/g<k>/jobs/<k>/#" of 10 members each (100).
//
// Run: ./topic_tree_bench [--benchmark_filter=...]
// The random-topic cases cycle over 65,536 devices, so most node accesses miss
// the CPU caches, as on a real broker; bm_match_exact_hot shows the warm cost.
// Figures: items_per_second counts deliveries for the fan-out cases and
// operations for subscribe/unsubscribe.

#include "amq/broker/topic_tree.hpp"

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <vector>

using namespace amq::broker;

namespace {

constexpr size_t exact_subs = 900'000;
constexpr size_t overlap_subs = 90'000;
constexpr size_t sites = 1'000;
constexpr size_t per_site = 9;
constexpr size_t fleet_subs = 500;

/// Resident set size in bytes (Linux).
size_t rss_bytes() {
  std::ifstream in("/proc/self/statm");
  size_t pages = 0;
  size_t resident = 0;
  in >> pages >> resident;
  return resident * 4096;
}

subscription_options opts(uint8_t q, uint32_t id = 0) {
  subscription_options o;
  o.max_qos = q;
  o.subscription_id = id;
  return o;
}

struct world {
  topic_tree tree;
  size_t bytes = 0;
  double build_seconds = 0;

  world() {
    auto rss0 = rss_bytes();
    auto t0 = std::chrono::steady_clock::now();
    std::string f;
    for (size_t i = 0; i < exact_subs; ++i) {
      f.assign("devices/").append(std::to_string(i)).append("/cmd");
      tree.subscribe(i, f, opts(1, 1));
    }
    for (size_t i = 0; i < overlap_subs; ++i) {
      f.assign("devices/").append(std::to_string(i)).append("/+");
      tree.subscribe(i, f, opts(2, 2));
    }
    session_id next = exact_subs;
    for (size_t s = 0; s < sites; ++s) {
      f.assign("sites/").append(std::to_string(s)).append("/+/status");
      for (size_t k = 0; k < per_site; ++k)
        tree.subscribe(next++, f, opts(0));
    }
    for (size_t i = 0; i < fleet_subs; ++i) {
      tree.subscribe(next++, "fleet/+/status", opts(1));
      tree.subscribe(next++, "fleet/#", opts(0));
    }
    for (size_t g = 0; g < 10; ++g) {
      f.assign("$share/g").append(std::to_string(g)).append("/jobs/").append(std::to_string(g)).append("/#");
      for (size_t k = 0; k < 10; ++k)
        tree.subscribe(next++, f, opts(1));
    }
    build_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    bytes = rss_bytes() - rss0;
    std::fprintf(stderr,
                 "topic tree: %zu subscriptions, %zu nodes, built in %.2f s, "
                 "~%zu MB RSS (%.0f bytes/subscription)\n",
                 tree.size(), tree.node_count(), build_seconds, bytes >> 20,
                 static_cast<double>(bytes) / static_cast<double>(tree.size()));
  }
};

world& the_world() {
  static world w;
  return w;
}

std::vector<std::string> make_topics(size_t n, auto&& make) {
  std::vector<std::string> topics;
  topics.reserve(n);
  std::mt19937_64 rng(42);
  for (size_t i = 0; i < n; ++i)
    topics.push_back(make(rng));
  return topics;
}

void run_match(benchmark::State& state, const std::vector<std::string>& topics) {
  auto& w = the_world();
  std::vector<delivery> out;
  size_t i = 0;
  size_t deliveries = 0;
  for (auto _ : state) {
    w.tree.match(topics[i++ & (topics.size() - 1)], std::nullopt, out);
    deliveries += out.size();
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["matches/s"] =
    benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["deliveries/match"] =
    static_cast<double>(deliveries) / static_cast<double>(state.iterations());
  state.SetItemsProcessed(static_cast<int64_t>(deliveries));
}

// devices/<i>/cmd with i in [90k, 900k): one exact subscription.
void bm_match_exact(benchmark::State& state) {
  static auto topics = make_topics(1 << 16, [](auto& rng) {
    auto i = std::uniform_int_distribution<size_t>(overlap_subs, exact_subs - 1)(rng);
    return "devices/" + std::to_string(i) + "/cmd";
  });
  run_match(state, topics);
}

// Same, cycling over only 256 devices: cache-warm, the algorithmic cost.
void bm_match_exact_hot(benchmark::State& state) {
  static auto topics = make_topics(256, [](auto& rng) {
    auto i = std::uniform_int_distribution<size_t>(overlap_subs, exact_subs - 1)(rng);
    return "devices/" + std::to_string(i) + "/cmd";
  });
  run_match(state, topics);
}

// devices/<i>/cmd with i < 90k: exact + devices/<i>/+ of the same session,
// merged into one delivery (dedup table path).
void bm_match_overlap(benchmark::State& state) {
  static auto topics = make_topics(1 << 16, [](auto& rng) {
    auto i = std::uniform_int_distribution<size_t>(0, overlap_subs - 1)(rng);
    return "devices/" + std::to_string(i) + "/cmd";
  });
  run_match(state, topics);
}

// A topic nobody subscribed to, in a big level: devices/<i>/telemetry.
void bm_match_none(benchmark::State& state) {
  static auto topics = make_topics(1 << 16, [](auto& rng) {
    auto i = std::uniform_int_distribution<size_t>(overlap_subs, exact_subs - 1)(rng);
    return "devices/" + std::to_string(i) + "/telemetry";
  });
  run_match(state, topics);
}

// sites/<s>/<device>/status: 9 deliveries through '+'.
void bm_match_site_wildcard(benchmark::State& state) {
  static auto topics = make_topics(1 << 16, [](auto& rng) {
    auto s = std::uniform_int_distribution<size_t>(0, sites - 1)(rng);
    auto d = std::uniform_int_distribution<size_t>(0, 99'999)(rng);
    return "sites/" + std::to_string(s) + "/" + std::to_string(d) + "/status";
  });
  run_match(state, topics);
}

// fleet/<x>/status: 1,000 deliveries (fleet/+/status and fleet/#).
void bm_match_fleet_fanout(benchmark::State& state) {
  static auto topics = make_topics(1 << 10, [](auto& rng) {
    return "fleet/" + std::to_string(rng() % 100'000) + "/status";
  });
  run_match(state, topics);
}

// jobs/<k>/x: one shared group, one of 10 members (round-robin).
void bm_match_shared(benchmark::State& state) {
  static auto topics = make_topics(1 << 10, [](auto& rng) {
    return "jobs/" + std::to_string(rng() % 10) + "/x";
  });
  run_match(state, topics);
}

// subscribe + unsubscribe of a new exact filter (creates and prunes 2 nodes)
// in the 1M tree; each iteration is one subscribe and one unsubscribe.
void bm_subscribe_unsubscribe_exact(benchmark::State& state) {
  auto& w = the_world();
  std::vector<std::string> filters;
  for (size_t i = 0; i < 4096; ++i)
    filters.push_back("devices/new-" + std::to_string(i) + "/cmd");
  size_t i = 0;
  for (auto _ : state) {
    auto& f = filters[i++ & 4095];
    auto sid = 5'000'000 + (i & 4095);
    w.tree.subscribe(sid, f, opts(1));
    w.tree.unsubscribe(sid, f);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * 2);
}

// Re-subscribing existing filters (replace path, no node creation).
void bm_resubscribe_existing(benchmark::State& state) {
  auto& w = the_world();
  static auto filters = make_topics(1 << 16, [](auto& rng) {
    auto i = std::uniform_int_distribution<size_t>(0, exact_subs - 1)(rng);
    return "devices/" + std::to_string(i) + "/cmd";
  });
  std::vector<session_id> ids;
  for (auto& f : filters)
    ids.push_back(std::stoull(f.substr(8)));
  size_t i = 0;
  for (auto _ : state) {
    auto k = i++ & (filters.size() - 1);
    benchmark::DoNotOptimize(w.tree.subscribe(ids[k], filters[k], opts(1, 1)));
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

// Joining the big fleet/# list (1 of 500+ subscribers: indexed list).
void bm_subscribe_unsubscribe_shared_filter(benchmark::State& state) {
  auto& w = the_world();
  session_id sid = 9'000'000;
  for (auto _ : state) {
    w.tree.subscribe(sid, "fleet/#", opts(1));
    w.tree.unsubscribe(sid, "fleet/#");
    ++sid;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * 2);
}

// Building a 1M-subscription tree from scratch (exact filters only).
void bm_build_1m_exact(benchmark::State& state) {
  std::vector<std::string> filters;
  filters.reserve(1'000'000);
  for (size_t i = 0; i < 1'000'000; ++i)
    filters.push_back("devices/" + std::to_string(i) + "/cmd");
  for (auto _ : state) {
    topic_tree t;
    for (size_t i = 0; i < filters.size(); ++i)
      t.subscribe(i, filters[i], opts(1));
    benchmark::DoNotOptimize(t.size());
    state.PauseTiming();
    t = topic_tree{}; // don't time the teardown
    state.ResumeTiming();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * 1'000'000);
}

} // namespace

BENCHMARK(bm_match_exact);
BENCHMARK(bm_match_exact_hot);
BENCHMARK(bm_match_overlap);
BENCHMARK(bm_match_none);
BENCHMARK(bm_match_site_wildcard);
BENCHMARK(bm_match_fleet_fanout);
BENCHMARK(bm_match_shared);
BENCHMARK(bm_subscribe_unsubscribe_exact);
BENCHMARK(bm_resubscribe_existing);
BENCHMARK(bm_subscribe_unsubscribe_shared_filter);
BENCHMARK(bm_build_1m_exact)->Unit(benchmark::kMillisecond)->Iterations(3);

BENCHMARK_MAIN();
