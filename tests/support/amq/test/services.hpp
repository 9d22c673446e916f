#pragma once
/// Where integration suites find the real Redis and Kafka.
///
/// `scripts/services.sh start` starts both on free loopback ports and writes
/// their addresses to `build/services/env`; `scripts/test.sh` exports that
/// file into ctest's environment:
///
///   AMQ_TEST_REDIS_HOST       default 127.0.0.1
///   AMQ_TEST_REDIS_PORT       e.g. 16379
///   AMQ_TEST_KAFKA_BOOTSTRAP  e.g. 127.0.0.1:19092
///
/// To run an integration suite by hand:
///   scripts/services.sh start && set -a && . build/services/env && set +a
///   ctest --test-dir build -L integration --output-on-failure
///
/// A missing variable is a test failure, never a silent pass: an integration
/// suite that did not reach its service proved nothing.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <unistd.h>

namespace amq::test {

/// The value of a non-empty environment variable, if set.
inline std::optional<std::string> env_var(const char* name) {
  if (auto v = std::getenv(name); v != nullptr && *v != '\0')
    return std::string{v};
  return std::nullopt;
}

/// Explanation for a missing service variable, for CAF_FAIL.
inline std::string missing_service_env(std::string_view var) {
  std::string out{var};
  out += " is not set: integration tests need the real services. Run "
         "scripts/test.sh, or `scripts/services.sh start` and then "
         "`set -a; . build/services/env; set +a` before ctest.";
  return out;
}

struct redis_endpoint {
  std::string host;
  uint16_t port = 0;
};

/// Redis from AMQ_TEST_REDIS_HOST/AMQ_TEST_REDIS_PORT. On failure returns
/// nullopt and sets `why`.
inline std::optional<redis_endpoint> redis_from_env(std::string& why) {
  auto port = env_var("AMQ_TEST_REDIS_PORT");
  if (!port) {
    why = missing_service_env("AMQ_TEST_REDIS_PORT");
    return std::nullopt;
  }
  char* end = nullptr;
  auto n = std::strtol(port->c_str(), &end, 10);
  if (end == port->c_str() || *end != '\0' || n <= 0 || n > 65535) {
    why = "AMQ_TEST_REDIS_PORT is not a port number: " + *port;
    return std::nullopt;
  }
  return redis_endpoint{env_var("AMQ_TEST_REDIS_HOST").value_or("127.0.0.1"),
                        static_cast<uint16_t>(n)};
}

/// Kafka bootstrap servers ("host:port[,host:port...]") from
/// AMQ_TEST_KAFKA_BOOTSTRAP. On failure returns nullopt and sets `why`.
inline std::optional<std::string> kafka_bootstrap_from_env(std::string& why) {
  auto servers = env_var("AMQ_TEST_KAFKA_BOOTSTRAP");
  if (!servers)
    why = missing_service_env("AMQ_TEST_KAFKA_BOOTSTRAP");
  return servers;
}

/// A name no other run, process or test uses: `<prefix>-<pid>-<µs>-<n>`.
/// Use it for Redis key prefixes, Kafka topics and consumer groups so that
/// runs against a shared or reused service never see each other's data.
inline std::string unique_name(std::string_view prefix) {
  static std::atomic<unsigned> counter{0};
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(
              std::chrono::system_clock::now().time_since_epoch())
              .count();
  std::string out{prefix};
  out += '-';
  out += std::to_string(::getpid());
  out += '-';
  out += std::to_string(us);
  out += '-';
  out += std::to_string(counter++);
  return out;
}

} // namespace amq::test
