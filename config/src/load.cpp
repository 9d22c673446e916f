/// `load_config`: defaults, then the YAML file, then the environment, then the
/// command line (CLI11), then auto values and validation.

#include "amq/config/load.hpp"

#include "amq/config/options.hpp"
#include "value_codecs.hpp"

#include <CLI/CLI.hpp>

#include <sched.h>
#include <thread>
#include <unistd.h>

#ifndef AMQ_VERSION
#  define AMQ_VERSION "0.0.0"
#endif

namespace amq::config {

namespace {

/// Values of the command line, applied after the file and the environment.
struct cli_values {
  std::string config;
  std::string port;
  std::string bind;
  std::string data_dir;
  std::string log_level;
  std::string storage;
  std::string redis;
  std::string kafka;
  std::vector<std::string> sets;
  bool print_config = false;
  bool version = false;
};

/// Declares every flag. `cli_help()` uses the same function, so the help text
/// in docs/configuration.md cannot drift from the parser.
void define_cli(CLI::App& app, cli_values& v) {
  app.add_option("-c,--config", v.config,
                 "YAML config file (default: $ACTORMQ_CONFIG, else none)")
    ->option_text("PATH");
  app.add_option("--port", v.port, "MQTT listener port (listeners.mqtt.port)")
    ->option_text("PORT");
  app.add_option("--bind", v.bind, "MQTT listener address (listeners.mqtt.bind)")
    ->option_text("ADDR");
  app.add_option("--data-dir", v.data_dir, "embedded store directory (storage.data_dir)")
    ->option_text("DIR");
  app.add_option("--log-level", v.log_level, "trace|debug|info|warn|error|off (log.level)")
    ->option_text("LEVEL");
  app.add_option("--storage", v.storage,
                 "backend for every storage role: embedded|redis|kafka|memory")
    ->option_text("BACKEND");
  app.add_option("--redis", v.redis, "Redis address (storage.redis.host/port)")
    ->option_text("HOST:PORT");
  app.add_option("--kafka", v.kafka, "Kafka bootstrap servers (storage.kafka.bootstrap_servers)")
    ->option_text("SERVERS");
  app.add_option("--set", v.sets,
                 "set any key; repeatable, e.g. --set limits.max_packet_size=2MiB")
    ->option_text("KEY=VALUE")
    ->allow_extra_args(false)
    ->take_all();
  app.add_flag("--print-config", v.print_config,
               "print the effective configuration as YAML and exit");
  app.add_flag("--version", v.version, "print the version and exit");
  app.footer("Precedence, later wins: defaults < YAML file < environment (TBMQ names, then\n"
             "ACTORMQ_<SECTION>__<KEY>) < flags < --set. Reference: docs/configuration.md");
}

std::unique_ptr<CLI::App> make_app(cli_values& v) {
  auto app = std::make_unique<CLI::App>("actormq: distributed MQTT broker", "actormq");
  define_cli(*app, v);
  return app;
}

/// Applies `--flag VALUE` to `key`, prefixing errors with the flag.
std::optional<std::string> apply_flag(broker_config& cfg, std::string_view flag,
                                      std::string_view key, std::string_view value) {
  if (auto err = set_option(cfg, key, value))
    return std::string{flag} + ": " + *err;
  return std::nullopt;
}

/// Applies the command-line layer in its documented order.
std::optional<std::string> apply_cli(broker_config& cfg, const CLI::App& app,
                                     const cli_values& v) {
  if (app.count("--storage") > 0)
    for (auto key : {"storage.sessions", "storage.device_queue", "storage.application_queue",
                     "storage.retained"})
      if (auto err = apply_flag(cfg, "--storage", key, v.storage))
        return err;
  if (app.count("--redis") > 0) {
    std::string_view addr{v.redis};
    auto colon = addr.rfind(':');
    if (auto err = apply_flag(cfg, "--redis", "storage.redis.host", addr.substr(0, colon)))
      return err;
    if (colon != std::string_view::npos)
      if (auto err = apply_flag(cfg, "--redis", "storage.redis.port", addr.substr(colon + 1)))
        return err;
  }
  const std::pair<const char*, std::pair<const char*, const std::string*>> simple[] = {
    {"--kafka", {"storage.kafka.bootstrap_servers", &v.kafka}},
    {"--bind", {"listeners.mqtt.bind", &v.bind}},
    {"--port", {"listeners.mqtt.port", &v.port}},
    {"--data-dir", {"storage.data_dir", &v.data_dir}},
    {"--log-level", {"log.level", &v.log_level}},
  };
  for (const auto& [flag, target] : simple)
    if (app.count(flag) > 0)
      if (auto err = apply_flag(cfg, flag, target.first, *target.second))
        return err;
  for (const auto& assignment : v.sets) {
    auto eq = assignment.find('=');
    if (eq == std::string::npos)
      return "--set: expected key.path=value, got " + detail::quoted(assignment);
    auto key = detail::trim(std::string_view{assignment}.substr(0, eq));
    if (auto err = apply_flag(cfg, "--set", key, std::string_view{assignment}.substr(eq + 1)))
      return err;
  }
  return std::nullopt;
}

std::string join_errors(const std::vector<std::string>& errors) {
  std::string out;
  for (const auto& e : errors) {
    if (!out.empty())
      out += '\n';
    out += e;
  }
  return out;
}

} // namespace

std::string_view version() noexcept {
  return AMQ_VERSION;
}

std::string cli_help() {
  cli_values v;
  auto app = make_app(v);
  return app->help();
}

void resolve_auto_values(broker_config& cfg) {
  if (cfg.cluster.node_name.empty()) {
    char host[256] = {};
    if (gethostname(host, sizeof(host) - 1) == 0 && host[0] != '\0')
      cfg.cluster.node_name = host;
    else
      cfg.cluster.node_name = "actormq";
  }
  if (cfg.runtime.worker_threads == 0) {
    // The CPUs this process may run on, not all the machine's: more workers than that only
    // take turns on them.
    auto cpus = affinity_cpus();
    cfg.runtime.worker_threads = std::max(
      1u, cpus.empty() ? std::thread::hardware_concurrency() : static_cast<unsigned>(cpus.size()));
  }
}

std::vector<int> affinity_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0)
    return {};
  std::vector<int> cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &set))
      cpus.push_back(c);
  return cpus;
}

