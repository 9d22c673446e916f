#define CAF_SUITE actors_router
#include <caf/test/unit_test.hpp>

// The ROUTER actor (amq/actors/router.hpp) under CAF's test coordinator:
// fan-out batching, overlapping subscriptions, No Local, shared groups,
// retained messages and flow control. Sessions and publishers are stand-in
// actors that record what the router sends them.

#include "actor_fixture.hpp"

#include <algorithm>

using namespace amq;
using namespace amq::actors;
using namespace amq::test;
using protocol::qos;
using protocol::retain_handling;

namespace {

struct fixture : actor_fixture {
  caf::actor router;

  struct stand_in {
    broker::session_id sid;
    caf::actor handle;
    std::shared_ptr<inbox> box;
  };

  fixture() {
    router = sys.spawn(router_behavior, router_options{1000}, caf::actor{});
    sched.run();
  }

  void make_router(int64_t high) {
    router = sys.spawn(router_behavior, router_options{high}, caf::actor{});
    sched.run();
  }

  stand_in make_session(broker::session_id sid) {
    auto box = std::make_shared<inbox>();
    auto h = sys.spawn(recorder, box);
    sched.run();
    return stand_in{sid, h, box};
  }

  router_state& state() {
    return *deref<router_actor_type>(router).state.core;
  }

  void subscribe(const stand_in& s, std::string filter, qos q, uint32_t sub_id = 0,
                 bool no_local = false, retain_handling rh = retain_handling::send_on_subscribe,
                 bool rap = false) {
    broker::subscribe_request req;
    req.filter = std::move(filter);
    req.options.max_qos = q;
    req.options.subscription_id = sub_id;
    req.options.no_local = no_local;
    req.options.handling = rh;
    req.options.retain_as_published = rap;
    caf::anon_send(router, subscribe_atom::value, s.sid, s.handle, std::move(req));
    sched.run();
  }

  /// Subscribes with the SUBSCRIBE's arrival time (arrival order, router.hpp).
  void subscribe_arrived(const stand_in& s, std::string filter, int64_t arrival,
                         bool no_local = false, bool rap = false,
                         retain_handling rh = retain_handling::send_on_subscribe) {
    broker::subscribe_request req;
    req.filter = std::move(filter);
    req.options.max_qos = qos::at_least_once;
    req.options.no_local = no_local;
    req.options.retain_as_published = rap;
    req.options.handling = rh;
    req.arrival = arrival;
    caf::anon_send(router, subscribe_atom::value, s.sid, s.handle, std::move(req));
    sched.run();
  }

  /// Sends a route batch as `from` (which gets the routed reply). `arrival`: when its read
  /// arrived (0: unknown).
  void route(const stand_in& from, uint64_t seq, std::vector<protocol::message_ptr> msgs,
             broker::session_id publisher = 0, int64_t arrival = 0) {
    route_batch b;
    b.seq = seq;
    b.publisher = publisher;
    b.arrival = arrival;
    b.messages.assign(msgs.begin(), msgs.end());
    caf::send_as(from.handle, router, route_atom::value, std::move(b));
  }
};

template <class Items>
std::vector<std::string> topics(const Items& xs) {
  std::vector<std::string> out;
  for (auto& x : xs)
    out.push_back(x.msg->topic);
  return out;
}

using strings = std::vector<std::string>;

} // namespace

CAF_TEST_FIXTURE_SCOPE(router_tests, fixture)

