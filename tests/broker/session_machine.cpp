#define CAF_SUITE broker_session_machine
#include <caf/test/unit_test.hpp>

// Deterministic tests of the session state machine
// (amq/broker/session_machine.hpp), written from MQTT 3.1.1, MQTT 5.0 and the
// seed's session model (docs/sessions.md: when a session is clean or
// persistent). No actors, no sockets: a fake clock, client packets encoded
// with the codec and fed as bytes, server output framed and decoded back.

#include "amq/broker/session_machine.hpp"
#include "amq/protocol/packet.hpp"
#include "amq/storage/store.hpp"

#include <algorithm>
#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

using namespace amq::broker;
using namespace amq::protocol;
using namespace std::chrono_literals;

namespace {

using time_point = session_machine::time_point;

constexpr auto v311 = protocol_version::v311;
constexpr auto v5 = protocol_version::v5;
constexpr protocol_version both_versions[] = {v311, v5};

int code(reason_code rc) {
  return static_cast<int>(rc);
}

int level(qos q) {
  return static_cast<int>(q);
}

const char* name(protocol_version v) {
  return v == v5 ? "MQTT 5.0" : "MQTT 3.1.1";
}

/// One client session under test, driven by a fake clock.
struct fixture {
  time_point now = time_point{} + 1000h;
  session_limits limits;
  protocol_version ver = v5;
  std::string client_id = "client-1";
  std::unique_ptr<session_machine> sm;
  /// Backing storage of decoded packets (they view these bytes).
  std::deque<std::vector<uint8_t>> wire;
  std::deque<packet> inbox;

  // -- setup ------------------------------------------------------------------

  /// A fresh machine (no session) speaking `v`.
  void make(protocol_version v) {
    ver = v;
    sm = std::make_unique<session_machine>(client_id, limits);
    inbox.clear();
  }

  session_machine& m() {
    return *sm;
  }

  void advance(std::chrono::milliseconds d) {
    now += d;
  }

  /// CONNECT with Clean Start / Clean Session `clean`, Session Expiry
  /// Interval `expiry` (5.0 only), keep alive `ka`.
  connect conn(bool clean, std::optional<uint32_t> expiry = std::nullopt, uint16_t ka = 0) {
    connect c;
    c.version = ver;
    c.clean_start = clean;
    c.keep_alive = ka;
    c.client_id = client_id;
    if (ver == v5)
      c.props.session_expiry_interval = expiry;
    return c;
  }

  /// A will on topic "will/t".
  static void add_will(connect& c, uint32_t delay = 0, qos q = qos::at_least_once) {
    will_message w;
    w.qos_level = q;
    w.topic = "will/t";
    w.payload = "gone";
    if (c.version == v5 && delay > 0)
      w.props.will_delay_interval = delay;
    c.will = w;
  }

  /// Calls on_connect and returns the CONNACK.
  connack open(const connect& c) {
    auto ok = sm->on_connect(c, now);
    CAF_CHECK(ok);
    return next<connack>();
  }

  // -- client → server --------------------------------------------------------

  template <class Packet>
  void send(const Packet& p) {
    std::vector<uint8_t> buf;
    encode(p, ver, buf);
    sm->on_bytes(buf, now);
  }

  void send_bytes(std::vector<uint8_t> buf) {
    sm->on_bytes(buf, now);
  }

  static publish pub(std::string_view topic, qos q, uint16_t id, std::string_view payload = "x") {
    publish p;
    p.topic = topic;
    p.qos_level = q;
    p.packet_id = q == qos::at_most_once ? 0 : id;
    p.payload = payload;
    return p;
  }

  template <class Ack>
  void send_ack(uint16_t id, reason_code rc = reason_code::success) {
    Ack a;
    a.packet_id = id;
    a.code = rc;
    send(a);
  }

  void close() {
    sm->on_connection_closed(now);
  }

  // -- server → client --------------------------------------------------------

  /// Moves the machine's output into the inbox as decoded packets.
  void pull() {
    auto& out = sm->output();
    if (out.empty())
      return;
    wire.emplace_back(std::move(out));
    out.clear();
    framer fr;
    auto err = fr.feed(wire.back(), [&](const frame& f) {
      auto res = decode(f, ver);
      if (!res)
        CAF_FAIL("server wrote an undecodable packet: " << res.error().message);
      inbox.push_back(*res);
      return true;
    });
    if (err)
      CAF_FAIL("server wrote unframeable bytes: " << err->message);
  }

  /// The next packet the server wrote; fails unless it is a `T`.
  template <class T>
  T next() {
    pull();
    if (inbox.empty())
      CAF_FAIL("expected a packet from the server, got nothing");
    auto p = std::move(inbox.front());
    inbox.pop_front();
    if (!std::holds_alternative<T>(p))
      CAF_FAIL("unexpected packet from the server: " << to_string(p));
    return std::get<T>(std::move(p));
  }

  /// True if the server wrote nothing more.
  bool quiet() {
    pull();
    for (auto& p : inbox)
      CAF_MESSAGE("pending: " << to_string(p));
    return inbox.empty();
  }

  /// Takes the effects produced so far.
  effects take_fx() {
    effects e = sm->fx();
    sm->fx().clear();
    return e;
  }

  /// Routes the pending batch and reports it accepted.
  std::vector<message_ptr> route_all() {
    auto e = take_fx();
    if (!e.routes.empty())
      sm->on_routed(sm->commit_routes(), now);
    return e.routes;
  }

  // -- router → session -------------------------------------------------------

  routed_message msg(std::string topic, std::string payload, qos q,
                     qos granted = qos::exactly_once,
                     std::optional<uint32_t> expiry = std::nullopt) {
    auto mm = std::make_shared<message>();
    mm->topic = std::move(topic);
    mm->payload = std::move(payload);
    mm->qos_level = q;
    mm->publisher = "other";
    if (expiry)
      mm->expires_at = now + std::chrono::seconds{*expiry};
    routed_message r;
    r.msg = std::move(mm);
    r.max_qos = granted;
    return r;
  }

  void deliver(std::string payload, qos q, qos granted = qos::exactly_once) {
    sm->on_deliver(msg("t/1", std::move(payload), q, granted), now);
  }

  /// Connects a session that survives the disconnect, in version `v`.
  connect persistent_connect(uint32_t expiry = 3600) {
    return ver == v5 ? conn(false, expiry) : conn(false);
  }

  void subscribe_to(std::string_view filter, qos q, uint16_t id = 1) {
    subscribe s;
    s.packet_id = id;
    subscription sub;
    sub.filter = filter;
    sub.max_qos = q;
    s.subscriptions.push_back(sub);
    send(s);
    auto ack = next<suback>();
    CAF_REQUIRE_EQUAL(ack.codes.size(), 1u);
    CAF_CHECK_EQUAL(code(ack.codes[0]), level(q));
  }
};

bool has(const std::vector<std::string>& xs, std::string_view x) {
  return std::find(xs.begin(), xs.end(), x) != xs.end();
}

} // namespace

CAF_TEST_FIXTURE_SCOPE(session_machine_tests, fixture)

// -- the seed's tables: clean or persistent ------------------------------------

CAF_TEST(v311 clean session 1 is clean) {
  make(v311);
  auto ack = open(conn(true));
  CAF_CHECK(!ack.session_present);
  CAF_CHECK(!m().persistent());
  subscribe_to("a/b", qos::at_least_once);
  take_fx();
  close();
  CAF_CHECK(m().finished());
  CAF_CHECK(!m().connected());
  CAF_CHECK(has(take_fx().unsubscribes, "a/b"));
  CAF_CHECK_EQUAL(m().subscriptions().size(), 0u);
  // Deliveries after the end go nowhere.
  deliver("late", qos::at_least_once);
  CAF_CHECK_EQUAL(m().queued_count(), 0u);
}

CAF_TEST(v311 clean session 0 is persistent) {
  make(v311);
  auto ack = open(conn(false));
  CAF_CHECK(!ack.session_present); // new session
  CAF_CHECK(m().persistent());
  subscribe_to("a/b", qos::at_least_once);
  close();
  CAF_CHECK(!m().finished());
  CAF_CHECK(take_fx().unsubscribes.empty());
  CAF_CHECK_EQUAL(m().next_deadline().has_value(), false); // never expires
  deliver("m1", qos::at_least_once);
  CAF_CHECK_EQUAL(m().queued_count(), 1u);
  ack = open(conn(false));
  CAF_CHECK(ack.session_present);
  CAF_CHECK_EQUAL(m().subscriptions().count("a/b"), 1u);
  auto p = next<publish>();
  CAF_CHECK_EQUAL(p.payload, "m1");
}

CAF_TEST(clean start 1 over an existing session discards it) {
  for (auto v : both_versions) {
    CAF_MESSAGE(name(v));
    make(v);
    open(persistent_connect());
    subscribe_to("a/b", qos::at_least_once);
    close();
    deliver("m1", qos::at_least_once);
    take_fx();
    auto c = v == v5 ? conn(true, 3600) : conn(true);
    auto ack = open(c);
    CAF_CHECK(!ack.session_present);
    CAF_CHECK_EQUAL(m().subscriptions().size(), 0u);
    CAF_CHECK(has(take_fx().unsubscribes, "a/b"));
    CAF_CHECK(quiet()); // the queued message belonged to the old session
    CAF_CHECK_EQUAL(m().queued_count(), 0u);
    CAF_CHECK_EQUAL(m().persistent(), v == v5); // 5.0: expiry 3600 > 0
    close();
    CAF_CHECK_EQUAL(m().finished(), v == v311);
  }
}

CAF_TEST(v5 clean start 1 with expiry 0 or absent is clean) {
  for (auto expiry : {std::optional<uint32_t>{}, std::optional<uint32_t>{0}}) {
    make(v5);
    auto ack = open(conn(true, expiry));
    CAF_CHECK(!ack.session_present);
    CAF_CHECK(!m().persistent());
    subscribe_to("a/b", qos::at_least_once);
    take_fx();
    close();
    CAF_CHECK(m().finished());
    CAF_CHECK(has(take_fx().unsubscribes, "a/b"));
  }
}

CAF_TEST(v5 session expiry above 0 is persistent regardless of clean start) {
  for (auto clean : {true, false}) {
    CAF_MESSAGE("clean start " << clean);
    make(v5);
    auto ack = open(conn(clean, 60));
    CAF_CHECK(!ack.session_present);
    CAF_CHECK(m().persistent());
    subscribe_to("a/b", qos::at_least_once);
    close();
    CAF_CHECK(!m().finished());
    ack = open(conn(false, 60));
    CAF_CHECK(ack.session_present);
    CAF_CHECK_EQUAL(m().subscriptions().count("a/b"), 1u);
  }
}

CAF_TEST(v5 clean start 0 with expiry 0 or absent under the seed rule is persistent) {
  limits.rule = persistence_rule::seed;
  for (auto expiry : {std::optional<uint32_t>{}, std::optional<uint32_t>{0}}) {
    make(v5);
    auto ack = open(conn(false, expiry));
    CAF_CHECK(!ack.session_present);
    CAF_CHECK(m().persistent());
    // MQTT 5.0 §3.2.2.3.2: the server tells the client it uses another
    // Session Expiry Interval than the one the client sent.
    CAF_CHECK(ack.props.session_expiry_interval.has_value());
    CAF_CHECK_EQUAL(ack.props.session_expiry_interval.value_or(0), m().session_expiry());
    subscribe_to("a/b", qos::at_least_once);
    close();
    CAF_CHECK(!m().finished());
    ack = open(conn(false, expiry));
    CAF_CHECK(ack.session_present);
    CAF_CHECK_EQUAL(m().subscriptions().count("a/b"), 1u);
  }
}

CAF_TEST(v5 clean start 0 with expiry 0 or absent under the strict rule ends at disconnect) {
  limits.rule = persistence_rule::strict;
  for (auto expiry : {std::optional<uint32_t>{}, std::optional<uint32_t>{0}}) {
    make(v5);
    auto ack = open(conn(false, expiry));
    CAF_CHECK(!ack.session_present);
    CAF_CHECK(!m().persistent());
    CAF_CHECK(!ack.props.session_expiry_interval.has_value());
    subscribe_to("a/b", qos::at_least_once);
    take_fx();
    close();
    CAF_CHECK(m().finished());
    CAF_CHECK(has(take_fx().unsubscribes, "a/b"));
  }
  // Resuming an existing persistent session with expiry 0: present, then
  // it ends when this connection closes.
  make(v5);
  open(conn(false, 60));
  subscribe_to("a/b", qos::at_least_once);
  close();
  auto ack = open(conn(false));
  CAF_CHECK(ack.session_present);
  CAF_CHECK(!m().persistent());
  close();
  CAF_CHECK(m().finished());
}

CAF_TEST(v5 connack carries the server limits) {
  limits.receive_maximum = 7;
  limits.max_packet_size = 4096;
  limits.topic_alias_maximum = 3;
  client_id = "";
  make(v5);
  auto ack = open(conn(true));
  CAF_CHECK_EQUAL(ack.props.receive_maximum.value_or(0), 7u);
  CAF_CHECK_EQUAL(ack.props.maximum_packet_size.value_or(0), 4096u);
  CAF_CHECK_EQUAL(ack.props.topic_alias_maximum.value_or(0), 3u);
  CAF_CHECK(ack.props.assigned_client_identifier.has_value());
}

