#define CAF_SUITE actors_registry
#include <caf/test/unit_test.hpp>

// The REGISTRY actor (amq/actors/registry.hpp) with real session and router
// actors under CAF's test coordinator: takeover, simultaneous CONNECTs,
// clean and persistent session lifetimes, the retry path when a CONNECT
// races with the end of a session, empty client ids, and shutdown.

#include "actor_fixture.hpp"
#include "amq/metrics/registry.hpp"

#include <algorithm>

using namespace amq;
using namespace amq::actors;
using namespace amq::test;
using protocol::qos;
using protocol::reason_code;

namespace {

struct fixture : actor_fixture {
  caf::actor router;
  caf::actor registry;

  fixture() {
    router = spawn_router(sys, limits, caf::actor{});
    registry = spawn_registry(sys, limits, router, caf::actor{});
    sched.run();
  }

  ~fixture() {
    std::vector<caf::actor> all{registry, router};
    if (!terminated(registry))
      for (auto& [cid, e] : reg().sessions)
        all.push_back(e.session);
    stop_actors(all);
  }

  registry_state& reg() {
    return deref<registry_actor_type>(registry).state;
  }

  client make(std::string id, protocol_version v) {
    return make_client(std::move(id), v, registry);
  }

  /// Sends the CONNECT of `c` to the registry (as edge_link does); does not run.
  void send_connect(client& c, connect_options o = {}) {
    caf::anon_send(registry, connect_atom::value, net::connection_ptr{c.conn},
                   make_connect_frame(c.connect_packet(o)), c.link);
  }

  /// Connects `c` and returns its CONNACK.
  protocol::connack connect(client& c, connect_options o = {}) {
    send_connect(c, o);
    settle();
    return connack_of(c);
  }

  protocol::connack connack_of(client& c) {
    auto acks = only<protocol::connack>(c.conn->all());
    CAF_REQUIRE_EQUAL(acks.size(), 1u);
    return acks[0];
  }

  caf::actor session_of(const std::string& client_id) {
    auto i = reg().sessions.find(client_id);
    return i == reg().sessions.end() ? caf::actor{} : i->second.session;
  }

  bool terminated(const caf::actor& h) {
    return caf::actor_cast<caf::abstract_actor*>(h)->getf(
      caf::abstract_actor::is_terminated_flag);
  }

  int publishers = 0;

  /// A clean 5.0 client that publishes (a new client id every time).
  client publisher() {
    auto p = make("publisher-" + std::to_string(++publishers), v5);
    connect(p);
    return p;
  }

  /// A clean 5.0 client subscribed to `filter` at QoS 1, its output taken.
  client subscriber(std::string id, const std::string& filter) {
    auto c = make(std::move(id), v5);
    connect(c);
    c.subscribe(filter, qos::at_least_once);
    settle();
    c.conn->take();
    return c;
  }

  /// The sessions a registry-wide request (shutdown, recheck) meets: "a" (5.0, persistent) and
  /// "b" (3.1.1, clean) connected, "d" (5.0, persistent) offline, its session kept.
  struct trio {
    client a, b, d;
  };
  trio three_sessions() {
    trio t{make("a", v5), make("b", v311), make("d", v5)};
    connect(t.a, {false, 3600});
    connect(t.b, {true});
    connect(t.d, {false, 3600});
    peer_close(t.d);
    settle();
    return t;
  }

  /// Payloads of the PUBLISH packets `c` received since the last call.
  std::vector<std::string> received(client& c) {
    std::vector<std::string> out;
    for (auto& p : only<protocol::publish>(c.conn->take()))
      out.emplace_back(p.payload);
    return out;
  }

  /// Acks every QoS 1 PUBLISH in `ps`.
  void ack_all(client& c, const std::vector<protocol::packet>& ps) {
    for (auto& p : only<protocol::publish>(ps))
      if (p.qos_level == qos::at_least_once)
        c.ack<protocol::puback>(p.packet_id);
  }
};

using strings = std::vector<std::string>;

const connect_options persistent{false, 3600};
const connect_options clean{true};

} // namespace

