#include "amq/metrics/text_format.hpp"

#include "amq/metrics/registry.hpp"
#include "amq/protocol/types.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <dirent.h>
#include <fstream>
#include <sys/resource.h>
#include <unistd.h>

namespace amq::metrics {

std::string escape_label_value(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string escape_help(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string format_value(double v) {
  if (std::isnan(v))
    return "NaN";
  if (std::isinf(v))
    return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, res.ptr);
}

std::string snake_case(std::string_view text) {
  std::string out;
  for (char c : text) {
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
      out += c;
    else if (c >= 'A' && c <= 'Z')
      out += static_cast<char>(c - 'A' + 'a');
    else if (!out.empty() && out.back() != '_')
      out += '_';
  }
  while (!out.empty() && out.back() == '_')
    out.pop_back();
  return out;
}

void text_writer::family(std::string_view name, std::string_view type, std::string_view help) {
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  out_ += escape_help(help);
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += ' ';
  out_ += type;
  out_ += '\n';
}

void text_writer::labels(const label* first, const label* last) {
  if (first == last)
    return;
  out_ += '{';
  for (auto i = first; i != last; ++i) {
    if (i != first)
      out_ += ',';
    out_ += i->first;
    out_ += "=\"";
    out_ += escape_label_value(i->second);
    out_ += '"';
  }
  out_ += '}';
}

void text_writer::sample(std::string_view name, std::initializer_list<label> ls, int64_t value) {
  out_ += name;
  labels(ls.begin(), ls.end());
  out_ += ' ';
  char buf[24];
  auto res = std::to_chars(buf, buf + sizeof(buf), value);
  out_.append(buf, res.ptr);
  out_ += '\n';
}

void text_writer::sample(std::string_view name, std::initializer_list<label> ls, double value) {
  out_ += name;
  labels(ls.begin(), ls.end());
  out_ += ' ';
  out_ += format_value(value);
  out_ += '\n';
}

void text_writer::sample(std::string_view name, const std::vector<label>& ls, double value) {
  out_ += name;
  labels(ls.data(), ls.data() + ls.size());
  out_ += ' ';
  out_ += format_value(value);
  out_ += '\n';
}

namespace {

constexpr std::string_view qos_names[] = {"0", "1", "2"};

std::string reason_label(uint8_t rc) {
  if (rc == 0)
    return "normal_disconnection";
  auto name = snake_case(protocol::to_string(static_cast<protocol::reason_code>(rc)));
  if (name.empty() || name == "unknown")
    name = "code_" + std::to_string(rc);
  return name;
}

std::string hex_code(uint8_t rc) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "0x%02X", static_cast<unsigned>(rc));
  return buf;
}

void histogram(text_writer& w, std::string_view name, std::string_view backend,
               const int64_t* buckets, size_t bounds, const double* bound_values, double sum,
               int64_t count) {
  std::string bucket_name = std::string{name} + "_bucket";
  int64_t cumulative = 0;
  for (size_t i = 0; i <= bounds; ++i) {
    cumulative += buckets[i];
    auto le = i < bounds ? format_value(bound_values[i]) : std::string{"+Inf"};
    w.sample(bucket_name, {{"backend", backend}, {"le", le}}, cumulative);
  }
  w.sample(std::string{name} + "_sum", {{"backend", backend}}, sum);
  w.sample(std::string{name} + "_count", {{"backend", backend}}, count);
}

} // namespace

