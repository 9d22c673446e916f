// Rejection tests for packet structure, one test per rule, each asserting the
// exact reason code and a non-empty message.
//
// How the reason code is chosen (MQTT 5.0 §1.2, §4.13): where the spec text
// names the error ("... is a Malformed Packet" / "... is a Protocol Error"),
// that is the code. Where it only states a MUST without naming the error,
// the definitions decide: a packet that "cannot be parsed according to this
// specification" is Malformed (0x81); one that parses but "contains data
// that is not allowed by the protocol" is a Protocol Error (0x82). 3.1.1 has
// no reason codes at all (every violation closes the connection), so for
// 3.1.1 the tests follow packet.hpp's documented mapping: 0x81 for every
// violation, except 0x84 (protocol name/level) and AUTH (0x82).
#define CAF_SUITE protocol_reject_packets
#include <caf/test/unit_test.hpp>

#include "codec_check.hpp"

#include "amq/protocol/topic.hpp"

using namespace amq::protocol;
using namespace amq::test;
using namespace std::literals;

namespace {

constexpr auto malformed = reason_code::malformed_packet;
constexpr auto protocol_error = reason_code::protocol_error;

/// Generic decode of `wire` fails with `rc` (for packets whose type is the
/// point of the test).
bool generic_rejects(const bytes& wire, protocol_version v, reason_code rc) {
  auto f = split_frame(wire);
  if (!f) {
    CAF_TEST_PRINT_ERROR("test bytes are not one packet");
    return false;
  }
  auto res = decode(*f, v);
  if (res) {
    CAF_TEST_PRINT_ERROR("accepted: " << to_string(*res));
    return false;
  }
  return is_error(res.error(), rc, "decode");
}

/// CONNECT (5.0 unless level says otherwise) with the given flags byte and a
/// payload the flags describe: client id "c", then will props/topic/payload,
/// user name, password as flagged.
bytes connect_with_flags(uint8_t level, uint8_t flags) {
  bytes body = make_bytes({0x00, 0x04, 'M', 'Q', 'T', 'T', level, flags,
                           0x00, 0x3C});
  if (level == 5)
    body.push_back(0x00); // property length 0
  append(body, "\x00\x01"
               "c"sv); // client id "c"
  if (flags & 0x04) {
    if (level == 5)
      body.push_back(0x00); // will property length 0
    append(body, "\x00\x01w\x00\x01p"sv); // will topic "w", payload "p"
  }
  if (flags & 0x80)
    append(body, "\x00\x01u"sv); // user name "u"
  if (flags & 0x40)
    append(body, "\x00\x01s"sv); // password "s"
  bytes wire;
  wire.reserve(body.size() + 2);
  wire.push_back(0x10);
  wire.push_back(static_cast<uint8_t>(body.size()));
  wire.insert(wire.end(), body.begin(), body.end());
  return wire;
}

} // namespace

// -- reserved fixed header flags (§2.1.3; 3.1.1 §2.2.2 [MQTT-2.2.2-2]) ------------

// 5.0 §2.1.3: "If invalid flags are received it is a Malformed Packet."
// Each packet type below is valid except for one flag bit.

CAF_TEST(reserved flags in connect) {
  CAF_CHECK(rejects<connect>(make_bytes({0x11, // CONNECT, flags 0001
                                         0x0C, 0x00, 0x04, 'M', 'Q', 'T', 'T',
                                         0x04, 0x02, 0x00, 0x3C, 0x00, 0x00}),
                             v311, malformed));
}

CAF_TEST(reserved flags in connack) {
  auto wire = make_bytes({0x28, 0x02, 0x00, 0x00}); // CONNACK flags 1000
  CAF_CHECK(rejects<connack>(wire, v311, malformed));
  CAF_CHECK(rejects<connack>(make_bytes({0x21, 0x03, 0x00, 0x00, 0x00}), v5,
                             malformed));
}

CAF_TEST(reserved flags in puback) {
  CAF_CHECK(rejects<puback>(make_bytes({0x42, 0x02, 0x00, 0x01}), v311,
                            malformed));
  CAF_CHECK(rejects<puback>(make_bytes({0x41, 0x02, 0x00, 0x01}), v5,
                            malformed));
}

CAF_TEST(reserved flags in pubrec) {
  CAF_CHECK(rejects<pubrec>(make_bytes({0x52, 0x02, 0x00, 0x01}), v311,
                            malformed));
  CAF_CHECK(rejects<pubrec>(make_bytes({0x58, 0x02, 0x00, 0x01}), v5,
                            malformed));
}

