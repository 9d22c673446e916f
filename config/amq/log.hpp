#pragma once
/// The broker log: a thin wrapper over spdlog.
///
///   AMQ_LOG_INFO("session {} connected from {}", client_id, peer);
///   AMQ_LOG_WARN("session {} dropped {} messages: queue full", client_id, n);
///
/// Style: lines read subject-verb-object ("session X connected from Y",
/// "router Z dropped message for W: reason"); name the client id on every
/// session line and the reason code on every disconnect.
///
/// The macros check the level before they evaluate their arguments, so a
/// disabled line costs one atomic load and one compare. Until `init` runs,
/// lines go to standard error at level info. Call `init` once at start-up,
/// before other threads log.

#include "amq/config/broker_config.hpp"

#include <spdlog/logger.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace amq::log {

namespace detail {

/// The active logger; null until `init`.
extern std::atomic<spdlog::logger*> current;

/// The logger used before `init`: standard error, level info, text.
spdlog::logger& fallback();

} // namespace detail

/// The broker logger.
inline spdlog::logger& get() noexcept {
  auto* p = detail::current.load(std::memory_order_acquire);
  return p != nullptr ? *p : detail::fallback();
}

/// spdlog's level for ours.
spdlog::level::level_enum to_spdlog(config::log_level level) noexcept;

/// Sets up the broker logger from `cfg`: standard error or `cfg.file`, text
/// or JSON lines, and the level. Returns an error message when the log file
/// cannot be opened (the previous logger stays active).
std::optional<std::string> init(const config::log_config& cfg);

/// As above, but writes to `sink` (tests capture lines with an ostream sink).
void init(const config::log_config& cfg, spdlog::sink_ptr sink);

/// At most `per_second` lines of one kind a second, for lines that input from outside can
/// trigger at any rate (refused connections): a flood fills the log with counts, not lines.
/// The first line allowed after some were held back says how many (`suppressed`). Thread-safe;
/// the lock is taken only when such a line is about to be logged. What is counted elsewhere
/// (metrics) stays exact.
class rate_limit {
public:
  explicit rate_limit(uint32_t per_second) noexcept : per_second_(per_second) {
  }

  /// True if a line may be logged now; then `suppressed` is the number held back since the
  /// last allowed line.
  bool admit(uint64_t& suppressed) {
    const auto now = std::chrono::steady_clock::now();
    std::lock_guard<std::mutex> guard{mtx_};
    if (now - window_ >= std::chrono::seconds{1}) {
      window_ = now;
      in_window_ = 0;
    }
    if (in_window_ >= per_second_) {
      ++held_;
      return false;
    }
    ++in_window_;
    suppressed = std::exchange(held_, 0);
    return true;
  }

private:
  std::mutex mtx_;
  std::chrono::steady_clock::time_point window_{};
  uint32_t in_window_ = 0;
  uint32_t per_second_;
  uint64_t held_ = 0;
};

/// " (N more ... not logged)" for a line allowed by a rate_limit after N were held back.
inline std::string held_back(uint64_t n, const char* what) {
  if (n == 0)
    return {};
  return " (" + std::to_string(n) + " more " + what + " in between not logged)";
}

/// Client-supplied text (a client id, user name or topic) as a log field: at most `max_bytes`
/// bytes (then "..."), control characters as '?'.
inline std::string printable(std::string_view s, size_t max_bytes = 64) {
  std::string out;
  for (char c : s.substr(0, max_bytes))
    out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? '?' : c;
  if (s.size() > max_bytes)
    out += "...";
  return out;
}

} // namespace amq::log

/// Logs at `lvl` if enabled; the arguments are evaluated only then.
#define AMQ_LOG_AT(lvl, ...)                                                   \
  do {                                                                         \
    auto& amq_log_logger_ = ::amq::log::get();                                 \
    if (amq_log_logger_.should_log(lvl))                                       \
      amq_log_logger_.log(lvl, __VA_ARGS__);                                   \
  } while (false)

#define AMQ_LOG_TRACE(...) AMQ_LOG_AT(::spdlog::level::trace, __VA_ARGS__)
#define AMQ_LOG_DEBUG(...) AMQ_LOG_AT(::spdlog::level::debug, __VA_ARGS__)
#define AMQ_LOG_INFO(...) AMQ_LOG_AT(::spdlog::level::info, __VA_ARGS__)
#define AMQ_LOG_WARN(...) AMQ_LOG_AT(::spdlog::level::warn, __VA_ARGS__)
#define AMQ_LOG_ERROR(...) AMQ_LOG_AT(::spdlog::level::err, __VA_ARGS__)