CAF_TEST(a route batch becomes one delivery batch per target session) {
  auto a = make_session(1);
  auto b = make_session(2);
  auto pub = make_session(3);
  subscribe(a, "a/#", qos::at_least_once);
  subscribe(b, "a/b", qos::exactly_once);
  auto m1 = make_message("a/b", "1");
  auto m2 = make_message("a/c", "2");
  auto m3 = make_message("x/y", "3");
  auto m4 = make_message("a/b", "4");
  route(pub, 7, {m1, m2, m3, m4}, 3);
  // One message to each target, then the publisher's ack.
  expect((route_atom, route_batch), from(pub.handle).to(router));
  expect((deliver_atom, delivery_batch), from(router).to(a.handle));
  expect((deliver_atom, delivery_batch), from(router).to(b.handle));
  expect((routed_atom, uint64_t), from(router).to(pub.handle).with(_, uint64_t{7}));
  sched.run();
  CAF_REQUIRE_EQUAL(a.box->batches.size(), 1u);
  CAF_REQUIRE_EQUAL(b.box->batches.size(), 1u);
  CAF_CHECK_EQUAL(topics(a.box->items()), (strings{"a/b", "a/c", "a/b"}));
  CAF_CHECK_EQUAL(topics(b.box->items()), (strings{"a/b", "a/b"}));
  // Shared, never copied per subscriber.
  CAF_CHECK(a.box->items()[0].msg == m1);
  CAF_CHECK(b.box->items()[0].msg == m1);
  CAF_CHECK_EQUAL(level(a.box->items()[0].max_qos), 1);
  CAF_CHECK_EQUAL(level(b.box->items()[0].max_qos), 2);
  CAF_CHECK(pub.box->batches.empty());
  CAF_CHECK_EQUAL(pub.box->routed, (std::vector<uint64_t>{7}));
  CAF_CHECK_EQUAL(state().counters.routed, 4u);
  CAF_CHECK_EQUAL(state().counters.delivered, 5u);
  CAF_CHECK_EQUAL(state().counters.no_subscribers, 1u);
}

CAF_TEST(every route batch is acknowledged with its own sequence number in order) {
  auto pub = make_session(9);
  auto a = make_session(1);
  subscribe(a, "t", qos::at_most_once);
  route(pub, 1, {make_message("t", "1")});
  route(pub, 2, {make_message("nobody/listens", "2")});
  route(pub, 3, {make_message("t", "3")});
  sched.run();
  CAF_CHECK_EQUAL(pub.box->routed, (std::vector<uint64_t>{1, 2, 3}));
  CAF_CHECK_EQUAL(a.box->batches.size(), 2u);
}

CAF_TEST(overlapping subscriptions of one session yield one delivery with max QoS and all ids) {
  auto a = make_session(1);
  auto pub = make_session(2);
  subscribe(a, "s/+", qos::at_most_once, 11);
  subscribe(a, "s/x", qos::exactly_once, 22);
  subscribe(a, "#", qos::at_least_once); // no subscription id
  route(pub, 1, {make_message("s/x", "p", qos::exactly_once)});
  sched.run();
  auto items = a.box->items();
  CAF_REQUIRE_EQUAL(items.size(), 1u);
  CAF_CHECK_EQUAL(level(items[0].max_qos), 2);
  auto ids = items[0].subscription_ids;
  std::sort(ids.begin(), ids.end());
  CAF_CHECK_EQUAL(ids, (std::vector<uint32_t>{11, 22}));
  // A topic only one subscription matches carries only its id.
  route(pub, 2, {make_message("s/y", "p", qos::exactly_once)});
  sched.run();
  items = a.box->items();
  CAF_REQUIRE_EQUAL(items.size(), 2u);
  CAF_CHECK_EQUAL(level(items[1].max_qos), 1);
  CAF_CHECK_EQUAL(items[1].subscription_ids, (std::vector<uint32_t>{11}));
}

CAF_TEST(No Local skips the publishers own session only) {
  auto a = make_session(1);
  auto b = make_session(2);
  subscribe(a, "chat", qos::at_least_once, 0, true);
  subscribe(b, "chat", qos::at_least_once, 0, true);
  route(a, 1, {make_message("chat", "from a")}, a.sid);
  sched.run();
  CAF_CHECK(a.box->batches.empty());
  CAF_REQUIRE_EQUAL(b.box->items().size(), 1u);
  CAF_CHECK_EQUAL(a.box->routed, (std::vector<uint64_t>{1}));
  // From the broker itself (publisher 0, e.g. a will): everybody.
  route(b, 1, {make_message("chat", "will")}, 0);
  sched.run();
  CAF_CHECK_EQUAL(a.box->items().size(), 1u);
  CAF_CHECK_EQUAL(b.box->items().size(), 2u);
  // An overlapping subscription without No Local still delivers (once).
  subscribe(a, "#", qos::at_most_once);
  route(a, 2, {make_message("chat", "again")}, a.sid);
  sched.run();
  CAF_CHECK_EQUAL(a.box->items().size(), 2u);
  CAF_CHECK_EQUAL(level(a.box->items().back().max_qos), 0);
}

