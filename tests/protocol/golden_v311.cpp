// Golden bytes for every MQTT 3.1.1 control packet, written by hand from the
// MQTT 3.1.1 specification (OASIS Standard, 29 October 2014), one comment per
// field. Each test decodes the bytes to exactly the expected struct and
// encodes the struct to exactly the bytes.
#define CAF_SUITE protocol_golden_v311
#include <caf/test/unit_test.hpp>

#include "codec_check.hpp"

using namespace amq::protocol;
using namespace amq::test;
using namespace std::literals;

// -- CONNECT (§3.1) -----------------------------------------------------------

CAF_TEST(connect minimal with clean session) {
  auto wire = make_bytes({
    0x10,                   // CONNECT, flags 0 (§3.1.1)
    0x0F,                   // remaining length 15
    0x00, 0x04,             // protocol name length 4
    'M', 'Q', 'T', 'T',     // protocol name "MQTT"
    0x04,                   // protocol level 4 = 3.1.1
    0x02,                   // connect flags: clean session
    0x00, 0x3C,             // keep alive 60 s
    0x00, 0x03,             // client id length 3
    'a', 'b', 'c',          // client id "abc"
  });
  connect expected;
  expected.version = protocol_version::v311;
  expected.clean_start = true;
  expected.keep_alive = 60;
  expected.client_id = "abc";
  CAF_CHECK(golden(wire, expected, v311));
}

CAF_TEST(connect with will retain qos 1 username and binary password) {
  auto wire = make_bytes({
    0x10,                   // CONNECT, flags 0
    0x1F,                   // remaining length 31
    0x00, 0x04,             // protocol name length 4
    'M', 'Q', 'T', 'T',     // "MQTT"
    0x04,                   // protocol level 4
    0xEC,                   // flags: username(7) password(6) will retain(5)
                            //        will qos 1(4-3 = 01) will(2), clean 0
    0x01, 0x2C,             // keep alive 300 s
    0x00, 0x02,             // client id length 2
    'c', '1',               // client id "c1"
    0x00, 0x03,             // will topic length 3
    'w', '/', 't',          // will topic "w/t"
    0x00, 0x03,             // will message length 3
    0x00, 0xFF, 0x01,       // will message, binary
    0x00, 0x01,             // user name length 1
    'u',                    // user name "u"
    0x00, 0x02,             // password length 2
    'p', 0x00,              // password "p\0", binary
  });
  connect expected;
  expected.version = protocol_version::v311;
  expected.clean_start = false;
  expected.keep_alive = 300;
  expected.client_id = "c1";
  will_message w;
  w.qos_level = qos::at_least_once;
  w.retain = true;
  w.topic = "w/t";
  w.payload = "\x00\xFF\x01"sv;
  expected.will = w;
  expected.username = "u";
  expected.password = "p\0"sv;
  CAF_CHECK(golden(wire, expected, v311));
}

CAF_TEST(connect with will qos 2 and empty client id) {
  // §3.1.3.1: a zero-byte client id is allowed with clean session 1.
  auto wire = make_bytes({
    0x10,                   // CONNECT
    0x11,                   // remaining length 17
    0x00, 0x04,             // protocol name length
    'M', 'Q', 'T', 'T',     // "MQTT"
    0x04,                   // level 4
    0x16,                   // flags: will qos 2(4-3 = 10) will(2) clean(1)
    0x00, 0x00,             // keep alive 0 (off)
    0x00, 0x00,             // client id length 0
    0x00, 0x01,             // will topic length 1
    't',                    // will topic "t"
    0x00, 0x00,             // will message length 0
  });
  connect expected;
  expected.version = protocol_version::v311;
  expected.clean_start = true;
  expected.keep_alive = 0;
  expected.client_id = "";
  will_message w;
  w.qos_level = qos::exactly_once;
  w.topic = "t";
  w.payload = "";
  expected.will = w;
  CAF_CHECK(golden(wire, expected, v311));
}

CAF_TEST(connect with username and no password) {
  auto wire = make_bytes({
    0x10,                   // CONNECT
    0x13,                   // remaining length 19
    0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name
    0x04,                   // level 4
    0x82,                   // flags: username(7), clean session(1)
    0xFF, 0xFF,             // keep alive 65535 s (maximum)
    0x00, 0x01, 'x',        // client id "x"
    0x00, 0x04,             // user name length 4
    'u', 's', 'e', 'r',     // user name "user"
  });
  connect expected;
  expected.version = protocol_version::v311;
  expected.clean_start = true;
  expected.keep_alive = 65535;
  expected.client_id = "x";
  expected.username = "user";
  CAF_CHECK(golden(wire, expected, v311));
}

