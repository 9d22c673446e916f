#include "amq/actors/storage_actor.hpp"

#include "amq/log.hpp"

#include <caf/actor_system.hpp>

namespace amq::actors {

void storage_state::persist(storage::write_batch& b, uint64_t token) {
  ++counters.batches;
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
    if (auto err = store->apply(pending)) {
      ok = false;
      ++counters.errors;
      AMQ_LOG_ERROR("storage {} failed to apply a batch: {}", store->describe(), err.message());
    }
    ++counters.commits;
    pending.clear();
  }
  for (auto& [who, token] : waiting)
    if (who)
      self->send(who, persisted_atom::value, token, ok);
  waiting.clear();
}

caf::behavior storage_behavior(storage_actor_type* self, std::shared_ptr<storage::store> store) {
  auto& st = self->state;
  st.store = std::move(store);
  return {
    [&st](persist_atom, storage::write_batch& b, uint64_t token) { st.persist(b, token); },
    [&st](commit_atom) { st.commit(); },
  };
}

caf::actor spawn_storage(caf::actor_system& sys, std::shared_ptr<storage::store> store) {
  return sys.spawn<caf::detached>(storage_behavior, std::move(store));
}

} // namespace amq::actors
