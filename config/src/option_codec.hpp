#pragma once
/// Internal: the type-erased parser/printer/checker behind each option
/// descriptor, and `field_codec`, which binds a value codec (value_codecs.hpp)
/// to one member of `broker_config`.

#include "amq/config/broker_config.hpp"

#include <yaml-cpp/yaml.h>

#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace amq::config::detail {

/// An error message without the key path (the caller prefixes it).
using maybe_error = std::optional<std::string>;

/// Reads, writes and checks one field of `broker_config`.
class option_codec {
public:
  virtual ~option_codec() = default;
  /// Parses a YAML value, checks it and stores it.
  virtual maybe_error from_yaml(broker_config& cfg, const YAML::Node& node) const = 0;
  /// Parses the text form (environment, `--set`, flags), checks it and stores it.
  virtual maybe_error from_text(broker_config& cfg, std::string_view text) const = 0;
  /// The current value as a YAML node.
  virtual YAML::Node to_yaml(const broker_config& cfg) const = 0;
  /// The current value in text form (parseable by `from_text`).
  virtual std::string to_text(const broker_config& cfg) const = 0;
  /// Range and format checks of the current value.
  virtual maybe_error check(const broker_config& cfg) const = 0;
};

/// Binds `Codec` to the member that `Access` returns (`c.limits.max_packet_size`).
template <class Access, class Codec>
class field_codec final : public option_codec {
public:
  using value_type = typename Codec::value_type;

  field_codec(Access access, Codec codec) : access_(access), codec_(std::move(codec)) {
    using field_type = std::remove_cvref_t<decltype(access_(std::declval<broker_config&>()))>;
    static_assert(std::is_same_v<field_type, value_type>, "codec type does not match the field");
  }

  maybe_error from_yaml(broker_config& cfg, const YAML::Node& node) const override {
    value_type tmp{};
    if (auto err = codec_.parse_yaml(node, tmp))
      return err;
    return store(cfg, std::move(tmp));
  }

  maybe_error from_text(broker_config& cfg, std::string_view text) const override {
    value_type tmp{};
    if (auto err = codec_.parse(text, tmp))
      return err;
    return store(cfg, std::move(tmp));
  }

  YAML::Node to_yaml(const broker_config& cfg) const override {
    return codec_.emit(access_(cfg));
  }

  std::string to_text(const broker_config& cfg) const override {
    return codec_.text(access_(cfg));
  }

  maybe_error check(const broker_config& cfg) const override {
    return codec_.check(access_(cfg));
  }

  const Codec& codec() const noexcept { return codec_; }

private:
  maybe_error store(broker_config& cfg, value_type&& value) const {
    if (auto err = codec_.check(value))
      return err;
    access_(cfg) = std::move(value);
    return std::nullopt;
  }

  Access access_;
  Codec codec_;
};

} // namespace amq::config::detail
