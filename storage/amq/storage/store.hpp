#pragma once
/// The durable state of persistent sessions, and the interface every
/// storage backend implements.
///
/// What is stored (see docs/sessions.md, "Where state lives"):
/// - a `session_record` per persistent session: its subscriptions, its
///   session expiry, when it disconnected, its inbound QoS 2 packet ids;
/// - a queue per persistent session: every QoS 1/2 message routed to it,
///   keyed by a per-session sequence number, kept until the client has
///   acknowledged it (PUBACK, or PUBCOMP) — so queued AND in-flight
///   messages survive a crash. Outbound packet ids are derived from the
///   sequence number (`packet_id_for`), so they need not be stored: after a
///   restart a message is resent with the same id and DUP=1;
/// - a "released" mark per QoS 2 queue entry whose PUBREC the broker
///   received (`write_batch::put_released`): after a restart such an entry
///   is resent as PUBREL, not as PUBLISH (the client may have completed the
///   flow and must not get the message twice). The session sends PUBREL
///   only after the mark is durable and erases it with the entry on PUBCOMP
///   (`erase_released`); erasing the session erases its marks;
/// - retained messages by topic.
///
/// Every mutation goes through `apply(batch)`, which is atomic and, when it
/// returns success, durable (synced): the broker acknowledges a PUBLISH only
/// after the batch holding it was applied. Backends are used from one
/// thread at a time (the storage actor's), so they need no locking.

#include "amq/protocol/message.hpp"
#include "amq/storage/error.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace amq::storage {

/// One subscription as stored (mirrors MQTT 5.0 subscription options).
struct stored_subscription {
  std::string filter;
  uint8_t max_qos = 0;
  bool no_local = false;
  bool retain_as_published = false;
  uint8_t retain_handling = 0;
  uint32_t subscription_id = 0;
  friend bool operator==(const stored_subscription&, const stored_subscription&) = default;
};

/// A persistent session's state apart from its message queue.
struct session_record {
  std::string client_id;
  uint8_t protocol_version = 5;     ///< 4 = 3.1.1, 5 = 5.0
  uint8_t client_type = 0;          ///< 0 = DEVICE, 1 = APPLICATION
  uint32_t session_expiry = 0;      ///< seconds; UINT32_MAX = never
  int64_t disconnected_at_ms = 0;   ///< wall clock (ms since epoch); 0 = was connected
  std::vector<stored_subscription> subscriptions;
  /// Inbound QoS 2 ids between PUBREC and PUBREL. The session writes it
  /// empty (it stores each id on its own, `inbound_qos2_seq`, so a QoS 2
  /// PUBLISH does not rewrite the record); the broker fills it from those
  /// marks when it restores the session.
  std::vector<uint16_t> qos2_in;
  friend bool operator==(const session_record&, const session_record&) = default;
};

/// One message in a persistent session's queue.
struct queued_entry {
  uint64_t seq = 0;                 ///< per session, strictly increasing
  protocol::message_ptr msg;
  uint8_t qos = 1;                  ///< effective QoS for this session (1 or 2)
  bool retain = false;              ///< RETAIN flag to send
  std::vector<uint32_t> subscription_ids;
  /// When the entry was first stored (the storage actor's clock at its
  /// append); kept when a queue moves between backends. The offline TTL
  /// (session.device_persisted_messages_ttl) of an entry read back from the
  /// store counts from here. Unset in records written before it existed.
  std::optional<protocol::message::clock::time_point> stored_at;
  /// QoS 2: the client's PUBREC was received and the "released" mark is
  /// stored, so the entry is resent as PUBREL (same packet id), not as
  /// PUBLISH. Set by `read_queue` from the mark; not part of the entry's
  /// record (`append` ignores it).
  bool released = false;
};

/// Outbound packet id of queue entry `seq`: 1..65535, cycling.
constexpr uint16_t packet_id_for(uint64_t seq) noexcept {
  return static_cast<uint16_t>(seq % 65535 + 1);
}

