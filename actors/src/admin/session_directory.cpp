// The session directory: entries, per-category ordered indexes, keyset
// cursors. Design: amq/admin/session_directory.hpp.
#include "amq/admin/session_directory.hpp"

#include <boost/intrusive/set.hpp>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <mutex>
#include <new>
#include <tuple>

namespace amq::admin {

namespace {

namespace bi = boost::intrusive;

// The links of one index, embedded in the entry: three words (parent with
// the colour in its low bit, left, right), no allocation of their own.
// normal_link: the directory links and unlinks explicitly, so the hooks need
// neither the safe mode's clearing nor auto-unlink.
template <class Tag>
using hook = bi::set_base_hook<bi::tag<Tag>, bi::optimize_size<true>,
                               bi::link_mode<bi::normal_link>>;

struct primary_tag;
template <sort_key K>
struct key_tag;

/// One session. Each index links it through its own hook (the primary index,
/// and per sort key the set of its category), and the client id and address
/// are stored right behind it in the same heap block, so the entry is the
/// only allocation a session costs the directory (two std::strings would
/// take 64 bytes in the entry plus a block each past 15 characters, which
/// typical client ids and "ip:port" addresses are). Made by make(), freed by
/// destroy() (the block is larger than the type).
struct entry : hook<primary_tag>,
               hook<key_tag<sort_key::client_id>>,
               hook<key_tag<sort_key::connected_at>>,
               hook<key_tag<sort_key::disconnected_at>>,
               hook<key_tag<sort_key::subscriptions>> {
  // Widest first, and the flags folded into the category byte: 184 bytes,
  // no padding before the text.
  const session_stats* stats = nullptr; ///< the owner's (session_directory.hpp)
  int64_t connected_at_ms = 0;
  int64_t disconnected_at_ms = 0;
  int64_t expires_at_ms = 0;
  uint64_t owner = 0;
  uint32_t session_expiry = 0;
  uint32_t subscriptions = 0;
  uint32_t id_size = 0;
  uint32_t address_size = 0;
  /// Room for the address: what the block has past the client id, so a
  /// reconnect from an address of similar length needs no new block.
  uint32_t address_capacity = 0;
  uint16_t keep_alive = 0;
  uint8_t protocol_version = 5;
  /// connected (4) | persistent (2) | APPLICATION (1): the set the entry is
  /// in, per sort key.
  uint8_t category = 0;

  entry() = default;
  entry(const entry&) = delete; // the text would stay behind
  entry& operator=(const entry&) = delete;

  bool connected() const noexcept { return (category & 4) != 0; }
  bool persistent() const noexcept { return (category & 2) != 0; }
  client_kind type() const noexcept {
    return (category & 1) ? client_kind::application : client_kind::device;
  }
  void set_category(bool connected, bool persistent, client_kind type) noexcept {
    category = static_cast<uint8_t>((connected ? 4 : 0) | (persistent ? 2 : 0)
                                    | (type == client_kind::application ? 1 : 0));
  }

  std::string_view id() const noexcept { return {text(), id_size}; }
  std::string_view address() const noexcept { return {text() + id_size, address_size}; }
  bool address_fits(std::string_view a) const noexcept { return a.size() <= address_capacity; }
  /// Requires address_fits(a).
  void set_address(std::string_view a) noexcept {
    if (!a.empty())
      std::memcpy(text() + id_size, a.data(), a.size());
    address_size = static_cast<uint32_t>(a.size());
  }

  /// A new unlinked entry with room for `address` (at least).
  static entry* make(std::string_view id, std::string_view address) {
    // Ask for the whole malloc chunk the text needs (glibc: a multiple of
    // 16 less its 8-byte header): the slack is address room, free of charge.
    size_t bytes = (sizeof(entry) + id.size() + address.size() + 8 + 15) / 16 * 16 - 8;
    auto* e = new (::operator new(bytes)) entry;
    e->id_size = static_cast<uint32_t>(id.size());
    e->address_capacity = static_cast<uint32_t>(bytes - sizeof(entry) - id.size());
    if (!id.empty())
      std::memcpy(e->text(), id.data(), id.size());
    e->set_address(address);
    return e;
  }

  static void destroy(entry* e) noexcept {
    e->~entry();
    ::operator delete(static_cast<void*>(e));
  }

private:
  char* text() noexcept { return reinterpret_cast<char*>(this + 1); }
  const char* text() const noexcept { return reinterpret_cast<const char*>(this + 1); }
};

static_assert(sizeof(void*) != 8 || sizeof(entry) == 184,
              "entry: padding crept in (the text starts right after the fields)");

template <sort_key K>
int64_t key_of(const entry& e) noexcept {
  if constexpr (K == sort_key::connected_at)
    return e.connected_at_ms;
  else if constexpr (K == sort_key::disconnected_at)
    return e.disconnected_at_ms;
  else if constexpr (K == sort_key::subscriptions)
    return e.subscriptions;
  else
    return 0;
}

int64_t key_of(const entry& e, sort_key k) noexcept {
  switch (k) {
    case sort_key::client_id:
      return key_of<sort_key::client_id>(e);
    case sort_key::connected_at:
      return key_of<sort_key::connected_at>(e);
    case sort_key::disconnected_at:
      return key_of<sort_key::disconnected_at>(e);
    case sort_key::subscriptions:
      return key_of<sort_key::subscriptions>(e);
  }
  return 0;
}

/// A position in a sort order (key value, client id): where a cursor points.
struct probe {
  int64_t value;
  std::string_view id;
};

/// (key, client id) order; the probe overloads serve the cursor lookups.
template <sort_key K>
struct key_less {
  bool operator()(const entry& a, const entry& b) const noexcept {
    if constexpr (K != sort_key::client_id) {
      auto ka = key_of<K>(a), kb = key_of<K>(b);
      if (ka != kb)
        return ka < kb;
    }
    return a.id() < b.id();
  }
  bool operator()(const entry& a, const probe& b) const noexcept {
    if constexpr (K != sort_key::client_id) {
      auto ka = key_of<K>(a);
      if (ka != b.value)
        return ka < b.value;
    }
    return a.id() < b.id;
  }
  bool operator()(const probe& a, const entry& b) const noexcept {
    if constexpr (K != sort_key::client_id) {
      auto kb = key_of<K>(b);
      if (a.value != kb)
        return a.value < kb;
    }
    return a.id < b.id();
  }
};

struct id_less {
  bool operator()(const entry& a, const entry& b) const noexcept {
    return a.id() < b.id();
  }
  bool operator()(const entry& a, std::string_view b) const noexcept {
    return a.id() < b;
  }
  bool operator()(std::string_view a, const entry& b) const noexcept {
    return a < b.id();
  }
};

using primary_index = bi::set<entry, bi::base_hook<hook<primary_tag>>, bi::compare<id_less>>;

/// The entries of one category in one sort order. No size counter: the
/// directory counts per category itself.
template <sort_key K>
using index_set = bi::set<entry, bi::base_hook<hook<key_tag<K>>>, bi::compare<key_less<K>>,
                          bi::constant_time_size<false>>;

template <sort_key K>
using per_category = std::array<index_set<K>, 8>;

bool category_admitted(uint8_t c, const directory_query& q) {
  if (q.connected && ((c & 4) != 0) != *q.connected)
    return false;
  if (q.persistent && ((c & 2) != 0) != *q.persistent)
    return false;
  if (q.type && ((c & 1) != 0) != (*q.type == client_kind::application))
    return false;
  return true;
}

std::string_view ip_of(std::string_view address) {
  if (!address.empty() && address.front() == '[') {
    auto close = address.find(']');
    return address.substr(1, close == std::string_view::npos ? address.npos : close - 1);
  }
  auto colon = address.rfind(':');
  return colon == std::string_view::npos ? address : address.substr(0, colon);
}

session_row row_of(const entry& e, const std::string& node) {
  session_row r;
  auto& i = r.info;
  i.client_id = e.id();
  i.connected = e.connected();
  i.persistent = e.persistent();
  i.type = e.type();
  i.protocol_version = e.protocol_version;
  i.address = e.address();
  i.connected_at_ms = e.connected_at_ms;
  i.disconnected_at_ms = e.disconnected_at_ms;
  i.keep_alive = e.keep_alive;
  i.session_expiry = e.session_expiry;
  i.expires_at_ms = e.expires_at_ms;
  i.subscriptions = e.subscriptions;
  r.node = node;
  if (e.stats) {
    r.inflight = e.stats->inflight.load(std::memory_order_relaxed);
    r.queue_depth = e.stats->queue_depth.load(std::memory_order_relaxed);
    r.dropped = e.stats->dropped.load(std::memory_order_relaxed);
  }
  return r;
}

/// Feeds `fill` the entries of the admitted categories' sets in (key, client
/// id) order, backwards if descending, from right after `start`: a merge of
/// at most 8 iterators.
template <sort_key K, class Fill>
void merge(const per_category<K>& sets, const directory_query& q,
           const std::optional<probe>& start, Fill&& fill) {
  struct head {
    typename index_set<K>::const_iterator it, begin, end;
  };
  std::array<head, 8> heads;
  size_t n = 0;
  for (uint8_t c = 0; c < 8; ++c) {
    auto& set = sets[c];
    if (!category_admitted(c, q) || set.empty())
      continue;
    head h{{}, set.begin(), set.end()};
    if (!q.descending)
      h.it = start ? set.upper_bound(*start, key_less<K>{}) : set.begin();
    else
      h.it = start ? set.lower_bound(*start, key_less<K>{}) : set.end(); // element is *prev(it)
    heads[n++] = h;
  }
  key_less<K> less;
  auto exhausted = [&](const head& h) { return q.descending ? h.it == h.begin : h.it == h.end; };
  auto current = [&](const head& h) -> const entry& {
    return q.descending ? *std::prev(h.it) : *h.it;
  };
  head* best = nullptr;
  auto peek = [&]() -> const entry* {
    best = nullptr;
    for (size_t i = 0; i < n; ++i) {
      auto& h = heads[i];
      if (exhausted(h))
        continue;
      if (!best)
        best = &h;
      else if (q.descending ? less(current(*best), current(h)) : less(current(h), current(*best)))
        best = &h;
    }
    return best ? &current(*best) : nullptr;
  };
  auto pop = [&] {
    if (q.descending)
      --best->it;
    else
      ++best->it;
  };
  fill(peek, pop);
}

} // namespace

// -- cursor ----------------------------------------------------------------------

std::string encode_cursor(sort_key k, bool descending, int64_t value, std::string_view id) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out = "v1.";
  out += std::to_string(static_cast<int>(k));
  out += descending ? ".d." : ".a.";
  out += std::to_string(value);
  out += '.';
  for (unsigned char c : id) {
    out += hex[c >> 4];
    out += hex[c & 15];
  }
  return out;
}

