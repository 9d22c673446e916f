#define CAF_SUITE broker_lazy_deque
#include <caf/test/unit_test.hpp>

#include "amq/broker/lazy_deque.hpp"

#include <atomic>
#include <string>
#include <thread>

using amq::broker::lazy_deque;

CAF_TEST(an empty queue holds no deque and one run empty goes back to the pool of the thread) {
  using q = lazy_deque<std::string>;
  const auto pooled_before = q::pooled();
  q a;
  CAF_CHECK(!a.allocated());
  CAF_CHECK(a.empty());
  a.push_back("x");
  a.push_back("y");
  CAF_CHECK(a.allocated());
  CAF_CHECK_EQUAL(a.front(), "x");
  a.pop_front();
  a.pop_front();
  CAF_CHECK(!a.allocated()); // an idle queue holds nothing
  CAF_CHECK_EQUAL(q::pooled(), pooled_before + 1);
  // The next queue to need one takes it from the pool.
  q b;
  b.emplace_back("z");
  CAF_CHECK_EQUAL(q::pooled(), pooled_before);
  CAF_CHECK_EQUAL(b.size(), 1u);
  b.clear();
  CAF_CHECK(!b.allocated());
  CAF_CHECK(b.empty());
  CAF_CHECK_EQUAL(q::pooled(), pooled_before + 1);
  // erase to empty too.
  b.push_back("e");
  b.erase(b.begin());
  CAF_CHECK(!b.allocated());
  CAF_CHECK_EQUAL(q::pooled(), pooled_before + 1);
}

CAF_TEST(the pool is bounded and per thread) {
  using q = lazy_deque<int>;
  std::thread t([] {
    std::vector<q> qs(q::pool_max + 10);
    for (auto& x : qs)
      x.push_back(1);
    for (auto& x : qs)
      x.pop_front();
    CAF_CHECK_EQUAL(q::pooled(), q::pool_max); // the rest were freed
  });
  t.join();
  // Another thread's pool is not this one's.
  CAF_CHECK_EQUAL(q::pooled(), 0u);
  q a;
  a.push_back(1);
  CAF_CHECK_EQUAL(a.front(), 1);
}

namespace {

std::atomic<int> late_release{-1}; // -1: not run; 1: freed with the pool gone; 0: pooled

/// A thread_local constructed before the thread's pool, so destroyed after it: releasing its
/// queue then must free the deque and leave the destroyed pool alone.
struct late_owner {
  lazy_deque<long> q;
  ~late_owner() {
    q.pop_front();
    late_release = lazy_deque<long>::pooled() == 0 && !q.allocated() ? 1 : 0;
  }
};

} // namespace

CAF_TEST(a queue released after the pool of its thread was destroyed frees its deque) {
  std::thread t([] {
    thread_local late_owner owner; // constructed first ...
    owner.q.push_back(2);          // ... the pool only now (first use): destroyed before owner
    lazy_deque<long> other;
    other.push_back(1);
    other.pop_front(); // pooled while the thread lives
    CAF_CHECK_EQUAL(lazy_deque<long>::pooled(), 1u);
  });
  t.join();
  CAF_CHECK_EQUAL(late_release.load(), 1);
}
