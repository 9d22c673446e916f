#pragma once
/// The subscriptions of one session (filter → subscription_entry), sized for
/// the common session: a device with one or a few subscriptions.
///
/// 8 bytes inline, nothing allocated while empty (like `lazy_box`). Up to
/// `small_max` subscriptions live in ONE allocation of packed records
/// (entry, filter length, filter bytes), searched linearly: a device with one
/// filter of up to 16 bytes costs one 48-byte malloc chunk where a
/// `std::map<std::string, subscription_entry>` took its header and a node
/// (64 + 80 bytes; docs/performance.md "Idle subscribed devices"). Beyond
/// `small_max` the records move to a `std::map` (O(log n) for sessions with
/// many filters) and stay there until the set is emptied.
///
/// Iteration order is unspecified (insertion order while small, sorted once
/// large). An iterator yields `{first: filter, second: entry}` by const
/// reference to a value inside the iterator: valid until it advances
/// (`for (auto& [filter, entry] : set)` is fine). Any insertion or erasure
/// invalidates iterators and the views returned by `insert_or_assign`.

#include "amq/broker/session_types.hpp"

#include <cstddef>
#include <cstdint>
#include <algorithm>
#include <cstring>
#include <map>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace amq::broker {

class subscription_set {
public:
  static constexpr size_t small_max = 16;

  struct value_type {
    std::string_view first;
    subscription_entry second;
  };

  using map_type = std::map<std::string, subscription_entry, std::less<>>;

  class const_iterator {
  public:
    using value_type = subscription_set::value_type;
    using reference = const value_type&;
    using difference_type = std::ptrdiff_t;

    const_iterator() = default;

    reference operator*() const noexcept {
      return cur_;
    }

    const value_type* operator->() const noexcept {
      return &cur_;
    }

    const_iterator& operator++() noexcept {
      if (big_) {
        ++it_;
      } else {
        pos_ += record_size(pos_);
      }
      load();
      return *this;
    }

    friend bool operator==(const const_iterator& x, const const_iterator& y) noexcept {
      return x.big_ ? x.it_ == y.it_ : x.pos_ == y.pos_;
    }

  private:
    friend class subscription_set;

    void load() noexcept {
      if (big_) {
        if (it_ != end_it_)
          cur_ = value_type{it_->first, it_->second};
      } else if (pos_ != end_) {
        cur_ = value_type{record_key(pos_), record_entry(pos_)};
      }
    }

    bool big_ = false;
    const char* pos_ = nullptr;
    const char* end_ = nullptr;
    map_type::const_iterator it_;
    map_type::const_iterator end_it_;
    value_type cur_;
  };
  using iterator = const_iterator;

  subscription_set() = default;

  subscription_set(subscription_set&& other) noexcept
    : block_(std::exchange(other.block_, uintptr_t{0})) {
    // nop
  }

  subscription_set& operator=(subscription_set&& other) noexcept {
    if (this != &other) {
      clear();
      block_ = std::exchange(other.block_, uintptr_t{0});
    }
    return *this;
  }

  subscription_set(const subscription_set&) = delete;
  subscription_set& operator=(const subscription_set&) = delete;

  ~subscription_set() {
    clear();
  }

  bool empty() const noexcept {
    return block_ == 0;
  }

  size_t size() const noexcept {
    if (!block_)
      return 0;
    return is_big() ? big()->size() : head()->count;
  }

  size_t count(std::string_view filter) const noexcept {
    return get(filter) ? 1 : 0;
  }

  /// The entry of `filter`; throws std::out_of_range if there is none.
  subscription_entry at(std::string_view filter) const {
    if (auto e = get(filter))
      return *e;
    throw std::out_of_range("subscription_set::at");
  }

  /// The entry of `filter`, if any.
  std::optional<subscription_entry> get(std::string_view filter) const noexcept {
    if (!block_)
      return std::nullopt;
    if (is_big()) {
      auto& m = *big();
      auto i = m.find(filter);
      return i == m.end() ? std::nullopt : std::optional{i->second};
    }
    if (auto* r = find_record(filter))
      return record_entry(r);
    return std::nullopt;
  }

  /// Adds or replaces the entry of `filter`. Returns the stored filter (a
  /// view into the set) and whether it is new.
  std::pair<std::string_view, bool> insert_or_assign(std::string_view filter,
                                                     const subscription_entry& entry) {
    if (block_ && is_big()) {
      auto& m = *big();
      auto i = m.find(filter);
      if (i != m.end()) {
        i->second = entry;
        return {i->first, false};
      }
      auto j = m.emplace(std::string{filter}, entry).first;
      return {j->first, true};
    }
    if (auto* r = block_ ? find_record(filter) : nullptr) {
      std::memcpy(r, &entry, sizeof(entry));
      return {record_key(r), false};
    }
    if (block_ && head()->count == small_max) {
      to_big();
      return insert_or_assign(filter, entry);
    }
    auto need = record_bytes(filter.size());
    auto used = block_ ? head()->used : 0u;
    if (!block_ || used + need > head()->cap)
      grow(used + need);
    auto* r = records() + used;
    std::memcpy(r, &entry, sizeof(entry));
    auto len = static_cast<uint32_t>(filter.size());
    std::memcpy(r + sizeof(subscription_entry), &len, sizeof(len));
    if (!filter.empty())
      std::memcpy(r + header_bytes, filter.data(), filter.size());
    head()->used = used + static_cast<uint32_t>(need);
    ++head()->count;
    return {record_key(r), true};
  }

