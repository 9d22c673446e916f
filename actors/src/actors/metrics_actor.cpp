#include "amq/actors/metrics_actor.hpp"

#include "amq/admin/http_server.hpp"
#include "amq/log.hpp"
#include "amq/metrics/registry.hpp"

#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/stateful_actor.hpp>

#include <cmath>
#include <cstdio>

namespace amq::actors {

namespace {

using metrics::pulled_values;

int64_t sum(const std::vector<int64_t>& s, size_t first, size_t n) {
  int64_t v = 0;
  for (size_t i = first; i < first + n && i < s.size(); ++i)
    v += s[i];
  return v;
}

int64_t connected_clients(const std::vector<int64_t>& s) {
  int64_t v = 0;
  for (size_t k = 0; k < metrics::session_kinds; ++k)
    if (k & 1)
      v += s[metrics::slot::sessions + k];
  return v;
}

int64_t disconnected_clients(const std::vector<int64_t>& s) {
  int64_t v = 0;
  for (size_t k = 0; k < metrics::session_kinds; ++k)
    if (!(k & 1))
      v += s[metrics::slot::sessions + k];
  return v;
}

std::string fixed2(double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.2f", v);
  return buf;
}

struct metrics_state {
  static inline const char* name = "metrics";

  explicit metrics_state(caf::event_based_actor* self) : self(self) {}

  /// Fills everything that needs no actor, then asks the router and the
  /// registry; calls `done` with the complete sample either way.
  void collect(std::function<void(std::vector<int64_t>&, pulled_values&)> done) {
    auto p = std::make_shared<pulled_values>();
    auto snap = std::make_shared<std::vector<int64_t>>(metrics::snapshot());
    fill_local(*snap, *p);
    auto finish = [this, p, snap, done] { done(*snap, *p); };
    auto ask_registry = [this, p, finish] {
      if (!src.registry) {
        finish();
        return;
      }
      self->request(src.registry, src.ask_timeout, count_atom::value)
        .then(
          [p, finish](size_t n) {
            p->registry_answered = true;
            p->sessions_total = n;
            finish();
          },
          [finish](caf::error&) { finish(); });
    };
    if (!src.router) {
      ask_registry();
      return;
    }
    self->request(src.router, src.ask_timeout, count_atom::value)
      .then(
        [p, ask_registry](size_t subs, size_t retained, uint64_t) {
          p->router_answered = true;
          p->subscriptions = subs;
          p->retained_messages = retained;
          ask_registry();
        },
        [ask_registry](caf::error&) { ask_registry(); });
  }

  void fill_local(const std::vector<int64_t>& snap, pulled_values& p) {
    if (src.edge) {
      auto e = src.edge->get();
      p.connections_accepted = e.accepted;
      p.connections_open = e.open;
      p.bytes_received = e.bytes_in;
      p.bytes_sent = e.bytes_out;
      p.write_queue_overflows = e.aborted_queue_overflow;
      p.accept_errors = e.accept_errors;
      p.tls_certificate_expiry = src.edge->tls_certificate_expiry();
    }
    auto connected = connected_clients(snap);
    if (connected > 0 && static_cast<uint64_t>(connected) > clients_maximum)
      clients_maximum = static_cast<uint64_t>(connected);
    p.clients_maximum = clients_maximum;
    for (size_t i = 0; i < 3; ++i) {
      p.load_received[i] = load_received[i];
      p.load_sent[i] = load_sent[i];
    }
    p.uptime_seconds = std::chrono::duration<double>(clock::now() - started).count();
    p.start_time_seconds = start_unix;
    p.version = src.version;
    p.node = src.node;
    metrics::read_process_stats(p);
  }

  /// Exponential moving averages of messages per minute (as Mosquitto's
  /// load values): over 1, 5 and 15 minutes.
  void update_load(const std::vector<int64_t>& snap) {
    auto now = clock::now();
    auto received = sum(snap, metrics::slot::received, 3);
    auto sent = sum(snap, metrics::slot::sent, 3);
    if (load_at) {
      double dt = std::chrono::duration<double>(now - *load_at).count();
      if (dt > 0) {
        double r = static_cast<double>(received - last_received) / dt * 60.0;
        double s = static_cast<double>(sent - last_sent) / dt * 60.0;
        constexpr double windows[] = {60.0, 300.0, 900.0};
        for (size_t i = 0; i < 3; ++i) {
          double k = std::exp(-dt / windows[i]);
          load_received[i] = load_received[i] * k + r * (1 - k);
          load_sent[i] = load_sent[i] * k + s * (1 - k);
        }
      }
    }
    load_at = now;
    last_received = received;
    last_sent = sent;
  }

  void tick() {
    collect([this](std::vector<int64_t>& snap, pulled_values& p) {
      update_load(snap);
      for (size_t i = 0; i < 3; ++i) {
        p.load_received[i] = load_received[i];
        p.load_sent[i] = load_sent[i];
      }
      if (src.sys_interval.count() > 0)
        publish_sys(snap, p);
    });
    auto every = src.sys_interval.count() > 0 ? src.sys_interval : std::chrono::seconds{10};
    self->delayed_send(self, every, tick_atom::value);
  }

