// Rejection tests for MQTT 5.0 properties (§2.2.2, table 2-4, and the
// per-property rules of §3.x), one test per rule, each asserting the exact
// reason code and a non-empty message.
//
// Reason codes from the spec text:
// - §2.2.2.2: "A Control Packet which contains an Identifier which is not
//   valid for its packet type, or contains a value not of the specified data
//   type, is a Malformed Packet." -> unknown identifiers and identifiers not
//   allowed in that packet (e.g. Topic Alias in CONNECT, Will Delay Interval
//   outside the will properties) are 0x81.
// - "It is a Protocol Error to include <property> more than once" (every
//   property but User Property, and Subscription Identifier in PUBLISH) ->
//   duplicates are 0x82.
// - Value rules say "It is a Protocol Error ... to have the value 0 / a value
//   other than 0 or 1" -> 0x82.
// - A property (or the property length) running past its block or packet
//   cannot be parsed -> 0x81.
#define CAF_SUITE protocol_reject_properties
#include <caf/test/unit_test.hpp>

#include "codec_check.hpp"

using namespace amq::protocol;
using namespace amq::test;
using namespace std::literals;

namespace {

constexpr auto malformed = reason_code::malformed_packet;
constexpr auto protocol_error = reason_code::protocol_error;

void put_varint(bytes& out, uint32_t v) {
  do {
    uint8_t b = v % 128;
    v /= 128;
    if (v > 0)
      b |= 0x80;
    out.push_back(b);
  } while (v > 0);
}

/// header byte, remaining length, `before`, property length, `props`, `after`.
bytes with_props(uint8_t header, const bytes& before, const bytes& props,
                 const bytes& after) {
  bytes body = before;
  put_varint(body, static_cast<uint32_t>(props.size()));
  body.insert(body.end(), props.begin(), props.end());
  body.insert(body.end(), after.begin(), after.end());
  bytes wire;
  wire.reserve(body.size() + 5);
  wire.push_back(header);
  put_varint(wire, static_cast<uint32_t>(body.size()));
  wire.insert(wire.end(), body.begin(), body.end());
  return wire;
}

const bytes connect_head = make_bytes({0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05,
                                       0x02, 0x00, 0x3C});
const bytes client_id_c = make_bytes({0x00, 0x01, 'c'});

/// PUBLISH qos 0, topic "t", payload "x", with these properties.
bytes publish_props(const bytes& props) {
  return with_props(0x30, make_bytes({0x00, 0x01, 't'}), props,
                    make_bytes({'x'}));
}

/// CONNECT (clean start, client id "c") with these properties.
bytes connect_props(const bytes& props) {
  return with_props(0x10, connect_head, props, client_id_c);
}

/// CONNECT with a will (topic "w", payload "p") with these will properties.
bytes will_props(const bytes& props) {
  bytes before = make_bytes({0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05,
                             0x06, // will + clean start
                             0x00, 0x3C,
                             0x00, // CONNECT property length 0
                             0x00, 0x01, 'c'});
  return with_props(0x10, before, props,
                    make_bytes({0x00, 0x01, 'w', 0x00, 0x01, 'p'}));
}

bytes connack_props(const bytes& props) {
  return with_props(0x20, make_bytes({0x00, 0x00}), props, {});
}

bytes puback_props(const bytes& props) {
  return with_props(0x40, make_bytes({0x00, 0x01, 0x00}), props, {});
}

bytes subscribe_props(const bytes& props) {
  return with_props(0x82, make_bytes({0x00, 0x01}), props,
                    make_bytes({0x00, 0x01, 'a', 0x00}));
}

bytes unsubscribe_props(const bytes& props) {
  return with_props(0xA2, make_bytes({0x00, 0x01}), props,
                    make_bytes({0x00, 0x01, 'a'}));
}

bytes suback_props(const bytes& props) {
  return with_props(0x90, make_bytes({0x00, 0x01}), props, make_bytes({0x00}));
}

bytes disconnect_props(const bytes& props) {
  return with_props(0xE0, make_bytes({0x00}), props, {});
}

bytes auth_props(const bytes& props) {
  return with_props(0xF0, make_bytes({0x18}), props, {});
}

} // namespace

// -- sanity: the builders make valid packets ----------------------------------