CAF_TEST(reserved flags in pubrel must be 0010) {
  // §3.6.1 [MQTT-3.6.1-1]
  CAF_CHECK(rejects<pubrel>(make_bytes({0x60, 0x02, 0x00, 0x01}), v311,
                            malformed));
  CAF_CHECK(rejects<pubrel>(make_bytes({0x63, 0x02, 0x00, 0x01}), v5,
                            malformed));
}

CAF_TEST(reserved flags in pubcomp) {
  CAF_CHECK(rejects<pubcomp>(make_bytes({0x72, 0x02, 0x00, 0x01}), v311,
                             malformed));
  CAF_CHECK(rejects<pubcomp>(make_bytes({0x74, 0x02, 0x00, 0x01}), v5,
                             malformed));
}

CAF_TEST(reserved flags in subscribe must be 0010) {
  // §3.8.1 [MQTT-3.8.1-1]
  auto v3 = make_bytes({0x80, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x00});
  CAF_CHECK(rejects<subscribe>(v3, v311, malformed));
  auto v5w = make_bytes({0x83, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 'a', 0x00});
  CAF_CHECK(rejects<subscribe>(v5w, v5, malformed));
}

CAF_TEST(reserved flags in suback) {
  CAF_CHECK(rejects<suback>(make_bytes({0x92, 0x03, 0x00, 0x01, 0x00}), v311,
                            malformed));
  CAF_CHECK(rejects<suback>(make_bytes({0x91, 0x04, 0x00, 0x01, 0x00, 0x00}),
                            v5, malformed));
}

CAF_TEST(reserved flags in unsubscribe must be 0010) {
  // §3.10.1 [MQTT-3.10.1-1]
  CAF_CHECK(rejects<unsubscribe>(make_bytes({0xA0, 0x05, 0x00, 0x01, 0x00,
                                             0x01, 'a'}),
                                 v311, malformed));
  CAF_CHECK(rejects<unsubscribe>(make_bytes({0xA6, 0x06, 0x00, 0x01, 0x00,
                                             0x00, 0x01, 'a'}),
                                 v5, malformed));
}

CAF_TEST(reserved flags in unsuback) {
  CAF_CHECK(rejects<unsuback>(make_bytes({0xB2, 0x02, 0x00, 0x01}), v311,
                              malformed));
  CAF_CHECK(rejects<unsuback>(make_bytes({0xB1, 0x04, 0x00, 0x01, 0x00,
                                          0x00}),
                              v5, malformed));
}

CAF_TEST(reserved flags in pingreq) {
  CAF_CHECK(rejects<pingreq>(make_bytes({0xC1, 0x00}), v311, malformed));
  CAF_CHECK(rejects<pingreq>(make_bytes({0xC8, 0x00}), v5, malformed));
}

CAF_TEST(reserved flags in pingresp) {
  CAF_CHECK(rejects<pingresp>(make_bytes({0xD2, 0x00}), v311, malformed));
  CAF_CHECK(rejects<pingresp>(make_bytes({0xD4, 0x00}), v5, malformed));
}

CAF_TEST(reserved flags in disconnect) {
  CAF_CHECK(rejects<disconnect>(make_bytes({0xE1, 0x00}), v311, malformed));
  CAF_CHECK(rejects<disconnect>(make_bytes({0xE2, 0x00}), v5, malformed));
}

CAF_TEST(reserved flags in auth) {
  CAF_CHECK(rejects<auth>(make_bytes({0xF1, 0x00}), v5, malformed));
  CAF_CHECK(rejects<auth>(make_bytes({0xF8, 0x00}), v5, malformed));
}

// -- PUBLISH fixed header (§3.3.1) --------------------------------------------

CAF_TEST(publish qos 3 is malformed) {
  // §3.3.1.2 [MQTT-3.3.1-4]: "... both QoS bits set to 1 it is a Malformed
  // Packet."
  auto v3 = make_bytes({0x36, 0x05, 0x00, 0x01, 't', 0x00, 0x01});
  CAF_CHECK(rejects<publish>(v3, v311, malformed));
  auto v5w = make_bytes({0x36, 0x06, 0x00, 0x01, 't', 0x00, 0x01, 0x00});
  CAF_CHECK(rejects<publish>(v5w, v5, malformed));
}