// -- CONNACK (§3.2) -----------------------------------------------------------

CAF_TEST(connack accepted without session) {
  auto wire = make_bytes({
    0x20,                   // CONNACK, flags 0
    0x02,                   // remaining length 2
    0x00,                   // acknowledge flags: session present 0
    0x00,                   // return code 0: connection accepted
  });
  connack expected;
  expected.session_present = false;
  expected.code = reason_code::success;
  CAF_CHECK(golden(wire, expected, v311));
}

CAF_TEST(connack accepted with session present) {
  auto wire = make_bytes({
    0x20,                   // CONNACK
    0x02,                   // remaining length 2
    0x01,                   // acknowledge flags: session present 1
    0x00,                   // return code 0
  });
  connack expected;
  expected.session_present = true;
  CAF_CHECK(golden(wire, expected, v311));
}

CAF_TEST(connack return codes 1 to 5 map to reason codes) {
  // §3.2.2.3 table 3.1: return codes and the 5.0 reason codes they carry.
  struct row {
    uint8_t code;
    reason_code rc;
  };
  const row rows[] = {
    {0x01, reason_code::unsupported_protocol_version}, // unacceptable protocol version
    {0x02, reason_code::client_identifier_not_valid},  // identifier rejected
    {0x03, reason_code::server_unavailable},           // server unavailable
    {0x04, reason_code::bad_user_name_or_password},    // bad user name or password
    {0x05, reason_code::not_authorized},               // not authorized
  };
  for (auto& r : rows) {
    CAF_MESSAGE("return code " << int{r.code});
    auto wire = make_bytes({
      0x20,                 // CONNACK
      0x02,                 // remaining length 2
      0x00,                 // session present 0 (§3.2.2.2: 0 on refusal)
      r.code,               // return code
    });
    connack expected;
    expected.code = r.rc;
    CAF_CHECK(golden(wire, expected, v311));
    reason_code back = reason_code::success;
    CAF_CHECK(from_v311_connack(r.code, back));
    CAF_CHECK(back == r.rc);
    CAF_CHECK_EQUAL(int{to_v311_connack(r.rc)}, int{r.code});
  }
  reason_code ok = reason_code::unspecified_error;
  CAF_CHECK(from_v311_connack(0, ok));
  CAF_CHECK(ok == reason_code::success);
  CAF_CHECK_EQUAL(int{to_v311_connack(reason_code::success)}, 0);
}

CAF_TEST(connack 5.0 reason codes fold onto the six 3.1.1 return codes) {
  // types.hpp contract: server_unavailable/server_busy/... -> 3,
  // not_authorized/banned/... -> 5.
  CAF_CHECK_EQUAL(int{to_v311_connack(reason_code::server_busy)}, 3);
  CAF_CHECK_EQUAL(int{to_v311_connack(reason_code::banned)}, 5);
  reason_code out = reason_code::success;
  CAF_CHECK(!from_v311_connack(6, out));
  CAF_CHECK(!from_v311_connack(0xFF, out));
}

CAF_TEST(connack encodes a folded 5.0 reason code as its return code) {
  auto wire = make_bytes({
    0x20, 0x02,             // CONNACK, remaining length 2
    0x00,                   // session present 0
    0x03,                   // return code 3: server unavailable
  });
  connack busy;
  busy.code = reason_code::server_busy;
  busy.props.reason_string = "not written in 3.1.1";
  CAF_CHECK(encodes_to(busy, wire, v311));
}

// -- PUBLISH (§3.3) -----------------------------------------------------------

CAF_TEST(publish qos 0) {
  auto wire = make_bytes({
    0x30,                   // PUBLISH, dup 0, qos 0, retain 0
    0x07,                   // remaining length 7
    0x00, 0x03,             // topic name length 3
    'a', '/', 'b',          // topic name "a/b"
                            // (no packet id at qos 0, §3.3.2.2)
    'h', 'i',               // payload "hi"
  });
  publish expected;
  expected.topic = "a/b";
  expected.payload = "hi";
  CAF_CHECK(golden(wire, expected, v311));
}