CAF_TEST_FIXTURE_SCOPE(registry_tests, fixture)

CAF_TEST(a connect spawns a session and the client gets its CONNACK) {
  auto c = make("dev-1", v5);
  auto ack = connect(c);
  CAF_CHECK_EQUAL(code(ack.code), 0);
  CAF_CHECK(!ack.session_present);
  CAF_CHECK_EQUAL(reg().sessions.size(), 1u);
  CAF_CHECK(session_of("dev-1") != nullptr);
  CAF_CHECK(!c.conn->is_closed());
}

CAF_TEST(takeover closes the first connection and keeps the subscriptions) {
  for (auto v : {v311, v5}) {
    CAF_MESSAGE("MQTT " << (v == v5 ? "5.0" : "3.1.1"));
    auto id = std::string{"dev-"} + (v == v5 ? "5" : "3");
    auto c1 = make(id, v);
    connect(c1, persistent);
    c1.subscribe("cmd/" + id, qos::at_least_once);
    settle();
    auto s = session_of(id);
    auto c2 = reconnect(c1, registry);
    auto ack = connect(c2, persistent);
    CAF_CHECK(ack.session_present);
    // 5.0: DISCONNECT 0x8E on the old connection; 3.1.1: just closed.
    auto ds = only<protocol::disconnect>(c1.conn->all());
    if (v == v5) {
      CAF_REQUIRE_EQUAL(ds.size(), 1u);
      CAF_CHECK_EQUAL(code(ds[0].code), 0x8E);
    } else {
      CAF_CHECK(ds.empty());
    }
    CAF_CHECK(c1.conn->closed);
    CAF_CHECK(!c2.conn->is_closed());
    CAF_CHECK(session_of(id) == s); // the same session continues
    // No resubscribe: a message to the command topic reaches c2 only.
    c1.conn->take();
    c2.conn->take();
    auto p = publisher();
    p.publish("cmd/" + id, qos::at_least_once, "go");
    settle();
    CAF_CHECK_EQUAL(received(c2), (strings{"go"}));
    CAF_CHECK(c1.conn->take().empty());
  }
}

CAF_TEST(takeover of a clean session gives the new connection a new working session) {
  for (auto v : {v311, v5}) {
    CAF_MESSAGE("MQTT " << (v == v5 ? "5.0" : "3.1.1"));
    auto id = std::string{"cl-"} + (v == v5 ? "5" : "3");
    auto c1 = make(id, v);
    connect(c1, clean);
    c1.subscribe("old/" + id, qos::at_least_once);
    settle();
    auto s1 = session_of(id);
    auto c2 = reconnect(c1, registry);
    auto ack = connect(c2, clean);
    CAF_CHECK_EQUAL(code(ack.code), 0);
    CAF_CHECK(!ack.session_present);
    CAF_CHECK(c1.conn->closed);
    CAF_CHECK(!c2.conn->is_closed());
    auto s2 = session_of(id);
    CAF_REQUIRE(s2 != nullptr);
    CAF_CHECK(s2 != s1);
    CAF_CHECK(!terminated(s2));
    // The new session works: subscribe and receive.
    c2.subscribe("new/" + id, qos::at_least_once);
    settle();
    CAF_CHECK_EQUAL(only<protocol::suback>(c2.conn->take()).size(), 1u);
    auto p = publisher();
    p.publish("new/" + id, qos::at_least_once, "n");
    p.publish("old/" + id, qos::at_least_once, "o"); // the old session's subscription is gone
    settle();
    CAF_CHECK_EQUAL(received(c2), (strings{"n"}));
  }
}