CAF_TEST(shared groups are balanced among the online members) {
  auto a = make_session(1);
  auto b = make_session(2);
  auto c = make_session(3);
  auto pub = make_session(4);
  for (auto* s : {&a, &b, &c})
    subscribe(*s, "$share/g/jobs/#", qos::at_least_once);
  for (uint64_t i = 1; i <= 6; ++i)
    route(pub, i, {make_message("jobs/" + std::to_string(i), "x")});
  sched.run();
  CAF_CHECK_EQUAL(a.box->items().size(), 2u);
  CAF_CHECK_EQUAL(b.box->items().size(), 2u);
  CAF_CHECK_EQUAL(c.box->items().size(), 2u);
  // c goes offline: the next messages go to a and b only.
  caf::anon_send(router, online_atom::value, c.sid, false);
  sched.run();
  route(pub, 7, {make_message("jobs/7", "x"), make_message("jobs/8", "x"),
                 make_message("jobs/9", "x"), make_message("jobs/10", "x")});
  sched.run();
  CAF_CHECK_EQUAL(a.box->items().size(), 4u);
  CAF_CHECK_EQUAL(b.box->items().size(), 4u);
  CAF_CHECK_EQUAL(c.box->items().size(), 2u);
  // Still one delivery batch per target for the whole route batch.
  CAF_CHECK_EQUAL(a.box->batches.size(), 3u);
  CAF_CHECK_EQUAL(b.box->batches.size(), 3u);
  // Back online: c gets its share again.
  caf::anon_send(router, online_atom::value, c.sid, true);
  sched.run();
  for (uint64_t i = 11; i <= 13; ++i)
    route(pub, i, {make_message("jobs/x", "x")});
  sched.run();
  CAF_CHECK_EQUAL(a.box->items().size() + b.box->items().size() + c.box->items().size(), 13u);
  CAF_CHECK_EQUAL(c.box->items().size(), 3u);
  CAF_CHECK_EQUAL(pub.box->routed.size(), 10u);
}

CAF_TEST(consecutive messages on one topic match like separate ones) {
  // The router matches a run of same-topic messages once, except where a
  // shared group chooses per message.
  auto a = make_session(1);
  auto b = make_session(2);
  auto plain = make_session(3);
  auto rap = make_session(4);
  auto pub = make_session(5);
  subscribe(a, "$share/g/s/t", qos::at_least_once);
  subscribe(b, "$share/g/s/t", qos::at_least_once);
  subscribe(plain, "s/#", qos::at_least_once, 7);
  subscribe(rap, "s/t", qos::at_most_once, 0, false, retain_handling::send_on_subscribe, true);
  auto r = make_message("s/t", "r", qos::at_least_once, true);
  route(pub, 1, {make_message("s/t", "1"), make_message("s/t", "2"), r,
                 make_message("s/t", "4"), make_message("s/u", "5"), make_message("s/t", "6")});
  sched.run();
  CAF_CHECK_EQUAL(a.box->items().size(), 3u); // 1, r, 6 or 2, 4, 6: alternating
  CAF_CHECK_EQUAL(b.box->items().size(), 2u);
  CAF_CHECK_EQUAL(topics(plain.box->items()), (strings{"s/t", "s/t", "s/t", "s/t", "s/u", "s/t"}));
  for (auto& x : plain.box->items())
    CAF_CHECK_EQUAL(x.subscription_ids, (std::vector<uint32_t>{7}));
  CAF_REQUIRE_EQUAL(rap.box->items().size(), 5u);
  // Retain As Published is decided per message: only the retained one.
  for (size_t i = 0; i < 5; ++i)
    CAF_CHECK_EQUAL(rap.box->items()[i].retain, i == 2);
  CAF_CHECK_EQUAL(plain.box->batches.size(), 1u);
}