/// Inbound QoS 2 state of a persistent session (the packet ids of PUBLISHes
/// received, routed and PUBREC'd, waiting for PUBREL) is kept as "released"
/// marks in a reserved seq range that no queue entry reaches: the mark of
/// inbound id `id` is seq `inbound_qos2_base | id`. So it shares the marks'
/// records (m/<client>\0<seq>, type 0x05), their backend (always the
/// primary), their erasure with the session and the boot clean-up. Read
/// them with `read_released(client, inbound_qos2_base, out)`; `read_queue`
/// never joins them with an entry.
inline constexpr uint64_t inbound_qos2_base = uint64_t{1} << 63;
constexpr uint64_t inbound_qos2_seq(uint16_t packet_id) noexcept {
  return inbound_qos2_base | packet_id;
}
constexpr bool is_inbound_qos2_seq(uint64_t seq) noexcept {
  return seq >= inbound_qos2_base && seq <= (inbound_qos2_base | 0xFFFF);
}

/// A retained message as stored (the message carries its topic).
struct retained_entry {
  protocol::message_ptr msg;
};

/// One atomic, durable set of mutations. Order inside a batch: sessions
/// erased, sessions put, queue entries appended, released marks put, queue
/// entries erased, released marks erased, retained put, retained erased.
struct write_batch {
  /// Removes the session record and its whole queue.
  std::vector<std::string> erase_sessions;
  /// Inserts or replaces session records.
  std::vector<session_record> put_sessions;
  /// Appends queue entries: (client id, entry).
  std::vector<std::pair<std::string, queued_entry>> append;
  /// Stores the "released" mark (PUBREC received) of queue entries:
  /// (client id, seq). A mark without its entry is never read back as an
  /// entry; it goes with `erase_released` or with the session.
  std::vector<std::pair<std::string, uint64_t>> put_released;
  /// Removes single queue entries: (client id, seq).
  std::vector<std::pair<std::string, uint64_t>> erase_entries;
  /// Removes "released" marks: (client id, seq). The session lists here
  /// every erased entry it had marked (erasing an entry does not look for
  /// its mark: that would cost every acknowledgement a delete).
  std::vector<std::pair<std::string, uint64_t>> erase_released;
  /// Inserts or replaces retained messages (by `msg->topic`).
  std::vector<protocol::message_ptr> put_retained;
  /// Removes retained messages by topic.
  std::vector<std::string> erase_retained;

  bool empty() const noexcept {
    return erase_sessions.empty() && put_sessions.empty() && append.empty()
           && put_released.empty() && erase_entries.empty() && erase_released.empty()
           && put_retained.empty() && erase_retained.empty();
  }
  void clear() {
    erase_sessions.clear();
    put_sessions.clear();
    append.clear();
    put_released.clear();
    erase_entries.clear();
    erase_released.clear();
    put_retained.clear();
    erase_retained.clear();
  }
  /// Moves everything from `other` to the end of this batch, so that
  /// applying the result equals applying this batch, then `other` (for
  /// group commit). Mutations of this batch that `other` overrides despite
  /// the fixed order above (an append to a session `other` erases, a
  /// retained put `other` erases, ...) are dropped.
  void merge(write_batch&& other);
};

/// Depth and overflow counter of one client's queue (admin API).
struct queue_info {
  uint64_t depth = 0;   ///< entries stored (queued and in flight)
  uint64_t dropped = 0; ///< entries the backend dropped on overflow (Redis)
};

/// The interface of a storage backend (embedded RocksDB, memory; Redis and
/// Kafka per role later). Errors are reported, never thrown.
class store {
public:
  virtual ~store() = default;

  /// Human-readable backend name for logs ("rocksdb:/var/lib/actormq").
  virtual std::string describe() const = 0;

  /// Applies `b` atomically and durably.
  virtual std::error_code apply(const write_batch& b) = 0;

  /// Calls `f` for every stored session record.
  virtual std::error_code for_each_session(const std::function<void(session_record&&)>& f) = 0;

