#pragma once
/// Kafka backends (librdkafka): the offline queues of persistent APPLICATION
/// sessions, and the replication of session records and subscriptions.
/// Topics, keys and record layout: docs/storage-format.md, "Kafka".
///
/// - `open_kafka_queue_store`: one topic per persistent APPLICATION client,
///   `<prefix>.msg.app.<mapped client id>` (`kafka_app_topic`), 1 partition,
///   created when the session record is first put, deleted when the session
///   is erased. A queue entry is one Kafka record: key = the sequence number
///   (8 bytes, big-endian), value = the queue-entry record of
///   record_codec. `apply` returns only after every record of the batch has
///   its delivery report (acks and idempotence as configured). Acknowledged
///   entries (`erase_entries`) move the consumer group's committed offset,
///   up to the first unacknowledged entry; acknowledged entries above it are
///   listed in the commit's metadata, so a restart skips them. The commit
///   is sent at the end of `apply` without waiting for Kafka's answer (a
///   commit lost in a crash resends entries, with DUP; it never skips one);
///   closing the store waits for the answers.
///   `read_queue` reads from the committed offset. Queue depth is the
///   topic's retention.
/// - `open_kafka_session_store`: session records and subscription sets on
///   the compacted topics `<prefix>.client.session` and
///   `<prefix>.client.subscriptions` (key = client id, tombstone on erase);
///   `for_each_session` rebuilds every session from them.
///
/// Both implement `store`; the roles they do not serve are no-ops (empty
/// reads). Like every store, they are used from one thread at a time.

#include "amq/storage/role_store.hpp"
#include "amq/storage/store.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace amq::storage {

/// Connection and behaviour of the Kafka backends (from `storage.kafka.*`).
struct kafka_options {
  std::string bootstrap_servers = "localhost:9092";
  /// First part of every topic name.
  std::string topic_prefix = "actormq";
  /// Producer acks: -1 (all in-sync replicas), 1 (leader), 0 (none).
  int acks = -1;
  /// enable.idempotence (requires acks = -1).
  bool idempotence = true;
  /// Replication factor of the topics the broker creates; -1: the Kafka
  /// cluster's default.replication.factor.
  int replication_factor = -1;
  /// retention.ms of the APPLICATION queue topics; -1: forever, 0: the
  /// cluster's default.
  int64_t app_retention_ms = 0;
  /// Consumer group whose committed offsets are the queues' read positions
  /// (`<prefix>.node.<node name>` by default, set by the caller).
  std::string group_id;
  /// How long `apply` waits for the delivery reports of a batch
  /// (message.timeout.ms); after that the batch fails.
  uint32_t delivery_timeout_ms = 10000;
  /// Timeout of one admin or metadata request, and of one read.
  uint32_t request_timeout_ms = 10000;
  /// How long opening keeps retrying to reach Kafka; 0: fail at once.
  uint32_t wait_at_boot_ms = 0;
  /// Extra librdkafka properties, applied to every handle.
  std::map<std::string, std::string> properties;
  /// Receives librdkafka's log lines and errors (level as syslog: 3 error,
  /// 4 warning, 6 info); may be empty.
  std::function<void(int level, std::string_view line)> log;
};

/// The part of a topic name that stands for `client_id`: characters outside
/// `[A-Za-z0-9-]` (including `.` and `_`) are escaped as `_xx` (lowercase
/// hex of each byte), so the mapping is reversible and two ids never map to
/// topics Kafka considers colliding. When `<prefix>.msg.app.<mapped>` would
/// exceed Kafka's 249 characters, the mapped id is cut and `_h` plus 16 hex
/// digits of a 64-bit FNV-1a hash of the whole id are appended (not
/// reversible; `_h` never appears otherwise).
std::string kafka_topic_component(std::string_view prefix, std::string_view client_id);

/// Inverse of `kafka_topic_component` for names without a hash suffix;
/// false if `component` is not such a name.
bool kafka_topic_component_decode(std::string_view component, std::string& client_id);

/// `<prefix>.msg.app.<kafka_topic_component(prefix, client_id)>`.
std::string kafka_app_topic(std::string_view prefix, std::string_view client_id);

/// Opens the APPLICATION queue backend: connects (retrying up to
/// `wait_at_boot_ms`), lists the existing queue topics. On failure returns
/// nullptr and sets `err` and `detail` (a sentence for the operator).
std::unique_ptr<store> open_kafka_queue_store(const kafka_options& opts, std::error_code& err,
                                              std::string& detail);

/// The same backend as the role composite's APPLICATION queue backend
/// (amq/storage/role_store.hpp): `queue_batch::create_queues` creates the
/// topics, `erase_queues` deletes them (or, with a create for the same
/// client in the batch, moves the read position to the end).
std::unique_ptr<queue_store> open_kafka_app_queue(const kafka_options& opts,
                                                  std::error_code& err, std::string& detail);

/// Work counters of a store from `open_kafka_queue_store` or
/// `open_kafka_app_queue` (tests, diagnostics).
struct kafka_queue_counters {
  uint64_t commits = 0;            ///< offset commit requests sent
  uint64_t commit_failures = 0;    ///< commit answers with an error
  uint64_t commits_deferred = 0;   ///< commits left to a later batch: too many unanswered
  uint64_t metadata_steps = 0;     ///< acknowledged seq ranges listed in commit metadata
  uint64_t seeks = 0;              ///< consumer (re)positionings (rd_kafka_assign)
  uint64_t watermark_requests = 0; ///< watermark queries (a round trip each)
};

/// The counters of `s`; nullopt if it is not a Kafka queue store.
std::optional<kafka_queue_counters> kafka_queue_stats(store& s);
std::optional<kafka_queue_counters> kafka_queue_stats(queue_store& q);

/// Sends the offset commits not sent yet and waits up to `wait_ms` for the
/// answers to every commit of `s` (an `open_kafka_queue_store`); true if all
/// came and the last one succeeded. Tests use it to look at the committed
/// offset; the broker does not need it.
bool kafka_queue_flush_commits(store& s, uint32_t wait_ms);
bool kafka_queue_flush_commits(queue_store& q, uint32_t wait_ms);

/// How many librdkafka handles of this process did not shut down within
/// their bound (request timeout + 5 s) and were abandoned: librdkafka 2.0.2
/// can hang in rd_kafka_destroy; closing a store never does. Logged (level
/// 3) each time; tests check it stays 0.
uint64_t kafka_abandoned_handles() noexcept;

/// Opens the session replication backend: connects (retrying up to
/// `wait_at_boot_ms`), creates the two compacted topics if missing. On
/// failure returns nullptr and sets `err` and `detail`.
std::unique_ptr<store> open_kafka_session_store(const kafka_options& opts, std::error_code& err,
                                                std::string& detail);

/// `inner` with its session records also replicated to `log` (an
/// `open_kafka_session_store`): `apply` applies to `inner`, then to `log`
/// (the first error is returned; the log retries what it missed with the
/// next batch); `for_each_session` reads `log`; everything else is
/// `inner`'s. For `storage.sessions: kafka`.
std::unique_ptr<store> make_replicated_store(std::unique_ptr<store> inner,
                                             std::unique_ptr<store> log);

} // namespace amq::storage
