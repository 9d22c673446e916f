// Golden bytes for every MQTT 5.0 control packet (all 15, AUTH included),
// written by hand from the MQTT Version 5.0 specification (OASIS Standard,
// 7 March 2019), one comment per field. Each golden test decodes the bytes to
// exactly the expected struct and encodes the struct to exactly the bytes.
//
// Property order: the spec fixes no order for properties (§2.2.2). The
// golden bytes list them by ascending identifier (the order of table 2-4 and
// of `struct properties`), with repeated properties in the given order; the
// decoder must accept any order (see the "decode only" tests and
// captured.cpp, whose mosquitto captures are not in identifier order).
//
// Every property of table 2-4 appears at least once, in a packet that allows
// it, covering all seven wire types:
//   byte                  0x01 0x17 0x19 0x24 0x25 0x28 0x29 0x2A
//   two byte integer      0x13 0x21 0x22 0x23
//   four byte integer     0x02 0x11 0x18 0x27
//   variable byte integer 0x0B (1, 2 and 4 byte encodings)
//   UTF-8 string          0x03 0x08 0x12 0x15 0x1A 0x1C 0x1F
//   binary data           0x09 0x16
//   UTF-8 string pair     0x26
#define CAF_SUITE protocol_golden_v5
#include <caf/test/unit_test.hpp>

#include "codec_check.hpp"

using namespace amq::protocol;
using namespace amq::test;
using namespace std::literals;

// -- CONNECT (§3.1) -----------------------------------------------------------

CAF_TEST(connect with every connect property) {
  auto wire = make_bytes({
    0x10,                   // CONNECT, flags 0 (§3.1.1)
    0x40,                   // remaining length 64
    0x00, 0x04,             // protocol name length 4
    'M', 'Q', 'T', 'T',     // protocol name "MQTT"
    0x05,                   // protocol version 5
    0x02,                   // connect flags: clean start (bit 1)
    0x00, 0x3C,             // keep alive 60 s
    0x2F,                   // property length 47
    0x11, 0x00, 0x00, 0x00, 0x78, // session expiry interval 120 (4 byte int)
    0x15, 0x00, 0x05,       // authentication method, length 5
    'S', 'C', 'R', 'A', 'M', //   "SCRAM" (UTF-8 string)
    0x16, 0x00, 0x02,       // authentication data, length 2
    0x01, 0x02,             //   01 02 (binary data)
    0x17, 0x00,             // request problem information 0 (byte)
    0x19, 0x01,             // request response information 1 (byte)
    0x21, 0x00, 0x14,       // receive maximum 20 (2 byte int)
    0x22, 0x00, 0x0A,       // topic alias maximum 10 (2 byte int)
    0x26,                   // user property (string pair)
    0x00, 0x01, 'a',        //   name "a"
    0x00, 0x01, 'b',        //   value "b"
    0x26,                   // user property again, same name (§3.1.2.11.8)
    0x00, 0x01, 'a',        //   name "a"
    0x00, 0x01, 'c',        //   value "c"
    0x27, 0x00, 0x00, 0x10, 0x00, // maximum packet size 4096 (4 byte int)
    0x00, 0x04,             // client id length 4
    'd', 'e', 'v', '1',     // client id "dev1"
  });
  connect expected;
  expected.version = protocol_version::v5;
  expected.clean_start = true;
  expected.keep_alive = 60;
  expected.props.session_expiry_interval = 120;
  expected.props.authentication_method = "SCRAM";
  expected.props.authentication_data = "\x01\x02"sv;
  expected.props.request_problem_information = 0;
  expected.props.request_response_information = 1;
  expected.props.receive_maximum = 20;
  expected.props.topic_alias_maximum = 10;
  expected.props.user_properties = {{"a", "b"}, {"a", "c"}};
  expected.props.maximum_packet_size = 4096;
  expected.client_id = "dev1";
  CAF_CHECK(golden(wire, expected, v5));
}