CAF_TEST(a shared delivery is separate from the same sessions non-shared one) {
  auto a = make_session(1);
  auto pub = make_session(2);
  subscribe(a, "$share/g/t", qos::at_least_once);
  subscribe(a, "t", qos::at_most_once);
  route(pub, 1, {make_message("t", "x")});
  sched.run();
  CAF_CHECK_EQUAL(a.box->batches.size(), 1u);
  CAF_CHECK_EQUAL(a.box->items().size(), 2u);
}

CAF_TEST(retained messages are stored and delivered on subscribe per Retain Handling) {
  auto pub = make_session(9);
  auto a = make_session(1);
  route(pub, 1, {make_message("r/1", "v1", qos::at_least_once, true),
                 make_message("r/2", "v2", qos::exactly_once, true),
                 make_message("other", "v3", qos::at_least_once, true)});
  sched.run();
  CAF_CHECK_EQUAL(state().retained.size(), 3u);
  CAF_CHECK_EQUAL(pub.box->routed, (std::vector<uint64_t>{1}));
  // Retain Handling 0: sent on every subscribe, as ONE batch, RETAIN set,
  // with the subscription's QoS and id.
  subscribe(a, "r/#", qos::at_least_once, 5, false, retain_handling::send_on_subscribe);
  CAF_REQUIRE_EQUAL(a.box->batches.size(), 1u);
  auto items = a.box->items();
  CAF_REQUIRE_EQUAL(items.size(), 2u);
  auto ts = topics(items);
  std::sort(ts.begin(), ts.end());
  CAF_CHECK_EQUAL(ts, (strings{"r/1", "r/2"}));
  for (auto& it : items) {
    CAF_CHECK(it.retain);
    CAF_CHECK_EQUAL(level(it.max_qos), 1);
    CAF_CHECK_EQUAL(it.subscription_ids, (std::vector<uint32_t>{5}));
  }
  subscribe(a, "r/#", qos::at_least_once, 5, false, retain_handling::send_on_subscribe);
  CAF_CHECK_EQUAL(a.box->batches.size(), 2u);
  // Retain Handling 1: only if the subscription is new.
  subscribe(a, "r/#", qos::at_least_once, 5, false, retain_handling::send_if_new_subscription);
  CAF_CHECK_EQUAL(a.box->batches.size(), 2u);
  subscribe(a, "r/1", qos::at_least_once, 0, false, retain_handling::send_if_new_subscription);
  CAF_CHECK_EQUAL(a.box->batches.size(), 3u);
  CAF_CHECK_EQUAL(topics(a.box->batches.back().items), (strings{"r/1"}));
  // Retain Handling 2: never.
  auto b = make_session(2);
  subscribe(b, "r/#", qos::at_least_once, 0, false, retain_handling::do_not_send);
  CAF_CHECK(b.box->batches.empty());
  // A live delivery to an existing subscription: RETAIN cleared unless
  // Retain As Published.
  route(pub, 2, {make_message("r/1", "v1b", qos::at_least_once, true)});
  sched.run();
  CAF_REQUIRE_EQUAL(b.box->items().size(), 1u);
  CAF_CHECK(!b.box->items()[0].retain);
  auto c = make_session(3);
  subscribe(c, "r/1", qos::at_least_once, 0, false, retain_handling::do_not_send, true);
  route(pub, 3, {make_message("r/1", "v1c", qos::at_least_once, true)});
  sched.run();
  CAF_REQUIRE_EQUAL(c.box->items().size(), 1u);
  CAF_CHECK(c.box->items()[0].retain);
  // The replaced retained message is the one a new subscriber gets.
  auto d = make_session(4);
  subscribe(d, "r/1", qos::at_most_once);
  CAF_REQUIRE_EQUAL(d.box->items().size(), 1u);
  CAF_CHECK_EQUAL(d.box->items()[0].msg->payload, "v1c");
}

CAF_TEST(an empty retained payload clears the retained message) {
  auto pub = make_session(9);
  route(pub, 1, {make_message("r/1", "v1", qos::at_least_once, true)});
  route(pub, 2, {make_message("r/1", "", qos::at_least_once, true)});
  sched.run();
  CAF_CHECK_EQUAL(state().retained.size(), 0u);
  auto a = make_session(1);
  subscribe(a, "r/#", qos::at_least_once);
  CAF_CHECK(a.box->batches.empty());
  CAF_CHECK_EQUAL(pub.box->routed, (std::vector<uint64_t>{1, 2}));
}

