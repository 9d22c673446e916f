#pragma once
/// Wire codec of an MQTT 5.0 property block (§2.2.2): a Variable Byte Integer
/// length followed by the properties. Used by every 5.0 packet codec; exposed
/// for tests and fuzzers.

#include "amq/protocol/properties.hpp"
#include "amq/protocol/wire.hpp"

#include <cstddef>

namespace amq::protocol {

/// Decodes a property block at the reader's position into `out` (which must
/// be empty) and advances past it. Validates, in this order per property:
/// known identifier (else 0x81), allowed in `ctx` (table 2-4, else 0x81 per
/// §2.2.2.2),
/// not repeated unless `may_repeat` (else 0x82), value fits inside the block
/// (else 0x81), UTF-8 of strings (else 0x81), and the value rules of the spec
/// (0x82, see properties.cpp).
/// On failure returns false and sets `r.error()`.
/// A block of length 0 is consumed without touching `out` (fast path).
bool read_properties(reader& r, property_context ctx, properties& out);

/// Writes the block with its length prefix. `p` must be valid.
void write_properties(writer& w, const properties& p) noexcept;

/// Size of the block including its length prefix.
inline size_t properties_wire_size(const properties& p) noexcept {
  auto n = encoded_size(p);
  return varint_size(n) + n;
}

} // namespace amq::protocol