CAF_TEST(two simultaneous connects leave exactly one connection attached) {
  for (auto opts : {persistent, clean}) {
    for (auto v : {v311, v5}) {
      auto id = std::string{"sim-"} + (opts.clean ? "c" : "p") + (v == v5 ? "5" : "3");
      CAF_MESSAGE(id);
      auto a = make(id, v);
      auto b = make(id, v);
      send_connect(a, opts);
      send_connect(b, opts);
      settle();
      CAF_CHECK_EQUAL(a.conn->is_closed() + b.conn->is_closed(), 1);
      auto& live = a.conn->is_closed() ? b : a;
      auto& dead = a.conn->is_closed() ? a : b;
      CAF_CHECK_EQUAL(only<protocol::connack>(live.conn->all()).size(), 1u);
      CAF_CHECK_EQUAL(reg().sessions.count(id), 1u);
      // The survivor works.
      live.subscribe("t/" + id, qos::at_least_once);
      settle();
      auto p = publisher();
      p.publish("t/" + id, qos::at_least_once, "x");
      settle();
      CAF_CHECK_EQUAL(received(live), (strings{"x"}));
      CAF_CHECK(only<protocol::publish>(dead.conn->all()).empty());
    }
  }
}

CAF_TEST(two simultaneous takeovers of a clean session leave one connection and one session) {
  // Both CONNECTs go to the clean session, which ends on the first takeover:
  // both attaches are retried, and the second must not get a session of its
  // own beside the first.
  for (auto v : {v311, v5}) {
    auto id = std::string{"two-"} + (v == v5 ? "5" : "3");
    CAF_MESSAGE(id);
    auto c = make(id, v);
    connect(c, clean);
    auto a = reconnect(c, registry);
    auto b = reconnect(c, registry);
    send_connect(a, clean);
    send_connect(b, clean);
    settle();
    CAF_CHECK(c.conn->closed);
    CAF_REQUIRE_EQUAL(a.conn->is_closed() + b.conn->is_closed(), 1);
    auto& live = a.conn->is_closed() ? b : a;
    // Exactly one live session actor for the id: no other session actor
    // lives (every one spawned reported its end, except those in the map).
    CAF_CHECK_EQUAL(reg().live, reg().sessions.size());
    CAF_REQUIRE_EQUAL(reg().sessions.count(id), 1u);
    CAF_CHECK(!terminated(session_of(id)));
    live.subscribe("t/" + id, qos::at_least_once);
    settle();
    auto p = publisher();
    p.publish("t/" + id, qos::at_least_once, "once");
    settle();
    CAF_CHECK_EQUAL(received(live), (strings{"once"}));
  }
}

CAF_TEST(simultaneous reconnects of a persistent session lose no state) {
  auto c = make("dev-p", v5);
  connect(c, persistent);
  c.subscribe("cmd/dev-p", qos::at_least_once);
  settle();
  peer_close(c);
  settle();
  auto p = publisher();
  for (auto m : {"1", "2", "3"})
    p.publish("cmd/dev-p", qos::at_least_once, m);
  settle();
  auto a = reconnect(c, registry);
  auto b = reconnect(c, registry);
  send_connect(a, persistent);
  send_connect(b, persistent);
  settle();
  CAF_CHECK_EQUAL(a.conn->is_closed() + b.conn->is_closed(), 1);
  auto& live = a.conn->is_closed() ? b : a;
  auto ps = live.conn->all();
  auto acks = only<protocol::connack>(ps);
  CAF_REQUIRE_EQUAL(acks.size(), 1u);
  CAF_CHECK(acks[0].session_present);
  // Whatever the first connection got was not acknowledged: the survivor
  // gets every message, in order.
  live.conn->take();
  strings got;
  for (auto& x : only<protocol::publish>(ps))
    got.emplace_back(x.payload);
  CAF_CHECK_EQUAL(got, (strings{"1", "2", "3"}));
  ack_all(live, ps);
  settle();
  p.publish("cmd/dev-p", qos::at_least_once, "4");
  settle();
  CAF_CHECK_EQUAL(received(live), (strings{"4"}));
}

