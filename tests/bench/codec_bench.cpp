// Micro-benchmarks of the MQTT codec (actormq_protocol): decode and encode of
// PUBLISH (QoS 0/1, 64 B / 4 KiB payload, 3.1.1 / 5.0), SUBSCRIBE and
// CONNECT, plus framer+decode of a stream of PUBLISH frames.
//
// Every benchmark reports packets/s ("items_per_second") and heap
// allocations per packet ("allocs/op", counted by replacing the global
// operator new in this binary).
#include "amq/protocol/framer.hpp"
#include "amq/protocol/packet.hpp"

#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

// -- allocation counter -------------------------------------------------------

// GCC flags malloc/free inside replaced global operators as "mismatched"
// once they are inlined into callers; the pairing is correct by construction.
#if defined(__GNUC__) && !defined(__clang__)
#  pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace {
std::atomic<uint64_t> allocations{0};
} // namespace

void* operator new(std::size_t n) {
  allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n))
    return p;
  throw std::bad_alloc{};
}

void operator delete(void* p) noexcept {
  std::free(p);
}

void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}

using namespace amq::protocol;

namespace {

/// Sets items (packets) processed and heap allocations per packet.
struct op_counter {
  benchmark::State& state;
  int64_t packets_per_iteration = 1;
  uint64_t start = allocations.load(std::memory_order_relaxed);
  ~op_counter() {
    auto packets = state.iterations() * packets_per_iteration;
    auto n = static_cast<double>(packets);
    state.SetItemsProcessed(packets);
    state.counters["allocs/op"]
      = static_cast<double>(allocations.load(std::memory_order_relaxed) - start) / n;
  }
};

protocol_version version_of(int64_t v) {
  return v == 5 ? protocol_version::v5 : protocol_version::v311;
}

/// An encoded packet and its frame view.
struct encoded {
  std::vector<uint8_t> wire;
  frame f;

