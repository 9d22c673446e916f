#pragma once
/// Measuring pieces of actormq-fleet: a log-linear latency histogram, the per-stream
/// receive tracker (loss / duplicates / order) and the error kinds it counts.

#include <array>
#include <bit>
#include <cstdint>
#include <string_view>
#include <vector>

namespace amq::fleet {

/// Log-linear histogram of nanosecond values: 32 sub-buckets per power of two, so any
/// reported percentile is within ~3 % of the true value. 16 KiB, no allocation.
class histogram {
public:
  static constexpr int sub_bits = 5;
  static constexpr int sub = 1 << sub_bits;

  void add(uint64_t v) noexcept {
    ++buckets_[index(v)];
    ++count_;
    if (v > max_)
      max_ = v;
  }

  void merge(const histogram& o) noexcept {
    for (size_t i = 0; i < buckets_.size(); ++i)
      buckets_[i] += o.buckets_[i];
    count_ += o.count_;
    if (o.max_ > max_)
      max_ = o.max_;
  }

  uint64_t count() const noexcept { return count_; }
  uint64_t max() const noexcept { return max_; }

  /// Value at quantile `q` (0..1): the upper bound of the bucket holding it (never above max).
  uint64_t quantile(double q) const noexcept {
    if (count_ == 0)
      return 0;
    auto rank = static_cast<uint64_t>(q * static_cast<double>(count_));
    if (rank >= count_)
      rank = count_ - 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < buckets_.size(); ++i) {
      seen += buckets_[i];
      if (seen > rank) {
        auto up = upper(i);
        return up < max_ ? up : max_;
      }
    }
    return max_;
  }

private:
  static size_t index(uint64_t v) noexcept {
    if (v < sub)
      return static_cast<size_t>(v);
    int msb = 63 - std::countl_zero(v);
    int shift = msb - sub_bits;
    auto mant = static_cast<size_t>((v >> shift) & (sub - 1));
    return static_cast<size_t>(shift + 1) * sub + mant;
  }

  static uint64_t upper(size_t i) noexcept {
    if (i < sub)
      return i;
    size_t shift = i / sub - 1;
    uint64_t mant = (i % sub) | sub;
    return ((mant + 1) << shift) - 1;
  }

  std::array<uint64_t, 64 * sub> buckets_{};
  uint64_t count_ = 0;
  uint64_t max_ = 0;
};

/// What arriving message sequence numbers of one (publisher, subscriber) stream did.
enum class arrival : uint8_t { in_order, duplicate, out_of_order };

/// Receive side of one (publisher, subscriber) stream: a bitset of the sequence numbers seen.
/// A duplicate is a number seen before; out of order is a first arrival below the highest
/// number seen (a redelivered duplicate is a duplicate, not out of order).
class rx_stream {
public:
  arrival add(uint64_t seq) {
    const size_t word = seq / 64;
    if (word >= bits_.size())
      bits_.resize(word + 1 + bits_.size() / 2, 0);
    const uint64_t mask = uint64_t{1} << (seq % 64);
    if (bits_[word] & mask)
      return arrival::duplicate;
    bits_[word] |= mask;
    ++unique_;
    if (seq + 1 < next_)
      return arrival::out_of_order;
    next_ = seq + 1;
    return arrival::in_order;
  }

  bool has(uint64_t seq) const noexcept {
    const size_t word = seq / 64;
    return word < bits_.size() && (bits_[word] >> (seq % 64) & 1);
  }

  uint64_t unique() const noexcept { return unique_; }
  /// One past the highest sequence number seen (0: none).
  uint64_t next() const noexcept { return next_; }

  /// Folds another receiver's view of the same publisher in (shared subscriptions: the group
  /// is the subscriber). Returns how many numbers both had (duplicates across members).
  uint64_t merge(const rx_stream& o) {
    if (o.bits_.size() > bits_.size())
      bits_.resize(o.bits_.size(), 0);
    uint64_t both = 0;
    for (size_t i = 0; i < o.bits_.size(); ++i) {
      both += static_cast<uint64_t>(std::popcount(bits_[i] & o.bits_[i]));
      bits_[i] |= o.bits_[i];
    }
    unique_ += o.unique_ - both;
    if (o.next_ > next_)
      next_ = o.next_;
    return both;
  }

private:
  std::vector<uint64_t> bits_;
  uint64_t next_ = 0;
  uint64_t unique_ = 0;
};

/// Errors counted (never fatal): the kinds the summary lists.
enum class error_kind : uint8_t {
  socket_open,        ///< socket() failed (EMFILE/ENFILE: fd limit)
  bind,               ///< bind() to the source address failed (EADDRINUSE/EADDRNOTAVAIL)
  connect_refused,    ///< ECONNREFUSED
  connect_failed,     ///< other connect() errors (ETIMEDOUT, EADDRNOTAVAIL, ...)
  connack_timeout,    ///< no CONNACK within --connect-timeout
  connack_refused,    ///< CONNACK with a failure reason code
  closed_by_broker,   ///< EOF/reset on a connection we did not close (after CONNACK)
  write_failed,       ///< a write failed
  protocol,           ///< undecodable packet or an unexpected one
  subscribe_refused,  ///< SUBACK with a failure code
  session_lost,       ///< persistent reconnect answered with session present = 0
  count_
};

inline constexpr std::array<std::string_view, static_cast<size_t>(error_kind::count_)>
  error_names{"socket_open",     "bind",          "connect_refused", "connect_failed",
              "connack_timeout", "connack_refused", "closed_by_broker", "write_failed",
              "protocol",        "subscribe_refused", "session_lost"};

} // namespace amq::fleet