  /// Removes the entry of `filter`; false if there was none.
  bool erase(std::string_view filter) {
    if (!block_)
      return false;
    if (is_big()) {
      auto& m = *big();
      auto i = m.find(filter);
      if (i == m.end())
        return false;
      m.erase(i);
      if (m.empty())
        clear();
      return true;
    }
    auto* r = find_record(filter);
    if (!r)
      return false;
    auto n = record_size(r);
    auto* end = records() + head()->used;
    std::memmove(r, r + n, static_cast<size_t>(end - (r + n)));
    head()->used -= static_cast<uint32_t>(n);
    if (--head()->count == 0)
      clear();
    return true;
  }

  void clear() noexcept {
    if (!block_)
      return;
    if (is_big())
      delete big();
    else
      ::operator delete(head());
    block_ = 0;
  }

  const_iterator begin() const noexcept {
    const_iterator i;
    if (!block_)
      return i;
    if (is_big()) {
      i.big_ = true;
      i.it_ = big()->begin();
      i.end_it_ = big()->end();
    } else {
      i.pos_ = records();
      i.end_ = records() + head()->used;
    }
    i.load();
    return i;
  }

  const_iterator end() const noexcept {
    const_iterator i;
    if (!block_)
      return i;
    if (is_big()) {
      i.big_ = true;
      i.it_ = big()->end();
      i.end_it_ = i.it_;
    } else {
      i.pos_ = records() + head()->used;
      i.end_ = i.pos_;
    }
    return i;
  }

private:
  static_assert(std::is_trivially_copyable_v<subscription_entry>);

  /// The small block starts with this header (12 bytes), then the records.
  struct head_t {
    uint32_t used = 0;  ///< bytes of records
    uint32_t cap = 0;   ///< bytes available for records
    uint32_t count = 0; ///< number of records
  };

  /// A record: the entry, a 4-byte filter length, the filter bytes (no
  /// padding: fields are read with memcpy).
  static constexpr size_t header_bytes = sizeof(subscription_entry) + sizeof(uint32_t);
  static constexpr size_t head_bytes = sizeof(head_t);

  static size_t record_bytes(size_t filter_size) noexcept {
    return header_bytes + filter_size;
  }

  static uint32_t record_len(const char* r) noexcept {
    uint32_t len;
    std::memcpy(&len, r + sizeof(subscription_entry), sizeof(len));
    return len;
  }

  static size_t record_size(const char* r) noexcept {
    return record_bytes(record_len(r));
  }

  static std::string_view record_key(const char* r) noexcept {
    return {r + header_bytes, record_len(r)};
  }

  static subscription_entry record_entry(const char* r) noexcept {
    subscription_entry e;
    std::memcpy(&e, r, sizeof(e));
    return e;
  }

  /// `block_` is a head_t* (small) or, with bit 0 set, a map_type* (big);
  /// both come from operator new, aligned to at least 4.
  bool is_big() const noexcept {
    return (block_ & 1u) != 0;
  }

  head_t* head() const noexcept {
    return reinterpret_cast<head_t*>(block_);
  }

  map_type* big() const noexcept {
    return reinterpret_cast<map_type*>(block_ & ~uintptr_t{1});
  }

  char* records() const noexcept {
    return reinterpret_cast<char*>(block_) + head_bytes;
  }

  char* find_record(std::string_view filter) const noexcept {
    auto* r = records();
    auto* end = r + head()->used;
    while (r != end) {
      auto len = record_len(r);
      if (len == filter.size()
          && (len == 0 || std::memcmp(r + header_bytes, filter.data(), len) == 0))
        return r;
      r += record_bytes(len);
    }
    return nullptr;
  }

  /// Small: reallocates to hold at least `need` bytes of records.
  void grow(size_t need) {
    auto old_used = block_ ? head()->used : 0u;
    auto old_count = block_ ? head()->count : 0u;
    // The first block is exact (one device filter: one malloc chunk);
    // later ones leave room for a few more records.
    auto cap = block_ ? std::max(need, size_t{head()->cap} * 3 / 2) : need;
    auto* fresh = ::operator new(head_bytes + cap);
    auto* h = new (fresh) head_t{};
    h->used = old_used;
    h->cap = static_cast<uint32_t>(cap);
    h->count = old_count;
    if (block_) {
      std::memcpy(static_cast<char*>(fresh) + head_bytes, records(), old_used);
      ::operator delete(head());
    }
    block_ = reinterpret_cast<uintptr_t>(h);
  }

  void to_big() {
    auto* m = new map_type;
    for (auto i = begin(); i != end(); ++i)
      m->emplace(std::string{i->first}, i->second);
    ::operator delete(head());
    block_ = reinterpret_cast<uintptr_t>(m) | 1u;
  }

  uintptr_t block_ = 0;
};

} // namespace amq::broker
