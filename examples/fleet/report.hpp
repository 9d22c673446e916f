#pragma once
/// actormq-fleet's output: the live progress line (stderr), the human summary and the one
/// machine-readable JSON line (stdout).

#include "options.hpp"
#include "stats.hpp"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace amq::fleet {

struct live_sample {
  int64_t connected, total;
  uint64_t pub_out, pub_in, errors;
  int64_t inflight;
};

/// One message class (telemetry, commands, ...), summed over its streams.
struct class_totals {
  std::string name;
  uint64_t sent, confirmed, expected, received_unique, lost, unentitled;
  uint64_t lost_tail; ///< of lost: after the last message received on its stream
};

struct sys_value {
  std::string topic, before, after;
};

struct report {
  explicit report(const options& opts) : o(opts) {}

  void start_progress();
  void progress(double t, const live_sample& s);
  void end_progress();
  /// Prints the summary and the JSON line; returns the exit code.
  int finish();

  const options& o;
  std::string fd_limit;
  uint32_t source_addresses = 0;
  uint32_t storms = 0;
  bool setup_ok = true;
  bool sys_fresh = false;
  double run_s = 0, drain_s = 0, tool_cpu_pct = 0;
  uint64_t tool_rss_kb = 0;
  double backlog_queue_s = 0, backlog_drain_s = 0; ///< --scenario backlog
  double backlog_queue_cpu_pct = 0, backlog_drain_cpu_pct = 0; ///< tool CPU in each backlog phase
  std::vector<class_totals> classes;
  const histogram* latency = nullptr;
  const histogram* connect_time = nullptr;
  std::vector<std::pair<std::string, uint64_t>> errors;
  std::vector<std::pair<std::string, uint64_t>> counters;
  std::vector<sys_value> sys;

private:
  bool tty_ = false;
  double interval_ = 1, last_t_ = 0, last_print_ = -1e9;
  live_sample last_{};
  bool printed_ = false;
};

} // namespace amq::fleet
