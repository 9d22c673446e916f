#pragma once
/// The router's subscription index: a trie of topic-filter levels that maps a
/// topic name to the sessions that must receive a PUBLISH (MQTT 5.0 §4.7,
/// §4.8.2, §3.3.4). Pure logic: no CAF, no I/O, not thread-safe (the router
/// actor owns one).
///
/// Design
/// ------
/// Exact filters. A non-shared filter without wildcards (`devices/<id>/cmd`,
/// the common subscription of a device) matches exactly the topic equal to
/// it, so it is not put in the trie at all: it is one entry of a flat hash
/// table keyed by the whole filter (open addressing, linear probing, a
/// one-byte tag per slot so that a probe rarely touches an entry it does not
/// want). An entry is one allocation: the filter's bytes and, inline, its
/// single subscriber; a second subscriber to the same filter moves them into
/// a subscriber list. match() hashes the topic, prefetches its slot, walks the
/// trie (which holds only wildcard filters and shared groups) and then looks
/// the topic up in the table (usually one entry read): the walk hides the
/// cache miss of a table that is too large to stay cached. A topic whose
/// first level no exact filter has (4,096 counters by first level, 16 KiB)
/// skips the table: telemetry that only wildcard filters want pays nothing. Per subscription that is ~64
/// bytes for a filter of up to 16 bytes instead of two trie nodes, a child
/// table entry and a subscriber vector (~410 bytes; docs/performance.md).
///
/// Structure. One node per filter level; the root stands for "before the
/// first level". A node owns its level string; its literal children sit in a
/// table keyed by string_views into those strings (a vector for up to 8
/// children, an unordered_map beyond), and its '+' and '#' children sit in
/// two dedicated pointers so the matcher reaches them without hashing. A node
/// holds the non-shared subscribers of the filter that ends there, and the
/// shared groups ("$share/{group}/{filter}") whose filter ends there, keyed by
/// group name, each with its member list. Empty nodes are pruned on
/// unsubscribe. Filters must be valid (validate_topic_filter) — the tree does
/// not re-check them.
///
/// Wildcard rules (§4.7.1). Matching walks the topic's levels (string_views
/// split on '/', nothing allocated) depth-first with an explicit stack:
/// - at every visited node, its '#' child matches — '#' covers the parent
///   level and any number of levels below, so "sport/#" matches "sport",
///   "sport/" and "sport/tennis/player1";
/// - when the topic is exhausted, the node itself matches;
/// - otherwise the next level follows the exact child and the '+' child
///   ('+' matches exactly one level, including an empty one: "+/+" matches "/x"
///   and "/").
/// - §4.7.2: if the topic's first level starts with '$', the root's '+' and
///   '#' children are skipped, so "#" and "+/monitor" don't match
///   "$SYS/monitor" but "$SYS/#" does.
///
/// Overlapping subscriptions (§3.3.4). A session whose non-shared
/// subscriptions overlap gets ONE delivery: QoS is the maximum of the matching
/// subscriptions' QoS, every non-zero Subscription Identifier is listed (once
/// each), Retain As Published is the OR of the matching subscriptions (if any
/// of them asked for the original RETAIN flag, the single copy carries it).
/// No Local is applied per subscription BEFORE merging: a subscription with No
/// Local set whose session is the publisher is skipped, so an overlapping
/// subscription without No Local still delivers.
///
/// Dedup is O(matches): the first node that contributes subscribers appends
/// them directly (a node holds each session at most once); only when a second
/// node contributes are the deliveries so far indexed in an open-addressing
/// table (reused across calls, invalidated by a generation counter, never
/// cleared) and each further subscriber is looked up there.
///
/// Shared subscriptions (§4.8.2). Each matching group delivers to exactly one
/// member, round-robin over its ONLINE members (a persistent session that is
/// disconnected is skipped while any member is online). If no member is
/// online, the message still goes to one member so it is queued in that
/// session: the round-robin continues over all members (deterministic, and it
/// spreads the backlog over the offline members' queues). A shared delivery is
/// never merged with the same session's non-shared delivery or with another
/// group's: per spec these are separate subscriptions, so the session gets one
/// copy per subscription (`delivery::shared` tells them apart). No Local on a
/// shared subscription is a protocol error (§3.8.3.1) and is ignored here.
///
/// Presence. Sessions are online unless `set_online(id, false)` was called.
/// Presence matters only for shared groups; the tree remembers offline
/// sessions in a set until `set_online(id, true)` or `forget_session(id)`.
///
/// Cost. subscribe/unsubscribe: O(filter levels) plus O(1) amortized for the
/// subscriber list (lists above 16 entries get a session→position index: a
/// flat open-addressing table of 32-bit positions, 8–16 bytes per member).
/// match: O(topic levels × wildcard branches + matches); no allocation beyond
/// the caller's reused `out` vector and internal scratch buffers that keep
/// their capacity (a delivery carrying more than 3 subscription identifiers
/// allocates its overflow).

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

