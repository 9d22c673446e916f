#pragma once
/// Private: a 4-byte mutex for a connection's write-queue state.
///
/// Why: `std::mutex` is 40 bytes, and every connection has one. This is the lock glibc builds its
/// own mutex on (0 free, 1 held, 2 held and someone may wait): uncontended, one atomic
/// instruction to take and one to release; contended, the waiter sleeps in the kernel (C++20
/// atomic wait, a futex on Linux) like a `std::mutex` waiter, and the releaser wakes one. Not a
/// spinlock (as edge_link's `tiny_lock`): the connection's critical sections include a `send` or
/// `sendmsg` (write-through and the gather's flush), so a waiter may wait for a syscall. What it
/// lacks next to `std::mutex` is only what the edge never uses (owner, error checking, timed and
/// recursive locking).

#include <atomic>

namespace amq::net::detail {

class small_mutex {
public:
  small_mutex() noexcept = default;
  small_mutex(const small_mutex&) = delete;
  small_mutex& operator=(const small_mutex&) = delete;

  void lock() noexcept {
    int c = free;
    if (!state_.compare_exchange_strong(c, held, std::memory_order_acquire,
                                        std::memory_order_relaxed))
      lock_contended(c);
  }

  bool try_lock() noexcept {
    int c = free;
    return state_.compare_exchange_strong(c, held, std::memory_order_acquire,
                                          std::memory_order_relaxed);
  }

  void unlock() noexcept {
    if (state_.exchange(free, std::memory_order_release) == contended)
      state_.notify_one();
  }

private:
  static constexpr int free = 0;
  static constexpr int held = 1;
  static constexpr int contended = 2; // held, and a waiter may sleep: unlock must wake one

  void lock_contended(int c) noexcept {
    // Mark the lock contended before sleeping, so the holder's unlock wakes us; whoever takes it
    // from here leaves it marked (it cannot tell whether others still sleep), which at worst
    // costs one needless wake.
    if (c != contended)
      c = state_.exchange(contended, std::memory_order_acquire);
    while (c != free) {
      state_.wait(contended, std::memory_order_relaxed);
      c = state_.exchange(contended, std::memory_order_acquire);
    }
  }

  std::atomic<int> state_{free};
};

} // namespace amq::net::detail