  /// Calls `f` for the queue entries of `client_id` in sequence order,
  /// starting at `from_seq`, at most `limit` entries (0 = all).
  virtual std::error_code
  read_queue(const std::string& client_id, uint64_t from_seq, size_t limit,
             const std::function<void(queued_entry&&)>& f) = 0;

  /// Appends to `out`, in order, the seqs >= `from_seq` of `client_id`'s
  /// "released" marks (`write_batch::put_released`). `read_queue` of a
  /// store that holds both queue and marks sets `queued_entry::released`
  /// itself; the role composite uses this to join the marks it keeps in the
  /// primary with queues kept elsewhere (Redis, Kafka). The default has
  /// none: for stores that keep no marks (the Kafka stores).
  virtual std::error_code read_released(const std::string& client_id, uint64_t from_seq,
                                        std::vector<uint64_t>& out) {
    (void)client_id;
    (void)from_seq;
    (void)out;
    return {};
  }

  /// Highest sequence number ever stored for `client_id` (0 if none), so
  /// that a restarted session continues the sequence.
  virtual std::error_code last_seq(const std::string& client_id, uint64_t& out) = 0;

  /// Depth and dropped counter of `client_id`'s queue. The default counts
  /// the entries with `read_queue` (dropped = 0: the embedded stores drop
  /// in the session, which counts).
  virtual std::error_code queue_stats(const std::string& client_id, queue_info& out);

  /// Calls `f` with the client id of every stored queue, also of queues
  /// whose session record is gone (orphans, erased at boot). The default
  /// lists none: for backends that cannot list their queues cheaply.
  virtual std::error_code for_each_queue(const std::function<void(const std::string&)>& f) {
    (void)f;
    return {};
  }

  /// Calls `f` for every retained message.
  virtual std::error_code for_each_retained(const std::function<void(protocol::message_ptr&&)>& f) = 0;

  // -- corrupt records and diagnostics (added with the RocksDB backend) -----

  /// Receives every stored record that fails to decode: what it is
  /// ("session", "queue entry", "retained"), its key (printable), why.
  using corrupt_handler =
    std::function<void(std::string_view what, std::string_view key, std::error_code why)>;

  /// Sets the handler for corrupt records. The readers (`for_each_session`,
  /// `read_queue`, `for_each_retained`) skip a record that fails to decode,
  /// count it, report it here and carry on: one bad record never stops a
  /// restart. They return an error only when the backend itself fails.
  void on_corrupt(corrupt_handler h) {
    on_corrupt_ = std::move(h);
  }

  /// Number of corrupt records skipped since the store was opened.
  uint64_t corrupt_records() const noexcept {
    return corrupt_records_;
  }

  /// Backend detail of the last failed operation ("IO error: No space left
  /// on device"), for logs; empty if none.
  virtual std::string last_error() const {
    return {};
  }

  /// Work between batches: what a backend left for later because it does
  /// not wait in `apply` (Kafka: collecting the answers of offset commits,
  /// sending a commit deferred while two were unanswered; the composite:
  /// erasing the "released" marks whose entries' erases became durable).
  /// The storage actor calls it a little after a batch and again while it
  /// returns true (work left). Never blocks for long. Default: nothing.
  virtual bool maintain() {
    return false;
  }

protected:
  void report_corrupt(std::string_view what, std::string_view key, std::error_code why) {
    ++corrupt_records_;
    if (on_corrupt_)
      on_corrupt_(what, key, why);
  }

private:
  corrupt_handler on_corrupt_;
  uint64_t corrupt_records_ = 0;
};

/// Opens (creating if needed) the embedded RocksDB store under `dir`.
/// `sync` false trades durability for speed (documented option; default true).
/// On failure returns nullptr, sets `err` (`error::locked` when another
/// process holds the directory) and `detail` to a sentence for the operator
/// ("data directory ./data is locked by another actormq process ...").
/// Key and record layout: docs/storage-format.md.
std::unique_ptr<store> open_rocksdb_store(const std::string& dir, bool sync, std::error_code& err,
                                          std::string& detail);

/// A non-durable store for tests and `storage.*: memory`.
std::unique_ptr<store> make_memory_store();

} // namespace amq::storage