bool decode_cursor(std::string_view c, sort_key& k, bool& descending, int64_t& value,
                   std::string& id) {
  if (c.size() > 4 * 65536 || !c.starts_with("v1."))
    return false;
  c.remove_prefix(3);
  auto dot = c.find('.');
  if (dot != 1 || c[0] < '0' || c[0] >= '0' + static_cast<char>(sort_key_count))
    return false;
  k = static_cast<sort_key>(c[0] - '0');
  c.remove_prefix(2);
  if (c.size() < 2 || (c[0] != 'a' && c[0] != 'd') || c[1] != '.')
    return false;
  descending = c[0] == 'd';
  c.remove_prefix(2);
  dot = c.find('.');
  if (dot == std::string_view::npos || dot == 0)
    return false;
  auto [p, ec] = std::from_chars(c.data(), c.data() + dot, value);
  if (ec != std::errc{} || p != c.data() + dot)
    return false;
  c.remove_prefix(dot + 1);
  if (c.size() % 2 != 0)
    return false;
  id.clear();
  for (size_t i = 0; i < c.size(); i += 2) {
    auto nib = [](char x) -> int {
      if (x >= '0' && x <= '9')
        return x - '0';
      if (x >= 'a' && x <= 'f')
        return x - 'a' + 10;
      return -1;
    };
    int hi = nib(c[i]), lo = nib(c[i + 1]);
    if (hi < 0 || lo < 0)
      return false;
    id.push_back(static_cast<char>(hi * 16 + lo));
  }
  return true;
}