CAF_TEST(connect with will will properties username and password) {
  auto wire = make_bytes({
    0x10,                   // CONNECT
    0x4A,                   // remaining length 74
    0x00, 0x04,             // protocol name length 4
    'M', 'Q', 'T', 'T',     // "MQTT"
    0x05,                   // protocol version 5
    0xF4,                   // flags: user name(7) password(6) will retain(5)
                            //        will qos 2 (4-3 = 10) will(2), clean 0
    0x00, 0x3C,             // keep alive 60
    0x00,                   // property length 0
    0x00, 0x02,             // client id length 2
    'c', '1',               // client id "c1"
    0x25,                   // will property length 37 (§3.1.3.2)
    0x01, 0x01,             //   payload format indicator 1 = UTF-8
    0x02, 0x00, 0x00, 0x0E, 0x10, // message expiry interval 3600
    0x03, 0x00, 0x04,       //   content type, length 4
    't', 'e', 'x', 't',     //     "text"
    0x08, 0x00, 0x03,       //   response topic, length 3
    'r', '/', 't',          //     "r/t"
    0x09, 0x00, 0x02,       //   correlation data, length 2
    0xAB, 0xCD,             //     AB CD
    0x18, 0x00, 0x00, 0x00, 0x05, // will delay interval 5
    0x26,                   //   user property
    0x00, 0x01, 'k',        //     name "k"
    0x00, 0x01, 'v',        //     value "v"
    0x00, 0x03,             // will topic length 3
    'w', '/', 't',          // will topic "w/t"
    0x00, 0x03,             // will payload length 3
    'b', 'y', 'e',          // will payload "bye"
    0x00, 0x04,             // user name length 4
    'u', 's', 'e', 'r',     // user name "user"
    0x00, 0x03,             // password length 3
    0x00, 0x01, 0x02,       // password (binary)
  });
  connect expected;
  expected.version = protocol_version::v5;
  expected.clean_start = false;
  expected.keep_alive = 60;
  expected.client_id = "c1";
  will_message w;
  w.qos_level = qos::exactly_once;
  w.retain = true;
  w.topic = "w/t";
  w.payload = "bye";
  w.props.payload_format_indicator = 1;
  w.props.message_expiry_interval = 3600;
  w.props.content_type = "text";
  w.props.response_topic = "r/t";
  w.props.correlation_data = "\xAB\xCD"sv;
  w.props.will_delay_interval = 5;
  w.props.user_properties = {{"k", "v"}};
  expected.will = w;
  expected.username = "user";
  expected.password = "\x00\x01\x02"sv;
  CAF_CHECK(golden(wire, expected, v5));
}

CAF_TEST(connect password without user name and empty client id) {
  // 5.0 allows a password without a user name (§3.1.2.9) and a zero-length
  // client id with clean start 0 (§3.1.3.1, the server assigns one).
  auto wire = make_bytes({
    0x10,                   // CONNECT
    0x11,                   // remaining length 17
    0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name
    0x05,                   // version 5
    0x40,                   // flags: password(6) only, clean start 0
    0x00, 0x00,             // keep alive 0
    0x00,                   // property length 0
    0x00, 0x00,             // client id length 0
    0x00, 0x02,             // password length 2
    'p', 'w',               // password "pw"
  });
  connect expected;
  expected.version = protocol_version::v5;
  expected.clean_start = false;
  expected.keep_alive = 0;
  expected.client_id = "";
  expected.password = "pw";
  CAF_CHECK(golden(wire, expected, v5));
}

// -- CONNACK (§3.2) -----------------------------------------------------------

CAF_TEST(connack with every connack property) {
  auto wire = make_bytes({
    0x20,                   // CONNACK, flags 0
    0x4E,                   // remaining length 78
    0x01,                   // acknowledge flags: session present
    0x00,                   // reason code 0x00 success
    0x4B,                   // property length 75
    0x11, 0x00, 0x00, 0x0E, 0x10, // session expiry interval 3600
    0x12, 0x00, 0x04,       // assigned client identifier, length 4
    'a', 'u', 't', 'o',     //   "auto"
    0x13, 0x00, 0x1E,       // server keep alive 30
    0x15, 0x00, 0x05,       // authentication method, length 5
    'S', 'C', 'R', 'A', 'M', //   "SCRAM"
    0x16, 0x00, 0x03,       // authentication data, length 3
    0x01, 0x02, 0x03,       //   01 02 03
    0x1A, 0x00, 0x04,       // response information, length 4
    'i', 'n', 'f', 'o',     //   "info"
    0x1C, 0x00, 0x03,       // server reference, length 3
    's', 'r', 'v',          //   "srv"
    0x1F, 0x00, 0x02,       // reason string, length 2
    'o', 'k',               //   "ok"
    0x21, 0x00, 0x64,       // receive maximum 100
    0x22, 0x00, 0x08,       // topic alias maximum 8
    0x24, 0x01,             // maximum qos 1
    0x25, 0x00,             // retain available 0
    0x26,                   // user property
    0x00, 0x01, 'x',        //   name "x"
    0x00, 0x01, 'y',        //   value "y"
    0x27, 0x00, 0x01, 0x00, 0x00, // maximum packet size 65536
    0x28, 0x00,             // wildcard subscription available 0
    0x29, 0x00,             // subscription identifiers available 0
    0x2A, 0x01,             // shared subscription available 1
  });
  connack expected;
  expected.session_present = true;
  expected.code = reason_code::success;
  auto& p = expected.props;
  p.session_expiry_interval = 3600;
  p.assigned_client_identifier = "auto";
  p.server_keep_alive = 30;
  p.authentication_method = "SCRAM";
  p.authentication_data = "\x01\x02\x03"sv;
  p.response_information = "info";
  p.server_reference = "srv";
  p.reason_string = "ok";
  p.receive_maximum = 100;
  p.topic_alias_maximum = 8;
  p.maximum_qos = 1;
  p.retain_available = 0;
  p.user_properties = {{"x", "y"}};
  p.maximum_packet_size = 65536;
  p.wildcard_subscription_available = 0;
  p.subscription_identifier_available = 0;
  p.shared_subscription_available = 1;
  CAF_CHECK(golden(wire, expected, v5));
}