// -- inbound QoS 1 and 2 -------------------------------------------------------

CAF_TEST(inbound qos 1 is acked after routing in arrival order) {
  for (auto v : both_versions) {
    CAF_MESSAGE(name(v));
    make(v);
    open(conn(true));
    send(pub("a/1", qos::at_least_once, 1));
    send(pub("a/2", qos::at_least_once, 2));
    auto e = take_fx();
    CAF_REQUIRE_EQUAL(e.routes.size(), 2u);
    CAF_CHECK_EQUAL(e.routes[0]->topic, "a/1");
    CAF_CHECK_EQUAL(e.routes[0]->publisher, client_id);
    CAF_CHECK_EQUAL(e.routes[1]->topic, "a/2");
    CAF_CHECK(quiet()); // no ack before the router accepted
    auto s1 = m().commit_routes();
    send(pub("a/3", qos::at_least_once, 3));
    CAF_CHECK_EQUAL(take_fx().routes.size(), 1u);
    auto s2 = m().commit_routes();
    CAF_CHECK(quiet());
    m().on_routed(s1, now);
    CAF_CHECK_EQUAL(next<puback>().packet_id, 1u);
    CAF_CHECK_EQUAL(next<puback>().packet_id, 2u);
    CAF_CHECK(quiet());
    m().on_routed(s2, now);
    CAF_CHECK_EQUAL(next<puback>().packet_id, 3u);
    CAF_CHECK(quiet());
    // QoS 2 then QoS 1 in one batch: PUBREC then PUBACK.
    send(pub("a/4", qos::exactly_once, 4));
    send(pub("a/5", qos::at_least_once, 5));
    send(pub("a/6", qos::at_most_once, 0));
    CAF_CHECK_EQUAL(route_all().size(), 3u);
    CAF_CHECK_EQUAL(next<pubrec>().packet_id, 4u);
    CAF_CHECK_EQUAL(next<puback>().packet_id, 5u);
    CAF_CHECK(quiet());
  }
}

CAF_TEST(inbound qos 2 duplicate is not routed twice) {
  for (auto v : both_versions) {
    CAF_MESSAGE(name(v));
    make(v);
    open(conn(true));
    send(pub("a", qos::exactly_once, 7));
    CAF_CHECK_EQUAL(route_all().size(), 1u);
    CAF_CHECK_EQUAL(next<pubrec>().packet_id, 7u);
    CAF_CHECK_EQUAL(m().qos2_in_count(), 1u);
    auto dup = pub("a", qos::exactly_once, 7);
    dup.dup = true;
    send(dup);
    CAF_CHECK(take_fx().routes.empty());
    CAF_CHECK_EQUAL(next<pubrec>().packet_id, 7u);
    CAF_CHECK_EQUAL(m().counters().duplicate_qos2, 1u);
    send_ack<pubrel>(7);
    auto comp = next<pubcomp>();
    CAF_CHECK_EQUAL(comp.packet_id, 7u);
    CAF_CHECK_EQUAL(code(comp.code), 0x00);
    CAF_CHECK_EQUAL(m().qos2_in_count(), 0u);
    // After PUBCOMP the id is free: a new PUBLISH with it is a new message.
    send(pub("a", qos::exactly_once, 7));
    CAF_CHECK_EQUAL(route_all().size(), 1u);
    CAF_CHECK_EQUAL(next<pubrec>().packet_id, 7u);
    // Duplicate before the router accepted the first: still routed once.
    send(pub("b", qos::exactly_once, 8));
    auto dup8 = pub("b", qos::exactly_once, 8);
    dup8.dup = true;
    send(dup8);
    CAF_CHECK_EQUAL(route_all().size(), 1u);
    CAF_CHECK_EQUAL(next<pubrec>().packet_id, 8u);
  }
}

CAF_TEST(pubrel for an unknown packet id) {
  for (auto v : both_versions) {
    CAF_MESSAGE(name(v));
    make(v);
    open(conn(true));
    send_ack<pubrel>(42);
    auto comp = next<pubcomp>();
    CAF_CHECK_EQUAL(comp.packet_id, 42u);
    if (v == v5)
      CAF_CHECK_EQUAL(code(comp.code), 0x92);
    CAF_CHECK(m().connected());
  }
}

CAF_TEST(route failure is reported to the publisher) {
  make(v5);
  open(conn(true));
  send(pub("a", qos::at_least_once, 1));
  send(pub("b", qos::exactly_once, 2));
  take_fx();
  m().on_route_failed(m().commit_routes(), reason_code::quota_exceeded, now);
  auto pa = next<puback>();
  CAF_CHECK_EQUAL(code(pa.code), 0x97);
  auto pr = next<pubrec>();
  CAF_CHECK_EQUAL(code(pr.code), 0x97);
  CAF_CHECK_EQUAL(m().qos2_in_count(), 0u);
  // 3.1.1 has no negative ack: the connection is closed.
  make(v311);
  open(conn(true));
  send(pub("a", qos::at_least_once, 1));
  take_fx();
  m().on_route_failed(m().commit_routes(), reason_code::quota_exceeded, now);
  CAF_CHECK(quiet());
  CAF_CHECK(take_fx().close);
}

// -- outbound QoS 1 and 2 ------------------------------------------------------

CAF_TEST(outbound qos 1 and qos 2 flows release the window) {
  for (auto v : both_versions) {
    CAF_MESSAGE(name(v));
    make(v);
    open(conn(true));
    deliver("one", qos::at_least_once);
    auto p1 = next<publish>();
    CAF_CHECK_EQUAL(level(p1.qos_level), 1);
    CAF_CHECK_NOT_EQUAL(p1.packet_id, 0u);
    CAF_CHECK(!p1.dup);
    CAF_CHECK_EQUAL(m().inflight_count(), 1u);
    send_ack<puback>(p1.packet_id);
    CAF_CHECK_EQUAL(m().inflight_count(), 0u);
    deliver("two", qos::exactly_once);
    auto p2 = next<publish>();
    CAF_CHECK_EQUAL(level(p2.qos_level), 2);
    CAF_CHECK_NOT_EQUAL(p2.packet_id, p1.packet_id);
    send_ack<pubrec>(p2.packet_id);
    CAF_CHECK_EQUAL(next<pubrel>().packet_id, p2.packet_id);
    CAF_CHECK_EQUAL(m().inflight_count(), 1u); // until PUBCOMP
    send_ack<pubcomp>(p2.packet_id);
    CAF_CHECK_EQUAL(m().inflight_count(), 0u);
    // The granted QoS caps the delivery QoS.
    deliver("three", qos::exactly_once, qos::at_least_once);
    CAF_CHECK_EQUAL(level(next<publish>().qos_level), 1);
    deliver("four", qos::at_least_once, qos::at_most_once);
    auto p4 = next<publish>();
    CAF_CHECK_EQUAL(level(p4.qos_level), 0);
    CAF_CHECK_EQUAL(m().counters().messages_out, 4u);
    CAF_CHECK(quiet());
  }
}

CAF_TEST(v5 receive maximum bounds outbound in flight and order is kept) {
  make(v5);
  auto c = conn(true);
  c.props.receive_maximum = 2;
  open(c);
  deliver("m1", qos::at_least_once);
  deliver("m2", qos::exactly_once);
  deliver("m3", qos::at_least_once);
  deliver("m4", qos::at_most_once);
  deliver("m5", qos::at_least_once);
  auto p1 = next<publish>();
  auto p2 = next<publish>();
  CAF_CHECK_EQUAL(p1.payload, "m1");
  CAF_CHECK_EQUAL(p2.payload, "m2");
  CAF_CHECK(quiet());
  CAF_CHECK_EQUAL(m().inflight_count(), 2u);
  CAF_CHECK_EQUAL(m().queued_count(), 3u);
  // PUBREC does not free a slot (MQTT 5.0 §4.9), PUBCOMP does.
  send_ack<pubrec>(p2.packet_id);
  CAF_CHECK_EQUAL(next<pubrel>().packet_id, p2.packet_id);
  CAF_CHECK(quiet());
  send_ack<pubcomp>(p2.packet_id);
  auto p3 = next<publish>();
  CAF_CHECK_EQUAL(p3.payload, "m3");
  auto p4 = next<publish>(); // QoS 0 behind it follows, it needs no slot
  CAF_CHECK_EQUAL(p4.payload, "m4");
  CAF_CHECK(quiet());
  send_ack<puback>(p1.packet_id);
  CAF_CHECK_EQUAL(next<publish>().payload, "m5");
  CAF_CHECK(quiet());
  CAF_CHECK_EQUAL(m().queued_count(), 0u);
}

CAF_TEST(v311 outbound window is bounded by max inflight) {
  limits.max_inflight = 1;
  make(v311);
  open(conn(true));
  deliver("m1", qos::at_least_once);
  deliver("m2", qos::at_least_once);
  auto p1 = next<publish>();
  CAF_CHECK(quiet());
  send_ack<puback>(p1.packet_id);
  CAF_CHECK_EQUAL(next<publish>().payload, "m2");
}

CAF_TEST(v5 pubrec with an error code ends the flow) {
  make(v5);
  auto c = conn(true);
  c.props.receive_maximum = 1;
  open(c);
  deliver("m1", qos::exactly_once);
  deliver("m2", qos::exactly_once);
  auto p1 = next<publish>();
  CAF_CHECK(quiet());
  send_ack<pubrec>(p1.packet_id, reason_code::unspecified_error);
  CAF_CHECK_EQUAL(next<publish>().payload, "m2"); // no PUBREL, window freed
  CAF_CHECK(quiet());
}

CAF_TEST(deliveries wait while the connection is not writable) {
  make(v5);
  open(conn(true));
  m().set_writable(false, now);
  deliver("m1", qos::at_most_once);
  deliver("m2", qos::at_least_once);
  CAF_CHECK(quiet());
  m().set_writable(true, now);
  CAF_CHECK_EQUAL(next<publish>().payload, "m1");
  CAF_CHECK_EQUAL(next<publish>().payload, "m2");
}

CAF_TEST(QoS 0 beyond max_queued_qos0 is dropped for a back-pressured subscriber) {
  // A subscriber whose connection does not drain: QoS 0 waits in the queue
  // up to limits.max_queued_qos0, then is dropped and counted; QoS 1 is
  // still queued (its own limit), and what was queued goes out in order.
  limits.max_queued_qos0 = 3;
  make(v5);
  open(conn(true));
  m().set_writable(false, now);
  for (auto p : {"a", "b", "c", "d", "e"})
    deliver(p, qos::at_most_once);
  deliver("q1", qos::at_least_once);
  CAF_CHECK(quiet());
  CAF_CHECK_EQUAL(m().queued_count(), 4u);
  CAF_CHECK_EQUAL(m().counters().dropped_queue_full, 2u);
  // The dropped ones still count as taken off the backlog (router pacing).
  CAF_CHECK_EQUAL(m().progress(), 2);
  m().set_writable(true, now);
  for (auto p : {"a", "b", "c", "q1"})
    CAF_CHECK_EQUAL(next<publish>().payload, p);
  CAF_CHECK(quiet());
  CAF_CHECK_EQUAL(m().progress(), 6);
}

// -- persistent session offline ------------------------------------------------

CAF_TEST(offline persistent session queues and resends in order on reconnect) {
  for (auto v : both_versions) {
    CAF_MESSAGE(name(v));
    make(v);
    open(persistent_connect());
    deliver("m1", qos::at_least_once);
    deliver("m2", qos::exactly_once);
    deliver("m3", qos::exactly_once);
    auto p1 = next<publish>();
    auto p2 = next<publish>();
    auto p3 = next<publish>();
    send_ack<pubrec>(p2.packet_id); // m2 now awaits PUBCOMP
    CAF_CHECK_EQUAL(next<pubrel>().packet_id, p2.packet_id);
    close();
    CAF_CHECK(!m().finished());
    deliver("m4", qos::at_least_once);
    deliver("q0", qos::at_most_once);
    deliver("m5", qos::exactly_once);
    CAF_CHECK_EQUAL(m().counters().dropped_qos0_offline, 1u);
    CAF_CHECK_EQUAL(m().queued_count(), 2u);
    CAF_CHECK(quiet());
    advance(10s);
    auto ack = open(persistent_connect());
    CAF_CHECK(ack.session_present);
    // In flight first, in order, PUBLISH with DUP=1 (PUBREL for m2).
    auto r1 = next<publish>();
    CAF_CHECK_EQUAL(r1.payload, "m1");
    CAF_CHECK(r1.dup);
    CAF_CHECK_EQUAL(r1.packet_id, p1.packet_id);
    CAF_CHECK_EQUAL(next<pubrel>().packet_id, p2.packet_id);
    auto r3 = next<publish>();
    CAF_CHECK_EQUAL(r3.payload, "m3");
    CAF_CHECK(r3.dup);
    CAF_CHECK_EQUAL(r3.packet_id, p3.packet_id);
    // Then the queue, in order, as new sends.
    auto r4 = next<publish>();
    CAF_CHECK_EQUAL(r4.payload, "m4");
    CAF_CHECK(!r4.dup);
    auto r5 = next<publish>();
    CAF_CHECK_EQUAL(r5.payload, "m5");
    CAF_CHECK(!r5.dup);
    CAF_CHECK(quiet());
    // Never resent on the same connection.
    advance(3600s);
    m().on_timer(now);
    CAF_CHECK(quiet());
    // The flows complete after the resend.
    send_ack<puback>(r1.packet_id);
    send_ack<pubcomp>(p2.packet_id);
    send_ack<pubrec>(r3.packet_id);
    CAF_CHECK_EQUAL(next<pubrel>().packet_id, r3.packet_id);
    send_ack<pubcomp>(r3.packet_id);
    send_ack<puback>(r4.packet_id);
    send_ack<pubrec>(r5.packet_id);
    CAF_CHECK_EQUAL(next<pubrel>().packet_id, r5.packet_id);
    send_ack<pubcomp>(r5.packet_id);
    CAF_CHECK_EQUAL(m().inflight_count(), 0u);
    CAF_CHECK(quiet());
  }
}