const char* to_string(sort_key k) {
  switch (k) {
    case sort_key::client_id:
      return "client_id";
    case sort_key::connected_at:
      return "connected_at";
    case sort_key::disconnected_at:
      return "disconnected_at";
    case sort_key::subscriptions:
      return "subscriptions";
  }
  return "?";
}

std::optional<sort_key> parse_sort_key(std::string_view s) {
  for (size_t i = 0; i < sort_key_count; ++i)
    if (s == to_string(static_cast<sort_key>(i)))
      return static_cast<sort_key>(i);
  return std::nullopt;
}

// -- directory ---------------------------------------------------------------------

struct session_directory::impl {
  /// Primary index, in client id order: also the "every category, by client
  /// id" order (no merge needed). It owns the entries.
  primary_index by_id;
  /// Per sort key, one set per category.
  std::tuple<per_category<sort_key::client_id>, per_category<sort_key::connected_at>,
             per_category<sort_key::disconnected_at>, per_category<sort_key::subscriptions>>
    sets;
  std::array<uint64_t, 8> counts{};

  impl() = default;
  impl(const impl&) = delete;
  impl& operator=(const impl&) = delete;

  ~impl() {
    // Emptying a set of normal_link hooks touches no entry, so the sets can
    // let go before the primary index deletes what it owns.
    std::apply([](auto&... per_key) { (clear(per_key), ...); }, sets);
    by_id.clear_and_dispose([](entry* e) { entry::destroy(e); });
  }

