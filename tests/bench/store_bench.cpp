// Micro-benchmarks of the embedded RocksDB store (actormq_storage).
//
//   bm_apply/<batch>/<sync>   apply() of one write_batch holding <batch> queue
//                             appends of 64-byte messages (clients cycling over
//                             1,000 sessions), sync=1: fsynced WAL (the broker's
//                             default), sync=0: WAL in the page cache.
//   bm_apply_ack/<batch>      the steady state of a queue: each batch appends
//                             <batch> entries and erases the <batch> appended
//                             one batch earlier (acknowledged), sync=1.
//   bm_read_queue/<n>         read_queue() of a whole <n>-entry queue.
//   bm_read_after_acks        read_queue(from first unacked, limit 100) of a
//                             queue whose first 100,000 entries were appended
//                             and acknowledged (tombstones to skip).
//
// Figures: items_per_second = queue entries, batches_per_second = apply() calls.
// The database lives in $AMQ_BENCH_DIR (default: the system temp directory);
// put it on the disk the broker will use: fsync cost is the disk's.
//   ./store_bench [--benchmark_filter=bm_apply]

#include "amq/storage/store.hpp"

#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>

using namespace amq;
using namespace amq::storage;

namespace {

class bench_dir {
public:
  bench_dir() {
    const char* base = std::getenv("AMQ_BENCH_DIR");
    auto tmpl = (base ? std::filesystem::path{base} : std::filesystem::temp_directory_path())
                / "actormq-store-bench-XXXXXX";
    auto s = tmpl.string();
    if (mkdtemp(s.data()) == nullptr)
      throw std::runtime_error("mkdtemp failed: " + s);
    path_ = s;
  }
  ~bench_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const {
    return path_;
  }

private:
  std::string path_;
};

std::unique_ptr<store> open(const bench_dir& dir, bool sync) {
  std::error_code err;
  std::string detail;
  auto st = open_rocksdb_store(dir.path(), sync, err, detail);
  if (!st)
    throw std::runtime_error(detail);
  return st;
}

protocol::message_ptr msg64() {
  auto m = std::make_shared<protocol::message>();
  m->topic = "devices/000123/telemetry";
  m->payload.assign(64, 'x');
  m->qos_level = protocol::qos::at_least_once;
  m->publisher = "device-000123";
  return m;
}

std::vector<std::string> clients(size_t n) {
  std::vector<std::string> out;
  for (size_t i = 0; i < n; ++i)
    out.push_back("client-" + std::to_string(i));
  return out;
}

void bm_apply(benchmark::State& state) {
  auto batch = static_cast<size_t>(state.range(0));
  bool sync = state.range(1) != 0;
  bench_dir dir;
  auto st = open(dir, sync);
  auto ids = clients(1000);
  std::vector<uint64_t> next(ids.size(), 1);
  auto m = msg64();
  size_t c = 0;
  write_batch b;
  for (auto _ : state) {
    b.clear();
    for (size_t i = 0; i < batch; ++i) {
      queued_entry e;
      e.seq = next[c]++;
      e.msg = m;
      b.append.emplace_back(ids[c], std::move(e));
      c = (c + 1) % ids.size();
    }
    if (auto err = st->apply(b))
      state.SkipWithError(err.message().c_str());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * batch));
  state.counters["batches_per_second"] =
    benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(bm_apply)
  ->ArgNames({"batch", "sync"})
  ->ArgsProduct({{1, 64, 1024}, {1, 0}})
  ->UseRealTime()
  ->Unit(benchmark::kMicrosecond);

void bm_apply_ack(benchmark::State& state) {
  auto batch = static_cast<size_t>(state.range(0));
  bench_dir dir;
  auto st = open(dir, true);
  auto m = msg64();
  const std::string client = "client-1";
  uint64_t seq = 0;
  write_batch b;
  for (auto _ : state) {
    b.clear();
    for (size_t i = 0; i < batch; ++i) {
      ++seq;
      queued_entry e;
      e.seq = seq;
      e.msg = m;
      b.append.emplace_back(client, std::move(e));
      if (seq > batch)
        b.erase_entries.emplace_back(client, seq - batch);
    }
    if (auto err = st->apply(b))
      state.SkipWithError(err.message().c_str());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * batch));
  state.counters["batches_per_second"] =
    benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(bm_apply_ack)->Arg(1)->Arg(64)->UseRealTime()->Unit(benchmark::kMicrosecond);

void fill(store& st, const std::string& client, uint64_t n, bool ack) {
  auto m = msg64();
  write_batch b;
  uint64_t first = 1; // of the current batch
  for (uint64_t seq = 1; seq <= n; ++seq) {
    queued_entry e;
    e.seq = seq;
    e.msg = m;
    b.append.emplace_back(client, std::move(e));
    if (b.append.size() == 1024 || seq == n) {
      if (auto err = st.apply(b))
        throw std::runtime_error(err.message());
      b.clear();
      if (ack) {
        for (auto s = first; s <= seq; ++s)
          b.erase_entries.emplace_back(client, s);
        if (auto err = st.apply(b))
          throw std::runtime_error(err.message());
        b.clear();
      }
      first = seq + 1;
    }
  }
}

void bm_read_queue(benchmark::State& state) {
  auto n = static_cast<uint64_t>(state.range(0));
  bench_dir dir;
  auto st = open(dir, false);
  fill(*st, "client-1", n, false);
  size_t read = 0;
  for (auto _ : state) {
    st->read_queue("client-1", 0, 0, [&](queued_entry&& e) {
      benchmark::DoNotOptimize(e);
      ++read;
    });
  }
  state.SetItemsProcessed(static_cast<int64_t>(read));
}
BENCHMARK(bm_read_queue)->Arg(100)->Arg(10'000)->Unit(benchmark::kMicrosecond);

void bm_read_after_acks(benchmark::State& state) {
  bench_dir dir;
  auto st = open(dir, false);
  const uint64_t acked = 100'000;
  fill(*st, "client-1", acked, true);
  auto m = msg64();
  write_batch b;
  for (uint64_t seq = acked + 1; seq <= acked + 1000; ++seq) {
    queued_entry e;
    e.seq = seq;
    e.msg = m;
    b.append.emplace_back("client-1", std::move(e));
  }
  if (auto err = st->apply(b))
    throw std::runtime_error(err.message());
  size_t read = 0;
  for (auto _ : state) {
    st->read_queue("client-1", acked + 1, 100, [&](queued_entry&& e) {
      benchmark::DoNotOptimize(e);
      ++read;
    });
  }
  state.SetItemsProcessed(static_cast<int64_t>(read));
}
BENCHMARK(bm_read_after_acks)->Unit(benchmark::kMicrosecond);

} // namespace

BENCHMARK_MAIN();