CAF_TEST(retained messages are not delivered for shared subscriptions) {
  auto pub = make_session(9);
  route(pub, 1, {make_message("r/1", "v1", qos::at_least_once, true)});
  sched.run();
  auto a = make_session(1);
  subscribe(a, "$share/g/r/#", qos::at_least_once);
  CAF_CHECK(a.box->batches.empty());
  // ... but live messages are.
  route(pub, 2, {make_message("r/1", "v2", qos::at_least_once)});
  sched.run();
  CAF_CHECK_EQUAL(a.box->items().size(), 1u);
}

CAF_TEST(unsubscribe and remove stop deliveries) {
  auto a = make_session(1);
  auto b = make_session(2);
  auto pub = make_session(9);
  subscribe(a, "t/#", qos::at_least_once);
  subscribe(b, "t/#", qos::at_least_once);
  caf::anon_send(router, unsubscribe_atom::value, a.sid, std::string{"t/#"});
  caf::anon_send(router, remove_atom::value, b.sid);
  sched.run();
  route(pub, 1, {make_message("t/1", "x")});
  sched.run();
  CAF_CHECK(a.box->batches.empty());
  CAF_CHECK(b.box->batches.empty());
  CAF_CHECK_EQUAL(pub.box->routed, (std::vector<uint64_t>{1}));
  // Only the unsubscribed filter left the tree: `remove` forgets the session
  // (deliveries to it stop) but relies on the session having unsubscribed
  // its filters first, which an ending session does.
  CAF_CHECK_EQUAL(state().tree.size(), 1u);
}

CAF_TEST(flow control defers the publishers ack until the target catches up) {
  make_router(4); // high 4, low 2
  auto a = make_session(1);
  auto pub = make_session(9);
  subscribe(a, "t", qos::at_least_once);
  auto five = [] {
    std::vector<protocol::message_ptr> xs;
    for (int i = 0; i < 5; ++i)
      xs.push_back(make_message("t", std::to_string(i)));
    return xs;
  };
  route(pub, 1, five());
  sched.run();
  // Delivered, but the ack waits: backlog 5 > 4.
  CAF_CHECK_EQUAL(a.box->items().size(), 5u);
  CAF_CHECK(pub.box->routed.empty());
  // Progress to backlog 3: not yet below the low mark (2).
  caf::anon_send(router, progress_atom::value, a.sid, int64_t{2});
  sched.run();
  CAF_CHECK(pub.box->routed.empty());
  // Backlog 1 < 2: released.
  caf::anon_send(router, progress_atom::value, a.sid, int64_t{4});
  sched.run();
  CAF_CHECK_EQUAL(pub.box->routed, (std::vector<uint64_t>{1}));
  // Below the high mark: acked at once.
  route(pub, 2, {make_message("t", "5"), make_message("t", "6")});
  sched.run();
  CAF_CHECK_EQUAL(pub.box->routed, (std::vector<uint64_t>{1, 2}));
}

CAF_TEST(flow control waits for the most congested target) {
  make_router(4);
  auto a = make_session(1);
  auto b = make_session(2);
  auto pub = make_session(9);
  subscribe(a, "t", qos::at_least_once);
  subscribe(b, "t", qos::at_least_once);
  subscribe(b, "u", qos::at_least_once);
  std::vector<protocol::message_ptr> xs;
  for (int i = 0; i < 5; ++i)
    xs.push_back(make_message("t", "t"));
  for (int i = 0; i < 3; ++i)
    xs.push_back(make_message("u", "u"));
  route(pub, 1, xs); // a: 5, b: 8
  sched.run();
  CAF_CHECK(pub.box->routed.empty());
  caf::anon_send(router, progress_atom::value, a.sid, int64_t{5});
  sched.run();
  CAF_CHECK(pub.box->routed.empty()); // b is the one it waits for
  caf::anon_send(router, progress_atom::value, b.sid, int64_t{8});
  sched.run();
  CAF_CHECK_EQUAL(pub.box->routed, (std::vector<uint64_t>{1}));
}

