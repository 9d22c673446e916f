#define CAF_SUITE broker_arrival_window
#include <caf/test/unit_test.hpp>

// The router's window of recent messages for arrival order (amq/broker/arrival_window.hpp):
// which messages a SUBSCRIBE that arrived at a given time is asked about, and its bounds.

#include "amq/broker/arrival_window.hpp"

#include <ctime>
#include <string>
#include <vector>

using amq::broker::arrival_window;
using amq::protocol::message;
using amq::protocol::message_ptr;

namespace {

message_ptr msg(std::string payload, size_t size = 0) {
  auto m = std::make_shared<message>();
  m->topic.push_back('t');
  if (size > 0)
    m->payload.resize(size, 'x');
  else
    m->payload = std::move(payload);
  return m;
}

/// The payloads `since(t)` calls back with, and whether it said the answer was complete.
std::pair<std::vector<std::string>, bool> since(const arrival_window& w, int64_t t) {
  std::vector<std::string> out;
  bool complete = w.since(t, [&](const arrival_window::entry& e) { out.push_back(e.msg->payload); });
  return {out, complete};
}

using strings = std::vector<std::string>;

} // namespace

CAF_TEST(only messages routed after a time that also arrived after it are asked about) {
  arrival_window w{8, 1 << 20};
  // (arrival, routed)
  w.push(msg("a"), 10, 20, 1);
  w.push(msg("b"), 15, 30, 1); // arrived before 20, routed after it
  w.push(msg("c"), 25, 40, 2);
  w.push(msg("d"), 35, 50, 2);
  CAF_CHECK_EQUAL(since(w, 20).first, (strings{"c", "d"}));
  CAF_CHECK(since(w, 20).second);
  CAF_CHECK_EQUAL(since(w, 5).first, (strings{"a", "b", "c", "d"}));
  CAF_CHECK_EQUAL(since(w, 50).first, strings{});
  CAF_CHECK_EQUAL(since(w, 36).first, strings{});
  CAF_CHECK_EQUAL(w.size(), 4u);
  // The publisher comes back with the entry (No Local).
  w.since(40, [](const arrival_window::entry& e) { CAF_CHECK_EQUAL(e.publisher, 2u); });
}

CAF_TEST(a full window lets the oldest go and says so for questions reaching back past it) {
  arrival_window w{3, 1 << 20};
  for (int i = 1; i <= 5; ++i)
    w.push(msg(std::to_string(i)), i * 10, i * 10, 0);
  CAF_CHECK_EQUAL(w.size(), 3u);
  CAF_CHECK_EQUAL(w.dropped_through(), 20);
  // Since 25: messages 3, 4 and 5, all still there.
  auto [late, complete] = since(w, 25);
  CAF_CHECK_EQUAL(late, (strings{"3", "4", "5"}));
  CAF_CHECK(complete);
  // Since 15: message 2 was routed after it and is gone.
  auto [late2, complete2] = since(w, 15);
  CAF_CHECK_EQUAL(late2, (strings{"3", "4", "5"}));
  CAF_CHECK(!complete2);
}

CAF_TEST(the window is bounded by bytes too and never keeps a message larger than the bound) {
  const size_t bound = 3 * (arrival_window::cost_of(*msg("", 100)));
  arrival_window w{100, bound};
  for (int i = 1; i <= 4; ++i)
    w.push(msg("", 100), i, i, 0);
  CAF_CHECK_EQUAL(w.size(), 3u);
  CAF_CHECK_LESS_OR_EQUAL(w.bytes(), bound);
  CAF_CHECK_EQUAL(w.dropped_through(), 1);
  // Larger than the whole bound: not kept, nothing else evicted, the gap remembered.
  w.push(msg("", bound), 5, 5, 0);
  CAF_CHECK_EQUAL(w.size(), 3u);
  CAF_CHECK_EQUAL(w.dropped_through(), 5);
  CAF_CHECK(!since(w, 4).second);
}

CAF_TEST(a window of capacity zero is off) {
  arrival_window w;
  CAF_CHECK(!w.enabled());
  w.push(msg("a"), 1, 1, 0);
  CAF_CHECK_EQUAL(w.size(), 0u);
  auto [late, complete] = since(w, 0);
  CAF_CHECK(late.empty());
  CAF_CHECK(complete);
}

CAF_TEST(the clock is the realtime clock of the kernel stamps) {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  const int64_t before = static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
  const int64_t now = arrival_window::now();
  ::clock_gettime(CLOCK_REALTIME, &ts);
  const int64_t after = static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
  CAF_CHECK_LESS_OR_EQUAL(before, now);
  CAF_CHECK_LESS_OR_EQUAL(now, after);
}
