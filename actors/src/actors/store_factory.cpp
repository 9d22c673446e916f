#include "amq/actors/store_factory.hpp"

#include "amq/log.hpp"

#include <filesystem>

namespace amq::actors {

namespace {

std::string_view role_name(storage::queue_role role) {
  return role == storage::queue_role::device ? "device_queue" : "application_queue";
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
      err = std::make_error_code(std::errc::not_supported);
      detail = "storage.device_queue: redis is not available yet";
      return nullptr;
    case storage_backend::kafka:
      if (role != storage::queue_role::application)
        break;
      // Extension point: the Kafka APPLICATION queue backend goes here.
      err = std::make_error_code(std::errc::not_supported);
      detail = "storage.application_queue: kafka is not available yet";
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
    if (b == storage_backend::redis || b == storage_backend::kafka) {
      err = std::make_error_code(std::errc::not_supported);
      detail = std::string{"storage."} + name + ": " + std::string{config::to_string(b)}
               + " is not supported (embedded or memory)";
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
  if (!device && !application)
    return primary;
  auto composite = std::make_unique<storage::role_store>(std::move(primary), std::move(device),
                                                         std::move(application));
  err = composite->recover([](const std::string& client, const std::string& where) {
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
