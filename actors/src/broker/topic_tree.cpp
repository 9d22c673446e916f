#include "amq/broker/topic_tree.hpp"

#include "broker/trie_support.hpp"

#include <algorithm>
#include <cstring>
#include <functional>
#include <new>
#include <string>
#include <unordered_map>

namespace amq::broker {

// -- subscription_ids ---------------------------------------------------------

bool subscription_ids::contains(uint32_t id) const noexcept {
  auto n = std::min<size_t>(size_, inline_capacity);
  for (size_t i = 0; i < n; ++i)
    if (inline_[i] == id)
      return true;
  return std::find(overflow_.begin(), overflow_.end(), id) != overflow_.end();
}

void subscription_ids::add(uint32_t id) {
  if (id == 0 || contains(id))
    return;
  if (size_ < inline_capacity)
    inline_[size_] = id;
  else
    overflow_.push_back(id);
  ++size_;
}

std::vector<uint32_t> subscription_ids::to_vector() const {
  std::vector<uint32_t> result;
  result.reserve(size_);
  for (size_t i = 0; i < size_; ++i)
    result.push_back((*this)[i]);
  return result;
}

namespace {

uint64_t mix(uint64_t x) noexcept {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  return x;
}

/// One subscription held at a node (16 bytes).
struct subscriber {
  session_id session;
  subscription_options opts;
};

/// Subscribers of one filter or members of one shared group: a vector (what
/// match() iterates) plus, above `index_threshold` entries, a session→position
/// index so that subscribe/unsubscribe stay O(1) on filters such as
/// "fleet/#" that a million sessions share. The index is a flat
/// open-addressing table (linear probing, backward-shift deletion) of
/// position + 1 (0 = empty), at most half full: 8–16 bytes per member where
/// an unordered_map node and bucket cost ~40. Removal swaps with the last
/// entry.
class subscriber_list {
public:
  static constexpr size_t index_threshold = 16;

  const std::vector<subscriber>& items() const noexcept {
    return items_;
  }

  std::vector<subscriber>& items() noexcept {
    return items_;
  }

  bool empty() const noexcept {
    return items_.empty();
  }

  size_t size() const noexcept {
    return items_.size();
  }

  const subscriber* find(session_id s) const noexcept {
    auto pos = position(s);
    return pos == npos ? nullptr : &items_[pos];
  }

  /// Returns the entry of `s` and whether it was created.
  std::pair<subscriber*, bool> insert(session_id s) {
    if (auto pos = position(s); pos != npos)
      return {&items_[pos], false};
    items_.push_back(subscriber{s, {}});
    if (index_) {
      if ((items_.size() + 1) * 2 > index_->size())
        reindex(index_->size() * 2);
      else
        index_put(items_.size() - 1);
    } else if (items_.size() > index_threshold) {
      index_ = std::make_unique<std::vector<uint32_t>>();
      reindex(64);
    }
    return {&items_.back(), true};
  }

  bool erase(session_id s) {
    auto slot = index_ ? index_slot(s) : npos;
    auto pos = index_ ? (slot == npos ? npos : (*index_)[slot] - 1) : position(s);
    if (pos == npos)
      return false;
    auto last = items_.size() - 1;
    if (index_) {
      index_remove(slot);
      if (pos != last) // the last entry moves to `pos`
        (*index_)[index_slot(items_[last].session)] = static_cast<uint32_t>(pos + 1);
    }
    if (pos != last)
      items_[pos] = items_[last];
    items_.pop_back();
    if (index_) {
      if (items_.size() < index_threshold / 2)
        index_.reset();
      else if (index_->size() > 64 && items_.size() * 8 < index_->size())
        reindex(index_->size() / 2);
    }
    if (items_.empty())
      items_.shrink_to_fit(); // release the buffer
    else if (items_.capacity() > 64 && items_.size() < items_.capacity() / 4)
      items_.shrink_to_fit();
    return true;
  }

private:
  static constexpr size_t npos = static_cast<size_t>(-1);

  static size_t home(session_id s, size_t mask) noexcept {
    return static_cast<size_t>(mix(s)) & mask;
  }

  size_t position(session_id s) const noexcept {
    if (index_) {
      auto slot = index_slot(s);
      return slot == npos ? npos : (*index_)[slot] - 1;
    }
    for (size_t i = 0; i < items_.size(); ++i)
      if (items_[i].session == s)
        return i;
    return npos;
  }

