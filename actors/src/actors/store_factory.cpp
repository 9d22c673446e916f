#include "amq/actors/store_factory.hpp"

#include "amq/log.hpp"
#include "amq/storage/redis_store.hpp"
#include "amq/storage/kafka_store.hpp"

#include <filesystem>

namespace amq::actors {

namespace {

/// `storage.kafka.*` as the Kafka backends take it.
storage::kafka_options kafka_options_of(const config::broker_config& cfg) {
  auto& kc = cfg.storage.kafka;
  storage::kafka_options o;
  o.bootstrap_servers = kc.bootstrap_servers;
  o.topic_prefix = kc.topic_prefix;
  o.acks = kc.acks == config::kafka_acks::all ? -1 : kc.acks == config::kafka_acks::leader ? 1 : 0;
  o.idempotence = kc.idempotence;
  o.replication_factor = kc.replication_factor == 0 ? -1 : static_cast<int>(kc.replication_factor);
  o.app_retention_ms = static_cast<int64_t>(kc.app_topic_retention_ms);
  o.group_id = kc.group_id.empty() ? kc.topic_prefix + ".node." + cfg.cluster.node_name
                                   : kc.group_id;
  o.delivery_timeout_ms = kc.delivery_timeout_ms;
  o.wait_at_boot_ms = kc.wait_at_boot_ms;
  o.properties = kc.properties;
  // librdkafka's own lines: warnings at most (an unreachable Kafka is a
  // condition the broker survives; its refusals are logged where they happen).
  o.log = [](int level, std::string_view line) {
    if (level <= 4)
      AMQ_LOG_WARN("{}", line);
    else if (level <= 6)
      AMQ_LOG_INFO("{}", line);
    else
      AMQ_LOG_DEBUG("{}", line);
  };
  return o;
}

std::string_view role_name(storage::queue_role role) {
  return role == storage::queue_role::device ? "device_queue" : "application_queue";
}

std::unique_ptr<storage::queue_store> open_redis(const config::broker_config& cfg,
                                                 std::error_code& err, std::string& detail) {
  auto& rc = cfg.storage.redis;
  storage::redis_options o;
  o.host = rc.host;
  o.port = rc.port;
  o.password = rc.password;
  o.db = rc.db;
  o.key_prefix = rc.key_prefix;
  o.connect_timeout_ms = rc.connect_timeout_ms;
  o.command_timeout_ms = rc.command_timeout_ms;
  o.wait_replicas = rc.wait_replicas;
  o.wait_timeout_ms = rc.wait_timeout_ms;
  o.wait_at_boot_ms = rc.wait_at_boot_ms;
  o.limit = cfg.session.device_persisted_messages_limit;
  o.drop_newest = cfg.session.device_overflow_policy == config::overflow_policy::drop_newest;
  o.ttl_s = cfg.session.device_persisted_messages_ttl;
  o.log = [](int level, std::string_view line) {
    if (level <= 3)
      AMQ_LOG_ERROR("{}", line);
    else if (level == 4)
      AMQ_LOG_WARN("{}", line);
    else
      AMQ_LOG_INFO("{}", line);
  };
  auto q = storage::open_redis_queue_store(o, err, detail);
  if (q)
    AMQ_LOG_INFO("storage keeps DEVICE queues in {} (limit {} per client, {}, key TTL {} s)",
                 q->describe(), o.limit, o.drop_newest ? "drop newest" : "drop oldest",
                 o.ttl_s);
  return q;
}

} // namespace

std::unique_ptr<storage::queue_store> open_queue_store(storage::queue_role role,
                                                       const config::broker_config& cfg,
                                                       std::error_code& err,
                                                       std::string& detail) {
  using config::storage_backend;
  err.clear();
  detail.clear();
  auto& sc = cfg.storage;
  auto backend = role == storage::queue_role::device ? sc.device_queue : sc.application_queue;
  switch (backend) {
    case storage_backend::embedded:
    case storage_backend::memory:
      return nullptr; // in the primary
    case storage_backend::redis:
      if (role != storage::queue_role::device)
        break;
      return open_redis(cfg, err, detail);
    case storage_backend::kafka:
      if (role != storage::queue_role::application)
        break;
      if (auto q = storage::open_kafka_app_queue(kafka_options_of(cfg), err, detail))
        return q;
      detail = "storage.application_queue: kafka: " + detail;
      return nullptr;
  }
  err = std::make_error_code(std::errc::not_supported);
  detail = "storage." + std::string{role_name(role)} + ": "
           + std::string{config::to_string(backend)}
           + " is not supported (device_queue: embedded or redis; application_queue: embedded "
             "or kafka)";
  return nullptr;
}

std::unique_ptr<storage::store> open_store(const config::broker_config& cfg, std::error_code& err,
                                           std::string& detail) {
  using config::storage_backend;
  err.clear();
  detail.clear();
  auto& sc = cfg.storage;
  for (auto [name, b] : {std::pair{"sessions", sc.sessions}, std::pair{"retained", sc.retained}}) {
    bool replicated = b == storage_backend::kafka && std::string_view{name} == "sessions";
    if ((b == storage_backend::redis || b == storage_backend::kafka) && !replicated) {
      err = std::make_error_code(std::errc::not_supported);
      detail = std::string{"storage."} + name + ": " + std::string{config::to_string(b)}
               + " is not supported (embedded or memory"
               + (std::string_view{name} == "sessions" ? ", or kafka)" : ")");
      return nullptr;
    }
  }
  auto device = open_queue_store(storage::queue_role::device, cfg, err, detail);
  if (err)
    return nullptr;
  auto application = open_queue_store(storage::queue_role::application, cfg, err, detail);
  if (err)
    return nullptr;
  std::filesystem::create_directories(sc.data_dir, err);
  if (err) {
    detail = "cannot create data directory " + sc.data_dir + ": " + err.message();
    return nullptr;
  }
  auto primary = storage::open_rocksdb_store(sc.data_dir, true, err, detail);
  if (!primary) {
    if (!err)
      err = std::make_error_code(std::errc::io_error);
    return nullptr;
  }
  if (sc.sessions == storage_backend::kafka) {
    // Records also on Kafka's compacted topics, read back from there at
    // boot (docs/storage-format.md, "Session replication").
    auto log = storage::open_kafka_session_store(kafka_options_of(cfg), err, detail);
    if (!log) {
      detail = "storage.sessions: kafka: " + detail;
      return nullptr;
    }
    primary = storage::make_replicated_store(std::move(primary), std::move(log));
  }
  if (!device && !application)
    return primary;
  auto composite = std::make_unique<storage::role_store>(std::move(primary), std::move(device),
                                                         std::move(application));
  err = composite->recover([](const std::string& client, const std::string& where) {
    if (client.empty()) // a name without the client id (Kafka: hashed topic name)
      AMQ_LOG_WARN("storage removed a leftover queue from {}: no session record for it there",
                   where);
    else
      AMQ_LOG_WARN("storage removed the leftover queue of client {} from {} (no session record "
                   "for it there)",
                   client, where);
  });
  if (err) {
    detail = "cannot recover the queue backends: " + composite->last_error();
    return nullptr;
  }
  return composite;
}

} // namespace amq::actors