  template <sort_key K>
  const per_category<K>& sets_of() const noexcept {
    return std::get<static_cast<size_t>(K)>(sets);
  }

  template <sort_key K>
  per_category<K>& sets_of() noexcept {
    return std::get<static_cast<size_t>(K)>(sets);
  }

  entry* find(std::string_view client_id) {
    auto i = by_id.find(client_id, id_less{});
    return i == by_id.end() ? nullptr : &*i;
  }

  const entry* find(std::string_view client_id) const {
    auto i = by_id.find(client_id, id_less{});
    return i == by_id.end() ? nullptr : &*i;
  }

  /// Links `e` into its category's set of every sort key: call after
  /// changing anything a set orders or files by.
  void link(entry& e) {
    auto c = e.category;
    std::apply([&](auto&... per_key) { (per_key[c].insert(e), ...); }, sets);
    ++counts[c];
  }

  /// Unlinks `e` (no lookup: the hooks are the positions); call before
  /// changing anything a set orders or files by.
  void unlink(entry& e) {
    auto c = e.category;
    std::apply([&](auto&... per_key) { (per_key[c].erase(per_key[c].iterator_to(e)), ...); },
               sets);
    --counts[c];
  }

  /// Unlinks `e` from every index and frees it.
  void drop(entry& e) {
    unlink(e);
    by_id.erase(by_id.iterator_to(e));
    entry::destroy(&e);
  }

private:
  template <class Sets>
  static void clear(Sets& per_category) {
    for (auto& set : per_category)
      set.clear();
  }
};

session_directory::session_directory(std::string node_name)
  : node_name_(std::move(node_name)), impl_(std::make_unique<impl>()) {
}

session_directory::~session_directory() = default;

