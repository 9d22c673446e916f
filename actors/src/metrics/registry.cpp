#include "amq/metrics/registry.hpp"

#include <memory>
#include <mutex>

namespace amq::metrics {

namespace {

struct state {
  std::mutex mtx;
  std::vector<shard*> live;
  std::vector<shard*> free;
  std::array<int64_t, slot::count> retired{};
};

state& global() {
  // Never destroyed: threads may still end (and fold their shards) while
  // static objects are destroyed at exit.
  static auto* s = new state;
  return *s;
}

/// Folds the thread's values into `retired` and returns its shard when the
/// thread ends.
struct shard_owner {
  shard* s = nullptr;
  ~shard_owner() {
    if (s == nullptr)
      return;
    auto& g = global();
    std::lock_guard<std::mutex> guard{g.mtx};
    for (size_t i = 0; i < slot::count; ++i) {
      g.retired[i] += s->v[i].load(std::memory_order_relaxed);
      s->v[i].store(0, std::memory_order_relaxed);
    }
    std::erase(g.live, s);
    g.free.push_back(s);
  }
};

} // namespace

shard& detail::acquire_local_shard() {
  thread_local shard_owner owner;
  if (owner.s != nullptr)
    return *owner.s;
  auto& g = global();
  std::lock_guard<std::mutex> guard{g.mtx};
  if (!g.free.empty()) {
    owner.s = g.free.back();
    g.free.pop_back();
  } else {
    owner.s = new shard; // owned by `global()` for the life of the process
  }
  g.live.push_back(owner.s);
  return *owner.s;
}

void observe_storage_commit(size_t backend, int64_t nanoseconds, bool ok, uint64_t batches) {
  if (backend >= backend_count)
    return;
  auto base = slot::storage + backend * slot::storage_block;
  add(base + slot::st_commits);
  if (!ok)
    add(base + slot::st_errors);
  add(base + slot::st_apply_ns, nanoseconds);
  add(base + slot::st_batches, static_cast<int64_t>(batches));
  double seconds = static_cast<double>(nanoseconds) / 1e9;
  size_t i = 0;
  while (i < latency_bounds.size() && seconds > latency_bounds[i])
    ++i;
  add(base + slot::st_latency + i);
  size_t j = 0;
  while (j < batch_bounds.size() && static_cast<double>(batches) > batch_bounds[j])
    ++j;
  add(base + slot::st_batch_hist + j);
}

void observe_storage_part(size_t backend, int64_t nanoseconds, bool ok) {
  if (backend >= backend_count)
    return;
  auto base = slot::storage + backend * slot::storage_block;
  add(base + slot::st_commits);
  if (!ok)
    add(base + slot::st_errors);
  add(base + slot::st_apply_ns, nanoseconds);
  double seconds = static_cast<double>(nanoseconds) / 1e9;
  size_t i = 0;
  while (i < latency_bounds.size() && seconds > latency_bounds[i])
    ++i;
  add(base + slot::st_latency + i);
}

std::vector<int64_t> snapshot() {
  auto& g = global();
  std::lock_guard<std::mutex> guard{g.mtx};
  std::vector<int64_t> out(g.retired.begin(), g.retired.end());
  for (auto* s : g.live)
    for (size_t i = 0; i < slot::count; ++i)
      out[i] += s->v[i].load(std::memory_order_relaxed);
  return out;
}

} // namespace amq::metrics
