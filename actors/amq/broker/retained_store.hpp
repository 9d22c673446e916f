#pragma once
/// Retained messages (MQTT 5.0 §3.3.1.3, §4.7): at most one per topic name,
/// found by topic filter when a subscription is made. Pure logic: no CAF, no
/// I/O, not thread-safe (the router actor owns one).
///
/// Design
/// ------
/// `retained_index` (non-template, retained_store.cpp) is a trie of topic
/// levels mapping each retained topic name to a dense slot number; the
/// template `retained_store<Msg>` keeps, per slot, the topic, one immutable
/// message shared with every receiver (`shared_ptr<const Msg>`) and its expiry.
///
/// Matching a filter walks the trie: a literal level follows one child, '+'
/// follows every child, '#' collects the whole subtree (including the parent
/// level: "a/#" matches "a"). A wildcard filter therefore visits only the
/// subtrees it can match, never the whole store unless the filter is "#".
/// §4.7.2: at the first level, '+' and '#' skip topics starting with '$', so
/// "#" does not return "$SYS/..." but "$SYS/#" does.
///
/// Expiry (Message Expiry Interval, §3.3.2.3.3) is an absolute
/// `steady_clock::time_point` given by the caller, with `now` passed in too
/// (deterministic tests). An entry is expired when `expires_at <= now`.
/// Expired entries are skipped and erased lazily by match()/find(), and in bulk
/// by erase_expired(), which is O(expired · log n) thanks to an ordered index
/// of the entries that have an expiry.
///
/// Shared subscriptions get no retained messages (§4.8.2): callers pass only
/// the filter part of a non-shared subscription.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace amq::broker {

/// Trie of retained topic names → dense slot numbers (see above).
class retained_index {
public:
  using slot = uint32_t;
  static constexpr slot no_slot = static_cast<slot>(-1);

  retained_index();
  ~retained_index();
  retained_index(retained_index&&) noexcept;
  retained_index& operator=(retained_index&&) noexcept;
  retained_index(const retained_index&) = delete;
  retained_index& operator=(const retained_index&) = delete;

  /// The slot of `topic` (a topic name), created if absent; second is true
  /// if it was created.
  std::pair<slot, bool> insert(std::string_view topic);

  /// The slot of `topic` or `no_slot`.
  slot find(std::string_view topic) const noexcept;

  /// Frees `s` (which must be in use) and prunes the nodes left empty.
  void erase(slot s);

  /// Appends to `out` the slots of the topics that match `filter` (a valid
  /// non-shared topic filter). Not reentrant (uses a scratch stack).
  void match(std::string_view filter, std::vector<slot>& out) const;

  /// Number of topics.
  size_t size() const noexcept {
    return size_;
  }

  /// Number of trie nodes, not counting the root.
  size_t node_count() const noexcept {
    return nodes_;
  }

  struct node; // defined in retained_store.cpp

private:
  void prune(node* n);

  std::unique_ptr<node> root_;
  std::vector<node*> slot_nodes_; ///< node per slot, null when free
  std::vector<slot> free_slots_;
  size_t size_ = 0;
  size_t nodes_ = 0;
  mutable std::vector<std::pair<const node*, size_t>> stack_;
};

/// Retained messages of type `Msg` by topic name; see the design comment above.
template <class Msg>
class retained_store {
public:
  using clock = std::chrono::steady_clock;
  using time_point = clock::time_point;
  using message_ptr = std::shared_ptr<const Msg>;

  /// Expiry of a message without Message Expiry Interval.
  static constexpr time_point never = time_point::max();

  /// Stores `msg` as the retained message of topic name `topic`, replacing
  /// any previous one. A null `msg` erases instead. (A PUBLISH with RETAIN and
  /// an empty payload clears the topic: the caller decides and calls erase.)
  /// Returns true if a message was replaced.
  bool set(std::string_view topic, message_ptr msg, time_point expires_at = never) {
    if (!msg)
      return erase(topic);
    auto [s, created] = index_.insert(topic);
    if (s >= entries_.size())
      entries_.resize(s + 1);
    auto& e = entries_[s];
    if (created)
      e.topic.assign(topic);
    else
      drop_expiry(e);
    e.msg = std::move(msg);
    e.expires_at = expires_at;
    if (expires_at != never) {
      e.expiry = expiries_.emplace(expires_at, s);
      e.has_expiry = true;
    }
    return !created;
  }

  /// Removes the retained message of `topic`; false if there was none.
  bool erase(std::string_view topic) {
    auto s = index_.find(topic);
    if (s == retained_index::no_slot)
      return false;
    erase_slot(s);
    return true;
  }

  /// The unexpired message of `topic`, or null (erasing it if expired).
  message_ptr find(std::string_view topic, time_point now) {
    auto s = index_.find(topic);
    if (s == retained_index::no_slot)
      return nullptr;
    if (entries_[s].expires_at <= now) {
      erase_slot(s);
      return nullptr;
    }
    return entries_[s].msg;
  }

  /// Calls `f(std::string_view topic, const message_ptr& msg, time_point
  /// expires_at)` for each unexpired message whose topic matches `filter` (a
  /// valid non-shared filter), in no particular order; expired matches are
  /// erased. `f` must not modify the store.
  template <class F>
  void match(std::string_view filter, time_point now, F&& f) {
    slots_.clear();
    index_.match(filter, slots_);
    size_t expired = 0;
    for (auto s : slots_) {
      auto& e = entries_[s];
      if (e.expires_at <= now) {
        slots_[expired++] = s; // compact the expired ones at the front
        continue;
      }
      f(std::string_view{e.topic}, e.msg, e.expires_at);
    }
    for (size_t i = 0; i < expired; ++i)
      erase_slot(slots_[i]);
  }

  /// Calls `f(topic, msg, expires_at)` for every stored message, including
  /// expired ones not yet erased (admin API). `f` must not modify the store.
  template <class F>
  void for_each(F&& f) const {
    for (auto& e : entries_)
      if (e.msg)
        f(std::string_view{e.topic}, e.msg, e.expires_at);
  }

  /// Erases every message with `expires_at <= now`; returns how many.
  size_t erase_expired(time_point now) {
    size_t n = 0;
    while (!expiries_.empty() && expiries_.begin()->first <= now) {
      erase_slot(expiries_.begin()->second);
      ++n;
    }
    return n;
  }

  /// Number of stored messages (expired ones not yet erased included).
  size_t size() const noexcept {
    return index_.size();
  }

  bool empty() const noexcept {
    return size() == 0;
  }

  /// Number of trie nodes (memory diagnostics).
  size_t node_count() const noexcept {
    return index_.node_count();
  }

private:
  using slot = retained_index::slot;
  using expiry_map = std::multimap<time_point, slot>;

  struct entry {
    std::string topic;
    message_ptr msg;
    time_point expires_at = never;
    typename expiry_map::iterator expiry{};
    bool has_expiry = false;
  };

  void drop_expiry(entry& e) {
    if (e.has_expiry) {
      expiries_.erase(e.expiry);
      e.has_expiry = false;
    }
  }

  void erase_slot(slot s) {
    auto& e = entries_[s];
    drop_expiry(e);
    e = entry{};
    index_.erase(s);
  }

  retained_index index_;
  std::vector<entry> entries_; ///< by slot; free slots hold a null msg
  expiry_map expiries_;        ///< entries with an expiry, soonest first
  std::vector<slot> slots_;    ///< scratch for match()
};

} // namespace amq::broker
