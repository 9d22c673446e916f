// net_echo_bench: the network edge (actormq_net) as an echo server under a pipelined load, for each
// io_model and I/O thread count. Prints one RESULT line per configuration.
//
// The load runs in the same process on its own Asio thread: `--conns` connections each keep up to
// `--window` bytes of 64-byte "messages" in flight, written in `--batch`-byte writes (like
// mqtt-load). The echo receiver sends back a copy of each read (one send per on_data), so the edge's
// read batching and write gather are what is measured. On the 2-core machine the load generator
// takes one core; read the figures as a comparison between configurations of one run.
// msgs_per_cpu_s (messages echoed per CPU-second of the whole process, generator included) is the
// figure least distorted when other processes take CPU from the run.
//
//   net_echo_bench [--seconds 3] [--conns 100] [--batch 16384] [--window 65536]
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

#include "amq/net/server.hpp"

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

namespace {

struct echo : amq::net::connection_receiver {
  void on_data(const amq::net::connection_ptr& c, std::span<const uint8_t> bytes) override {
    c->send(std::vector<uint8_t>(bytes.begin(), bytes.end()));
  }
  void on_closed(const amq::net::connection_ptr&, std::error_code) override {
  }
};

struct load_conn : std::enable_shared_from_this<load_conn> {
  load_conn(asio::io_context& ctx, const std::vector<uint8_t>& batch, size_t window, std::atomic<bool>& run)
    : socket(ctx), batch(batch), window(window), running(run), buf(64 * 1024) {
  }

  tcp::socket socket;
  const std::vector<uint8_t>& batch;
  size_t window;
  std::atomic<bool>& running;
  std::vector<uint8_t> buf;
  uint64_t sent = 0;
  uint64_t received = 0;
  bool writing = false;

  void start() {
    read();
    maybe_write();
  }

  void maybe_write() {
    if (writing || !running.load(std::memory_order_relaxed) || sent - received + batch.size() > window)
      return;
    writing = true;
    asio::async_write(socket, asio::buffer(batch), [self = shared_from_this()](auto ec, size_t n) {
      self->writing = false;
      if (ec)
        return;
      self->sent += n;
      self->maybe_write();
    });
  }

  void read() {
    socket.async_read_some(asio::buffer(buf), [self = shared_from_this()](auto ec, size_t n) {
      if (ec)
        return;
      self->received += n;
      self->maybe_write();
      self->read();
    });
  }
};

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec)
         + static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

void run_case(amq::net::io_model model, size_t io_threads, int seconds, size_t conns, size_t batch_size,
              size_t window) {
  amq::net::server_options opts;
  opts.bind = "127.0.0.1";
  opts.port = 0;
  opts.io_threads = io_threads;
  opts.model = model;
  auto receiver = std::make_shared<echo>();
  amq::net::server srv{opts, [&](const amq::net::connection_ptr& c) { c->set_receiver(receiver); }};
  if (auto err = srv.start()) {
    std::fprintf(stderr, "start failed: %s\n", err.message().c_str());
    return;
  }
  asio::io_context ctx{1};
  std::atomic<bool> running{true};
  std::vector<uint8_t> batch(batch_size, 'm');
  std::vector<std::shared_ptr<load_conn>> clients;
  tcp::endpoint ep{asio::ip::make_address("127.0.0.1"), srv.port()};
  for (size_t i = 0; i < conns; ++i) {
    auto c = std::make_shared<load_conn>(ctx, batch, window, running);
    c->socket.connect(ep);
    c->socket.set_option(tcp::no_delay(true));
    clients.push_back(c);
  }
  for (auto& c : clients)
    c->start();
  std::thread load([&] { ctx.run(); });
  std::this_thread::sleep_for(500ms); // warm-up
  auto s0 = srv.get_stats();
  double cpu0 = cpu_seconds();
  auto t0 = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  auto s1 = srv.get_stats();
  double cpu1 = cpu_seconds();
  double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  running = false;
  asio::post(ctx, [&] {
    for (auto& c : clients) {
      boost::system::error_code ignored;
      c->socket.close(ignored);
    }
  });
  load.join();
  srv.stop();
  const double bytes = static_cast<double>(s1.bytes_out - s0.bytes_out);
  const double msgs = bytes / 64.0;
  std::printf("RESULT model=%s io_threads=%zu conns=%zu batch=%zu window=%zu echo_mib_s=%.1f "
              "msgs_per_s=%.0f msgs_per_read=%.1f msgs_per_write=%.1f process_cpu_pct=%.0f "
              "msgs_per_cpu_s=%.0f\n",
              model == amq::net::io_model::context_per_thread ? "context_per_thread" : "shared_context",
              io_threads, conns, batch_size, window, bytes / dt / (1 << 20), msgs / dt,
              static_cast<double>(s1.bytes_in - s0.bytes_in) / 64.0 / static_cast<double>(s1.reads - s0.reads),
              msgs / static_cast<double>(s1.writes - s0.writes), 100.0 * (cpu1 - cpu0) / dt,
              msgs / (cpu1 - cpu0));
  std::fflush(stdout);
}

} // namespace

int main(int argc, char** argv) {
  int seconds = 3;
  size_t conns = 100;
  size_t batch = 16384;
  size_t window = 65536;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    auto v = std::stoul(argv[i + 1]);
    if (k == "--seconds")
      seconds = static_cast<int>(v);
    else if (k == "--conns")
      conns = v;
    else if (k == "--batch")
      batch = v;
    else if (k == "--window")
      window = v;
  }
  for (auto model : {amq::net::io_model::context_per_thread, amq::net::io_model::shared_context})
    for (size_t threads : {1, 2})
      run_case(model, threads, seconds, conns, batch, window);
}
