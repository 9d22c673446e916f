#include "amq/broker/topic_tree.hpp"

#include "broker/trie_support.hpp"

#include <algorithm>
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

/// One subscription held at a node (16 bytes).
struct subscriber {
  session_id session;
  subscription_options opts;
};

/// Subscribers of one filter or members of one shared group: a vector (what
/// match() iterates) plus, above `index_threshold` entries, a session→position
/// hash map so that subscribe/unsubscribe stay O(1) on filters such as
/// "fleet/#" that a million sessions share. Removal swaps with the last entry.
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
      index_->emplace(s, items_.size() - 1);
    } else if (items_.size() > index_threshold) {
      index_ = std::make_unique<index_map>();
      index_->reserve(items_.size() * 2);
      for (size_t i = 0; i < items_.size(); ++i)
        index_->emplace(items_[i].session, i);
    }
    return {&items_.back(), true};
  }

  bool erase(session_id s) {
    auto pos = position(s);
    if (pos == npos)
      return false;
    if (index_)
      index_->erase(s);
    if (pos + 1 != items_.size()) {
      items_[pos] = items_.back();
      if (index_)
        (*index_)[items_[pos].session] = pos;
    }
    items_.pop_back();
    if (index_ && items_.size() < index_threshold / 2)
      index_.reset();
    if (items_.empty())
      items_.shrink_to_fit(); // release the buffer
    else if (items_.capacity() > 64 && items_.size() < items_.capacity() / 4)
      items_.shrink_to_fit();
    return true;
  }

private:
  static constexpr size_t npos = static_cast<size_t>(-1);
  using index_map = std::unordered_map<session_id, size_t>;

  size_t position(session_id s) const noexcept {
    if (index_) {
      auto i = index_->find(s);
      return i == index_->end() ? npos : i->second;
    }
    for (size_t i = 0; i < items_.size(); ++i)
      if (items_[i].session == s)
        return i;
    return npos;
  }

  std::vector<subscriber> items_;
  std::unique_ptr<index_map> index_;
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

uint64_t mix(uint64_t x) noexcept {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  return x;
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
  if (!n.subs.empty()) {
    bool skip_own = publisher.has_value();
    auto self = publisher.value_or(0);
    if (contributing_nodes_ == 0) {
      // A node holds each session once: no dedup needed yet.
      for (auto& s : n.subs.items())
        if (!(skip_own && s.opts.no_local && s.session == self))
          out.push_back(make_delivery(s, false));
    } else {
      if (contributing_nodes_ == 1)
        begin_dedup(out);
      for (auto& s : n.subs.items()) {
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
  if (n.groups)
    emit_shared(n, out);
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