CAF_TEST(offline queue overflow drops the oldest and counts it) {
  limits.max_queued_offline = 2;
  make(v5);
  open(persistent_connect());
  close();
  deliver("m1", qos::at_least_once);
  deliver("m2", qos::at_least_once);
  deliver("m3", qos::at_least_once);
  CAF_CHECK_EQUAL(m().counters().dropped_queue_full, 1u);
  open(persistent_connect());
  CAF_CHECK_EQUAL(next<publish>().payload, "m2");
  CAF_CHECK_EQUAL(next<publish>().payload, "m3");
}

CAF_TEST(application session on kafka has no offline count limit while device drops oldest) {
  // The limits a broker with device_queue: redis and application_queue:
  // kafka builds (make_session_limits), scaled down: DEVICE 3, APPLICATION
  // 0 (Kafka retention only).
  limits.max_queued_offline = 3;
  limits.max_queued_offline_application = 0;
  make(v5);
  m().set_application(true);
  open(persistent_connect());
  close();
  for (int i = 1; i <= 10; ++i)
    deliver("a" + std::to_string(i), qos::at_least_once);
  CAF_CHECK_EQUAL(m().counters().dropped_queue_full, 0u);
  CAF_CHECK_EQUAL(m().queued_count(), 10u);
  open(persistent_connect());
  for (int i = 1; i <= 10; ++i)
    CAF_CHECK_EQUAL(next<publish>().payload, "a" + std::to_string(i));
  // A DEVICE session with the same (shared) limits drops the oldest at 3.
  make(v5);
  open(persistent_connect());
  close();
  for (int i = 1; i <= 10; ++i)
    deliver("d" + std::to_string(i), qos::at_least_once);
  CAF_CHECK_EQUAL(m().counters().dropped_queue_full, 7u);
  CAF_CHECK_EQUAL(m().queued_count(), 3u);
  open(persistent_connect());
  CAF_CHECK_EQUAL(next<publish>().payload, "d8");
  CAF_CHECK_EQUAL(next<publish>().payload, "d9");
  CAF_CHECK_EQUAL(next<publish>().payload, "d10");
  CAF_CHECK(quiet());
}

CAF_TEST(application queue limit when configured drops oldest at it) {
  limits.max_queued_offline = 2;
  limits.max_queued_offline_application = 4; // session.application_queue_limit
  make(v5);
  m().set_application(true);
  open(persistent_connect());
  close();
  for (int i = 1; i <= 6; ++i)
    deliver("a" + std::to_string(i), qos::at_least_once);
  CAF_CHECK_EQUAL(m().counters().dropped_queue_full, 2u);
  // Back to DEVICE (a CONNECT classified differently): the DEVICE limit.
  m().set_application(false);
  deliver("a7", qos::at_least_once);
  CAF_CHECK_EQUAL(m().counters().dropped_queue_full, 3u);
  open(persistent_connect());
  for (int i = 4; i <= 7; ++i)
    CAF_CHECK_EQUAL(next<publish>().payload, "a" + std::to_string(i));
}

CAF_TEST(inbound qos 2 state survives a reconnect) {
  make(v5);
  open(persistent_connect());
  send(pub("a", qos::exactly_once, 9));
  route_all();
  m().on_qos2_in_stored(9, true, now); // persistent: PUBREC after the id is stored
  CAF_CHECK_EQUAL(next<pubrec>().packet_id, 9u);
  close();
  open(persistent_connect());
  auto dup = pub("a", qos::exactly_once, 9);
  dup.dup = true;
  send(dup);
  CAF_CHECK(take_fx().routes.empty());
  CAF_CHECK_EQUAL(next<pubrec>().packet_id, 9u);
  send_ack<pubrel>(9);
  m().on_qos2_in_erased(9, true, now); // and PUBCOMP after its erase
  CAF_CHECK_EQUAL(code(next<pubcomp>().code), 0);
}

// -- takeover ------------------------------------------------------------------

CAF_TEST(takeover closes the old connection) {
  for (auto v : both_versions) {
    CAF_MESSAGE(name(v));
    make(v);
    auto c = persistent_connect();
    add_will(c);
    open(c);
    m().on_takeover(now);
    if (v == v5)
      CAF_CHECK_EQUAL(code(next<disconnect>().code), 0x8E);
    CAF_CHECK(quiet());
    auto e = take_fx();
    CAF_CHECK(e.close);
    CAF_CHECK_EQUAL(code(e.close_reason), 0x8E);
    // The will is handled as for an unexpected close (delay 0: now).
    CAF_REQUIRE_EQUAL(e.routes.size(), 1u);
    CAF_CHECK_EQUAL(e.routes[0]->topic, "will/t");
    CAF_CHECK(!m().connected());
    auto ack = open(persistent_connect());
    CAF_CHECK(ack.session_present);
  }
}

// -- will ----------------------------------------------------------------------

CAF_TEST(will is published on abnormal close and discarded on normal disconnect) {
  for (auto v : both_versions) {
    CAF_MESSAGE(name(v));
    make(v);
    auto c = conn(true);
    add_will(c);
    open(c);
    close();
    auto routes = take_fx().routes;
    CAF_REQUIRE_EQUAL(routes.size(), 1u);
    CAF_CHECK_EQUAL(routes[0]->topic, "will/t");
    CAF_CHECK_EQUAL(routes[0]->payload, "gone");
    CAF_CHECK_EQUAL(level(routes[0]->qos_level), 1);
    make(v);
    open(c);
    send(disconnect{});
    auto e = take_fx();
    CAF_CHECK(e.close);
    CAF_CHECK(e.routes.empty());
    close();
    CAF_CHECK(take_fx().routes.empty());
    CAF_CHECK(m().finished());
  }
}

CAF_TEST(v5 will is kept with disconnect 0x04) {
  make(v5);
  auto c = conn(true);
  add_will(c);
  open(c);
  disconnect d;
  d.code = reason_code::disconnect_with_will_message;
  send(d);
  CAF_CHECK_EQUAL(take_fx().routes.size(), 1u);
  // Persistent with a delay: published after the delay.
  make(v5);
  c = conn(false, 3600);
  add_will(c, 10);
  open(c);
  send(d);
  CAF_CHECK(take_fx().routes.empty());
  advance(10s);
  m().on_timer(now);
  CAF_CHECK_EQUAL(take_fx().routes.size(), 1u);
}

CAF_TEST(v5 will is published after disconnect with an error code) {
  // MQTT 5.0 §3.1.2.5: only DISCONNECT 0x00 deletes the will.
  make(v5);
  auto c = conn(true);
  add_will(c);
  open(c);
  disconnect d;
  d.code = reason_code::unspecified_error;
  send(d);
  CAF_CHECK_EQUAL(take_fx().routes.size(), 1u);
}

CAF_TEST(v5 will delay interval) {
  make(v5);
  auto c = conn(false, 3600);
  add_will(c, 10);
  open(c);
  close();
  CAF_CHECK(take_fx().routes.empty());
  CAF_REQUIRE(m().next_deadline().has_value());
  CAF_CHECK(*m().next_deadline() == now + 10s);
  advance(9999ms);
  m().on_timer(now);
  CAF_CHECK(take_fx().routes.empty());
  advance(1ms);
  m().on_timer(now);
  auto routes = take_fx().routes;
  CAF_REQUIRE_EQUAL(routes.size(), 1u);
  CAF_CHECK_EQUAL(routes[0]->topic, "will/t");
  // Only once.
  advance(10s);
  m().on_timer(now);
  CAF_CHECK(take_fx().routes.empty());
  // A reconnect before the delay cancels it (§3.1.3.2.2).
  auto c2 = conn(false, 3600);
  add_will(c2, 10);
  open(c2);
  close();
  advance(5s);
  open(conn(false, 3600));
  advance(60s);
  m().on_timer(now);
  CAF_CHECK(take_fx().routes.empty());
}

CAF_TEST(v5 delayed will is published when the session ends first) {
  // Clean session: the session ends at close, so the will goes now.
  make(v5);
  auto c = conn(true);
  add_will(c, 30);
  open(c);
  close();
  CAF_CHECK_EQUAL(take_fx().routes.size(), 1u);
  CAF_CHECK(m().finished());
  // Session expiry before the will delay.
  make(v5);
  c = conn(false, 5);
  add_will(c, 30);
  open(c);
  close();
  CAF_CHECK(take_fx().routes.empty());
  CAF_CHECK(*m().next_deadline() == now + 5s);
  advance(5s);
  m().on_timer(now);
  CAF_CHECK(m().finished());
  CAF_CHECK_EQUAL(take_fx().routes.size(), 1u);
  // A new connection with Clean Start 1 ends the old session: its pending
  // will is published (§3.1.2.4, §3.1.3.2.2), not silently dropped.
  make(v5);
  c = conn(false, 3600);
  add_will(c, 30);
  open(c);
  close();
  take_fx();
  advance(5s);
  open(conn(true));
  CAF_CHECK_EQUAL(take_fx().routes.size(), 1u);
}

CAF_TEST(v5 will message expiry starts when the will is published) {
  // §3.1.3.2.4: the Message Expiry Interval is the will's lifetime, sent as
  // the Publication Expiry Interval when the server publishes it.
  make(v5);
  auto c = conn(true);
  add_will(c);
  c.will->props.message_expiry_interval = 10;
  open(c);
  advance(60s);
  close();
  auto routes = take_fx().routes;
  CAF_REQUIRE_EQUAL(routes.size(), 1u);
  CAF_CHECK(!routes[0]->expired(now));
  CAF_CHECK_EQUAL(routes[0]->remaining_expiry(now).value_or(0), 10u);
}

// -- keep alive ----------------------------------------------------------------

CAF_TEST(keep alive closes after one and a half times the interval) {
  for (auto v : both_versions) {
    CAF_MESSAGE(name(v));
    make(v);
    auto c = conn(true, std::nullopt, 10);
    add_will(c);
    open(c);
    CAF_REQUIRE(m().next_deadline().has_value());
    CAF_CHECK(*m().next_deadline() == now + 15s);
    advance(14s);
    send(pingreq{});
    next<pingresp>();
    CAF_CHECK(*m().next_deadline() == now + 15s);
    advance(14999ms);
    m().on_timer(now);
    CAF_CHECK(quiet());
    CAF_CHECK(m().connected());
    advance(1ms);
    m().on_timer(now);
    if (v == v5)
      CAF_CHECK_EQUAL(code(next<disconnect>().code), 0x8D);
    CAF_CHECK(quiet());
    auto e = take_fx();
    CAF_CHECK(e.close);
    CAF_CHECK_EQUAL(code(e.close_reason), 0x8D);
    CAF_CHECK_EQUAL(e.routes.size(), 1u); // the will
    CAF_CHECK(!m().connected());
  }
}

CAF_TEST(keep alive 0 and server keep alive) {
  make(v5);
  open(conn(true, std::nullopt, 0));
  CAF_CHECK(!m().next_deadline().has_value());
  limits.server_keep_alive = 4;
  make(v5);
  auto ack = open(conn(true, std::nullopt, 100));
  CAF_CHECK_EQUAL(ack.props.server_keep_alive.value_or(0), 4u);
  CAF_CHECK(*m().next_deadline() == now + 6s);
}

// -- session expiry ------------------------------------------------------------

CAF_TEST(v5 offline session ends exactly at expiry) {
  make(v5);
  open(conn(false, 30));
  subscribe_to("a/b", qos::at_least_once);
  take_fx();
  close();
  CAF_REQUIRE(m().next_deadline().has_value());
  CAF_CHECK(*m().next_deadline() == now + 30s);
  advance(29999ms);
  m().on_timer(now);
  CAF_CHECK(!m().finished());
  advance(1ms);
  m().on_timer(now);
  CAF_CHECK(m().finished());
  CAF_CHECK(has(take_fx().unsubscribes, "a/b"));
  CAF_CHECK(!m().next_deadline().has_value());
}

CAF_TEST(v5 reconnect before expiry keeps the session) {
  make(v5);
  open(conn(false, 30));
  close();
  advance(20s);
  auto ack = open(conn(false, 30));
  CAF_CHECK(ack.session_present);
  CAF_CHECK(!m().next_deadline().has_value());
  advance(20s); // past the first expiry
  m().on_timer(now);
  CAF_CHECK(!m().finished());
  close();
  CAF_CHECK(*m().next_deadline() == now + 30s);
  advance(29s);
  m().on_timer(now);
  CAF_CHECK(!m().finished());
  advance(1s);
  m().on_timer(now);
  CAF_CHECK(m().finished());
}