  /// The slot of `s` in the index, or npos.
  size_t index_slot(session_id s) const noexcept {
    auto& ix = *index_;
    auto mask = ix.size() - 1;
    for (auto h = home(s, mask);; h = (h + 1) & mask) {
      auto v = ix[h];
      if (v == 0)
        return npos;
      if (items_[v - 1].session == s)
        return h;
    }
  }

  /// Indexes items_[pos] (not indexed yet; the table has room).
  void index_put(size_t pos) noexcept {
    auto& ix = *index_;
    auto mask = ix.size() - 1;
    auto h = home(items_[pos].session, mask);
    while (ix[h] != 0)
      h = (h + 1) & mask;
    ix[h] = static_cast<uint32_t>(pos + 1);
  }

  /// Empties `slot`, shifting later entries of its probe run back.
  void index_remove(size_t slot) noexcept {
    auto& ix = *index_;
    auto mask = ix.size() - 1;
    auto hole = slot;
    for (auto j = (hole + 1) & mask; ix[j] != 0; j = (j + 1) & mask) {
      auto want = home(items_[ix[j] - 1].session, mask);
      // Move j into the hole unless its home lies cyclically in (hole, j].
      if (((j - want) & mask) >= ((j - hole) & mask)) {
        ix[hole] = ix[j];
        hole = j;
      }
    }
    ix[hole] = 0;
  }

  void reindex(size_t capacity) {
    while (capacity < (items_.size() + 1) * 2)
      capacity *= 2;
    index_->assign(capacity, 0);
    for (size_t i = 0; i < items_.size(); ++i)
      index_put(i);
  }

  std::vector<subscriber> items_;
  /// Null below the threshold; a power-of-two number of slots.
  std::unique_ptr<std::vector<uint32_t>> index_;
};

/// A shared subscription group "$share/{name}/{filter}" at the filter's node.
struct shared_group {
  std::string name;
  subscriber_list members;
  size_t cursor = 0; ///< round-robin position (taken modulo the size)
};

struct split_filter {
  std::string_view group; ///< empty for a non-shared filter
  std::string_view filter;
};

/// "$share/{group}/{filter}" → {group, filter}; anything else → {"", filter}.
split_filter split_shared(std::string_view filter) noexcept {
  constexpr std::string_view prefix = "$share/";
  if (filter.substr(0, prefix.size()) != prefix)
    return {{}, filter};
  auto rest = filter.substr(prefix.size());
  auto slash = rest.find('/');
  if (slash == std::string_view::npos || slash == 0)
    return {{}, filter}; // not a valid shared filter: treat as a plain one
  return {rest.substr(0, slash), rest.substr(slash + 1)};
}

delivery make_delivery(const subscriber& s, bool shared) {
  delivery d;
  d.session = s.session;
  d.qos = s.opts.max_qos;
  d.retain_as_published = s.opts.retain_as_published;
  d.no_local = s.opts.no_local;
  d.shared = shared;
  d.ids.add(s.opts.subscription_id);
  return d;
}

void merge(delivery& d, const subscriber& s) {
  d.qos = std::max(d.qos, s.opts.max_qos);
  d.retain_as_published = d.retain_as_published || s.opts.retain_as_published;
  d.no_local = d.no_local && s.opts.no_local;
  d.ids.add(s.opts.subscription_id);
}

} // namespace

// -- node ---------------------------------------------------------------------

struct topic_tree::node {
  std::string level;
  node* parent = nullptr;
  std::unique_ptr<node> plus;  ///< the '+' child
  std::unique_ptr<node> hash;  ///< the '#' child
  detail::child_table<node> children; ///< literal children
  subscriber_list subs;        ///< non-shared subscriptions of this filter
  std::unique_ptr<std::vector<shared_group>> groups; ///< null when none

  node(std::string_view lvl, node* up) : level(lvl), parent(up) {
    // nop
  }

  std::string_view key() const noexcept {
    return level;
  }

  node* child(std::string_view lvl) const noexcept {
    if (lvl == "+")
      return plus.get();
    if (lvl == "#")
      return hash.get();
    return children.find(lvl);
  }

  bool unused() const noexcept {
    return subs.empty() && !groups && children.empty() && !plus && !hash;
  }

