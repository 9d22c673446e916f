#pragma once
/// The broker's metrics registry: counters, gauges and histograms kept in
/// fixed slots, one block of slots per thread.
///
/// Design (near-zero cost on the hot path):
/// - every metric is a slot index known at compile time (`slot::...`);
/// - each thread that counts gets its own block of slots (a "shard"), so an
///   increment is a thread-local pointer load and a relaxed load + store of
///   a value no other thread writes: no locked instruction, no shared cache
///   line. Actors count per batch or per event, never per byte;
/// - a reader (the `/metrics` endpoint, the `$SYS` publisher) sums every
///   shard under a mutex that the hot path never takes. A thread that ends
///   folds its values into a "retired" block and returns its shard for
///   reuse, so nothing is lost;
/// - gauges are sums of signed deltas (+1 when a session connects, -1 when
///   it goes), which is why per-thread shards work for them too.
///
/// One registry per process (a process runs one broker node). Values read
/// by the `/metrics` renderer that the broker already keeps elsewhere (edge
/// byte counts, router subscription counts) are pulled at scrape time and
/// not stored here.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace amq::metrics {

/// Why a message was not delivered (label `reason` of
/// `actormq_messages_dropped_total`). Every drop site counts one of these.
enum class drop : uint8_t {
  offline_queue_full,  ///< persistent session offline, its queue at the limit
  online_queue_full,   ///< connected session not reading (slow consumer), queue at the limit
  too_large,           ///< bigger than the client's Maximum Packet Size
  message_expired,     ///< Message Expiry Interval passed before delivery
  queue_ttl,           ///< session.device_persisted_messages_ttl passed while queued
  qos0_offline,        ///< QoS 0 to an offline persistent session
  no_subscribers,      ///< published to a topic nobody subscribes to
  sys_topic_denied,    ///< a client published to $SYS/...
  storage_failed,      ///< refused because the store failed to commit it
  backend_trimmed,     ///< stored, then dropped by the queue backend (Redis: depth limit)
  stored_queue_full,   ///< connected persistent session marked slow, stored queue at its limit
  count_
};
inline constexpr size_t drop_count = static_cast<size_t>(drop::count_);
inline constexpr std::array<std::string_view, drop_count> drop_names{
  "offline_queue_full", "online_queue_full", "too_large",        "message_expired", "queue_ttl",
  "qos0_offline",       "no_subscribers",    "sys_topic_denied", "storage_failed",
  "backend_trimmed",    "stored_queue_full"};

/// Storage backends (label `backend`), in the order of config::storage_backend;
/// "mixed": a store that spreads one commit over several backends (roles).
inline constexpr std::array<std::string_view, 5> backend_names{"embedded", "redis", "kafka",
                                                               "memory", "mixed"};
/// The backend label index for a store's `describe()` text ("rocksdb:./data", "redis:...").
inline size_t backend_of(std::string_view describe) noexcept {
  auto kind = describe.substr(0, describe.find(':'));
  if (describe.find(" + ") != std::string_view::npos)
    return 4;
  if (kind == "redis")
    return 1;
  if (kind == "kafka")
    return 2;
  if (kind == "memory")
    return 3;
  return 0;
}
inline constexpr size_t backend_count = backend_names.size();

/// Upper bounds (seconds) of the storage apply latency histogram.
inline constexpr std::array<double, 13> latency_bounds{0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                                       0.005,  0.01,    0.025,  0.05,  0.1,
                                                       0.25,   1.0,     5.0};
/// Upper bounds of the "write batches merged into one commit" histogram.
inline constexpr std::array<double, 9> batch_bounds{1, 2, 4, 8, 16, 32, 64, 256, 1024};
/// Upper bounds of the sessions-by-queue-depth distribution.
inline constexpr std::array<uint64_t, 7> depth_bounds{0, 10, 100, 1000, 10000, 100000, 1000000};

/// Session kinds (label sets of `actormq_sessions`): bit 0 connected,
/// bit 1 persistent, bit 2 APPLICATION.
inline constexpr size_t session_kinds = 8;
constexpr uint8_t session_kind(bool connected, bool persistent, bool application) noexcept {
  return static_cast<uint8_t>((connected ? 1 : 0) | (persistent ? 2 : 0) | (application ? 4 : 0));
}