void session_directory::upsert(uint64_t owner, const session_info& info,
                               const session_stats* stats) {
  std::unique_lock lock{mtx_};
  auto& ix = *impl_;
  entry* e = ix.find(info.client_id);
  if (!e) {
    e = entry::make(info.client_id, info.address);
    ix.by_id.insert(*e);
  } else if (!e->address_fits(info.address)) {
    // A longer address than the block has room for: a new block in the old
    // one's place (same id, same position in the primary index). Made
    // before anything is unlinked, so a bad_alloc leaves the entry as it was.
    auto* bigger = entry::make(info.client_id, info.address);
    ix.unlink(*e);
    ix.by_id.replace_node(ix.by_id.iterator_to(*e), *bigger);
    entry::destroy(e);
    e = bigger;
  } else {
    ix.unlink(*e);
    e->set_address(info.address);
  }
  e->owner = owner;
  e->stats = stats;
  e->set_category(info.connected, info.persistent, info.type);
  e->protocol_version = info.protocol_version;
  e->connected_at_ms = info.connected_at_ms;
  e->disconnected_at_ms = info.disconnected_at_ms;
  e->keep_alive = info.keep_alive;
  e->session_expiry = info.session_expiry;
  e->expires_at_ms = info.expires_at_ms;
  e->subscriptions = info.subscriptions;
  ix.link(*e);
}

void session_directory::set_disconnected(uint64_t owner, std::string_view client_id,
                                         int64_t at_ms, int64_t expires_at_ms) {
  std::unique_lock lock{mtx_};
  auto& ix = *impl_;
  auto* e = ix.find(client_id);
  if (!e || e->owner != owner)
    return;
  ix.unlink(*e);
  e->category &= static_cast<uint8_t>(~4);
  e->disconnected_at_ms = at_ms;
  e->expires_at_ms = expires_at_ms;
  ix.link(*e);
}

void session_directory::set_subscriptions(uint64_t owner, std::string_view client_id,
                                          uint32_t count) {
  std::unique_lock lock{mtx_};
  auto& ix = *impl_;
  auto* e = ix.find(client_id);
  if (!e || e->owner != owner || e->subscriptions == count)
    return;
  // Only the subscription index orders by the count.
  auto& set = ix.sets_of<sort_key::subscriptions>()[e->category];
  set.erase(set.iterator_to(*e));
  e->subscriptions = count;
  set.insert(*e);
}

void session_directory::remove(uint64_t owner, std::string_view client_id) {
  std::unique_lock lock{mtx_};
  auto& ix = *impl_;
  auto* e = ix.find(client_id);
  if (!e || e->owner != owner)
    return;
  ix.drop(*e);
}

bool session_directory::erase(std::string_view client_id) {
  std::unique_lock lock{mtx_};
  auto& ix = *impl_;
  auto* e = ix.find(client_id);
  if (!e)
    return false;
  ix.drop(*e);
  return true;
}

directory_totals session_directory::totals() const {
  std::shared_lock lock{mtx_};
  directory_totals t;
  for (uint8_t c = 0; c < 8; ++c) {
    auto n = impl_->counts[c];
    t.sessions += n;
    ((c & 4) ? t.connected : t.disconnected) += n;
    ((c & 2) ? t.persistent : t.clean) += n;
    ((c & 1) ? t.application : t.device) += n;
  }
  return t;
}

size_t session_directory::size() const {
  std::shared_lock lock{mtx_};
  return impl_->by_id.size();
}

std::optional<session_row> session_directory::find(std::string_view client_id) const {
  std::shared_lock lock{mtx_};
  auto* e = impl_->find(client_id);
  if (!e)
    return std::nullopt;
  return row_of(*e, node_name_);
}

