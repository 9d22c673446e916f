#pragma once
/// The METRICS actor: turns the metrics registry (amq/metrics/registry.hpp)
/// plus what it asks the router and the registry into the Prometheus page,
/// and publishes the `$SYS/broker/...` topics through the router.
///
///     (caf::get_atom) → std::string        the /metrics page (text format 0.0.4)
///     (tick_atom)                          self, every sys interval: sample,
///                                          update load averages, publish $SYS
///     (routed_atom, ...)                   the router's acks of $SYS batches (ignored)
///
/// `$SYS` messages are QoS 0, retained, routed with publisher 0 (the broker
/// itself); only topics whose value changed are published again. The
/// router keeps them in memory only (never stored) and refuses `$SYS/`
/// publishes from clients. Topics and values: docs/metrics.md.

#include "amq/actors/messages.hpp"
#include "amq/metrics/text_format.hpp"
#include "amq/net/server.hpp"

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace amq::admin {
class http_server;
} // namespace amq::admin

namespace amq::actors {

/// The network edge's counters, readable from the metrics actor while the
/// owner may destroy the edge: the owner calls `detach()` first. With a TLS
/// listener too, the counters of both servers are added up.
class edge_source {
public:
  explicit edge_source(const net::server* s, const net::server* tls = nullptr)
    : server_(s), tls_(tls) {}
  net::server::stats get() const {
    std::lock_guard<std::mutex> guard{mtx_};
    net::server::stats sum{};
    for (const net::server* s : {server_, tls_}) {
      if (!s)
        continue;
      auto st = s->get_stats();
      sum.accepted += st.accepted;
      sum.closed += st.closed;
      sum.bytes_in += st.bytes_in;
      sum.bytes_out += st.bytes_out;
      sum.reads += st.reads;
      sum.writes += st.writes;
      sum.aborted_queue_overflow += st.aborted_queue_overflow;
      sum.accept_errors += st.accept_errors;
      sum.open += st.open;
    }
    return sum;
  }
  /// The TLS listener's certificate expiry (net::server::tls_certificate_expiry); 0: none.
  int64_t tls_certificate_expiry() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return tls_ ? tls_->tls_certificate_expiry() : 0;
  }
  void detach() {
    std::lock_guard<std::mutex> guard{mtx_};
    server_ = nullptr;
    tls_ = nullptr;
  }

private:
  mutable std::mutex mtx_;
  const net::server* server_;
  const net::server* tls_;
};

struct metrics_sources {
  caf::actor router;
  caf::actor registry;
  /// The edge's counters (null: none).
  std::shared_ptr<edge_source> edge;
  std::string version;
  std::string node;
  /// $SYS publish interval; 0: no $SYS topics (load averages are then
  /// updated every 10 s for /metrics).
  std::chrono::seconds sys_interval{10};
  /// Requests to the router and the registry wait at most this long.
  std::chrono::milliseconds ask_timeout{2000};
};

/// The `$SYS/broker/...` topics and values for one sample (exposed for tests).
std::vector<std::pair<std::string, std::string>>
sys_topics(const std::vector<int64_t>& snapshot, const metrics::pulled_values& p);

caf::actor spawn_metrics(caf::actor_system& sys, metrics_sources src);

/// Registers `GET /metrics` (no authentication: it carries counts, no client
/// ids; the admin server binds to loopback by default) on the admin server.
void register_metrics_route(admin::http_server& server, caf::actor_system& sys,
                            caf::actor metrics);

/// Asks the metrics actor for the page and waits (from a non-actor thread).
/// Returns an empty string if it did not answer within `timeout`.
std::string scrape_metrics(caf::actor_system& sys, const caf::actor& metrics,
                           std::chrono::milliseconds timeout = std::chrono::milliseconds{5000});

} // namespace amq::actors