CAF_TEST(v5 disconnect may change the session expiry) {
  make(v5);
  open(conn(false, 30));
  disconnect d;
  d.props.session_expiry_interval = 5;
  send(d);
  CAF_CHECK(*m().next_deadline() == now + 5s);
  advance(5s);
  m().on_timer(now);
  CAF_CHECK(m().finished());
  // Expiry 0 in CONNECT, non-zero in DISCONNECT: protocol error.
  make(v5);
  open(conn(true, 0));
  send(d);
  CAF_CHECK_EQUAL(code(next<disconnect>().code), 0x82);
  CAF_CHECK(m().finished());
}

// -- topic aliases -------------------------------------------------------------

CAF_TEST(v5 inbound topic aliases) {
  limits.topic_alias_maximum = 2;
  make(v5);
  open(persistent_connect());
  auto p = pub("a/b", qos::at_most_once, 0);
  p.props.topic_alias = 1;
  send(p);
  p.topic = "";
  send(p);
  auto routes = take_fx().routes;
  CAF_REQUIRE_EQUAL(routes.size(), 2u);
  CAF_CHECK_EQUAL(routes[0]->topic, "a/b");
  CAF_CHECK_EQUAL(routes[1]->topic, "a/b");
  // Re-point alias 1.
  p.topic = "c";
  send(p);
  p.topic = "";
  send(p);
  routes = take_fx().routes;
  CAF_REQUIRE_EQUAL(routes.size(), 2u);
  CAF_CHECK_EQUAL(routes[1]->topic, "c");
  // Unknown alias.
  p.props.topic_alias = 2;
  send(p);
  CAF_CHECK_EQUAL(code(next<disconnect>().code), 0x82);
  CAF_CHECK(take_fx().close);
  // Aliases do not carry over to a new connection (§3.3.2.3.4).
  open(persistent_connect());
  p.props.topic_alias = 1;
  send(p);
  CAF_CHECK_EQUAL(code(next<disconnect>().code), 0x82);
  // Alias 0 and above the maximum. [MQTT-3.3.2-8] forbids alias 0 without
  // naming a reason code; the codec already rejects it as a Protocol Error
  // (properties.cpp), so the session never sees it: 0x82 or 0x94 both close.
  for (uint16_t alias : {0, 3}) {
    open(persistent_connect());
    p.topic = "a/b";
    p.props.topic_alias = alias;
    send(p);
    auto rc = code(next<disconnect>().code);
    if (alias == 0)
      CAF_CHECK(rc == 0x94 || rc == 0x82);
    else
      CAF_CHECK_EQUAL(rc, 0x94);
    auto e = take_fx();
    CAF_CHECK(e.close);
    CAF_CHECK(e.routes.empty());
  }
}

// -- subscribe / unsubscribe ---------------------------------------------------

CAF_TEST(v5 outbound topic aliases) {
  // §3.3.2.3.4: with the client's Topic Alias Maximum the server may send a
  // topic it has sent before as its alias alone; never more aliases than
  // allowed (MQTT-3.1.2-26), none without the property (MQTT-3.1.2-27), and
  // the mappings end with the network connection.
  make(v5);
  auto c = conn(false, 3600);
  c.props.topic_alias_maximum = 1;
  open(c);
  sm->on_deliver(msg("a/1", "p1", qos::at_most_once), now);
  sm->on_deliver(msg("a/1", "p2", qos::at_least_once), now);
  sm->on_deliver(msg("b/2", "p3", qos::at_most_once), now);
  auto p1 = next<publish>();
  CAF_CHECK_EQUAL(p1.topic, "a/1");
  CAF_CHECK_EQUAL(p1.props.topic_alias.value_or(0), 1u);
  auto p2 = next<publish>();
  CAF_CHECK_EQUAL(p2.topic, "");
  CAF_CHECK_EQUAL(p2.props.topic_alias.value_or(0), 1u);
  auto p3 = next<publish>(); // no room for a second alias
  CAF_CHECK_EQUAL(p3.topic, "b/2");
  CAF_CHECK(!p3.props.topic_alias);
  CAF_CHECK(quiet());
  // A new connection starts without aliases: the resend names its topic.
  close();
  open(c);
  auto again = next<publish>();
  CAF_CHECK(again.dup);
  CAF_CHECK_EQUAL(again.payload, "p2");
  CAF_CHECK_EQUAL(again.topic, "a/1");
  CAF_CHECK_EQUAL(again.props.topic_alias.value_or(0), 1u);
  CAF_CHECK(quiet());
  send_ack<puback>(again.packet_id);
  // Without Topic Alias Maximum: no aliases at all.
  close();
  open(conn(false, 3600));
  sm->on_deliver(msg("a/1", "p4", qos::at_most_once), now);
  sm->on_deliver(msg("a/1", "p5", qos::at_most_once), now);
  for (auto payload : {"p4", "p5"}) {
    auto p = next<publish>();
    CAF_CHECK_EQUAL(p.payload, payload);
    CAF_CHECK_EQUAL(p.topic, "a/1");
    CAF_CHECK(!p.props.topic_alias);
  }
  CAF_CHECK(quiet());
}

CAF_TEST(v5 a publish too large to send establishes no topic alias) {
  make(v5);
  auto c = conn(true);
  c.props.topic_alias_maximum = 2;
  c.props.maximum_packet_size = 64;
  open(c);
  sm->on_deliver(msg("a/1", std::string(100, 'x'), qos::at_most_once), now);
  sm->on_deliver(msg("a/1", "small", qos::at_most_once), now);
  auto p = next<publish>();
  CAF_CHECK_EQUAL(p.payload, "small");
  CAF_CHECK_EQUAL(p.topic, "a/1");
  CAF_CHECK_EQUAL(p.props.topic_alias.value_or(0), 1u);
  CAF_CHECK(quiet());
}

CAF_TEST(subscriptions matched by acl deny_subscribe get 0x80) {
  limits.deny_subscribe = {"test/nosubscribe", "private/#"};
  for (auto v : both_versions) {
    CAF_MESSAGE(name(v));
    make(v);
    open(conn(true));
    subscribe s;
    s.packet_id = 3;
    s.subscriptions = {subscription{"test/nosubscribe", qos::exactly_once},
                       subscription{"private/a/+", qos::at_least_once},
                       subscription{"$share/g/private/x", qos::at_most_once},
                       subscription{"test/+", qos::at_least_once}};
    send(s);
    auto ack = next<suback>();
    CAF_REQUIRE_EQUAL(ack.codes.size(), 4u);
    CAF_CHECK_EQUAL(code(ack.codes[0]), 0x80);
    CAF_CHECK_EQUAL(code(ack.codes[1]), 0x80);
    CAF_CHECK_EQUAL(code(ack.codes[2]), 0x80);
    CAF_CHECK_EQUAL(code(ack.codes[3]), 1);
    auto e = take_fx();
    CAF_REQUIRE_EQUAL(e.subscribes.size(), 1u);
    CAF_CHECK_EQUAL(e.subscribes[0].filter, "test/+");
    CAF_CHECK_EQUAL(m().subscriptions().size(), 1u);
  }
}

namespace {

/// A topic_access for tests: may publish / receive / subscribe what starts with the prefixes.
struct prefix_access final : topic_access {
  std::string pub, recv, sub;
  bool may_publish(std::string_view t) const override { return t.starts_with(pub); }
  bool may_receive(std::string_view t) const override { return t.starts_with(recv); }
  bool may_subscribe(std::string_view f) const override { return f.starts_with(sub); }
};

std::shared_ptr<const topic_access> access_for(std::string pub, std::string recv, std::string sub) {
  auto a = std::make_shared<prefix_access>();
  a->pub = std::move(pub);
  a->recv = std::move(recv);
  a->sub = std::move(sub);
  return a;
}

} // namespace

CAF_TEST(acl: a refused PUBLISH is not forwarded and MQTT 5 QoS 1 and 2 get 0x87) {
  for (auto v : both_versions) {
    CAF_MESSAGE(name(v));
    make(v);
    m().set_access(access_for("ok/", "", ""));
    open(conn(true));
    send(pub("ok/1", qos::at_least_once, 1));
    send(pub("no/1", qos::at_least_once, 2));
    send(pub("no/0", qos::at_most_once, 0));
    send(pub("no/2", qos::exactly_once, 3));
    send(pub("ok/2", qos::at_least_once, 4));
    auto e = take_fx();
    CAF_REQUIRE_EQUAL(e.routes.size(), 2u); // only the allowed ones
    CAF_CHECK_EQUAL(e.routes[0]->topic, "ok/1");
    CAF_CHECK_EQUAL(e.routes[1]->topic, "ok/2");
    // Nothing is acknowledged before the allowed message ahead of them is routed: order holds.
    CAF_CHECK(quiet());
    m().on_routed(m().commit_routes(), now);
    auto a1 = next<puback>();
    CAF_CHECK_EQUAL(a1.packet_id, 1u);
    CAF_CHECK_EQUAL(code(a1.code), 0);
    auto a2 = next<puback>();
    CAF_CHECK_EQUAL(a2.packet_id, 2u);
    auto r3 = next<pubrec>();
    CAF_CHECK_EQUAL(r3.packet_id, 3u);
    CAF_CHECK_EQUAL(next<puback>().packet_id, 4u);
    if (v == v5) {
      CAF_CHECK_EQUAL(code(a2.code), 0x87);
      CAF_CHECK_EQUAL(code(r3.code), 0x87);
      CAF_CHECK_EQUAL(m().qos2_in_count(), 0u); // the refusing PUBREC ends the flow
    } else {
      // 3.1.1 has no negative ack: the flow completes as usual, nothing is forwarded.
      CAF_CHECK_EQUAL(code(a2.code), 0);
      CAF_CHECK_EQUAL(code(r3.code), 0);
      send_ack<pubrel>(3);
      CAF_CHECK_EQUAL(next<pubcomp>().packet_id, 3u);
      CAF_CHECK(take_fx().routes.empty());
    }
    CAF_CHECK(quiet());
    CAF_CHECK(m().connected());
  }
}

CAF_TEST(acl: refused filters get 0x87 or 0x80 and shared filters are checked without the prefix) {
  for (auto v : both_versions) {
    CAF_MESSAGE(name(v));
    make(v);
    m().set_access(access_for("", "", "ok/"));
    open(conn(true));
    subscribe s;
    s.packet_id = 3;
    s.subscriptions = {subscription{"ok/#", qos::at_least_once},
                       subscription{"no/#", qos::at_least_once},
                       subscription{"$share/g/ok/x", qos::at_most_once},
                       subscription{"$share/g/no/x", qos::at_most_once}};
    send(s);
    auto ack = next<suback>();
    CAF_REQUIRE_EQUAL(ack.codes.size(), 4u);
    CAF_CHECK_EQUAL(code(ack.codes[0]), 1);
    CAF_CHECK_EQUAL(code(ack.codes[1]), v == v5 ? 0x87 : 0x80);
    CAF_CHECK_EQUAL(code(ack.codes[2]), 0);
    CAF_CHECK_EQUAL(code(ack.codes[3]), v == v5 ? 0x87 : 0x80);
    CAF_CHECK_EQUAL(take_fx().subscribes.size(), 2u);
  }
}

CAF_TEST(acl: a message the client may not read is not delivered and frees its place) {
  make(v5);
  m().set_access(access_for("", "t/", ""));
  open(conn(true));
  sm->on_deliver(msg("x/1", "hidden", qos::at_least_once, qos::at_least_once), now);
  sm->on_deliver(msg("t/1", "shown", qos::at_least_once, qos::at_least_once), now);
  sm->on_deliver(msg("x/2", "hidden0", qos::at_most_once, qos::at_most_once), now);
  auto p = next<publish>();
  CAF_CHECK_EQUAL(p.topic, "t/1");
  CAF_CHECK_EQUAL(p.payload, "shown");
  CAF_CHECK(quiet());
  CAF_CHECK_EQUAL(m().inflight_count(), 1u); // only the delivered one waits for its PUBACK
}

CAF_TEST(acl: a message the client may not read takes no place in its offline queue) {
  limits.max_queued_offline = 2;
  make(v5);
  m().set_access(access_for("", "t/", ""));
  open(persistent_connect());
  take_fx();
  close();
  take_fx();
  auto queue = [&](std::string topic, std::string payload, uint64_t seq) {
    auto d = msg(std::move(topic), std::move(payload), qos::at_least_once);
    d.seq = seq;
    m().on_deliver(d, now);
  };
  queue("t/1", "a", 1);
  queue("x/1", "hidden", 2);
  queue("x/2", "hidden", 3);
  queue("t/2", "b", 4);
  CAF_CHECK_EQUAL(m().queued_count(), 2u);
  CAF_CHECK_EQUAL(m().counters().dropped_queue_full, 0u); // the readable ones fit
  CAF_CHECK_EQUAL(take_fx().done_seqs, (std::vector<uint64_t>{2, 3})); // stored copies go
  auto ack = open(persistent_connect());
  CAF_CHECK(ack.session_present);
  CAF_CHECK_EQUAL(next<publish>().payload, "a");
  CAF_CHECK_EQUAL(next<publish>().payload, "b");
  CAF_CHECK(quiet());
}