/// Slot indices. Families with labels occupy consecutive slots.
namespace slot {
/// Connections refused before a session took them, by CONNACK reason code
/// (index = code); index 0 = CONNECT timeout.
inline constexpr size_t rejected = 0;
/// Connections closed by the broker (or client DISCONNECT), by reason code;
/// index 256 = closed by the peer without DISCONNECT.
inline constexpr size_t disconnects = rejected + 256;
inline constexpr size_t received = disconnects + 257;    ///< PUBLISH from clients, by QoS
inline constexpr size_t sent = received + 3;             ///< PUBLISH to clients, by QoS
inline constexpr size_t dropped = sent + 3;              ///< by drop reason
inline constexpr size_t sessions = dropped + drop_count; ///< gauge, by session kind
inline constexpr size_t queued = sessions + session_kinds; ///< gauge: queued messages
inline constexpr size_t inflight = queued + 1;             ///< gauge: in flight to clients
/// gauge: sessions whose queue depth falls in depth bucket i (≤ bound i;
/// the last one: above every bound).
inline constexpr size_t depth = inflight + 1;
inline constexpr size_t subscribe_denied = depth + depth_bounds.size() + 1;
inline constexpr size_t slow_consumers = subscribe_denied + 1;
inline constexpr size_t qos2_duplicates = slow_consumers + 1;

/// Per storage backend: a block of `storage_block` slots.
inline constexpr size_t st_commits = 0;
inline constexpr size_t st_errors = 1;
inline constexpr size_t st_apply_ns = 2; ///< sum of apply latencies, nanoseconds
inline constexpr size_t st_batches = 3;  ///< write batches merged (sum for the histogram)
inline constexpr size_t st_latency = 4;  ///< latency_bounds.size() + 1 buckets
inline constexpr size_t st_batch_hist = st_latency + latency_bounds.size() + 1;
inline constexpr size_t storage_block = st_batch_hist + batch_bounds.size() + 1;
/// TLS listener: handshakes that failed or hit their deadline (closed before any MQTT).
inline constexpr size_t tls_handshake_failures = qos2_duplicates + 1;
/// auth.acl_file refusals: [0] PUBLISH, [1] SUBSCRIBE filter, [2] a message not delivered.
inline constexpr size_t acl_denied = tls_handshake_failures + 1;
/// Route batches a session handed to the router actor because another worker held the
/// router's lock (docs/architecture.md, "Direct calls to the router").
inline constexpr size_t router_lock_busy = acl_denied + 3;
/// Session turns a worker ran at once, without a message (docs/architecture.md, "Direct
/// turns"): [0] a connection's bytes, [1] a route's deliveries.
inline constexpr size_t direct_turns = router_lock_busy + 1;
/// Arrival order (amq/actors/router.hpp): [0] messages a new subscription got because they
/// arrived after its SUBSCRIBE but were routed before it was read; [1] SUBSCRIBEs whose recent
/// window no longer reached back to their arrival.
inline constexpr size_t arrival_order = direct_turns + 2;
inline constexpr size_t storage = arrival_order + 2;

inline constexpr size_t count = storage + backend_count * storage_block;
} // namespace slot

/// One thread's values.
struct shard {
  std::array<std::atomic<int64_t>, slot::count> v{};
};

namespace detail {
/// Gives the calling thread its shard (first use on a thread).
shard& acquire_local_shard();
} // namespace detail

/// The calling thread's shard.
inline shard& local_shard() {
  thread_local shard* s = nullptr;
  if (s == nullptr) [[unlikely]]
    s = &detail::acquire_local_shard();
  return *s;
}

/// Adds `n` (may be negative, for gauges) to slot `i`. Only the owning
/// thread writes its shard, so a relaxed load + store is exact.
inline void add(size_t i, int64_t n = 1) noexcept {
#ifdef AMQ_METRICS_DISABLED // benchmarks only: the same broker without counting
  (void) i;
  (void) n;
  return;
#endif
  auto& a = local_shard().v[i];
  a.store(a.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

inline void count_drop(drop why, int64_t n = 1) noexcept {
  add(slot::dropped + static_cast<size_t>(why), n);
}

/// A connection refused with CONNACK reason code `rc` (before or at session attach).
inline void count_rejected(uint8_t rc) noexcept {
  add(slot::rejected + rc);
}
inline void count_connect_timeout() noexcept {
  add(slot::rejected + 0);
}
/// A connection closed by the broker or by the client's DISCONNECT, with `rc`.
inline void count_disconnect(uint8_t rc) noexcept {
  add(slot::disconnects + rc);
}
/// A route batch handed to the router actor: its lock was held by another worker.
inline void count_router_lock_busy() noexcept {
  add(slot::router_lock_busy);
}
/// A session turn run at once by the worker: for a connection's bytes (`deliveries` false) or
/// for a route's deliveries.
inline void count_direct_turn(bool deliveries) noexcept {
  add(slot::direct_turns + (deliveries ? 1 : 0));
}
/// A connection closed by the peer without DISCONNECT (or lost).
inline void count_connection_lost() noexcept {
  add(slot::disconnects + 256);
}

/// One storage commit: how long the apply took, whether it failed, and how
/// many write batches it merged.
void observe_storage_commit(size_t backend, int64_t nanoseconds, bool ok, uint64_t batches);

/// One backend's part of a commit that spans several backends (the role
/// composite): latency and failure under that backend's label, without a
/// batch count (the merged batches are observed once, for the whole commit).
void observe_storage_part(size_t backend, int64_t nanoseconds, bool ok);

/// The sum of every shard, slot by slot.
std::vector<int64_t> snapshot();

/// Index of the queue-depth bucket for a depth.
inline uint8_t depth_bucket(uint64_t depth) noexcept {
  uint8_t i = 0;
  while (i < depth_bounds.size() && depth > depth_bounds[i])
    ++i;
  return i;
}

} // namespace amq::metrics