CAF_TEST(the router asks a session for progress only while flow control needs it) {
  make_router(16); // high 16, low 8: progress is asked for above 16 / 4
  auto a = make_session(1);
  auto pub = make_session(9);
  subscribe(a, "t", qos::at_most_once);
  auto msgs = [](size_t n) {
    std::vector<protocol::message_ptr> xs;
    for (size_t i = 0; i < n; ++i)
      xs.push_back(make_message("t", "x", qos::at_most_once));
    return xs;
  };
  // A low backlog as the router sees it (nothing reported yet): not asked.
  for (uint64_t seq = 1; seq <= 4; ++seq) {
    route(pub, seq, msgs(1));
    sched.run();
  }
  CAF_REQUIRE_EQUAL(a.box->batches.size(), 4u);
  for (auto& b : a.box->batches)
    CAF_CHECK(!b.ask_progress);
  // Its view reaches 5 (> 4): asked.
  route(pub, 5, msgs(1));
  sched.run();
  CAF_CHECK(a.box->batches.back().ask_progress);
  // Reported: a low backlog again, not asked.
  caf::anon_send(router, progress_atom::value, a.sid, int64_t{5});
  sched.run();
  route(pub, 6, msgs(1));
  sched.run();
  CAF_CHECK(!a.box->batches.back().ask_progress);
  // Above the high mark: asked, and the publisher's ack waits for the report.
  route(pub, 7, msgs(16)); // backlog 17
  sched.run();
  CAF_CHECK(a.box->batches.back().ask_progress);
  CAF_CHECK_EQUAL(pub.box->routed, (std::vector<uint64_t>{1, 2, 3, 4, 5, 6}));
  // Another publisher's batch waits too (backlog 18), and asks.
  auto p2 = make_session(10);
  route(p2, 1, msgs(1));
  sched.run();
  CAF_CHECK(a.box->batches.back().ask_progress);
  caf::anon_send(router, progress_atom::value, a.sid, int64_t{23});
  sched.run();
  CAF_CHECK_EQUAL(pub.box->routed, (std::vector<uint64_t>{1, 2, 3, 4, 5, 6, 7}));
  CAF_CHECK_EQUAL(p2.box->routed, (std::vector<uint64_t>{1}));
  route(pub, 8, msgs(1));
  sched.run();
  CAF_CHECK(!a.box->batches.back().ask_progress);
}

CAF_TEST(a route batch without ack is answered only when it waits for a congested target) {
  make_router(4); // high 4, low 2
  auto a = make_session(1);
  auto pub = make_session(9);
  subscribe(a, "t", qos::at_most_once);
  auto quiet = [&](uint64_t seq, size_t n) {
    route_batch b;
    b.seq = seq;
    b.ack = false;
    for (size_t i = 0; i < n; ++i)
      b.messages.push_back(make_message("t", "x", qos::at_most_once));
    caf::send_as(pub.handle, router, route_atom::value, std::move(b));
    sched.run();
  };
  quiet(1, 1);
  CAF_CHECK_EQUAL(a.box->items().size(), 1u);
  CAF_CHECK(pub.box->routed.empty());
  CAF_CHECK(pub.box->other.empty());
  // Backlog 5 > 4: the publisher is told to hold at once, and gets the
  // routed_atom once the target has caught up.
  quiet(2, 4);
  CAF_CHECK_EQUAL(a.box->items().size(), 5u);
  CAF_CHECK(pub.box->routed.empty());
  CAF_REQUIRE_EQUAL(pub.box->other.size(), 1u);
  CAF_REQUIRE((pub.box->other[0].match_elements<hold_atom, uint64_t>()));
  CAF_CHECK_EQUAL(pub.box->other[0].get_as<uint64_t>(1), 2u);
  caf::anon_send(router, progress_atom::value, a.sid, int64_t{5});
  sched.run();
  CAF_CHECK_EQUAL(pub.box->routed, (std::vector<uint64_t>{2}));
  quiet(3, 1);
  CAF_CHECK_EQUAL(pub.box->routed, (std::vector<uint64_t>{2}));
  CAF_CHECK_EQUAL(pub.box->other.size(), 1u);
}

