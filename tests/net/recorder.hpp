#pragma once
/// Test helper shared by the net and net_tls suites: a connection_receiver
/// that records what the edge delivers (bytes, close reason, writable
/// signals) and lets a test wait for a condition with a deadline.

#include "amq/net/connection.hpp"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <stdexcept>
#include <system_error>
#include <vector>

namespace amq::net::test {

using bytes = std::vector<uint8_t>;

inline constexpr std::chrono::milliseconds recorder_timeout{20000};

struct recorder : connection_receiver {
  std::mutex mtx;
  std::condition_variable cv;
  bytes data;
  size_t data_calls = 0;
  int closed = 0;
  std::error_code reason;
  int writable = 0;

  bool echo = false;
  bool pause_on_data = false;
  bool throw_on_data = false;
  /// Called first in on_data, on the I/O thread (e.g. to keep that thread busy).
  std::function<void(const connection_ptr&)> on_data_hook;

  void on_data(const connection_ptr& c, std::span<const uint8_t> in) override {
    if (on_data_hook)
      on_data_hook(c);
    if (throw_on_data)
      throw std::runtime_error("receiver failure");
    if (echo)
      c->send(bytes(in.begin(), in.end()));
    if (pause_on_data)
      c->pause_reading();
    {
      std::lock_guard<std::mutex> guard{mtx};
      data.insert(data.end(), in.begin(), in.end());
      ++data_calls;
    }
    cv.notify_all();
  }

  void on_closed(const connection_ptr&, std::error_code ec) override {
    {
      std::lock_guard<std::mutex> guard{mtx};
      ++closed;
      reason = ec;
    }
    cv.notify_all();
  }

  void on_writable(const connection_ptr&) override {
    {
      std::lock_guard<std::mutex> guard{mtx};
      ++writable;
    }
    cv.notify_all();
  }

  /// Waits until `pred(*this)` holds (under the lock); false on timeout.
  template <class Pred>
  bool wait(Pred pred, std::chrono::milliseconds limit = recorder_timeout) {
    std::unique_lock<std::mutex> lock{mtx};
    return cv.wait_for(lock, limit, [&] { return pred(*this); });
  }

  size_t size() {
    std::lock_guard<std::mutex> guard{mtx};
    return data.size();
  }
};

using recorder_ptr = std::shared_ptr<recorder>;

} // namespace amq::net::test