CAF_TEST(a clean session ends with its connection and a reconnect gets a new one) {
  auto c = make("dev-c", v311);
  connect(c, clean);
  c.subscribe("x", qos::at_least_once);
  settle();
  auto s1 = session_of("dev-c");
  peer_close(c);
  settle();
  CAF_CHECK(terminated(s1));
  CAF_CHECK_EQUAL(reg().sessions.count("dev-c"), 0u);
  CAF_CHECK_EQUAL(reg().live, 0u);
  auto c2 = reconnect(c, registry);
  auto ack = connect(c2, clean);
  CAF_CHECK(!ack.session_present);
  CAF_CHECK(session_of("dev-c") != s1);
  // Persistent connect after a clean session: no session was kept either.
  auto c3 = reconnect(c2, registry);
  ack = connect(c3, persistent);
  CAF_CHECK(!ack.session_present);
}

CAF_TEST(the client id of a session is one block shared by the registry the session and the router) {
  // A 40-character id (beyond std::string's inline buffer): one block for its three holders
  // (amq/broker/shared_string.hpp), also after a takeover replaces a clean session.
  const std::string id = "3f2a9c4e-7b1d-4e8a-9c2f-5d6e7f8a00000042";
  auto holders = [&]() -> broker::shared_string {
    auto i = reg().sessions.find(id);
    CAF_REQUIRE(i != reg().sessions.end());
    auto& st = deref<session_actor_type>(i->second.session).state;
    CAF_CHECK(st.machine.client_id().same_block(i->first));
    auto& core = *deref<router_actor_type>(router).state.core;
    auto j = core.sessions.find(st.id);
    CAF_REQUIRE(j != core.sessions.end());
    CAF_CHECK(j->second.client_id.same_block(i->first));
    CAF_CHECK(j->second.client_id == id);
    return i->first;
  };
  auto c = make(id, v5);
  connect(c, clean);
  auto key = holders();
  CAF_CHECK(key == id);
  CAF_CHECK_EQUAL(key.use_count(), 4u); // the registry's key, the machine, the router, `key`
  auto s1 = session_of(id);
  auto c2 = reconnect(c, registry);
  connect(c2, clean); // a fresh session replaces the clean one
  CAF_REQUIRE(session_of(id) != s1);
  CAF_CHECK(terminated(s1));
  CAF_CHECK(holders().same_block(key)); // the new session got the key's block
  CAF_CHECK_EQUAL(key.use_count(), 4u); // the old session's references are gone
  peer_close(c2);
  settle();
  CAF_CHECK_EQUAL(reg().sessions.count(id), 0u);
  CAF_CHECK_EQUAL(key.use_count(), 1u); // every holder let go of it
}

CAF_TEST(a persistent session is resumed with its queued messages in order) {
  for (auto v : {v311, v5}) {
    auto id = std::string{"dev-q"} + (v == v5 ? "5" : "3");
    CAF_MESSAGE(id);
    auto c = make(id, v);
    auto ack = connect(c, persistent);
    CAF_CHECK(!ack.session_present);
    c.subscribe("cmd/" + id, qos::exactly_once);
    settle();
    peer_close(c);
    settle();
    auto s = session_of(id);
    CAF_CHECK(!terminated(s));
    auto p = publisher();
    for (int i = 1; i <= 5; ++i)
      p.publish("cmd/" + id, i % 2 ? qos::at_least_once : qos::exactly_once, std::to_string(i));
    p.publish("cmd/" + id, qos::at_most_once, "qos0"); // not queued offline
    settle();
    auto c2 = reconnect(c, registry);
    ack = connect(c2, persistent);
    CAF_CHECK(ack.session_present);
    CAF_CHECK(session_of(id) == s);
    CAF_CHECK_EQUAL(received(c2), (strings{"1", "2", "3", "4", "5"}));
  }
}

