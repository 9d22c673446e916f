#define CAF_SUITE actors_session
#include <caf/test/unit_test.hpp>

// The SESSION actor (amq/actors/session.hpp) end to end under CAF's test
// coordinator: a fake connection, a real edge_link, and a stand-in router
// that records what the session sends it (the test answers route batches
// itself). Covers CONNACK, SUBSCRIBE, acknowledge-after-routing, output
// batching (one `send` per flush), keep-alive and write back-pressure.

#include "actor_fixture.hpp"

#include "amq/actors/broker_node.hpp"
#include "amq/admin/session_directory.hpp"

using namespace amq;
using namespace amq::actors;
using namespace amq::test;
using namespace std::chrono_literals;
using protocol::qos;
using protocol::reason_code;

namespace {

/// What a session sent to the router.
struct router_box {
  std::vector<broker::subscribe_request> subscribes;
  std::vector<std::string> unsubscribes;
  std::vector<route_batch> routes;
  std::vector<std::pair<broker::session_id, bool>> online;
  std::vector<broker::session_id> removes;
  std::vector<int64_t> progress;
  caf::actor subscriber; ///< the handle passed with the last subscribe
};

caf::behavior fake_router(caf::event_based_actor* self, std::shared_ptr<router_box> box) {
  // Not caf::drop: its error answer would make the session quit.
  self->set_default_handler(
    [](caf::scheduled_actor*, caf::message_view&) -> caf::result<caf::message> {
      return caf::message{};
    });
  return {
    [box](subscribe_atom, broker::session_id, caf::actor& who, broker::subscribe_request& req) {
      box->subscriber = who;
      box->subscribes.push_back(std::move(req));
    },
    [box](unsubscribe_atom, broker::session_id, std::string& f) {
      box->unsubscribes.push_back(std::move(f));
    },
    [box](route_atom, route_batch& b) { box->routes.push_back(std::move(b)); },
    [box](online_atom, broker::session_id sid, bool on) { box->online.emplace_back(sid, on); },
    [box](remove_atom, broker::session_id sid) { box->removes.push_back(sid); },
    [box](progress_atom, broker::session_id, int64_t n) { box->progress.push_back(n); },
  };
}

namespace {

/// What a session sent to the storage actor: (batch, token) per message.
struct storage_box {
  std::vector<std::pair<storage::write_batch, uint64_t>> batches;
};

/// A storage actor that records and never answers by itself: the test
/// answers `persisted` (the commit) when it wants to.
caf::behavior fake_storage(caf::event_based_actor* self, std::shared_ptr<storage_box> box) {
  self->set_default_handler(
    [](caf::scheduled_actor*, caf::message_view&) -> caf::result<caf::message> {
      return caf::message{};
    });
  return {
    [box](persist_atom, storage::write_batch& b, uint64_t token) {
      box->batches.emplace_back(std::move(b), token);
    },
  };
}

} // namespace

struct fixture : actor_fixture {
  std::shared_ptr<router_box> rbox = std::make_shared<router_box>();
  caf::actor router;
  caf::actor session;
  client c;

  std::vector<caf::actor> sessions;

  fixture() {
    router = sys.spawn(fake_router, rbox);
    sched.run();
  }

  /// A persistent session `id` (session id `sid`) on a fake storage actor, connected as `c`
  /// with `o`; its session record is stored (committed). Returns the box that records what
  /// the session stores from now on.
  std::shared_ptr<storage_box> stored_session(broker::session_id sid, const char* id,
                                              protocol::protocol_version v, connect_options o) {
    auto sbox = std::make_shared<storage_box>();
    auto store = sys.spawn(fake_storage, sbox);
    sessions.push_back(store);
    session = spawn_session(sys, sid, id, limits, router, store);
    sessions.push_back(session);
    c = make_client(id, v, caf::actor{});
    caf::anon_send(session, attach_atom::value, net::connection_ptr{c.conn},
                   make_connect_frame(c.connect_packet(o)), c.link);
    settle();
    CAF_REQUIRE_EQUAL(only<protocol::connack>(c.conn->take()).size(), 1u);
    CAF_REQUIRE_EQUAL(sbox->batches.size(), 1u); // the session record
    caf::anon_send(session, persisted_atom::value, sbox->batches[0].second, true);
    settle();
    sbox->batches.clear();
    return sbox;
  }

  ~fixture() {
    sessions.push_back(router);
    stop_actors(sessions);
  }

  session_state& st() {
    return deref<session_actor_type>(session).state;
  }

