// The session directory: entries, per-category ordered indexes, keyset
// cursors. Design: amq/admin/session_directory.hpp.
#include "amq/admin/session_directory.hpp"

#include <algorithm>
#include <charconv>
#include <mutex>

namespace amq::admin {

struct session_directory::entry {
  std::string client_id;
  std::string address;
  std::shared_ptr<session_stats> stats;
  int64_t connected_at_ms = 0;
  int64_t disconnected_at_ms = 0;
  int64_t expires_at_ms = 0;
  uint64_t owner = 0;
  uint32_t session_expiry = 0;
  uint32_t subscriptions = 0;
  uint16_t keep_alive = 0;
  uint16_t node = 0;
  uint8_t protocol_version = 5;
  bool connected = false;
  bool persistent = false;
  client_kind type = client_kind::device;

  uint8_t category() const noexcept {
    return static_cast<uint8_t>((connected ? 4 : 0) | (persistent ? 2 : 0)
                                | (type == client_kind::application ? 1 : 0));
  }
};

namespace {

using entry = session_directory::entry;

int64_t key_of(const entry& e, sort_key k) noexcept {
  switch (k) {
    case sort_key::client_id:
      return 0;
    case sort_key::connected_at:
      return e.connected_at_ms;
    case sort_key::disconnected_at:
      return e.disconnected_at_ms;
    case sort_key::subscriptions:
      return e.subscriptions;
  }
  return 0;
}

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

} // namespace

// -- comparators -------------------------------------------------------------------

bool session_directory::entry_less::operator()(const entry* a, const entry* b) const {
  auto ka = key_of(*a, key), kb = key_of(*b, key);
  if (ka != kb)
    return ka < kb;
  return a->client_id < b->client_id;
}

bool session_directory::entry_less::operator()(const entry* a, const probe& b) const {
  auto ka = key_of(*a, key);
  if (ka != b.value)
    return ka < b.value;
  return std::string_view{a->client_id} < b.id;
}

bool session_directory::entry_less::operator()(const probe& a, const entry* b) const {
  auto kb = key_of(*b, key);
  if (a.value != kb)
    return a.value < kb;
  return a.id < std::string_view{b->client_id};
}

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

session_directory::session_directory(std::string node_name) : node_name_(std::move(node_name)) {
  sets_.resize(sort_key_count);
  for (size_t k = 0; k < sort_key_count; ++k)
    for (int c = 0; c < 8; ++c)
      sets_[k].emplace_back(entry_less{static_cast<sort_key>(k)});
}

session_directory::~session_directory() = default;

void session_directory::index(entry* e) {
  auto c = e->category();
  for (auto& per_key : sets_)
    per_key[c].insert(e);
  ++counts_[c];
}

void session_directory::unindex(entry* e) {
  auto c = e->category();
  for (auto& per_key : sets_)
    per_key[c].erase(e);
  --counts_[c];
}

void session_directory::upsert(uint64_t owner, const session_info& info,
                               std::shared_ptr<session_stats> stats) {
  std::unique_lock lock{mtx_};
  entry* e;
  if (auto i = by_id_.find(info.client_id); i != by_id_.end()) {
    e = i->second.get();
    unindex(e);
  } else {
    auto fresh = std::make_unique<entry>();
    fresh->client_id = info.client_id;
    e = fresh.get();
    by_id_.emplace(std::string_view{e->client_id}, std::move(fresh));
  }
  e->owner = owner;
  e->stats = std::move(stats);
  e->address = info.address;
  e->connected = info.connected;
  e->persistent = info.persistent;
  e->type = info.type;
  e->protocol_version = info.protocol_version;
  e->connected_at_ms = info.connected_at_ms;
  e->disconnected_at_ms = info.disconnected_at_ms;
  e->keep_alive = info.keep_alive;
  e->session_expiry = info.session_expiry;
  e->expires_at_ms = info.expires_at_ms;
  e->subscriptions = info.subscriptions;
  e->node = 0;
  index(e);
}

void session_directory::set_disconnected(uint64_t owner, std::string_view client_id,
                                         int64_t at_ms, int64_t expires_at_ms) {
  std::unique_lock lock{mtx_};
  auto i = by_id_.find(client_id);
  if (i == by_id_.end() || i->second->owner != owner)
    return;
  auto* e = i->second.get();
  unindex(e);
  e->connected = false;
  e->disconnected_at_ms = at_ms;
  e->expires_at_ms = expires_at_ms;
  index(e);
}

void session_directory::set_subscriptions(uint64_t owner, std::string_view client_id,
                                          uint32_t count) {
  std::unique_lock lock{mtx_};
  auto i = by_id_.find(client_id);
  if (i == by_id_.end() || i->second->owner != owner || i->second->subscriptions == count)
    return;
  auto* e = i->second.get();
  // Only the subscription index orders by the count.
  auto& set = sets_[static_cast<size_t>(sort_key::subscriptions)][e->category()];
  set.erase(e);
  e->subscriptions = count;
  set.insert(e);
}

void session_directory::remove(uint64_t owner, std::string_view client_id) {
  std::unique_lock lock{mtx_};
  auto i = by_id_.find(client_id);
  if (i == by_id_.end() || i->second->owner != owner)
    return;
  unindex(i->second.get());
  by_id_.erase(i);
}

bool session_directory::erase(std::string_view client_id) {
  std::unique_lock lock{mtx_};
  auto i = by_id_.find(client_id);
  if (i == by_id_.end())
    return false;
  unindex(i->second.get());
  by_id_.erase(i);
  return true;
}

session_row session_directory::row_of(const entry& e) const {
  session_row r;
  auto& i = r.info;
  i.client_id = e.client_id;
  i.connected = e.connected;
  i.persistent = e.persistent;
  i.type = e.type;
  i.protocol_version = e.protocol_version;
  i.address = e.address;
  i.connected_at_ms = e.connected_at_ms;
  i.disconnected_at_ms = e.disconnected_at_ms;
  i.keep_alive = e.keep_alive;
  i.session_expiry = e.session_expiry;
  i.expires_at_ms = e.expires_at_ms;
  i.subscriptions = e.subscriptions;
  r.node = node_name_;
  if (e.stats) {
    r.inflight = e.stats->inflight.load(std::memory_order_relaxed);
    r.queue_depth = e.stats->queue_depth.load(std::memory_order_relaxed);
    r.dropped = e.stats->dropped.load(std::memory_order_relaxed);
  }
  return r;
}

directory_totals session_directory::totals() const {
  std::shared_lock lock{mtx_};
  directory_totals t;
  for (uint8_t c = 0; c < 8; ++c) {
    auto n = counts_[c];
    t.sessions += n;
    ((c & 4) ? t.connected : t.disconnected) += n;
    ((c & 2) ? t.persistent : t.clean) += n;
    ((c & 1) ? t.application : t.device) += n;
  }
  return t;
}

size_t session_directory::size() const {
  std::shared_lock lock{mtx_};
  return by_id_.size();
}

std::optional<session_row> session_directory::find(std::string_view client_id) const {
  std::shared_lock lock{mtx_};
  auto i = by_id_.find(client_id);
  if (i == by_id_.end())
    return std::nullopt;
  return row_of(*i->second);
}

bool session_directory::list(const directory_query& q, directory_page& out,
                             std::string& error) const {
  out = directory_page{};
  std::optional<entry_less::probe> start;
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
    start = entry_less::probe{cvalue, cursor_id};
  }
  out.totals = totals();
  bool residual = !q.client_id_contains.empty() || !q.node.empty() || !q.client_ip.empty()
                  || q.min_subscriptions || q.max_subscriptions;
  std::shared_lock lock{mtx_};
  // A node filter naming another node matches nothing (one node per directory).
  bool node_ok = q.node.empty() || q.node == node_name_;
  uint64_t matching = 0;
  // One head per admitted category, positioned after the cursor.
  struct head {
    index_set::const_iterator it, begin, end;
  };
  std::vector<head> heads;
  auto& per_cat = sets_[static_cast<size_t>(q.sort)];
  for (uint8_t c = 0; c < 8; ++c) {
    if (!category_admitted(c, q))
      continue;
    matching += counts_[c];
    auto& set = per_cat[c];
    if (set.empty())
      continue;
    head h{{}, set.begin(), set.end()};
    if (!q.descending)
      h.it = start ? set.upper_bound(*start) : set.begin();
    else
      h.it = start ? set.lower_bound(*start) : set.end(); // element is *prev(it)
    heads.push_back(h);
  }
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
                                          last->client_id);
        else if (start)
          out.next_cursor = q.cursor;
        return;
      }
      pop();
      ++out.scanned;
      last = e;
      if (residual) {
        if (!q.client_id_contains.empty()
            && e->client_id.find(q.client_id_contains) == std::string::npos)
          continue;
        if (q.min_subscriptions && e->subscriptions < *q.min_subscriptions)
          continue;
        if (q.max_subscriptions && e->subscriptions > *q.max_subscriptions)
          continue;
        if (!q.client_ip.empty() && !ip_of(e->address).starts_with(q.client_ip))
          continue;
      }
      out.items.push_back(row_of(*e));
    }
  };
  if (q.sort == sort_key::client_id && !q.connected && !q.persistent
      && !q.type) {
    // Every category, in client id order: the primary map is that order, no
    // merge needed (the common case, and substring scans).
    if (!q.descending) {
      auto it = start ? by_id_.upper_bound(start->id) : by_id_.begin();
      fill([&]() -> const entry* { return it == by_id_.end() ? nullptr : it->second.get(); },
           [&] { ++it; });
    } else {
      auto it = start ? by_id_.lower_bound(start->id) : by_id_.end();
      fill([&]() -> const entry* {
             return it == by_id_.begin() ? nullptr : std::prev(it)->second.get();
           },
           [&] { --it; });
    }
    return true;
  }
  auto cmp = per_cat[0].key_comp();
  auto exhausted = [&](const head& h) { return q.descending ? h.it == h.begin : h.it == h.end; };
  auto current = [&](const head& h) { return q.descending ? *std::prev(h.it) : *h.it; };
  head* best = nullptr;
  auto peek = [&]() -> const entry* {
    best = nullptr;
    for (auto& h : heads) {
      if (exhausted(h))
        continue;
      if (!best)
        best = &h;
      else if (q.descending ? cmp(current(*best), current(h)) : cmp(current(h), current(*best)))
        best = &h;
    }
    return best ? current(*best) : nullptr;
  };
  auto pop = [&] {
    if (q.descending)
      --best->it;
    else
      ++best->it;
  };
  fill(peek, pop);
  return true;
}

size_t session_directory::approx_entry_bytes() {
  // std::map node (3 pointers, colour, key view, unique_ptr), the entry
  // itself, and one std::set node (3 pointers, colour, value) per sort key;
  // malloc rounds each to 16 bytes plus 8 bytes of header.
  auto rounded = [](size_t n) { return (n + 8 + 15) / 16 * 16; };
  size_t map_node = rounded(4 * sizeof(void*) + sizeof(std::string_view) + sizeof(void*));
  size_t set_node = rounded(4 * sizeof(void*) + sizeof(void*));
  return map_node + rounded(sizeof(entry)) + sort_key_count * set_node;
}

} // namespace amq::admin
