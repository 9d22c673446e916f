#pragma once
/// Checks shared by the codec's independent suites (golden_*, captured,
/// reject_*). The fixed header is parsed here, by the test, from the spec
/// (MQTT 5.0 §2.1, §1.5.5): these suites do not depend on the framer.
///
/// Each check returns true on success and prints what differed on failure,
/// so call sites read `CAF_CHECK(golden(wire, expected, v5));` and the
/// failure points at the calling line.

#include "amq/protocol/packet.hpp"
#include "amq/protocol/wire.hpp"
#include "amq/test/bytes.hpp"

#include <caf/test/unit_test.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>
#include <variant>

namespace amq::test {

namespace pr = amq::protocol;

inline constexpr auto v311 = pr::protocol_version::v311;
inline constexpr auto v5 = pr::protocol_version::v5;

/// Splits one complete packet into a frame: first byte, Remaining Length
/// (variable byte integer, at most 4 bytes), body. Returns nullopt unless
/// `wire` is exactly one packet whose Remaining Length equals its body size,
/// i.e. if the test's own bytes are inconsistent.
inline std::optional<pr::frame> split_frame(const bytes& wire) {
  if (wire.size() < 2)
    return std::nullopt;
  uint32_t remaining = 0;
  uint32_t multiplier = 1;
  size_t i = 1;
  for (;;) {
    if (i >= wire.size() || i > 4)
      return std::nullopt;
    auto b = wire[i++];
    remaining += (b & 0x7Fu) * multiplier;
    multiplier *= 128;
    if ((b & 0x80) == 0)
      break;
  }
  if (wire.size() - i != remaining)
    return std::nullopt;
  pr::frame f;
  f.header = wire[0];
  f.body = std::span<const uint8_t>(wire.data() + i, remaining);
  return f;
}

/// Frame from a header byte and a body given separately (for bodies the
/// test wants to build without a consistent fixed header).
inline pr::frame make_frame(uint8_t header, const bytes& body) {
  pr::frame f;
  f.header = header;
  f.body = std::span<const uint8_t>(body.data(), body.size());
  return f;
}

/// Calls the type-specific decoder for `T`.
template <class T>
pr::result<T> decode_as(const pr::frame& f, pr::protocol_version v) {
  using namespace amq::protocol;
  if constexpr (std::is_same_v<T, connect>)
    return decode_connect(f);
  else if constexpr (std::is_same_v<T, connack>)
    return decode_connack(f, v);
  else if constexpr (std::is_same_v<T, publish>)
    return decode_publish(f, v);
  else if constexpr (std::is_same_v<T, puback>)
    return decode_puback(f, v);
  else if constexpr (std::is_same_v<T, pubrec>)
    return decode_pubrec(f, v);
  else if constexpr (std::is_same_v<T, pubrel>)
    return decode_pubrel(f, v);
  else if constexpr (std::is_same_v<T, pubcomp>)
    return decode_pubcomp(f, v);
  else if constexpr (std::is_same_v<T, subscribe>)
    return decode_subscribe(f, v);
  else if constexpr (std::is_same_v<T, suback>)
    return decode_suback(f, v);
  else if constexpr (std::is_same_v<T, unsubscribe>)
    return decode_unsubscribe(f, v);
  else if constexpr (std::is_same_v<T, unsuback>)
    return decode_unsuback(f, v);
  else if constexpr (std::is_same_v<T, pingreq>)
    return decode_pingreq(f);
  else if constexpr (std::is_same_v<T, pingresp>)
    return decode_pingresp(f);
  else if constexpr (std::is_same_v<T, disconnect>)
    return decode_disconnect(f, v);
  else
    return decode_auth(f, v);
}

inline std::string rc_str(pr::reason_code rc) {
  static constexpr char digits[] = "0123456789abcdef";
  auto x = static_cast<uint8_t>(rc);
  std::string out = "0x";
  out += digits[x >> 4];
  out += digits[x & 0x0F];
  out += " (";
  out += pr::to_string(rc);
  out += ")";
  return out;
}

/// decode(wire) == expected, through the typed decoder and through the
/// generic `decode`. Does not encode (for non-canonical wire forms).
template <class T>
bool decodes_to(const bytes& wire, const T& expected, pr::protocol_version v) {
  auto f = split_frame(wire);
  if (!f) {
    CAF_TEST_PRINT_ERROR("test bytes are not one packet (remaining length "
                         "mismatch): "
                         << hex(wire));
    return false;
  }
  bool ok = true;
  auto typed = decode_as<T>(*f, v);
  if (!typed) {
    CAF_TEST_PRINT_ERROR("typed decode failed: "
                         << rc_str(typed.error().code) << " \""
                         << typed.error().message << "\" for " << hex(wire));
    ok = false;
  } else if (!(*typed == expected)) {
    CAF_TEST_PRINT_ERROR("typed decode differs:\n      got:      "
                         << pr::to_string(*typed) << "\n      expected: "
                         << pr::to_string(expected));
    ok = false;
  }
  auto generic = pr::decode(*f, v);
  if (!generic) {
    CAF_TEST_PRINT_ERROR("generic decode failed: "
                         << rc_str(generic.error().code) << " \""
                         << generic.error().message << "\"");
    ok = false;
  } else if (auto p = std::get_if<T>(&*generic); p == nullptr) {
    CAF_TEST_PRINT_ERROR("generic decode gave another packet type: "
                         << pr::to_string(*generic));
    ok = false;
  } else if (!(*p == expected)) {
    CAF_TEST_PRINT_ERROR("generic decode differs: " << pr::to_string(*p));
    ok = false;
  }
  return ok;
}

/// encode(expected) == wire through every encoding entry point.
template <class T>
bool encodes_to(const T& value, const bytes& wire, pr::protocol_version v) {
  bool ok = true;
  auto size = pr::encoded_size(value, v);
  if (size != wire.size()) {
    CAF_TEST_PRINT_ERROR("encoded_size " << size << ", expected "
                                         << wire.size());
    ok = false;
  }
  bytes out{0xEE}; // encode appends: keep a sentinel in front
  pr::encode(value, v, out);
  if (out.size() < 1 || out[0] != 0xEE) {
    CAF_TEST_PRINT_ERROR("encode did not append");
    return false;
  }
  out.erase(out.begin());
  if (out != wire) {
    CAF_TEST_PRINT_ERROR("encode differs:\n      got:      "
                         << hex(out) << "\n      expected: " << hex(wire));
    // Tell a property-order difference from a real one.
    if (auto f = split_frame(out)) {
      auto back = decode_as<T>(*f, v);
      if (back && *back == value)
        CAF_TEST_PRINT_ERROR("(the encoder's output decodes to the same "
                             "packet: field or property order differs)");
    }
    ok = false;
  }
  // Generic entry points (variant).
  pr::packet as_variant = value;
  if (pr::encoded_size(as_variant, v) != wire.size()) {
    CAF_TEST_PRINT_ERROR("encoded_size(packet) differs");
    ok = false;
  }
  bytes out2;
  pr::encode(as_variant, v, out2);
  if (out2 != wire) {
    CAF_TEST_PRINT_ERROR("encode(packet) differs: " << hex(out2));
    ok = false;
  }
  bytes out3(wire.size() + 8, 0xEE);
  auto n = pr::encode_to(value, v, out3.data());
  out3.resize(n);
  if (out3 != wire) {
    CAF_TEST_PRINT_ERROR("encode_to differs: " << hex(out3));
    ok = false;
  }
  return ok;
}

/// Both directions: decode(wire) == expected and encode(expected) == wire.
template <class T>
bool golden(const bytes& wire, const T& expected, pr::protocol_version v) {
  auto a = decodes_to(wire, expected, v);
  auto b = encodes_to(expected, wire, v);
  return a && b;
}

/// Checks a decode error: exact reason code and a non-empty message.
inline bool is_error(const pr::decode_error& err, pr::reason_code rc,
                     const char* what) {
  bool ok = true;
  if (err.code != rc) {
    CAF_TEST_PRINT_ERROR(what << ": reason code " << rc_str(err.code)
                              << " \"" << err.message << "\", expected "
                              << rc_str(rc));
    ok = false;
  }
  if (err.message.empty()) {
    CAF_TEST_PRINT_ERROR(what << ": empty error message");
    ok = false;
  }
  return ok;
}

/// The typed decoder for `T` and the generic `decode` both reject `f` with
/// reason code `rc` and a non-empty message.
template <class T>
bool rejects_frame(const pr::frame& f, pr::protocol_version v,
                   pr::reason_code rc) {
  bool ok = true;
  auto typed = decode_as<T>(f, v);
  if (typed) {
    CAF_TEST_PRINT_ERROR("typed decode accepted it: "
                         << pr::to_string(*typed));
    ok = false;
  } else {
    ok = is_error(typed.error(), rc, "typed decode") && ok;
  }
  auto generic = pr::decode(f, v);
  if (generic) {
    CAF_TEST_PRINT_ERROR("generic decode accepted it: "
                         << pr::to_string(*generic));
    ok = false;
  } else {
    ok = is_error(generic.error(), rc, "generic decode") && ok;
  }
  return ok;
}

/// As `rejects_frame`, from one complete packet.
template <class T>
bool rejects(const bytes& wire, pr::protocol_version v, pr::reason_code rc) {
  auto f = split_frame(wire);
  if (!f) {
    CAF_TEST_PRINT_ERROR("test bytes are not one packet: " << hex(wire));
    return false;
  }
  return rejects_frame<T>(*f, v, rc);
}

/// The decoder accepts `wire` (for "this is allowed" counterparts of rules).
template <class T>
bool accepts(const bytes& wire, pr::protocol_version v) {
  auto f = split_frame(wire);
  if (!f) {
    CAF_TEST_PRINT_ERROR("test bytes are not one packet: " << hex(wire));
    return false;
  }
  auto typed = decode_as<T>(*f, v);
  if (!typed) {
    CAF_TEST_PRINT_ERROR("rejected: " << rc_str(typed.error().code) << " \""
                                      << typed.error().message << "\"");
    return false;
  }
  return true;
}

} // namespace amq::test
