#include "amq/broker/retained_store.hpp"

#include "broker/trie_support.hpp"

namespace amq::broker {

struct retained_index::node {
  std::string level;
  node* parent = nullptr;
  detail::child_table<node> children;
  slot value = no_slot;

  node(std::string_view lvl, node* up) : level(lvl), parent(up) {
    // nop
  }

  std::string_view key() const noexcept {
    return level;
  }
};

namespace {

bool starts_with_dollar(std::string_view level) noexcept {
  return !level.empty() && level.front() == '$';
}

} // namespace

retained_index::retained_index()
  : root_(std::make_unique<node>(std::string_view{}, nullptr)) {
  // nop
}

retained_index::~retained_index() = default;
retained_index::retained_index(retained_index&&) noexcept = default;
retained_index& retained_index::operator=(retained_index&&) noexcept = default;

std::pair<retained_index::slot, bool> retained_index::insert(std::string_view topic) {
  auto* n = root_.get();
  auto done = detail::levels_done(topic);
  for (size_t pos = 0; pos != done;) {
    auto [lvl, next] = detail::next_level(topic, pos);
    pos = next;
    auto* c = n->children.find(lvl);
    if (!c) {
      c = n->children.insert(std::make_unique<node>(lvl, n));
      ++nodes_;
    }
    n = c;
  }
  if (n->value != no_slot)
    return {n->value, false};
  slot s;
  if (!free_slots_.empty()) {
    s = free_slots_.back();
    free_slots_.pop_back();
    slot_nodes_[s] = n;
  } else {
    s = static_cast<slot>(slot_nodes_.size());
    slot_nodes_.push_back(n);
  }
  n->value = s;
  ++size_;
  return {s, true};
}

retained_index::slot retained_index::find(std::string_view topic) const noexcept {
  const node* n = root_.get();
  auto done = detail::levels_done(topic);
  for (size_t pos = 0; pos != done && n;) {
    auto [lvl, next] = detail::next_level(topic, pos);
    pos = next;
    n = n->children.find(lvl);
  }
  return n ? n->value : no_slot;
}

void retained_index::erase(slot s) {
  auto* n = slot_nodes_[s];
  n->value = no_slot;
  slot_nodes_[s] = nullptr;
  free_slots_.push_back(s);
  --size_;
  prune(n);
}

void retained_index::prune(node* n) {
  while (n != root_.get() && n->value == no_slot && n->children.empty()) {
    auto* up = n->parent;
    up->children.erase(n->level); // destroys n
    --nodes_;
    n = up;
  }
}

void retained_index::match(std::string_view filter, std::vector<slot>& out) const {
  const auto* root = root_.get();
  auto done = detail::levels_done(filter);
  stack_.clear();
  stack_.emplace_back(root, 0);
  // Entries with pos == done + 1 mean "collect this whole subtree" ('#').
  auto subtree = done + 1;
  while (!stack_.empty()) {
    auto [n, pos] = stack_.back();
    stack_.pop_back();
    if (pos == subtree) {
      if (n->value != no_slot)
        out.push_back(n->value);
      n->children.for_each([&](const node& c) { stack_.emplace_back(&c, subtree); });
      continue;
    }
    if (pos == done) {
      if (n->value != no_slot)
        out.push_back(n->value);
      continue;
    }
    auto [lvl, next] = detail::next_level(filter, pos);
    // §4.7.2: wildcards at the first level skip topics starting with '$'.
    bool first = n == root;
    if (lvl == "#") {
      if (n->value != no_slot)
        out.push_back(n->value); // "a/#" matches "a"
      n->children.for_each([&](const node& c) {
        if (!first || !starts_with_dollar(c.level))
          stack_.emplace_back(&c, subtree);
      });
    } else if (lvl == "+") {
      n->children.for_each([&](const node& c) {
        if (!first || !starts_with_dollar(c.level))
          stack_.emplace_back(&c, next);
      });
    } else if (auto* c = n->children.find(lvl)) {
      stack_.emplace_back(c, next);
    }
  }
}

} // namespace amq::broker
