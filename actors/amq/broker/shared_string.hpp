#pragma once
/// An immutable, reference-counted string: the handle is one pointer (8 bytes) to one heap block
/// holding an atomic reference count, the length, the characters and a terminating NUL. Copies
/// share the block; the last one frees it. Empty strings have no block.
///
/// A session's client id is one of these, made once by the registry when it spawns the session
/// and shared by the registry's map key, the session machine (`session_machine::client_id`) and
/// the router's entry of the session (docs/architecture.md, "Where a client id lives"). A
/// std::string per holder cost 32 bytes each, plus a heap block each for an id of more than 15
/// characters (docs/performance.md, session 15).
///
/// Thread-safe as std::shared_ptr is: copies in different threads may be made and dropped
/// concurrently (the count is atomic); the characters never change. No CAF, no I/O: it lives in
/// actormq_broker_core. In actor messages it may travel only between actors of one process
/// (CAF_ALLOW_UNSAFE_MESSAGE_TYPE in amq/actors/messages.hpp); what may cross nodes or go to
/// storage carries a std::string.
///
/// Reads as a std::string_view (implicitly), so it formats, compares and hashes as one:
/// `shared_string_map<V>` finds by std::string_view or std::string without making a handle.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <new>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace amq::broker {

class shared_string {
public:
  /// The empty string (no block).
  shared_string() noexcept = default;

  /// Copies `s` into a new block (none if empty). Explicit: this allocates.
  explicit shared_string(std::string_view s) : p_(s.empty() ? nullptr : block::make(s)) {
  }

  shared_string(const shared_string& other) noexcept : p_(other.p_) {
    if (p_ != nullptr)
      p_->refs.fetch_add(1, std::memory_order_relaxed);
  }

  shared_string(shared_string&& other) noexcept : p_(std::exchange(other.p_, nullptr)) {
  }

  shared_string& operator=(const shared_string& other) noexcept {
    shared_string tmp{other};
    swap(tmp);
    return *this;
  }

  shared_string& operator=(shared_string&& other) noexcept {
    shared_string tmp{std::move(other)};
    swap(tmp);
    return *this;
  }

  ~shared_string() {
    if (p_ != nullptr && p_->refs.fetch_sub(1, std::memory_order_acq_rel) == 1)
      block::destroy(p_);
  }

  void swap(shared_string& other) noexcept {
    std::swap(p_, other.p_);
  }

  // -- access -----------------------------------------------------------------

  std::string_view view() const noexcept {
    return p_ != nullptr ? std::string_view{p_->chars(), p_->size} : std::string_view{};
  }
  operator std::string_view() const noexcept {
    return view();
  }
  /// NUL-terminated.
  const char* c_str() const noexcept {
    return p_ != nullptr ? p_->chars() : "";
  }
  const char* data() const noexcept {
    return c_str();
  }
  size_t size() const noexcept {
    return p_ != nullptr ? p_->size : 0;
  }
  bool empty() const noexcept {
    return p_ == nullptr;
  }
  /// A std::string copy (for what leaves the process: storage keys, messages to other nodes).
  std::string str() const {
    return std::string{view()};
  }

  /// Handles sharing this block, this one included (0 for the empty string). For tests.
  uint32_t use_count() const noexcept {
    return p_ != nullptr ? p_->refs.load(std::memory_order_relaxed) : 0;
  }
  /// True if both handles share one block (or both are empty).
  bool same_block(const shared_string& other) const noexcept {
    return p_ == other.p_;
  }

  // -- comparison: as the characters ------------------------------------------

  friend bool operator==(const shared_string& a, const shared_string& b) noexcept {
    return a.p_ == b.p_ || a.view() == b.view();
  }
  friend bool operator==(const shared_string& a, std::string_view b) noexcept {
    return a.view() == b;
  }
  friend auto operator<=>(const shared_string& a, const shared_string& b) noexcept {
    return a.view() <=> b.view();
  }
  friend auto operator<=>(const shared_string& a, std::string_view b) noexcept {
    return a.view() <=> b;
  }

private:
  /// The shared block: 8 bytes of header, then the characters and a NUL.
  struct block {
    std::atomic<uint32_t> refs;
    uint32_t size;

    explicit block(uint32_t n) noexcept : refs(1), size(n) {
    }
    char* chars() noexcept {
      return reinterpret_cast<char*>(this + 1);
    }

    static block* make(std::string_view s) {
      if (s.size() > UINT32_MAX - sizeof(block) - 1)
        throw std::length_error("amq::broker::shared_string: string too long");
      void* mem = ::operator new(sizeof(block) + s.size() + 1);
      auto* b = ::new (mem) block{static_cast<uint32_t>(s.size())};
      std::memcpy(b->chars(), s.data(), s.size());
      b->chars()[s.size()] = '\0';
      return b;
    }

    static void destroy(block* b) noexcept {
      b->~block();
      ::operator delete(static_cast<void*>(b));
    }
  };
  static_assert(sizeof(block) == 8 && alignof(block) <= alignof(std::max_align_t));

  block* p_ = nullptr;
};

static_assert(sizeof(shared_string) == sizeof(void*));

inline void swap(shared_string& a, shared_string& b) noexcept {
  a.swap(b);
}

/// Hashes the characters (as std::hash<std::string_view>); transparent, for lookups by
/// std::string_view or std::string.
struct shared_string_hash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const noexcept {
    return std::hash<std::string_view>{}(s);
  }
};

/// A hash map keyed by shared_string that finds by any string type without making a handle.
/// (No hash code is cached per node: the hash is noexcept and not one of libstdc++'s "slow"
/// ones; a lookup rehashes the few keys of its bucket chain.)
template <class V>
using shared_string_map = std::unordered_map<shared_string, V, shared_string_hash, std::equal_to<>>;

} // namespace amq::broker

template <>
struct std::hash<amq::broker::shared_string> {
  size_t operator()(const amq::broker::shared_string& s) const noexcept {
    return std::hash<std::string_view>{}(s.view());
  }
};