CAF_TEST(a connect racing with the end of a clean session gets a working session) {
  auto c = make("dev-r", v5);
  connect(c, clean);
  auto s1 = session_of("dev-r");
  // The connection closes and, before anything runs, the client reconnects:
  // the registry still maps the id to the ending session.
  peer_close(c);
  c.link->on_closed(c.conn, {});
  c.conn->close_notified = true;
  auto c2 = reconnect(c, registry);
  send_connect(c2, clean);
  // Let the session end first, then the registry see the CONNECT.
  expect((closed_atom, uint64_t), from(_).to(s1));
  CAF_CHECK(terminated(s1));
  CAF_CHECK(session_of("dev-r") == s1); // the down message is not processed yet
  settle();
  auto ack = connack_of(c2);
  CAF_CHECK_EQUAL(code(ack.code), 0);
  CAF_CHECK(!c2.conn->is_closed());
  auto s2 = session_of("dev-r");
  CAF_REQUIRE(s2 != nullptr);
  CAF_CHECK(s2 != s1);
  c2.subscribe("r", qos::at_least_once);
  settle();
  auto p = publisher();
  p.publish("r", qos::at_least_once, "ok");
  settle();
  CAF_CHECK_EQUAL(received(c2), (strings{"ok"}));
}

CAF_TEST(a connect racing with a session that ends while attaching gets a working session) {
  // The CONNECT reaches the registry first and the attach is queued behind
  // the close in the session's mailbox: the session refuses or is gone.
  auto c = make("dev-r2", v311);
  connect(c, clean);
  auto s1 = session_of("dev-r2");
  auto c2 = reconnect(c, registry);
  send_connect(c2, clean);
  peer_close(c);
  c.link->on_closed(c.conn, {});
  c.conn->close_notified = true;
  // The registry sends the attach to the session, behind the close.
  expect((connect_atom, net::connection_ptr, connect_frame_ptr, edge_link_ptr),
         from(_).to(registry));
  CAF_CHECK(!terminated(s1));
  settle();
  CAF_CHECK(terminated(s1));
  auto ack = connack_of(c2);
  CAF_CHECK_EQUAL(code(ack.code), 0);
  CAF_CHECK(!c2.conn->is_closed());
  CAF_CHECK(session_of("dev-r2") != s1);
  CAF_CHECK(!terminated(session_of("dev-r2")));
}

CAF_TEST(empty client id with 3.1.1 Clean Session 0 is refused with return code 2) {
  auto c = make("", v311);
  // decode_connect itself refuses this CONNECT, so build the frame by hand
  // (the registry must not rely on the edge having checked it).
  auto cf = std::make_shared<connect_frame>();
  cf->packet.version = v311;
  cf->packet.clean_start = false;
  caf::anon_send(registry, connect_atom::value, net::connection_ptr{c.conn},
                 connect_frame_ptr{cf}, c.link);
  settle();
  auto ps = c.conn->all();
  CAF_REQUIRE_EQUAL(ps.size(), 1u);
  auto& ack = std::get<protocol::connack>(ps[0]);
  CAF_CHECK(!ack.session_present);
  // The bytes on the wire: 20 02 00 02.
  CAF_REQUIRE_EQUAL(c.conn->sends.size(), 1u);
  CAF_CHECK_EQUAL(c.conn->sends[0], (std::vector<uint8_t>{0x20, 0x02, 0x00, 0x02}));
  CAF_CHECK(c.conn->closed);
  CAF_CHECK(reg().sessions.empty());
}

CAF_TEST(empty client id with 3.1.1 Clean Session 1 is accepted) {
  auto c = make("", v311);
  auto ack = connect(c, clean);
  CAF_CHECK_EQUAL(code(ack.code), 0);
  CAF_CHECK_EQUAL(reg().sessions.size(), 1u);
}

CAF_TEST(empty client id with 5.0 gets an assigned client identifier) {
  auto c = make("", v5);
  auto ack = connect(c, clean);
  CAF_CHECK_EQUAL(code(ack.code), 0);
  CAF_REQUIRE(ack.props.assigned_client_identifier.has_value());
  auto assigned = std::string{*ack.props.assigned_client_identifier};
  CAF_CHECK(!assigned.empty());
  CAF_CHECK(session_of(assigned) != nullptr);
  // Two such clients get different identifiers.
  auto d = make("", v5);
  auto ack2 = connect(d, clean);
  CAF_REQUIRE(ack2.props.assigned_client_identifier.has_value());
  CAF_CHECK_NOT_EQUAL(std::string{*ack2.props.assigned_client_identifier}, assigned);
  CAF_CHECK_EQUAL(reg().sessions.size(), 2u);
}

