#pragma once
/// A `std::deque` that allocates nothing until the first element arrives.
///
/// libstdc++'s `std::deque` allocates its map and a 512-byte node even when
/// empty. A session holds several queues that are empty almost always (an
/// idle connection has nothing queued), so at 10,000+ idle connections that
/// is most of the broker's memory per connection. This wrapper keeps the
/// deque behind a pointer and frees it again when it runs empty.

#include <deque>
#include <memory>

namespace amq::broker {

template <class T>
class lazy_deque {
public:
  using value_type = T;
  using iterator = typename std::deque<T>::iterator;
  using const_iterator = typename std::deque<T>::const_iterator;

  lazy_deque() = default;
  lazy_deque(std::deque<T>&& xs) {
    if (!xs.empty())
      d_ = std::make_unique<std::deque<T>>(std::move(xs));
  }
  lazy_deque(lazy_deque&&) noexcept = default;
  lazy_deque& operator=(lazy_deque&&) noexcept = default;
  lazy_deque& operator=(std::deque<T>&& xs) {
    *this = lazy_deque{std::move(xs)};
    return *this;
  }

  bool empty() const noexcept { return !d_ || d_->empty(); }
  size_t size() const noexcept { return d_ ? d_->size() : 0; }

  T& front() { return d_->front(); }
  const T& front() const { return d_->front(); }
  T& back() { return d_->back(); }
  const T& back() const { return d_->back(); }

  void push_back(T x) { get().push_back(std::move(x)); }

  template <class... Ts>
  T& emplace_back(Ts&&... xs) {
    return get().emplace_back(std::forward<Ts>(xs)...);
  }

  void pop_front() {
    d_->pop_front();
    if (d_->empty())
      d_.reset();
  }

  void clear() noexcept { d_.reset(); }

  /// Removes the element at `it` (which must be valid); frees the deque
  /// when it runs empty.
  void erase(const_iterator it) {
    d_->erase(it);
    if (d_->empty())
      d_.reset();
  }

  iterator begin() { return d_ ? d_->begin() : iterator{}; }
  iterator end() { return d_ ? d_->end() : iterator{}; }
  const_iterator begin() const { return d_ ? d_->cbegin() : const_iterator{}; }
  const_iterator end() const { return d_ ? d_->cend() : const_iterator{}; }

private:
  std::deque<T>& get() {
    if (!d_)
      d_ = std::make_unique<std::deque<T>>();
    return *d_;
  }

  std::unique_ptr<std::deque<T>> d_;
};

} // namespace amq::broker