CAF_TEST(publish dup with qos 0 is malformed) {
  // [MQTT-3.3.1-2] DUP MUST be 0 for QoS 0: an invalid fixed header flag
  // combination, Malformed per §2.1.3 ("If invalid flags are received it is
  // a Malformed Packet"). Mosquitto answers the same.
  auto v3 = make_bytes({0x38, 0x04, 0x00, 0x01, 't', 'x'});
  CAF_CHECK(rejects<publish>(v3, v311, malformed));
  auto v5w = make_bytes({0x38, 0x05, 0x00, 0x01, 't', 0x00, 'x'});
  CAF_CHECK(rejects<publish>(v5w, v5, malformed));
}

// -- packet identifier 0 (§2.2.1 [MQTT-2.2.1-3]) -------------------------------

// A non-zero packet id is required; the packet parses, the value is not
// allowed: Protocol Error.

CAF_TEST(publish qos 1 with packet id 0) {
  auto wire = make_bytes({0x32, 0x06, 0x00, 0x01, 't', 0x00, 0x00, 0x00});
  CAF_CHECK(rejects<publish>(wire, v5, protocol_error));
  auto v3 = make_bytes({0x32, 0x05, 0x00, 0x01, 't', 0x00, 0x00});
  CAF_CHECK(rejects<publish>(v3, v311, malformed)); // 3.1.1: no codes
}

CAF_TEST(publish qos 2 with packet id 0) {
  auto wire = make_bytes({0x34, 0x06, 0x00, 0x01, 't', 0x00, 0x00, 0x00});
  CAF_CHECK(rejects<publish>(wire, v5, protocol_error));
}

CAF_TEST(subscribe with packet id 0) {
  auto wire = make_bytes({0x82, 0x07, 0x00, 0x00, 0x00, 0x00, 0x01, 'a',
                          0x00});
  CAF_CHECK(rejects<subscribe>(wire, v5, protocol_error));
  auto v3 = make_bytes({0x82, 0x06, 0x00, 0x00, 0x00, 0x01, 'a', 0x00});
  CAF_CHECK(rejects<subscribe>(v3, v311, malformed)); // 3.1.1: no codes
}

CAF_TEST(unsubscribe with packet id 0) {
  auto wire = make_bytes({0xA2, 0x06, 0x00, 0x00, 0x00, 0x00, 0x01, 'a'});
  CAF_CHECK(rejects<unsubscribe>(wire, v5, protocol_error));
}

// -- CONNECT (§3.1.2) ---------------------------------------------------------

CAF_TEST(connect with bad protocol name) {
  // 5.0 §3.1.2.1 [MQTT-3.1.2-1]: name MUST be "MQTT"; the server MAY answer
  // CONNACK 0x84 Unsupported Protocol Version (connect.hpp: decodes to
  // unsupported_protocol_version).
  auto wire = make_bytes({
    0x10, 0x0C,             // CONNECT, remaining length 12
    0x00, 0x04, 'M', 'Q', 'T', 'X', // protocol name "MQTX"
    0x04,                   // level 4
    0x02,                   // clean session
    0x00, 0x3C,             // keep alive
    0x00, 0x00,             // client id ""
  });
  CAF_CHECK(rejects<connect>(wire, v311, reason_code::unsupported_protocol_version));
}

CAF_TEST(connect mqtt 3.1 MQIsdp level 3 is unsupported) {
  auto wire = make_bytes({
    0x10, 0x0E,             // CONNECT, remaining length 14
    0x00, 0x06, 'M', 'Q', 'I', 's', 'd', 'p', // MQTT 3.1 protocol name
    0x03,                   // level 3
    0x02,                   // clean session
    0x00, 0x3C,             // keep alive
    0x00, 0x00,             // client id ""
  });
  CAF_CHECK(rejects<connect>(wire, v311, reason_code::unsupported_protocol_version));
}

CAF_TEST(connect with unknown protocol level) {
  // 5.0 §3.1.2.2 [MQTT-3.1.2-2]; 3.1.1 §3.1.2.2: return code 0x01.
  for (uint8_t level : {0, 3, 6, 0xFF}) {
    auto wire = make_bytes({0x10, 0x0C, 0x00, 0x04, 'M', 'Q', 'T', 'T', level,
                            0x02, 0x00, 0x3C, 0x00, 0x00});
    CAF_CHECK(rejects<connect>(wire, v311,
                               reason_code::unsupported_protocol_version));
  }
}