CAF_TEST(kick disconnects one client by id) {
  auto c = make("dev-k", v5);
  connect(c, persistent);
  auto res = request<bool>(registry, kick_atom::value, std::string{"dev-k"},
                           reason_code::administrative_action);
  CAF_CHECK(res);
  settle();
  auto ds = only<protocol::disconnect>(c.conn->all());
  CAF_REQUIRE_EQUAL(ds.size(), 1u);
  CAF_CHECK_EQUAL(code(ds[0].code), 0x98);
  CAF_CHECK(c.conn->closed);
}

CAF_TEST(shutdown disconnects every session and answers once all have ended) {
  auto [a, b, d] = three_sessions();
  std::vector<caf::actor> sessions{session_of("a"), session_of("b"), session_of("d")};
  for (auto& s : sessions)
    CAF_CHECK(!terminated(s));
  auto answer = self->request(registry, caf::infinite, shutdown_atom::value);
  settle();
  bool done = false;
  answer.receive([&](bool ok) { done = ok; },
                 [&](caf::error& err) { CAF_FAIL(sys.render(err)); });
  CAF_CHECK(done);
  for (auto& s : sessions)
    CAF_CHECK(terminated(s));
  auto ds = only<protocol::disconnect>(a.conn->all());
  CAF_REQUIRE_EQUAL(ds.size(), 1u);
  CAF_CHECK_EQUAL(code(ds[0].code), 0x8B);
  CAF_CHECK(a.conn->closed);
  CAF_CHECK(only<protocol::disconnect>(b.conn->all()).empty()); // 3.1.1: no DISCONNECT
  CAF_CHECK(b.conn->closed);
  CAF_CHECK_EQUAL(reg().live, 0u);
  CAF_CHECK(reg().sessions.empty());
}

CAF_TEST(recheck answers once every session has taken the reloaded rules) {
  // SIGHUP: broker_node logs "reloaded auth files apply to every session now" on this answer,
  // so no session may still be on the old rules when it comes.
  auto sessions = three_sessions(); // offline ones are asked too
  auto answer = self->request(registry, caf::infinite, recheck_atom::value);
  expect((recheck_atom), from(self).to(registry));
  // The registry asked the three sessions; none has run yet, so there is no answer.
  CAF_CHECK(self->mailbox().empty());
  sched.run_once(); // one session re-checks and answers the registry
  CAF_CHECK(self->mailbox().empty());
  settle();
  size_t checked = 0;
  answer.receive([&](size_t n) { checked = n; },
                 [&](caf::error& err) { CAF_FAIL(sys.render(err)); });
  CAF_CHECK_EQUAL(checked, 3u);
  CAF_CHECK(request<size_t>(registry, recheck_atom::value) == 3u); // again, all at once
}

CAF_TEST(shutdown with no sessions answers at once) {
  CAF_CHECK(request<bool>(registry, shutdown_atom::value));
}

CAF_TEST(the edge_link path: CONNECT bytes and early bytes reach the session) {
  // The whole edge path: the CONNECT and a SUBSCRIBE arrive in ONE read, the
  // link decodes the CONNECT, pauses reading and hands the rest to the
  // session on bind.
  auto c = make("dev-e", v5);
  std::vector<uint8_t> buf;
  protocol::encode(c.connect_packet(clean), v5, buf);
  protocol::subscribe s;
  s.packet_id = 1;
  protocol::subscription sub;
  sub.filter = "e/#";
  sub.max_qos = qos::at_least_once;
  s.subscriptions.push_back(sub);
  protocol::encode(s, v5, buf);
  c.link->on_data(c.conn, buf);
  CAF_CHECK_EQUAL(c.conn->pauses, 1);
  settle();
  CAF_CHECK(c.conn->reading);
  auto ps = c.conn->all();
  CAF_REQUIRE_EQUAL(ps.size(), 2u);
  CAF_CHECK(std::holds_alternative<protocol::connack>(ps[0]));
  CAF_CHECK(std::holds_alternative<protocol::suback>(ps[1]));
}