CAF_TEST(a session id removed and subscribed again gets its deliveries counted afresh) {
  auto a = make_session(1);
  auto pub = make_session(9);
  subscribe(a, "t", qos::at_most_once);
  route(pub, 1, {make_message("t", "x", qos::at_most_once)});
  sched.run();
  CAF_CHECK_EQUAL(a.box->items().size(), 1u);
  caf::anon_send(router, remove_atom::value, a.sid);
  sched.run();
  // The same id again (the router caches a target's entry between batches).
  auto again = make_session(1);
  subscribe(again, "t", qos::at_most_once);
  route(pub, 2, {make_message("t", "y", qos::at_most_once)});
  sched.run();
  CAF_CHECK_EQUAL(a.box->items().size(), 1u);
  CAF_REQUIRE_EQUAL(again.box->items().size(), 1u);
  CAF_CHECK_EQUAL(again.box->items()[0].msg->payload, "y");
  CAF_CHECK_EQUAL(state().sessions.at(1).sent, 1);
  CAF_CHECK_EQUAL(pub.box->routed, (std::vector<uint64_t>{1, 2}));
}

CAF_TEST(deferred acks of several publishers are released when the session is removed) {
  make_router(4);
  auto a = make_session(1);
  auto p1 = make_session(8);
  auto p2 = make_session(9);
  subscribe(a, "t", qos::at_least_once);
  std::vector<protocol::message_ptr> xs;
  for (int i = 0; i < 5; ++i)
    xs.push_back(make_message("t", "x"));
  route(p1, 1, xs);
  route(p2, 41, {make_message("t", "y")});
  sched.run();
  CAF_CHECK(p1.box->routed.empty());
  CAF_CHECK(p2.box->routed.empty());
  caf::anon_send(router, remove_atom::value, a.sid);
  sched.run();
  CAF_CHECK_EQUAL(p1.box->routed, (std::vector<uint64_t>{1}));
  CAF_CHECK_EQUAL(p2.box->routed, (std::vector<uint64_t>{41}));
  // The removed session no longer holds anybody back.
  route(p1, 2, xs);
  sched.run();
  CAF_CHECK_EQUAL(p1.box->routed, (std::vector<uint64_t>{1, 2}));
}

// Arrival order (router.hpp): times are CLOCK_REALTIME ns, as the edge stamps reads; the router
// takes the routing time from the clock, so each case places its arrivals around `now()`.
constexpr int64_t ms = 1'000'000;

CAF_TEST(a message that arrived after a subscribe but was routed before it reaches the subscription) {
  auto b = make_session(1);
  auto pub = make_session(2);
  const int64_t subscribed = broker::arrival_window::now();
  // A's PUBLISH arrived 1 ms after B's SUBSCRIBE and was routed first (B's worker read late):
  // nobody was subscribed yet.
  route(pub, 1, {make_message("t/1", "late")}, 2, subscribed + ms);
  sched.run();
  CAF_CHECK_EQUAL(state().counters.no_subscribers, 1u);
  // One that arrived before the SUBSCRIBE stays missed, as it should.
  route(pub, 2, {make_message("t/1", "early")}, 2, subscribed - ms);
  sched.run();
  subscribe_arrived(b, "t/+", subscribed);
  CAF_REQUIRE_EQUAL(b.box->items().size(), 1u);
  CAF_CHECK_EQUAL(b.box->items()[0].msg->payload, "late");
  CAF_CHECK_EQUAL(level(b.box->items()[0].max_qos), 1);
  CAF_CHECK(!b.box->items()[0].retain);
  // Counted as sent: the session's progress covers it.
  CAF_CHECK_EQUAL(state().sessions[1].sent, 1);
  // A later message reaches the subscription the usual way, after the late one.
  route(pub, 3, {make_message("t/1", "next")}, 2, broker::arrival_window::now());
  sched.run();
  CAF_REQUIRE_EQUAL(b.box->items().size(), 2u);
  CAF_CHECK_EQUAL(b.box->items()[1].msg->payload, "next");
}