std::string render(const std::vector<int64_t>& s, const pulled_values& p) {
  text_writer w;
  auto at = [&](size_t i) -> int64_t { return i < s.size() ? s[i] : 0; };
  auto u = [](uint64_t v) { return static_cast<int64_t>(v); };

  w.family("actormq_build_info", "gauge", "Always 1; the labels say which broker this is.");
  w.sample("actormq_build_info", {{"version", p.version}, {"node", p.node}}, int64_t{1});
  w.family("actormq_uptime_seconds", "gauge", "Seconds since the broker started.");
  w.sample("actormq_uptime_seconds", {}, p.uptime_seconds);

  // -- connections ------------------------------------------------------------
  w.family("actormq_connections", "gauge",
           "Open TCP connections, including those that have not sent CONNECT yet.");
  w.sample("actormq_connections", {}, u(p.connections_open));
  w.family("actormq_connections_accepted_total", "counter", "TCP connections accepted.");
  w.sample("actormq_connections_accepted_total", {}, u(p.connections_accepted));
  w.family("actormq_connections_rejected_total", "counter",
           "Connections refused before a session took them: CONNACK reason codes (label code), "
           "or connect_timeout (no CONNECT within limits.connect_timeout_ms).");
  w.sample("actormq_connections_rejected_total", {{"reason", "connect_timeout"}, {"code", ""}},
           at(slot::rejected + 0));
  for (size_t rc = 1; rc < 256; ++rc)
    if (auto v = at(slot::rejected + rc); v != 0) {
      auto r = reason_label(static_cast<uint8_t>(rc));
      auto c = hex_code(static_cast<uint8_t>(rc));
      w.sample("actormq_connections_rejected_total", {{"reason", r}, {"code", c}}, v);
    }
  w.family("actormq_disconnects_total", "counter",
           "Connections of sessions that ended, by reason: the reason code of the broker's "
           "DISCONNECT or close (or the client's DISCONNECT), or connection_lost when the peer "
           "closed without DISCONNECT.");
  w.sample("actormq_disconnects_total", {{"reason", "connection_lost"}, {"code", ""}},
           at(slot::disconnects + 256));
  for (size_t rc = 0; rc < 256; ++rc)
    if (auto v = at(slot::disconnects + rc); v != 0) {
      auto r = reason_label(static_cast<uint8_t>(rc));
      auto c = hex_code(static_cast<uint8_t>(rc));
      w.sample("actormq_disconnects_total", {{"reason", r}, {"code", c}}, v);
    }
  w.family("actormq_accept_errors_total", "counter",
           "Failed accept() calls (for example out of file descriptors).");
  w.sample("actormq_accept_errors_total", {}, u(p.accept_errors));
  w.family("actormq_write_queue_overflows_total", "counter",
           "Connections aborted because their write queue passed its hard cap.");
  w.sample("actormq_write_queue_overflows_total", {}, u(p.write_queue_overflows));

  // -- sessions ---------------------------------------------------------------
  w.family("actormq_sessions", "gauge",
           "Sessions by state (connected / disconnected), persistence (clean / persistent) and "
           "client type (device / application).");
  for (size_t k = 0; k < session_kinds; ++k) {
    std::string_view state = (k & 1) ? "connected" : "disconnected";
    std::string_view pers = (k & 2) ? "persistent" : "clean";
    std::string_view type = (k & 4) ? "application" : "device";
    w.sample("actormq_sessions",
             {{"state", state}, {"persistence", pers}, {"client_type", type}},
             at(slot::sessions + k));
  }
  w.family("actormq_clients_maximum", "gauge",
           "Most clients connected at the same time since the broker started (sampled).");
  w.sample("actormq_clients_maximum", {}, u(p.clients_maximum));
  if (p.registry_answered) {
    w.family("actormq_session_actors", "gauge",
             "Session actors the registry holds (connected and disconnected sessions).");
    w.sample("actormq_session_actors", {}, u(p.sessions_total));
  }

  // -- messages ---------------------------------------------------------------
  w.family("actormq_messages_received_total", "counter",
           "PUBLISH packets received from clients, by QoS (duplicates of QoS 2 included).");
  for (size_t q = 0; q < 3; ++q)
    w.sample("actormq_messages_received_total", {{"qos", qos_names[q]}}, at(slot::received + q));
  w.family("actormq_messages_sent_total", "counter",
           "PUBLISH packets sent to clients, by the QoS they were sent with (resends included).");
  for (size_t q = 0; q < 3; ++q)
    w.sample("actormq_messages_sent_total", {{"qos", qos_names[q]}}, at(slot::sent + q));
  w.family("actormq_bytes_received_total", "counter", "Bytes read from client connections.");
  w.sample("actormq_bytes_received_total", {}, u(p.bytes_received));
  w.family("actormq_bytes_sent_total", "counter", "Bytes written to client connections.");
  w.sample("actormq_bytes_sent_total", {}, u(p.bytes_sent));
  {
    constexpr std::string_view windows[] = {"1m", "5m", "15m"};
    w.family("actormq_messages_received_per_minute", "gauge",
             "Exponential moving average of PUBLISH received per minute over 1, 5 and 15 "
             "minutes (the $SYS load values; updated every sys.interval_s).");
    for (size_t i = 0; i < 3; ++i)
      w.sample("actormq_messages_received_per_minute", {{"window", windows[i]}},
               p.load_received[i]);
    w.family("actormq_messages_sent_per_minute", "gauge",
             "Exponential moving average of PUBLISH sent per minute over 1, 5 and 15 minutes.");
    for (size_t i = 0; i < 3; ++i)
      w.sample("actormq_messages_sent_per_minute", {{"window", windows[i]}}, p.load_sent[i]);
  }
  w.family("actormq_messages_dropped_total", "counter",
           "Messages not delivered to a session or to anyone, by reason (docs/metrics.md).");
  for (size_t d = 0; d < drop_count; ++d)
    w.sample("actormq_messages_dropped_total", {{"reason", drop_names[d]}}, at(slot::dropped + d));
  w.family("actormq_qos2_duplicates_total", "counter",
           "QoS 2 PUBLISH received again before PUBREL (acknowledged, not routed again).");
  w.sample("actormq_qos2_duplicates_total", {}, at(slot::qos2_duplicates));
  if (p.tls_certificate_expiry != 0) {
    w.family("actormq_tls_certificate_expiry_timestamp_seconds", "gauge",
             "TLS listener: when the certificate new connections get expires (its notAfter), "
             "seconds since the epoch; follows a reload on SIGHUP. Alert on it minus time().");
    w.sample("actormq_tls_certificate_expiry_timestamp_seconds", {},
             static_cast<double>(p.tls_certificate_expiry));
  }
  w.family("actormq_tls_handshake_failures_total", "counter",
           "TLS listener: connections closed because the TLS handshake failed or did not "
           "complete within limits.connect_timeout_ms.");
  w.sample("actormq_tls_handshake_failures_total", {}, at(slot::tls_handshake_failures));
  w.family("actormq_slow_consumers_total", "counter",
           "Times the router marked a session a slow consumer (publishers stop waiting for it).");
  w.sample("actormq_slow_consumers_total", {}, at(slot::slow_consumers));

  // -- queues -----------------------------------------------------------------
  w.family("actormq_queued_messages", "gauge",
           "Messages waiting in session queues (offline persistent sessions, and connected "
           "sessions whose in-flight window is full), not counting those in flight.");
  w.sample("actormq_queued_messages", {}, at(slot::queued));
  w.family("actormq_inflight_messages", "gauge",
           "QoS 1/2 messages sent to clients and not yet acknowledged.");
  w.sample("actormq_inflight_messages", {}, at(slot::inflight));
  w.family("actormq_sessions_by_queue_depth", "gauge",
           "Sessions by the depth of their queue (label depth: a range of messages).");
  int64_t deepest_bound = 0;
  for (size_t b = 0; b <= depth_bounds.size(); ++b) {
    std::string range;
    if (b == 0)
      range = "0";
    else if (b < depth_bounds.size())
      range = std::to_string(depth_bounds[b - 1] + 1) + "-" + std::to_string(depth_bounds[b]);
    else
      range = ">" + std::to_string(depth_bounds.back());
    auto v = at(slot::depth + b);
    w.sample("actormq_sessions_by_queue_depth", {{"depth", range}}, v);
    if (v > 0)
      deepest_bound = b < depth_bounds.size() ? static_cast<int64_t>(depth_bounds[b]) : -1;
  }
  w.family("actormq_session_queue_depth_max_bound", "gauge",
           "Upper bound of the deepest session queue: the top of the highest non-empty "
           "actormq_sessions_by_queue_depth range (-1: above the last range).");
  w.sample("actormq_session_queue_depth_max_bound", {}, deepest_bound);

  // -- router -----------------------------------------------------------------
  if (p.router_answered) {
    w.family("actormq_subscriptions", "gauge", "Subscriptions in the topic tree.");
    w.sample("actormq_subscriptions", {}, u(p.subscriptions));
    w.family("actormq_retained_messages", "gauge", "Retained messages held by the router.");
    w.sample("actormq_retained_messages", {}, u(p.retained_messages));
  }
  w.family("actormq_subscribe_denied_total", "counter",
           "Subscriptions refused by acl.deny_subscribe (SUBACK 0x87).");
  w.sample("actormq_subscribe_denied_total", {}, at(slot::subscribe_denied));
  w.family("actormq_acl_denied_total", "counter",
           "Refused by auth.acl_file, by action: publish (not forwarded; MQTT 5 QoS 1/2 acked "
           "0x87), subscribe (SUBACK 0x87/0x80), receive (a matching message not delivered).");
  w.sample("actormq_acl_denied_total", {{"action", "publish"}}, at(slot::acl_denied));
  w.sample("actormq_acl_denied_total", {{"action", "subscribe"}}, at(slot::acl_denied + 1));
  w.sample("actormq_acl_denied_total", {{"action", "receive"}}, at(slot::acl_denied + 2));
  w.family("actormq_router_lock_busy_total", "counter",
           "Route batches a session handed to the router actor because another worker held "
           "the router's lock at that moment (instead of routing them in its own job).");
  w.sample("actormq_router_lock_busy_total", {}, at(slot::router_lock_busy));
  w.family("actormq_direct_turns_total", "counter",
           "Session turns a worker ran at once, in the handler that produced their input, "
           "instead of as an actor message: for a connection's bytes (input) or a route's "
           "deliveries (deliver). Only for a session that was idle on that worker.");
  w.sample("actormq_direct_turns_total", {{"input", "bytes"}}, at(slot::direct_turns));
  w.sample("actormq_direct_turns_total", {{"input", "deliver"}}, at(slot::direct_turns + 1));
  w.family("actormq_arrival_order_total", "counter",
           "runtime.arrival_order: messages a new subscription was given because they reached "
           "the broker after its SUBSCRIBE but were routed before a worker read it (late), and "
           "SUBSCRIBEs for which more was routed in between than the router keeps "
           "(window_exceeded: such a subscription may have missed some).");
  w.sample("actormq_arrival_order_total", {{"outcome", "late"}}, at(slot::arrival_order));
  w.sample("actormq_arrival_order_total", {{"outcome", "window_exceeded"}},
           at(slot::arrival_order + 1));

  // -- storage ----------------------------------------------------------------
  w.family("actormq_storage_commits_total", "counter",
           "Commits (group-committed write batches) applied to the store, by backend.");
  for (size_t b = 0; b < backend_count; ++b) {
    auto base = slot::storage + b * slot::storage_block;
    if (at(base + slot::st_commits) != 0)
      w.sample("actormq_storage_commits_total", {{"backend", backend_names[b]}},
               at(base + slot::st_commits));
  }
  w.family("actormq_storage_errors_total", "counter", "Commits the store failed, by backend.");
  for (size_t b = 0; b < backend_count; ++b) {
    auto base = slot::storage + b * slot::storage_block;
    if (at(base + slot::st_commits) != 0)
      w.sample("actormq_storage_errors_total", {{"backend", backend_names[b]}},
               at(base + slot::st_errors));
  }
  w.family("actormq_storage_apply_seconds", "histogram",
           "How long one commit took to apply (a synced write for the embedded store).");
  for (size_t b = 0; b < backend_count; ++b) {
    auto base = slot::storage + b * slot::storage_block;
    if (at(base + slot::st_commits) == 0)
      continue;
    int64_t buckets[latency_bounds.size() + 1];
    for (size_t i = 0; i <= latency_bounds.size(); ++i)
      buckets[i] = at(base + slot::st_latency + i);
    histogram(w, "actormq_storage_apply_seconds", backend_names[b], buckets,
              latency_bounds.size(), latency_bounds.data(),
              static_cast<double>(at(base + slot::st_apply_ns)) / 1e9,
              at(base + slot::st_commits));
  }
  w.family("actormq_storage_commit_batches", "histogram",
           "Write batches (from sessions and the router) merged into one commit.");
  for (size_t b = 0; b < backend_count; ++b) {
    // Counted per whole commit only (not for a backend's part of a role
    // composite's commit): the count is the sum of the buckets.
    auto base = slot::storage + b * slot::storage_block;
    int64_t buckets[batch_bounds.size() + 1];
    int64_t observed = 0;
    for (size_t i = 0; i <= batch_bounds.size(); ++i) {
      buckets[i] = at(base + slot::st_batch_hist + i);
      observed += buckets[i];
    }
    if (observed == 0)
      continue;
    histogram(w, "actormq_storage_commit_batches", backend_names[b], buckets, batch_bounds.size(),
              batch_bounds.data(), static_cast<double>(at(base + slot::st_batches)), observed);
  }

  // -- process ----------------------------------------------------------------
  w.family("actormq_process_resident_memory_bytes", "gauge", "Resident set size (/proc/self/statm).");
  w.sample("actormq_process_resident_memory_bytes", {}, u(p.resident_bytes));
  w.family("actormq_process_virtual_memory_bytes", "gauge", "Virtual memory size (/proc/self/statm).");
  w.sample("actormq_process_virtual_memory_bytes", {}, u(p.virtual_bytes));
  w.family("actormq_process_open_fds", "gauge", "Open file descriptors (/proc/self/fd).");
  w.sample("actormq_process_open_fds", {}, u(p.open_fds));
  w.family("actormq_process_max_fds", "gauge", "Limit on open file descriptors (RLIMIT_NOFILE).");
  w.sample("actormq_process_max_fds", {}, u(p.max_fds));
  w.family("actormq_process_cpu_seconds_total", "counter", "User and system CPU time.");
  w.sample("actormq_process_cpu_seconds_total", {}, p.cpu_seconds);
  w.family("actormq_process_start_time_seconds", "gauge", "Start time, seconds since the epoch.");
  w.sample("actormq_process_start_time_seconds", {}, p.start_time_seconds);
  return std::move(w.str());
}

void read_process_stats(pulled_values& p) {
  long page = ::sysconf(_SC_PAGESIZE);
  if (std::ifstream statm{"/proc/self/statm"}) {
    uint64_t size = 0, resident = 0;
    if (statm >> size >> resident) {
      p.virtual_bytes = size * static_cast<uint64_t>(page);
      p.resident_bytes = resident * static_cast<uint64_t>(page);
    }
  }
  if (auto* dir = ::opendir("/proc/self/fd")) {
    uint64_t n = 0;
    while (auto* e = ::readdir(dir))
      if (e->d_name[0] != '.')
        ++n;
    ::closedir(dir);
    p.open_fds = n > 0 ? n - 1 : 0; // minus the directory's own descriptor
  }
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0)
    p.max_fds = rl.rlim_cur;
  rusage ru{};
  if (::getrusage(RUSAGE_SELF, &ru) == 0)
    p.cpu_seconds = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec)
                    + static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

} // namespace amq::metrics