CAF_TEST(an offline persistent subscriber does not stall its publishers) {
  // Flow control (router.hpp): the router paces a publisher by the backlog
  // of its targets, but an offline session's queue has its own limit and
  // must not hold publishers back. A small online queue limit makes the
  // router's high mark 16.
  limits.max_queued_online = 128;
  router = spawn_router(sys, limits, caf::actor{});
  registry = spawn_registry(sys, limits, router, caf::actor{});
  sched.run();
  auto sub = make("sub", v5);
  connect(sub, persistent);
  sub.subscribe("t", qos::at_least_once);
  settle();
  peer_close(sub);
  settle();
  auto p = publisher();
  for (int i = 0; i < 60; ++i) {
    p.publish("t", qos::at_least_once, std::to_string(i));
    settle();
  }
  // Every PUBLISH was acknowledged.
  CAF_CHECK_EQUAL(only<protocol::puback>(p.conn->all()).size(), 60u);
  // ... and the subscriber gets all of them when it returns.
  auto sub2 = reconnect(sub, registry);
  connect(sub2, persistent);
  strings expected;
  for (int i = 0; i < 60; ++i)
    expected.push_back(std::to_string(i));
  strings got;
  for (int round = 0; round < 10 && got.size() < expected.size(); ++round) {
    auto ps = sub2.conn->take();
    for (auto& x : only<protocol::publish>(ps))
      got.emplace_back(x.payload);
    ack_all(sub2, ps);
    settle();
  }
  CAF_CHECK_EQUAL(got, expected);
}

CAF_TEST(a local session routes its publish in its own job and acknowledges it there) {
  // router.hpp, "Direct calls": no route message to the router and no
  // routed reply; the PUBACK leaves in the job that read the PUBLISH.
  auto sub = subscriber("sub-direct", "t/direct");
  auto p = publisher();
  CAF_CHECK(deref<session_actor_type>(session_of(p.id)).state.env->core != nullptr);
  p.conn->take();
  CAF_CHECK_EQUAL(deref<router_actor_type>(router).state.core->counters.routed, 0u);
  p.publish("t/direct", qos::at_least_once, "x");
  CAF_REQUIRE(sched.try_run_once()); // the publisher's session takes the bytes
  CAF_CHECK_EQUAL(only<protocol::puback>(p.conn->take()).size(), 1u);
  // Routed by that job: the router actor has not run.
  CAF_CHECK_EQUAL(deref<router_actor_type>(router).state.core->counters.routed, 1u);
  settle();
  CAF_CHECK_EQUAL(received(sub), strings{"x"});
}

CAF_TEST(a session whose router is busy on another thread hands it the batch instead of waiting) {
  auto sub = subscriber("sub-busy", "t/busy");
  auto p = publisher();
  p.conn->take();
  auto& core = *deref<router_actor_type>(router).state.core;
  auto busy = [] { return metrics::snapshot()[metrics::slot::router_lock_busy]; };
  const auto busy_before = busy();
  {
    // Another worker holds the router's lock while this PUBLISH is read.
    std::lock_guard<std::mutex> other{core.mtx};
    p.publish("t/busy", qos::at_least_once, "1");
    CAF_REQUIRE(sched.try_run_once());
    CAF_CHECK(only<protocol::puback>(p.conn->take()).empty()); // not routed yet
  }
  CAF_CHECK_EQUAL(busy() - busy_before, 1); // counted (actormq_router_lock_busy_total)
  p.publish("t/busy", qos::at_least_once, "2"); // waits behind "1" (stash)
  settle();
  CAF_CHECK_EQUAL(only<protocol::puback>(p.conn->take()).size(), 2u);
  CAF_CHECK_EQUAL(core.counters.routed, 2u);
  CAF_CHECK_EQUAL(received(sub), (strings{"1", "2"}));
}

CAF_TEST_FIXTURE_SCOPE_END()