CAF_TEST(connack refusal without properties) {
  auto wire = make_bytes({
    0x20,                   // CONNACK
    0x03,                   // remaining length 3
    0x00,                   // session present 0
    0x87,                   // reason code 0x87 not authorized
    0x00,                   // property length 0
  });
  connack expected;
  expected.code = reason_code::not_authorized;
  CAF_CHECK(golden(wire, expected, v5));
}

CAF_TEST(connack use another server with server reference) {
  auto wire = make_bytes({
    0x20,                   // CONNACK
    0x0B,                   // remaining length 11
    0x00,                   // session present 0
    0x9C,                   // reason code 0x9C use another server
    0x08,                   // property length 8
    0x1C, 0x00, 0x05,       // server reference, length 5
    'h', 'o', 's', 't', '2', //   "host2"
  });
  connack expected;
  expected.code = reason_code::use_another_server;
  expected.props.server_reference = "host2";
  CAF_CHECK(golden(wire, expected, v5));
}

// -- PUBLISH (§3.3) -----------------------------------------------------------

CAF_TEST(publish with every publish property and three subscription ids) {
  auto wire = make_bytes({
    0x32,                   // PUBLISH, dup 0, qos 1 (2-1 = 01), retain 0
    0x50,                   // remaining length 80
    0x00, 0x05,             // topic length 5
    'a', '/', 'b', '/', 'c', // topic "a/b/c"
    0x00, 0x2A,             // packet id 42
    0x44,                   // property length 68
    0x01, 0x01,             // payload format indicator 1 (byte)
    0x02, 0x00, 0x00, 0x00, 0x3C, // message expiry interval 60 (4 byte int)
    0x03, 0x00, 0x10,       // content type, length 16
    'a', 'p', 'p', 'l', 'i', 'c', 'a', 't', 'i', 'o', 'n', '/',
    'j', 's', 'o', 'n',     //   "application/json"
    0x08, 0x00, 0x05,       // response topic, length 5
    'r', 'e', 'p', 'l', 'y', //   "reply"
    0x09, 0x00, 0x04,       // correlation data, length 4
    0xDE, 0xAD, 0xBE, 0xEF, //   DE AD BE EF (binary)
    0x0B, 0x01,             // subscription identifier 1 (1-byte varint)
    0x0B, 0x80, 0x01,       // subscription identifier 128 (2-byte varint)
    0x0B, 0xFF, 0xFF, 0xFF, 0x7F, // subscription identifier 268435455 (4 bytes)
    0x23, 0x00, 0x07,       // topic alias 7 (2 byte int)
    0x26,                   // user property
    0x00, 0x01, 'a',        //   name "a"
    0x00, 0x01, '1',        //   value "1"
    0x26,                   // user property
    0x00, 0x01, 'a',        //   name "a"
    0x00, 0x01, '2',        //   value "2"
    '{', '}',               // payload "{}"
  });
  publish expected;
  expected.qos_level = qos::at_least_once;
  expected.topic = "a/b/c";
  expected.packet_id = 42;
  auto& p = expected.props;
  p.payload_format_indicator = 1;
  p.message_expiry_interval = 60;
  p.content_type = "application/json";
  p.response_topic = "reply";
  p.correlation_data = "\xDE\xAD\xBE\xEF"sv;
  p.subscription_identifiers = {1, 128, 268'435'455};
  p.topic_alias = 7;
  p.user_properties = {{"a", "1"}, {"a", "2"}};
  expected.payload = "{}";
  CAF_CHECK(golden(wire, expected, v5));
}