CAF_TEST(connect reserved flag bit 0 is malformed) {
  // 5.0 §3.1.2.3 [MQTT-3.1.2-3]: "If the reserved flag is not 0 it is a
  // Malformed Packet." 3.1.1 [MQTT-3.1.2-3]: disconnect.
  CAF_CHECK(rejects<connect>(connect_with_flags(5, 0x03), v5, malformed));
  CAF_CHECK(rejects<connect>(connect_with_flags(4, 0x03), v311, malformed));
}

CAF_TEST(connect will qos 3 is malformed) {
  // 5.0 §3.1.2.6: "A value of 3 (0x03) is a Malformed Packet."
  // 3.1.1 [MQTT-3.1.2-14]: will qos MUST NOT be 3.
  CAF_CHECK(rejects<connect>(connect_with_flags(5, 0x1C), v5, malformed));
  CAF_CHECK(rejects<connect>(connect_with_flags(4, 0x1E), v311, malformed));
}

CAF_TEST(connect will qos without will flag) {
  // [MQTT-3.1.2-11]: will flag 0 requires will qos 0. No error named; the
  // packet parses (no will fields follow): Protocol Error.
  CAF_CHECK(rejects<connect>(connect_with_flags(5, 0x0A), v5, protocol_error));
  CAF_CHECK(rejects<connect>(connect_with_flags(4, 0x12), v311, malformed));
}

CAF_TEST(connect will retain without will flag) {
  // [MQTT-3.1.2-13] (5.0), [MQTT-3.1.2-15] (3.1.1): Protocol Error.
  CAF_CHECK(rejects<connect>(connect_with_flags(5, 0x22), v5, protocol_error));
  CAF_CHECK(rejects<connect>(connect_with_flags(4, 0x22), v311, malformed));
}

CAF_TEST(connect will flag without will topic is malformed) {
  // Will flag set but the packet ends after the client id.
  auto wire = make_bytes({
    0x10, 0x0D,             // CONNECT, remaining length 13
    0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, // "MQTT" level 4
    0x06,                   // will flag + clean session
    0x00, 0x3C,             // keep alive
    0x00, 0x01, 'c',        // client id "c" -- no will topic / message
  });
  CAF_CHECK(rejects<connect>(wire, v311, malformed));
}

CAF_TEST(connect password without user name in 3.1.1) {
  // 3.1.1 [MQTT-3.1.2-22]: user name flag 0 requires password flag 0.
  // Allowed in 5.0 (golden_v5 covers it).
  CAF_CHECK(rejects<connect>(connect_with_flags(4, 0x42), v311, malformed));
  CAF_CHECK(accepts<connect>(connect_with_flags(5, 0x42), v5));
}

CAF_TEST(connect user name flag without user name is malformed) {
  auto wire = make_bytes({
    0x10, 0x0D,             // CONNECT, remaining length 13
    0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, // "MQTT" level 4
    0x82,                   // user name flag + clean session
    0x00, 0x3C,             // keep alive
    0x00, 0x01, 'c',        // client id "c" -- user name missing
  });
  CAF_CHECK(rejects<connect>(wire, v311, malformed));
}

CAF_TEST(connect empty client id without clean session in 3.1.1) {
  // 3.1.1 [MQTT-3.1.3-8]: CONNACK return code 0x02 Identifier rejected,
  // i.e. 0x85 Client Identifier not valid. (Allowed in 5.0.)
  auto wire = make_bytes({
    0x10, 0x0C,             // CONNECT, remaining length 12
    0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, // "MQTT" level 4
    0x00,                   // flags: clean session 0
    0x00, 0x3C,             // keep alive
    0x00, 0x00,             // client id ""
  });
  CAF_CHECK(rejects<connect>(wire, v311,
                             reason_code::client_identifier_not_valid));
}

CAF_TEST(connect with trailing bytes is malformed) {
  auto wire = connect_with_flags(4, 0x02);
  wire.push_back(0x00); // one byte after the client id
  wire[1] += 1;
  CAF_CHECK(rejects<connect>(wire, v311, malformed));
  auto w5 = connect_with_flags(5, 0xC2); // user name + password
  w5.push_back('!');
  w5[1] += 1;
  CAF_CHECK(rejects<connect>(w5, v5, malformed));
}

// -- trailing bytes after the last field --------------------------------------

CAF_TEST(pingreq with a body is malformed) {
  CAF_CHECK(rejects<pingreq>(make_bytes({0xC0, 0x01, 0x00}), v311, malformed));
}