  shared_group* group(std::string_view name) const noexcept {
    if (!groups)
      return nullptr;
    for (auto& g : *groups)
      if (g.name == name)
        return &g;
    return nullptr;
  }
};

// -- exact filters ------------------------------------------------------------

namespace {

bool has_wildcard(std::string_view filter) noexcept {
  return filter.find_first_of("+#") != std::string_view::npos;
}


/// The slot tag of a hash: 7 bits of it with the high bit set (0 = empty).
uint8_t tag_of(size_t h) noexcept {
  return static_cast<uint8_t>((h >> 57) | 0x80);
}

} // namespace

/// One exact filter: a header of 24 bytes and the filter's bytes in the same
/// allocation (a filter of up to 16 bytes fits malloc's 48-byte class). One
/// subscriber inline; from the second on they move to a subscriber_list.
struct detail::exact_filters::entry {
  uint32_t size;     ///< bytes of the filter
  bool many = false; ///< `list` in use instead of `one`
  union subs_t {
    subscriber one;
    subscriber_list* list;
    subs_t() : one{} {
      // nop
    }
  } subs;

  explicit entry(size_t n) : size(static_cast<uint32_t>(n)) {
    // nop
  }

  std::string_view key() const noexcept {
    return {reinterpret_cast<const char*>(this + 1), size};
  }

  static entry* make(std::string_view key) {
    auto* mem = ::operator new(sizeof(entry) + key.size());
    auto* e = new (mem) entry(key.size());
    if (!key.empty())
      std::memcpy(e + 1, key.data(), key.size());
    return e;
  }