CAF_TEST(publish with empty topic and topic alias) {
  // §3.3.2.3.4: a zero-length topic name with a Topic Alias is allowed.
  auto wire = make_bytes({
    0x30,                   // PUBLISH qos 0
    0x07,                   // remaining length 7
    0x00, 0x00,             // topic length 0
    0x03,                   // property length 3
    0x23, 0x00, 0x03,       // topic alias 3
    'x',                    // payload "x"
  });
  publish expected;
  expected.topic = "";
  expected.props.topic_alias = 3;
  expected.payload = "x";
  CAF_CHECK(golden(wire, expected, v5));
}

CAF_TEST(publish qos 2 dup retain without properties) {
  auto wire = make_bytes({
    0x3D,                   // PUBLISH, dup 1, qos 2 (10), retain 1
    0x08,                   // remaining length 8
    0x00, 0x01,             // topic length 1
    't',                    // topic "t"
    0x00, 0x05,             // packet id 5
    0x00,                   // property length 0
    'p', 'q',               // payload "pq"
  });
  publish expected;
  expected.dup = true;
  expected.qos_level = qos::exactly_once;
  expected.retain = true;
  expected.topic = "t";
  expected.packet_id = 5;
  expected.payload = "pq";
  CAF_CHECK(golden(wire, expected, v5));
}

CAF_TEST(publish decode only: properties in any order) {
  // Same properties as above, not in identifier order (§2.2.2 sets none).
  auto wire = make_bytes({
    0x30,                   // PUBLISH qos 0
    0x19,                   // remaining length 25
    0x00, 0x01, 't',        // topic "t"
    0x14,                   // property length 20
    0x26,                   // user property
    0x00, 0x01, 'k',        //   name "k"
    0x00, 0x01, 'v',        //   value "v"
    0x0B, 0x05,             // subscription identifier 5
    0x03, 0x00, 0x01, 'c',  // content type "c"
    0x0B, 0x02,             // subscription identifier 2 (order kept)
    0x01, 0x00,             // payload format indicator 0
    0x23, 0x00, 0x01,       // topic alias 1
    'z',                    // payload "z"
  });
  publish expected;
  expected.topic = "t";
  expected.props.user_properties = {{"k", "v"}};
  expected.props.subscription_identifiers = {5, 2};
  expected.props.content_type = "c";
  expected.props.payload_format_indicator = 0;
  expected.props.topic_alias = 1;
  expected.payload = "z";
  CAF_CHECK(decodes_to(wire, expected, v5));
}

// -- PUBACK (§3.4) ------------------------------------------------------------

CAF_TEST(puback short form remaining length 2) {
  // §3.4.2.1: reason code 0x00 and no properties may be omitted.
  auto wire = make_bytes({
    0x40,                   // PUBACK
    0x02,                   // remaining length 2
    0x00, 0x01,             // packet id 1
  });
  puback expected;
  expected.packet_id = 1;
  expected.code = reason_code::success;
  CAF_CHECK(golden(wire, expected, v5));
}

CAF_TEST(puback short form remaining length 3) {
  // §3.4.2.2: with remaining length < 4 there is no property length.
  auto wire = make_bytes({
    0x40,                   // PUBACK
    0x03,                   // remaining length 3
    0x00, 0x02,             // packet id 2
    0x10,                   // reason code 0x10 no matching subscribers
  });
  puback expected;
  expected.packet_id = 2;
  expected.code = reason_code::no_matching_subscribers;
  CAF_CHECK(golden(wire, expected, v5));
}

CAF_TEST(puback with reason string and user property) {
  auto wire = make_bytes({
    0x40,                   // PUBACK
    0x14,                   // remaining length 20
    0x00, 0x03,             // packet id 3
    0x87,                   // reason code 0x87 not authorized
    0x10,                   // property length 16
    0x1F, 0x00, 0x06,       // reason string, length 6
    'd', 'e', 'n', 'i', 'e', 'd', // "denied"
    0x26,                   // user property
    0x00, 0x01, 'k',        //   "k"
    0x00, 0x01, 'v',        //   "v"
  });
  puback expected;
  expected.packet_id = 3;
  expected.code = reason_code::not_authorized;
  expected.props.reason_string = "denied";
  expected.props.user_properties = {{"k", "v"}};
  CAF_CHECK(golden(wire, expected, v5));
}

CAF_TEST(puback success with properties keeps the reason code byte) {
  auto wire = make_bytes({
    0x40,                   // PUBACK
    0x08,                   // remaining length 8
    0x00, 0x01,             // packet id 1
    0x00,                   // reason code 0x00 (needed: properties follow)
    0x04,                   // property length 4
    0x1F, 0x00, 0x01, 'r',  // reason string "r"
  });
  puback expected;
  expected.packet_id = 1;
  expected.props.reason_string = "r";
  CAF_CHECK(golden(wire, expected, v5));
}