CAF_TEST(builders produce packets the decoder accepts) {
  CAF_CHECK(accepts<publish>(publish_props({}), v5));
  CAF_CHECK(accepts<connect>(connect_props({}), v5));
  CAF_CHECK(accepts<connect>(will_props({}), v5));
  CAF_CHECK(accepts<connack>(connack_props({}), v5));
  CAF_CHECK(accepts<puback>(puback_props({}), v5));
  CAF_CHECK(accepts<subscribe>(subscribe_props({}), v5));
  CAF_CHECK(accepts<unsubscribe>(unsubscribe_props({}), v5));
  CAF_CHECK(accepts<suback>(suback_props({}), v5));
  CAF_CHECK(accepts<disconnect>(disconnect_props({}), v5));
  CAF_CHECK(accepts<auth>(auth_props(make_bytes({0x15, 0x00, 0x01, 'm'})),
                          v5));
}

// -- repetition (§2.2.2.2 and each property's "more than once" rule) ---------

CAF_TEST(duplicate session expiry interval in connect) {
  auto wire = connect_props(make_bytes({
    0x11, 0x00, 0x00, 0x00, 0x0A, // session expiry interval 10
    0x11, 0x00, 0x00, 0x00, 0x14, // again, 20
  }));
  CAF_CHECK(rejects<connect>(wire, v5, protocol_error));
}

CAF_TEST(duplicate receive maximum in connect) {
  auto wire = connect_props(make_bytes({0x21, 0x00, 0x0A, 0x21, 0x00, 0x0A}));
  CAF_CHECK(rejects<connect>(wire, v5, protocol_error));
}

CAF_TEST(duplicate authentication method in connect) {
  auto wire = connect_props(make_bytes({0x15, 0x00, 0x01, 'a',
                                        0x15, 0x00, 0x01, 'b'}));
  CAF_CHECK(rejects<connect>(wire, v5, protocol_error));
}

CAF_TEST(duplicate will delay interval in will properties) {
  auto wire = will_props(make_bytes({0x18, 0x00, 0x00, 0x00, 0x01,
                                     0x18, 0x00, 0x00, 0x00, 0x02}));
  CAF_CHECK(rejects<connect>(wire, v5, protocol_error));
}

CAF_TEST(duplicate content type in publish) {
  auto wire = publish_props(make_bytes({0x03, 0x00, 0x01, 'a',
                                        0x03, 0x00, 0x01, 'a'}));
  CAF_CHECK(rejects<publish>(wire, v5, protocol_error));
}

CAF_TEST(duplicate topic alias in publish) {
  auto wire = publish_props(make_bytes({0x23, 0x00, 0x01, 0x23, 0x00, 0x02}));
  CAF_CHECK(rejects<publish>(wire, v5, protocol_error));
}

CAF_TEST(duplicate payload format indicator in publish) {
  auto wire = publish_props(make_bytes({0x01, 0x00, 0x01, 0x01}));
  CAF_CHECK(rejects<publish>(wire, v5, protocol_error));
}

CAF_TEST(duplicate maximum qos in connack) {
  auto wire = connack_props(make_bytes({0x24, 0x00, 0x24, 0x01}));
  CAF_CHECK(rejects<connack>(wire, v5, protocol_error));
}

CAF_TEST(duplicate reason string in puback) {
  auto wire = puback_props(make_bytes({0x1F, 0x00, 0x01, 'a',
                                       0x1F, 0x00, 0x01, 'b'}));
  CAF_CHECK(rejects<puback>(wire, v5, protocol_error));
}

CAF_TEST(duplicate subscription identifier in subscribe) {
  // §3.8.2.1.2: "It is a Protocol Error to include the Subscription
  // Identifier more than once." (PUBLISH may carry several.)
  auto wire = subscribe_props(make_bytes({0x0B, 0x01, 0x0B, 0x02}));
  CAF_CHECK(rejects<subscribe>(wire, v5, protocol_error));
}

CAF_TEST(duplicate server reference in disconnect) {
  auto wire = disconnect_props(make_bytes({0x1C, 0x00, 0x01, 'a',
                                           0x1C, 0x00, 0x01, 'a'}));
  CAF_CHECK(rejects<disconnect>(wire, v5, protocol_error));
}

CAF_TEST(duplicate authentication data in auth) {
  auto wire = auth_props(make_bytes({0x15, 0x00, 0x01, 'm',
                                     0x16, 0x00, 0x01, 0x01,
                                     0x16, 0x00, 0x01, 0x02}));
  CAF_CHECK(rejects<auth>(wire, v5, protocol_error));
}