CAF_TEST(publish qos 1 dup retain) {
  auto wire = make_bytes({
    0x3B,                   // PUBLISH, dup 1(3), qos 1(2-1 = 01), retain 1(0)
    0x0A,                   // remaining length 10
    0x00, 0x03,             // topic length 3
    'a', '/', 'b',          // "a/b"
    0x00, 0x0A,             // packet id 10
    'x', 'y', 'z',          // payload "xyz"
  });
  publish expected;
  expected.dup = true;
  expected.qos_level = qos::at_least_once;
  expected.retain = true;
  expected.topic = "a/b";
  expected.packet_id = 10;
  expected.payload = "xyz";
  CAF_CHECK(golden(wire, expected, v311));
}

CAF_TEST(publish qos 2 with empty payload) {
  auto wire = make_bytes({
    0x34,                   // PUBLISH, qos 2 (2-1 = 10)
    0x05,                   // remaining length 5
    0x00, 0x01,             // topic length 1
    't',                    // "t"
    0xFF, 0xFF,             // packet id 65535
                            // empty payload
  });
  publish expected;
  expected.qos_level = qos::exactly_once;
  expected.topic = "t";
  expected.packet_id = 65535;
  expected.payload = "";
  CAF_CHECK(golden(wire, expected, v311));
}

CAF_TEST(publish retained delete with zero length payload) {
  // §3.3.1.3: a retained PUBLISH with an empty payload clears the topic.
  auto wire = make_bytes({
    0x31,                   // PUBLISH, qos 0, retain 1
    0x05,                   // remaining length 5
    0x00, 0x03,             // topic length 3
    'a', '/', 'b',          // "a/b"
  });
  publish expected;
  expected.retain = true;
  expected.topic = "a/b";
  expected.payload = "";
  CAF_CHECK(golden(wire, expected, v311));
}

CAF_TEST(publish with two byte remaining length and binary payload) {
  // §2.2.3: 205 = 0xCD -> 0xCD 0x01 (low 7 bits first, continuation bit set).
  auto wire = make_bytes({
    0x30,                   // PUBLISH qos 0
    0xCD, 0x01,             // remaining length 205 = 77 + 1*128
    0x00, 0x03,             // topic length 3
    'b', 'i', 'g',          // "big"
  });
  std::string payload;
  for (int i = 0; i < 200; ++i)
    payload.push_back(static_cast<char>(i)); // includes 0x00 and 0x80+
  append(wire, payload);
  publish expected;
  expected.topic = "big";
  expected.payload = payload;
  CAF_CHECK(golden(wire, expected, v311));
}

CAF_TEST(publish with three byte remaining length) {
  // 16384 needs three bytes: 0x80 0x80 0x01.
  auto wire = make_bytes({
    0x30,                   // PUBLISH qos 0
    0x80, 0x80, 0x01,       // remaining length 16384
    0x00, 0x01,             // topic length 1
    'L',                    // "L"
  });
  std::string payload(16384 - 3, 'p');
  append(wire, payload);
  publish expected;
  expected.topic = "L";
  expected.payload = payload;
  CAF_CHECK(golden(wire, expected, v311));
}

// -- PUBACK / PUBREC / PUBREL / PUBCOMP (§3.4–§3.7) ---------------------------

CAF_TEST(puback) {
  auto wire = make_bytes({
    0x40,                   // PUBACK, flags 0
    0x02,                   // remaining length 2
    0x00, 0x01,             // packet id 1
  });
  puback expected;
  expected.packet_id = 1;
  CAF_CHECK(golden(wire, expected, v311));
}

CAF_TEST(pubrec) {
  auto wire = make_bytes({
    0x50,                   // PUBREC, flags 0
    0x02,                   // remaining length 2
    0x12, 0x34,             // packet id 0x1234
  });
  pubrec expected;
  expected.packet_id = 0x1234;
  CAF_CHECK(golden(wire, expected, v311));
}

CAF_TEST(pubrel) {
  auto wire = make_bytes({
    0x62,                   // PUBREL, flags 0010 (§3.6.1)
    0x02,                   // remaining length 2
    0x80, 0x01,             // packet id 32769
  });
  pubrel expected;
  expected.packet_id = 32769;
  CAF_CHECK(golden(wire, expected, v311));
}

CAF_TEST(pubcomp) {
  auto wire = make_bytes({
    0x70,                   // PUBCOMP, flags 0
    0x02,                   // remaining length 2
    0xFF, 0xFF,             // packet id 65535
  });
  pubcomp expected;
  expected.packet_id = 65535;
  CAF_CHECK(golden(wire, expected, v311));
}