CAF_TEST(pingresp with a body is malformed) {
  CAF_CHECK(rejects<pingresp>(make_bytes({0xD0, 0x01, 0x00}), v5, malformed));
}

CAF_TEST(disconnect with a body in 3.1.1 is malformed) {
  CAF_CHECK(rejects<disconnect>(make_bytes({0xE0, 0x01, 0x00}), v311,
                                malformed));
}

CAF_TEST(connack with three bytes in 3.1.1 is malformed) {
  CAF_CHECK(rejects<connack>(make_bytes({0x20, 0x03, 0x00, 0x00, 0x00}), v311,
                             malformed));
}

CAF_TEST(puback with three bytes in 3.1.1 is malformed) {
  CAF_CHECK(rejects<puback>(make_bytes({0x40, 0x03, 0x00, 0x01, 0x00}), v311,
                            malformed));
}

CAF_TEST(unsuback with a payload in 3.1.1 is malformed) {
  CAF_CHECK(rejects<unsuback>(make_bytes({0xB0, 0x03, 0x00, 0x01, 0x00}),
                              v311, malformed));
}

CAF_TEST(puback with bytes after its properties is malformed) {
  auto wire = make_bytes({
    0x40, 0x06,             // PUBACK, remaining length 6
    0x00, 0x01,             // packet id
    0x00,                   // reason code
    0x00,                   // property length 0
    0xAA, 0xBB,             // two extra bytes
  });
  CAF_CHECK(rejects<puback>(wire, v5, malformed));
}

CAF_TEST(disconnect with bytes after its properties is malformed) {
  auto wire = make_bytes({0xE0, 0x03, 0x00, 0x00, 0x00}); // rc, plen 0, extra
  CAF_CHECK(rejects<disconnect>(wire, v5, malformed));
}

CAF_TEST(connack with bytes after its properties is malformed) {
  auto wire = make_bytes({0x20, 0x04, 0x00, 0x00, 0x00, 0x00});
  CAF_CHECK(rejects<connack>(wire, v5, malformed));
}

// -- remaining length smaller than the fields ---------------------------------

CAF_TEST(puback remaining length 1 is malformed) {
  CAF_CHECK(rejects<puback>(make_bytes({0x40, 0x01, 0x00}), v311, malformed));
  CAF_CHECK(rejects<puback>(make_bytes({0x40, 0x01, 0x00}), v5, malformed));
}

CAF_TEST(pubrel remaining length 0 is malformed) {
  CAF_CHECK(rejects<pubrel>(make_bytes({0x62, 0x00}), v5, malformed));
}

CAF_TEST(connack remaining length 1 is malformed) {
  CAF_CHECK(rejects<connack>(make_bytes({0x20, 0x01, 0x00}), v311, malformed));
  CAF_CHECK(rejects<connack>(make_bytes({0x20, 0x01, 0x00}), v5, malformed));
}

CAF_TEST(connack 5.0 without property length is malformed) {
  // 5.0 CONNACK always has a property length (§3.2.2.3).
  CAF_CHECK(rejects<connack>(make_bytes({0x20, 0x02, 0x00, 0x00}), v5,
                             malformed));
}

CAF_TEST(publish qos 1 without packet id is malformed) {
  // Topic ends exactly at the end of the packet: the packet id is missing.
  CAF_CHECK(rejects<publish>(make_bytes({0x32, 0x03, 0x00, 0x01, 't'}), v311,
                             malformed));
}

CAF_TEST(publish 5.0 without property length is malformed) {
  CAF_CHECK(rejects<publish>(make_bytes({0x30, 0x03, 0x00, 0x01, 't'}), v5,
                             malformed));
}

CAF_TEST(publish remaining length 1 is malformed) {
  CAF_CHECK(rejects<publish>(make_bytes({0x30, 0x01, 0x00}), v311, malformed));
}

CAF_TEST(subscribe filter without options byte is malformed) {
  auto wire = make_bytes({0x82, 0x05, 0x00, 0x01, 0x00, 0x01, 'a'});
  CAF_CHECK(rejects<subscribe>(wire, v311, malformed));
}

CAF_TEST(unsubscribe remaining length 1 is malformed) {
  CAF_CHECK(rejects<unsubscribe>(make_bytes({0xA2, 0x01, 0x00}), v311,
                                 malformed));
}

CAF_TEST(connect remaining length shorter than the variable header) {
  auto wire = make_bytes({0x10, 0x07, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04});
  CAF_CHECK(rejects<connect>(wire, v311, malformed));
}

