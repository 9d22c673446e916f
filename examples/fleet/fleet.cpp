// actormq-fleet engine (see fleet.hpp for the design and what "lost" means).

#include "fleet.hpp"
#include "report.hpp"
#include "stats.hpp"

#include "amq/protocol/packet.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <netinet/in.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <queue>
#include <random>
#include <thread>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

namespace amq::fleet {

namespace asio = boost::asio;
namespace pr = amq::protocol;
using tcp = asio::ip::tcp;

namespace {

uint64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

/// Which stream a message belongs to (byte 12 of the payload header).
enum class kind : uint8_t { tele = 1, cmd = 2, bcast = 3, jobs = 4 };

constexpr uint32_t payload_magic = 0x46514d41; // "AMQF"
constexpr size_t header_size = 32;

// Payload header layout (little endian): magic u32 | run id u32 | publisher u32 | kind u8 |
// 3 pad | seq u64 | send time ns u64.
void put_header(uint8_t* p, uint32_t run, uint32_t publisher, kind k, uint64_t seq, uint64_t ts) {
  std::memcpy(p, &payload_magic, 4);
  std::memcpy(p + 4, &run, 4);
  std::memcpy(p + 8, &publisher, 4);
  p[12] = static_cast<uint8_t>(k);
  p[13] = p[14] = p[15] = 0;
  std::memcpy(p + 16, &seq, 8);
  std::memcpy(p + 24, &ts, 8);
}

enum class role : uint8_t { device, consumer, sender, sys };
enum class cstate : uint8_t { idle, connecting, wait_connack, wait_suback, ready };
enum class phase_t : int { setup, run, drain, sys_wait, done };

/// Outbound QoS 1/2 publish not yet complete.
///   QoS 1: PUBLISH ──PUBACK──▶ done
///   QoS 2: PUBLISH ──PUBREC──▶ (send PUBREL) state 1 ──PUBCOMP──▶ done
/// On a persistent reconnect with session present, state 0 resends PUBLISH with DUP, state 1
/// resends PUBREL. Otherwise the entry is abandoned and its message becomes unconfirmed.
struct pending_out {
  uint64_t seq;
  uint64_t ts;
  uint32_t target;
  uint16_t pid;
  kind k;
  uint8_t state;
};

/// A message stream's publisher-side record.
struct tx_record {
  uint64_t next = 0;                 ///< messages published (first transmissions)
  std::vector<uint64_t> unconfirmed; ///< sequence numbers abandoned or unacknowledged at the end
  std::vector<uint64_t> ts;          ///< send time per sequence number (commands, broadcasts, jobs)
};

struct worker;

struct client {
  role r = role::device;
  uint32_t index = 0; ///< device / consumer index
  std::unique_ptr<tcp::socket> sock;
  std::unique_ptr<tcp::socket> orphan; ///< old connection during a takeover
  pr::framer fr;
  std::vector<uint8_t> out;
  size_t out_off = 0;
  bool write_wait = false;
  bool queued = false; ///< in a connect queue
  cstate state = cstate::idle;
  uint32_t gen = 0;
  uint16_t last_pid = 0;
  uint16_t window = 1;
  uint16_t suback_pid = 0;
  uint64_t connect_start = 0;
  uint64_t last_send = 0;
  uint64_t next_tele = 0;
  std::vector<pending_out> inflight;
  std::vector<uint16_t> qos2_in; ///< inbound QoS 2 packet ids awaiting PUBREL
  // device
  tx_record tele;
  rx_stream cmd_rx, bcast_rx, jobs_rx;
  uint64_t first_sub = 0;  ///< first SUBACK (persistent entitlement)
  uint64_t life_start = 0; ///< SUBACK of the current connection (clean entitlement)
  bool life_open = false;
  bool ever_connected = false;
  // consumer
  std::vector<rx_stream> tele_rx; ///< per device
};

struct worker_stats {
  std::array<uint64_t, static_cast<size_t>(error_kind::count_)> errors{};
  histogram latency, connect_time;
  uint64_t connect_attempts = 0, connacks = 0, session_resumed = 0, drops_random = 0,
           drops_storm = 0, takeovers = 0, packets_out = 0, packets_in = 0, publish_out = 0,
           publish_in = 0, resends = 0, foreign = 0, tele_skipped = 0, cmd_skipped = 0,
           duplicates = 0, out_of_order = 0, sys_packets_out = 0, sys_packets_in = 0;
};

struct fleet_state {
  explicit fleet_state(const options& opts) : o(opts) {}
  const options& o;
  uint32_t run_id = 0;
  pr::protocol_version version = pr::protocol_version::v311;
  tcp::endpoint broker;
  std::vector<asio::ip::address_v4> sources;
  std::atomic<int> phase{static_cast<int>(phase_t::setup)};
  std::atomic<uint32_t> storm_id{0};
  std::unique_ptr<std::atomic<uint8_t>[]> dev_flags; ///< bit 0: entitled now, bit 1: subscribed once
  std::atomic<int64_t> connected{0}, inflight{0}, infra_ready{0};
  std::atomic<uint64_t> pub_out{0}, pub_in{0}, errors{0}, last_rx{0};
  std::atomic<uint64_t> sys_update_after{0}; ///< set: a $SYS update arrived after this time
  std::atomic<bool> sys_fresh{false};
  std::atomic<bool> sys_seen{false}; ///< a $SYS .../messages/received value arrived
  std::atomic<int> workers_done{0};
  /// --scenario backlog: 1 main asks to park the device, 2 parked (sender fills), 3 main asks
  /// for the reconnect, 4 reconnecting.
  std::atomic<int> backlog_step{0};
  uint32_t infra_total = 0;
  // sender's records (owned by worker 0)
  std::vector<tx_record> cmd_tx;
  tx_record bcast_tx, jobs_tx;
  std::map<std::string, std::string> sys_start, sys_now;
  std::vector<std::unique_ptr<worker>> workers;
};

constexpr uint8_t flag_entitled = 1, flag_subscribed = 2;

struct event {
  uint64_t due;
  client* c;
  uint32_t gen;
  uint8_t what; // 0 telemetry, 1 keepalive, 2 reconnect, 3 watchdog
  bool operator>(const event& e) const noexcept { return due > e.due; }
};

struct worker {
  worker(fleet_state& f, unsigned idx) : fs(f), o(f.o), id(idx), tick(io), rng(f.o.seed * 7919 + idx) {
    rbuf.resize(256 * 1024);
  }

