#pragma once
/// What one session contributes to the broker's gauges (sessions by kind,
/// queued and in-flight messages, the queue-depth distribution), kept as
/// the last values reported so that each change is one signed delta.
/// 8 bytes per session; `update` is a few compares when nothing changed.

#include "amq/metrics/registry.hpp"

#include <algorithm>

namespace amq::metrics {

class session_probe {
public:
  session_probe() = default;
  session_probe(const session_probe&) = delete;
  session_probe& operator=(const session_probe&) = delete;
  ~session_probe() { release(); }

  /// The session's current state. Call after every input.
  void update(bool connected, bool persistent, bool application, size_t queued,
              size_t inflight) noexcept {
    auto kind = session_kind(connected, persistent, application);
    if (kind != kind_) {
      if (kind_ != none)
        add(slot::sessions + kind_, -1);
      add(slot::sessions + kind, 1);
      kind_ = kind;
    }
    auto q = static_cast<uint32_t>(std::min<size_t>(queued, UINT32_MAX));
    if (q != queued_) {
      add(slot::queued, static_cast<int64_t>(q) - static_cast<int64_t>(queued_));
      queued_ = q;
    }
    auto b = depth_bucket(q);
    if (b != bucket_) {
      if (bucket_ != none)
        add(slot::depth + bucket_, -1);
      add(slot::depth + b, 1);
      bucket_ = b;
    }
    auto f = static_cast<uint16_t>(std::min<size_t>(inflight, UINT16_MAX));
    if (f != inflight_) {
      add(slot::inflight, static_cast<int64_t>(f) - static_cast<int64_t>(inflight_));
      inflight_ = f;
    }
  }

  /// The session is gone: takes back everything it contributed. Idempotent.
  void release() noexcept {
    if (kind_ != none)
      add(slot::sessions + kind_, -1);
    if (bucket_ != none)
      add(slot::depth + bucket_, -1);
    if (queued_ != 0)
      add(slot::queued, -static_cast<int64_t>(queued_));
    if (inflight_ != 0)
      add(slot::inflight, -static_cast<int64_t>(inflight_));
    kind_ = bucket_ = none;
    queued_ = 0;
    inflight_ = 0;
  }

private:
  static constexpr uint8_t none = 0xFF;
  uint32_t queued_ = 0;
  uint16_t inflight_ = 0;
  uint8_t kind_ = none;
  uint8_t bucket_ = none;
};

} // namespace amq::metrics