// -- SUBSCRIBE / UNSUBSCRIBE payload (§3.8.3, §3.10.3) ------------------------

CAF_TEST(subscribe without any filter) {
  // 5.0 §3.8.3 [MQTT-3.8.3-2]: "A SUBSCRIBE packet with no Payload is a
  // Protocol Error." 3.1.1 [MQTT-3.8.3-3]: "protocol violation".
  CAF_CHECK(rejects<subscribe>(make_bytes({0x82, 0x03, 0x00, 0x01, 0x00}), v5,
                               protocol_error));
  CAF_CHECK(rejects<subscribe>(make_bytes({0x82, 0x02, 0x00, 0x01}), v311,
                               malformed));
}

CAF_TEST(unsubscribe without any filter) {
  // 5.0 §3.10.3 [MQTT-3.10.3-2]: "An UNSUBSCRIBE packet with no Payload is
  // a Protocol Error." 3.1.1 [MQTT-3.10.3-2]: protocol violation.
  CAF_CHECK(rejects<unsubscribe>(make_bytes({0xA2, 0x03, 0x00, 0x01, 0x00}),
                                 v5, protocol_error));
  CAF_CHECK(rejects<unsubscribe>(make_bytes({0xA2, 0x02, 0x00, 0x01}), v311,
                                 malformed));
}

CAF_TEST(subscribe options reserved bits 6 and 7) {
  // 5.0 §3.8.3.1 [MQTT-3.8.3-5]: "The Server MUST treat a SUBSCRIBE packet as
  // malformed if any of Reserved bits in the Payload are non-zero."
  for (uint8_t opts : {0x40, 0x80, 0xC1}) {
    auto wire = make_bytes({0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 'a',
                            opts});
    CAF_CHECK(rejects<subscribe>(wire, v5, malformed));
  }
}

