#pragma once
/// The role composite: one `store` made of a primary store and one queue
/// backend per client type.
///
/// Roles (docs/sessions.md, "Where state lives"):
/// - the **primary** (embedded RocksDB by default) keeps session records
///   (subscriptions, expiry, client type, inbound QoS 2 ids), the
///   "released" marks of outbound QoS 2 entries (PUBREC received) of every
///   client whatever its queue backend, and retained messages;
/// - the **DEVICE queue** backend keeps the offline queues of DEVICE
///   clients (the primary itself, or Redis);
/// - the **APPLICATION queue** backend keeps those of APPLICATION clients
///   (the primary itself, or Kafka).
///
/// Queue operations (append, erase_entries, read_queue, last_seq,
/// queue_stats, the queue part of erase_sessions) go to the backend of the
/// client's type. The composite learns each client's type from
/// `put_sessions` and from `for_each_session` (boot); a client it knows no
/// record of (the router may append before the session's first record
/// reaches the store) is taken as DEVICE until its record says otherwise.
///
/// Type changes (the client-type rules match differently on a later
/// CONNECT, or the first record arrives after the first appends): the queue
/// follows the client. When a `put_sessions` record carries a type whose
/// backend differs from the one holding the client's queue, the composite
/// moves the queue: it reads every entry from the old backend, appends it
/// (same seq) to the new one, writes the record, then erases the old queue.
/// A crash in between leaves a copy in one backend; `recover()` at boot
/// erases every queue outside the backend of its record's type.
///
/// Crash ordering when one batch spans backends: queue appends first (so a
/// record never points at messages that are not stored), then the primary
/// (records, retained, and the queue operations it owns), then erases in the
/// other queue backends (records then queues: a crash leaves a leftover
/// queue, never a record without its messages). `recover()` erases leftover
/// queues of clients without a record.
///
/// Metrics: each backend's part of an apply is timed and observed once per
/// batch under its own label (`actormq_storage_apply_seconds`,
/// `actormq_storage_errors_total`: embedded, redis, kafka, memory); the
/// storage actor observes the whole commit as `mixed`.
///
/// Errors: the first failure is returned and the remaining parts are still
/// applied where that is safe (the primary part after a failed queue
/// append: records and retained messages do not depend on the failed
/// appends). The caller (the storage actor) refuses every publish of a
/// failed batch, so nothing is acknowledged that is not stored.

#include "amq/storage/store.hpp"

#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>

namespace amq::storage {

/// Which queue backend a client's queue lives in.
enum class queue_role : uint8_t { device = 0, application = 1 };

/// The role of a session record's `client_type` (1 = APPLICATION).
constexpr queue_role role_of(uint8_t client_type) noexcept {
  return client_type == 1 ? queue_role::application : queue_role::device;
}

/// The queue operations of one batch, for one queue backend.
struct queue_batch {
  /// Whole queues to remove (with their last seq and counters).
  std::vector<std::string> erase_queues;
  /// Clients whose session record is put for the first time (since boot,
  /// or since it was erased) or whose type changed to this role: a backend
  /// with per-client resources (Kafka: the client's topic) creates them,
  /// others ignore it.
  std::vector<std::string> create_queues;
  std::vector<std::pair<std::string, queued_entry>> append;
  std::vector<std::pair<std::string, uint64_t>> erase_entries;

  bool empty() const noexcept {
    return erase_queues.empty() && create_queues.empty() && append.empty()
           && erase_entries.empty();
  }
};

/// A backend for offline queues of one role (Redis for DEVICE, Kafka for
/// APPLICATION). Used from one thread at a time, like `store`.
class queue_store {
public:
  virtual ~queue_store() = default;

  virtual std::string describe() const = 0;

  /// Applies `b`: first `erase_queues`, then `create_queues`, then
  /// `append`, then `erase_entries` (the order of `write_batch`). On
  /// success every append is durable per the backend's documented
  /// guarantee. Erases are idempotent: a backend may keep an erase it could
  /// not apply and retry it first on its next apply (then its failure alone
  /// is not an error).
  virtual std::error_code apply(const queue_batch& b) = 0;

  /// As `store::read_queue`.
  virtual std::error_code read_queue(const std::string& client_id, uint64_t from_seq,
                                     size_t limit,
                                     const std::function<void(queued_entry&&)>& f) = 0;

  /// As `store::last_seq`.
  virtual std::error_code last_seq(const std::string& client_id, uint64_t& out) = 0;

  /// As `store::queue_stats`.
  virtual std::error_code queue_stats(const std::string& client_id, queue_info& out) = 0;

  /// Calls `f` for every client that has anything stored in this backend
  /// and whose id the backend can tell (Kafka: not hashed topic names).
  virtual std::error_code for_each_client(const std::function<void(const std::string&)>& f) = 0;

  /// Boot clean-up: erases every queue of this backend that is not the
  /// queue of a client in `keep` (the clients whose session record puts
  /// their queue here), and reports each one through `removed`: its client
  /// id, or an empty id and the backend's name of the queue when that name
  /// does not give the client id back (Kafka: a hashed topic name). The
  /// default lists the clients with `for_each_client` and erases the others
  /// with `apply`; a backend whose queue names cannot all be mapped back
  /// overrides it (an orphan is a queue that no kept client's name maps to).
  virtual std::error_code
  erase_leftovers(const std::unordered_set<std::string>& keep,
                  const std::function<void(const std::string& client, const std::string& name)>&
                    removed);

