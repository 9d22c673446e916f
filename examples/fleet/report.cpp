#include "report.hpp"

#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <string>

namespace amq::fleet {

namespace {

/// Minimal JSON writer for one line.
class json {
public:
  json& key(std::string_view k) {
    comma();
    str(k);
    s_ += ':';
    fresh_ = true;
    return *this;
  }
  json& val(uint64_t v) { return raw(std::to_string(v)); }
  json& val(int64_t v) { return raw(std::to_string(v)); }
  json& val(double v) {
    char b[64];
    std::snprintf(b, sizeof b, "%.3f", v);
    return raw(b);
  }
  json& val(bool v) { return raw(v ? "true" : "false"); }
  json& val(std::string_view v) {
    comma();
    str(v);
    return *this;
  }
  json& open() {
    comma();
    s_ += '{';
    fresh_ = true;
    return *this;
  }
  json& close() {
    s_ += '}';
    fresh_ = false;
    return *this;
  }
  const std::string& text() const { return s_; }

private:
  json& raw(std::string_view v) {
    comma();
    s_ += v;
    return *this;
  }
  void comma() {
    if (!fresh_ && !s_.empty())
      s_ += ',';
    fresh_ = false;
  }
  void str(std::string_view v) {
    s_ += '"';
    for (char c : v) {
      if (c == '"' || c == '\\') {
        s_ += '\\';
        s_ += c;
      } else if (static_cast<unsigned char>(c) < 0x20) {
        char b[8];
        std::snprintf(b, sizeof b, "\\u%04x", c);
        s_ += b;
      } else {
        s_ += c;
      }
    }
    s_ += '"';
  }
  std::string s_;
  bool fresh_ = true;
};

std::string human_ns(uint64_t ns) {
  char b[32];
  if (ns < 1'000'000)
    std::snprintf(b, sizeof b, "%.0f us", static_cast<double>(ns) / 1e3);
  else if (ns < 1'000'000'000)
    std::snprintf(b, sizeof b, "%.2f ms", static_cast<double>(ns) / 1e6);
  else
    std::snprintf(b, sizeof b, "%.2f s", static_cast<double>(ns) / 1e9);
  return b;
}

} // namespace

void report::start_progress() {
  tty_ = isatty(STDERR_FILENO) != 0;
  interval_ = o.progress > 0 ? o.progress : (tty_ ? 1.0 : 5.0);
}

void report::progress(double t, const live_sample& s) {
  if (o.quiet || t - last_print_ < interval_)
    return;
  const double dt = t - last_t_;
  const double out = dt > 0 ? static_cast<double>(s.pub_out - last_.pub_out) / dt : 0;
  const double in = dt > 0 ? static_cast<double>(s.pub_in - last_.pub_in) / dt : 0;
  std::fprintf(stderr, "%s[%6.1fs] connected %" PRId64 "/%" PRId64 " | out %.0f msg/s | in %.0f msg/s | in flight %" PRId64
               " | errors %" PRIu64 "%s",
               tty_ ? "\r\033[K" : "", t, s.connected, s.total, out, in, s.inflight, s.errors, tty_ ? "" : "\n");
  std::fflush(stderr);
  printed_ = true;
  last_ = s;
  last_t_ = t;
  last_print_ = t;
}

void report::end_progress() {
  if (tty_ && printed_)
    std::fputc('\n', stderr);
}

int report::finish() {
  uint64_t sent = 0, confirmed = 0, expected = 0, unique = 0, lost = 0, unentitled = 0, tail = 0;
  for (auto& c : classes) {
    tail += c.lost_tail;
    sent += c.sent;
    confirmed += c.confirmed;
    expected += c.expected;
    unique += c.received_unique;
    lost += c.lost;
    unentitled += c.unentitled;
  }
  auto counter = [&](std::string_view k) -> uint64_t {
    for (auto& [n, v] : counters)
      if (n == k)
        return v;
    return 0;
  };
  const uint64_t dup = counter("duplicated"), ooo = counter("out_of_order");
  const char* session = o.persistent ? "persistent" : "clean";
  if (!o.quiet) {
    std::printf("actormq-fleet: %u devices (%s ids %s<n>), MQTT %s, QoS %d, %s sessions, %u thread(s), "
                "run %.1f s + drain %.1f s against %s:%u\n",
                o.devices, o.id_style.c_str(), o.id_prefix.c_str(), o.mqtt == 5 ? "5.0" : "3.1.1", o.qos,
                session, o.threads, run_s, drain_s, o.host.c_str(), o.port);
    if (!setup_ok)
      std::printf("SETUP FAILED: consumers / command sender did not connect within %.0f s\n", o.setup_timeout);
    std::printf("connections  attempts %" PRIu64 ", CONNACKs %" PRIu64 ", connect time p50 %s p99 %s max %s\n",
                counter("connect_attempts"), counter("connacks"),
                human_ns(connect_time->quantile(0.5)).c_str(), human_ns(connect_time->quantile(0.99)).c_str(),
                human_ns(connect_time->max()).c_str());
    std::printf("churn        random drops %" PRIu64 ", storm drops %" PRIu64 " (%u storms), takeovers %" PRIu64
                ", sessions resumed %" PRIu64 "\n",
                counter("drops_random"), counter("drops_storm"), storms, counter("takeovers"),
                counter("sessions_resumed"));
    std::printf("messages     %-10s %12s %12s %12s %12s %10s %12s\n", "class", "sent", "confirmed", "expected",
                "received", "lost", "unentitled");
    for (auto& c : classes)
      std::printf("             %-10s %12" PRIu64 " %12" PRIu64 " %12" PRIu64 " %12" PRIu64 " %10" PRIu64 " %12" PRIu64 "\n",
                  c.name.c_str(), c.sent, c.confirmed, c.expected, c.received_unique, c.lost, c.unentitled);
    std::printf("             %-10s %12" PRIu64 " %12" PRIu64 " %12" PRIu64 " %12" PRIu64 " %10" PRIu64 " %12" PRIu64 "\n",
                "total", sent, confirmed, expected, unique, lost, unentitled);
    if (lost > 0)
      std::printf("             of the lost: %" PRIu64 " gaps (below a later message: certainly dropped), %" PRIu64
                  " tail (after the last one received: dropped or still queued when the drain ended)\n",
                  lost - tail, tail);
    std::printf("             deliveries %" PRIu64 " (incl. duplicates), duplicated %" PRIu64 ", out of order %" PRIu64
                ", resent by us %" PRIu64 ", foreign %" PRIu64 "\n",
                counter("publish_in"), dup, ooo, counter("resent"), counter("foreign"));
    std::printf("latency      p50 %s  p99 %s  p99.9 %s  max %s  (%" PRIu64 " samples)\n",
                human_ns(latency->quantile(0.5)).c_str(), human_ns(latency->quantile(0.99)).c_str(),
                human_ns(latency->quantile(0.999)).c_str(), human_ns(latency->max()).c_str(), latency->count());
    std::printf("packets      out %" PRIu64 ", in %" PRIu64 " (all MQTT packets of the fleet, $SYS reader excluded)\n",
                counter("packets_out"), counter("packets_in"));
    std::printf("errors       ");
    if (errors.empty())
      std::printf("none");
    for (auto& [k, v] : errors)
      std::printf("%s %" PRIu64 "  ", k.c_str(), v);
    std::printf("\n");
    if (!sys.empty()) {
      std::printf("broker $SYS  (before -> after%s)\n", sys_fresh ? "" : ", NO update after the run arrived");
      for (auto& s : sys)
        if (s.topic.find("messages") != std::string::npos || s.topic.find("clients") != std::string::npos)
          std::printf("             %s: %s -> %s\n", s.topic.c_str(), s.before.c_str(), s.after.c_str());
    }
    std::printf("tool         cpu %.1f%% of one core, max RSS %.1f MB, fd limit %s, source addresses %u\n",
                tool_cpu_pct, static_cast<double>(tool_rss_kb) / 1024.0, fd_limit.c_str(), source_addresses);
    if (o.scenario == "backlog")
      std::printf("backlog      %u messages queued for the offline session in %.3f s (%.0f msg/s), drained "
                  "after reconnect in %.3f s (%.0f msg/s); tool cpu %.1f%% / %.1f%% of one core\n",
                  o.backlog, backlog_queue_s, backlog_queue_s > 0 ? o.backlog / backlog_queue_s : 0.0,
                  backlog_drain_s, backlog_drain_s > 0 ? unique / backlog_drain_s : 0.0, backlog_queue_cpu_pct,
                  backlog_drain_cpu_pct);
    if (o.qos == 0 && lost > 0)
      std::printf("note         QoS 0 may lose messages legally (at most once).\n");
    if (o.qos == 1 && dup > 0)
      std::printf("note         QoS 1 allows duplicates (redelivery after reconnect).\n");
  }
  json j;
  j.open();
  j.key("tool").val(std::string_view{"actormq-fleet"});
  j.key("label").val(std::string_view{o.label});
  j.key("ok").val(setup_ok);
  j.key("broker").val(o.host + ":" + std::to_string(o.port));
  j.key("mqtt").val(static_cast<uint64_t>(o.mqtt));
  j.key("devices").val(uint64_t{o.devices});
  j.key("qos").val(static_cast<uint64_t>(o.qos));
  j.key("session").val(std::string_view{session});
  j.key("threads").val(uint64_t{o.threads});
  j.key("run_s").val(run_s);
  j.key("drain_s").val(drain_s);
  j.key("storms").val(uint64_t{storms});
  j.key("sent").val(sent);
  j.key("confirmed").val(confirmed);
  j.key("expected").val(expected);
  j.key("received").val(counter("publish_in"));
  j.key("received_unique").val(unique);
  j.key("lost").val(lost);
  j.key("lost_tail").val(tail);
  j.key("duplicated").val(dup);
  j.key("out_of_order").val(ooo);
  j.key("unentitled").val(unentitled);
  j.key("latency_us").open();
  auto us = [](uint64_t ns) { return static_cast<double>(ns) / 1e3; };
  j.key("p50").val(us(latency->quantile(0.5)));
  j.key("p99").val(us(latency->quantile(0.99)));
  j.key("p999").val(us(latency->quantile(0.999)));
  j.key("max").val(us(latency->max()));
  j.close();
  j.key("connect_ms").open();
  auto ms = [](uint64_t ns) { return static_cast<double>(ns) / 1e6; };
  j.key("p50").val(ms(connect_time->quantile(0.5)));
  j.key("p99").val(ms(connect_time->quantile(0.99)));
  j.key("max").val(ms(connect_time->max()));
  j.close();
  j.key("classes").open();
  for (auto& c : classes) {
    j.key(c.name).open();
    j.key("sent").val(c.sent);
    j.key("confirmed").val(c.confirmed);
    j.key("expected").val(c.expected);
    j.key("received_unique").val(c.received_unique);
    j.key("lost").val(c.lost);
    j.key("lost_tail").val(c.lost_tail);
    j.key("unentitled").val(c.unentitled);
    j.close();
  }
  j.close();
  j.key("errors").open();
  for (auto& [k, v] : errors)
    j.key(k).val(v);
  j.close();
  j.key("counters").open();
  for (auto& [k, v] : counters)
    j.key(k).val(v);
  j.close();
  if (o.sys) {
    j.key("sys_fresh").val(sys_fresh);
    j.key("sys").open();
    for (auto& s : sys) {
      j.key(s.topic).open();
      j.key("before").val(std::string_view{s.before});
      j.key("after").val(std::string_view{s.after});
      j.close();
    }
    j.close();
  }
  if (o.scenario == "backlog") {
    j.key("backlog").val(uint64_t{o.backlog});
    j.key("backlog_queue_s").val(backlog_queue_s);
    j.key("backlog_drain_s").val(backlog_drain_s);
    j.key("backlog_queue_tool_cpu_pct").val(backlog_queue_cpu_pct);
    j.key("backlog_drain_tool_cpu_pct").val(backlog_drain_cpu_pct);
  }
  j.key("scenario").val(std::string_view{o.scenario});
  j.key("tool_cpu_pct").val(tool_cpu_pct);
  j.key("tool_rss_kb").val(tool_rss_kb);
  j.key("fd_limit").val(std::string_view{fd_limit});
  j.close();
  std::printf("%s\n", j.text().c_str());
  if (o.scenario == "backlog") // the line bench/run.sh collects
    std::printf("RESULT scenario=backlog proto=%d qos=%d backlog=%u queued_s=%.3f queue_rate=%.0f drain_s=%.3f "
                "drain_rate=%.0f received=%" PRIu64 " lost=%" PRIu64 " duplicated=%" PRIu64 " tool_cpu_pct=%.1f "
                "queue_tool_cpu_pct=%.1f drain_tool_cpu_pct=%.1f error=%s\n",
                o.mqtt, o.qos, o.backlog, backlog_queue_s, backlog_queue_s > 0 ? o.backlog / backlog_queue_s : 0.0,
                backlog_drain_s, backlog_drain_s > 0 ? unique / backlog_drain_s : 0.0, unique, lost, dup, tool_cpu_pct,
                backlog_queue_cpu_pct, backlog_drain_cpu_pct,
                setup_ok && errors.empty() ? "none" : "see_json");
  std::fflush(stdout);
  return setup_ok ? 0 : 2;
}

} // namespace amq::fleet
