// admin_bench: the admin API's session directory with 1,000,000 sessions.
// Prints p50/p99/max latency of the calls the Sessions page makes — first
// page unfiltered, filtered by category, by client id substring, sorted by
// another key, the next page, a detail — through the real route handlers
// (http_server::dispatch: parameter parsing, directory, JSON rendering; no
// socket), plus the memory per directory entry. Figures, not asserts:
//   ./build-release/tests/bench/admin_bench [--sessions 1000000] [--runs 2000]
#include "amq/admin/api.hpp"

#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

using namespace amq::admin;
using clk = std::chrono::steady_clock;

namespace {

/// Answers at once: the bench measures the API and the directory.
struct null_ops : broker_ops {
  void subscriptions(const std::string&,
                     std::function<void(std::optional<std::vector<subscription_view>>)> done)
    override {
    done(std::vector<subscription_view>{{"devices/+/cmd", 1, false, false, 0, 0}});
  }
  void disconnect(const std::string&, std::function<void(op_result)> done) override {
    done(op_result::done);
  }
  void clear(const std::string&, bool, std::function<void(op_result)> done) override {
    done(op_result::done);
  }
  void retained(const std::string&, const std::string&, size_t,
                std::function<void(std::optional<retained_list>)> done) override {
    done(retained_list{});
  }
  void delete_retained(const std::string&, std::function<void(op_result)> done) override {
    done(op_result::done);
  }
  uint64_t connections() override {
    return 0;
  }
};

size_t heap_in_use() {
  auto mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

int runs_default = 2000;

struct stats {
  double p50, p99, max;
  size_t bytes;
};

} // namespace

int main(int argc, char** argv) {
  size_t n = 1'000'000;
  int runs = 2000;
  for (int i = 1; i < argc; ++i)
    if (!std::strcmp(argv[i], "--help") || !std::strcmp(argv[i], "-h")) {
      std::printf("usage: %s [--sessions N (1000000)] [--runs N (2000)]\n", argv[0]);
      return 0;
    }
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--sessions"))
      n = std::stoul(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--runs"))
      runs = std::stoi(argv[i + 1]);
  }
  auto dir = std::make_shared<session_directory>("node-1");
  std::mt19937_64 rng{7};
  // Realistic ids: "device-0000123456" (17 bytes: one heap block beyond the
  // small-string buffer) for DEVICEs, "app-svc-123456" for APPLICATIONs.
  std::vector<std::string> ids;
  ids.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    char buf[40];
    std::snprintf(buf, sizeof buf, i % 10 == 0 ? "app-svc-%06zu" : "device-%010zu", i);
    ids.emplace_back(buf);
  }
  size_t estimate = 0; // approx_entry_bytes() summed over the entries
  // The stats blocks live in the sessions (the directory points at them): allocated before the
  // measurement, which counts the directory alone.
  std::vector<session_stats> session_blocks(n);
  auto before = heap_in_use();
  auto t0 = clk::now();
  for (size_t i = 0; i < n; ++i) {
    session_info s;
    bool app = i % 10 == 0;
    char buf[40];
    s.client_id = ids[i];
    s.type = app ? client_kind::application : client_kind::device;
    s.connected = rng() % 10 < 7;
    s.persistent = !s.connected || rng() % 2 == 0;
    s.protocol_version = rng() % 2 ? 5 : 4;
    std::snprintf(buf, sizeof buf, "10.%u.%u.%u:%u", unsigned(rng() % 256), unsigned(rng() % 256),
                  unsigned(rng() % 256), unsigned(1024 + rng() % 60000));
    s.address = buf;
    s.connected_at_ms = 1'764'000'000'000 + static_cast<int64_t>(rng() % 86'400'000);
    s.disconnected_at_ms = s.connected ? 0 : s.connected_at_ms + 1000;
    s.keep_alive = 60;
    s.session_expiry = s.persistent ? 3600 : 0;
    s.subscriptions = static_cast<uint32_t>(rng() % 8);
    dir->upsert(i + 1, s, &session_blocks[i]);
    estimate += session_directory::approx_entry_bytes(s.client_id.size() + s.address.size());
  }
  auto fill_ms = std::chrono::duration<double, std::milli>(clk::now() - t0).count();
  auto after = heap_in_use();
  (void)rng;
  double per_entry = static_cast<double>(after - before) / static_cast<double>(n);
  std::printf("sessions: %zu, directory filled in %.0f ms (%.2f us per upsert)\n", n, fill_ms,
              fill_ms * 1000 / static_cast<double>(n));
  std::printf("memory: %.0f bytes per entry measured (heap); the directory's own estimate: "
              "%.0f\n",
              per_entry, static_cast<double>(estimate) / static_cast<double>(n));

