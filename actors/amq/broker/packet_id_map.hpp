#pragma once
/// `packet_id_map`: packet identifier → send sequence number, for a
/// session's outbound in-flight window (session_machine's `inflight_ids_`).
///
/// Open addressing (linear probing) in one array at most half full, with
/// Fibonacci hashing: outbound identifiers are handed out consecutively
/// (`next_packet_id`, or derived from consecutive queue positions), and the
/// multiplicative hash spreads such a window evenly over the table, so
/// probe runs stay short (indexing by the identifier itself would make the
/// whole window one run, and every erase would scan it). Erase shifts the
/// rest of its run back (no tombstones). Replaces an
/// `std::unordered_map<uint16_t, uint64_t>`, which allocated a node per
/// in-flight message and divided by a prime per lookup (~5 % of the broker's
/// CPU on a max-rate QoS 1 p2p run; docs/performance.md, "Profile-driven
/// speed work (third pass)").
///
/// The subset of the map interface the session machine uses (find, count,
/// emplace, erase by key or iterator, clear, size, empty, iteration).
/// Identifier 0 is never used by MQTT and marks a free slot. An empty map
/// owns no memory. `erase(iterator)` returns the iterator's position, which
/// may now hold a shifted entry (not "the next one"): do not erase while
/// iterating.

#include <bit>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace amq::broker {

class packet_id_map {
public:
  using key_type = uint16_t;
  using mapped_type = uint64_t;
  using value_type = std::pair<uint16_t, uint64_t>;

  template <bool Const>
  class basic_iterator {
  public:
    using slot_ptr = std::conditional_t<Const, const value_type*, value_type*>;
    basic_iterator() = default;
    basic_iterator(slot_ptr p, slot_ptr end) noexcept : p_(p), end_(end) { skip(); }
    auto& operator*() const noexcept { return *p_; }
    slot_ptr operator->() const noexcept { return p_; }
    basic_iterator& operator++() noexcept {
      ++p_;
      skip();
      return *this;
    }
    friend bool operator==(const basic_iterator& a, const basic_iterator& b) noexcept {
      return a.p_ == b.p_;
    }

  private:
    friend class packet_id_map;
    void skip() noexcept {
      while (p_ != end_ && p_->first == 0)
        ++p_;
    }
    slot_ptr p_ = nullptr;
    slot_ptr end_ = nullptr;
  };

  using iterator = basic_iterator<false>;
  using const_iterator = basic_iterator<true>;

  iterator begin() noexcept { return {data(), data() + slots_.size()}; }
  iterator end() noexcept { return {data() + slots_.size(), data() + slots_.size()}; }
  const_iterator begin() const noexcept { return {data(), data() + slots_.size()}; }
  const_iterator end() const noexcept {
    return {data() + slots_.size(), data() + slots_.size()};
  }

  size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }

  iterator find(uint16_t id) noexcept {
    auto i = index_of(id);
    return i == npos ? end() : iterator{data() + i, data() + slots_.size()};
  }

  size_t count(uint16_t id) const noexcept { return index_of(id) == npos ? 0 : 1; }

  std::pair<iterator, bool> emplace(uint16_t id, uint64_t seq) {
    if (auto i = index_of(id); i != npos)
      return {iterator{data() + i, data() + slots_.size()}, false};
    if ((size_ + 1) * 2 > slots_.size())
      grow();
    auto i = place(id, seq);
    ++size_;
    return {iterator{data() + i, data() + slots_.size()}, true};
  }

  size_t erase(uint16_t id) noexcept {
    auto i = index_of(id);
    if (i == npos)
      return 0;
    erase_at(i);
    return 1;
  }

  iterator erase(iterator it) noexcept {
    auto i = static_cast<size_t>(it.p_ - data());
    erase_at(i);
    if (size_ == 0)
      return end();
    return iterator{data() + i, data() + slots_.size()};
  }

  void clear() noexcept {
    std::vector<value_type>{}.swap(slots_);
    size_ = 0;
  }

private:
  static constexpr size_t npos = static_cast<size_t>(-1);

  value_type* data() noexcept { return slots_.data(); }
  const value_type* data() const noexcept { return slots_.data(); }
  size_t mask() const noexcept { return slots_.size() - 1; }
  /// Fibonacci hashing: the top log2(size) bits of id * 2^32/phi.
  size_t home(uint16_t id) const noexcept {
    auto bits = static_cast<unsigned>(std::countr_zero(slots_.size()));
    return static_cast<size_t>((uint32_t{id} * 0x9E3779B9u) >> (32 - bits));
  }

  size_t index_of(uint16_t id) const noexcept {
    if (size_ == 0 || id == 0)
      return npos;
    for (size_t i = home(id);; i = (i + 1) & mask()) {
      auto k = slots_[i].first;
      if (k == id)
        return i;
      if (k == 0)
        return npos;
    }
  }

  size_t place(uint16_t id, uint64_t seq) noexcept {
    size_t i = home(id);
    while (slots_[i].first != 0)
      i = (i + 1) & mask();
    slots_[i] = {id, seq};
    return i;
  }

  void grow() {
    std::vector<value_type> old;
    old.swap(slots_);
    slots_.assign(std::max<size_t>(16, old.size() * 2), value_type{0, 0});
    for (auto& s : old)
      if (s.first != 0)
        place(s.first, s.second);
  }

  /// Backward-shift deletion: moves later entries of the probe run into the
  /// hole when their home slot allows it, so lookups never need tombstones.
  void erase_at(size_t i) noexcept {
    --size_;
    auto m = mask();
    for (size_t j = (i + 1) & m;; j = (j + 1) & m) {
      auto k = slots_[j].first;
      if (k == 0)
        break;
      size_t h = home(k);
      // Entry j may move to hole i if its home is not in (i, j] (cyclically).
      bool stays = i <= j ? (i < h && h <= j) : (i < h || h <= j);
      if (!stays) {
        slots_[i] = slots_[j];
        i = j;
      }
    }
    slots_[i] = {0, 0};
    if (size_ == 0)
      clear();
  }

  std::vector<value_type> slots_; ///< power-of-two size, or empty
  size_t size_ = 0;
};

} // namespace amq::broker
