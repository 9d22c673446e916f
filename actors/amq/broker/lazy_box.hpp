#pragma once
/// An associative container (`std::unordered_map`, `std::unordered_set`,
/// `std::map`) that takes 8 bytes and allocates nothing until the first
/// element arrives; `clear()` frees it again.
///
/// A session holds several of them (inbound topic aliases, outbound topic
/// aliases, in-flight packet ids, inbound QoS 2 ids, the in-flight entries,
/// the subscriptions) that an idle connection never fills: inline they cost ~200 bytes per session (an empty
/// `std::unordered_map` is 56 bytes), which at 10,000+ idle connections is a
/// visible share of the broker's memory (docs/performance.md). Same idea as
/// `lazy_deque`; only the members the session machine uses are provided.

#include <cstddef>
#include <memory>
#include <utility>

namespace amq::broker {

template <class C>
class lazy_box {
public:
  using iterator = typename C::iterator;
  using const_iterator = typename C::const_iterator;

  lazy_box() = default;
  lazy_box(lazy_box&&) noexcept = default;
  lazy_box& operator=(lazy_box&&) noexcept = default;

  bool empty() const noexcept { return !c_ || c_->empty(); }
  size_t size() const noexcept { return c_ ? c_->size() : 0; }

  template <class K>
  size_t count(const K& k) const {
    return c_ ? c_->count(k) : 0;
  }

  /// With no container yet, `find` and `end` both return the end of one
  /// shared empty container, so `find(k) == end()` works as usual.
  template <class K>
  iterator find(const K& k) {
    return c_ ? c_->find(k) : none().end();
  }
  iterator begin() { return c_ ? c_->begin() : none().begin(); }
  iterator end() { return c_ ? c_->end() : none().end(); }
  const_iterator begin() const { return view().begin(); }
  const_iterator end() const { return view().end(); }

  /// The container, or a shared empty one.
  const C& view() const noexcept { return c_ ? *c_ : none(); }

  template <class K>
  auto& operator[](K&& k) {
    return get()[std::forward<K>(k)];
  }
  template <class... Ts>
  auto emplace(Ts&&... xs) {
    return get().emplace(std::forward<Ts>(xs)...);
  }
  template <class... Ts>
  auto insert(Ts&&... xs) {
    return get().insert(std::forward<Ts>(xs)...);
  }
  template <class K, class V>
  auto insert_or_assign(K&& k, V&& v) {
    return get().insert_or_assign(std::forward<K>(k), std::forward<V>(v));
  }

  /// By key: 0 when there is no container.
  template <class K>
  size_t erase(const K& k) {
    return c_ ? c_->erase(k) : 0;
  }
  /// By iterator: only ever from `find`/`begin` of a non-empty container.
  iterator erase(iterator i) { return c_->erase(i); }

  void clear() noexcept { c_.reset(); }

private:
  C& get() {
    if (!c_)
      c_ = std::make_unique<C>();
    return *c_;
  }
  static C& none() {
    static C empty; // never modified: iterators into it compare equal
    return empty;
  }

  std::unique_ptr<C> c_;
};

/// A value of type `T` that takes 8 bytes and is allocated on first write
/// (`->`); until then `view()` reads a shared default-constructed `T`.
/// For per-session counters an idle session never touches.
template <class T>
class lazy_value {
public:
  T* operator->() {
    if (!v_)
      v_ = std::make_unique<T>();
    return v_.get();
  }
  const T& view() const noexcept {
    static const T none{};
    return v_ ? *v_ : none;
  }

private:
  std::unique_ptr<T> v_;
};

} // namespace amq::broker