  fleet_state& fs;
  const options& o;
  unsigned id;
  asio::io_context io{1};
  asio::steady_timer tick;
  std::mt19937_64 rng;
  std::deque<client> clients;
  std::vector<client*> devices;
  client* sender = nullptr;
  client* sys = nullptr;
  std::vector<uint8_t> rbuf, scratch;
  std::string topic_buf;
  std::priority_queue<event, std::vector<event>, std::greater<>> timers;
  std::deque<client*> ramp_q, urgent_q;
  uint32_t handshakes = 0;
  double ramp_budget = 0, cmd_budget = 0, bcast_budget = 0, jobs_budget = 0, drop_budget = 0;
  uint64_t last_tick = 0;
  uint32_t seen_storm = 0;
  int seen_phase = -1;
  bool finished = false;
  worker_stats st;

  // -- helpers ------------------------------------------------------------------------------

  phase_t phase() const { return static_cast<phase_t>(fs.phase.load(std::memory_order_acquire)); }

  void error(error_kind k) {
    ++st.errors[static_cast<size_t>(k)];
    fs.errors.fetch_add(1, std::memory_order_relaxed);
  }

  double jitter() { return std::uniform_real_distribution<double>(0.5, 1.5)(rng); }

  std::string client_id(const client& c) const {
    switch (c.r) {
      case role::device:
        return o.id_prefix + std::to_string(c.index);
      case role::consumer:
        return o.id_prefix + "consumer-" + std::to_string(c.index);
      case role::sender:
        return o.id_prefix + "sender";
      case role::sys:
        return o.id_prefix + "sys";
    }
    return {};
  }

  std::string_view topic_for(kind k, const client& c, uint32_t target) {
    topic_buf = o.topic_prefix;
    switch (k) {
      case kind::tele:
        topic_buf += "/tele/";
        topic_buf += o.id_prefix;
        topic_buf += std::to_string(c.index);
        break;
      case kind::cmd:
        topic_buf += "/cmd/";
        topic_buf += o.id_prefix;
        topic_buf += std::to_string(target);
        break;
      case kind::bcast:
        topic_buf += "/bcast/all";
        break;
      case kind::jobs:
        topic_buf += "/jobs";
        break;
    }
    return topic_buf;
  }

  bool persistent(const client& c) const {
    return c.r == role::device || c.r == role::consumer ? o.persistent : false;
  }

  void count_out(client& c) {
    if (c.r == role::sys)
      ++st.sys_packets_out;
    else
      ++st.packets_out;
  }

  template <class P>
  void send(client& c, const P& p) {
    pr::encode(p, fs.version, c.out);
    count_out(c);
    c.last_send = now_ns();
  }

  // -- connecting ---------------------------------------------------------------------------

  void enqueue_connect(client& c, bool urgent) {
    if (c.queued || c.state != cstate::idle)
      return;
    c.queued = true;
    (urgent ? urgent_q : ramp_q).push_back(&c);
  }

  void schedule(client& c, uint64_t due, uint8_t what) { timers.push(event{due, &c, c.gen, what}); }

  void retry_later(client& c) {
    c.state = cstate::idle;
    schedule(c, now_ns() + static_cast<uint64_t>(1e9 * jitter()), 2);
  }

