#define CAF_SUITE metrics
#include <caf/test/unit_test.hpp>

// The metrics registry (amq/metrics/registry.hpp), the per-session probe,
// the Prometheus text rendering (checked by a strict parser of the 0.0.4
// format, prom_check.hpp) and the $SYS topic values.

#include "amq/actors/metrics_actor.hpp"
#include "amq/metrics/registry.hpp"
#include "amq/metrics/session_probe.hpp"
#include "amq/metrics/text_format.hpp"
#include "prom_check.hpp"

#include <cmath>
#include <thread>

using namespace amq;
using namespace amq::metrics;
using amq::test::check_prometheus_text;

namespace {

int64_t delta(const std::vector<int64_t>& after, const std::vector<int64_t>& before, size_t i) {
  return after[i] - before[i];
}

std::string problems_of(const amq::test::prom_page& page) {
  std::string out;
  for (auto& p : page.problems)
    out += p + "\n";
  return out;
}

} // namespace

CAF_TEST(counts from many threads add up and survive the threads) {
  auto before = snapshot();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([] {
      for (int i = 0; i < 10000; ++i)
        add(slot::received + 1);
      count_drop(drop::too_large, 3);
    });
  for (auto& t : threads)
    t.join();
  // the threads ended: their shards were folded into the retired block
  auto after = snapshot();
  CAF_CHECK_EQUAL(delta(after, before, slot::received + 1), 40000);
  CAF_CHECK_EQUAL(delta(after, before, slot::dropped + static_cast<size_t>(drop::too_large)), 12);
  // a new thread reuses a returned shard and starts from zero
  std::thread([] { add(slot::received + 1, 5); }).join();
  CAF_CHECK_EQUAL(delta(snapshot(), before, slot::received + 1), 40005);
}

CAF_TEST(gauges are sums of deltas from any thread) {
  auto before = snapshot();
  add(slot::queued, 7);
  std::thread([] { add(slot::queued, -3); }).join();
  CAF_CHECK_EQUAL(delta(snapshot(), before, slot::queued), 4);
  add(slot::queued, -4);
}

CAF_TEST(session probe moves the session between kinds and takes everything back) {
  auto before = snapshot();
  auto kind = [&](bool c, bool p, bool a) {
    return delta(snapshot(), before, slot::sessions + session_kind(c, p, a));
  };
  {
    session_probe probe;
    probe.update(true, true, false, 0, 0);
    CAF_CHECK_EQUAL(kind(true, true, false), 1);
    probe.update(true, true, false, 5, 2);
    auto s = snapshot();
    CAF_CHECK_EQUAL(delta(s, before, slot::queued), 5);
    CAF_CHECK_EQUAL(delta(s, before, slot::inflight), 2);
    CAF_CHECK_EQUAL(delta(s, before, slot::depth + depth_bucket(5)), 1);
    probe.update(false, true, false, 150, 0); // went offline, queue grew
    s = snapshot();
    CAF_CHECK_EQUAL(kind(true, true, false), 0);
    CAF_CHECK_EQUAL(kind(false, true, false), 1);
    CAF_CHECK_EQUAL(delta(s, before, slot::queued), 150);
    CAF_CHECK_EQUAL(delta(s, before, slot::inflight), 0);
    CAF_CHECK_EQUAL(delta(s, before, slot::depth + depth_bucket(5)), 0);
    CAF_CHECK_EQUAL(delta(s, before, slot::depth + depth_bucket(150)), 1);
  }
  auto s = snapshot();
  for (size_t k = 0; k < session_kinds; ++k)
    CAF_CHECK_EQUAL(delta(s, before, slot::sessions + k), 0);
  CAF_CHECK_EQUAL(delta(s, before, slot::queued), 0);
  for (size_t b = 0; b <= depth_bounds.size(); ++b)
    CAF_CHECK_EQUAL(delta(s, before, slot::depth + b), 0);
}

CAF_TEST(depth buckets) {
  CAF_CHECK_EQUAL(depth_bucket(0), 0);
  CAF_CHECK_EQUAL(depth_bucket(1), 1);
  CAF_CHECK_EQUAL(depth_bucket(10), 1);
  CAF_CHECK_EQUAL(depth_bucket(11), 2);
  CAF_CHECK_EQUAL(depth_bucket(1000000), 6);
  CAF_CHECK_EQUAL(depth_bucket(1000001), 7);
}

