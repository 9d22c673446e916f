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
#include <optional>
#include <string>

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