CAF_TEST(subscribe reserved bits 2 to 7 in 3.1.1) {
  // 3.1.1 [MQTT-3-8.3-4]: malformed if reserved bits are non-zero.
  for (uint8_t opts : {0x04, 0x08, 0x30, 0x80}) {
    auto wire = make_bytes({0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', opts});
    CAF_CHECK(rejects<subscribe>(wire, v311, malformed));
  }
}

CAF_TEST(subscribe qos 3 in 5.0 is a protocol error) {
  // 5.0 §3.8.3.1: "It is a Protocol Error if the Maximum QoS field has the
  // value 3."
  auto wire = make_bytes({0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 'a',
                          0x03});
  CAF_CHECK(rejects<subscribe>(wire, v5, protocol_error));
}

CAF_TEST(subscribe qos 3 in 3.1.1 is malformed) {
  // 3.1.1 [MQTT-3-8.3-4]: "... malformed ... or QoS is not 0, 1 or 2".
  auto wire = make_bytes({0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x03});
  CAF_CHECK(rejects<subscribe>(wire, v311, malformed));
}

CAF_TEST(subscribe retain handling 3 is a protocol error) {
  // 5.0 §3.8.3.1: "It is a Protocol Error to send a Retain Handling value
  // of 3."
  auto wire = make_bytes({0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 'a',
                          0x30});
  CAF_CHECK(rejects<subscribe>(wire, v5, protocol_error));
}

CAF_TEST(subscribe no local on a shared subscription is a protocol error) {
  // 5.0 §3.8.3.1 [MQTT-3.8.3-4]: "It is a Protocol Error to set the No Local
  // bit to 1 on a Shared Subscription."
  auto wire = make_bytes({
    0x82, 0x10,             // SUBSCRIBE, remaining length 16
    0x00, 0x01,             // packet id
    0x00,                   // property length 0
    0x00, 0x0A,             // filter length 10
    '$', 's', 'h', 'a', 'r', 'e', '/', 'g', '/', 'a', // "$share/g/a"
    0x04,                   // options: no local
  });
  CAF_CHECK(rejects<subscribe>(wire, v5, protocol_error));
}

// subscribe.hpp: a well-formed UTF-8 filter with bad wildcard syntax is not a
// decode error; the broker answers that filter alone with SUBACK 0x8F (5.0,
// §3.9.3) / 0x80 (3.1.1) after `validate_topic_filter` (topic.cpp tests it).
// An empty filter is a decode error.

CAF_TEST(subscribe with an invalid topic filter decodes for a per filter suback) {
  // §4.7.1.2 [MQTT-4.7.1-1]: '#' must be the last character.
  auto wire = make_bytes({0x82, 0x0B, 0x00, 0x01, 0x00, 0x00, 0x05, 'a', '/',
                          '#', '/', 'b', 0x00});
  CAF_CHECK(accepts<subscribe>(wire, v5));
  CAF_CHECK(validate_topic_filter("a/#/b").has_value());
}

CAF_TEST(subscribe with an empty topic filter) {
  // §4.7.3 [MQTT-4.7.3-1]: at least one character.
  auto wire = make_bytes({0x82, 0x05, 0x00, 0x01, 0x00, 0x00, 0x00});
  CAF_CHECK(rejects<subscribe>(wire, v311, malformed));
}

CAF_TEST(unsubscribe with an invalid topic filter decodes) {
  // §4.7.1.3 [MQTT-4.7.1-2]: '+' must occupy a whole level; UNSUBACK 0x8F.
  auto wire = make_bytes({0xA2, 0x06, 0x00, 0x01, 0x00, 0x02, 'a', '+'});
  CAF_CHECK(accepts<unsubscribe>(wire, v311));
}

CAF_TEST(unsubscribe with an empty topic filter) {
  // §4.7.3 [MQTT-4.7.3-1]
  auto wire = make_bytes({0xA2, 0x05, 0x00, 0x01, 0x00, 0x00, 0x00});
  CAF_CHECK(rejects<unsubscribe>(wire, v5, malformed));
}

// -- PUBLISH topic (§3.3.2.1, §3.3.2.3.4) -------------------------------------

CAF_TEST(publish topic with wildcard) {
  // [MQTT-3.3.2-2]: the topic name MUST NOT contain wildcards. The spec
  // names no code; 0x90 Topic Name invalid (as EMQX and HiveMQ send), as
  // documented in publish.hpp. 3.1.1: 0x81 (no codes).
  auto plus = make_bytes({0x30, 0x06, 0x00, 0x03, 'a', '/', '+', 0x00});
  CAF_CHECK(rejects<publish>(plus, v5, reason_code::topic_name_invalid));
  auto hash = make_bytes({0x30, 0x05, 0x00, 0x03, 'a', '/', '#'});
  CAF_CHECK(rejects<publish>(hash, v311, malformed));
  auto inner = make_bytes({0x30, 0x05, 0x00, 0x03, 'a', '+', 'b'});
  CAF_CHECK(rejects<publish>(inner, v311, malformed));
}

CAF_TEST(publish empty topic without topic alias) {
  // 5.0 §3.3.2.3.4: "It is a Protocol Error if the Topic Name is zero length
  // and there is no Topic Alias."
  auto wire = make_bytes({0x30, 0x04, 0x00, 0x00, 0x00, 'x'});
  CAF_CHECK(rejects<publish>(wire, v5, protocol_error));
}

// -- packet types that do not exist in a version ------------------------------

CAF_TEST(auth in 3.1.1 is a protocol error) {
  // Type 15 is reserved in 3.1.1 (§2.2.1); packet.hpp: 0x82.
  auto wire = make_bytes({0xF0, 0x00});
  CAF_CHECK(rejects<auth>(wire, v311, protocol_error));
}

CAF_TEST(reserved packet type 0 is rejected) {
  // §2.1.2: type 0 is "Reserved, Forbidden"; no packet layout exists for
  // it, so it cannot be parsed: Malformed. (AUTH in 3.1.1 is 0x82 by
  // packet.hpp's contract, see above.)
  CAF_CHECK(generic_rejects(make_bytes({0x00, 0x00}), v5, malformed));
  CAF_CHECK(generic_rejects(make_bytes({0x00, 0x00}), v311, malformed));
}

// -- reason codes not valid for the packet (§2.4 table 2-6) -------------------

// Each packet lists its allowed reason codes ("MUST use one of the ... Reason
// Codes"). A value outside the list parses but is not allowed: 0x82.

CAF_TEST(connack with a reason code not valid for connack) {
  // 0x04 is a DISCONNECT code; 0x10 a PUBACK code.
  CAF_CHECK(rejects<connack>(make_bytes({0x20, 0x03, 0x00, 0x04, 0x00}), v5,
                             protocol_error));
  CAF_CHECK(rejects<connack>(make_bytes({0x20, 0x03, 0x00, 0x10, 0x00}), v5,
                             protocol_error));
}

CAF_TEST(connack return code above 5 in 3.1.1) {
  // 3.1.1 §3.2.2.3: 6-255 reserved.
  CAF_CHECK(rejects<connack>(make_bytes({0x20, 0x02, 0x00, 0x06}), v311,
                             malformed));
}

CAF_TEST(connack reserved acknowledge flags) {
  // §3.2.2.1: bits 7-1 of the acknowledge flags are reserved, MUST be 0;
  // like the reserved bit of CONNECT's flags, a violation is Malformed.
  CAF_CHECK(rejects<connack>(make_bytes({0x20, 0x02, 0x02, 0x00}), v311,
                             malformed));
  CAF_CHECK(rejects<connack>(make_bytes({0x20, 0x03, 0x80, 0x00, 0x00}), v5,
                             malformed));
}

CAF_TEST(puback with a reason code not valid for puback) {
  // PUBACK allows 00 10 80 83 87 90 91 97 99.
  CAF_CHECK(rejects<puback>(make_bytes({0x40, 0x03, 0x00, 0x01, 0x8F}), v5,
                            protocol_error));
  CAF_CHECK(rejects<puback>(make_bytes({0x40, 0x03, 0x00, 0x01, 0x01}), v5,
                            protocol_error));
}

CAF_TEST(pubrec with a reason code not valid for pubrec) {
  CAF_CHECK(rejects<pubrec>(make_bytes({0x50, 0x03, 0x00, 0x01, 0x92}), v5,
                            protocol_error));
}

CAF_TEST(pubrel with a reason code not valid for pubrel) {
  // PUBREL allows 00 92 only.
  CAF_CHECK(rejects<pubrel>(make_bytes({0x62, 0x03, 0x00, 0x01, 0x10}), v5,
                            protocol_error));
  CAF_CHECK(rejects<pubrel>(make_bytes({0x62, 0x03, 0x00, 0x01, 0x80}), v5,
                            protocol_error));
}

CAF_TEST(pubcomp with a reason code not valid for pubcomp) {
  // PUBCOMP allows 00 92 only.
  CAF_CHECK(rejects<pubcomp>(make_bytes({0x70, 0x03, 0x00, 0x01, 0x87}), v5,
                             protocol_error));
}

CAF_TEST(suback with a reason code not valid for suback) {
  CAF_CHECK(rejects<suback>(make_bytes({0x90, 0x04, 0x00, 0x01, 0x00, 0x03}),
                            v5, protocol_error));
  CAF_CHECK(rejects<suback>(make_bytes({0x90, 0x04, 0x00, 0x01, 0x00, 0x11}),
                            v5, protocol_error));
}

CAF_TEST(suback return code not valid in 3.1.1) {
  // 3.1.1 [MQTT-3.9.3-2]: only 0x00, 0x01, 0x02, 0x80.
  CAF_CHECK(rejects<suback>(make_bytes({0x90, 0x03, 0x00, 0x01, 0x87}), v311,
                            malformed));
  CAF_CHECK(rejects<suback>(make_bytes({0x90, 0x03, 0x00, 0x01, 0x03}), v311,
                            malformed));
}

CAF_TEST(unsuback with a reason code not valid for unsuback) {
  CAF_CHECK(rejects<unsuback>(make_bytes({0xB0, 0x04, 0x00, 0x01, 0x00,
                                          0x02}),
                              v5, protocol_error));
}

CAF_TEST(disconnect with a reason code not valid for disconnect) {
  // 0x01 is a SUBACK code, 0x84 a CONNACK code.
  CAF_CHECK(rejects<disconnect>(make_bytes({0xE0, 0x01, 0x01}), v5,
                                protocol_error));
  CAF_CHECK(rejects<disconnect>(make_bytes({0xE0, 0x01, 0x84}), v5,
                                protocol_error));
}

CAF_TEST(auth with remaining length 1 is malformed) {
  // §3.15.2.1 allows omitting reason code *and* property length (remaining
  // length 0) only; unlike DISCONNECT (§3.14.2.2) there is no "remaining
  // length < 2 means property length 0" rule for AUTH.
  CAF_CHECK(rejects<auth>(make_bytes({0xF0, 0x01, 0x18}), v5, malformed));
}

CAF_TEST(auth with a reason code not valid for auth) {
  // AUTH allows 00 18 19 only.
  CAF_CHECK(rejects<auth>(make_bytes({0xF0, 0x02, 0x87, 0x00}), v5,
                          protocol_error));
}