CAF_TEST(acl: a will is not published once a reloaded acl took its topic away) {
  for (auto v : both_versions) {
    CAF_MESSAGE(name(v));
    make(v);
    m().set_access(access_for("will/", "", ""));
    auto c = conn(true);
    add_will(c); // on "will/t": allowed at CONNECT
    open(c);
    take_fx();
    m().set_access(access_for("other/", "", "")); // the reload
    m().on_connection_closed(now);                 // no DISCONNECT: the will is due
    CAF_CHECK(take_fx().routes.empty());
    // Still allowed: published (the same flow, another machine).
    make(v);
    m().set_access(access_for("will/", "", ""));
    auto c2 = conn(true);
    add_will(c2);
    open(c2);
    take_fx();
    m().on_connection_closed(now);
    auto e = take_fx();
    CAF_REQUIRE_EQUAL(e.routes.size(), 1u);
    CAF_CHECK_EQUAL(e.routes[0]->topic, "will/t");
  }
}

CAF_TEST(acl: a will on a topic the client may not publish to refuses the CONNECT) {
  for (auto v : both_versions) {
    CAF_MESSAGE(name(v));
    make(v);
    m().set_access(access_for("ok/", "", ""));
    auto c = conn(true);
    add_will(c); // on "will/t"
    CAF_CHECK(!sm->on_connect(c, now));
    auto ack = next<connack>();
    CAF_CHECK_EQUAL(code(ack.code), 0x87); // 3.1.1: 0x05 on the wire, decoded as 0x87
    CAF_CHECK(take_fx().close);
  }
}

CAF_TEST(subscribe return codes and effects) {
  for (auto v : both_versions) {
    CAF_MESSAGE(name(v));
    make(v);
    open(conn(true));
    subscribe s;
    s.packet_id = 5;
    subscription a{"a/#", qos::at_least_once};
    subscription bad{"a/#/b", qos::at_most_once};
    subscription x{"x", qos::exactly_once};
    s.subscriptions = {a, bad, x};
    send(s);
    auto ack = next<suback>();
    CAF_CHECK_EQUAL(ack.packet_id, 5u);
    CAF_REQUIRE_EQUAL(ack.codes.size(), 3u);
    CAF_CHECK_EQUAL(code(ack.codes[0]), 1);
    CAF_CHECK_EQUAL(code(ack.codes[1]), v == v5 ? 0x8F : 0x80);
    CAF_CHECK_EQUAL(code(ack.codes[2]), 2);
    auto e = take_fx();
    CAF_REQUIRE_EQUAL(e.subscribes.size(), 2u);
    CAF_CHECK_EQUAL(e.subscribes[0].filter, "a/#");
    CAF_CHECK(e.subscribes[0].is_new);
    CAF_CHECK_EQUAL(e.subscribes[1].filter, "x");
    CAF_CHECK(e.subscribes[1].is_new);
    CAF_CHECK_EQUAL(m().subscriptions().size(), 2u);
    // Re-subscribe replaces the options, not new.
    s.packet_id = 6;
    s.subscriptions = {subscription{"a/#", qos::at_most_once}};
    send(s);
    CAF_CHECK_EQUAL(code(next<suback>().codes.at(0)), 0);
    e = take_fx();
    CAF_REQUIRE_EQUAL(e.subscribes.size(), 1u);
    CAF_CHECK(!e.subscribes[0].is_new);
    CAF_CHECK_EQUAL(level(m().subscriptions().at("a/#").max_qos), 0);
    // Unsubscribe: one existed, one did not.
    unsubscribe u;
    u.packet_id = 7;
    u.filters = {"a/#", "nope"};
    send(u);
    auto ua = next<unsuback>();
    CAF_CHECK_EQUAL(ua.packet_id, 7u);
    if (v == v5) {
      CAF_REQUIRE_EQUAL(ua.codes.size(), 2u);
      CAF_CHECK_EQUAL(code(ua.codes[0]), 0x00);
      CAF_CHECK_EQUAL(code(ua.codes[1]), 0x11);
    }
    e = take_fx();
    CAF_REQUIRE_EQUAL(e.unsubscribes.size(), 1u);
    CAF_CHECK_EQUAL(e.unsubscribes[0], "a/#");
    CAF_CHECK_EQUAL(m().subscriptions().size(), 1u);
  }
}

CAF_TEST(v5 no local on a shared subscription is a protocol error) {
  make(v5);
  open(conn(true));
  subscribe s;
  s.packet_id = 1;
  subscription sub{"$share/g/t", qos::at_least_once};
  sub.no_local = true;
  s.subscriptions = {sub};
  send(s);
  CAF_CHECK_EQUAL(code(next<disconnect>().code), 0x82);
  CAF_CHECK(quiet());
  auto e = take_fx();
  CAF_CHECK(e.close);
  CAF_CHECK_EQUAL(code(e.close_reason), 0x82);
}

CAF_TEST(v5 subscription identifier is stored and delivered) {
  make(v5);
  open(conn(true));
  subscribe s;
  s.packet_id = 1;
  s.props.subscription_identifiers = {17};
  s.subscriptions = {subscription{"a/+", qos::at_least_once}};
  send(s);
  next<suback>();
  CAF_CHECK_EQUAL(m().subscriptions().at("a/+").subscription_id, 17u);
  auto r = msg("a/b", "p", qos::at_least_once);
  r.subscription_ids = {17};
  m().on_deliver(r, now);
  auto p = next<publish>();
  CAF_REQUIRE_EQUAL(p.props.subscription_identifiers.size(), 1u);
  CAF_CHECK_EQUAL(p.props.subscription_identifiers[0], 17u);
}

// -- bad input -----------------------------------------------------------------

CAF_TEST(second connect is a protocol error) {
  for (auto v : both_versions) {
    CAF_MESSAGE(name(v));
    make(v);
    auto c = conn(true);
    add_will(c);
    open(c);
    send(c);
    CAF_CHECK(quiet()); // closed without DISCONNECT, in 5.0 too (§4.13.1)
    auto e = take_fx();
    CAF_CHECK(e.close);
    CAF_CHECK_EQUAL(code(e.close_reason), 0x82);
    CAF_CHECK_EQUAL(e.routes.size(), 1u); // abnormal end: the will
    CAF_CHECK(m().finished());
  }
}

CAF_TEST(malformed bytes close with 0x81) {
  for (auto v : both_versions) {
    CAF_MESSAGE(name(v));
    make(v);
    open(conn(true));
    // PUBLISH with QoS 3.
    send_bytes({0x36, 0x05, 0x00, 0x01, 'a', 0x00, 0x01});
    if (v == v5)
      CAF_CHECK_EQUAL(code(next<disconnect>().code), 0x81);
    CAF_CHECK(quiet());
    auto e = take_fx();
    CAF_CHECK(e.close);
    CAF_CHECK_EQUAL(code(e.close_reason), 0x81);
    // Remaining length of more than four bytes.
    make(v);
    open(conn(true));
    send_bytes({0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F});
    e = take_fx();
    CAF_CHECK(e.close);
    CAF_CHECK_EQUAL(code(e.close_reason), 0x81);
  }
}

CAF_TEST(v5 receive maximum exceeded) {
  limits.receive_maximum = 2;
  make(v5);
  open(conn(true));
  send(pub("a", qos::at_least_once, 1));
  send(pub("a", qos::exactly_once, 2));
  route_all();
  next<puback>();
  next<pubrec>();
  // QoS 1 acked: one slot free; QoS 2 holds its slot until PUBCOMP.
  send(pub("a", qos::at_least_once, 3));
  CAF_CHECK(m().connected());
  send(pub("a", qos::at_most_once, 0)); // QoS 0 does not count
  CAF_CHECK(m().connected());
  send(pub("a", qos::at_least_once, 4));
  CAF_CHECK_EQUAL(code(next<disconnect>().code), 0x93);
  CAF_CHECK(take_fx().close);
  // After PUBCOMP the slot is free again.
  make(v5);
  open(conn(true));
  send(pub("a", qos::exactly_once, 1));
  send(pub("a", qos::exactly_once, 2));
  route_all();
  next<pubrec>();
  next<pubrec>();
  send_ack<pubrel>(1);
  next<pubcomp>();
  send(pub("a", qos::exactly_once, 3));
  CAF_CHECK(m().connected());
  CAF_CHECK(quiet());
}

CAF_TEST(v5 publish with a subscription identifier from the client) {
  make(v5);
  open(conn(true));
  auto p = pub("a", qos::at_least_once, 1);
  p.props.subscription_identifiers = {3};
  send(p);
  CAF_CHECK_EQUAL(code(next<disconnect>().code), 0x82);
  auto e = take_fx();
  CAF_CHECK(e.close);
  CAF_CHECK(e.routes.empty());
}

CAF_TEST(oversize packet closes with 0x95) {
  for (auto v : both_versions) {
    CAF_MESSAGE(name(v));
    limits.max_packet_size = 64;
    make(v);
    open(conn(true));
    std::string big(100, 'x');
    send(pub("a", qos::at_least_once, 1, big));
    if (v == v5)
      CAF_CHECK_EQUAL(code(next<disconnect>().code), 0x95);
    CAF_CHECK(quiet());
    auto e = take_fx();
    CAF_CHECK(e.close);
    CAF_CHECK_EQUAL(code(e.close_reason), 0x95);
    CAF_CHECK(e.routes.empty());
  }
}

// -- outbound limits -----------------------------------------------------------

CAF_TEST(v5 client maximum packet size drops oversize deliveries) {
  make(v5);
  auto c = conn(true);
  c.props.maximum_packet_size = 64;
  open(c);
  std::string big(100, 'x');
  deliver(big, qos::at_least_once);
  deliver("small", qos::at_least_once);
  deliver(big, qos::at_most_once);
  deliver("small0", qos::at_most_once);
  CAF_CHECK_EQUAL(next<publish>().payload, "small");
  CAF_CHECK_EQUAL(next<publish>().payload, "small0");
  CAF_CHECK(quiet());
  CAF_CHECK_EQUAL(m().counters().dropped_too_large, 2u);
  CAF_CHECK_EQUAL(m().inflight_count(), 1u);
}

CAF_TEST(v5 in flight message too large for the new connection is dropped) {
  // §3.1.2.25: a packet too large to send is discarded "as if it had
  // completed sending": it must not hold a Receive Maximum slot forever.
  make(v5);
  auto c = conn(false, 3600);
  c.props.receive_maximum = 1;
  open(c);
  std::string big(100, 'x');
  deliver(big, qos::at_least_once);
  next<publish>();
  close();
  deliver("after", qos::at_least_once);
  c.props.maximum_packet_size = 64;
  open(c);
  CAF_CHECK_EQUAL(next<publish>().payload, "after");
  CAF_CHECK(quiet());
  CAF_CHECK_EQUAL(m().counters().dropped_too_large, 1u);
  CAF_CHECK_EQUAL(m().inflight_count(), 1u);
}

CAF_TEST(v5 message expiry) {
  make(v5);
  open(conn(false, 3600));
  // Already expired on arrival.
  auto r = msg("t", "dead", qos::at_least_once, qos::exactly_once, 1);
  advance(1s);
  m().on_deliver(r, now);
  CAF_CHECK(quiet());
  CAF_CHECK_EQUAL(m().counters().dropped_expired, 1u);
  // Remaining interval decremented when forwarded.
  r = msg("t", "live", qos::at_least_once, qos::exactly_once, 10);
  advance(3s);
  m().on_deliver(r, now);
  auto p = next<publish>();
  CAF_CHECK_EQUAL(p.props.message_expiry_interval.value_or(0), 7u);
  send_ack<puback>(p.packet_id);
  // Expires while queued offline: not delivered, counted.
  close();
  m().on_deliver(msg("t", "q1", qos::at_least_once, qos::exactly_once, 10), now);
  m().on_deliver(msg("t", "q2", qos::at_least_once, qos::exactly_once, 100), now);
  advance(20s);
  open(conn(false, 3600));
  p = next<publish>();
  CAF_CHECK_EQUAL(p.payload, "q2");
  CAF_CHECK_EQUAL(p.props.message_expiry_interval.value_or(0), 80u);
  CAF_CHECK(quiet());
  CAF_CHECK_EQUAL(m().counters().dropped_expired, 2u);
}

CAF_TEST(v311 deliveries carry no properties) {
  make(v311);
  open(conn(true));
  m().on_deliver(msg("t", "p", qos::at_least_once, qos::exactly_once, 10), now);
  auto p = next<publish>();
  CAF_CHECK_EQUAL(p.payload, "p");
  CAF_CHECK(quiet());
}


// -- more edges ----------------------------------------------------------------

CAF_TEST(v5 session expiry is capped and the cap reported) {
  limits.max_session_expiry = 100;
  make(v5);
  auto ack = open(conn(false, 3600));
  CAF_CHECK_EQUAL(ack.props.session_expiry_interval.value_or(0), 100u);
  CAF_CHECK_EQUAL(m().session_expiry(), 100u);
  close();
  CAF_CHECK(*m().next_deadline() == now + 100s);
}