  static void destroy(entry* e) noexcept {
    if (e->many)
      delete e->subs.list;
    e->~entry();
    ::operator delete(e);
  }
};

static_assert(sizeof(detail::exact_filters::entry) == 24);

namespace detail {

exact_filters::~exact_filters() {
  clear();
}

exact_filters::exact_filters(exact_filters&& other) noexcept
  : slots_(std::move(other.slots_)),
    tags_(std::move(other.tags_)),
    shape_counts_(std::move(other.shape_counts_)),
    count_(other.count_) {
  other.slots_.clear();
  other.tags_.clear();
  other.count_ = 0;
}

exact_filters& exact_filters::operator=(exact_filters&& other) noexcept {
  if (this != &other) {
    clear();
    slots_ = std::move(other.slots_);
    tags_ = std::move(other.tags_);
    shape_counts_ = std::move(other.shape_counts_);
    count_ = other.count_;
    other.slots_.clear();
    other.tags_.clear();
    other.count_ = 0;
  }
  return *this;
}

void exact_filters::clear() noexcept {
  for (auto* e : slots_)
    if (e)
      entry::destroy(e);
  slots_.clear();
  tags_.clear();
  shape_counts_.reset();
  count_ = 0;
}

size_t exact_filters::hash(std::string_view key) noexcept {
  return std::hash<std::string_view>{}(key);
}

size_t exact_filters::shape(std::string_view key) noexcept {
  // Cheap on purpose (it runs for every match): the first level's length
  // and up to 8 of its bytes; a collision only costs a table lookup.
  auto first = key.substr(0, key.find('/'));
  uint64_t head = 0;
  std::memcpy(&head, first.data(), std::min<size_t>(first.size(), 8));
  auto h = mix(head ^ (static_cast<uint64_t>(first.size()) << 56));
  return static_cast<size_t>(h) & (shapes - 1);
}

exact_filters::entry* exact_filters::find(std::string_view key, size_t h) const noexcept {
  if (count_ == 0)
    return nullptr;
  auto tag = tag_of(h);
  auto mask = slots_.size() - 1;
  for (auto i = h & mask;; i = (i + 1) & mask) {
    auto t = tags_[i];
    if (t == 0)
      return nullptr;
    if (t == tag) {
      auto* e = slots_[i];
      if (e->key() == key)
        return e;
    }
  }
}

exact_filters::entry* exact_filters::insert(std::string_view key) {
  if ((count_ + 1) * 4 > slots_.size() * 3)
    rehash(slots_.empty() ? 16 : slots_.size() * 2);
  auto h = hash(key);
  auto mask = slots_.size() - 1;
  auto i = h & mask;
  while (tags_[i] != 0)
    i = (i + 1) & mask;
  if (!shape_counts_)
    shape_counts_ = std::make_unique<uint32_t[]>(shapes); // zeroed
  auto* e = entry::make(key);
  slots_[i] = e;
  tags_[i] = tag_of(h);
  ++shape_counts_[shape(key)];
  ++count_;
  return e;
}

void exact_filters::erase(entry* e) noexcept {
  auto mask = slots_.size() - 1;
  auto hole = hash(e->key()) & mask;
  while (slots_[hole] != e)
    hole = (hole + 1) & mask;
  --shape_counts_[shape(e->key())];
  entry::destroy(e);
  --count_;
  // Backward shift: move later entries of the probe run into the hole unless
  // their home slot lies cyclically in (hole, j].
  for (auto j = (hole + 1) & mask; tags_[j] != 0; j = (j + 1) & mask) {
    auto want = hash(slots_[j]->key()) & mask;
    if (((j - want) & mask) >= ((j - hole) & mask)) {
      slots_[hole] = slots_[j];
      tags_[hole] = tags_[j];
      hole = j;
    }
  }
  slots_[hole] = nullptr;
  tags_[hole] = 0;
  if (count_ == 0) {
    std::vector<entry*>{}.swap(slots_);
    std::vector<uint8_t>{}.swap(tags_);
    shape_counts_.reset();
  } else if (slots_.size() > 64 && count_ * 8 < slots_.size()) {
    rehash(slots_.size() / 2);
  }
}

void exact_filters::rehash(size_t capacity) {
  std::vector<entry*> old;
  old.swap(slots_);
  slots_.assign(capacity, nullptr);
  tags_.assign(capacity, 0);
  auto mask = capacity - 1;
  for (auto* e : old) {
    if (!e)
      continue;
    auto h = hash(e->key());
    auto i = h & mask;
    while (tags_[i] != 0)
      i = (i + 1) & mask;
    slots_[i] = e;
    tags_[i] = tag_of(h);
  }
}

} // namespace detail

// -- topic_tree ---------------------------------------------------------------

topic_tree::topic_tree() : root_(std::make_unique<node>(std::string_view{}, nullptr)) {
  // nop
}

topic_tree::~topic_tree() = default;
topic_tree::topic_tree(topic_tree&&) noexcept = default;
topic_tree& topic_tree::operator=(topic_tree&&) noexcept = default;

bool topic_tree::subscribe(session_id session, std::string_view filter,
                           const subscription_options& opts) {
  auto [group_name, plain] = split_shared(filter);
  if (group_name.empty() && !has_wildcard(plain))
    return subscribe_exact(session, plain, opts);
  auto* n = root_.get();
  auto done = detail::levels_done(plain);
  for (size_t pos = 0; pos != done;) {
    auto [lvl, next] = detail::next_level(plain, pos);
    pos = next;
    if (auto* c = n->child(lvl)) {
      n = c;
      continue;
    }
    auto fresh = std::make_unique<node>(lvl, n);
    ++nodes_;
    if (lvl == "+")
      n = (n->plus = std::move(fresh)).get();
    else if (lvl == "#")
      n = (n->hash = std::move(fresh)).get();
    else
      n = n->children.insert(std::move(fresh));
  }
  if (group_name.empty()) {
    auto [entry, added] = n->subs.insert(session);
    entry->opts = opts;
    subscriptions_ += added ? 1 : 0;
    return added;
  }
  auto* g = n->group(group_name);
  if (!g) {
    if (!n->groups)
      n->groups = std::make_unique<std::vector<shared_group>>();
    g = &n->groups->emplace_back();
    g->name = group_name;
    ++shared_groups_;
  }
  auto [entry, added] = g->members.insert(session);
  entry->opts = opts;
  shared_subscriptions_ += added ? 1 : 0;
  return added;
}

bool topic_tree::unsubscribe(session_id session, std::string_view filter) {
  auto [group_name, plain] = split_shared(filter);
  if (group_name.empty() && !has_wildcard(plain))
    return unsubscribe_exact(session, plain);
  auto* n = find_node(plain);
  if (!n)
    return false;
  if (group_name.empty()) {
    if (!n->subs.erase(session))
      return false;
    --subscriptions_;
  } else {
    auto* g = n->group(group_name);
    if (!g || !g->members.erase(session))
      return false;
    --shared_subscriptions_;
    if (g->members.empty()) {
      auto& gs = *n->groups;
      auto i = gs.begin() + (g - gs.data());
      gs.erase(i);
      --shared_groups_;
      if (gs.empty())
        n->groups.reset();
    }
  }
  prune(n);
  return true;
}

bool topic_tree::subscribe_exact(session_id session, std::string_view filter,
                                 const subscription_options& opts) {
  auto* e = exact_.find(filter);
  if (!e) {
    e = exact_.insert(filter);
    e->subs.one = subscriber{session, opts};
    ++subscriptions_;
    return true;
  }
  if (!e->many) {
    if (e->subs.one.session == session) {
      e->subs.one.opts = opts;
      return false;
    }
    auto list = std::make_unique<subscriber_list>();
    list->insert(e->subs.one.session).first->opts = e->subs.one.opts;
    e->subs.list = list.release();
    e->many = true;
  }
  auto [entry, added] = e->subs.list->insert(session);
  entry->opts = opts;
  subscriptions_ += added ? 1 : 0;
  return added;
}

bool topic_tree::unsubscribe_exact(session_id session, std::string_view filter) {
  auto* e = exact_.find(filter);
  if (!e)
    return false;
  if (!e->many) {
    if (e->subs.one.session != session)
      return false;
    exact_.erase(e);
    --subscriptions_;
    return true;
  }
  auto* list = e->subs.list;
  if (!list->erase(session))
    return false;
  --subscriptions_;
  if (list->size() == 1) { // back to one inline subscriber
    auto last = list->items().front();
    delete list;
    e->many = false;
    e->subs.one = last;
  }
  return true;
}

void topic_tree::set_online(session_id session, bool online) {
  if (online)
    offline_.erase(session);
  else
    offline_.insert(session);
}

void topic_tree::forget_session(session_id session) {
  offline_.erase(session);
}

bool topic_tree::is_online(session_id session) const noexcept {
  return offline_.empty() || !offline_.contains(session);
}

std::optional<subscription_options> topic_tree::find(session_id session,
                                                     std::string_view filter) const {
  auto [group_name, plain] = split_shared(filter);
  if (group_name.empty() && !has_wildcard(plain)) {
    auto* e = exact_.find(plain);
    if (!e)
      return std::nullopt;
    if (!e->many)
      return e->subs.one.session == session ? std::optional{e->subs.one.opts} : std::nullopt;
    if (auto* s = e->subs.list->find(session))
      return s->opts;
    return std::nullopt;
  }
  auto* n = find_node(plain);
  if (!n)
    return std::nullopt;
  const subscriber* s = nullptr;
  if (group_name.empty()) {
    s = n->subs.find(session);
  } else if (auto* g = n->group(group_name)) {
    s = g->members.find(session);
  }
  if (!s)
    return std::nullopt;
  return s->opts;
}

topic_tree::node* topic_tree::find_node(std::string_view filter) const {
  auto* n = root_.get();
  auto done = detail::levels_done(filter);
  for (size_t pos = 0; pos != done && n;) {
    auto [lvl, next] = detail::next_level(filter, pos);
    pos = next;
    n = n->child(lvl);
  }
  return n;
}

void topic_tree::prune(node* n) {
  while (n != root_.get() && n->unused()) {
    auto* up = n->parent;
    if (up->plus.get() == n)
      up->plus.reset();
    else if (up->hash.get() == n)
      up->hash.reset();
    else
      up->children.erase(n->level); // destroys n
    --nodes_;
    n = up;
  }
}

void topic_tree::match(std::string_view topic, std::optional<session_id> publisher,
                       std::vector<delivery>& out) {
  out.clear();
  contributing_nodes_ = 0;
  auto* root = root_.get();
  // The exact filter equal to the topic (no wildcard: §4.7.2 does not apply)
  // is looked up after the trie walk, its slot prefetched now.
  size_t exact_hash = 0;
  bool exact = exact_.may_contain(topic);
  if (exact) {
    exact_hash = detail::exact_filters::hash(topic);
    if (!root->unused())
      exact_.prefetch(exact_hash);
  }
  if (!root->unused()) // wildcard filters or shared groups
    walk(topic, publisher, out);
  if (!exact)
    return;
  if (auto* e = exact_.find(topic, exact_hash)) {
    if (e->many)
      emit_subscribers(e->subs.list->items(), publisher, out);
    else
      emit_subscribers(std::array<subscriber, 1>{e->subs.one}, publisher, out);
  }
}

void topic_tree::walk(std::string_view topic, std::optional<session_id> publisher,
                      std::vector<delivery>& out) {
  // §4.7.2: wildcards at the first level don't match topics starting with '$'.
  auto* root = root_.get();
  bool dollar = !topic.empty() && topic.front() == '$';
  auto done = detail::levels_done(topic);
  stack_.clear();
  stack_.emplace_back(root, 0);
  while (!stack_.empty()) {
    auto [n, pos] = stack_.back();
    stack_.pop_back();
    bool wildcards = !dollar || n != root;
    if (n->hash && wildcards)
      emit(*n->hash, publisher, out); // '#' covers this level and below
    if (pos == done) {
      emit(*n, publisher, out);
      continue;
    }
    auto [lvl, next] = detail::next_level(topic, pos);
    if (auto* c = n->children.find(lvl))
      stack_.emplace_back(c, next);
    if (n->plus && wildcards)
      stack_.emplace_back(n->plus.get(), next);
  }
}

void topic_tree::emit(node& n, std::optional<session_id> publisher, std::vector<delivery>& out) {
  if (!n.subs.empty())
    emit_subscribers(n.subs.items(), publisher, out);
  if (n.groups && !skip_shared_)
    emit_shared(n, out);
}

bool topic_tree::delivers_to(std::string_view topic, std::optional<session_id> publisher,
                             session_id session) {
  skip_shared_ = true;
  match(topic, publisher, probe_);
  skip_shared_ = false;
  return std::any_of(probe_.begin(), probe_.end(),
                     [&](const delivery& d) { return d.session == session; });
}

template <class Subscribers>
void topic_tree::emit_subscribers(const Subscribers& subs, std::optional<session_id> publisher,
                                  std::vector<delivery>& out) {
  bool skip_own = publisher.has_value();
  auto self = publisher.value_or(0);
  if (contributing_nodes_ == 0) {
    // A filter holds each session once: no dedup needed yet.
    for (auto& s : subs)
      if (!(skip_own && s.opts.no_local && s.session == self))
        out.push_back(make_delivery(s, false));
  } else {
    if (contributing_nodes_ == 1)
      begin_dedup(out);
    for (auto& s : subs) {
      if (skip_own && s.opts.no_local && s.session == self)
        continue;
      if (auto* idx = dedup_find_or_insert(s.session, static_cast<uint32_t>(out.size())))
        merge(out[*idx], s);
      else
        out.push_back(make_delivery(s, false));
    }
  }
  ++contributing_nodes_;
}

void topic_tree::emit_shared(node& n, std::vector<delivery>& out) {
  for (auto& g : *n.groups) {
    auto& members = g.members.items();
    auto count = members.size();
    if (count == 0)
      continue;
    auto start = g.cursor % count;
    auto chosen = start; // also the choice when no member is online
    if (!offline_.empty()) {
      for (size_t i = 0; i < count; ++i) {
        auto idx = (start + i) % count;
        if (!offline_.contains(members[idx].session)) {
          chosen = idx;
          break;
        }
      }
    }
    g.cursor = chosen + 1;
    out.push_back(make_delivery(members[chosen], true));
  }
}

void topic_tree::begin_dedup(const std::vector<delivery>& out) {
  if (++generation_ == 0) {
    // Wrapped after 2^32 matches: forget every stamp.
    for (auto& slot : dedup_)
      slot.generation = 0;
    generation_ = 1;
  }
  dedup_count_ = 0;
  for (size_t i = 0; i < out.size(); ++i)
    if (!out[i].shared)
      dedup_find_or_insert(out[i].session, static_cast<uint32_t>(i));
}

uint32_t* topic_tree::dedup_find_or_insert(session_id session, uint32_t index) {
  if ((dedup_count_ + 1) * 2 > dedup_.size())
    dedup_grow();
  auto mask = dedup_.size() - 1;
  for (auto h = mix(session) & mask;; h = (h + 1) & mask) {
    auto& slot = dedup_[h];
    if (slot.generation != generation_) {
      slot = dedup_slot{session, index, generation_};
      ++dedup_count_;
      return nullptr;
    }
    if (slot.session == session)
      return &slot.index;
  }
}

void topic_tree::dedup_grow() {
  auto old = std::move(dedup_);
  dedup_.assign(std::max<size_t>(64, old.size() * 2), dedup_slot{0, 0, 0});
  if (generation_ == 0)
    generation_ = 1;
  auto mask = dedup_.size() - 1;
  for (auto& slot : old) {
    if (slot.generation != generation_)
      continue;
    auto h = mix(slot.session) & mask;
    while (dedup_[h].generation == generation_)
      h = (h + 1) & mask;
    dedup_[h] = slot;
  }
}

} // namespace amq::broker