CAF_TEST(a subscribe read at once gets nothing routed before it arrived) {
  auto b = make_session(1);
  auto pub = make_session(2);
  route(pub, 1, {make_message("t/1", "before")}, 2, broker::arrival_window::now());
  sched.run();
  // Arrived after the route: the message was published before the subscription.
  subscribe_arrived(b, "t/1", broker::arrival_window::now() + ms);
  CAF_CHECK(b.box->items().empty());
  // An unknown arrival (0: bytes that came with the CONNECT, a restored subscription) asks
  // for nothing either.
  subscribe_arrived(b, "t/#", 0);
  CAF_CHECK(b.box->items().empty());
}

CAF_TEST(a late message is not given twice to a session that had it through another subscription) {
  auto b = make_session(1);
  auto pub = make_session(2);
  subscribe(b, "t/#", qos::at_most_once);
  const int64_t subscribed = broker::arrival_window::now();
  route(pub, 1, {make_message("t/1", "one"), make_message("u/1", "two")}, 2, subscribed + ms);
  sched.run();
  CAF_REQUIRE_EQUAL(b.box->items().size(), 1u); // "one", through t/#
  subscribe_arrived(b, "+/1", subscribed);
  CAF_REQUIRE_EQUAL(b.box->items().size(), 2u);
  CAF_CHECK_EQUAL(b.box->items()[1].msg->payload, "two");
}

CAF_TEST(a late message respects no local and the window of a shared subscription) {
  auto b = make_session(1);
  auto c = make_session(3);
  auto pub = make_session(2);
  const int64_t subscribed = broker::arrival_window::now();
  route(pub, 1, {make_message("t/1", "own")}, 1, subscribed + ms);
  sched.run();
  subscribe_arrived(b, "t/1", subscribed, /*no_local=*/true);
  CAF_CHECK(b.box->items().empty());
  // A shared group's choice for a message is made when it is routed: no late delivery.
  subscribe_arrived(c, "$share/g/t/1", subscribed);
  CAF_CHECK(c.box->items().empty());
  // Without No Local the same message is B's.
  auto d = make_session(4);
  subscribe_arrived(d, "t/1", subscribed);
  CAF_CHECK_EQUAL(d.box->items().size(), 1u);
}

CAF_TEST(a retained message that is also late goes once as the live message) {
  auto b = make_session(1);
  auto pub = make_session(2);
  auto old = make_message("r/1", "old", qos::at_least_once, true);
  route(pub, 1, {old}, 2, broker::arrival_window::now());
  sched.run();
  const int64_t subscribed = broker::arrival_window::now();
  auto late = make_message("r/2", "late", qos::at_least_once, true);
  route(pub, 2, {late}, 2, subscribed + ms);
  sched.run();
  subscribe_arrived(b, "r/+", subscribed);
  auto items = b.box->items();
  CAF_REQUIRE_EQUAL(items.size(), 2u);
  // The older retained message as retained, then the late one as published live: without
  // Retain As Published its retain flag is cleared, as for any live delivery.
  CAF_CHECK(items[0].msg == old);
  CAF_CHECK(items[0].retain);
  CAF_CHECK(items[1].msg == late);
  CAF_CHECK(!items[1].retain);
  // With Retain As Published (and Retain Handling 2, no retained messages) it keeps the flag.
  auto c = make_session(3);
  subscribe_arrived(c, "r/+", subscribed, false, true, retain_handling::do_not_send);
  CAF_REQUIRE_EQUAL(c.box->items().size(), 1u);
  CAF_CHECK(c.box->items()[0].msg == late);
  CAF_CHECK(c.box->items()[0].retain);
}

CAF_TEST(the arrival window is off without arrival order) {
  router = sys.spawn(router_behavior, router_options{1000, std::chrono::milliseconds{2000}, false,
                                                     /*arrival_order=*/false},
                     caf::actor{});
  sched.run();
  auto b = make_session(1);
  auto pub = make_session(2);
  const int64_t subscribed = broker::arrival_window::now();
  route(pub, 1, {make_message("t/1", "late")}, 2, subscribed + ms);
  sched.run();
  subscribe_arrived(b, "t/1", subscribed);
  CAF_CHECK(b.box->items().empty());
  CAF_CHECK_EQUAL(state().recent.size(), 0u);
}

CAF_TEST_FIXTURE_SCOPE_END()