namespace amq::broker {

/// Identifies a session in the router (mapped to an actor handle by the
/// router; cluster-neutral).
using session_id = uint64_t;

/// The options of one subscription (MQTT 5.0 §3.8.3.1, §3.8.2.1.2).
struct subscription_options {
  uint8_t max_qos = 0;
  bool no_local = false;
  bool retain_as_published = false;
  uint8_t retain_handling = 0;
  uint32_t subscription_id = 0; ///< 0 = none
  friend bool operator==(const subscription_options&, const subscription_options&) = default;
};

/// The Subscription Identifiers of one delivery: up to 3 inline, more in an
/// overflow vector (so deliveries with 0–3 identifiers never allocate).
class subscription_ids {
public:
  static constexpr size_t inline_capacity = 3;

  size_t size() const noexcept {
    return size_;
  }

  bool empty() const noexcept {
    return size_ == 0;
  }

  uint32_t operator[](size_t i) const noexcept {
    return i < inline_capacity ? inline_[i] : overflow_[i - inline_capacity];
  }

  bool contains(uint32_t id) const noexcept;

  /// Appends `id` unless it is 0 or already present.
  void add(uint32_t id);

  void clear() noexcept {
    size_ = 0;
    overflow_.clear();
  }

  /// Copies the identifiers into a vector (tests, admin).
  std::vector<uint32_t> to_vector() const;

private:
  uint32_t size_ = 0;
  std::array<uint32_t, inline_capacity> inline_{};
  std::vector<uint32_t> overflow_;
};

/// One copy of a PUBLISH to send to one session.
struct delivery {
  session_id session = 0;
  /// Maximum QoS granted by the matching subscription(s); the caller sends
  /// min(publish QoS, qos).
  uint8_t qos = 0;
  /// OR over the merged subscriptions.
  bool retain_as_published = false;
  /// Informational: true iff every merged subscription had No Local. No Local
  /// has already been applied against `publisher` when match() returns.
  bool no_local = false;
  /// True for a delivery chosen by a shared group (never merged).
  bool shared = false;
  /// Non-zero Subscription Identifiers of the merged subscriptions, each once.
  subscription_ids ids;
};

namespace detail {

/// The table of exact (wildcard-free, non-shared) filters of a topic_tree:
/// open addressing with linear probing over two parallel arrays, an entry
/// pointer and a one-byte tag (7 bits of the hash, high bit set; 0 = empty)
/// per slot; at most 3/4 full; deletion by backward shift (no tombstones).
/// `entry` is defined in topic_tree.cpp.
class exact_filters {
public:
  struct entry;

  exact_filters() = default;
  ~exact_filters();
  exact_filters(exact_filters&&) noexcept;
  exact_filters& operator=(exact_filters&&) noexcept;
  exact_filters(const exact_filters&) = delete;
  exact_filters& operator=(const exact_filters&) = delete;

  size_t size() const noexcept {
    return count_;
  }

  entry* find(std::string_view key) const noexcept {
    return count_ == 0 ? nullptr : find(key, hash(key));
  }

  /// False if no entry has the first level of `topic` (then find() would
  /// miss: match() skips the table, whose slot would be a cache miss, for
  /// topics such as telemetry that only wildcard filters want).
  bool may_contain(std::string_view topic) const noexcept {
    return count_ != 0 && shape_counts_[shape(topic)] != 0;
  }

  /// find() with `h == hash(key)` computed earlier (see prefetch).
  entry* find(std::string_view key, size_t h) const noexcept;

  static size_t hash(std::string_view key) noexcept;

  /// Starts loading the slot of hash `h` into the cache (the table is
  /// large and cold: match() does this before its trie walk).
  void prefetch(size_t h) const noexcept {
    if (count_ != 0) {
      auto i = h & (slots_.size() - 1);
      __builtin_prefetch(tags_.data() + i);
      __builtin_prefetch(slots_.data() + i);
    }
  }

  /// Inserts a new entry for `key` (not present) and returns it.
  entry* insert(std::string_view key);

  /// Destroys `e` (an entry of this table).
  void erase(entry* e) noexcept;

private:
  static constexpr size_t shapes = 4096;

  /// Bucket of the first level of a topic or filter.
  static size_t shape(std::string_view key) noexcept;

  void clear() noexcept;
  void rehash(size_t capacity);

