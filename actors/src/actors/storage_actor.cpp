#include "amq/actors/storage_actor.hpp"

#include "amq/log.hpp"
#include "amq/metrics/registry.hpp"
#include "amq/thread_name.hpp"

#include <caf/actor_system.hpp>

#include <chrono>

namespace amq::actors {

void storage_state::persist(storage::write_batch& b, uint64_t token) {
  ++counters.batches;
  // When each entry was stored: the offline TTL of an entry read back from
  // the store counts from here (docs/sessions.md, "Hot and cold queues").
  auto now = self->clock().now();
  for (auto& [client, e] : b.append)
    if (!e.stored_at)
      e.stored_at = now;
  pending.merge(std::move(b));
  if (token != 0)
    waiting.emplace_back(caf::actor_cast<caf::actor>(self->current_sender()), token);
  if (!commit_scheduled) {
    commit_scheduled = true;
    self->send(self, commit_atom::value);
  }
}

void storage_state::commit() {
  commit_scheduled = false;
  bool ok = true;
  if (!pending.empty()) {
    auto started = std::chrono::steady_clock::now();
    if (auto err = store->apply(pending)) {
      ok = false;
      ++counters.errors;
      // One line per second at most while a backend is down (the refused
      // publishers retry); the count of the others is in the next line.
      static thread_local std::chrono::steady_clock::time_point last_log{};
      static thread_local uint64_t quiet = 0;
      auto now = std::chrono::steady_clock::now();
      if (now - last_log >= std::chrono::seconds{1}) {
        AMQ_LOG_ERROR("storage {} failed to apply a batch: {} ({}); its publishers are refused{}",
                      store->describe(), err.message(), store->last_error(),
                      quiet ? " (" + std::to_string(quiet) + " more failed batches in the last second)"
                            : std::string{});
        last_log = now;
        quiet = 0;
      } else {
        ++quiet;
      }
    }
    ++counters.commits;
    metrics::observe_storage_commit(
      metrics_backend,
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now()
                                                           - started)
        .count(),
      ok, counters.batches - batches_committed);
    batches_committed = counters.batches;
    pending.clear();
  }
  for (auto& [who, token] : waiting)
    if (who)
      self->send(who, persisted_atom::value, token, ok);
  waiting.clear();
  schedule_maintenance();
}

void storage_state::schedule_maintenance() {
  if (maintenance_scheduled)
    return;
  maintenance_scheduled = true;
  self->delayed_send(self, std::chrono::milliseconds{50}, maintain_atom::value);
}

void storage_state::maintain() {
  maintenance_scheduled = false;
  if (store->maintain())
    schedule_maintenance();
}

caf::result<std::vector<storage::queued_entry>>
storage_state::read(const std::string& client_id, uint64_t from_seq, uint32_t limit) {
  // Reads see what is committed, not what is pending: a session asks only
  // for entries it learned of from their delivery, which the router
  // releases after their commit; pending erases are of entries before the
  // page. (Committing first would cost a synced write per page.)
  ++counters.reads;
  std::vector<storage::queued_entry> out;
  out.reserve(limit);
  auto err = store->read_queue(client_id, from_seq, limit,
                               [&](storage::queued_entry&& e) { out.push_back(std::move(e)); });
  if (err) {
    ++counters.errors;
    AMQ_LOG_ERROR("storage {} failed to read the queue of {} from {}: {}", store->describe(),
                  client_id, from_seq, err.message());
    return caf::make_error(caf::sec::runtime_error);
  }
  return out;
}

caf::behavior storage_behavior(storage_actor_type* self, std::shared_ptr<storage::store> store) {
  auto& st = self->state;
  st.store = std::move(store);
  st.metrics_backend = metrics::backend_of(st.store->describe());
  return {
    [&st](persist_atom, storage::write_batch& b, uint64_t token) { st.persist(b, token); },
    [&st](commit_atom) { st.commit(); },
    [&st](maintain_atom) { st.maintain(); },
    [&st](read_atom, const std::string& client_id, uint64_t from_seq, uint32_t limit) {
      return st.read(client_id, from_seq, limit);
    },
  };
}

caf::actor spawn_storage(caf::actor_system& sys, std::shared_ptr<storage::store> store) {
  // Detached: the behavior is made on the actor's own thread, which gets its name here.
  return sys.spawn<caf::detached>(
    [](storage_actor_type* self, std::shared_ptr<storage::store> s) {
      name_this_thread("amq.storage");
      return storage_behavior(self, std::move(s));
    },
    std::move(store));
}

} // namespace amq::actors