  http_server server{[] {
    http_server_options o;
    o.token = "t";
    return o;
  }()};
  register_api(server, dir, std::make_shared<null_ops>(), api_info{"bench", "node-1", {}});

  auto cpu_now = [] {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) / 1e3;
  };
  auto measure = [&](const char* name, auto make_target, int runs_here = 0) {
    int runs = runs_here ? runs_here : ::runs_default;
    std::vector<double> us, cpu;
    cpu.reserve(static_cast<size_t>(runs));
    us.reserve(static_cast<size_t>(runs));
    size_t bytes = 0;
    for (int r = 0; r < runs; ++r) {
      http_request req;
      req.method = "GET";
      std::string target = make_target(r);
      auto q = target.find('?');
      req.path = target.substr(0, q);
      if (q != std::string::npos)
        req.query = target.substr(q + 1);
      req.headers.emplace_back("Authorization", "Bearer t");
      unsigned status = 0;
      auto t = clk::now();
      auto c = cpu_now();
      server.dispatch(req, [&](http_response res) {
        status = res.status;
        bytes = res.body.size();
      });
      cpu.push_back(cpu_now() - c);
      us.push_back(std::chrono::duration<double, std::micro>(clk::now() - t).count());
      if (status != 200) {
        std::printf("%s: HTTP %u for %s\n", name, status, target.c_str());
        std::exit(1);
      }
    }
    std::sort(us.begin(), us.end());
    std::sort(cpu.begin(), cpu.end());
    stats s{us[us.size() / 2], us[us.size() * 99 / 100], us.back(), bytes};
    std::printf("%-54s wall p50 %8.1f p99 %8.1f max %8.1f | cpu p50 %8.1f p99 %8.1f us (%zu B)\n",
                name, s.p50, s.p99, s.max, cpu[cpu.size() / 2], cpu[cpu.size() * 99 / 100],
                s.bytes);
  };
  ::runs_default = runs;
  std::printf("\nAPI calls (dispatch + directory + JSON, %d runs each, limit 50; wall time "
              "and the thread's CPU time):\n",
              runs);
  measure("GET /sessions (first page, unfiltered)",
          [](int) { return std::string{"/api/v1/sessions?limit=50"}; });
  measure("GET /sessions?connected=false&type=APPLICATION", [](int) {
    return std::string{"/api/v1/sessions?limit=50&connected=false&type=APPLICATION"};
  });
  measure("GET /sessions?client_id=<substring> (1 in 10 match)",
          [](int) { return std::string{"/api/v1/sessions?limit=50&client_id=app-svc-0"}; });
  measure("GET /sessions?client_id=<substring> (rare: 11 matches)",
          [](int) { return std::string{"/api/v1/sessions?limit=50&client_id=device-00000123"}; },
          std::max(runs / 10, 20));
  measure("GET /sessions?sort=connected_at&order=desc", [](int) {
    return std::string{"/api/v1/sessions?limit=50&sort=connected_at&order=desc"};
  });
  measure("GET /sessions?sort=subscriptions&persistent=true", [](int) {
    return std::string{"/api/v1/sessions?limit=50&sort=subscriptions&persistent=true"};
  });
  // A page in the middle: a cursor at a random position.
  measure("GET /sessions?cursor=<random position>", [&](int r) {
    auto& id = ids[(static_cast<size_t>(r) * 7919) % ids.size()];
    return "/api/v1/sessions?limit=50&cursor=" + encode_cursor(sort_key::client_id, false, 0, id);
  });
  measure("GET /sessions/{client_id} (detail, random session)", [&](int r) {
    return "/api/v1/sessions/" + ids[(static_cast<size_t>(r) * 104729) % ids.size()];
  });
  measure("GET /status", [](int) { return std::string{"/api/v1/status"}; });
  return 0;
}
