#define CAF_SUITE actors_fleet
#include <caf/test/unit_test.hpp>

// A fleet of 100,000 simulated clients (AMQ_FLEET_SIZE overrides, e.g. for a quick local run) against the real registry, session
// and router actors, in process, under CAF's test coordinator: persistent
// and clean sessions, MQTT 3.1.1 and 5.0, each subscribed to its own command
// topic at QoS 1 or 2. Publishers send one message to every client per round
// while a reconnect storm runs concurrently (connections dropped, clients
// returning, takeovers, two simultaneous takeovers). Asserts that no
// persistent session loses a QoS 1/2 message, that no session ever gets a
// message twice except as a DUP redelivery of one it could not acknowledge,
// and that order is kept.

#include "actor_fixture.hpp"

#include "amq/log.hpp"

#include <chrono>
#include <cstdlib>
#include <unordered_set>

using namespace amq;
using namespace amq::actors;
using namespace amq::test;
using protocol::qos;

namespace {

/// 100,000 device sessions by default; AMQ_FLEET_SIZE=<n> overrides.
const int fleet_size = [] {
  const char* env = std::getenv("AMQ_FLEET_SIZE");
  const int n = env ? std::atoi(env) : 0;
  return n > 0 ? n : 100'000;
}();
constexpr int publisher_count = 8;
constexpr int rounds = 5;

/// One simulated client and everything it observed.
struct sim {
  std::string id;
  std::string topic;
  protocol_version version = v5;
  bool persistent = false;
  qos q = qos::at_least_once;
  /// Every connection it ever opened; the last one not closed is live.
  std::vector<client> conns;
  int published = 0;           ///< messages published to it so far
  std::vector<int> got;        ///< first receipts, in order
  std::unordered_set<int> seen;
  int redeliveries = 0;        ///< DUP copies of messages already seen
  int duplicates = 0;          ///< copies WITHOUT DUP: an error
  int lost_sessions = 0;       ///< persistent but Session Present 0: an error
  bool had_session = false;

  client* live() {
    for (auto i = conns.rbegin(); i != conns.rend(); ++i)
      if (!i->conn->is_closed())
        return &*i;
    return nullptr;
  }

  size_t live_count() const {
    size_t n = 0;
    for (auto& c : conns)
      n += c.conn->is_closed() ? 0 : 1;
    return n;
  }
};

struct fixture : actor_fixture {
  caf::actor router;
  caf::actor registry;
  std::vector<sim> fleet;
  std::vector<client> publishers;
  uint64_t rng = 0x9E3779B97F4A7C15ull;

  fixture() {
    // 100,000 connects and disconnects: log only warnings and errors.
    amq::log::get().set_level(spdlog::level::warn);
    router = spawn_router(sys, limits, caf::actor{});
    registry = spawn_registry(sys, limits, router, caf::actor{});
    sched.run();
  }

  ~fixture() {
    std::vector<caf::actor> all{registry, router};
    for (auto& [cid, e] : deref<registry_actor_type>(registry).state.sessions)
      all.push_back(e.session);
    stop_actors(all);
  }

  uint64_t next_random() {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
  }

  connect_options options(const sim& s) const {
    return s.persistent ? connect_options{false, 3600} : connect_options{true};
  }

  /// Opens a new connection for `s` and sends its CONNECT (does not run).
  void dial(sim& s) {
    auto c = make_client(s.id, s.version, registry);
    if (!s.conns.empty())
      c.next_packet_id = s.conns.back().next_packet_id;
    caf::anon_send(registry, connect_atom::value, net::connection_ptr{c.conn},
                   make_connect_frame(c.connect_packet(options(s))), c.link);
    s.conns.push_back(std::move(c));
  }

  /// Reads what `s` received on all its connections and answers on the live
  /// one. Returns whether it sent anything.
  bool pump(sim& s) {
    bool sent = false;
    auto* lv = s.live();
    for (auto& c : s.conns) {
      auto ps = c.conn->take();
      bool is_live = &c == lv;
      for (auto& p : ps) {
        if (auto ack = std::get_if<protocol::connack>(&p)) {
          if (s.persistent && s.had_session && !ack->session_present)
            ++s.lost_sessions;
          if (!is_live)
            continue;
          if (!ack->session_present) {
            c.subscribe(s.topic, s.q);
            sent = true;
          }
          s.had_session = true;
        } else if (auto pub = std::get_if<protocol::publish>(&p)) {
          auto k = std::stoi(std::string{pub->payload});
          if (s.seen.insert(k).second)
            s.got.push_back(k);
          else if (pub->dup)
            ++s.redeliveries;
          else
            ++s.duplicates;
          if (is_live) {
            if (pub->qos_level == qos::at_least_once)
              c.ack<protocol::puback>(pub->packet_id);
            else if (pub->qos_level == qos::exactly_once)
              c.ack<protocol::pubrec>(pub->packet_id);
            sent = true;
          }
        } else if (auto rel = std::get_if<protocol::pubrel>(&p)) {
          if (is_live) {
            c.ack<protocol::pubcomp>(rel->packet_id);
            sent = true;
          }
        }
      }
    }
    return sent;
  }

  bool pump_publisher(client& p) {
    bool sent = false;
    for (auto& x : p.conn->take()) {
      if (auto rec = std::get_if<protocol::pubrec>(&x)) {
        p.ack<protocol::pubrel>(rec->packet_id);
        sent = true;
      }
    }
    return sent;
  }

