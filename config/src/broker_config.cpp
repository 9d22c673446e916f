#include "amq/config/broker_config.hpp"

#include "amq/config/options.hpp"
#include "option_codec.hpp"

namespace amq::config {

// -- enum names (the YAML spelling) -----------------------------------------------

std::string_view to_string(log_level x) noexcept {
  switch (x) {
    case log_level::trace: return "trace";
    case log_level::debug: return "debug";
    case log_level::info: return "info";
    case log_level::warn: return "warn";
    case log_level::error: return "error";
    case log_level::off: return "off";
  }
  return "?";
}

std::string_view to_string(log_format x) noexcept {
  return x == log_format::json ? "json" : "text";
}

std::string_view to_string(persistence_rule x) noexcept {
  return x == persistence_rule::strict ? "strict" : "seed";
}

std::string_view to_string(client_type x) noexcept {
  return x == client_type::application ? "application" : "device";
}

std::string_view to_string(match_field x) noexcept {
  return x == match_field::username ? "username" : "client_id";
}

std::string_view to_string(match_kind x) noexcept {
  switch (x) {
    case match_kind::prefix: return "prefix";
    case match_kind::regex: return "regex";
    case match_kind::exact: return "exact";
  }
  return "?";
}

std::string_view to_string(overflow_policy x) noexcept {
  return x == overflow_policy::drop_newest ? "drop_newest" : "drop_oldest";
}

std::string_view to_string(slow_persistent_policy x) noexcept {
  return x == slow_persistent_policy::hold ? "hold" : "overflow";
}

std::string_view to_string(storage_backend x) noexcept {
  switch (x) {
    case storage_backend::embedded: return "embedded";
    case storage_backend::redis: return "redis";
    case storage_backend::kafka: return "kafka";
    case storage_backend::memory: return "memory";
  }
  return "?";
}

std::string_view to_string(kafka_acks x) noexcept {
  switch (x) {
    case kafka_acks::all: return "all";
    case kafka_acks::leader: return "1";
    case kafka_acks::none: return "0";
  }
  return "?";
}

// -- validation -----------------------------------------------------------------

namespace {

bool uses(const storage_config& s, storage_backend b) {
  return s.sessions == b || s.device_queue == b || s.application_queue == b || s.retained == b;
}

/// Rules that span several fields.
void check_cross_field(const broker_config& cfg, std::vector<std::string>& errors) {
  const auto& lim = cfg.limits;
  if (lim.write_buffer_low_watermark >= lim.write_buffer_high_watermark)
    errors.push_back("limits.write_buffer_low_watermark: must be below "
                     "limits.write_buffer_high_watermark ("
                     + std::to_string(lim.write_buffer_high_watermark) + "), got "
                     + std::to_string(lim.write_buffer_low_watermark));
  if (cfg.admin.username.empty() != cfg.admin.password.empty())
    errors.emplace_back("admin.password: admin.username and admin.password must be set together");
  const auto& st = cfg.storage;
  if (st.kafka.idempotence && st.kafka.acks != kafka_acks::all)
    errors.push_back("storage.kafka.idempotence: requires storage.kafka.acks = all, got acks = "
                     + std::string{to_string(st.kafka.acks)});
  if (uses(st, storage_backend::redis) && st.redis.host.empty())
    errors.emplace_back("storage.redis.host: must be set when a storage role uses redis");
  if (uses(st, storage_backend::kafka) && st.kafka.bootstrap_servers.empty())
    errors.emplace_back(
      "storage.kafka.bootstrap_servers: must be set when a storage role uses kafka");
  // Two enabled listeners on one fixed port cannot both bind.
  auto mqtt_port = cfg.listeners.mqtt.enabled ? cfg.listeners.mqtt.port : uint16_t{0};
  auto admin_port = cfg.admin.enabled ? cfg.admin.port : uint16_t{0};
  if (mqtt_port != 0 && mqtt_port == admin_port)
    errors.push_back("admin.port: must differ from listeners.mqtt.port, both are "
                     + std::to_string(admin_port));
  if (cfg.cluster.port != 0 && (cfg.cluster.port == mqtt_port || cfg.cluster.port == admin_port))
    errors.push_back("cluster.port: must differ from the MQTT and admin ports, got "
                     + std::to_string(cfg.cluster.port));
}

} // namespace

std::vector<std::string> validate(const broker_config& cfg) {
  std::vector<std::string> errors;
  for (const auto& opt : options())
    if (auto err = opt.codec->check(cfg))
      errors.push_back(opt.key + ": " + *err);
  check_cross_field(cfg, errors);
  return errors;
}

} // namespace amq::config