CAF_TEST(keep alive timeout keeps a persistent session until expiry) {
  make(v5);
  open(conn(false, 60, 10));
  advance(15s);
  m().on_timer(now);
  CAF_CHECK(!m().connected());
  CAF_CHECK(!m().finished());
  CAF_CHECK(*m().next_deadline() == now + 60s);
  advance(60s);
  m().on_timer(now);
  CAF_CHECK(m().finished());
}

CAF_TEST(takeover of a clean session ends it) {
  for (auto v : both_versions) {
    CAF_MESSAGE(name(v));
    make(v);
    open(conn(true));
    subscribe_to("a", qos::at_most_once);
    take_fx();
    m().on_takeover(now);
    CAF_CHECK(m().finished());
    auto e = take_fx();
    CAF_CHECK(e.close);
    CAF_CHECK(has(e.unsubscribes, "a"));
  }
}

CAF_TEST(server disconnect publishes the will) {
  make(v5);
  auto c = conn(true);
  add_will(c);
  open(c);
  m().on_server_disconnect(reason_code::administrative_action, now);
  CAF_CHECK_EQUAL(code(next<disconnect>().code), 0x98);
  auto e = take_fx();
  CAF_CHECK(e.close);
  CAF_CHECK_EQUAL(e.routes.size(), 1u);
}

CAF_TEST(v5 normal disconnect of a persistent session drops a delayed will) {
  make(v5);
  auto c = conn(false, 3600);
  add_will(c, 10);
  open(c);
  send(disconnect{});
  advance(20s);
  m().on_timer(now);
  CAF_CHECK(take_fx().routes.empty());
  CAF_CHECK(!m().finished());
}

CAF_TEST(outbound packet ids wrap around and skip 0) {
  make(v5);
  open(conn(true));
  uint16_t last = 0;
  for (int i = 0; i < 70000; ++i) {
    deliver("m", qos::at_least_once);
    auto p = next<publish>();
    if (p.packet_id == 0)
      CAF_FAIL("packet id 0 after " << i << " deliveries");
    last = p.packet_id;
    send_ack<puback>(p.packet_id);
    wire.clear();
  }
  CAF_CHECK_EQUAL(last, 70000u - 65535u);
  CAF_CHECK_EQUAL(m().inflight_count(), 0u);
}

CAF_TEST(outbound packet ids skip ids still in flight) {
  make(v5);
  open(conn(true));
  deliver("held", qos::at_least_once);
  auto held = next<publish>().packet_id;
  for (int i = 0; i < 65535; ++i) {
    deliver("m", qos::at_least_once);
    auto p = next<publish>();
    if (p.packet_id == held || p.packet_id == 0)
      CAF_FAIL("packet id " << p.packet_id << " reused while in flight");
    send_ack<puback>(p.packet_id);
    wire.clear();
  }
}

CAF_TEST(v5 message expires while waiting for the window) {
  make(v5);
  auto c = conn(true);
  c.props.receive_maximum = 1;
  open(c);
  deliver("first", qos::at_least_once);
  auto p1 = next<publish>();
  m().on_deliver(msg("t", "short", qos::at_least_once, qos::exactly_once, 5), now);
  m().on_deliver(msg("t", "long", qos::at_least_once, qos::exactly_once, 50), now);
  advance(10s);
  send_ack<puback>(p1.packet_id);
  auto p = next<publish>();
  CAF_CHECK_EQUAL(p.payload, "long");
  CAF_CHECK_EQUAL(p.props.message_expiry_interval.value_or(0), 40u);
  CAF_CHECK_EQUAL(m().counters().dropped_expired, 1u);
}

CAF_TEST(bytes split across reads are framed) {
  for (auto v : both_versions) {
    CAF_MESSAGE(name(v));
    make(v);
    open(conn(true));
    std::vector<uint8_t> buf;
    encode(pub("a/b", qos::at_least_once, 1, "payload"), ver, buf);
    encode(pub("a/c", qos::at_least_once, 2, "payload"), ver, buf);
    for (auto b : buf)
      m().on_bytes(std::span<const uint8_t>{&b, 1}, now);
    auto routes = route_all();
    CAF_REQUIRE_EQUAL(routes.size(), 2u);
    CAF_CHECK_EQUAL(routes[1]->topic, "a/c");
    CAF_CHECK_EQUAL(next<puback>().packet_id, 1u);
    CAF_CHECK_EQUAL(next<puback>().packet_id, 2u);
  }
}

CAF_TEST(offline queue overflow with drop newest refuses the new message) {
  limits.max_queued_offline = 2;
  limits.offline_drop_newest = true;
  make(v5);
  open(persistent_connect());
  close();
  deliver("m1", qos::at_least_once);
  deliver("m2", qos::at_least_once);
  deliver("m3", qos::at_least_once);
  CAF_CHECK_EQUAL(m().counters().dropped_queue_full, 1u);
  open(persistent_connect());
  CAF_CHECK_EQUAL(next<publish>().payload, "m1");
  CAF_CHECK_EQUAL(next<publish>().payload, "m2");
  CAF_CHECK(quiet());
}

CAF_TEST(a connected persistent session marked slow drops at its stored limit) {
  // docs/sessions.md "Slow consumers": hold mark = 3 - min(3/2, 2000) = 2.
  limits.max_queued_offline = 3;
  make(v5);
  open(persistent_connect());
  take_fx();
  m().set_writable(false, now); // the client does not read: everything queues
  auto deliver_seq = [&](uint64_t seq) {
    auto d = msg("t/1", "m" + std::to_string(seq), qos::at_least_once);
    d.seq = seq;
    m().on_deliver(d, now);
  };
  for (uint64_t seq = 1; seq <= 5; ++seq)
    deliver_seq(seq);
  // Not marked: nothing dropped, the part above the hold mark is backlog.
  CAF_CHECK(!m().slow());
  CAF_CHECK_EQUAL(m().counters().dropped_queue_full, 0u);
  CAF_CHECK_EQUAL(m().progress(), 5 - 3);
  // Marked: back to the limit at once (the oldest), all of it is backlog.
  take_fx();
  m().set_slow(true);
  CAF_CHECK(m().slow());
  CAF_CHECK_EQUAL(m().counters().dropped_queue_full, 2u);
  CAF_CHECK_EQUAL(take_fx().done_seqs, (std::vector<uint64_t>{1, 2}));
  CAF_CHECK_EQUAL(m().progress(), 5 - 3);
  deliver_seq(6); // drops the oldest
  CAF_CHECK_EQUAL(m().counters().dropped_queue_full, 3u);
  CAF_CHECK_EQUAL(take_fx().done_seqs, (std::vector<uint64_t>{3}));
  // Unmarked by the router while above its hold mark: stays marked until below.
  m().set_slow(false);
  CAF_CHECK(m().slow());
  m().set_writable(true, now);
  for (auto expected : {"m4", "m5", "m6"})
    CAF_CHECK_EQUAL(next<publish>().payload, expected);
  CAF_CHECK(!m().slow());
  // Marked again, then disconnected: the mark goes with the connection.
  m().set_writable(false, now);
  deliver_seq(7);
  m().set_slow(true);
  CAF_CHECK(m().slow());
  close();
  CAF_CHECK(!m().slow());
  m().set_slow(true); // offline: its offline limit applies anyway
  CAF_CHECK(!m().slow());
}

CAF_TEST(a slow mark is ignored with slow_persistent_consumer hold and by clean sessions) {
  limits.max_queued_offline = 3;
  limits.hold_slow_persistent = true;
  make(v5);
  open(persistent_connect());
  m().set_writable(false, now);
  for (uint64_t seq = 1; seq <= 5; ++seq) {
    auto d = msg("t/1", "m", qos::at_least_once);
    d.seq = seq;
    m().on_deliver(d, now);
  }
  m().set_slow(true);
  CAF_CHECK(!m().slow());
  CAF_CHECK_EQUAL(m().counters().dropped_queue_full, 0u);
  limits.hold_slow_persistent = false;
  make(v5);
  open(conn(true));
  m().set_slow(true);
  CAF_CHECK(!m().slow());
}

CAF_TEST(offline messages without expiry are kept at most the offline ttl) {
  limits.offline_message_ttl = std::chrono::seconds{10};
  make(v5);
  open(persistent_connect());
  close();
  deliver("old", qos::at_least_once);
  advance(8000ms);
  deliver("new", qos::at_least_once);
  advance(3000ms); // "old" is 11 s old, "new" 3 s
  open(persistent_connect());
  CAF_CHECK_EQUAL(next<publish>().payload, "new");
  CAF_CHECK(quiet());
  CAF_CHECK_EQUAL(m().counters().dropped_expired, 1u);
}

CAF_TEST(durable queue entries are reported done when acknowledged or dropped) {
  make(v5);
  open(persistent_connect());
  take_fx();
  auto d1 = msg("t/1", "a", qos::at_least_once);
  d1.seq = 7;
  auto d2 = msg("t/1", "b", qos::exactly_once);
  d2.seq = 8;
  m().on_deliver(d1, now);
  m().on_deliver(d2, now);
  auto p1 = next<publish>();
  auto p2 = next<publish>();
  // Packet ids of durable entries derive from their sequence numbers.
  CAF_CHECK_EQUAL(p1.packet_id, 8u);
  CAF_CHECK_EQUAL(p2.packet_id, 9u);
  send_ack<puback>(p1.packet_id);
  CAF_CHECK_EQUAL(take_fx().done_seqs, std::vector<uint64_t>{7});
  send_ack<pubrec>(p2.packet_id);
  // PUBREL only once the "released" mark is stored.
  auto fx = take_fx();
  CAF_CHECK(fx.done_seqs.empty()); // not done before PUBCOMP
  CAF_CHECK_EQUAL(fx.mark_seqs, std::vector<uint64_t>{8});
  CAF_CHECK(quiet());
  m().on_mark_stored(8, true, now);
  CAF_CHECK_EQUAL(next<pubrel>().packet_id, p2.packet_id);
  send_ack<pubcomp>(p2.packet_id);
  fx = take_fx();
  CAF_CHECK_EQUAL(fx.done_seqs, std::vector<uint64_t>{8});
  CAF_CHECK_EQUAL(fx.unmark_seqs, std::vector<uint64_t>{8}); // the mark goes with it
}

// -- QoS 2 across a restart: the stored "released" mark --------------------------

CAF_TEST(a stored qos 2 entry sends pubrel only after its released mark is stored) {
  for (auto v : both_versions) {
    CAF_MESSAGE(name(v));
    make(v);
    open(persistent_connect());
    take_fx();
    auto d = msg("t/1", "once", qos::exactly_once);
    d.seq = 20;
    m().on_deliver(d, now);
    auto p = next<publish>();
    CAF_CHECK_EQUAL(p.packet_id, 21u);
    send_ack<pubrec>(p.packet_id);
    CAF_CHECK_EQUAL(take_fx().mark_seqs, std::vector<uint64_t>{20});
    CAF_CHECK(quiet());
    // A second PUBREC while the mark is on its way asks for nothing more.
    send_ack<pubrec>(p.packet_id);
    CAF_CHECK(take_fx().mark_seqs.empty());
    CAF_CHECK(quiet());
    // Stale and foreign answers change nothing.
    m().on_mark_stored(19, true, now);
    m().on_mark_stored(20 + 65535, true, now); // same packet id, other entry
    CAF_CHECK(quiet());
    m().on_mark_stored(20, true, now);
    CAF_CHECK_EQUAL(next<pubrel>().packet_id, 21u);
    CAF_CHECK(quiet());
    // A duplicate PUBREC now: PUBREL again (the mark is durable).
    send_ack<pubrec>(p.packet_id);
    CAF_CHECK_EQUAL(next<pubrel>().packet_id, 21u);
    CAF_CHECK(take_fx().mark_seqs.empty());
    // Reconnect before PUBCOMP: PUBREL, never the message.
    close();
    open(persistent_connect());
    CAF_CHECK_EQUAL(next<pubrel>().packet_id, 21u);
    CAF_CHECK(quiet());
    send_ack<pubcomp>(21);
    auto fx = take_fx();
    CAF_CHECK_EQUAL(fx.done_seqs, std::vector<uint64_t>{20});
    CAF_CHECK_EQUAL(fx.unmark_seqs, std::vector<uint64_t>{20});
    CAF_CHECK_EQUAL(m().inflight_count(), 0u);
  }
}

CAF_TEST(a released mark that fails to store leaves the message to be resent) {
  make(v5);
  open(persistent_connect());
  take_fx();
  auto d = msg("t/1", "once", qos::exactly_once);
  d.seq = 5;
  m().on_deliver(d, now);
  auto p = next<publish>();
  send_ack<pubrec>(p.packet_id);
  CAF_CHECK_EQUAL(take_fx().mark_seqs, std::vector<uint64_t>{5});
  m().on_mark_stored(5, false, now);
  CAF_CHECK(quiet()); // no PUBREL: a crash now must not be followed by the message
  // Next connection: PUBLISH with DUP, and the flow starts over.
  close();
  open(persistent_connect());
  auto again = next<publish>();
  CAF_CHECK(again.dup);
  CAF_CHECK_EQUAL(again.packet_id, p.packet_id);
  CAF_CHECK_EQUAL(again.payload, "once");
  send_ack<pubrec>(p.packet_id);
  CAF_CHECK_EQUAL(take_fx().mark_seqs, std::vector<uint64_t>{5});
  m().on_mark_stored(5, true, now);
  CAF_CHECK_EQUAL(next<pubrel>().packet_id, p.packet_id);
}