  /// Runs actors and clients until nobody has anything left to do.
  void quiesce() {
    for (;;) {
      settle();
      bool any = false;
      for (auto& s : fleet)
        any |= pump(s);
      for (auto& p : publishers)
        any |= pump_publisher(p);
      if (!any)
        return;
    }
  }

  /// Queues one message to every client, one read (= one route batch) per
  /// publisher. Does not run.
  void publish_round() {
    std::vector<std::vector<uint8_t>> bufs(publishers.size());
    for (size_t i = 0; i < fleet.size(); ++i) {
      auto& s = fleet[i];
      auto& pc = publishers[i % publishers.size()];
      protocol::publish p;
      p.topic = s.topic;
      p.qos_level = s.q;
      p.packet_id = pc.packet_id();
      auto payload = std::to_string(s.published++);
      p.payload = payload;
      protocol::encode(p, v5, bufs[i % publishers.size()]);
    }
    for (size_t j = 0; j < publishers.size(); ++j)
      publishers[j].send_bytes(bufs[j]);
  }

  /// Drops, restores and takes over connections of ~30% of the fleet.
  /// Does not run: everything races with the messages in flight.
  void storm() {
    for (auto& s : fleet) {
      auto r = next_random() % 100;
      if (r >= 30)
        continue;
      auto* lv = s.live();
      if (!lv) {
        dial(s); // back online
      } else if (r < 10) {
        peer_close(*lv); // connection lost
      } else if (r < 22) {
        dial(s); // takeover
      } else {
        dial(s); // two takeovers at once
        dial(s);
      }
    }
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(fleet_tests, fixture)

CAF_TEST(a hundred thousand sessions survive a reconnect storm without loss or duplicates) {
  auto t0 = std::chrono::steady_clock::now();
  for (int j = 0; j < publisher_count; ++j) {
    publishers.push_back(make_client("pub-" + std::to_string(j), v5, registry));
    auto& p = publishers.back();
    caf::anon_send(registry, connect_atom::value, net::connection_ptr{p.conn},
                   make_connect_frame(p.connect_packet(connect_options{true})), p.link);
  }
  fleet.resize(fleet_size);
  for (int i = 0; i < fleet_size; ++i) {
    auto& s = fleet[i];
    s.id = "dev-" + std::to_string(i);
    s.topic = "cmd/" + s.id;
    s.persistent = i % 2 == 0;
    s.version = (i / 2) % 2 == 0 ? v5 : v311;
    s.q = i % 3 == 0 ? qos::exactly_once : qos::at_least_once;
    dial(s);
  }
  quiesce();
  CAF_REQUIRE_EQUAL(deref<registry_actor_type>(registry).state.sessions.size(),
                    static_cast<size_t>(fleet_size + publisher_count));
  for (auto& p : publishers)
    CAF_REQUIRE(!p.conn->is_closed());
  // Persistent sessions exist from here on: everything published to them
  // must arrive.
  for (int r = 0; r < rounds; ++r) {
    storm();
    publish_round();
    storm();
    quiesce();
    size_t multi = 0;
    for (auto& s : fleet)
      multi += s.live_count() > 1 ? 1 : 0;
    CAF_CHECK_EQUAL(multi, 0u); // never two attached connections
  }
  // Everybody comes back; one last message must reach every client.
  for (auto& s : fleet)
    if (!s.live())
      dial(s);
  quiesce();
  publish_round();
  quiesce();
  size_t persistent_incomplete = 0, out_of_order = 0, duplicates = 0, lost_sessions = 0,
         missing_last = 0, offline = 0, redeliveries = 0, clean_received = 0;
  for (auto& s : fleet) {
    offline += s.live() ? 0 : 1;
    duplicates += s.duplicates;
    lost_sessions += s.lost_sessions;
    redeliveries += s.redeliveries;
    if (!std::is_sorted(s.got.begin(), s.got.end()))
      ++out_of_order;
    if (s.got.empty() || s.got.back() != s.published - 1)
      ++missing_last;
    if (s.persistent) {
      bool complete = static_cast<int>(s.got.size()) == s.published;
      for (int k = 0; complete && k < s.published; ++k)
        complete = s.got[k] == k;
      persistent_incomplete += complete ? 0 : 1;
    } else {
      clean_received += s.got.size();
    }
  }
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
              std::chrono::steady_clock::now() - t0)
              .count();
  CAF_MESSAGE(fleet_size << " sessions, " << rounds + 1 << " messages each, " << redeliveries
                         << " DUP redeliveries, " << clean_received
                         << " messages to clean sessions, " << ms << " ms");
  CAF_CHECK_EQUAL(offline, 0u);
  CAF_CHECK_EQUAL(duplicates, 0u);
  CAF_CHECK_EQUAL(lost_sessions, 0u);
  CAF_CHECK_EQUAL(out_of_order, 0u);
  CAF_CHECK_EQUAL(persistent_incomplete, 0u);
  CAF_CHECK_EQUAL(missing_last, 0u);
  CAF_CHECK_EQUAL(deref<registry_actor_type>(registry).state.sessions.size(),
                  static_cast<size_t>(fleet_size + publisher_count));
}

CAF_TEST_FIXTURE_SCOPE_END()
