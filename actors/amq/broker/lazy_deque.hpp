#pragma once
/// A `std::deque` that allocates nothing until the first element arrives.
///
/// libstdc++'s `std::deque` allocates its map and a 512-byte node even when
/// empty. A session holds several queues that are empty almost always (an
/// idle connection has nothing queued), so at 10,000+ idle connections that
/// is most of the broker's memory per connection. This wrapper keeps the
/// deque behind a pointer and gives it up again when it runs empty.
///
/// Given up to a small per-thread pool of empty deques (map and node kept),
/// not freed: a session whose queue runs empty after every message (point to
/// point: one PUBLISH in, one PUBACK out) would otherwise allocate and free a
/// deque, its map and its node per message — three of its queues did, six of
/// the ~20 allocations a p2p QoS 1 message cost (bench/instructions.sh). The
/// pool holds at most `pool_max` deques per element type and thread, so idle
/// connections still hold nothing.

#include <deque>
#include <memory>
#include <vector>

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
      release();
  }

  void clear() noexcept {
    if (d_) {
      d_->clear();
      release();
    }
  }

  /// Removes the element at `it` (which must be valid); frees the deque
  /// when it runs empty.
  void erase(const_iterator it) {
    d_->erase(it);
    if (d_->empty())
      release();
  }

  iterator begin() { return d_ ? d_->begin() : iterator{}; }
  iterator end() { return d_ ? d_->end() : iterator{}; }
  const_iterator begin() const { return d_ ? d_->cbegin() : const_iterator{}; }
  const_iterator end() const { return d_ ? d_->cend() : const_iterator{}; }

  /// Empty deques kept per element type and thread.
  static constexpr size_t pool_max = 64;

  /// Empty deques in this thread's pool (tests).
  static size_t pooled() noexcept { return pool_gone() ? 0 : pool().size(); }

  /// True while a deque is attached (an idle one holds none).
  bool allocated() const noexcept { return d_ != nullptr; }

private:
  using pool_type = std::vector<std::unique_ptr<std::deque<T>>>;

  /// Set when this thread's pool is destroyed (thread exit): a queue released after that (a
  /// session freed by another thread-local's destructor) frees its deque instead. Trivially
  /// destructible, so it stays readable until the thread ends.
  static bool& pool_gone() noexcept {
    thread_local bool gone = false;
    return gone;
  }

  struct pool_holder {
    pool_type v;
    ~pool_holder() {
      pool_gone() = true;
    }
  };

  static pool_type& pool() noexcept {
    thread_local pool_holder p;
    return p.v;
  }

  std::deque<T>& get() {
    if (!d_) {
      if (!pool_gone() && !pool().empty()) {
        d_ = std::move(pool().back());
        pool().pop_back();
      } else {
        d_ = std::make_unique<std::deque<T>>();
      }
    }
    return *d_;
  }

  /// `d_` is empty: back to this thread's pool (or freed when the pool is full).
  void release() noexcept {
    if (pool_gone()) {
      d_.reset();
      return;
    }
    auto& p = pool();
    if (p.size() < pool_max) {
      try {
        p.push_back(std::move(d_)); // strong guarantee: on bad_alloc d_ is untouched
      } catch (...) {
      }
    }
    d_.reset();
  }

  std::unique_ptr<std::deque<T>> d_;
};

} // namespace amq::broker