CAF_TEST(a mark stored while offline sends pubrel on reconnect) {
  make(v5);
  open(persistent_connect());
  take_fx();
  auto d = msg("t/1", "once", qos::exactly_once);
  d.seq = 9;
  m().on_deliver(d, now);
  auto p = next<publish>();
  send_ack<pubrec>(p.packet_id);
  close();
  // Reconnected before the mark is stored: nothing is resent for it ...
  open(persistent_connect());
  CAF_CHECK(quiet());
  close();
  m().on_mark_stored(9, true, now);
  CAF_CHECK(quiet()); // ... nothing is written while offline ...
  open(persistent_connect());
  CAF_CHECK_EQUAL(next<pubrel>().packet_id, p.packet_id); // ... PUBREL on the next one
  CAF_CHECK(quiet());
}

CAF_TEST(restored entries with a released mark are resent as pubrel) {
  for (auto v : both_versions) {
    CAF_MESSAGE(name(v));
    make(v);
    std::deque<queued_message> q;
    auto a = msg("t/1", "pubrec-seen", qos::exactly_once);
    auto b = msg("t/1", "pubrec-not-seen", qos::exactly_once);
    queued_message qa{a.msg, 41, false, false, qos::exactly_once, false, {}};
    qa.released = true;
    q.push_back(std::move(qa));
    q.push_back(queued_message{b.msg, 42, false, false, qos::exactly_once, false, {}});
    m().restore(v, 3600, now + 3600s, {{"t/#", subscription_entry{qos::exactly_once}}},
                std::move(q));
    take_fx();
    auto ack = open(persistent_connect());
    CAF_CHECK(ack.session_present);
    // Seq 41: PUBREL with its packet id, no PUBLISH. Seq 42: PUBLISH, DUP.
    CAF_CHECK_EQUAL(next<pubrel>().packet_id, 42u);
    auto p = next<publish>();
    CAF_CHECK(p.dup);
    CAF_CHECK_EQUAL(p.packet_id, 43u);
    CAF_CHECK_EQUAL(p.payload, "pubrec-not-seen");
    CAF_CHECK(quiet());
    send_ack<pubcomp>(42);
    auto fx = take_fx();
    CAF_CHECK_EQUAL(fx.done_seqs, std::vector<uint64_t>{41});
    CAF_CHECK_EQUAL(fx.unmark_seqs, std::vector<uint64_t>{41});
    send_ack<pubrec>(43);
    CAF_CHECK_EQUAL(take_fx().mark_seqs, std::vector<uint64_t>{42});
  }
}

CAF_TEST(a cold page carries the released mark into a pubrel) {
  make(v5);
  m().restore_cold(v5, 3600, now + 3600s, {{"t/#", subscription_entry{qos::exactly_once}}}, 100,
                   101, 2);
  take_fx();
  open(persistent_connect());
  auto fx = take_fx();
  CAF_REQUIRE_NOT_EQUAL(fx.page.token, 0u);
  CAF_CHECK_EQUAL(fx.page.from_seq, 100u);
  auto a = msg("t/1", "pubrec-seen", qos::exactly_once);
  auto b = msg("t/1", "pubrec-not-seen", qos::exactly_once);
  std::vector<queued_message> page;
  queued_message qa{a.msg, 100, false, false, qos::exactly_once, false, {}};
  qa.released = true;
  page.push_back(std::move(qa));
  page.push_back(queued_message{b.msg, 101, false, false, qos::exactly_once, false, {}});
  m().on_page(fx.page.token, std::move(page), now);
  CAF_CHECK_EQUAL(next<pubrel>().packet_id, amq::storage::packet_id_for(100));
  auto p = next<publish>();
  CAF_CHECK(p.dup);
  CAF_CHECK_EQUAL(p.packet_id, amq::storage::packet_id_for(101));
  CAF_CHECK(quiet());
}

CAF_TEST(restored queue is resent with dup after reconnect) {
  make(v5);
  std::deque<queued_message> q;
  auto r = msg("t/1", "kept", qos::at_least_once);
  q.push_back(queued_message{r.msg, 41, false, false, qos::at_least_once, false, {}});
  m().restore(v5, 3600, now + 3600s, {{"t/#", subscription_entry{qos::at_least_once}}},
              std::move(q));
  auto e = take_fx();
  CAF_REQUIRE_EQUAL(e.subscribes.size(), 1u);
  CAF_CHECK(e.subscribes[0].restored);
  CAF_CHECK(!m().connected());
  auto ack = open(persistent_connect());
  CAF_CHECK(ack.session_present);
  auto p = next<publish>();
  CAF_CHECK(p.dup);
  CAF_CHECK_EQUAL(p.payload, "kept");
  CAF_CHECK_EQUAL(p.packet_id, 42u);
}

CAF_TEST(topic level limit rejects deep topics and filters) {
  limits.max_topic_levels = 3;
  make(v5);
  open(conn(true));
  subscribe s;
  s.packet_id = 1;
  subscription ok;
  ok.filter = "a/b/c";
  subscription deep;
  deep.filter = "a/b/c/d";
  s.subscriptions = {ok, deep};
  send(s);
  auto ack = next<suback>();
  CAF_REQUIRE_EQUAL(ack.codes.size(), 2u);
  CAF_CHECK_EQUAL(code(ack.codes[0]), 0x00);
  CAF_CHECK_EQUAL(code(ack.codes[1]), 0x8F);
  send(pub("a/b/c/d", qos::at_most_once, 0));
  CAF_CHECK_EQUAL(code(next<disconnect>().code), 0x90);
  CAF_CHECK(take_fx().close);
}

CAF_TEST(max keep alive caps only larger or zero requests in mqtt 5) {
  limits.server_keep_alive = 60;
  make(v5);
  auto a1 = open(conn(true, std::nullopt, 30));
  CAF_CHECK(!a1.props.server_keep_alive.has_value());
  make(v5);
  auto a2 = open(conn(true, std::nullopt, 0));
  CAF_CHECK_EQUAL(a2.props.server_keep_alive.value_or(0), 60u);
}

CAF_TEST(no expiry ttl replaces never) {
  limits.no_expiry_ttl = 600;
  make(v5);
  auto ack = open(conn(false)); // seed rule: Clean Start 0, no expiry → "never"
  CAF_CHECK_EQUAL(ack.props.session_expiry_interval.value_or(0), 600u);
  CAF_CHECK_EQUAL(m().session_expiry(), 600u);
}

// -- inbound QoS 2 state across a restart ------------------------------------------

CAF_TEST(persistent session: pubrec waits for the stored inbound qos 2 id) {
  for (auto v : both_versions) {
    CAF_MESSAGE(name(v));
    make(v);
    open(persistent_connect());
    take_fx();
    send(pub("a", qos::exactly_once, 7));
    send(pub("b", qos::at_least_once, 8));
    auto fx = take_fx();
    CAF_CHECK_EQUAL(fx.routes.size(), 2u);
    CAF_CHECK_EQUAL(fx.store_qos2_in, std::vector<uint16_t>{7});
    m().on_routed(m().commit_routes(), now);
    CAF_CHECK(quiet()); // routed, but the id is not stored yet: no PUBREC, and no PUBACK before it
    // A duplicate meanwhile is not routed and waits as well.
    auto dup = pub("a", qos::exactly_once, 7);
    dup.dup = true;
    send(dup);
    fx = take_fx();
    CAF_CHECK(fx.routes.empty());
    CAF_CHECK(fx.store_qos2_in.empty());
    CAF_CHECK(quiet());
    m().on_qos2_in_stored(9, true, now); // foreign answer: ignored
    CAF_CHECK(quiet());
    m().on_qos2_in_stored(7, true, now);
    CAF_CHECK_EQUAL(next<pubrec>().packet_id, 7u);
    CAF_CHECK_EQUAL(next<puback>().packet_id, 8u);
    CAF_CHECK_EQUAL(next<pubrec>().packet_id, 7u);
    CAF_CHECK(quiet());
    // Stored before the routes are accepted: PUBREC waits for the router.
    send(pub("c", qos::exactly_once, 9));
    CAF_CHECK_EQUAL(take_fx().store_qos2_in, std::vector<uint16_t>{9});
    m().on_qos2_in_stored(9, true, now);
    CAF_CHECK(quiet());
    m().on_routed(m().commit_routes(), now);
    CAF_CHECK_EQUAL(next<pubrec>().packet_id, 9u);
    // PUBREL erases the id; PUBCOMP waits for that (the client may reuse
    // the id after PUBCOMP). A repeated PUBREL meanwhile asks for nothing.
    send_ack<pubrel>(7);
    CAF_CHECK_EQUAL(take_fx().erase_qos2_in, std::vector<uint16_t>{7});
    CAF_CHECK(quiet());
    send_ack<pubrel>(7);
    CAF_CHECK(take_fx().erase_qos2_in.empty());
    CAF_CHECK(quiet());
    m().on_qos2_in_erased(9, true, now); // not being erased: ignored
    CAF_CHECK(quiet());
    m().on_qos2_in_erased(7, true, now);
    auto comp = next<pubcomp>();
    CAF_CHECK_EQUAL(comp.packet_id, 7u);
    CAF_CHECK_EQUAL(code(comp.code), 0x00);
    CAF_CHECK(quiet());
    m().on_qos2_in_erased(7, true, now); // stale
    CAF_CHECK(quiet());
    // A failed store: PUBREC goes out anyway (logged by the actor).
    send(pub("d", qos::exactly_once, 10));
    route_all();
    CAF_CHECK(quiet());
    m().on_qos2_in_stored(10, false, now);
    CAF_CHECK_EQUAL(next<pubrec>().packet_id, 10u);
  }
}

CAF_TEST(clean session stores no inbound qos 2 id) {
  for (auto v : both_versions) {
    CAF_MESSAGE(name(v));
    make(v);
    open(conn(true));
    take_fx();
    send(pub("a", qos::exactly_once, 7));
    auto fx = take_fx();
    CAF_CHECK(fx.store_qos2_in.empty());
    m().on_routed(m().commit_routes(), now);
    CAF_CHECK_EQUAL(next<pubrec>().packet_id, 7u);
    send_ack<pubrel>(7);
    CAF_CHECK_EQUAL(next<pubcomp>().packet_id, 7u);
    CAF_CHECK(take_fx().erase_qos2_in.empty());
  }
}

CAF_TEST(restored inbound qos 2 ids make a resent publish a duplicate) {
  for (auto v : both_versions) {
    CAF_MESSAGE(name(v));
    make(v);
    m().restore_cold(v, 3600, now + 3600s, {}, 0, 0, 0);
    m().restore_qos2_in({7, 65535});
    take_fx();
    CAF_CHECK_EQUAL(m().qos2_in_count(), 2u);
    auto ack = open(persistent_connect());
    CAF_CHECK(ack.session_present);
    take_fx();
    // The publisher did not see PUBREC before the restart: it resends.
    auto dup = pub("a", qos::exactly_once, 7);
    dup.dup = true;
    send(dup);
    auto fx = take_fx();
    CAF_CHECK(fx.routes.empty()); // not routed a second time
    CAF_CHECK(fx.store_qos2_in.empty());
    CAF_CHECK_EQUAL(next<pubrec>().packet_id, 7u);
    CAF_CHECK_EQUAL(m().counters().duplicate_qos2, 1u);
    send_ack<pubrel>(7);
    CAF_CHECK_EQUAL(take_fx().erase_qos2_in, std::vector<uint16_t>{7});
    m().on_qos2_in_erased(7, true, now);
    auto comp = next<pubcomp>();
    CAF_CHECK_EQUAL(comp.packet_id, 7u);
    CAF_CHECK_EQUAL(code(comp.code), 0x00);
    // PUBREL for the other restored id (PUBREC was seen): erased, PUBCOMP.
    send_ack<pubrel>(65535);
    CAF_CHECK_EQUAL(take_fx().erase_qos2_in, std::vector<uint16_t>{65535});
    m().on_qos2_in_erased(65535, true, now);
    comp = next<pubcomp>();
    CAF_CHECK_EQUAL(comp.packet_id, 65535u);
    CAF_CHECK_EQUAL(code(comp.code), 0x00);
    CAF_CHECK_EQUAL(m().qos2_in_count(), 0u);
    // The id is free again: a new message, routed and stored.
    send(pub("a", qos::exactly_once, 7));
    fx = take_fx();
    CAF_CHECK_EQUAL(fx.routes.size(), 1u);
    CAF_CHECK_EQUAL(fx.store_qos2_in, std::vector<uint16_t>{7});
  }
}