CAF_TEST(repeated user properties and publish subscription ids are allowed) {
  CAF_CHECK(accepts<connect>(connect_props(make_bytes({
                               0x26, 0x00, 0x01, 'a', 0x00, 0x01, 'b',
                               0x26, 0x00, 0x01, 'a', 0x00, 0x01, 'b', // same pair twice
                             })),
                             v5));
  CAF_CHECK(accepts<publish>(publish_props(make_bytes({0x0B, 0x01, 0x0B,
                                                       0x01})),
                             v5));
}

// -- identifiers not valid for the packet (§2.2.2.2 -> Malformed) -------------

CAF_TEST(topic alias in connect) {
  auto wire = connect_props(make_bytes({0x23, 0x00, 0x01}));
  CAF_CHECK(rejects<connect>(wire, v5, malformed));
}

CAF_TEST(will delay interval in connect properties) {
  // Will Delay Interval belongs to the will properties only (§3.1.3.2.2).
  auto wire = connect_props(make_bytes({0x18, 0x00, 0x00, 0x00, 0x05}));
  CAF_CHECK(rejects<connect>(wire, v5, malformed));
}

CAF_TEST(will delay interval in publish) {
  auto wire = publish_props(make_bytes({0x18, 0x00, 0x00, 0x00, 0x05}));
  CAF_CHECK(rejects<publish>(wire, v5, malformed));
}

CAF_TEST(session expiry interval in will properties) {
  auto wire = will_props(make_bytes({0x11, 0x00, 0x00, 0x00, 0x05}));
  CAF_CHECK(rejects<connect>(wire, v5, malformed));
}

CAF_TEST(topic alias in will properties) {
  auto wire = will_props(make_bytes({0x23, 0x00, 0x01}));
  CAF_CHECK(rejects<connect>(wire, v5, malformed));
}

CAF_TEST(payload format indicator in connect properties) {
  // A will property, not a CONNECT property.
  auto wire = connect_props(make_bytes({0x01, 0x01}));
  CAF_CHECK(rejects<connect>(wire, v5, malformed));
}

CAF_TEST(server keep alive in connect) {
  auto wire = connect_props(make_bytes({0x13, 0x00, 0x0A}));
  CAF_CHECK(rejects<connect>(wire, v5, malformed));
}

CAF_TEST(maximum qos in connect) {
  auto wire = connect_props(make_bytes({0x24, 0x01}));
  CAF_CHECK(rejects<connect>(wire, v5, malformed));
}

CAF_TEST(reason string in connect) {
  auto wire = connect_props(make_bytes({0x1F, 0x00, 0x01, 'r'}));
  CAF_CHECK(rejects<connect>(wire, v5, malformed));
}

CAF_TEST(request problem information in connack) {
  auto wire = connack_props(make_bytes({0x17, 0x01}));
  CAF_CHECK(rejects<connack>(wire, v5, malformed));
}

CAF_TEST(session expiry interval in publish) {
  auto wire = publish_props(make_bytes({0x11, 0x00, 0x00, 0x00, 0x01}));
  CAF_CHECK(rejects<publish>(wire, v5, malformed));
}

CAF_TEST(content type in puback) {
  auto wire = puback_props(make_bytes({0x03, 0x00, 0x01, 'c'}));
  CAF_CHECK(rejects<puback>(wire, v5, malformed));
}

CAF_TEST(subscription identifier in unsubscribe) {
  auto wire = unsubscribe_props(make_bytes({0x0B, 0x01}));
  CAF_CHECK(rejects<unsubscribe>(wire, v5, malformed));
}

CAF_TEST(payload format indicator in subscribe) {
  auto wire = subscribe_props(make_bytes({0x01, 0x01}));
  CAF_CHECK(rejects<subscribe>(wire, v5, malformed));
}

CAF_TEST(subscription identifier in suback) {
  auto wire = suback_props(make_bytes({0x0B, 0x01}));
  CAF_CHECK(rejects<suback>(wire, v5, malformed));
}

CAF_TEST(assigned client identifier in disconnect) {
  auto wire = disconnect_props(make_bytes({0x12, 0x00, 0x01, 'a'}));
  CAF_CHECK(rejects<disconnect>(wire, v5, malformed));
}