CAF_TEST(acks in 3.1.1 do not write 5.0 reason codes or properties) {
  auto wire = make_bytes({
    0x40, 0x02,             // PUBACK, remaining length 2
    0x00, 0x07,             // packet id 7
  });
  puback p;
  p.packet_id = 7;
  p.code = reason_code::no_matching_subscribers;
  p.props.reason_string = "5.0 only";
  CAF_CHECK(encodes_to(p, wire, v311));
}

// -- SUBSCRIBE / SUBACK (§3.8, §3.9) ------------------------------------------

CAF_TEST(subscribe with three filters) {
  auto wire = make_bytes({
    0x82,                   // SUBSCRIBE, flags 0010 (§3.8.1)
    0x12,                   // remaining length 18
    0x00, 0x0A,             // packet id 10
    0x00, 0x03,             // filter length 3
    'a', '/', 'b',          // "a/b"
    0x01,                   // requested qos 1
    0x00, 0x03,             // filter length 3
    'c', '/', '#',          // "c/#"
    0x02,                   // requested qos 2
    0x00, 0x01,             // filter length 1
    '+',                    // "+"
    0x00,                   // requested qos 0
  });
  subscribe expected;
  expected.packet_id = 10;
  expected.subscriptions.push_back({"a/b", qos::at_least_once});
  expected.subscriptions.push_back({"c/#", qos::exactly_once});
  expected.subscriptions.push_back({"+", qos::at_most_once});
  CAF_CHECK(golden(wire, expected, v311));
}

CAF_TEST(suback with granted qos and failure 0x80) {
  auto wire = make_bytes({
    0x90,                   // SUBACK, flags 0
    0x06,                   // remaining length 6
    0x00, 0x0A,             // packet id 10
    0x01,                   // success, maximum qos 1
    0x02,                   // success, maximum qos 2
    0x00,                   // success, maximum qos 0
    0x80,                   // failure (§3.9.3)
  });
  suback expected;
  expected.packet_id = 10;
  expected.codes = {reason_code::granted_qos_1, reason_code::granted_qos_2,
                    reason_code::granted_qos_0,
                    reason_code::unspecified_error};
  CAF_CHECK(golden(wire, expected, v311));
}

// -- UNSUBSCRIBE / UNSUBACK (§3.10, §3.11) ------------------------------------

CAF_TEST(unsubscribe with two filters) {
  auto wire = make_bytes({
    0xA2,                   // UNSUBSCRIBE, flags 0010 (§3.10.1)
    0x0C,                   // remaining length 12
    0x00, 0x0B,             // packet id 11
    0x00, 0x03,             // filter length 3
    'a', '/', 'b',          // "a/b"
    0x00, 0x03,             // filter length 3
    'c', '/', '#',          // "c/#"
  });
  unsubscribe expected;
  expected.packet_id = 11;
  expected.filters = {"a/b", "c/#"};
  CAF_CHECK(golden(wire, expected, v311));
}

CAF_TEST(unsuback) {
  auto wire = make_bytes({
    0xB0,                   // UNSUBACK, flags 0
    0x02,                   // remaining length 2
    0x00, 0x0B,             // packet id 11 (no payload in 3.1.1, §3.11.3)
  });
  unsuback expected;
  expected.packet_id = 11;
  CAF_CHECK(golden(wire, expected, v311));
}

// -- PINGREQ / PINGRESP / DISCONNECT (§3.12–§3.14) ----------------------------

CAF_TEST(pingreq) {
  auto wire = make_bytes({
    0xC0,                   // PINGREQ, flags 0
    0x00,                   // remaining length 0
  });
  CAF_CHECK(golden(wire, pingreq{}, v311));
}

CAF_TEST(pingresp) {
  auto wire = make_bytes({
    0xD0,                   // PINGRESP, flags 0
    0x00,                   // remaining length 0
  });
  CAF_CHECK(golden(wire, pingresp{}, v311));
}

CAF_TEST(disconnect) {
  auto wire = make_bytes({
    0xE0,                   // DISCONNECT, flags 0
    0x00,                   // remaining length 0
  });
  CAF_CHECK(golden(wire, disconnect{}, v311));
}

CAF_TEST(disconnect in 3.1.1 writes no reason code) {
  auto wire = make_bytes({0xE0, 0x00}); // DISCONNECT, remaining length 0
  disconnect d;
  d.code = reason_code::disconnect_with_will_message;
  CAF_CHECK(encodes_to(d, wire, v311));
}