CAF_TEST(puback decode only: long forms of success) {
  puback expected;
  expected.packet_id = 1;
  auto rl3 = make_bytes({
    0x40, 0x03,             // PUBACK, remaining length 3
    0x00, 0x01,             // packet id 1
    0x00,                   // reason code 0x00 written out
  });
  CAF_CHECK(decodes_to(rl3, expected, v5));
  auto rl4 = make_bytes({
    0x40, 0x04,             // PUBACK, remaining length 4
    0x00, 0x01,             // packet id 1
    0x00,                   // reason code 0x00
    0x00,                   // property length 0
  });
  CAF_CHECK(decodes_to(rl4, expected, v5));
}

// -- PUBREC (§3.5) ------------------------------------------------------------

CAF_TEST(pubrec short forms) {
  auto ok = make_bytes({
    0x50,                   // PUBREC
    0x02,                   // remaining length 2
    0x00, 0x04,             // packet id 4
  });
  pubrec e1;
  e1.packet_id = 4;
  CAF_CHECK(golden(ok, e1, v5));
  auto err = make_bytes({
    0x50,                   // PUBREC
    0x03,                   // remaining length 3
    0x00, 0x05,             // packet id 5
    0x80,                   // reason code 0x80 unspecified error
  });
  pubrec e2;
  e2.packet_id = 5;
  e2.code = reason_code::unspecified_error;
  CAF_CHECK(golden(err, e2, v5));
}

CAF_TEST(pubrec with reason string) {
  auto wire = make_bytes({
    0x50,                   // PUBREC
    0x09,                   // remaining length 9
    0x00, 0x06,             // packet id 6
    0x10,                   // reason code 0x10 no matching subscribers
    0x05,                   // property length 5
    0x1F, 0x00, 0x02,       // reason string, length 2
    'n', 's',               //   "ns"
  });
  pubrec expected;
  expected.packet_id = 6;
  expected.code = reason_code::no_matching_subscribers;
  expected.props.reason_string = "ns";
  CAF_CHECK(golden(wire, expected, v5));
}

// -- PUBREL (§3.6) ------------------------------------------------------------

CAF_TEST(pubrel short forms) {
  auto ok = make_bytes({
    0x62,                   // PUBREL, flags 0010
    0x02,                   // remaining length 2
    0x00, 0x07,             // packet id 7
  });
  pubrel e1;
  e1.packet_id = 7;
  CAF_CHECK(golden(ok, e1, v5));
  auto nf = make_bytes({
    0x62,                   // PUBREL
    0x03,                   // remaining length 3
    0x00, 0x08,             // packet id 8
    0x92,                   // reason code 0x92 packet identifier not found
  });
  pubrel e2;
  e2.packet_id = 8;
  e2.code = reason_code::packet_identifier_not_found;
  CAF_CHECK(golden(nf, e2, v5));
}

// -- PUBCOMP (§3.7) -----------------------------------------------------------

CAF_TEST(pubcomp with properties) {
  auto wire = make_bytes({
    0x70,                   // PUBCOMP
    0x11,                   // remaining length 17
    0x00, 0x09,             // packet id 9
    0x92,                   // reason code 0x92 packet identifier not found
    0x0D,                   // property length 13
    0x1F, 0x00, 0x04,       // reason string, length 4
    'g', 'o', 'n', 'e',     //   "gone"
    0x26,                   // user property
    0x00, 0x01, 'u',        //   name "u"
    0x00, 0x00,             //   value "" (empty string is valid)
  });
  pubcomp expected;
  expected.packet_id = 9;
  expected.code = reason_code::packet_identifier_not_found;
  expected.props.reason_string = "gone";
  expected.props.user_properties = {{"u", ""}};
  CAF_CHECK(golden(wire, expected, v5));
}

CAF_TEST(pubcomp short form) {
  auto wire = make_bytes({
    0x70,                   // PUBCOMP
    0x02,                   // remaining length 2
    0xFF, 0xFE,             // packet id 65534
  });
  pubcomp expected;
  expected.packet_id = 65534;
  CAF_CHECK(golden(wire, expected, v5));
}

// -- SUBSCRIBE (§3.8) ---------------------------------------------------------