CAF_TEST(topic alias in auth) {
  auto wire = auth_props(make_bytes({0x15, 0x00, 0x01, 'm', 0x23, 0x00, 0x01}));
  CAF_CHECK(rejects<auth>(wire, v5, malformed));
}

// -- unknown identifiers (§2.2.2.2 -> Malformed) ------------------------------

CAF_TEST(unknown property identifiers) {
  for (uint8_t id : {0x00, 0x04, 0x0A, 0x10, 0x1B, 0x20, 0x2B, 0x7F}) {
    CAF_MESSAGE("identifier " << int{id});
    auto wire = publish_props(make_bytes({id, 0x00}));
    CAF_CHECK(rejects<publish>(wire, v5, malformed));
  }
}

CAF_TEST(multi byte property identifier) {
  // The identifier is a variable byte integer (§2.2.2.2); 0x80 0x01 = 128,
  // which is not a property.
  auto wire = publish_props(make_bytes({0x80, 0x01, 0x00}));
  CAF_CHECK(rejects<publish>(wire, v5, malformed));
}

// -- lengths (§2.2.2.1) -> Malformed -----------------------------------------

CAF_TEST(property length past the end of the packet) {
  auto wire = make_bytes({
    0x40, 0x07,             // PUBACK, remaining length 7
    0x00, 0x01,             // packet id
    0x00,                   // reason code
    0x0A,                   // property length 10, but 3 bytes follow
    0x1F, 0x00, 0x00,       // reason string ""
  });
  CAF_CHECK(rejects<puback>(wire, v5, malformed));
}

CAF_TEST(property length past the end of the will properties) {
  auto wire = make_bytes({
    0x10, 0x11,             // CONNECT, remaining length 17
    0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, // "MQTT" v5
    0x06,                   // will + clean start
    0x00, 0x3C,             // keep alive
    0x00,                   // property length 0
    0x00, 0x01, 'c',        // client id "c"
    0x7F,                   // will property length 127: past the end
    0x01, 0x01,             // payload format indicator 1
  });
  CAF_CHECK(rejects<connect>(wire, v5, malformed));
}

CAF_TEST(property value crossing the end of the property block) {
  // The block says 3 bytes, the four byte integer needs 5.
  auto wire = make_bytes({
    0x30, 0x0B,             // PUBLISH, remaining length 11
    0x00, 0x01, 't',        // topic "t"
    0x03,                   // property length 3
    0x02, 0x00, 0x00, 0x00, 0x3C, // message expiry interval (5 bytes)
    'x', 'y',               // payload
  });
  CAF_CHECK(rejects<publish>(wire, v5, malformed));
}

CAF_TEST(string property crossing the end of the property block) {
  auto wire = make_bytes({
    0x30, 0x0A,             // PUBLISH, remaining length 10
    0x00, 0x01, 't',        // topic "t"
    0x04,                   // property length 4
    0x03, 0x00, 0x03, 'a',  // content type, length 3: 'a' + 2 payload bytes
    'b', 'c',               // payload
  });
  CAF_CHECK(rejects<publish>(wire, v5, malformed));
}

CAF_TEST(property identifier without value) {
  auto wire = publish_props(make_bytes({0x23})); // topic alias, no 2 bytes
  CAF_CHECK(rejects<publish>(wire, v5, malformed));
}

// -- invalid values -----------------------------------------------------------

CAF_TEST(receive maximum 0) {
  // §3.1.2.11.3 / §3.2.2.3.3: "It is a Protocol Error ... for it to have the
  // value 0."
  CAF_CHECK(rejects<connect>(connect_props(make_bytes({0x21, 0x00, 0x00})), v5,
                             protocol_error));
  CAF_CHECK(rejects<connack>(connack_props(make_bytes({0x21, 0x00, 0x00})), v5,
                             protocol_error));
}

CAF_TEST(maximum packet size 0) {
  // §3.1.2.11.4 / §3.2.2.3.6: "It is a Protocol Error ... for the value to
  // be set to zero."
  CAF_CHECK(rejects<connect>(connect_props(make_bytes({0x27, 0x00, 0x00, 0x00,
                                                       0x00})),
                             v5, protocol_error));
  CAF_CHECK(rejects<connack>(connack_props(make_bytes({0x27, 0x00, 0x00, 0x00,
                                                       0x00})),
                             v5, protocol_error));
}