bool session_directory::list(const directory_query& q, directory_page& out,
                             std::string& error) const {
  out = directory_page{};
  std::optional<probe> start;
  std::string cursor_id;
  if (!q.cursor.empty()) {
    sort_key ck;
    bool cdesc;
    int64_t cvalue;
    if (!decode_cursor(q.cursor, ck, cdesc, cvalue, cursor_id)) {
      error = "cursor: not a cursor this server returned";
      return false;
    }
    if (ck != q.sort || cdesc != q.descending) {
      error = "cursor: it belongs to another sort or order (sort="
              + std::string{to_string(ck)} + ", order=" + (cdesc ? "desc" : "asc") + ")";
      return false;
    }
    start = probe{cvalue, cursor_id};
  }
  out.totals = totals();
  bool residual = !q.client_id_contains.empty() || !q.node.empty() || !q.client_ip.empty()
                  || q.min_subscriptions || q.max_subscriptions;
  std::shared_lock lock{mtx_};
  auto& ix = *impl_;
  // A node filter naming another node matches nothing (one node per directory).
  bool node_ok = q.node.empty() || q.node == node_name_;
  uint64_t matching = 0;
  for (uint8_t c = 0; c < 8; ++c)
    if (category_admitted(c, q))
      matching += ix.counts[c];
  if (!residual)
    out.matching = node_ok ? matching : 0;
  if (!node_ok)
    return true;
  const entry* last = nullptr;
  size_t limit = std::max<size_t>(q.limit, 1);
  // Fills the page from an ordered source: peek() is the next entry or
  // null, pop() moves past it.
  auto fill = [&](auto&& peek, auto&& pop) {
    while (const entry* e = peek()) {
      if (out.items.size() >= limit || out.scanned >= q.scan_limit) {
        if (last)
          out.next_cursor = encode_cursor(q.sort, q.descending, key_of(*last, q.sort),
                                          last->id());
        else if (start)
          out.next_cursor = q.cursor;
        return;
      }
      pop();
      ++out.scanned;
      last = e;
      if (residual) {
        if (!q.client_id_contains.empty()
            && e->id().find(q.client_id_contains) == std::string_view::npos)
          continue;
        if (q.min_subscriptions && e->subscriptions < *q.min_subscriptions)
          continue;
        if (q.max_subscriptions && e->subscriptions > *q.max_subscriptions)
          continue;
        if (!q.client_ip.empty() && !ip_of(e->address()).starts_with(q.client_ip))
          continue;
      }
      out.items.push_back(row_of(*e, node_name_));
    }
  };
  if (q.sort == sort_key::client_id && !q.connected && !q.persistent && !q.type) {
    // Every category, in client id order: the primary index is that order, no
    // merge needed (the common case, and substring scans).
    auto& by_id = ix.by_id;
    if (!q.descending) {
      auto it = start ? by_id.upper_bound(start->id, id_less{}) : by_id.begin();
      fill([&]() -> const entry* { return it == by_id.end() ? nullptr : &*it; },
           [&] { ++it; });
    } else {
      auto it = start ? by_id.lower_bound(start->id, id_less{}) : by_id.end();
      fill([&]() -> const entry* { return it == by_id.begin() ? nullptr : &*std::prev(it); },
           [&] { --it; });
    }
    return true;
  }
  switch (q.sort) {
    case sort_key::client_id:
      merge(ix.sets_of<sort_key::client_id>(), q, start, fill);
      break;
    case sort_key::connected_at:
      merge(ix.sets_of<sort_key::connected_at>(), q, start, fill);
      break;
    case sort_key::disconnected_at:
      merge(ix.sets_of<sort_key::disconnected_at>(), q, start, fill);
      break;
    case sort_key::subscriptions:
      merge(ix.sets_of<sort_key::subscriptions>(), q, start, fill);
      break;
  }
  return true;
}

size_t session_directory::approx_entry_bytes(size_t text_bytes) {
  // One heap block: the entry with its five index links, then the client id
  // and address; malloc rounds it up to 16 bytes plus 8 bytes of header.
  return (sizeof(entry) + text_bytes + 8 + 15) / 16 * 16;
}

} // namespace amq::admin