  void publish_sys(const std::vector<int64_t>& snap, const pulled_values& p) {
    if (!src.router)
      return;
    route_batch batch;
    batch.seq = ++sys_seq;
    batch.publisher = 0; // the broker itself
    for (auto& [topic, value] : sys_topics(snap, p)) {
      auto& last = published[topic];
      if (last == value)
        continue;
      last = value;
      auto m = std::make_shared<protocol::message>();
      m->topic = topic;
      m->payload = value;
      m->retain = true;
      batch.messages.push_back(std::move(m));
    }
    if (!batch.messages.empty())
      self->send(src.router, route_atom::value, std::move(batch));
  }

  using clock = std::chrono::steady_clock;
  caf::event_based_actor* self;
  metrics_sources src;
  clock::time_point started = clock::now();
  double start_unix = std::chrono::duration<double>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
  uint64_t clients_maximum = 0;
  std::optional<clock::time_point> load_at;
  int64_t last_received = 0;
  int64_t last_sent = 0;
  double load_received[3] = {0, 0, 0};
  double load_sent[3] = {0, 0, 0};
  uint64_t sys_seq = 0;
  std::map<std::string, std::string> published;
};

using metrics_actor_type = caf::stateful_actor<metrics_state>;

caf::behavior metrics_behavior(metrics_actor_type* self, metrics_sources src) {
  auto& st = self->state;
  st.src = std::move(src);
  // First sample now (load base, $SYS version and uptime at start).
  self->send(self, tick_atom::value);
  return {
    [&st](caf::get_atom) -> caf::result<std::string> {
      auto rp = st.self->make_response_promise();
      st.collect([rp](std::vector<int64_t>& snap, pulled_values& p) mutable {
        rp.deliver(metrics::render(snap, p));
      });
      return caf::delegated<std::string>{};
    },
    [&st](tick_atom) { st.tick(); },
    [](routed_atom, uint64_t) {},
    [](routed_atom, uint64_t, bool) {},
  };
}

} // namespace

std::vector<std::pair<std::string, std::string>>
sys_topics(const std::vector<int64_t>& snap, const pulled_values& p) {
  namespace slot = metrics::slot;
  std::vector<std::pair<std::string, std::string>> out;
  auto put = [&](std::string_view sub, std::string value) {
    out.emplace_back("$SYS/broker/" + std::string{sub}, std::move(value));
  };
  auto num = [](int64_t v) { return std::to_string(v); };
  auto connected = connected_clients(snap);
  auto disconnected = disconnected_clients(snap);
  auto received = sum(snap, slot::received, 3);
  auto sent = sum(snap, slot::sent, 3);
  put("version", "actormq " + p.version);
  put("uptime", std::to_string(static_cast<int64_t>(p.uptime_seconds)) + " seconds");
  put("clients/connected", num(connected));
  put("clients/disconnected", num(disconnected));
  put("clients/total", num(connected + disconnected));
  put("clients/maximum", std::to_string(p.clients_maximum));
  put("messages/received", num(received));
  put("messages/sent", num(sent));
  put("publish/messages/received", num(received));
  put("publish/messages/sent", num(sent));
  put("publish/messages/dropped", num(sum(snap, slot::dropped, metrics::drop_count)));
  put("bytes/received", std::to_string(p.bytes_received));
  put("bytes/sent", std::to_string(p.bytes_sent));
  constexpr std::string_view windows[] = {"1min", "5min", "15min"};
  for (size_t i = 0; i < 3; ++i)
    put("load/messages/received/" + std::string{windows[i]}, fixed2(p.load_received[i]));
  for (size_t i = 0; i < 3; ++i)
    put("load/messages/sent/" + std::string{windows[i]}, fixed2(p.load_sent[i]));
  if (p.router_answered) {
    put("subscriptions/count", std::to_string(p.subscriptions));
    put("retained messages/count", std::to_string(p.retained_messages));
  }
  put("store/messages/count", num(snap[slot::queued] + snap[slot::inflight]));
  return out;
}

caf::actor spawn_metrics(caf::actor_system& sys, metrics_sources src) {
  return sys.spawn(metrics_behavior, std::move(src));
}

void register_metrics_route(admin::http_server& server, caf::actor_system& sys,
                            caf::actor metrics) {
  server.add_async_route(
    "GET", "/metrics",
    [&sys, metrics](const admin::http_request&, admin::respond_fn respond) {
      sys.spawn([metrics, respond](caf::event_based_actor* self) {
        self->request(metrics, std::chrono::seconds{5}, caf::get_atom::value)
          .then(
            [respond](std::string& page) {
              respond(admin::http_response::text(200, std::move(page),
                                                 std::string{metrics::content_type}));
            },
            [respond](caf::error&) {
              respond(admin::http_response::error(503, "metrics did not answer in time"));
            });
      });
    },
    false);
}

std::string scrape_metrics(caf::actor_system& sys, const caf::actor& metrics,
                           std::chrono::milliseconds timeout) {
  std::string page;
  if (!metrics)
    return page;
  caf::scoped_actor self{sys};
  self->request(metrics, timeout, caf::get_atom::value)
    .receive([&](std::string& text) { page = std::move(text); },
             [&](caf::error& err) {
               AMQ_LOG_WARN("metrics: no page within {} ms ({})", timeout.count(),
                            sys.render(err));
             });
  return page;
}

} // namespace amq::actors