  template <class T>
  encoded(const T& p, protocol_version v) {
    encode(p, v, wire);
    size_t header_len = 2;
    while (wire[header_len - 1] & 0x80)
      ++header_len;
    f.header = wire[0];
    f.body = std::span<const uint8_t>{wire}.subspan(header_len);
  }
};

struct publish_sample {
  std::string topic = "sensors/building-7/floor-3/temperature";
  std::string payload;
  publish p;
  publish_sample(int64_t q, int64_t size) : payload(static_cast<size_t>(size), 'x') {
    p.qos_level = static_cast<qos>(q);
    p.packet_id = q == 0 ? 0 : 4711;
    p.topic = topic;
    p.payload = payload;
  }
};

// Args: QoS, payload size, version.
void decode_publish_bench(benchmark::State& state) {
  publish_sample s{state.range(0), state.range(1)};
  auto v = version_of(state.range(2));
  encoded e{s.p, v};
  op_counter c{state};
  for (auto _ : state) {
    auto r = decode_publish(e.f, v);
    benchmark::DoNotOptimize(r);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(e.wire.size()));
}

void encode_publish_bench(benchmark::State& state) {
  publish_sample s{state.range(0), state.range(1)};
  auto v = version_of(state.range(2));
  std::vector<uint8_t> buf(encoded_size(s.p, v));
  op_counter c{state};
  for (auto _ : state) {
    benchmark::DoNotOptimize(s.p);
    auto n = encoded_size(s.p, v);
    auto written = encode_to(s.p, v, buf.data());
    benchmark::DoNotOptimize(n);
    benchmark::DoNotOptimize(written);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(buf.size()));
}

/// Appending to a reused vector (the write-batching path).
void encode_publish_append_bench(benchmark::State& state) {
  publish_sample s{state.range(0), state.range(1)};
  auto v = version_of(state.range(2));
  std::vector<uint8_t> out;
  out.reserve(64 * 1024);
  op_counter c{state};
  for (auto _ : state) {
    out.clear();
    encode(s.p, v, out);
    benchmark::DoNotOptimize(out.data());
  }
}

/// A read of 64 KiB containing back-to-back PUBLISH frames, framed and
/// decoded; items = packets.
void framer_decode_publish_bench(benchmark::State& state) {
  publish_sample s{state.range(0), state.range(1)};
  auto v = version_of(state.range(2));
  std::vector<uint8_t> stream;
  size_t per_read = 0;
  while (stream.size() < 64 * 1024) {
    encode(s.p, v, stream);
    ++per_read;
  }
  framer fr;
  op_counter c{state, static_cast<int64_t>(per_read)};
  for (auto _ : state) {
    size_t n = 0;
    auto err = fr.feed(stream, [&](const frame& f) {
      auto r = decode_publish(f, v);
      benchmark::DoNotOptimize(r);
      ++n;
      return true;
    });
    benchmark::DoNotOptimize(err);
    benchmark::DoNotOptimize(n);
  }
}

subscribe make_subscribe() {
  subscribe p;
  p.packet_id = 12;
  p.subscriptions.push_back({"sensors/+/temperature", qos::at_least_once});
  p.subscriptions.push_back({"alerts/#", qos::exactly_once});
  p.subscriptions.push_back({"$share/workers/jobs/+", qos::at_least_once});
  return p;
}

void decode_subscribe_bench(benchmark::State& state) {
  auto v = version_of(state.range(0));
  auto p = make_subscribe();
  if (v == protocol_version::v5)
    p.props.subscription_identifiers.push_back(42);
  encoded e{p, v};
  op_counter c{state};
  for (auto _ : state) {
    auto r = decode_subscribe(e.f, v);
    benchmark::DoNotOptimize(r);
  }
}

void encode_subscribe_bench(benchmark::State& state) {
  auto v = version_of(state.range(0));
  auto p = make_subscribe();
  std::vector<uint8_t> buf(encoded_size(p, v));
  op_counter c{state};
  for (auto _ : state) {
    benchmark::DoNotOptimize(p);
    auto n = encode_to(p, v, buf.data());
    benchmark::DoNotOptimize(n);
    benchmark::ClobberMemory();
  }
}

connect make_connect(protocol_version v) {
  connect p;
  p.version = v;
  p.client_id = "device-0001-abcdef";
  p.keep_alive = 60;
  p.clean_start = false;
  p.username = "device-0001";
  p.password = "s3cr3t-t0k3n";
  will_message w;
  w.qos_level = qos::at_least_once;
  w.topic = "devices/0001/status";
  w.payload = "offline";
  p.will = w;
  if (v == protocol_version::v5) {
    p.props.session_expiry_interval = 3600;
    p.props.receive_maximum = 100;
    p.props.topic_alias_maximum = 10;
  }
  return p;
}

void decode_connect_bench(benchmark::State& state) {
  auto v = version_of(state.range(0));
  encoded e{make_connect(v), v};
  op_counter c{state};
  for (auto _ : state) {
    auto r = decode_connect(e.f);
    benchmark::DoNotOptimize(r);
  }
}

void encode_connect_bench(benchmark::State& state) {
  auto v = version_of(state.range(0));
  auto p = make_connect(v);
  std::vector<uint8_t> buf(encoded_size(p, v));
  op_counter c{state};
  for (auto _ : state) {
    benchmark::DoNotOptimize(p);
    auto n = encode_to(p, v, buf.data());
    benchmark::DoNotOptimize(n);
    benchmark::ClobberMemory();
  }
}

void publish_args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"qos", "payload", "v"});
  for (int64_t v : {4, 5})
    for (int64_t q : {0, 1})
      for (int64_t size : {64, 4096})
        b->Args({q, size, v});
}

} // namespace

BENCHMARK(decode_publish_bench)->Apply(publish_args);
BENCHMARK(encode_publish_bench)->Apply(publish_args);
BENCHMARK(encode_publish_append_bench)->Apply(publish_args);
BENCHMARK(framer_decode_publish_bench)->Apply(publish_args);
BENCHMARK(decode_subscribe_bench)->ArgName("v")->Arg(4)->Arg(5);
BENCHMARK(encode_subscribe_bench)->ArgName("v")->Arg(4)->Arg(5);
BENCHMARK(decode_connect_bench)->ArgName("v")->Arg(4)->Arg(5);
BENCHMARK(encode_connect_bench)->ArgName("v")->Arg(4)->Arg(5);

BENCHMARK_MAIN();
