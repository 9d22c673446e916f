#pragma once
/// The messages a router routed lately, with when each arrived and when it was routed, so that a
/// SUBSCRIBE read late can be given what arrived after it (amq/actors/router.hpp, "Arrival
/// order"). Pure logic, no locking: the router's state owns one, under its mutex.
///
/// Times are CLOCK_REALTIME nanoseconds (the clock of the kernel's receive timestamps). The
/// window is bounded both by a number of messages and by their bytes (topic and payload), so it
/// holds a few milliseconds of traffic under load and never much memory when idle; what it had
/// to let go is remembered as a time (`dropped_through`), so a question reaching back past it is
/// answered as incomplete instead of silently short.

#include "amq/broker/session_types.hpp"
#include "amq/protocol/message.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace amq::broker {

class arrival_window {
public:
  struct entry {
    protocol::message_ptr msg;
    int64_t arrival = 0;      ///< when its read arrived (the routing time when unknown)
    int64_t routed = 0;       ///< when the router took it
    session_id publisher = 0; ///< 0: the broker itself
  };

  /// `capacity` 0: off (`push` keeps nothing, `since` finds nothing and is complete).
  arrival_window(size_t capacity = 0, size_t max_bytes = 0) {
    reset(capacity, max_bytes);
  }

  /// Forgets everything and takes new bounds.
  void reset(size_t capacity, size_t max_bytes) {
    ring_.clear();
    ring_.resize(capacity);
    capacity_ = capacity;
    max_bytes_ = max_bytes;
    head_ = 0;
    size_ = 0;
    bytes_ = 0;
    dropped_through_ = 0;
  }

  bool enabled() const noexcept {
    return capacity_ != 0;
  }
  size_t size() const noexcept {
    return size_;
  }
  size_t bytes() const noexcept {
    return bytes_;
  }
  /// The latest routing time of a message the window let go of (or never took: larger than
  /// `max_bytes` on its own); 0 if none.
  int64_t dropped_through() const noexcept {
    return dropped_through_;
  }

  /// Records a routed message. `routed` must not decrease from one call to the next (the
  /// router reads the clock under its lock).
  void push(protocol::message_ptr msg, int64_t arrival, int64_t routed, session_id publisher) {
    if (capacity_ == 0)
      return;
    const size_t cost = cost_of(*msg);
    if (cost > max_bytes_) {
      dropped_through_ = routed;
      return;
    }
    while (size_ > 0 && (size_ == capacity_ || bytes_ + cost > max_bytes_))
      pop_oldest();
    auto& e = ring_[wrap(head_ + size_)];
    e.msg = std::move(msg);
    e.arrival = arrival;
    e.routed = routed;
    e.publisher = publisher;
    bytes_ += cost;
    ++size_;
  }

  /// Calls `f(entry)`, oldest first, for every message routed after `t` that also arrived after
  /// it. Returns false if the window let go of a message routed after `t` (the answer may be
  /// short).
  template <class F>
  bool since(int64_t t, F&& f) const {
    // Routing times only grow: find the first entry routed after `t` from the newest end (the
    // ones of interest are the last few).
    size_t first = size_;
    while (first > 0 && at(first - 1).routed > t)
      --first;
    for (size_t i = first; i < size_; ++i) {
      const auto& e = at(i);
      if (e.arrival > t)
        f(e);
    }
    return dropped_through_ <= t;
  }

  /// CLOCK_REALTIME now in nanoseconds since the epoch (std::chrono::system_clock on Linux),
  /// the clock of the kernel's receive timestamps.
  static int64_t now() noexcept {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
  }

  /// Bytes a message counts for (the bound is on what the window keeps alive).
  static size_t cost_of(const protocol::message& m) noexcept {
    return m.topic.size() + m.payload.size() + 64;
  }

private:
  const entry& at(size_t i) const noexcept {
    return ring_[wrap(head_ + i)];
  }
  /// An index below 2 * capacity_ into the ring (no division per message).
  size_t wrap(size_t i) const noexcept {
    return i >= capacity_ ? i - capacity_ : i;
  }
  void pop_oldest() noexcept {
    auto& e = ring_[head_];
    bytes_ -= cost_of(*e.msg);
    dropped_through_ = e.routed;
    e.msg.reset();
    head_ = wrap(head_ + 1);
    --size_;
  }

  std::vector<entry> ring_;
  size_t capacity_ = 0;
  size_t max_bytes_ = 0;
  size_t head_ = 0;
  size_t size_ = 0;
  size_t bytes_ = 0;
  int64_t dropped_through_ = 0;
};

} // namespace amq::broker