  std::vector<entry*> slots_;
  std::vector<uint8_t> tags_;
  /// Entries per shape() bucket (16 KiB, allocated with the first entry).
  std::unique_ptr<uint32_t[]> shape_counts_;
  size_t count_ = 0;
};

} // namespace detail

/// Subscription trie with shared groups; see the design comment above.
class topic_tree {
public:
  topic_tree();
  ~topic_tree();
  topic_tree(topic_tree&&) noexcept;
  topic_tree& operator=(topic_tree&&) noexcept;
  topic_tree(const topic_tree&) = delete;
  topic_tree& operator=(const topic_tree&) = delete;

  /// Adds or replaces the subscription of `session` to `filter` (a valid
  /// filter, shared "$share/{group}/{filter}" or not). Returns true if it is
  /// new, false if it replaced an existing one (Retain Handling 1 needs that).
  bool subscribe(session_id session, std::string_view filter, const subscription_options& opts);

  /// Removes the subscription of `session` to `filter`; false if there was
  /// none. Prunes nodes left empty.
  bool unsubscribe(session_id session, std::string_view filter);

  /// Marks `session` connected or not (only shared groups care).
  void set_online(session_id session, bool online);

  /// Drops the presence state of `session` (call when a session ends).
  void forget_session(session_id session);

  /// False if `set_online(session, false)` is in effect.
  bool is_online(session_id session) const noexcept;

  /// Replaces the contents of `out` with the deliveries for a PUBLISH to the
  /// topic name `topic`. `publisher` is the publishing session (nullopt for
  /// the broker itself, a bridge, a will of an ended session...); its
  /// No Local subscriptions are skipped.
  void match(std::string_view topic, std::optional<session_id> publisher,
             std::vector<delivery>& out);

  /// Whether a PUBLISH to `topic` from `publisher` reaches `session` through one of its
  /// non-shared subscriptions (No Local applied). Shared groups are not asked: their choice
  /// turns per message, and asking must not turn it.
  bool delivers_to(std::string_view topic, std::optional<session_id> publisher,
                   session_id session);

  /// Options of an existing subscription (admin, tests).
  std::optional<subscription_options> find(session_id session, std::string_view filter) const;

  /// Number of subscriptions (non-shared + shared memberships).
  size_t size() const noexcept {
    return subscriptions_ + shared_subscriptions_;
  }

  /// Number of non-shared subscriptions.
  size_t subscription_count() const noexcept {
    return subscriptions_;
  }

  /// Number of shared-group memberships.
  size_t shared_subscription_count() const noexcept {
    return shared_subscriptions_;
  }

  /// Number of shared groups (group name × filter).
  size_t shared_group_count() const noexcept {
    return shared_groups_;
  }

  /// Number of trie nodes, not counting the root (exact filters have none).
  size_t node_count() const noexcept {
    return nodes_;
  }

  /// Number of distinct exact filters (wildcard-free, non-shared) with at
  /// least one subscriber; they live in a hash table, not in the trie.
  size_t exact_filter_count() const noexcept {
    return exact_.size();
  }

  /// Number of sessions marked offline.
  size_t offline_count() const noexcept {
    return offline_.size();
  }

  struct node; // defined in topic_tree.cpp

private:
  struct dedup_slot {
    session_id session;
    uint32_t index;
    uint32_t generation;
  };

  node* find_node(std::string_view filter) const;
  void prune(node* n);
  void walk(std::string_view topic, std::optional<session_id> publisher,
            std::vector<delivery>& out);
  void emit(node& n, std::optional<session_id> publisher, std::vector<delivery>& out);
  template <class Subscribers>
  void emit_subscribers(const Subscribers& subs, std::optional<session_id> publisher,
                        std::vector<delivery>& out);
  bool subscribe_exact(session_id session, std::string_view filter,
                       const subscription_options& opts);
  bool unsubscribe_exact(session_id session, std::string_view filter);
  void emit_shared(node& n, std::vector<delivery>& out);
  void begin_dedup(const std::vector<delivery>& out);
  uint32_t* dedup_find_or_insert(session_id session, uint32_t index);
  void dedup_grow();

  std::unique_ptr<node> root_;
  detail::exact_filters exact_;
  size_t nodes_ = 0;
  size_t subscriptions_ = 0;
  size_t shared_subscriptions_ = 0;
  size_t shared_groups_ = 0;
  std::unordered_set<session_id> offline_;

  // Scratch state of match(), kept to reuse capacity.
  std::vector<std::pair<node*, size_t>> stack_;
  int contributing_nodes_ = 0;
  /// delivers_to(): match() without shared groups, into `probe_`.
  bool skip_shared_ = false;
  std::vector<delivery> probe_;
  std::vector<dedup_slot> dedup_;
  size_t dedup_count_ = 0;
  uint32_t generation_ = 0;
};

} // namespace amq::broker
