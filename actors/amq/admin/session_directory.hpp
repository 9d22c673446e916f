#pragma once
/// The SESSION DIRECTORY: what the admin API knows about every session of
/// this node, indexed so that list calls stay fast at 1,000,000 sessions.
/// No CAF, no I/O; thread-safe (one std::shared_mutex: reports take it
/// exclusively for a few index updates, queries share it).
///
/// Who writes it
/// -------------
/// Session actors report their state changes (connected with address,
/// protocol, keep alive; disconnected with expiry; subscription count
/// changed; ended), tagged with their session id (`owner`): during a
/// takeover of a clean session an old actor may report after its successor
/// took the entry over, and such late reports are ignored. The numbers that
/// change on every message (in-flight, queue depth, dropped) are not
/// reported: each entry points to a small `session_stats` the session
/// actor updates with relaxed atomic stores, so the hot path never sends a
/// message or takes a lock for them.
///
/// Indexes
/// -------
/// Every entry belongs to one of 8 categories (connected × persistent ×
/// DEVICE/APPLICATION). For each sort key (client id, connected_at,
/// disconnected_at, subscription count) and category there is an ordered
/// set of entries by (key, client id). A list request merges the sets of
/// the categories its filters admit (at most 8 iterators), starting after
/// the cursor: a filtered first page costs O(page · log n), never a scan of
/// every session. Filters that are not categories (client id substring,
/// client IP prefix, node, subscription count range) are checked on the
/// merged stream, which stops when the page is full or after `scan_limit`
/// entries (the page is then short and `next_cursor` continues the scan).
/// Totals are per-category counters kept up to date on every change.
///
/// The sets are intrusive (Boost.Intrusive red-black trees, compact hooks:
/// three words each): an entry carries the links of the primary index (by
/// client id, every category; it owns the entries and is also the
/// unfiltered client-id order, no merge needed) and of one set per sort key
/// (an entry is in exactly one category's set per key), with its client id
/// and address stored behind the fields in the same block. So a session
/// costs the directory one allocation instead of an entry, a map node, four
/// set nodes and up to two string buffers, and unlinking needs no lookup. A
/// change to a field a set orders or files by (connected_at,
/// disconnected_at, subscription count, category) unlinks the entry from
/// those sets first and relinks it after.
///
/// Cursor: keyset pagination. The cursor names the last entry returned
/// (sort key value and client id) plus the sort order it belongs to; the
/// next page starts right after that position, so entries added or removed
/// meanwhile never shift a page.
///
/// Memory: see `approx_entry_bytes()` and tests/bench/admin_bench.cpp
/// (≈ 290 bytes per session with 17-byte client ids, the session's
/// `session_stats` block included; docs/admin-api.md).

#include <array>
#include <map>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace amq::admin {

/// Per-session numbers the session actor updates on its hot path. They live in the session
/// (no block of their own per session); the directory reads them through the pointer given to
/// `upsert`, so the owner must outlive its report: it calls `remove` before they go (a session's
/// state does so in its destructor), and a takeover's `upsert` replaces the pointer.
struct session_stats {
  std::atomic<uint32_t> inflight{0};
  std::atomic<uint32_t> queue_depth{0};
  std::atomic<uint64_t> dropped{0};
  /// The session actor's own bookkeeping: the subscription count it last
  /// reported (not read by the directory).
  uint32_t subscriptions_reported = UINT32_MAX;
};

enum class client_kind : uint8_t { device = 0, application = 1 };

enum class sort_key : uint8_t { client_id = 0, connected_at, disconnected_at, subscriptions };
inline constexpr size_t sort_key_count = 4;

/// A session's state as it reports it (and as the API shows it).
struct session_info {
  std::string client_id;
  bool connected = false;
  bool persistent = false;
  client_kind type = client_kind::device;
  uint8_t protocol_version = 5; ///< 4 = 3.1.1, 5 = 5.0
  std::string address;          ///< "ip:port" of the current/last connection, empty if none
  int64_t connected_at_ms = 0;  ///< wall clock, ms since the epoch; 0: never (restored)
  int64_t disconnected_at_ms = 0; ///< 0 while connected or never
  uint16_t keep_alive = 0;
  uint32_t session_expiry = 0;  ///< seconds; UINT32_MAX: never
  int64_t expires_at_ms = 0;    ///< when a disconnected session ends; 0: never / connected
  uint32_t subscriptions = 0;
};