  /// A session actor for "dev-1" with a client of version `v` attached.
  protocol::connack open(protocol_version v, connect_options o = {}) {
    session = spawn_session(sys, 42, "dev-1", limits, router, caf::actor{});
    sessions.push_back(session);
    c = make_client("dev-1", v, caf::actor{});
    auto cf = make_connect_frame(c.connect_packet(o));
    caf::anon_send(session, attach_atom::value, net::connection_ptr{c.conn}, cf, c.link);
    settle();
    auto ps = c.conn->take();
    CAF_REQUIRE_EQUAL(ps.size(), 1u);
    auto acks = only<protocol::connack>(ps);
    CAF_REQUIRE_EQUAL(acks.size(), 1u);
    return acks[0];
  }

  /// A delivery of `topic` as the router would send it.
  static broker::routed_message delivery(std::string topic, std::string payload,
                                         qos q = qos::at_least_once) {
    broker::routed_message rm;
    rm.msg = make_message(std::move(topic), std::move(payload), q);
    rm.max_qos = q;
    return rm;
  }

  void deliver(std::vector<broker::routed_message> items) {
    delivery_batch b;
    b.items.assign(std::make_move_iterator(items.begin()), std::make_move_iterator(items.end()));
    caf::anon_send(session, deliver_atom::value, std::move(b));
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(session_tests, fixture)

CAF_TEST(CONNECT is answered with CONNACK and the router learns the session is online) {
  for (auto v : {v311, v5}) {
    CAF_MESSAGE("MQTT " << (v == v5 ? "5.0" : "3.1.1"));
    rbox->online.clear();
    auto ack = open(v);
    CAF_CHECK_EQUAL(code(ack.code), 0);
    CAF_CHECK(!ack.session_present);
    CAF_CHECK(st().machine.connected());
    CAF_CHECK_EQUAL(rbox->online.size(), 1u);
    CAF_CHECK_EQUAL(rbox->online.front().first, 42u);
    CAF_CHECK(rbox->online.front().second);
    // edge_link::bind resumed reading; one send for the CONNACK.
    CAF_CHECK_GREATER_OR_EQUAL(c.conn->resumes, 1);
    CAF_CHECK_EQUAL(c.conn->send_calls, 1);
    CAF_CHECK(!c.conn->is_closed());
    CAF_CHECK(!deref<session_actor_type>(session).getf(caf::abstract_actor::is_terminated_flag));
  }
}

CAF_TEST(SUBSCRIBE reaches the router and is answered with SUBACK) {
  open(v5);
  c.subscribe("cmd/dev-1/#", qos::exactly_once, 7);
  settle();
  CAF_REQUIRE_EQUAL(rbox->subscribes.size(), 1u);
  CAF_CHECK_EQUAL(rbox->subscribes[0].filter, "cmd/dev-1/#");
  CAF_CHECK_EQUAL(level(rbox->subscribes[0].options.max_qos), 2);
  CAF_CHECK_EQUAL(rbox->subscribes[0].options.subscription_id, 7u);
  CAF_CHECK(rbox->subscriber == session);
  auto acks = only<protocol::suback>(c.conn->take());
  CAF_REQUIRE_EQUAL(acks.size(), 1u);
  CAF_REQUIRE_EQUAL(acks[0].codes.size(), 1u);
  CAF_CHECK_EQUAL(code(acks[0].codes[0]), 2);
  CAF_CHECK_EQUAL(st().machine.subscriptions().size(), 1u);
}

CAF_TEST(a QoS 1 PUBLISH is acknowledged only after the router accepted its batch) {
  for (auto v : {v311, v5}) {
    CAF_MESSAGE("MQTT " << (v == v5 ? "5.0" : "3.1.1"));
    rbox->routes.clear();
    open(v);
    c.publish("data/1", qos::at_least_once, "a"); // packet id 1
    settle();
    CAF_REQUIRE_EQUAL(rbox->routes.size(), 1u);
    auto& b = rbox->routes[0];
    CAF_CHECK_EQUAL(b.publisher, 42u);
    CAF_REQUIRE_EQUAL(b.messages.size(), 1u);
    CAF_CHECK_EQUAL(b.messages[0]->topic, "data/1");
    CAF_CHECK_EQUAL(b.messages[0]->payload, "a");
    CAF_CHECK(c.conn->take().empty()); // no PUBACK yet
    // While the batch is outstanding, further input waits (the publisher is
    // paced by the router): a second PUBLISH is not routed yet.
    c.publish("data/2", qos::at_least_once, "b"); // packet id 2
    settle();
    CAF_CHECK_EQUAL(rbox->routes.size(), 1u);
    caf::anon_send(session, routed_atom::value, b.seq);
    settle();
    // PUBACK 1 now; the stashed PUBLISH was processed and routed.
    auto acks = only<protocol::puback>(c.conn->take());
    CAF_REQUIRE_EQUAL(acks.size(), 1u);
    CAF_CHECK_EQUAL(acks[0].packet_id, 1u);
    CAF_REQUIRE_EQUAL(rbox->routes.size(), 2u);
    CAF_CHECK_EQUAL(rbox->routes[1].messages[0]->payload, "b");
    caf::anon_send(session, routed_atom::value, rbox->routes[1].seq);
    settle();
    acks = only<protocol::puback>(c.conn->take());
    CAF_REQUIRE_EQUAL(acks.size(), 1u);
    CAF_CHECK_EQUAL(acks[0].packet_id, 2u);
  }
}

CAF_TEST(all PUBLISHes of one read go to the router as one batch with acks in order) {
  open(v5);
  std::vector<uint8_t> buf;
  for (uint16_t i = 1; i <= 3; ++i) {
    protocol::publish p;
    p.topic = "t";
    p.qos_level = i == 2 ? qos::exactly_once : qos::at_least_once;
    p.packet_id = i;
    p.payload = "x";
    protocol::encode(p, v5, buf);
  }
  c.send_bytes(buf);
  settle();
  CAF_REQUIRE_EQUAL(rbox->routes.size(), 1u);
  CAF_CHECK_EQUAL(rbox->routes[0].messages.size(), 3u);
  caf::anon_send(session, routed_atom::value, rbox->routes[0].seq);
  settle();
  // PUBACK 1, PUBREC 2, PUBACK 3, in one write.
  auto ps = c.conn->take();
  CAF_CHECK_EQUAL(c.conn->send_calls, 2); // CONNACK, then the acks
  CAF_REQUIRE_EQUAL(ps.size(), 3u);
  CAF_CHECK(std::holds_alternative<protocol::puback>(ps[0]));
  CAF_CHECK(std::holds_alternative<protocol::pubrec>(ps[1]));
  CAF_CHECK(std::holds_alternative<protocol::puback>(ps[2]));
}

CAF_TEST(several delivery batches are written with ONE send) {
  open(v5);
  auto before = c.conn->send_calls;
  deliver({delivery("a", "1")});
  deliver({delivery("b", "2"), delivery("c", "3")});
  deliver({delivery("d", "4", qos::at_most_once)});
  settle();
  CAF_CHECK_EQUAL(c.conn->send_calls, before + 1);
  auto pubs = only<protocol::publish>(c.conn->take());
  CAF_REQUIRE_EQUAL(pubs.size(), 4u);
  CAF_CHECK_EQUAL(pubs[0].topic, "a");
  CAF_CHECK_EQUAL(pubs[1].topic, "b");
  CAF_CHECK_EQUAL(pubs[2].topic, "c");
  CAF_CHECK_EQUAL(pubs[3].topic, "d");
  CAF_CHECK_EQUAL(level(pubs[0].qos_level), 1);
  CAF_CHECK_EQUAL(level(pubs[3].qos_level), 0);
  // Distinct packet ids for the QoS 1 ones.
  CAF_CHECK_NOT_EQUAL(pubs[0].packet_id, pubs[1].packet_id);
  CAF_CHECK_NOT_EQUAL(pubs[1].packet_id, pubs[2].packet_id);
  // The session reported its progress to the router (flow control).
  CAF_REQUIRE(!rbox->progress.empty());
  CAF_CHECK_EQUAL(rbox->progress.back(), 4);
}

CAF_TEST(the session reports progress when the router asks for it and every 256 deliveries) {
  open(v5);
  auto batch = [](bool ask, size_t n) {
    delivery_batch b;
    b.ask_progress = ask;
    for (size_t i = 0; i < n; ++i)
      b.items.push_back(delivery("t", "x", qos::at_most_once));
    return b;
  };
  // Not asked: delivered, nothing reported (one message fewer per delivery).
  caf::anon_send(session, deliver_atom::value, batch(false, 1));
  settle();
  CAF_CHECK_EQUAL(only<protocol::publish>(c.conn->take()).size(), 1u);
  CAF_CHECK(rbox->progress.empty());
  // Asked: reported once its queue is empty, everything so far.
  caf::anon_send(session, deliver_atom::value, batch(true, 2));
  settle();
  CAF_CHECK_EQUAL(rbox->progress, (std::vector<int64_t>{3}));
  // The request was answered: the next quiet batch is not reported.
  caf::anon_send(session, deliver_atom::value, batch(false, 1));
  settle();
  CAF_CHECK_EQUAL(rbox->progress, (std::vector<int64_t>{3}));
  // Every 256 deliveries regardless.
  caf::anon_send(session, deliver_atom::value, batch(false, 255));
  settle();
  CAF_CHECK_EQUAL(rbox->progress, (std::vector<int64_t>{3, 259}));
  CAF_CHECK_EQUAL(only<protocol::publish>(c.conn->take()).size(), 258u);
}

CAF_TEST(an asked-for report waits until the queue runs empty) {
  open(v5, connect_options{true, std::nullopt, 0, 2}); // Receive Maximum 2
  delivery_batch b;
  b.ask_progress = true;
  for (int i = 0; i < 4; ++i)
    b.items.push_back(delivery("t", std::to_string(i)));
  caf::anon_send(session, deliver_atom::value, std::move(b));
  settle();
  // Two in flight, two queued: not yet.
  auto pubs = only<protocol::publish>(c.conn->take());
  CAF_REQUIRE_EQUAL(pubs.size(), 2u);
  CAF_CHECK(rbox->progress.empty());
  c.ack<protocol::puback>(pubs[0].packet_id);
  c.ack<protocol::puback>(pubs[1].packet_id);
  settle();
  // The queue ran empty: reported, although the request came two inputs ago.
  CAF_CHECK_EQUAL(only<protocol::publish>(c.conn->take()).size(), 2u);
  CAF_CHECK_EQUAL(rbox->progress, (std::vector<int64_t>{4}));
}

CAF_TEST(QoS 0 route batches wait for no routed ack unless the router holds them) {
  open(v5);
  auto& routes = rbox->routes;
  // QoS 0, one read each: routed without waiting for the router.
  for (int i = 0; i < 3; ++i) {
    c.publish("t", qos::at_most_once, "x");
    settle();
  }
  CAF_REQUIRE_EQUAL(routes.size(), 3u);
  for (auto& r : routes)
    CAF_CHECK(!r.ack);
  CAF_CHECK_EQUAL(st().outstanding_routes, 0u);
  // QoS 1 (its PUBACK waits) or retained: with ack, and the next input waits.
  c.publish("t", qos::at_least_once, "y");
  settle();
  CAF_REQUIRE_EQUAL(routes.size(), 4u);
  CAF_CHECK(routes[3].ack);
  CAF_CHECK_EQUAL(st().outstanding_routes, 1u);
  c.publish("t", qos::at_most_once, "r", true);
  settle();
  CAF_CHECK_EQUAL(routes.size(), 4u);
  caf::anon_send(session, routed_atom::value, routes[3].seq);
  settle();
  CAF_CHECK_EQUAL(only<protocol::puback>(c.conn->take()).size(), 1u);
  CAF_REQUIRE_EQUAL(routes.size(), 5u);
  CAF_CHECK(routes[4].ack);
  caf::anon_send(session, routed_atom::value, routes[4].seq);
  settle();
  // At most 8 batches without ack in a row: the 9th has one.
  for (int i = 0; i < 9; ++i) {
    c.publish("t", qos::at_most_once, "x");
    settle();
  }
  CAF_REQUIRE_EQUAL(routes.size(), 14u);
  for (size_t i = 5; i < 13; ++i)
    CAF_CHECK(!routes[i].ack);
  CAF_CHECK(routes[13].ack);
  caf::anon_send(session, routed_atom::value, routes[13].seq);
  settle();
  // The router holds a batch without ack: input waits for its routed_atom.
  c.publish("t", qos::at_most_once, "x");
  settle();
  CAF_REQUIRE_EQUAL(routes.size(), 15u);
  CAF_CHECK(!routes[14].ack);
  caf::anon_send(session, hold_atom::value, routes[14].seq);
  settle();
  CAF_CHECK_EQUAL(st().outstanding_routes, 1u);
  c.publish("t", qos::at_most_once, "x");
  settle();
  CAF_CHECK_EQUAL(routes.size(), 15u);
  caf::anon_send(session, routed_atom::value, routes[14].seq);
  settle();
  CAF_CHECK_EQUAL(routes.size(), 16u);
  CAF_CHECK_EQUAL(st().outstanding_routes, 0u);
}

CAF_TEST(a delivery of QoS 1 waits for PUBACK and is resent with DUP on reconnect) {
  open(v5, connect_options{false, 3600});
  deliver({delivery("a", "1")});
  settle();
  auto pubs = only<protocol::publish>(c.conn->take());
  CAF_REQUIRE_EQUAL(pubs.size(), 1u);
  CAF_CHECK_EQUAL(st().machine.inflight_count(), 1u);
  auto id = pubs[0].packet_id;
  // The connection drops before PUBACK; the session stays (persistent).
  peer_close(c);
  settle();
  CAF_CHECK(!st().machine.connected());
  CAF_CHECK(rbox->removes.empty());
  CAF_REQUIRE(!rbox->online.empty());
  CAF_CHECK(!rbox->online.back().second);
  auto c2 = reconnect(c, caf::actor{});
  auto cf = make_connect_frame(c2.connect_packet(connect_options{false, 3600}));
  caf::anon_send(session, attach_atom::value, net::connection_ptr{c2.conn}, cf, c2.link);
  settle();
  auto ps = c2.conn->take();
  CAF_REQUIRE_EQUAL(ps.size(), 2u);
  CAF_CHECK(std::get<protocol::connack>(ps[0]).session_present);
  auto& again = std::get<protocol::publish>(ps[1]);
  CAF_CHECK(again.dup);
  CAF_CHECK_EQUAL(again.packet_id, id);
  c2.ack<protocol::puback>(id);
  settle();
  CAF_CHECK_EQUAL(st().machine.inflight_count(), 0u);
}

CAF_TEST(keep alive timeout sends DISCONNECT 0x8D and closes the connection) {
  open(v5, connect_options{true, std::nullopt, 10});
  // Traffic within 1.5 x keep alive keeps the connection.
  advance_time(10s);
  sched.run();
  protocol::pingreq ping;
  c.send(ping);
  settle();
  CAF_CHECK_EQUAL(only<protocol::pingresp>(c.conn->take()).size(), 1u);
  advance_time(10s); // 20s, 10s since the PINGREQ
  settle();
  CAF_CHECK(!c.conn->is_closed());
  advance_time(5s + 2ms); // 15s since the PINGREQ
  settle();
  auto ds = only<protocol::disconnect>(c.conn->take());
  CAF_REQUIRE_EQUAL(ds.size(), 1u);
  CAF_CHECK_EQUAL(code(ds[0].code), 0x8D);
  CAF_CHECK(c.conn->closed);
  // A clean session ends with its connection: removed from the router.
  CAF_CHECK_EQUAL(rbox->removes, (std::vector<broker::session_id>{42}));
}

CAF_TEST(keep alive timeout closes a 3.1.1 connection without DISCONNECT) {
  open(v311, connect_options{true, std::nullopt, 4});
  advance_time(6s + 2ms);
  settle();
  CAF_CHECK(c.conn->take().empty());
  CAF_CHECK(c.conn->closed);
}

CAF_TEST(a PINGREQ waiting behind a PUBLISH the router holds keeps the connection) {
  // The router paces a publisher by answering its route batch late (flow
  // control, storage); meanwhile the publisher's input waits unprocessed.
  // A PINGREQ among it arrived in time: keep-alive must not close.
  open(v5, connect_options{true, std::nullopt, 10});
  c.publish("data/1", qos::at_least_once, "a");
  settle();
  CAF_REQUIRE_EQUAL(rbox->routes.size(), 1u); // not answered yet
  advance_time(10s);
  settle();
  c.send(protocol::pingreq{});
  settle();
  advance_time(5s + 2ms); // 15 s after the PUBLISH, 5 s after the PINGREQ
  settle();
  CAF_CHECK(!c.conn->is_closed());
  CAF_CHECK(only<protocol::disconnect>(c.conn->take()).empty());
  // The router accepts: PUBACK, then the PINGRESP, in order.
  caf::anon_send(session, routed_atom::value, rbox->routes[0].seq);
  settle();
  auto ps = c.conn->take();
  CAF_REQUIRE_EQUAL(ps.size(), 2u);
  CAF_CHECK(std::holds_alternative<protocol::puback>(ps[0]));
  CAF_CHECK(std::holds_alternative<protocol::pingresp>(ps[1]));
  // Real silence still ends it: 15 s after the PINGREQ was processed.
  advance_time(14s);
  settle();
  CAF_CHECK(!c.conn->is_closed());
  advance_time(1s + 2ms);
  settle();
  auto ds = only<protocol::disconnect>(c.conn->take());
  CAF_REQUIRE_EQUAL(ds.size(), 1u);
  CAF_CHECK_EQUAL(code(ds[0].code), 0x8D);
  CAF_CHECK(c.conn->closed);
}

CAF_TEST(keep alive does not close a connection whose input arrived but is not processed) {
  open(v311, connect_options{true, std::nullopt, 4});
  // 1. Unread in the socket (the I/O thread is busy, or reading is paused).
  c.conn->unread = 2;
  advance_time(6s + 2ms);
  settle();
  CAF_CHECK(!c.conn->is_closed());
  // 2. Read, but behind the keep-alive tick in the session's mailbox.
  c.conn->unread = 0;
  advance_time(6s + 2ms); // the tick is queued ...
  c.send(protocol::pingreq{}); // ... before the PINGREQ the edge read in time
  settle();
  CAF_CHECK(!c.conn->is_closed());
  CAF_CHECK_EQUAL(only<protocol::pingresp>(c.conn->take()).size(), 1u);
  // Silence with nothing pending closes (3.1.1: no DISCONNECT).
  advance_time(6s + 2ms);
  settle();
  CAF_CHECK(c.conn->take().empty());
  CAF_CHECK(c.conn->closed);
}

CAF_TEST(deliveries are queued while the connection is not writable) {
  open(v5);
  c.conn->send_result = false; // the write queue is above its high watermark
  deliver({delivery("a", "1")});
  settle();
  CAF_CHECK_EQUAL(only<protocol::publish>(c.conn->take()).size(), 1u);
  auto calls = c.conn->send_calls;
  deliver({delivery("b", "2")});
  deliver({delivery("c", "3", qos::at_most_once)});
  settle();
  CAF_CHECK_EQUAL(c.conn->send_calls, calls); // nothing written
  CAF_CHECK_EQUAL(st().machine.queued_count(), 2u);
  // The queue drained: everything queued goes out, in order, in one send.
  c.conn->send_result = true;
  caf::anon_send(session, writable_atom::value, c.conn->id(), true);
  settle();
  CAF_CHECK_EQUAL(c.conn->send_calls, calls + 1);
  auto pubs = only<protocol::publish>(c.conn->take());
  CAF_REQUIRE_EQUAL(pubs.size(), 2u);
  CAF_CHECK_EQUAL(pubs[0].topic, "b");
  CAF_CHECK_EQUAL(pubs[1].topic, "c");
  CAF_CHECK_EQUAL(st().machine.queued_count(), 0u);
}

CAF_TEST(the edge_link reports writability to the session) {
  open(v5);
  c.conn->send_result = false;
  deliver({delivery("a", "1")});
  settle();
  deliver({delivery("b", "2")});
  settle();
  CAF_CHECK_EQUAL(st().machine.queued_count(), 1u);
  c.conn->send_result = true;
  c.link->on_writable(c.conn); // what the connection calls below its watermark
  settle();
  CAF_CHECK_EQUAL(only<protocol::publish>(c.conn->take()).size(), 2u);
}

CAF_TEST(bytes from a connection that was replaced are ignored) {
  open(v5, connect_options{false, 3600});
  auto old = c;
  auto c2 = reconnect(c, caf::actor{});
  auto cf = make_connect_frame(c2.connect_packet(connect_options{false, 3600}));
  caf::anon_send(session, attach_atom::value, net::connection_ptr{c2.conn}, cf, c2.link);
  settle();
  // The old connection got DISCONNECT 0x8E and was closed.
  auto ds = only<protocol::disconnect>(old.conn->take());
  CAF_REQUIRE_EQUAL(ds.size(), 1u);
  CAF_CHECK_EQUAL(code(ds[0].code), 0x8E);
  CAF_CHECK(old.conn->closed);
  // Late bytes from the old connection: not processed.
  std::vector<uint8_t> buf;
  protocol::subscribe s;
  s.packet_id = 9;
  protocol::subscription sub;
  sub.filter = "late/#";
  s.subscriptions.push_back(sub);
  protocol::encode(s, v5, buf);
  caf::anon_send(session, bytes_atom::value, old.conn->id(), byte_chunk{buf});
  settle();
  CAF_CHECK(rbox->subscribes.empty());
  CAF_CHECK(st().machine.connected());
  CAF_CHECK_EQUAL(only<protocol::connack>(c2.conn->take()).size(), 1u);
}

CAF_TEST(a failed write to a connection that is going away does not stall the next one) {
  open(v5, connect_options{false, 3600});
  // The peer is gone but the edge has not reported it yet: sends fail.
  c.conn->closed = true;
  c.conn->close_notified = true;
  auto c2 = reconnect(c, caf::actor{});
  auto cf = make_connect_frame(c2.connect_packet(connect_options{false, 3600}));
  // Takeover: the DISCONNECT 0x8E to the old connection cannot be written.
  caf::anon_send(session, attach_atom::value, net::connection_ptr{c2.conn}, cf, c2.link);
  settle();
  CAF_CHECK_EQUAL(only<protocol::connack>(c2.conn->take()).size(), 1u);
  deliver({delivery("a", "1"), delivery("b", "2", qos::at_most_once)});
  settle();
  auto pubs = only<protocol::publish>(c2.conn->take());
  CAF_CHECK_EQUAL(pubs.size(), 2u);
  CAF_CHECK_EQUAL(st().machine.queued_count(), 0u);
}

CAF_TEST(shutdown sends DISCONNECT 0x8B closes and ends the actor) {
  open(v5, connect_options{false, 3600});
  caf::anon_send(session, shutdown_atom::value);
  settle();
  auto ds = only<protocol::disconnect>(c.conn->take());
  CAF_REQUIRE_EQUAL(ds.size(), 1u);
  CAF_CHECK_EQUAL(code(ds[0].code), 0x8B);
  CAF_CHECK(c.conn->closed);
  CAF_CHECK(deref<session_actor_type>(session).getf(caf::abstract_actor::is_terminated_flag));
}

CAF_TEST(DISCONNECT from a clean session ends it and removes it from the router) {
  open(v311);
  c.subscribe("x", qos::at_least_once);
  c.disconnect();
  settle();
  CAF_CHECK(c.conn->closed);
  CAF_CHECK_EQUAL(rbox->removes, (std::vector<broker::session_id>{42}));
  CAF_CHECK(deref<session_actor_type>(session).getf(caf::abstract_actor::is_terminated_flag));
}


CAF_TEST(the inbound QoS 2 ids and erases of one read are ONE storage write) {
  connect_options o;
  o.clean = false;
  o.expiry = 3600;
  auto sbox = stored_session(43, "dev-q2", v5, o);
  // One read: three QoS 2 PUBLISHes.
  std::vector<uint8_t> buf;
  for (uint16_t id : {1, 2, 3}) {
    protocol::publish p;
    p.topic = "t";
    p.qos_level = qos::exactly_once;
    p.packet_id = id;
    p.payload = "x";
    protocol::encode(p, v5, buf);
  }
  c.send_bytes(buf);
  settle();
  CAF_REQUIRE_EQUAL(sbox->batches.size(), 1u); // one message for the three ids
  auto ids = sbox->batches[0];
  CAF_CHECK_NOT_EQUAL(ids.second & session_state::durable_token, 0u);
  using key = std::pair<std::string, uint64_t>;
  CAF_CHECK_EQUAL(ids.first.put_released,
                  (std::vector<key>{{"dev-q2", storage::inbound_qos2_seq(1)},
                                    {"dev-q2", storage::inbound_qos2_seq(2)},
                                    {"dev-q2", storage::inbound_qos2_seq(3)}}));
  CAF_CHECK(ids.first.erase_released.empty());
  CAF_REQUIRE_EQUAL(rbox->routes.size(), 1u);
  caf::anon_send(session, routed_atom::value, rbox->routes[0].seq);
  settle();
  CAF_CHECK(c.conn->take().empty()); // routed, not committed: no PUBREC
  caf::anon_send(session, persisted_atom::value, ids.second, true);
  settle();
  auto recs = only<protocol::pubrec>(c.conn->take());
  CAF_REQUIRE_EQUAL(recs.size(), 3u);
  for (uint16_t i = 0; i < 3; ++i)
    CAF_CHECK_EQUAL(recs[i].packet_id, i + 1);
  // One read: the three PUBRELs -> one erase batch; PUBCOMP after it, also
  // when it fails (logged).
  buf.clear();
  for (uint16_t id : {1, 2, 3}) {
    protocol::pubrel r;
    r.packet_id = id;
    protocol::encode(r, v5, buf);
  }
  c.send_bytes(buf);
  settle();
  CAF_REQUIRE_EQUAL(sbox->batches.size(), 2u);
  auto erases = sbox->batches[1];
  CAF_CHECK(erases.first.put_released.empty());
  CAF_CHECK_EQUAL(erases.first.erase_released,
                  (std::vector<key>{{"dev-q2", storage::inbound_qos2_seq(1)},
                                    {"dev-q2", storage::inbound_qos2_seq(2)},
                                    {"dev-q2", storage::inbound_qos2_seq(3)}}));
  CAF_CHECK(c.conn->take().empty()); // no PUBCOMP before the erases commit
  caf::anon_send(session, persisted_atom::value, erases.second, false);
  settle();
  auto comps = only<protocol::pubcomp>(c.conn->take());
  CAF_REQUIRE_EQUAL(comps.size(), 3u);
  for (uint16_t i = 0; i < 3; ++i)
    CAF_CHECK_EQUAL(comps[i].packet_id, i + 1);
}

CAF_TEST(a persistent session answers SUBSCRIBE and UNSUBSCRIBE once the change is stored) {
  connect_options o;
  o.clean = false;
  o.expiry = 3600;
  auto sbox = stored_session(45, "dev-sub", v5, o);
  c.subscribe("a/b", qos::at_least_once);
  settle();
  CAF_REQUIRE_EQUAL(sbox->batches.size(), 1u);
  CAF_REQUIRE_EQUAL(sbox->batches[0].first.put_sessions.size(), 1u);
  CAF_CHECK_EQUAL(sbox->batches[0].first.put_sessions[0].subscriptions.size(), 1u);
  CAF_CHECK(c.conn->take().empty()); // no SUBACK before the commit
  caf::anon_send(session, persisted_atom::value, sbox->batches[0].second, true);
  settle();
  CAF_CHECK_EQUAL(only<protocol::suback>(c.conn->take()).size(), 1u);
  protocol::unsubscribe u;
  u.packet_id = 77;
  u.filters.push_back("a/b");
  c.send(u);
  settle();
  CAF_REQUIRE_EQUAL(sbox->batches.size(), 2u);
  CAF_REQUIRE_EQUAL(sbox->batches[1].first.put_sessions.size(), 1u);
  CAF_CHECK(sbox->batches[1].first.put_sessions[0].subscriptions.empty());
  CAF_CHECK(c.conn->take().empty()); // no UNSUBACK before the commit
  caf::anon_send(session, persisted_atom::value, sbox->batches[1].second, true);
  settle();
  auto acks = only<protocol::unsuback>(c.conn->take());
  CAF_REQUIRE_EQUAL(acks.size(), 1u);
  CAF_CHECK_EQUAL(acks[0].packet_id, 77u);
}

CAF_TEST(a Clean Start over a stored session is answered once the old record is erased) {
  connect_options o;
  o.clean = false;
  auto sbox = stored_session(46, "dev-cs", v311, o);
  // The same client id connects again with Clean Session 1: the stored session ends.
  auto c2 = make_client("dev-cs", v311, caf::actor{});
  connect_options fresh;
  fresh.clean = true;
  caf::anon_send(session, attach_atom::value, net::connection_ptr{c2.conn},
                 make_connect_frame(c2.connect_packet(fresh)), c2.link);
  settle();
  CAF_REQUIRE(!sbox->batches.empty());
  auto& erase = sbox->batches.back();
  CAF_MESSAGE("storage batches for the takeover: " << sbox->batches.size());
  CAF_CHECK_EQUAL(erase.first.erase_sessions.size(), 1u);
  CAF_CHECK(c2.conn->take().empty()); // no CONNACK before the erase is committed
  caf::anon_send(session, persisted_atom::value, erase.second, true);
  settle();
  auto acks = only<protocol::connack>(c2.conn->take());
  CAF_REQUIRE_EQUAL(acks.size(), 1u);
  CAF_CHECK(!acks[0].session_present);
}

CAF_TEST(a session reports to the admin directory and takes its entry with it when it goes) {
  auto dir = std::make_shared<admin::session_directory>("node-t");
  session = spawn_session(sys, 44, "dev-d", limits, router, caf::actor{}, nullptr, dir);
  sessions.push_back(session);
  c = make_client("dev-d", v5, caf::actor{});
  caf::anon_send(session, attach_atom::value, net::connection_ptr{c.conn},
                 make_connect_frame(c.connect_packet({})), c.link);
  settle();
  auto row = dir->find("dev-d");
  CAF_REQUIRE(row);
  CAF_CHECK(row->info.connected);
  // The directory reads the numbers the session keeps itself.
  st().stats.queue_depth.store(7);
  auto again = dir->find("dev-d");
  CAF_REQUIRE(again);
  CAF_CHECK_EQUAL(again->queue_depth, 7u);
  // Killed, not ended: its state's destructor removes the entry that points at its stats.
  caf::anon_send_exit(session, caf::exit_reason::kill);
  settle();
  CAF_CHECK(!dir->find("dev-d"));
  CAF_CHECK_EQUAL(dir->size(), 0u);
}

CAF_TEST_FIXTURE_SCOPE_END()

// The offline count limit by client type and backend (docs/sessions.md
// "Queue depth"): what make_session_limits builds from the configuration.
CAF_TEST(offline limits by client type and queue backend) {
  config::broker_config cfg;
  cfg.session.offline_queue_limit = 200;
  cfg.session.device_persisted_messages_limit = 10;
  auto l = make_session_limits(cfg); // embedded for both types
  CAF_CHECK_EQUAL(l.max_queued_offline, 200u);
  CAF_CHECK_EQUAL(l.max_queued_offline_application, 200u);
  cfg.storage.device_queue = config::storage_backend::redis;
  cfg.storage.application_queue = config::storage_backend::kafka;
  l = make_session_limits(cfg);
  CAF_CHECK_EQUAL(l.max_queued_offline, 10u);
  CAF_CHECK_EQUAL(l.max_queued_offline_application, 0u); // Kafka retention only
  cfg.session.application_queue_limit = 5000;
  l = make_session_limits(cfg);
  CAF_CHECK_EQUAL(l.max_queued_offline_application, 5000u);
  CAF_CHECK(!l.application);
}
