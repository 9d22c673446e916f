#pragma once
/// The STORAGE actor: owns a `storage::store` and applies write batches
/// with group commit. It runs detached (its own thread), because a synced
/// RocksDB write blocks for an fsync and must never block a scheduler
/// thread.
///
/// Group commit: every `(persist_atom, batch, token)` is merged into one
/// pending batch; the first one also sends the actor a `commit_atom`, which
/// queues behind everything already in the mailbox. So one fsync covers all
/// batches that arrived while the previous commit ran. After the commit,
/// every sender that asked (token != 0) gets `(persisted_atom, token, ok)`,
/// in the order they asked.
///
/// Between batches: 50 ms after a commit the actor calls the store's
/// `maintain` (Kafka: offset commits deferred or unanswered; the composite:
/// "released" marks whose entries' erases became durable), again every
/// 50 ms while it reports work left.
///
/// Reads: `(read_atom, client_id, from_seq, limit)` answers a page of a
/// stored queue (cold sessions, docs/sessions.md) from what is committed:
/// a session only asks for entries whose delivery it got, which the router
/// releases after their commit.

#include "amq/actors/messages.hpp"
#include "amq/storage/store.hpp"

#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include <memory>

namespace amq::actors {

struct storage_counters {
  uint64_t commits = 0;
  uint64_t batches = 0;
  uint64_t errors = 0;
  uint64_t reads = 0; ///< pages read for cold sessions
};

struct storage_state {
  static inline const char* name = "storage";

  explicit storage_state(caf::event_based_actor* self) : self(self) {}

  void persist(storage::write_batch& b, uint64_t token);
  void commit();
  /// The store's work between batches; scheduled again while there is some.
  void maintain();
  /// Sends `maintain_atom` to itself in 50 ms unless one is on its way.
  void schedule_maintenance();
  /// A page of `client_id`'s queue: entries with seq >= from_seq, at most
  /// `limit`, in order, as committed.
  caf::result<std::vector<storage::queued_entry>> read(const std::string& client_id,
                                                       uint64_t from_seq, uint32_t limit);

  caf::event_based_actor* self;
  std::shared_ptr<storage::store> store;
  storage::write_batch pending;
  std::vector<std::pair<caf::actor, uint64_t>> waiting;
  bool commit_scheduled = false;
  bool maintenance_scheduled = false;
  /// Metrics: backend label index, and `counters.batches` at the last commit.
  size_t metrics_backend = 0;
  uint64_t batches_committed = 0;
  storage_counters counters;
};

using storage_actor_type = caf::stateful_actor<storage_state>;

caf::behavior storage_behavior(storage_actor_type* self, std::shared_ptr<storage::store> store);

/// Spawns the storage actor on its own thread.
caf::actor spawn_storage(caf::actor_system& sys, std::shared_ptr<storage::store> store);

} // namespace amq::actors