  /// Backend detail of the last failure, for logs.
  virtual std::string last_error() const {
    return {};
  }

  /// True if a `read_queue` that returned fewer entries than its limit (or
  /// had none) and reported no corrupt record has returned every entry at
  /// or after `from_seq` (Redis: one ZRANGEBYSCORE). The composite then
  /// erases the "released" marks after the last entry returned too.
  virtual bool complete_reads() const noexcept {
    return false;
  }

  /// True if the erase of entry `seq` of `client_id` (an `erase_entries`
  /// of an earlier apply) is not durable yet, so that a crash now would
  /// bring the entry back (Kafka: its offset commit is not confirmed). The
  /// composite keeps the entry's "released" mark until it is, so that the
  /// entry, should it come back, is sent as PUBREL and not as a new
  /// message. False for an entry never erased. The default: every erase
  /// is durable when `apply` returns.
  virtual bool erase_pending(const std::string& client_id, uint64_t seq) const {
    (void)client_id;
    (void)seq;
    return false;
  }

  /// As `store::maintain`.
  virtual bool maintain() {
    return false;
  }

  /// Changes whenever an erase pending before may have become durable.
  virtual uint64_t durability_epoch() const noexcept {
    return 0;
  }

  /// Receives corrupt records found by `read_queue` (set by the composite).
  store::corrupt_handler on_corrupt;
};

/// The composite. `device` / `application` null: that role's queues live
/// in the primary.
class role_store final : public store {
public:
  role_store(std::unique_ptr<store> primary, std::unique_ptr<queue_store> device,
             std::unique_ptr<queue_store> application);
  ~role_store() override;

  std::string describe() const override;
  std::error_code apply(const write_batch& b) override;
  std::error_code for_each_session(const std::function<void(session_record&&)>& f) override;
  std::error_code read_queue(const std::string& client_id, uint64_t from_seq, size_t limit,
                             const std::function<void(queued_entry&&)>& f) override;
  /// Marks come from the primary for every queue backend.
  std::error_code read_released(const std::string& client_id, uint64_t from_seq,
                                std::vector<uint64_t>& out) override;
  std::error_code last_seq(const std::string& client_id, uint64_t& out) override;
  std::error_code queue_stats(const std::string& client_id, queue_info& out) override;
  /// The primary's queues, then every client of the queue backends.
  std::error_code for_each_queue(const std::function<void(const std::string&)>& f) override;
  std::error_code
  for_each_retained(const std::function<void(protocol::message_ptr&&)>& f) override;
  std::string last_error() const override;
  /// The queue backends' work, then the held marks whose entries' erases
  /// are durable now are erased.
  bool maintain() override;

  /// Boot: learns every client's type from the primary and erases, in the
  /// queue backends other than the primary, every queue that is not the
  /// queue of a client whose record's type maps to that backend (orphans:
  /// no record, or a record of the other type), also those whose name does
  /// not give the client id back (Kafka hashed topic names;
  /// `queue_store::erase_leftovers`). Reports what it removed through
  /// `removed` (client id, backend description); for a queue without a
  /// client id: an empty id, and the backend description followed by the
  /// queue's name in parentheses.
  std::error_code
  recover(const std::function<void(const std::string&, const std::string&)>& removed = {});

  /// "Released" marks kept until the erase of their entry is durable in
  /// the queue backend (see `queue_store::erase_pending`).
  size_t held_marks() const noexcept {
    return held_mark_count_;
  }

  /// The role a client's queue is in (DEVICE if unknown).
  queue_role role_of_client(const std::string& client_id) const;

private:
  /// Backend of `role`; null = the primary.
  queue_store* backend(queue_role role) const noexcept {
    return role == queue_role::device ? device_.get() : application_.get();
  }

  /// Reads the whole queue of `client_id` from `from` (null: the primary)
  /// into `out.append`.
  std::error_code move_queue(const std::string& client_id, queue_store* from, write_batch& out);

  std::unique_ptr<store> primary_;
  std::unique_ptr<queue_store> device_;
  std::unique_ptr<queue_store> application_;
  /// Marks to erase once the erase of their entry is durable in its
  /// backend (`queue_store::erase_pending`), per client; looked at when a
  /// backend's `durability_epoch` moved.
  std::unordered_map<std::string, std::set<uint64_t>> held_marks_;
  size_t held_mark_count_ = 0;
  uint64_t held_epoch_[2] = {0, 0}; ///< durability_epoch of device, application
  /// Moves the held marks whose entries' erases are durable now to `out`.
  void release_held_marks(std::vector<std::pair<std::string, uint64_t>>& out);
  std::unordered_map<std::string, queue_role> roles_;
  /// Clients appended to before any record of theirs (queued as DEVICE).
  std::unordered_set<std::string> defaulted_;
  std::string last_error_;
  /// Metrics backend labels (amq::metrics::backend_names) of each part.
  size_t primary_label_ = 0;
  size_t device_label_ = 0;
  size_t application_label_ = 0;
};

} // namespace amq::storage