CAF_TEST(subscribe with options subscription id and user property) {
  auto wire = make_bytes({
    0x82,                   // SUBSCRIBE, flags 0010
    0x29,                   // remaining length 41
    0x00, 0x10,             // packet id 16
    0x0B,                   // property length 11
    0x0B, 0x2A,             // subscription identifier 42
    0x26,                   // user property
    0x00, 0x02, 's', 'k',   //   name "sk"
    0x00, 0x02, 's', 'v',   //   value "sv"
    0x00, 0x03,             // filter length 3
    'a', '/', 'b',          // "a/b"
    0x2D,                   // options: retain handling 2 (5-4 = 10),
                            //   retain as published(3), no local(2), qos 1
    0x00, 0x03,             // filter length 3
    'c', '/', '#',          // "c/#"
    0x12,                   // options: retain handling 1 (01), qos 2
    0x00, 0x0C,             // filter length 12
    '$', 's', 'h', 'a', 'r', 'e', '/', 'g', 'r', 'p', '/', 'x',
                            // "$share/grp/x"
    0x08,                   // options: retain as published, qos 0
  });
  subscribe expected;
  expected.packet_id = 16;
  expected.props.subscription_identifiers = {42};
  expected.props.user_properties = {{"sk", "sv"}};
  subscription s1;
  s1.filter = "a/b";
  s1.max_qos = qos::at_least_once;
  s1.no_local = true;
  s1.retain_as_published = true;
  s1.handling = retain_handling::do_not_send;
  subscription s2;
  s2.filter = "c/#";
  s2.max_qos = qos::exactly_once;
  s2.handling = retain_handling::send_if_new_subscription;
  subscription s3;
  s3.filter = "$share/grp/x";
  s3.retain_as_published = true;
  expected.subscriptions = {s1, s2, s3};
  CAF_CHECK(golden(wire, expected, v5));
}

// -- SUBACK (§3.9) ------------------------------------------------------------

CAF_TEST(suback with every suback reason code) {
  auto wire = make_bytes({
    0x90,                   // SUBACK
    0x1D,                   // remaining length 29
    0x00, 0x10,             // packet id 16
    0x0E,                   // property length 14
    0x1F, 0x00, 0x04,       // reason string, length 4
    'p', 'a', 'r', 't',     //   "part"
    0x26,                   // user property
    0x00, 0x01, 'a',        //   "a"
    0x00, 0x01, 'b',        //   "b"
    0x00,                   // granted qos 0
    0x01,                   // granted qos 1
    0x02,                   // granted qos 2
    0x80,                   // unspecified error
    0x83,                   // implementation specific error
    0x87,                   // not authorized
    0x8F,                   // topic filter invalid
    0x91,                   // packet identifier in use
    0x97,                   // quota exceeded
    0x9E,                   // shared subscriptions not supported
    0xA1,                   // subscription identifiers not supported
    0xA2,                   // wildcard subscriptions not supported
  });
  suback expected;
  expected.packet_id = 16;
  expected.props.reason_string = "part";
  expected.props.user_properties = {{"a", "b"}};
  expected.codes = {
    reason_code::granted_qos_0,
    reason_code::granted_qos_1,
    reason_code::granted_qos_2,
    reason_code::unspecified_error,
    reason_code::implementation_specific_error,
    reason_code::not_authorized,
    reason_code::topic_filter_invalid,
    reason_code::packet_identifier_in_use,
    reason_code::quota_exceeded,
    reason_code::shared_subscriptions_not_supported,
    reason_code::subscription_identifiers_not_supported,
    reason_code::wildcard_subscriptions_not_supported,
  };
  CAF_CHECK(golden(wire, expected, v5));
}

CAF_TEST(suback without properties) {
  auto wire = make_bytes({
    0x90,                   // SUBACK
    0x04,                   // remaining length 4
    0x00, 0x11,             // packet id 17
    0x00,                   // property length 0
    0x01,                   // granted qos 1
  });
  suback expected;
  expected.packet_id = 17;
  expected.codes = {reason_code::granted_qos_1};
  CAF_CHECK(golden(wire, expected, v5));
}

// -- UNSUBSCRIBE (§3.10) ------------------------------------------------------

CAF_TEST(unsubscribe with user property and shared filter) {
  auto wire = make_bytes({
    0xA2,                   // UNSUBSCRIBE, flags 0010
    0x1B,                   // remaining length 27
    0x00, 0x12,             // packet id 18
    0x07,                   // property length 7
    0x26,                   // user property
    0x00, 0x01, 'k',        //   "k"
    0x00, 0x01, 'v',        //   "v"
    0x00, 0x03,             // filter length 3
    'a', '/', 'b',          // "a/b"
    0x00, 0x0A,             // filter length 10
    '$', 's', 'h', 'a', 'r', 'e', '/', 'g', '/', '#', // "$share/g/#"
  });
  unsubscribe expected;
  expected.packet_id = 18;
  expected.props.user_properties = {{"k", "v"}};
  expected.filters = {"a/b", "$share/g/#"};
  CAF_CHECK(golden(wire, expected, v5));
}