/// A snapshot of one entry, with the hot numbers read at that moment.
struct session_row {
  session_info info;
  std::string node;
  uint32_t inflight = 0;
  uint32_t queue_depth = 0;
  uint64_t dropped = 0;
};

struct directory_totals {
  uint64_t sessions = 0;
  uint64_t connected = 0;
  uint64_t disconnected = 0;
  uint64_t persistent = 0;
  uint64_t clean = 0;
  uint64_t device = 0;
  uint64_t application = 0;
};

struct directory_query {
  size_t limit = 50;
  sort_key sort = sort_key::client_id;
  bool descending = false;
  std::string cursor; ///< empty: first page
  std::optional<bool> connected;
  std::optional<bool> persistent;
  std::optional<client_kind> type;
  std::string client_id_contains;
  std::string node;      ///< exact node name; empty: any
  std::string client_ip; ///< prefix of the client's IP address text; empty: any
  std::optional<uint32_t> min_subscriptions;
  std::optional<uint32_t> max_subscriptions;
  /// Most entries examined per call (filters that are not categories).
  size_t scan_limit = 25'000;
};

struct directory_page {
  std::vector<session_row> items;
  std::optional<std::string> next_cursor;
  directory_totals totals;
  /// Sessions matching the filters, when they are categories only
  /// (connected, persistent, type); otherwise unknown.
  std::optional<uint64_t> matching;
  size_t scanned = 0;
};

class session_directory {
public:
  explicit session_directory(std::string node_name);
  ~session_directory();
  session_directory(const session_directory&) = delete;
  session_directory& operator=(const session_directory&) = delete;

  // -- reports (session actors) ---------------------------------------------------

  /// Creates or replaces the entry of `info.client_id`; `owner` takes it over. `stats` (may be
  /// null) stays valid until `owner` calls `remove`, or another owner's `upsert` or an `erase`
  /// drops the entry.
  void upsert(uint64_t owner, const session_info& info, const session_stats* stats);
  /// The owner's connection ended; the session lives on until `expires_at_ms`.
  void set_disconnected(uint64_t owner, std::string_view client_id, int64_t at_ms,
                        int64_t expires_at_ms);
  void set_subscriptions(uint64_t owner, std::string_view client_id, uint32_t count);
  /// The owner's session ended.
  void remove(uint64_t owner, std::string_view client_id);
  /// Removes the entry whoever owns it (admin clear). True if it existed.
  bool erase(std::string_view client_id);

  // -- queries (admin API) ---------------------------------------------------------

  /// One page. False with `error` (naming the parameter) on a bad cursor.
  bool list(const directory_query& q, directory_page& out, std::string& error) const;
  std::optional<session_row> find(std::string_view client_id) const;
  directory_totals totals() const;
  size_t size() const;
  const std::string& node_name() const noexcept { return node_name_; }

  /// Bytes the directory allocates for a session whose client id and
  /// address are `text_bytes` long together: one heap block, the entry with
  /// its five index links and the text (computed from the layout; the
  /// benchmark measures the real figure).
  static size_t approx_entry_bytes(size_t text_bytes = 0);

private:
  struct impl;

  std::string node_name_;
  mutable std::shared_mutex mtx_;
  /// The entries and their indexes (session_directory.cpp: Boost.Intrusive
  /// sets whose links live in the entries, so the header needs neither).
  std::unique_ptr<impl> impl_;
};

/// Encodes/decodes the opaque list cursor (exposed for tests).
std::string encode_cursor(sort_key k, bool descending, int64_t value, std::string_view id);
bool decode_cursor(std::string_view c, sort_key& k, bool& descending, int64_t& value,
                   std::string& id);

const char* to_string(sort_key k);
std::optional<sort_key> parse_sort_key(std::string_view s);

} // namespace amq::admin
