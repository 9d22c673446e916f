#pragma once
// What both Kafka backends share: librdkafka handles with the configured
// properties, admin requests (create/delete topics), metadata, watermarks,
// and the topic name mapping. Everything is synchronous with a timeout and
// reports errors as text; the stores turn them into error codes.

#include "amq/storage/kafka_store.hpp"

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace amq::storage::kafka {

struct handle_deleter {
  void operator()(rd_kafka_t* rk) const noexcept;
};
using handle_ptr = std::unique_ptr<rd_kafka_t, handle_deleter>;

struct tpl_deleter {
  void operator()(rd_kafka_topic_partition_list_t* p) const noexcept {
    rd_kafka_topic_partition_list_destroy(p);
  }
};
using tpl_ptr = std::unique_ptr<rd_kafka_topic_partition_list_t, tpl_deleter>;

struct message_deleter {
  void operator()(rd_kafka_message_t* m) const noexcept {
    rd_kafka_message_destroy(m);
  }
};
using message_ptr = std::unique_ptr<rd_kafka_message_t, message_deleter>;

/// What librdkafka's callbacks report for one handle (set as its opaque).
struct handle_events {
  const kafka_options* opts = nullptr;
  /// The last error librdkafka reported (error_cb), for last_error().
  std::string last_error;
  /// Delivery report of a producer: (the message, `owner`); the message's
  /// opaque (`_private`) is what was produced with RD_KAFKA_V_OPAQUE.
  void (*on_delivery)(const rd_kafka_message_t*, void* owner) = nullptr;
  void* owner = nullptr;
};

/// A producer (`consumer` false) or a consumer in group `opts.group_id`
/// (manual assignment, no auto commit) with `opts.properties` applied.
/// `events` must outlive the handle. On failure returns nullptr and sets
/// `error`.
handle_ptr make_handle(const kafka_options& opts, bool consumer, handle_events& events,
                       std::string& error);

/// Waits until a broker answers a metadata request, up to `wait` (at least
/// one attempt). On failure returns false and sets `error`.
bool wait_reachable(rd_kafka_t* rk, std::chrono::milliseconds wait, uint32_t request_timeout_ms,
                    std::string& error);

/// The boot check of every Kafka store: waits up to `opts.wait_at_boot_ms`
/// for a broker to answer; on failure returns false and sets `detail` to the
/// operator's sentence ("Kafka at host:port is unreachable (...)").
bool reachable_at_boot(rd_kafka_t* rk, const kafka_options& opts, std::string& detail);

/// Names of all topics starting with `prefix`. On failure returns false.
bool list_topics(rd_kafka_t* rk, std::string_view prefix, uint32_t timeout_ms,
                 std::set<std::string>& out, std::string& error);

struct new_topic {
  std::string name;
  std::vector<std::pair<std::string, std::string>> configs;
};

/// Creates `topics` (1 partition each, `replication_factor`); a topic that
/// exists already counts as created. Returns false and sets `error` if any
/// creation failed.
bool create_topics(rd_kafka_t* rk, const std::vector<new_topic>& topics, int replication_factor,
                   uint32_t timeout_ms, std::string& error);

/// Deletes `topics`; a topic that does not exist counts as deleted.
bool delete_topics(rd_kafka_t* rk, const std::vector<std::string>& topics, uint32_t timeout_ms,
                   std::string& error);

/// Low and high watermark of partition 0 of `topic`.
bool watermarks(rd_kafka_t* rk, const std::string& topic, uint32_t timeout_ms, int64_t& low,
                int64_t& high, std::string& error);

/// "broker transport failure" etc. with the error code name.
std::string describe(rd_kafka_resp_err_t err);

} // namespace amq::storage::kafka