CAF_TEST(an inbound qos 2 erase confirmed while offline) {
  make(v5);
  open(persistent_connect());
  send(pub("a", qos::exactly_once, 7));
  take_fx();
  m().on_qos2_in_stored(7, true, now);
  m().on_routed(m().commit_routes(), now);
  CAF_CHECK_EQUAL(next<pubrec>().packet_id, 7u);
  send_ack<pubrel>(7);
  CAF_CHECK_EQUAL(take_fx().erase_qos2_in, std::vector<uint16_t>{7});
  close();
  take_fx();
  m().on_qos2_in_erased(7, true, now); // offline: nothing to write
  CAF_CHECK_EQUAL(m().qos2_in_count(), 0u);
  open(persistent_connect());
  CAF_CHECK(quiet());
  send_ack<pubrel>(7); // the client did not see PUBCOMP: it resends PUBREL
  CAF_CHECK_EQUAL(next<pubcomp>().packet_id, 7u);
}

CAF_TEST(a clean start drops the restored inbound qos 2 ids) {
  make(v5);
  m().restore_cold(v5, 3600, now + 3600s, {}, 0, 0, 0);
  m().restore_qos2_in({7});
  take_fx();
  auto ack = open(conn(true, 3600));
  CAF_CHECK(!ack.session_present);
  CAF_CHECK(take_fx().state_reset); // the actor erases the stored session with its ids
  CAF_CHECK_EQUAL(m().qos2_in_count(), 0u);
  send(pub("a", qos::exactly_once, 7));
  CAF_CHECK_EQUAL(take_fx().routes.size(), 1u);
}

// -- durable batches: one storage write per input ------------------------------------

CAF_TEST(the inbound qos 2 ids of one input form one durable batch) {
  for (auto v : both_versions) {
    CAF_MESSAGE(name(v));
    make(v);
    open(persistent_connect());
    take_fx();
    CAF_CHECK(m().commit_durable() == nullptr); // nothing asked: no batch
    // One read: three QoS 2 PUBLISHes and a QoS 1 one behind them.
    std::vector<uint8_t> buf;
    encode(pub("a", qos::exactly_once, 3), ver, buf);
    encode(pub("a", qos::exactly_once, 1), ver, buf);
    encode(pub("a", qos::exactly_once, 2), ver, buf);
    encode(pub("b", qos::at_least_once, 4), ver, buf);
    send_bytes(buf);
    auto* b = m().commit_durable();
    CAF_REQUIRE(b != nullptr);
    auto token = b->token;
    CAF_CHECK_NOT_EQUAL(token, 0u);
    CAF_CHECK_EQUAL(b->store_qos2_in, (std::vector<uint16_t>{3, 1, 2}));
    CAF_CHECK(b->mark_seqs.empty());
    CAF_CHECK(b->erase_qos2_in.empty());
    CAF_CHECK(m().commit_durable() == nullptr); // one batch per input
    auto fx = take_fx();
    CAF_CHECK_EQUAL(fx.routes.size(), 4u);
    CAF_CHECK(fx.store_qos2_in.empty()); // moved into the batch
    m().on_routed(m().commit_routes(), now);
    CAF_CHECK(quiet()); // routes accepted, batch not committed: no ack at all
    m().on_durable(token + 1, true, now); // unknown token: ignored
    CAF_CHECK(quiet());
    m().on_durable(token, true, now);
    CAF_CHECK_EQUAL(next<pubrec>().packet_id, 3u);
    CAF_CHECK_EQUAL(next<pubrec>().packet_id, 1u);
    CAF_CHECK_EQUAL(next<pubrec>().packet_id, 2u);
    CAF_CHECK_EQUAL(next<puback>().packet_id, 4u);
    CAF_CHECK(quiet());
    m().on_durable(token, true, now); // answered once: stale now
    CAF_CHECK(quiet());
    // Committed before the routes are accepted: the PUBRECs wait for those.
    buf.clear();
    encode(pub("a", qos::exactly_once, 5), ver, buf);
    encode(pub("a", qos::exactly_once, 6), ver, buf);
    send_bytes(buf);
    b = m().commit_durable();
    CAF_REQUIRE(b != nullptr);
    CAF_CHECK_EQUAL(b->store_qos2_in, (std::vector<uint16_t>{5, 6}));
    m().on_durable(b->token, true, now);
    CAF_CHECK(quiet());
    route_all();
    CAF_CHECK_EQUAL(next<pubrec>().packet_id, 5u);
    CAF_CHECK_EQUAL(next<pubrec>().packet_id, 6u);
    CAF_CHECK(quiet());
  }
}

CAF_TEST(durable batches answered out of order keep the acks in order) {
  make(v5);
  open(persistent_connect());
  take_fx();
  send(pub("a", qos::exactly_once, 1));
  auto first = m().commit_durable()->token;
  route_all();
  send(pub("a", qos::exactly_once, 2));
  auto second = m().commit_durable()->token;
  route_all();
  CAF_CHECK_NOT_EQUAL(first, second);
  m().on_durable(second, true, now);
  CAF_CHECK(quiet()); // PUBREC 2 waits behind PUBREC 1
  m().on_durable(first, true, now);
  CAF_CHECK_EQUAL(next<pubrec>().packet_id, 1u);
  CAF_CHECK_EQUAL(next<pubrec>().packet_id, 2u);
  CAF_CHECK(quiet());
}

CAF_TEST(the pubrecs of one input form one mark batch and pubrel follows it) {
  for (auto v : both_versions) {
    CAF_MESSAGE(name(v));
    make(v);
    open(persistent_connect());
    take_fx();
    for (uint64_t seq : {10, 11, 12}) {
      auto d = msg("t/1", "m" + std::to_string(seq), qos::exactly_once);
      d.seq = seq;
      m().on_deliver(d, now);
    }
    for (uint16_t id : {11, 12, 13})
      CAF_CHECK_EQUAL(next<publish>().packet_id, id);
    take_fx();
    // One read: PUBREC for all three, not in the order they were sent.
    std::vector<uint8_t> buf;
    for (uint16_t id : {12, 11, 13}) {
      pubrec r;
      r.packet_id = id;
      encode(r, ver, buf);
    }
    send_bytes(buf);
    auto* b = m().commit_durable();
    CAF_REQUIRE(b != nullptr);
    CAF_CHECK_EQUAL(b->mark_seqs, (std::vector<uint64_t>{11, 10, 12}));
    CAF_CHECK(b->store_qos2_in.empty());
    CAF_CHECK(b->erase_qos2_in.empty());
    CAF_CHECK(m().commit_durable() == nullptr);
    CAF_CHECK(quiet()); // no PUBREL before the marks are durable
    m().on_durable(b->token, true, now);
    // PUBREL in the order the PUBRECs arrived.
    CAF_CHECK_EQUAL(next<pubrel>().packet_id, 12u);
    CAF_CHECK_EQUAL(next<pubrel>().packet_id, 11u);
    CAF_CHECK_EQUAL(next<pubrel>().packet_id, 13u);
    CAF_CHECK(quiet());
  }
}

CAF_TEST(the pubrels of one input form one erase batch and pubcomp follows it) {
  for (auto v : both_versions) {
    CAF_MESSAGE(name(v));
    make(v);
    open(persistent_connect());
    take_fx();
    std::vector<uint8_t> buf;
    for (uint16_t id : {5, 6, 7})
      encode(pub("a", qos::exactly_once, id), ver, buf);
    send_bytes(buf);
    m().on_durable(m().commit_durable()->token, true, now);
    route_all();
    for (uint16_t id : {5, 6, 7})
      CAF_CHECK_EQUAL(next<pubrec>().packet_id, id);
    // One read: PUBREL for all three.
    buf.clear();
    for (uint16_t id : {6, 5, 7}) {
      pubrel r;
      r.packet_id = id;
      encode(r, ver, buf);
    }
    send_bytes(buf);
    auto* b = m().commit_durable();
    CAF_REQUIRE(b != nullptr);
    CAF_CHECK_EQUAL(b->erase_qos2_in, (std::vector<uint16_t>{6, 5, 7}));
    CAF_CHECK(b->store_qos2_in.empty());
    CAF_CHECK(b->mark_seqs.empty());
    CAF_CHECK(quiet()); // PUBCOMP only once the erases are durable
    m().on_durable(b->token, true, now);
    for (uint16_t id : {6, 5, 7}) {
      auto comp = next<pubcomp>();
      CAF_CHECK_EQUAL(comp.packet_id, id);
      CAF_CHECK_EQUAL(code(comp.code), 0x00);
    }
    CAF_CHECK(quiet());
    CAF_CHECK_EQUAL(m().qos2_in_count(), 0u);
  }
}

CAF_TEST(one input with ids marks and erases gives one batch of all three) {
  make(v5);
  open(persistent_connect());
  take_fx();
  send(pub("a", qos::exactly_once, 1));
  m().on_durable(m().commit_durable()->token, true, now);
  route_all();
  CAF_CHECK_EQUAL(next<pubrec>().packet_id, 1u);
  auto d = msg("t/1", "out", qos::exactly_once);
  d.seq = 40;
  m().on_deliver(d, now);
  CAF_CHECK_EQUAL(next<publish>().packet_id, 41u);
  take_fx();
  // One read: a new PUBLISH, the PUBREC of the outbound entry, PUBREL 1.
  std::vector<uint8_t> buf;
  encode(pub("a", qos::exactly_once, 2), ver, buf);
  pubrec rec;
  rec.packet_id = 41;
  encode(rec, ver, buf);
  pubrel rel;
  rel.packet_id = 1;
  encode(rel, ver, buf);
  send_bytes(buf);
  auto* b = m().commit_durable();
  CAF_REQUIRE(b != nullptr);
  CAF_CHECK_EQUAL(b->store_qos2_in, std::vector<uint16_t>{2});
  CAF_CHECK_EQUAL(b->mark_seqs, std::vector<uint64_t>{40});
  CAF_CHECK_EQUAL(b->erase_qos2_in, std::vector<uint16_t>{1});
  auto token = b->token;
  route_all();
  CAF_CHECK(quiet());
  m().on_durable(token, true, now);
  CAF_CHECK_EQUAL(next<pubrec>().packet_id, 2u);
  CAF_CHECK_EQUAL(next<pubrel>().packet_id, 41u);
  CAF_CHECK_EQUAL(next<pubcomp>().packet_id, 1u);
  CAF_CHECK(quiet());
}

CAF_TEST(a failed durable batch) {
  for (auto v : both_versions) {
    CAF_MESSAGE(name(v));
    make(v);
    open(persistent_connect());
    take_fx();
    send(pub("a", qos::exactly_once, 9));
    m().on_durable(m().commit_durable()->token, true, now);
    route_all();
    CAF_CHECK_EQUAL(next<pubrec>().packet_id, 9u);
    auto d = msg("t/1", "out", qos::exactly_once);
    d.seq = 30;
    m().on_deliver(d, now);
    CAF_CHECK_EQUAL(next<publish>().packet_id, 31u);
    take_fx();
    std::vector<uint8_t> buf;
    encode(pub("a", qos::exactly_once, 1), ver, buf);
    encode(pub("a", qos::exactly_once, 2), ver, buf);
    pubrec rec;
    rec.packet_id = 31;
    encode(rec, ver, buf);
    pubrel rel;
    rel.packet_id = 9;
    encode(rel, ver, buf);
    send_bytes(buf);
    auto* b = m().commit_durable();
    CAF_REQUIRE(b != nullptr);
    CAF_CHECK_EQUAL(b->store_qos2_in, (std::vector<uint16_t>{1, 2}));
    CAF_CHECK_EQUAL(b->mark_seqs, std::vector<uint64_t>{30});
    CAF_CHECK_EQUAL(b->erase_qos2_in, std::vector<uint16_t>{9});
    auto token = b->token;
    route_all();
    CAF_CHECK(quiet());
    m().on_durable(token, false, now);
    // The storage is failing: PUBREC and PUBCOMP go out anyway (the actor
    // logs it), in order; no PUBREL (a crash must not be followed by the
    // message again): the entry waits for PUBREC again.
    CAF_CHECK_EQUAL(next<pubrec>().packet_id, 1u);
    CAF_CHECK_EQUAL(next<pubrec>().packet_id, 2u);
    auto comp = next<pubcomp>();
    CAF_CHECK_EQUAL(comp.packet_id, 9u);
    CAF_CHECK_EQUAL(code(comp.code), 0x00);
    CAF_CHECK(quiet());
    CAF_CHECK_EQUAL(m().qos2_in_count(), 2u); // 1 and 2, kept until PUBREL
    // Next connection: the entry is resent as PUBLISH (DUP), and its
    // PUBREC starts a new batch.
    close();
    open(persistent_connect());
    auto again = next<publish>();
    CAF_CHECK(again.dup);
    CAF_CHECK_EQUAL(again.packet_id, 31u);
    CAF_CHECK(quiet());
    send_ack<pubrec>(31);
    b = m().commit_durable();
    CAF_REQUIRE(b != nullptr);
    CAF_CHECK_EQUAL(b->mark_seqs, std::vector<uint64_t>{30});
    m().on_durable(b->token, true, now);
    CAF_CHECK_EQUAL(next<pubrel>().packet_id, 31u);
    // A resent PUBLISH 1 is still a duplicate: not routed, PUBREC.
    auto dup = pub("a", qos::exactly_once, 1);
    dup.dup = true;
    send(dup);
    CAF_CHECK(take_fx().routes.empty());
    CAF_CHECK_EQUAL(next<pubrec>().packet_id, 1u);
  }
}

CAF_TEST_FIXTURE_SCOPE_END()