// -- UNSUBACK (§3.11) ---------------------------------------------------------

CAF_TEST(unsuback with every unsuback reason code) {
  auto wire = make_bytes({
    0xB0,                   // UNSUBACK
    0x0E,                   // remaining length 14
    0x00, 0x12,             // packet id 18
    0x04,                   // property length 4
    0x1F, 0x00, 0x01, 'r',  // reason string "r"
    0x00,                   // success
    0x11,                   // no subscription existed
    0x80,                   // unspecified error
    0x83,                   // implementation specific error
    0x87,                   // not authorized
    0x8F,                   // topic filter invalid
    0x91,                   // packet identifier in use
  });
  unsuback expected;
  expected.packet_id = 18;
  expected.props.reason_string = "r";
  expected.codes = {
    reason_code::success,
    reason_code::no_subscription_existed,
    reason_code::unspecified_error,
    reason_code::implementation_specific_error,
    reason_code::not_authorized,
    reason_code::topic_filter_invalid,
    reason_code::packet_identifier_in_use,
  };
  CAF_CHECK(golden(wire, expected, v5));
}

// -- PINGREQ / PINGRESP (§3.12, §3.13) ----------------------------------------

CAF_TEST(pingreq) {
  auto wire = make_bytes({0xC0, 0x00}); // PINGREQ, remaining length 0
  CAF_CHECK(golden(wire, pingreq{}, v5));
}

CAF_TEST(pingresp) {
  auto wire = make_bytes({0xD0, 0x00}); // PINGRESP, remaining length 0
  CAF_CHECK(golden(wire, pingresp{}, v5));
}

// -- DISCONNECT (§3.14) -------------------------------------------------------

CAF_TEST(disconnect remaining length 0) {
  // §3.14.2.1: remaining length 0 = 0x00 normal disconnection, no properties.
  auto wire = make_bytes({
    0xE0,                   // DISCONNECT
    0x00,                   // remaining length 0
  });
  CAF_CHECK(golden(wire, disconnect{}, v5));
}

CAF_TEST(disconnect remaining length 1) {
  // §3.14.2.2: with remaining length < 2 the property length is 0.
  auto wire = make_bytes({
    0xE0,                   // DISCONNECT
    0x01,                   // remaining length 1
    0x04,                   // reason code 0x04 disconnect with will message
  });
  disconnect expected;
  expected.code = reason_code::disconnect_with_will_message;
  CAF_CHECK(golden(wire, expected, v5));
}

CAF_TEST(disconnect from client with session expiry reason string user property) {
  auto wire = make_bytes({
    0xE0,                   // DISCONNECT
    0x14,                   // remaining length 20
    0x04,                   // reason code 0x04 disconnect with will message
    0x12,                   // property length 18
    0x11, 0x00, 0x00, 0x01, 0x2C, // session expiry interval 300
    0x1F, 0x00, 0x03,       // reason string, length 3
    'b', 'y', 'e',          //   "bye"
    0x26,                   // user property
    0x00, 0x01, 'k',        //   "k"
    0x00, 0x01, 'v',        //   "v"
  });
  disconnect expected;
  expected.code = reason_code::disconnect_with_will_message;
  expected.props.session_expiry_interval = 300;
  expected.props.reason_string = "bye";
  expected.props.user_properties = {{"k", "v"}};
  CAF_CHECK(golden(wire, expected, v5));
}

CAF_TEST(disconnect from server with server reference) {
  auto wire = make_bytes({
    0xE0,                   // DISCONNECT
    0x0E,                   // remaining length 14
    0x9D,                   // reason code 0x9D server moved
    0x0C,                   // property length 12
    0x1C, 0x00, 0x09,       // server reference, length 9
    'h', 'o', 's', 't', '2', ':', '1', '8', '8', // "host2:188"
  });
  disconnect expected;
  expected.code = reason_code::server_moved;
  expected.props.server_reference = "host2:188";
  CAF_CHECK(golden(wire, expected, v5));
}

CAF_TEST(disconnect decode only: long forms of normal disconnection) {
  disconnect expected;
  auto rl1 = make_bytes({
    0xE0, 0x01,             // DISCONNECT, remaining length 1
    0x00,                   // reason code 0x00 written out
  });
  CAF_CHECK(decodes_to(rl1, expected, v5));
  auto rl2 = make_bytes({
    0xE0, 0x02,             // DISCONNECT, remaining length 2
    0x00,                   // reason code 0x00
    0x00,                   // property length 0
  });
  CAF_CHECK(decodes_to(rl2, expected, v5));
}