CAF_TEST(payload format indicator 2) {
  // §3.3.2.3.2 / §3.1.3.2.3 define only 0 and 1. The value parses as a
  // byte, so not Malformed (§2.2.2.2 speaks of the data *type*); a value
  // outside the defined ones is data not allowed: Protocol Error.
  CAF_CHECK(rejects<publish>(publish_props(make_bytes({0x01, 0x02})), v5,
                             protocol_error));
  CAF_CHECK(rejects<connect>(will_props(make_bytes({0x01, 0x02})), v5,
                             protocol_error));
}

CAF_TEST(request problem information 2) {
  // §3.1.2.11.7: "... a value other than 0 or 1" is a Protocol Error.
  CAF_CHECK(rejects<connect>(connect_props(make_bytes({0x17, 0x02})), v5,
                             protocol_error));
}

CAF_TEST(request response information 2) {
  // §3.1.2.11.6: "... a value other than 0 or 1" is a Protocol Error.
  CAF_CHECK(rejects<connect>(connect_props(make_bytes({0x19, 0x02})), v5,
                             protocol_error));
}

CAF_TEST(maximum qos 2) {
  // §3.2.2.3.4: "... a value other than 0 or 1" is a Protocol Error.
  CAF_CHECK(rejects<connack>(connack_props(make_bytes({0x24, 0x02})), v5,
                             protocol_error));
}

CAF_TEST(retain available 2) {
  // §3.2.2.3.5
  CAF_CHECK(rejects<connack>(connack_props(make_bytes({0x25, 0x02})), v5,
                             protocol_error));
}

CAF_TEST(wildcard subscription available 2) {
  // §3.2.2.3.11
  CAF_CHECK(rejects<connack>(connack_props(make_bytes({0x28, 0x02})), v5,
                             protocol_error));
}

CAF_TEST(subscription identifiers available 2) {
  // §3.2.2.3.12
  CAF_CHECK(rejects<connack>(connack_props(make_bytes({0x29, 0x02})), v5,
                             protocol_error));
}

CAF_TEST(shared subscription available 2) {
  // §3.2.2.3.13
  CAF_CHECK(rejects<connack>(connack_props(make_bytes({0x2A, 0x02})), v5,
                             protocol_error));
}

CAF_TEST(subscription identifier 0 in subscribe) {
  // §3.8.2.1.2: "It is a Protocol Error if the Subscription Identifier has
  // a value of 0."
  CAF_CHECK(rejects<subscribe>(subscribe_props(make_bytes({0x0B, 0x00})), v5,
                               protocol_error));
}

CAF_TEST(subscription identifier 0 in publish) {
  // §3.3.2.3.8: the value 1..268,435,455; 0 is a Protocol Error.
  CAF_CHECK(rejects<publish>(publish_props(make_bytes({0x0B, 0x00})), v5,
                             protocol_error));
}

CAF_TEST(topic alias 0) {
  // §3.3.2.3.4 [MQTT-3.3.2-8]: "A Topic Alias of 0 is not permitted." 0x94
  // Topic Alias invalid is defined for an alias above the maximum
  // (§3.14.2.1), not for 0; the packet parses: Protocol Error.
  CAF_CHECK(rejects<publish>(publish_props(make_bytes({0x23, 0x00, 0x00})), v5,
                             protocol_error));
}

CAF_TEST(invalid utf8 in a string property) {
  // [MQTT-1.5.4-1]
  CAF_CHECK(rejects<publish>(publish_props(make_bytes({0x03, 0x00, 0x02, 0xC0,
                                                       0x80})),
                             v5, malformed));
  CAF_CHECK(rejects<puback>(puback_props(make_bytes({0x1F, 0x00, 0x01, 0x00})),
                            v5, malformed)); // U+0000 in reason string
}

CAF_TEST(response topic with wildcard) {
  // §3.3.2.3.5 [MQTT-3.3.2-14]: the Response Topic MUST NOT contain
  // wildcards. The spec names no code and 0x90 is about the Topic Name, not
  // this property; the packet parses, the value is not allowed: 0x82.
  CAF_CHECK(rejects<publish>(publish_props(make_bytes({0x08, 0x00, 0x03, 'a',
                                                       '/', '#'})),
                             v5, protocol_error));
}
