#pragma once
/// Opening the broker's store from the configuration: the primary
/// (embedded RocksDB) and, when a queue role is configured elsewhere, the
/// role composite (amq/storage/role_store.hpp) around it.
///
/// Extension point for queue backends: `open_queue_store` switches on the
/// configured backend of a role and returns a `storage::queue_store` (null:
/// the role's queues stay in the primary). A new backend (Kafka for
/// APPLICATION queues) adds its case there and nothing else.

#include "amq/config/broker_config.hpp"
#include "amq/storage/role_store.hpp"
#include "amq/storage/store.hpp"

#include <memory>
#include <string>
#include <system_error>

namespace amq::actors {

/// The queue backend of `role` as `cfg.storage` configures it; null with
/// no error when the role's queues live in the primary (embedded, memory).
/// On failure: null, `err` set and `detail` a sentence for the operator.
std::unique_ptr<storage::queue_store> open_queue_store(storage::queue_role role,
                                                       const config::broker_config& cfg,
                                                       std::error_code& err, std::string& detail);

/// The whole store: the embedded primary under `storage.data_dir`, wrapped
/// in a role composite when a queue role has its own backend (which is then
/// recovered: leftover queues removed). `storage.sessions: memory` is
/// handled by the caller (no store). On failure: null, `err`, `detail`.
std::unique_ptr<storage::store> open_store(const config::broker_config& cfg, std::error_code& err,
                                           std::string& detail);

} // namespace amq::actors