result<load_outcome> load_config(int argc, const char* const* argv, const environment& env) {
  try {
    cli_values v;
    auto app = make_app(v);
    try {
      app->parse(argc, argv);
    } catch (const CLI::CallForHelp&) {
      return load_outcome{{}, app->help(), {}, {}};
    } catch (const CLI::CallForAllHelp&) {
      return load_outcome{{}, app->help(), {}, {}};
    } catch (const CLI::ParseError& e) {
      return unexpected{"command line: " + std::string{e.what()} + " (see --help)"};
    }
    if (v.version)
      return load_outcome{{}, "actormq " + std::string{version()} + "\n", {}, {}};
    load_outcome out;
    // Layer 2: the YAML file.
    if (app->count("--config") > 0)
      out.config_file = v.config;
    else if (auto i = env.find("ACTORMQ_CONFIG"); i != env.end() && !i->second.empty())
      out.config_file = i->second;
    if (!out.config_file.empty())
      if (auto err = apply_yaml_file(out.config, out.config_file))
        return unexpected{std::move(*err)};
    // Layer 3: the environment.
    if (auto err = apply_environment(out.config, env, &out.warnings))
      return unexpected{std::move(*err)};
    // Layer 4: the command line.
    if (auto err = apply_cli(out.config, *app, v))
      return unexpected{std::move(*err)};
    resolve_auto_values(out.config);
    if (auto errors = validate(out.config); !errors.empty())
      return unexpected{join_errors(errors)};
    if (v.print_config)
      out.print_and_exit = to_yaml(out.config);
    return out;
  } catch (const std::exception& e) {
    return unexpected{std::string{"cannot load the configuration: "} + e.what()};
  }
}

result<load_outcome> load_config(int argc, char** argv) {
  return load_config(argc, argv, current_environment());
}

} // namespace amq::config
