// actormq — the broker executable: configuration in, a running node out,
// clean shutdown on SIGINT/SIGTERM, auth.password_file reloaded on SIGHUP. Everything else
// lives in the libraries.

#include "amq/actors/broker_node.hpp"
#include "amq/actors/io_scheduler.hpp"
#include "amq/config/load.hpp"
#include "amq/log.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>

#include <sys/resource.h>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

namespace {

sigset_t termination_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP); // reloads auth.password_file
  return set;
}

/// runtime.pin_workers: the first `workers` CPUs of the process's affinity mask (worker i runs
/// on the i-th), or none (logged) when the mask has fewer CPUs than there are workers.
std::vector<int> worker_cpus(uint32_t workers) {
  auto cpus = amq::config::affinity_cpus();
  if (cpus.empty()) {
    AMQ_LOG_WARN("runtime.pin_workers: cannot read the process's CPU affinity; workers are not "
                 "pinned");
    return {};
  }
  if (cpus.size() < workers) {
    AMQ_LOG_INFO("runtime.pin_workers: {} workers but {} CPUs to run on; workers are not pinned",
                 workers, cpus.size());
    return {};
  }
  cpus.resize(workers);
  std::string list;
  for (auto c : cpus) {
    if (!list.empty())
      list.push_back(',');
    list.append(std::to_string(c));
  }
  AMQ_LOG_INFO("runtime.pin_workers: worker i runs on CPU i of [{}]", list);
  return cpus;
}

/// Raises RLIMIT_NOFILE for many connections: soft and hard up to fs.nr_open where allowed
/// (root with CAP_SYS_RESOURCE), else the soft limit up to the hard one. Logs the result.
void raise_fd_limit() {
  rlimit before{};
  getrlimit(RLIMIT_NOFILE, &before);
  rlim_t nr_open = 1 << 20;
  if (std::ifstream f{"/proc/sys/fs/nr_open"}; f)
    f >> nr_open;
  rlimit want{std::max(nr_open, before.rlim_max), std::max(nr_open, before.rlim_max)};
  if (setrlimit(RLIMIT_NOFILE, &want) != 0) {
    want = {before.rlim_max, before.rlim_max};
    setrlimit(RLIMIT_NOFILE, &want);
  }
  rlimit now{};
  getrlimit(RLIMIT_NOFILE, &now);
  AMQ_LOG_INFO("broker raised the open file limit from {} to {} (hard {}; fs.nr_open {}): at most ~{} "
               "connections",
               before.rlim_cur, now.rlim_cur, now.rlim_max, nr_open, now.rlim_cur > 64 ? now.rlim_cur - 64 : 0);
}

} // namespace

int main(int argc, char** argv) {
  auto loaded = amq::config::load_config(argc, argv);
  if (!loaded) {
    std::fprintf(stderr, "actormq: %s\n", loaded.error().c_str());
    return 2;
  }
  if (loaded->print_and_exit) {
    std::cout << *loaded->print_and_exit;
    return 0;
  }
  auto& cfg = loaded->config;
  amq::log::init(cfg.log);
  raise_fd_limit();
  for (auto& w : loaded->warnings)
    AMQ_LOG_WARN("config: {}", w);
  if (!loaded->config_file.empty())
    AMQ_LOG_INFO("broker reads configuration from {}", loaded->config_file);

  // Block the termination signals in every thread; main waits for them.
  auto signals = termination_signals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  caf::actor_system_config sys_cfg;
  sys_cfg.set("scheduler.max-threads", static_cast<size_t>(cfg.runtime.worker_threads));
  // runtime.io_threads 0: the workers run the edge's event loops (declared before the actor
  // system: they must outlive its workers).
  std::optional<amq::actors::io_loops> loops;
  if (cfg.runtime.io_threads == 0) {
    loops.emplace(cfg.runtime.worker_threads);
    amq::actors::io_scheduler_options io_opts;
    io_opts.write_gather = std::chrono::microseconds{cfg.runtime.write_gather_us};
    io_opts.io_poll_period = std::chrono::microseconds{cfg.runtime.io_poll_us};
    io_opts.session_affinity = cfg.runtime.session_affinity;
    io_opts.direct_turns = cfg.runtime.direct_turns;
    if (cfg.runtime.pin_workers)
      io_opts.worker_cpus = worker_cpus(cfg.runtime.worker_threads);
    amq::actors::install_io_scheduler(sys_cfg, *loops, io_opts);
  }
  sys_cfg.set("logger.verbosity", caf::atom("quiet"));
  sys_cfg.set("work-stealing.moderate-poll-attempts",
              static_cast<size_t>(cfg.runtime.worker_moderate_polls));
  caf::actor_system sys{sys_cfg};
  int status = 0;
  {
    amq::actors::broker_node node{sys, cfg};
    if (auto err = node.start()) {
      status = 1;
    } else {
      AMQ_LOG_INFO("broker {} started (node {})", amq::config::version(), cfg.cluster.node_name);
      int sig = 0;
      while (sigwait(&signals, &sig) == 0 && sig == SIGHUP)
        node.reload();
      AMQ_LOG_INFO("broker stops on {}", sig == SIGINT ? "SIGINT" : "SIGTERM");
    }
    node.stop();
  }
  AMQ_LOG_INFO("broker stopped");
  return status;
}
