#pragma once
/// Private helpers shared by the topic tree and the retained store: walking
/// the '/'-separated levels of a topic with string_views, and the child table
/// of a trie node (a short vector that turns into a hash map when it grows).
///
/// Not installed, not part of the broker API.

#include <cstddef>
#include <memory>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace amq::broker::detail {

/// Position past the end of a topic: "no level left". A topic of n bytes has
/// levels starting at positions in [0, n]; "a/" has the levels "a" and "".
constexpr size_t levels_done(std::string_view topic) noexcept {
  return topic.size() + 1;
}

/// The level starting at `pos` and the position of the next level
/// (`levels_done(topic)` if this was the last one). Precondition: pos <= size.
inline std::pair<std::string_view, size_t> next_level(std::string_view topic,
                                                      size_t pos) noexcept {
  auto slash = topic.find('/', pos);
  if (slash == std::string_view::npos)
    return {topic.substr(pos), topic.size() + 1};
  return {topic.substr(pos, slash - pos), slash + 1};
}

/// Children of a trie node keyed by level. `Node` must provide
/// `std::string_view key() const` returning a view into a string the node owns
/// (the map keys point into the children themselves, so no key is stored twice).
///
/// Up to `small_max` children live in a vector scanned linearly: most nodes of
/// a large tree have one child (e.g. `devices/<id>` → `cmd`), and an
/// unordered_map costs ~150 bytes even for one element. Larger tables switch
/// to an unordered_map once and stay there until emptied.
template <class Node>
class child_table {
public:
  static constexpr size_t small_max = 8;

  Node* find(std::string_view key) const noexcept {
    if (map_) {
      auto i = map_->find(key);
      return i == map_->end() ? nullptr : i->second.get();
    }
    for (auto& child : small_)
      if (child->key() == key)
        return child.get();
    return nullptr;
  }

  /// Inserts `child` (its key must not be present) and returns it.
  Node* insert(std::unique_ptr<Node> child) {
    auto* result = child.get();
    if (map_) {
      map_->emplace(result->key(), std::move(child));
      return result;
    }
    if (small_.size() < small_max) {
      small_.push_back(std::move(child));
      return result;
    }
    map_ = std::make_unique<map_type>();
    map_->reserve(small_max * 2 + 2);
    for (auto& c : small_) {
      auto key = c->key();
      map_->emplace(key, std::move(c));
    }
    small_.clear();
    small_.shrink_to_fit();
    map_->emplace(result->key(), std::move(child));
    return result;
  }

  /// Destroys the child with `key`, if any.
  void erase(std::string_view key) {
    if (map_) {
      map_->erase(key);
      if (map_->empty())
        map_.reset();
      return;
    }
    for (size_t i = 0; i < small_.size(); ++i) {
      if (small_[i]->key() == key) {
        if (i + 1 != small_.size())
          small_[i] = std::move(small_.back());
        small_.pop_back();
        if (small_.empty())
          small_.shrink_to_fit(); // release the buffer
        return;
      }
    }
  }

  bool empty() const noexcept {
    return !map_ && small_.empty();
  }

  size_t size() const noexcept {
    return map_ ? map_->size() : small_.size();
  }

  /// Calls `f(Node&)` for each child, in no particular order.
  template <class F>
  void for_each(F&& f) const {
    if (map_) {
      for (auto& [key, child] : *map_)
        f(*child);
    } else {
      for (auto& child : small_)
        f(*child);
    }
  }

private:
  using map_type = std::unordered_map<std::string_view, std::unique_ptr<Node>>;
  std::vector<std::unique_ptr<Node>> small_;
  std::unique_ptr<map_type> map_;
};

} // namespace amq::broker::detail