CAF_TEST(escaping and number formatting) {
  CAF_CHECK_EQUAL(escape_label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
  CAF_CHECK_EQUAL(escape_help("x\\y\nz\"q"), "x\\\\y\\nz\"q");
  CAF_CHECK_EQUAL(format_value(INFINITY), "+Inf");
  CAF_CHECK_EQUAL(format_value(-INFINITY), "-Inf");
  CAF_CHECK_EQUAL(format_value(NAN), "NaN");
  CAF_CHECK_EQUAL(format_value(0.25), "0.25");
  CAF_CHECK_EQUAL(format_value(3), "3");
  CAF_CHECK_EQUAL(snake_case("Client Identifier not valid"), "client_identifier_not_valid");
  CAF_CHECK_EQUAL(snake_case("Bad User Name or Password"), "bad_user_name_or_password");
}

CAF_TEST(the checker refuses broken pages) {
  // (so that a passing check below means something)
  auto bad = [](std::string_view text) { return !check_prometheus_text(text).problems.empty(); };
  CAF_CHECK(bad("# TYPE a_total counter\na_total 1\n# TYPE b gauge\nb 1\na_total{x=\"1\"} 2\n"));
  CAF_CHECK(bad("# TYPE a counter\na 1\n"));              // counter without _total
  CAF_CHECK(bad("# TYPE a gauge\na{x=\"\\q\"} 1\n"));    // bad escape
  CAF_CHECK(bad("# TYPE a gauge\na{x=\"1\"} 1\na{x=\"1\"} 2\n")); // duplicate series
  CAF_CHECK(bad("a 1\n"));                                // no TYPE
  CAF_CHECK(bad("# TYPE a gauge\na one\n"));              // bad value
  CAF_CHECK(bad("# TYPE 1a gauge\n"));                    // bad name
  CAF_CHECK(bad("# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\n"
                "h_sum 1\nh_count 1\n")); // not cumulative
  CAF_CHECK(bad("# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n")); // no +Inf
  CAF_CHECK(!bad("# HELP a_total x \\\\ y\\n\n# TYPE a_total counter\na_total{l=\"q\\\"\"} 1\n"));
}

CAF_TEST(the rendered page passes the strict format check) {
  // Give every family something to show, including escaping in labels.
  count_rejected(0x87);
  count_connect_timeout();
  count_disconnect(0x8E);
  count_connection_lost();
  observe_storage_commit(0, 1'500'000, true, 3);  // 1.5 ms, 3 batches
  observe_storage_commit(0, 20'000'000, false, 1); // 20 ms, failed
  observe_storage_part(2, 3'000'000, false);        // a role composite's kafka part, failed
  add(slot::received + 0, 2);
  add(slot::sent + 1, 1);
  pulled_values p;
  p.version = "1.2.3";
  p.node = "node \"a\"\\b\nc"; // must be escaped
  p.router_answered = true;
  p.subscriptions = 4;
  p.retained_messages = 2;
  p.registry_answered = true;
  p.sessions_total = 3;
  p.connections_open = 9;
  read_process_stats(p);
  auto text = render(snapshot(), p);
  auto page = check_prometheus_text(text);
  CAF_CHECK_EQUAL(problems_of(page), "");
  CAF_CHECK_EQUAL(page.value("actormq_build_info", {{"version", "1.2.3"}, {"node", p.node}}), 1);
  CAF_CHECK_EQUAL(page.value("actormq_subscriptions"), 4);
  CAF_CHECK_EQUAL(page.value("actormq_connections"), 9);
  CAF_CHECK(page.value("actormq_connections_rejected_total",
                       {{"reason", "not_authorized"}, {"code", "0x87"}})
            >= 1);
  CAF_CHECK(page.value("actormq_connections_rejected_total",
                       {{"reason", "connect_timeout"}, {"code", ""}})
            >= 1);
  CAF_CHECK(page.value("actormq_disconnects_total",
                       {{"reason", "session_taken_over"}, {"code", "0x8E"}})
            >= 1);
  CAF_CHECK(page.value("actormq_storage_errors_total", {{"backend", "embedded"}}) >= 1);
  CAF_CHECK(page.value("actormq_storage_apply_seconds_count", {{"backend", "embedded"}}) >= 2);
  CAF_CHECK(page.value("actormq_storage_apply_seconds_bucket",
                       {{"backend", "embedded"}, {"le", "+Inf"}})
            >= 2);
  // A backend's part of a composite commit: latency and errors under its
  // own label, no batch histogram (that one is per whole commit).
  CAF_CHECK(page.value("actormq_storage_apply_seconds_count", {{"backend", "kafka"}}) >= 1);
  CAF_CHECK(page.value("actormq_storage_errors_total", {{"backend", "kafka"}}) >= 1);
  CAF_CHECK(std::isnan(page.value("actormq_storage_commit_batches_count", {{"backend", "kafka"}})));
  CAF_CHECK(page.value("actormq_storage_commit_batches_count", {{"backend", "embedded"}}) >= 2);
  CAF_CHECK(page.value("actormq_process_resident_memory_bytes") > 0);
  CAF_CHECK(page.value("actormq_process_open_fds") > 0);
  for (std::string_view reason : drop_names)
    CAF_CHECK(!std::isnan(page.value("actormq_messages_dropped_total",
                                     {{"reason", std::string{reason}}})));
  for (auto& [name, type] : page.types) {
    CAF_CHECK(name.starts_with("actormq_"));
    CAF_CHECK(page.helps.count(name) == 1);
  }
  // Every session kind is always present.
  size_t kinds = 0;
  for (auto& s : page.samples)
    if (s.name == "actormq_sessions")
      ++kinds;
  CAF_CHECK_EQUAL(kinds, session_kinds);
}

CAF_TEST(sys topics) {
  auto s = snapshot();
  std::vector<int64_t> snap(slot::count, 0);
  snap[slot::sessions + session_kind(true, false, false)] = 2;
  snap[slot::sessions + session_kind(true, true, true)] = 1;
  snap[slot::sessions + session_kind(false, true, false)] = 4;
  snap[slot::received + 0] = 10;
  snap[slot::received + 2] = 5;
  snap[slot::sent + 1] = 7;
  snap[slot::queued] = 30;
  snap[slot::inflight] = 3;
  pulled_values p;
  p.version = "9.9";
  p.uptime_seconds = 12.7;
  p.clients_maximum = 5;
  p.bytes_received = 100;
  p.router_answered = true;
  p.subscriptions = 6;
  p.retained_messages = 8;
  p.load_received[0] = 1.234;
  std::map<std::string, std::string> t;
  for (auto& [k, v] : actors::sys_topics(snap, p))
    t[k] = v;
  CAF_CHECK_EQUAL(t["$SYS/broker/version"], "actormq 9.9");
  CAF_CHECK_EQUAL(t["$SYS/broker/uptime"], "12 seconds");
  CAF_CHECK_EQUAL(t["$SYS/broker/clients/connected"], "3");
  CAF_CHECK_EQUAL(t["$SYS/broker/clients/disconnected"], "4");
  CAF_CHECK_EQUAL(t["$SYS/broker/clients/total"], "7");
  CAF_CHECK_EQUAL(t["$SYS/broker/clients/maximum"], "5");
  CAF_CHECK_EQUAL(t["$SYS/broker/messages/received"], "15");
  CAF_CHECK_EQUAL(t["$SYS/broker/publish/messages/sent"], "7");
  CAF_CHECK_EQUAL(t["$SYS/broker/bytes/received"], "100");
  CAF_CHECK_EQUAL(t["$SYS/broker/load/messages/received/1min"], "1.23");
  CAF_CHECK_EQUAL(t["$SYS/broker/load/messages/sent/15min"], "0.00");
  CAF_CHECK_EQUAL(t["$SYS/broker/subscriptions/count"], "6");
  CAF_CHECK_EQUAL(t["$SYS/broker/retained messages/count"], "8");
  CAF_CHECK_EQUAL(t["$SYS/broker/store/messages/count"], "33");
}
