#pragma once
/// The Redis backend for DEVICE offline queues (hiredis), a `queue_store`
/// of the role composite (amq/storage/role_store.hpp). Key layout and
/// durability requirements: docs/storage-format.md ("Redis") and
/// docs/sessions.md.
///
/// Per client, with the client id in a hash tag so that a Redis Cluster
/// keeps all of a client's keys in one slot:
///
///   <prefix>{<client id>}:q   sorted set: member = queue-entry record
///                              (record_codec, versioned binary), score = seq
///   <prefix>{<client id>}:n   string: last sequence number (decimal)
///   <prefix>{<client id>}:d   string: messages dropped on overflow (decimal)
///
/// One `apply` is one round trip: MULTI, one EVALSHA of the queue script per
/// client (erase queue, erase entries, append, trim to the depth limit by
/// the overflow policy, count drops, last seq, TTL — atomic per client),
/// EXEC, and WAIT when replicas are required. With `appendonly yes` and
/// `appendfsync always` Redis replies to EXEC only after the transaction is
/// in the fsynced AOF, so a batch is durable when `apply` returns success.
///
/// Faults: every command has a timeout; an I/O error or timeout drops the
/// connection, fails the batch (its appends: the broker refuses their
/// publishers) and keeps its erases to retry first on the next apply;
/// reconnects happen on use, with exponential backoff (100 ms .. 5 s), so
/// while Redis is down each apply fails fast.

#include "amq/storage/role_store.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>

namespace amq::storage {

/// Connection and queue policy (from `storage.redis.*` and `session.*`).
struct redis_options {
  std::string host = "localhost";
  uint16_t port = 6379;
  std::string password; ///< AUTH; empty: none
  uint32_t db = 0;      ///< SELECT
  std::string key_prefix = "actormq:";
  uint32_t connect_timeout_ms = 5000;
  uint32_t command_timeout_ms = 5000;
  /// Most entries per client queue (session.device_persisted_messages_limit).
  uint32_t limit = 10000;
  /// Overflow: false drops the oldest entries, true refuses new ones.
  bool drop_newest = false;
  /// TTL of a client's keys in seconds, refreshed by every append; 0: none.
  uint32_t ttl_s = 0;
  /// WAIT for this many replicas after each batch; 0: no WAIT.
  uint32_t wait_replicas = 0;
  uint32_t wait_timeout_ms = 1000;
  /// How long opening keeps retrying to reach Redis; 0: fail at once.
  uint32_t wait_at_boot_ms = 0;
  /// CLIENT SETNAME of the connection (visible in CLIENT LIST).
  std::string client_name = "actormq";
  /// Upper bound of the reconnect backoff.
  uint32_t max_backoff_ms = 5000;
  /// Receives connection events (level as syslog: 3 error, 4 warning,
  /// 6 info); may be empty.
  std::function<void(int level, std::string_view line)> log;
};

/// The key of `client_id`'s queue (`<prefix>{<client id>}:q`); `suffix` 'n'
/// and 'd' give the last-seq and dropped-counter keys.
std::string redis_client_key(std::string_view prefix, std::string_view client_id,
                             char suffix = 'q');

/// Connects (retrying up to `wait_at_boot_ms`), loads the queue script. On
/// failure returns nullptr, `err` and `detail` (a sentence for the
/// operator).
std::unique_ptr<queue_store> open_redis_queue_store(const redis_options& opts,
                                                    std::error_code& err, std::string& detail);

} // namespace amq::storage
