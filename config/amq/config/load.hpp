#pragma once
/// Loading the configuration. Layers, each overriding the one before:
///
///   1. built-in defaults (the member initializers in broker_config.hpp)
///   2. the YAML file (`--config PATH` / `-c PATH`, else env ACTORMQ_CONFIG)
///   3. environment variables (TBMQ names, then ACTORMQ_<SECTION>__<KEY>)
///   4. command-line flags (--port, --bind, ..., then --set key=value in order)
///
/// then auto values are resolved (node name, worker threads) and the result
/// is validated. Nothing here throws; every failure is a `result` error whose
/// message names the source (file:line:column, variable or flag) and the key.

#include "amq/config/broker_config.hpp"
#include "amq/config/result.hpp"

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace amq::config {

/// Environment variables, name to value.
using environment = std::map<std::string, std::string>;

/// The environment of this process.
environment current_environment();

/// What `load_config` produced.
struct load_outcome {
  /// The effective, validated configuration.
  broker_config config;
  /// Set when --help, --version or --print-config asks the program to print
  /// this text to stdout and exit with status 0.
  std::optional<std::string> print_and_exit;
  /// Path of the YAML file that was read; empty if none.
  std::string config_file;
  /// Findings that do not stop the broker (log them), e.g. an ignored
  /// ACTORMQ_ variable that looks like a misspelled key.
  std::vector<std::string> warnings;
};

/// Runs all layers for a command line and an environment.
result<load_outcome> load_config(int argc, const char* const* argv, const environment& env);

/// Runs all layers for this process's command line and environment.
result<load_outcome> load_config(int argc, char** argv);

/// Layers a YAML document onto `cfg`; `origin` (a path) prefixes messages.
/// Unknown keys are errors.
std::optional<std::string> apply_yaml(broker_config& cfg, std::string_view yaml_text,
                                      std::string_view origin);

/// Reads `path` and layers it onto `cfg`.
std::optional<std::string> apply_yaml_file(broker_config& cfg, const std::string& path);

/// Layers environment overrides onto `cfg`. Unknown ACTORMQ_<A>__<B> names
/// are errors; other unknown ACTORMQ_ names become warnings.
std::optional<std::string> apply_environment(broker_config& cfg, const environment& env,
                                             std::vector<std::string>* warnings = nullptr);

/// Fills in values left at "auto": an empty cluster.node_name becomes the
/// host name, runtime.worker_threads 0 the number of `affinity_cpus()` (at
/// least 1; the hardware concurrency if the mask cannot be read).
void resolve_auto_values(broker_config& cfg);

/// The CPUs this process may run on (its affinity mask: taskset, a
/// container's cpuset), ascending; empty if the mask cannot be read.
std::vector<int> affinity_cpus();

/// The configuration as YAML, as `--print-config` prints it. Loading this
/// text again yields the same configuration (unless secrets were redacted).
std::string to_yaml(const broker_config& cfg, bool redact_secrets = true);

/// The `--help` text.
std::string cli_help();

/// The broker version ("0.1.0").
std::string_view version() noexcept;

} // namespace amq::config
