#pragma once
/// Prometheus text exposition format 0.0.4: a small writer, and `render`,
/// which turns a registry snapshot plus the values pulled from the broker at
/// scrape time into the `/metrics` page (every metric: docs/metrics.md).

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace amq::metrics {

/// The Content-Type of the text format.
inline constexpr std::string_view content_type = "text/plain; version=0.0.4; charset=utf-8";

using label = std::pair<std::string_view, std::string_view>;

/// Writes families in the text format: `# HELP` (escaped), `# TYPE`, then
/// samples with escaped label values.
class text_writer {
public:
  /// Starts a family; `type` is counter, gauge, histogram or untyped.
  void family(std::string_view name, std::string_view type, std::string_view help);
  void sample(std::string_view name, std::initializer_list<label> labels, int64_t value);
  void sample(std::string_view name, std::initializer_list<label> labels, double value);
  void sample(std::string_view name, const std::vector<label>& labels, double value);
  std::string& str() noexcept { return out_; }

private:
  void labels(const label* first, const label* last);
  std::string out_;
};

/// `\` → `\\`, `"` → `\"`, newline → `\n` (label values).
std::string escape_label_value(std::string_view v);
/// `\` → `\\`, newline → `\n` (HELP text).
std::string escape_help(std::string_view v);
/// A float as the format wants it: shortest round-trip form, +Inf, -Inf, NaN.
std::string format_value(double v);
/// "Protocol Error" → "protocol_error".
std::string snake_case(std::string_view text);

/// Values the registry does not keep; pulled from the broker at scrape time.
struct pulled_values {
  // network edge (net::server::stats)
  uint64_t connections_accepted = 0;
  uint64_t connections_open = 0;
  uint64_t bytes_received = 0;
  uint64_t bytes_sent = 0;
  uint64_t write_queue_overflows = 0;
  uint64_t accept_errors = 0;
  // router and registry (absent if they did not answer in time)
  bool router_answered = false;
  uint64_t subscriptions = 0;
  uint64_t retained_messages = 0;
  bool registry_answered = false;
  uint64_t sessions_total = 0;
  // load averages, messages per minute (the $SYS load/... values)
  double load_received[3] = {0, 0, 0};
  double load_sent[3] = {0, 0, 0};
  uint64_t clients_maximum = 0;
  // process
  double uptime_seconds = 0;
  double start_time_seconds = 0; ///< Unix time
  int64_t tls_certificate_expiry = 0; ///< Unix time; 0: no TLS listener
  uint64_t resident_bytes = 0;
  uint64_t virtual_bytes = 0;
  uint64_t open_fds = 0;
  uint64_t max_fds = 0;
  double cpu_seconds = 0;
  std::string version;
  std::string node;
};

/// The whole `/metrics` page.
std::string render(const std::vector<int64_t>& snapshot, const pulled_values& p);

/// Process figures from /proc/self (zeros where unavailable).
void read_process_stats(pulled_values& p);

} // namespace amq::metrics
