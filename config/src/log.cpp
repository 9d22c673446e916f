#include "amq/log.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <mutex>
#include <vector>

namespace amq::log {

namespace detail {

std::atomic<spdlog::logger*> current{nullptr};

} // namespace detail

namespace {

constexpr const char* text_pattern = "%Y-%m-%dT%H:%M:%S.%e%z %^%l%$ [%t] %v";
constexpr const char* json_pattern
  = R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","thread":%t,"msg":"%*"})";

/// `%*`: the message, escaped for a JSON string.
class json_message_flag final : public spdlog::custom_flag_formatter {
public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    static constexpr char hex[] = "0123456789abcdef";
    for (char c : std::string_view{msg.payload.data(), msg.payload.size()}) {
      switch (c) {
        case '"': dest.append(std::string_view{"\\\""}); break;
        case '\\': dest.append(std::string_view{"\\\\"}); break;
        case '\n': dest.append(std::string_view{"\\n"}); break;
        case '\r': dest.append(std::string_view{"\\r"}); break;
        case '\t': dest.append(std::string_view{"\\t"}); break;
        default:
          if (static_cast<unsigned char>(c) < 0x20) {
            char esc[] = {'\\', 'u', '0', '0', hex[(c >> 4) & 0xF], hex[c & 0xF]};
            dest.append(esc, esc + sizeof(esc));
          } else {
            dest.push_back(c);
          }
      }
    }
  }

  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<json_message_flag>();
  }
};

std::unique_ptr<spdlog::formatter> make_formatter(config::log_format format) {
  auto f = std::make_unique<spdlog::pattern_formatter>();
  if (format == config::log_format::json)
    f->add_flag<json_message_flag>('*').set_pattern(json_pattern);
  else
    f->set_pattern(text_pattern);
  return f;
}

/// Keeps every logger alive: a thread may still hold a reference to the
/// previous one after `init` swapped it.
std::shared_ptr<spdlog::logger> keep(std::shared_ptr<spdlog::logger> lg) {
  static std::mutex mtx;
  static std::vector<std::shared_ptr<spdlog::logger>> all;
  std::lock_guard<std::mutex> guard{mtx};
  all.push_back(lg);
  return lg;
}

void install(const config::log_config& cfg, spdlog::sink_ptr sink) {
  auto lg = keep(std::make_shared<spdlog::logger>("actormq", std::move(sink)));
  lg->set_formatter(make_formatter(cfg.format));
  lg->set_level(to_spdlog(cfg.level));
  lg->flush_on(spdlog::level::warn);
  detail::current.store(lg.get(), std::memory_order_release);
}

} // namespace

spdlog::logger& detail::fallback() {
  static auto lg = [] {
    auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
    auto out = keep(std::make_shared<spdlog::logger>("actormq", std::move(sink)));
    out->set_formatter(make_formatter(config::log_format::text));
    out->set_level(spdlog::level::info);
    return out;
  }();
  return *lg;
}

spdlog::level::level_enum to_spdlog(config::log_level level) noexcept {
  switch (level) {
    case config::log_level::trace: return spdlog::level::trace;
    case config::log_level::debug: return spdlog::level::debug;
    case config::log_level::info: return spdlog::level::info;
    case config::log_level::warn: return spdlog::level::warn;
    case config::log_level::error: return spdlog::level::err;
    case config::log_level::off: return spdlog::level::off;
  }
  return spdlog::level::info;
}

std::optional<std::string> init(const config::log_config& cfg) {
  spdlog::sink_ptr sink;
  try {
    if (!cfg.file.empty())
      sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(cfg.file, false);
    else if (cfg.format == config::log_format::json)
      sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    else
      sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  } catch (const std::exception& e) {
    return "log.file: cannot open " + cfg.file + ": " + e.what();
  }
  install(cfg, std::move(sink));
  return std::nullopt;
}

void init(const config::log_config& cfg, spdlog::sink_ptr sink) {
  install(cfg, std::move(sink));
}

} // namespace amq::log