// -- AUTH (§3.15) -------------------------------------------------------------

CAF_TEST(auth remaining length 0) {
  // §3.15.2.1: reason code and property length omitted = success.
  auto wire = make_bytes({
    0xF0,                   // AUTH, flags 0
    0x00,                   // remaining length 0
  });
  CAF_CHECK(golden(wire, auth{}, v5));
}

CAF_TEST(auth continue authentication) {
  auto wire = make_bytes({
    0xF0,                   // AUTH
    0x1F,                   // remaining length 31
    0x18,                   // reason code 0x18 continue authentication
    0x1D,                   // property length 29
    0x15, 0x00, 0x05,       // authentication method, length 5
    'S', 'C', 'R', 'A', 'M', //   "SCRAM"
    0x16, 0x00, 0x04,       // authentication data, length 4
    0x01, 0x02, 0x03, 0x04, //   01 02 03 04
    0x1F, 0x00, 0x04,       // reason string, length 4
    'm', 'o', 'r', 'e',     //   "more"
    0x26,                   // user property
    0x00, 0x01, 'a',        //   "a"
    0x00, 0x01, 'b',        //   "b"
  });
  auth expected;
  expected.code = reason_code::continue_authentication;
  expected.props.authentication_method = "SCRAM";
  expected.props.authentication_data = "\x01\x02\x03\x04"sv;
  expected.props.reason_string = "more";
  expected.props.user_properties = {{"a", "b"}};
  CAF_CHECK(golden(wire, expected, v5));
}

CAF_TEST(auth re-authenticate) {
  auto wire = make_bytes({
    0xF0,                   // AUTH
    0x0A,                   // remaining length 10
    0x19,                   // reason code 0x19 re-authenticate
    0x08,                   // property length 8
    0x15, 0x00, 0x05,       // authentication method, length 5
    'S', 'C', 'R', 'A', 'M', //   "SCRAM"
  });
  auth expected;
  expected.code = reason_code::re_authenticate;
  expected.props.authentication_method = "SCRAM";
  CAF_CHECK(golden(wire, expected, v5));
}

// -- property helpers (properties.hpp) ----------------------------------------

CAF_TEST(property types follow table 2-4) {
  using t = property_type;
  struct row {
    uint8_t id;
    t type;
  };
  const row rows[] = {
    {0x01, t::byte},                  {0x02, t::four_byte_integer},
    {0x03, t::utf8_string},           {0x08, t::utf8_string},
    {0x09, t::binary_data},           {0x0B, t::variable_byte_integer},
    {0x11, t::four_byte_integer},     {0x12, t::utf8_string},
    {0x13, t::two_byte_integer},      {0x15, t::utf8_string},
    {0x16, t::binary_data},           {0x17, t::byte},
    {0x18, t::four_byte_integer},     {0x19, t::byte},
    {0x1A, t::utf8_string},           {0x1C, t::utf8_string},
    {0x1F, t::utf8_string},           {0x21, t::two_byte_integer},
    {0x22, t::two_byte_integer},      {0x23, t::two_byte_integer},
    {0x24, t::byte},                  {0x25, t::byte},
    {0x26, t::utf8_string_pair},      {0x27, t::four_byte_integer},
    {0x28, t::byte},                  {0x29, t::byte},
    {0x2A, t::byte},
  };
  for (auto& r : rows) {
    auto ty = type_of(r.id);
    CAF_CHECK(ty.has_value());
    if (ty && *ty != r.type)
      CAF_ERROR("wrong type for property " << int{r.id});
  }
  for (int id : {0x00, 0x04, 0x05, 0x06, 0x07, 0x0A, 0x0C, 0x10, 0x14, 0x1B,
                 0x1D, 0x1E, 0x20, 0x2B, 0x7F, 0x80, 0xFF})
    if (type_of(static_cast<uint8_t>(id)).has_value())
      CAF_ERROR("identifier " << id << " is not a property");
}

CAF_TEST(encoded size of an empty property block is zero) {
  properties p;
  CAF_CHECK(p.empty());
  CAF_CHECK_EQUAL(encoded_size(p), 0u);
  p.user_properties.push_back({"a", "b"});
  CAF_CHECK(!p.empty());
  CAF_CHECK_EQUAL(encoded_size(p), 7u); // 0x26 + 2+1 + 2+1
  p.subscription_identifiers.push_back(268'435'455);
  CAF_CHECK_EQUAL(encoded_size(p), 12u); // + 0x0B + 4-byte varint
}
