#pragma once
/// `result<T>`: a value or an error message, like C++23 `std::expected<T,
/// std::string>`. The config layer reports every failure this way; no
/// exception escapes it.

#include <string>
#include <utility>
#include <variant>

namespace amq::config {

/// Wraps an error message (like `std::unexpected`), so that
/// `result<std::string>` stays unambiguous: `return unexpected{"..."};`.
struct unexpected {
  std::string message;
};

template <class T>
class result {
public:
  result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
  result(unexpected err) : v_(std::in_place_index<1>, std::move(err.message)) {}

  explicit operator bool() const noexcept { return v_.index() == 0; }
  bool has_value() const noexcept { return v_.index() == 0; }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  /// The message; only valid when `!has_value()`.
  const std::string& error() const { return std::get<1>(v_); }

private:
  std::variant<T, std::string> v_;
};

} // namespace amq::config
