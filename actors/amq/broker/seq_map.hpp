#pragma once
/// `seq_map<T>`: an ordered map from increasing sequence numbers to `T`, for
/// a session's outbound in-flight window (session_machine's `inflight_`,
/// keyed by send order).
///
/// Keys arrive in increasing order and entries mostly leave from the front
/// (acknowledgements come in send order), so the entries live in one vector
/// in key order: emplace appends, erase leaves a hole that is skipped and
/// reclaimed once it reaches the front, find is a binary search. Compared
/// with `std::map` this is one allocation per window instead of one node
/// (and a rebalancing) per message: on a max-rate QoS 1 p2p run the map's
/// node churn was ~9 % of the broker's CPU (docs/performance.md,
/// "Profile-driven speed work (third pass)").
///
/// The subset of `std::map`'s interface the session machine uses: begin,
/// end, find, emplace, erase(iterator) (returns the next entry; other
/// iterators stay valid unless the map reclaims holes — they may move),
/// size, empty, clear. An out-of-order key is inserted in place (linear).
/// An empty map owns no memory; a window that drains releases a large
/// buffer (more than `keep_slots`) so that an idle session does not keep it.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <utility>
#include <vector>

namespace amq::broker {

template <class T>
class seq_map {
public:
  using key_type = uint64_t;
  using mapped_type = T;
  using value_type = std::pair<const uint64_t, T>;

  /// Buffers up to this many slots are kept when the map runs empty.
  static constexpr size_t keep_slots = 16;

  template <bool Const>
  class basic_iterator {
  public:
    using owner = std::conditional_t<Const, const seq_map, seq_map>;
    using iterator_category = std::forward_iterator_tag;
    using value_type = seq_map::value_type;
    using difference_type = std::ptrdiff_t;
    using reference = std::conditional_t<Const, const value_type&, value_type&>;
    using pointer = std::conditional_t<Const, const value_type*, value_type*>;

    basic_iterator() = default;
    basic_iterator(owner* m, size_t idx) noexcept : m_(m), idx_(idx) {}

    reference operator*() const noexcept { return *m_->slots_[idx_].v; }
    pointer operator->() const noexcept { return &*m_->slots_[idx_].v; }
    basic_iterator& operator++() noexcept {
      idx_ = m_->next_live(idx_ + 1);
      return *this;
    }
    basic_iterator operator++(int) noexcept {
      auto old = *this;
      ++*this;
      return old;
    }
    friend bool operator==(const basic_iterator& a, const basic_iterator& b) noexcept {
      return a.idx_ == b.idx_;
    }

  private:
    friend class seq_map;
    owner* m_ = nullptr;
    size_t idx_ = 0; ///< index into slots_
  };

  using iterator = basic_iterator<false>;
  using const_iterator = basic_iterator<true>;

  seq_map() = default;
  seq_map(seq_map&&) noexcept = default;
  seq_map& operator=(seq_map&&) noexcept = default;

  iterator begin() noexcept { return {this, head_}; }
  iterator end() noexcept { return {this, slots_.size()}; }
  const_iterator begin() const noexcept { return {this, head_}; }
  const_iterator end() const noexcept { return {this, slots_.size()}; }

  size_t size() const noexcept { return live_; }
  bool empty() const noexcept { return live_ == 0; }

  iterator find(uint64_t key) noexcept {
    auto idx = lower(key);
    if (idx == slots_.size() || slots_[idx].key != key || !slots_[idx].v)
      return end();
    return {this, idx};
  }

  const_iterator find(uint64_t key) const noexcept {
    auto idx = lower(key);
    if (idx == slots_.size() || slots_[idx].key != key || !slots_[idx].v)
      return end();
    return {this, idx};
  }

  template <class... Ts>
  std::pair<iterator, bool> emplace(uint64_t key, Ts&&... xs) {
    if (live_ == 0 || key > slots_.back().key) {
      auto& s = slots_.emplace_back();
      s.key = key;
      s.v.emplace(std::piecewise_construct, std::forward_as_tuple(key),
                  std::forward_as_tuple(std::forward<Ts>(xs)...));
      ++live_;
      return {{this, slots_.size() - 1}, true};
    }
    auto idx = lower(key);
    if (idx < slots_.size() && slots_[idx].key == key) {
      if (slots_[idx].v)
        return {{this, idx}, false};
      slots_[idx].v.emplace(std::piecewise_construct, std::forward_as_tuple(key),
                            std::forward_as_tuple(std::forward<Ts>(xs)...));
    } else {
      slot s;
      s.key = key;
      s.v.emplace(std::piecewise_construct, std::forward_as_tuple(key),
                  std::forward_as_tuple(std::forward<Ts>(xs)...));
      slots_.insert(slots_.begin() + static_cast<std::ptrdiff_t>(idx), std::move(s));
    }
    ++live_;
    return {{this, idx}, true};
  }

  /// Removes the entry at `i`; returns the next entry (or end()).
  iterator erase(iterator i) noexcept {
    auto idx = i.idx_;
    slots_[idx].v.reset();
    --live_;
    if (live_ == 0) {
      clear();
      return end();
    }
    auto next = next_live(idx + 1);
    while (!slots_.back().v)
      slots_.pop_back(); // the last slot is live again (live_ > 0)
    if (next > slots_.size())
      next = slots_.size();
    if (idx == head_) {
      head_ = next_live(head_);
      // Reclaim the dead prefix once it is most of the buffer.
      if (head_ >= 32 && head_ * 2 >= slots_.size()) {
        slots_.erase(slots_.begin(), slots_.begin() + static_cast<std::ptrdiff_t>(head_));
        next -= head_;
        head_ = 0;
      }
    }
    return {this, next};
  }

  void clear() noexcept {
    if (slots_.capacity() > keep_slots)
      std::vector<slot>{}.swap(slots_);
    else
      slots_.clear();
    head_ = 0;
    live_ = 0;
  }

private:
  struct slot {
    uint64_t key = 0;
    std::optional<value_type> v; ///< nullopt: erased (a hole)
    slot() = default;
    slot(slot&& other) noexcept : key(other.key) {
      if (other.v)
        v.emplace(std::move(other.v->first), std::move(other.v->second));
    }
    slot& operator=(slot&& other) noexcept {
      key = other.key;
      v.reset();
      if (other.v)
        v.emplace(std::move(other.v->first), std::move(other.v->second));
      return *this;
    }
  };

  size_t lower(uint64_t key) const noexcept {
    auto it = std::lower_bound(slots_.begin() + static_cast<std::ptrdiff_t>(head_), slots_.end(),
                               key, [](const slot& s, uint64_t k) { return s.key < k; });
    return static_cast<size_t>(it - slots_.begin());
  }

  size_t next_live(size_t idx) const noexcept {
    while (idx < slots_.size() && !slots_[idx].v)
      ++idx;
    return idx;
  }

  std::vector<slot> slots_; ///< in key order; [0, head_) are holes
  size_t head_ = 0;         ///< first live slot (0 when empty)
  size_t live_ = 0;
};

} // namespace amq::broker