  void start_connect(client& c) {
    c.queued = false;
    if (c.state != cstate::idle)
      return;
    ++c.gen;
    ++st.connect_attempts;
    c.connect_start = now_ns();
    auto s = std::make_unique<tcp::socket>(io);
    boost::system::error_code ec;
    s->open(tcp::v4(), ec);
    if (ec) {
      error(error_kind::socket_open);
      retry_later(c);
      return;
    }
    if (!fs.sources.empty()) {
      int one = 1;
      ::setsockopt(s->native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
      auto src = fs.sources[(c.index + static_cast<uint32_t>(c.r) * 7) % fs.sources.size()];
      s->bind(tcp::endpoint{src, 0}, ec);
      if (ec) {
        error(error_kind::bind);
        retry_later(c);
        return;
      }
    }
    s->set_option(tcp::no_delay(true), ec);
    c.sock = std::move(s);
    c.state = cstate::connecting;
    ++handshakes;
    schedule(c, c.connect_start + uint64_t{o.connect_timeout_ms} * 1'000'000u, 3);
    c.sock->async_connect(fs.broker, [this, &c, gen = c.gen](const boost::system::error_code& e) {
      if (gen != c.gen)
        return;
      on_connected(c, e);
    });
  }

  void on_connected(client& c, const boost::system::error_code& ec) {
    if (ec) {
      --handshakes;
      error(ec == asio::error::connection_refused ? error_kind::connect_refused
                                                  : error_kind::connect_failed);
      c.sock.reset();
      retry_later(c);
      return;
    }
    boost::system::error_code e2;
    c.sock->non_blocking(true, e2);
    pr::connect p;
    p.version = fs.version;
    p.clean_start = !persistent(c);
    p.keep_alive = o.keepalive;
    auto id = client_id(c);
    p.client_id = id;
    if (fs.version == pr::protocol_version::v5) {
      if (persistent(c))
        p.props.session_expiry_interval = o.session_expiry;
      p.props.receive_maximum = 65535;
    }
    send(c, p);
    c.state = cstate::wait_connack;
    flush(c);
    arm_read(c);
  }

  // -- I/O ----------------------------------------------------------------------------------

  void arm_read(client& c) {
    if (!c.sock)
      return;
    c.sock->async_wait(tcp::socket::wait_read, [this, &c, gen = c.gen](const boost::system::error_code& ec) {
      if (gen != c.gen)
        return;
      on_readable(c, ec);
    });
  }

  void on_readable(client& c, const boost::system::error_code& ec) {
    if (ec) {
      lost_connection(c, error_kind::closed_by_broker);
      return;
    }
    const uint32_t gen = c.gen;
    for (int i = 0; i < 8; ++i) {
      boost::system::error_code rec;
      size_t n = c.sock->read_some(asio::buffer(rbuf), rec);
      if (rec == asio::error::would_block || rec == asio::error::try_again)
        break;
      if (rec) {
        lost_connection(c, error_kind::closed_by_broker);
        return;
      }
      bool failed = false;
      auto err = c.fr.feed(std::span<const uint8_t>{rbuf.data(), n}, [&](const pr::frame& f) {
        if (!on_frame(c, f)) {
          failed = true;
          return false;
        }
        return gen == c.gen;
      });
      if (gen != c.gen)
        return; // dropped while handling
      if (err || failed) {
        lost_connection(c, error_kind::protocol);
        return;
      }
      if (n < rbuf.size())
        break;
    }
    if (c.r == role::sender)
      backlog_fill();
    flush(c);
    if (gen == c.gen)
      arm_read(c);
  }

  /// --scenario backlog: keeps the sender's window full until the backlog is queued.
  void backlog_fill() {
    if (!sender || fs.backlog_step.load(std::memory_order_acquire) != 2)
      return;
    while (fs.cmd_tx[0].next < o.backlog && publish_new(*sender, kind::cmd, 0)) {
    }
  }

  void backlog_tick() {
    int step = fs.backlog_step.load(std::memory_order_acquire);
    if (step == 1 && !devices.empty()) {
      auto& d = *devices.front();
      send(d, pr::disconnect{});
      flush(d);
      end_connection(d, false);
      fs.backlog_step.store(2, std::memory_order_release);
    } else if (step == 3 && !devices.empty()) {
      enqueue_connect(*devices.front(), true);
      fs.backlog_step.store(4, std::memory_order_release);
    }
    backlog_fill();
  }

  void flush(client& c) {
    if (c.write_wait || !c.sock || c.out_off == c.out.size())
      return;
    boost::system::error_code ec;
    size_t n = c.sock->write_some(asio::buffer(c.out.data() + c.out_off, c.out.size() - c.out_off), ec);
    if (ec && ec != asio::error::would_block && ec != asio::error::try_again) {
      lost_connection(c, error_kind::write_failed);
      return;
    }
    c.out_off += n;
    if (c.out_off == c.out.size()) {
      c.out.clear();
      c.out_off = 0;
      if (c.out.capacity() > 64 * 1024)
        std::vector<uint8_t>{}.swap(c.out);
      return;
    }
    c.write_wait = true;
    c.sock->async_wait(tcp::socket::wait_write, [this, &c, gen = c.gen](const boost::system::error_code& e) {
      if (gen != c.gen)
        return;
      c.write_wait = false;
      if (e) {
        lost_connection(c, error_kind::write_failed);
        return;
      }
      flush(c);
    });
  }

  /// Ends the current connection and forgets its transport state. `reconnect_ns`: when to
  /// connect again (0: not scheduled here).
  void end_connection(client& c, bool takeover) {
    if (c.state >= cstate::wait_suback) {
      fs.connected.fetch_sub(1, std::memory_order_relaxed);
    } else if (c.state == cstate::connecting || c.state == cstate::wait_connack) {
      --handshakes;
    }
    if (c.r == role::device) {
      fs.dev_flags[c.index].fetch_and(static_cast<uint8_t>(~flag_entitled), std::memory_order_release);
      c.life_open = false;
    }
    if (takeover && c.sock) {
      c.orphan = std::move(c.sock);
    } else if (c.sock) {
      boost::system::error_code ec;
      c.sock->close(ec);
      c.sock.reset();
    }
    ++c.gen;
    c.state = cstate::idle;
    c.out.clear();
    c.out_off = 0;
    c.write_wait = false;
    c.fr = pr::framer{};
    if (!persistent(c))
      abandon_inflight(c);
  }

  void abandon_inflight(client& c) {
    for (auto& p : c.inflight) {
      fs.inflight.fetch_sub(1, std::memory_order_relaxed);
      record_for(c, p.k, p.target).unconfirmed.push_back(p.seq);
    }
    c.inflight.clear();
    c.qos2_in.clear();
  }

  tx_record& record_for(client& c, kind k, uint32_t target) {
    switch (k) {
      case kind::tele:
        return c.tele;
      case kind::cmd:
        return fs.cmd_tx[target];
      case kind::bcast:
        return fs.bcast_tx;
      case kind::jobs:
        return fs.jobs_tx;
    }
    return c.tele;
  }

  void lost_connection(client& c, error_kind why) {
    if (phase() == phase_t::done)
      return;
    error(why);
    end_connection(c, false);
    if (c.r == role::device)
      schedule(c, now_ns() + static_cast<uint64_t>(o.reconnect_delay_ms * 1e6 * jitter()), 2);
    else
      enqueue_connect(c, true);
  }

  /// Churn: drops a connected device on purpose and schedules its reconnect.
  void drop(client& c, bool storm) {
    const bool takeover =
      o.takeover_fraction > 0 && std::uniform_real_distribution<double>(0, 1)(rng) < o.takeover_fraction;
    if (o.graceful && !takeover) {
      send(c, pr::disconnect{});
      flush(c);
    }
    ++(storm ? st.drops_storm : st.drops_random);
    if (takeover)
      ++st.takeovers;
    end_connection(c, takeover);
    if (storm || takeover)
      enqueue_connect(c, true);
    else
      schedule(c, now_ns() + static_cast<uint64_t>(o.reconnect_delay_ms * 1e6 * jitter()), 2);
  }

  // -- packets ------------------------------------------------------------------------------

  bool on_frame(client& c, const pr::frame& f) {
    if (c.r == role::sys)
      ++st.sys_packets_in;
    else
      ++st.packets_in;
    switch (f.type()) {
      case pr::packet_type::connack: {
        auto r = pr::decode_connack(f, fs.version);
        if (!r || c.state != cstate::wait_connack)
          return false;
        return on_connack(c, *r);
      }
      case pr::packet_type::publish: {
        auto r = pr::decode_publish(f, fs.version);
        if (!r)
          return false;
        on_publish(c, *r);
        return true;
      }
      case pr::packet_type::puback: {
        auto r = pr::decode_puback(f, fs.version);
        return r && complete(c, r->packet_id, 0, r->code);
      }
      case pr::packet_type::pubrec: {
        auto r = pr::decode_pubrec(f, fs.version);
        if (!r)
          return false;
        for (auto& p : c.inflight)
          if (p.pid == r->packet_id && p.state == 0) {
            if (static_cast<uint8_t>(r->code) >= 0x80)
              return complete(c, r->packet_id, 0, r->code);
            p.state = 1;
            pr::pubrel rel;
            rel.packet_id = p.pid;
            send(c, rel);
            return true;
          }
        return true; // a PUBREC for a resent PUBREL's message: ignore
      }
      case pr::packet_type::pubcomp: {
        auto r = pr::decode_pubcomp(f, fs.version);
        return r && complete(c, r->packet_id, 1, pr::reason_code::success);
      }
      case pr::packet_type::pubrel: {
        auto r = pr::decode_pubrel(f, fs.version);
        if (!r)
          return false;
        std::erase(c.qos2_in, r->packet_id);
        pr::pubcomp comp;
        comp.packet_id = r->packet_id;
        send(c, comp);
        return true;
      }
      case pr::packet_type::suback: {
        auto r = pr::decode_suback(f, fs.version);
        if (!r || r->packet_id != c.suback_pid || c.state != cstate::wait_suback)
          return false;
        for (auto code : r->codes)
          if (static_cast<uint8_t>(code) >= 0x80)
            error(error_kind::subscribe_refused);
        on_subscribed(c);
        return true;
      }
      case pr::packet_type::pingresp:
        return true;
      case pr::packet_type::disconnect:
        return false;
      default:
        return false;
    }
  }

  /// Completes an outbound QoS flow; a failure reason code leaves the message unconfirmed.
  bool complete(client& c, uint16_t pid, uint8_t state, pr::reason_code code) {
    for (size_t i = 0; i < c.inflight.size(); ++i) {
      auto& p = c.inflight[i];
      if (p.pid == pid && p.state == state) {
        if (static_cast<uint8_t>(code) >= 0x80)
          record_for(c, p.k, p.target).unconfirmed.push_back(p.seq);
        c.inflight.erase(c.inflight.begin() + static_cast<ptrdiff_t>(i));
        fs.inflight.fetch_sub(1, std::memory_order_relaxed);
        return true;
      }
    }
    return true; // late ack for an entry a reconnect already settled
  }

  bool on_connack(client& c, const pr::connack& a) {
    --handshakes;
    if (a.code != pr::reason_code::success) {
      error(error_kind::connack_refused);
      end_connection(c, false);
      retry_later(c);
      return true; // end_connection bumped gen: feeding stops
    }
    const uint64_t now = now_ns();
    st.connect_time.add(now - c.connect_start);
    ++st.connacks;
    if (c.orphan) {
      boost::system::error_code ec;
      c.orphan->close(ec);
      c.orphan.reset();
    }
    c.window = static_cast<uint16_t>(std::min<uint32_t>(c.r == role::sender ? std::max(o.inflight, 256u) : o.inflight,
                                                        a.props.receive_maximum.value_or(65535)));
    const bool resumed = persistent(c) && a.session_present;
    if (resumed)
      ++st.session_resumed;
    if (persistent(c) && !a.session_present && c.first_sub != 0) {
      error(error_kind::session_lost);
      c.first_sub = 0;
    }
    if (!resumed)
      abandon_inflight(c);
    // Resend what the session still owes, in order.
    for (auto& p : c.inflight) {
      if (p.state == 0) {
        write_publish(c, p.k, p.target, p.seq, p.ts, p.pid, true);
        ++st.resends;
      } else {
        pr::pubrel rel;
        rel.packet_id = p.pid;
        send(c, rel);
      }
    }
    c.state = cstate::wait_suback;
    fs.connected.fetch_add(1, std::memory_order_relaxed);
    c.ever_connected = true;
    if (c.r == role::device && o.telemetry_rate > 0) {
      const auto period = static_cast<uint64_t>(1e9 / o.telemetry_rate);
      if (c.next_tele < now)
        c.next_tele = now + std::uniform_int_distribution<uint64_t>(0, period)(rng);
      schedule(c, c.next_tele, 0);
    }
    if (o.keepalive > 0)
      schedule(c, now + uint64_t{o.keepalive} * 500'000'000u, 1);
    pr::subscribe s;
    s.packet_id = next_pid(c);
    std::vector<std::string> filters;
    const auto q = static_cast<pr::qos>(o.qos);
    switch (c.r) {
      case role::device:
        if (!resumed || c.first_sub == 0) {
          if (o.sub_command)
            filters.push_back(o.topic_prefix + "/cmd/" + client_id(c));
          if (o.sub_broadcast)
            filters.push_back(o.topic_prefix + "/bcast/#");
          if (o.sub_shared)
            filters.push_back("$share/fleet/" + o.topic_prefix + "/jobs");
        }
        break;
      case role::consumer:
        if (!resumed || c.first_sub == 0)
          filters.push_back(o.consumers_shared ? "$share/consumers/" + o.topic_prefix + "/tele/+"
                                               : o.topic_prefix + "/tele/+");
        break;
      case role::sys:
        filters.push_back("$SYS/#");
        break;
      case role::sender:
        break;
    }
    if (filters.empty()) {
      on_subscribed(c);
      return true;
    }
    for (auto& flt : filters)
      s.subscriptions.push_back(pr::subscription{flt, c.r == role::sys ? pr::qos::at_most_once : q});
    c.suback_pid = s.packet_id;
    send(c, s);
    return true;
  }

  void on_subscribed(client& c) {
    const uint64_t now = now_ns();
    const bool first_time = c.state == cstate::wait_suback;
    c.state = cstate::ready;
    if (!first_time)
      return;
    if (c.r == role::device) {
      if (!c.life_open)
        c.life_start = now;
      c.life_open = true;
      if (c.first_sub == 0)
        c.first_sub = now;
      fs.dev_flags[c.index].fetch_or(flag_entitled | flag_subscribed, std::memory_order_release);
    } else if (c.first_sub == 0) {
      c.first_sub = now;
      fs.infra_ready.fetch_add(1, std::memory_order_relaxed);
    }
  }

  uint16_t next_pid(client& c) {
    for (;;) {
      if (++c.last_pid == 0)
        c.last_pid = 1;
      bool used = false;
      for (auto& p : c.inflight)
        if (p.pid == c.last_pid) {
          used = true;
          break;
        }
      if (!used)
        return c.last_pid;
    }
  }

  void on_publish(client& c, const pr::publish& p) {
    bool deliver = true;
    if (p.qos_level == pr::qos::at_least_once) {
      pr::puback ack;
      ack.packet_id = p.packet_id;
      send(c, ack);
    } else if (p.qos_level == pr::qos::exactly_once) {
      if (std::find(c.qos2_in.begin(), c.qos2_in.end(), p.packet_id) != c.qos2_in.end())
        deliver = false; // the broker resent before our PUBREC arrived: not a new delivery
      else
        c.qos2_in.push_back(p.packet_id);
      pr::pubrec rec;
      rec.packet_id = p.packet_id;
      send(c, rec);
    }
    if (!deliver)
      return;
    if (c.r == role::sys) {
      if (p.topic.rfind("$SYS/broker/", 0) == 0) {
        fs.sys_now[std::string{p.topic}] = std::string{p.payload};
        if (p.topic.find("messages/received") != std::string_view::npos)
          fs.sys_seen.store(true, std::memory_order_release);
        const auto after = fs.sys_update_after.load(std::memory_order_acquire);
        if (after != 0 && p.topic.find("messages") != std::string_view::npos)
          fs.sys_fresh.store(true, std::memory_order_release);
      }
      return;
    }
    ++st.publish_in;
    fs.pub_in.fetch_add(1, std::memory_order_relaxed);
    const uint64_t now = now_ns();
    fs.last_rx.store(now, std::memory_order_relaxed);
    if (p.payload.size() < header_size) {
      ++st.foreign;
      return;
    }
    const auto* b = reinterpret_cast<const uint8_t*>(p.payload.data());
    uint32_t magic = 0, run = 0, pub = 0;
    uint64_t seq = 0, ts = 0;
    std::memcpy(&magic, b, 4);
    std::memcpy(&run, b + 4, 4);
    std::memcpy(&pub, b + 8, 4);
    std::memcpy(&seq, b + 16, 8);
    std::memcpy(&ts, b + 24, 8);
    const auto k = static_cast<kind>(b[12]);
    if (magic != payload_magic || run != fs.run_id) {
      ++st.foreign;
      return;
    }
    rx_stream* s = nullptr;
    bool ordered = true;
    if (k == kind::tele && c.r == role::consumer && pub < o.devices) {
      if (c.tele_rx.empty())
        c.tele_rx.resize(o.devices);
      s = &c.tele_rx[pub];
      ordered = !o.consumers_shared;
    } else if (c.r == role::device && k == kind::cmd) {
      s = &c.cmd_rx;
    } else if (c.r == role::device && k == kind::bcast) {
      s = &c.bcast_rx;
    } else if (c.r == role::device && k == kind::jobs) {
      s = &c.jobs_rx;
      ordered = false;
    } else {
      ++st.foreign;
      return;
    }
    switch (s->add(seq)) {
      case arrival::duplicate:
        ++st.duplicates;
        return;
      case arrival::out_of_order:
        if (ordered)
          ++st.out_of_order;
        break;
      case arrival::in_order:
        break;
    }
    st.latency.add(now > ts ? now - ts : 0);
  }

  void write_publish(client& c, kind k, uint32_t target, uint64_t seq, uint64_t ts, uint16_t pid, bool dup) {
    const uint32_t publisher = c.r == role::device ? c.index : 0xFFFFFFF0u;
    scratch.assign(o.payload, 0);
    put_header(scratch.data(), fs.run_id, publisher, k, seq, ts);
    pr::publish p;
    p.qos_level = static_cast<pr::qos>(o.qos);
    p.dup = dup && o.qos > 0;
    p.packet_id = o.qos > 0 ? pid : 0;
    p.topic = topic_for(k, c, target);
    p.payload = std::string_view{reinterpret_cast<const char*>(scratch.data()), scratch.size()};
    send(c, p);
  }

  /// Publishes a new message of stream `k`; false when the in-flight window is full.
  bool publish_new(client& c, kind k, uint32_t target) {
    if (c.state < cstate::wait_suback)
      return false;
    if (o.qos > 0 && c.inflight.size() >= c.window)
      return false;
    auto& rec = record_for(c, k, target);
    const uint64_t ts = now_ns();
    const uint64_t seq = rec.next++;
    if (k != kind::tele)
      rec.ts.push_back(ts);
    uint16_t pid = 0;
    if (o.qos > 0) {
      pid = next_pid(c);
      c.inflight.push_back(pending_out{seq, ts, target, pid, k, 0});
      fs.inflight.fetch_add(1, std::memory_order_relaxed);
    }
    write_publish(c, k, target, seq, ts, pid, false);
    ++st.publish_out;
    fs.pub_out.fetch_add(1, std::memory_order_relaxed);
    return true;
  }

  // -- the tick -----------------------------------------------------------------------------

  void start() {
    tick.expires_after(std::chrono::milliseconds(1));
    tick.async_wait([this](const boost::system::error_code& ec) {
      if (!ec)
        on_tick();
    });
  }

  void on_tick() {
    const uint64_t now = now_ns();
    const double dt = last_tick ? static_cast<double>(now - last_tick) / 1e9 : 0.001;
    last_tick = now;
    const auto ph = phase();
    if (static_cast<int>(ph) != seen_phase)
      enter_phase(ph);
    if (ph == phase_t::done) {
      finish();
      return;
    }
    // Connect ramp: urgent (reconnects, storms) first, then the ramp at its rate.
    while (!urgent_q.empty() && handshakes < o.connect_parallel) {
      auto* c = urgent_q.front();
      urgent_q.pop_front();
      start_connect(*c);
    }
    if (o.connect_rate > 0) {
      ramp_budget = std::min(ramp_budget + o.connect_rate / o.threads * dt, o.connect_rate / o.threads * 0.05 + 1);
    } else {
      ramp_budget = 1e18;
    }
    while (!ramp_q.empty() && handshakes < o.connect_parallel && ramp_budget >= 1) {
      auto* c = ramp_q.front();
      ramp_q.pop_front();
      ramp_budget -= 1;
      start_connect(*c);
    }
    // Storms and random drops (only while the run is on).
    if (ph == phase_t::run) {
      const uint32_t storm = fs.storm_id.load(std::memory_order_acquire);
      if (storm != seen_storm) {
        seen_storm = storm;
        std::uniform_real_distribution<double> u(0, 1);
        for (auto* c : devices)
          if (c->state == cstate::ready && u(rng) < o.storm_fraction)
            drop(*c, true);
      }
      if (o.disconnect_rate > 0 && !devices.empty()) {
        drop_budget += o.disconnect_rate * static_cast<double>(devices.size()) * dt;
        while (drop_budget >= 1) {
          drop_budget -= 1;
          auto* c = devices[std::uniform_int_distribution<size_t>(0, devices.size() - 1)(rng)];
          if (c->state == cstate::ready)
            drop(*c, false);
        }
      }
    }
    // Timers.
    while (!timers.empty() && timers.top().due <= now) {
      auto ev = timers.top();
      timers.pop();
      on_event(ev, now);
    }
    if (sender && ph == phase_t::run)
      run_sender(dt);
    if (o.scenario == "backlog")
      backlog_tick();
    for (auto& c : clients)
      if (!c.out.empty())
        flush(c);
    start();
  }

  void enter_phase(phase_t ph) {
    seen_phase = static_cast<int>(ph);
    if (ph == phase_t::run) {
      for (auto* c : devices)
        enqueue_connect(*c, false);
      if (sys)
        fs.sys_start = fs.sys_now;
    } else if (ph == phase_t::drain) {
      // Everyone comes back, so persistent sessions deliver what they queued.
      for (auto& c : clients)
        if (c.state == cstate::idle)
          enqueue_connect(c, true);
      for (auto* c : ramp_q)
        urgent_q.push_back(c);
      ramp_q.clear();
    }
  }

  void on_event(const event& ev, uint64_t now) {
    client& c = *ev.c;
    if (ev.gen != c.gen)
      return;
    switch (ev.what) {
      case 0: { // telemetry
        if (phase() != phase_t::run)
          return;
        if (!publish_new(c, kind::tele, 0))
          ++st.tele_skipped;
        const auto period = static_cast<uint64_t>(1e9 / o.telemetry_rate);
        c.next_tele += period;
        if (c.next_tele + 1'000'000'000u < now)
          c.next_tele = now + period;
        schedule(c, c.next_tele, 0);
        break;
      }
      case 1: { // keep-alive
        if (c.state < cstate::wait_suback)
          return;
        const uint64_t half = uint64_t{o.keepalive} * 500'000'000u;
        if (now - c.last_send >= half)
          send(c, pr::pingreq{});
        schedule(c, now + half, 1);
        break;
      }
      case 2: // reconnect
        if (c.state == cstate::idle && phase() != phase_t::done)
          enqueue_connect(c, true);
        break;
      case 3: // watchdog
        if (c.state == cstate::connecting || c.state == cstate::wait_connack) {
          error(c.state == cstate::connecting ? error_kind::connect_failed : error_kind::connack_timeout);
          end_connection(c, false);
          retry_later(c);
        }
        break;
    }
  }

  void run_sender(double dt) {
    auto& s = *sender;
    if (s.state < cstate::wait_suback)
      return;
    auto step = [&](double rate, double& budget, auto&& one) {
      if (rate <= 0)
        return;
      budget = std::min(budget + rate * dt, rate * 0.1 + 1);
      while (budget >= 1) {
        if (!one())
          break;
        budget -= 1;
      }
    };
    step(o.command_rate, cmd_budget, [&] {
      if (o.devices == 0 || !o.sub_command)
        return false;
      std::uniform_int_distribution<uint32_t> pick(0, o.devices - 1);
      for (int attempt = 0; attempt < 4; ++attempt) {
        const uint32_t d = pick(rng);
        const uint8_t fl = fs.dev_flags[d].load(std::memory_order_acquire);
        const bool ok = o.persistent ? (fl & flag_subscribed) : (fl & flag_entitled);
        if (ok)
          return publish_new(s, kind::cmd, d);
      }
      ++st.cmd_skipped;
      return true;
    });
    step(o.broadcast_rate, bcast_budget, [&] { return o.sub_broadcast && publish_new(s, kind::bcast, 0); });
    step(o.shared_rate, jobs_budget, [&] { return o.sub_shared && publish_new(s, kind::jobs, 0); });
  }

  void finish() {
    if (finished)
      return;
    finished = true;
    for (auto& c : clients) {
      if (c.sock && c.state >= cstate::wait_suback) {
        send(c, pr::disconnect{});
        flush(c);
      }
      for (auto& p : c.inflight)
        record_for(c, p.k, p.target).unconfirmed.push_back(p.seq);
      if (c.sock) {
        boost::system::error_code ec;
        c.sock->close(ec);
      }
      c.orphan.reset();
      ++c.gen;
    }
    fs.workers_done.fetch_add(1);
    io.stop();
  }
};

// -- setup helpers ----------------------------------------------------------------------------

/// Raises RLIMIT_NOFILE: soft and hard up to fs.nr_open when allowed (root), else soft to hard.
std::string raise_fd_limit(uint64_t wanted) {
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  const auto before = lim.rlim_cur;
  uint64_t nr_open = 1 << 20;
  if (std::ifstream f{"/proc/sys/fs/nr_open"}; f)
    f >> nr_open;
  rlimit want{};
  want.rlim_max = std::max<rlim_t>(lim.rlim_max, static_cast<rlim_t>(std::min<uint64_t>(nr_open, std::max<uint64_t>(wanted, lim.rlim_max))));
  want.rlim_cur = want.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &want) != 0) {
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
  }
  getrlimit(RLIMIT_NOFILE, &lim);
  return std::to_string(before) + " -> " + std::to_string(lim.rlim_cur);
}

struct rx_totals {
  uint64_t sent = 0, confirmed = 0, expected = 0, received_unique = 0, lost = 0, unentitled = 0,
           lost_tail = 0; ///< of lost: above the highest number received (dropped, or still queued)
};

bool contains_sorted(const std::vector<uint64_t>& v, uint64_t x) {
  return std::binary_search(v.begin(), v.end(), x);
}

/// Loss of one (publisher, subscriber) stream. `entitled(seq)` says whether the subscriber had
/// to get message `seq`.
template <class Entitled>
void account(const tx_record& tx, const rx_stream& rx, Entitled&& entitled, rx_totals& t) {
  for (uint64_t s = 0; s < tx.next; ++s) {
    const bool got = rx.has(s);
    if (contains_sorted(tx.unconfirmed, s))
      continue;
    if (!entitled(s)) {
      ++t.unentitled;
      continue;
    }
    ++t.expected;
    if (!got) {
      ++t.lost;
      if (s >= rx.next())
        ++t.lost_tail;
    }
  }
}

} // namespace

int run(const options& o) {
  fleet_state fs{o};
  fs.version = o.mqtt == 5 ? pr::protocol_version::v5 : pr::protocol_version::v311;
  std::random_device rd;
  fs.run_id = rd() ^ static_cast<uint32_t>(now_ns());
  boost::system::error_code ec;
  auto addr = asio::ip::make_address_v4(o.host, ec);
  if (ec) {
    std::fprintf(stderr, "actormq-fleet: --host must be an IPv4 address: %s\n", o.host.c_str());
    return 1;
  }
  fs.broker = tcp::endpoint{addr, o.port};
  const uint64_t total_clients = uint64_t{o.devices} + o.consumers + 2;
  const std::string fd_limit = raise_fd_limit(total_clients * 2 + 64);
  uint32_t sources = o.source_addresses;
  if (sources == 0 && addr.is_loopback())
    sources = total_clients > 20000 ? static_cast<uint32_t>((total_clients + 19999) / 20000) : 0;
  for (uint32_t i = 1; i <= sources && i < 255; ++i)
    fs.sources.push_back(asio::ip::make_address_v4("127.0.0." + std::to_string(i)));
  fs.dev_flags = std::make_unique<std::atomic<uint8_t>[]>(std::max<uint32_t>(o.devices, 1));
  fs.cmd_tx.resize(o.devices);

  const unsigned nthreads = std::max(1u, o.threads);
  for (unsigned i = 0; i < nthreads; ++i)
    fs.workers.push_back(std::make_unique<worker>(fs, i));
  auto& w0 = *fs.workers[0];
  {
    auto& s = w0.clients.emplace_back();
    s.r = role::sender;
    w0.sender = &s;
    ++fs.infra_total;
  }
  if (o.sys) {
    auto& s = w0.clients.emplace_back();
    s.r = role::sys;
    w0.sys = &s;
    ++fs.infra_total;
  }
  for (uint32_t i = 0; i < o.consumers; ++i) {
    auto& w = *fs.workers[i % nthreads];
    auto& c = w.clients.emplace_back();
    c.r = role::consumer;
    c.index = i;
    ++fs.infra_total;
  }
  for (uint32_t i = 0; i < o.devices; ++i) {
    auto& w = *fs.workers[i % nthreads];
    auto& c = w.clients.emplace_back();
    c.r = role::device;
    c.index = i;
    w.devices.push_back(&c);
  }
  for (auto& w : fs.workers)
    for (auto& c : w->clients)
      if (c.r != role::device || o.scenario == "backlog")
        w->enqueue_connect(c, true);

  report rep{o};
  rep.fd_limit = fd_limit;
  rep.source_addresses = static_cast<uint32_t>(fs.sources.size());
  rep.start_progress();

  rusage ru0{};
  getrusage(RUSAGE_SELF, &ru0);
  const uint64_t t0 = now_ns();
  std::vector<std::thread> threads;
  for (auto& w : fs.workers)
    threads.emplace_back([&w] {
      w->start();
      w->io.run();
    });

  auto set_phase = [&](phase_t p) { fs.phase.store(static_cast<int>(p), std::memory_order_release); };
  auto seconds_since = [](uint64_t t) { return static_cast<double>(now_ns() - t) / 1e9; };
  auto sample = [&] {
    return live_sample{fs.connected.load(), static_cast<int64_t>(o.devices) + fs.infra_total, fs.pub_out.load(),
                       fs.pub_in.load(), fs.errors.load(), fs.inflight.load()};
  };

  // Setup: consumers, command sender (and $SYS reader) connected and subscribed.
  bool setup_ok = true;
  while (fs.infra_ready.load() < static_cast<int64_t>(fs.infra_total)) {
    if (seconds_since(t0) > o.setup_timeout) {
      setup_ok = false;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (o.sys && setup_ok) {
    // Retained $SYS values arrive right after SUBACK, others at the broker's next $SYS
    // interval: wait for a messages/received value (at most --sys-wait), then a moment more
    // for the rest of that batch.
    const uint64_t t = now_ns();
    while (!fs.sys_seen.load(std::memory_order_acquire) && seconds_since(t) < o.sys_wait)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  const uint64_t run_start = now_ns();
  double run_s = 0, drain_s = 0;
  if (setup_ok && o.scenario == "backlog") {
    auto wait_for = [&](auto&& pred, double limit) {
      const uint64_t t = now_ns();
      while (!pred()) {
        if (seconds_since(t) > limit)
          return false;
        std::this_thread::sleep_for(std::chrono::microseconds(200));
        rep.progress(seconds_since(run_start), sample());
      }
      return true;
    };
    setup_ok = wait_for([&] { return (fs.dev_flags[0].load() & flag_subscribed) != 0; }, o.setup_timeout);
    if (setup_ok) {
      fs.backlog_step.store(1);
      wait_for([&] { return fs.backlog_step.load() == 2; }, 10);
      // The tool's CPU per phase: the whole-run figure includes set-up and idle waits, so it
      // would hide a tool that saturates its core while queueing or draining.
      auto cpu_now = [] {
        rusage r{};
        getrusage(RUSAGE_SELF, &r);
        return static_cast<double>(r.ru_utime.tv_sec + r.ru_stime.tv_sec) +
               static_cast<double>(r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
      };
      auto pct = [](double cpu_s, double wall_s) { return wall_s > 0 ? 100.0 * cpu_s / wall_s : 0.0; };
      const double qc0 = cpu_now();
      const uint64_t q0 = now_ns();
      wait_for([&] { return fs.pub_out.load() >= o.backlog && fs.inflight.load() == 0; }, o.duration);
      rep.backlog_queue_s = seconds_since(q0);
      rep.backlog_queue_cpu_pct = pct(cpu_now() - qc0, rep.backlog_queue_s);
      const uint64_t in0 = fs.pub_in.load();
      const double dc0 = cpu_now();
      const uint64_t d0 = now_ns();
      fs.backlog_step.store(3);
      uint64_t seen = in0, last_change = now_ns();
      wait_for([&] {
        const uint64_t n = fs.pub_in.load();
        if (n != seen) {
          seen = n;
          last_change = now_ns();
        }
        return n - in0 >= fs.pub_out.load() || now_ns() - last_change > uint64_t(o.drain * 1e9);
      }, o.duration);
      rep.backlog_drain_cpu_pct = pct(cpu_now() - dc0, seconds_since(d0));
      const uint64_t last = fs.last_rx.load();
      rep.backlog_drain_s = last > d0 ? static_cast<double>(last - d0) / 1e9 : 0;
      // Let the last acknowledgements reach the broker before we disconnect.
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    run_s = seconds_since(run_start);
  } else if (setup_ok) {
    set_phase(phase_t::run);
    uint32_t storms = 0;
    while (seconds_since(run_start) < o.duration) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      const double t = seconds_since(run_start);
      if (o.storm_every > 0 && t >= o.storm_at + storms * o.storm_every && t < o.duration) {
        ++storms;
        fs.storm_id.fetch_add(1, std::memory_order_release);
      }
      rep.progress(t, sample());
    }
    rep.storms = storms;
    run_s = seconds_since(run_start);
    // Drain: everyone reconnects; wait for in-flight flows and quiet inboxes.
    set_phase(phase_t::drain);
    const uint64_t drain_start = now_ns();
    const int64_t everyone = static_cast<int64_t>(o.devices) + fs.infra_total;
    while (seconds_since(drain_start) < o.drain) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      rep.progress(seconds_since(run_start), sample());
      const uint64_t last = fs.last_rx.load();
      const bool quiet = now_ns() - std::max(last, drain_start) > 500'000'000u;
      if (fs.connected.load() == everyone && fs.inflight.load() == 0 && quiet)
        break;
    }
    drain_s = seconds_since(drain_start);
    if (o.sys) {
      fs.sys_update_after.store(now_ns(), std::memory_order_release);
      set_phase(phase_t::sys_wait);
      const uint64_t t = now_ns();
      while (!fs.sys_fresh.load() && seconds_since(t) < o.sys_wait)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      rep.sys_fresh = fs.sys_fresh.load();
    }
  }
  set_phase(phase_t::done);
  for (auto& th : threads)
    th.join();
  rusage ru1{};
  getrusage(RUSAGE_SELF, &ru1);
  rep.end_progress();

  // -- accounting -------------------------------------------------------------------------------
  worker_stats all;
  std::vector<client*> devices(o.devices, nullptr), consumers(o.consumers, nullptr);
  for (auto& w : fs.workers) {
    auto& s = w->st;
    for (size_t i = 0; i < all.errors.size(); ++i)
      all.errors[i] += s.errors[i];
    all.latency.merge(s.latency);
    all.connect_time.merge(s.connect_time);
#define AMQ_SUM(x) all.x += s.x
    AMQ_SUM(connect_attempts); AMQ_SUM(connacks); AMQ_SUM(session_resumed); AMQ_SUM(drops_random);
    AMQ_SUM(drops_storm); AMQ_SUM(takeovers); AMQ_SUM(packets_out); AMQ_SUM(packets_in);
    AMQ_SUM(publish_out); AMQ_SUM(publish_in); AMQ_SUM(resends); AMQ_SUM(foreign);
    AMQ_SUM(tele_skipped); AMQ_SUM(cmd_skipped); AMQ_SUM(duplicates); AMQ_SUM(out_of_order);
    AMQ_SUM(sys_packets_out); AMQ_SUM(sys_packets_in);
#undef AMQ_SUM
    for (auto& c : w->clients) {
      std::sort(c.tele.unconfirmed.begin(), c.tele.unconfirmed.end());
      if (c.r == role::device)
        devices[c.index] = &c;
      else if (c.r == role::consumer)
        consumers[c.index] = &c;
    }
  }
  for (auto& t : fs.cmd_tx)
    std::sort(t.unconfirmed.begin(), t.unconfirmed.end());
  std::sort(fs.bcast_tx.unconfirmed.begin(), fs.bcast_tx.unconfirmed.end());
  std::sort(fs.jobs_tx.unconfirmed.begin(), fs.jobs_tx.unconfirmed.end());

  auto confirmed = [](const tx_record& t) { return t.next - t.unconfirmed.size(); };
  // Telemetry: device -> consumers (each consumer, or the shared group as one subscriber).
  rx_totals tele, cmd, bcast, jobs;
  static const rx_stream empty_rx;
  auto always = [](uint64_t) { return true; };
  if (o.consumers_shared && !consumers.empty()) {
    for (uint32_t d = 0; d < o.devices; ++d) {
      rx_stream merged;
      for (auto* c : consumers)
        if (!c->tele_rx.empty())
          all.duplicates += merged.merge(c->tele_rx[d]);
      account(devices[d]->tele, merged, always, tele);
      tele.received_unique += merged.unique();
    }
  } else {
    for (auto* c : consumers)
      for (uint32_t d = 0; d < o.devices; ++d) {
        const auto& rx = c->tele_rx.empty() ? empty_rx : c->tele_rx[d];
        account(devices[d]->tele, rx, always, tele);
        tele.received_unique += rx.unique();
      }
  }
  for (uint32_t d = 0; d < o.devices; ++d) {
    tele.sent += devices[d]->tele.next;
    tele.confirmed += confirmed(devices[d]->tele);
  }
  // Commands, broadcasts: sender -> each device, entitled by the device's subscription life.
  auto entitled = [&](const client& dev, const tx_record& tx) {
    return [&dev, &tx, &o](uint64_t s) {
      const uint64_t ts = tx.ts[s];
      if (o.persistent)
        return dev.first_sub != 0 && ts >= dev.first_sub;
      return dev.life_open && ts >= dev.life_start;
    };
  };
  for (uint32_t d = 0; d < o.devices; ++d) {
    auto& dev = *devices[d];
    account(fs.cmd_tx[d], dev.cmd_rx, entitled(dev, fs.cmd_tx[d]), cmd);
    cmd.received_unique += dev.cmd_rx.unique();
    cmd.sent += fs.cmd_tx[d].next;
    cmd.confirmed += confirmed(fs.cmd_tx[d]);
    if (o.sub_broadcast) {
      account(fs.bcast_tx, dev.bcast_rx, entitled(dev, fs.bcast_tx), bcast);
      bcast.received_unique += dev.bcast_rx.unique();
    }
  }
  bcast.sent = fs.bcast_tx.next;
  bcast.confirmed = confirmed(fs.bcast_tx);
  // Jobs: sender -> the shared group. Entitled when some member had subscribed and, for clean
  // sessions, no device was ever dropped (a dropped member's messages may be gone legally).
  if (o.sub_shared) {
    rx_stream merged;
    uint64_t first = 0;
    bool any_drop = all.drops_random + all.drops_storm > 0 ||
                    all.errors[static_cast<size_t>(error_kind::closed_by_broker)] > 0;
    for (auto* dev : devices) {
      all.duplicates += merged.merge(dev->jobs_rx);
      if (dev->first_sub && (first == 0 || dev->first_sub < first))
        first = dev->first_sub;
    }
    account(fs.jobs_tx, merged,
            [&](uint64_t s) { return first != 0 && fs.jobs_tx.ts[s] >= first && (o.persistent || !any_drop); },
            jobs);
    jobs.received_unique = merged.unique();
    jobs.sent = fs.jobs_tx.next;
    jobs.confirmed = confirmed(fs.jobs_tx);
  }

  // -- report -------------------------------------------------------------------------------------
  rep.setup_ok = setup_ok;
  rep.run_s = run_s;
  rep.drain_s = drain_s;
  auto cpu = [](const rusage& r) {
    return static_cast<double>(r.ru_utime.tv_sec + r.ru_stime.tv_sec) +
           static_cast<double>(r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
  };
  const double wall = seconds_since(t0);
  rep.tool_cpu_pct = wall > 0 ? 100.0 * (cpu(ru1) - cpu(ru0)) / wall : 0;
  rep.tool_rss_kb = static_cast<uint64_t>(ru1.ru_maxrss);
  auto cls = [](const char* name, const rx_totals& t) {
    return class_totals{name, t.sent, t.confirmed, t.expected, t.received_unique, t.lost, t.unentitled, t.lost_tail};
  };
  rep.classes = {cls("telemetry", tele), cls("commands", cmd)};
  if (o.sub_broadcast)
    rep.classes.push_back(cls("broadcast", bcast));
  if (o.sub_shared)
    rep.classes.push_back(cls("jobs", jobs));
  rep.latency = &all.latency;
  rep.connect_time = &all.connect_time;
  for (size_t i = 0; i < all.errors.size(); ++i)
    if (all.errors[i])
      rep.errors.emplace_back(std::string{error_names[i]}, all.errors[i]);
  rep.counters = {
    {"connect_attempts", all.connect_attempts}, {"connacks", all.connacks},
    {"sessions_resumed", all.session_resumed}, {"drops_random", all.drops_random},
    {"drops_storm", all.drops_storm}, {"takeovers", all.takeovers},
    {"packets_out", all.packets_out}, {"packets_in", all.packets_in},
    {"publish_out", all.publish_out}, {"publish_in", all.publish_in}, {"resent", all.resends},
    {"duplicated", all.duplicates}, {"out_of_order", all.out_of_order}, {"foreign", all.foreign},
    {"telemetry_skipped_window_full", all.tele_skipped}, {"commands_skipped_no_target", all.cmd_skipped},
    {"sys_client_packets_out", all.sys_packets_out}, {"sys_client_packets_in", all.sys_packets_in}};
  if (o.sys) {
    for (auto& [k, v] : fs.sys_now) {
      auto it = fs.sys_start.find(k);
      rep.sys.push_back({k, it == fs.sys_start.end() ? std::string{} : it->second, v});
    }
  }
  return rep.finish();
}

} // namespace amq::fleet
