// Bytes captured from real third-party MQTT clients (mosquitto_pub and
// mosquitto_sub 2.0.11, libmosquitto 2.0.11) and from the mosquitto 2.0.11
// broker, decoded by our codec. The capture script and how to regenerate
// these arrays: tests/protocol/capture/ (capture.py, README.md).
//
// Each array is one control packet exactly as it went over the socket; the
// comment above each group is the command that produced it (port 18990 is
// the capture listener / relay). Packets the client sent to the fake broker
// of capture.py are "client ->"; in the relay scenarios, packets the real
// mosquitto broker sent are "broker ->".
//
// v3.1.1 captures and v5 packets whose properties happen to be in identifier
// order are also re-encoded byte for byte (golden); the others are checked
// by decoding only, since the spec fixes no property order (§2.2.2) and
// mosquitto does not write them in identifier order.
#define CAF_SUITE protocol_captured
#include <caf/test/unit_test.hpp>

#include "codec_check.hpp"

using namespace amq::protocol;
using namespace amq::test;
using namespace std::literals;

namespace {

connect v311_connect(std::string_view client_id, uint16_t keep_alive,
                     bool clean) {
  connect c;
  c.version = protocol_version::v311;
  c.clean_start = clean;
  c.keep_alive = keep_alive;
  c.client_id = client_id;
  return c;
}

connect v5_connect(std::string_view client_id, uint16_t keep_alive,
                   bool clean) {
  connect c;
  c.version = protocol_version::v5;
  c.clean_start = clean;
  c.keep_alive = keep_alive;
  c.client_id = client_id;
  return c;
}

publish make_publish(qos q, bool retain, std::string_view topic,
                     uint16_t id, std::string_view payload) {
  publish p;
  p.qos_level = q;
  p.retain = retain;
  p.topic = topic;
  p.packet_id = id;
  p.payload = payload;
  return p;
}

template <class Ack>
Ack make_ack(uint16_t id, reason_code rc = reason_code::success) {
  Ack a;
  a.packet_id = id;
  a.code = rc;
  return a;
}

} // namespace

// -- MQTT 3.1.1 clients (fake broker) -----------------------------------------

CAF_TEST(mosquitto_pub v311 qos 0) {
  // mosquitto_pub -h 127.0.0.1 -p 18990 -V mqttv311 -i cap-pub0
  //   -t sensors/temp -m 21.5
  auto conn = make_bytes({
    0x10, 0x14, 0x00, 0x04, 0x4D, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x3C,
    0x00, 0x08, 0x63, 0x61, 0x70, 0x2D, 0x70, 0x75, 0x62, 0x30,
  });
  auto pub = make_bytes({
    0x30, 0x12, 0x00, 0x0C, 0x73, 0x65, 0x6E, 0x73, 0x6F, 0x72, 0x73, 0x2F,
    0x74, 0x65, 0x6D, 0x70, 0x32, 0x31, 0x2E, 0x35,
  });
  auto disc = make_bytes({
    0xE0, 0x00,
  });
  // Defaults of mosquitto_pub: clean session, keep alive 60.
  CAF_CHECK(golden(conn, v311_connect("cap-pub0", 60, true), v311));
  CAF_CHECK(golden(pub, make_publish(qos::at_most_once, false, "sensors/temp",
                                     0, "21.5"),
                   v311));
  CAF_CHECK(golden(disc, disconnect{}, v311));
}

CAF_TEST(mosquitto_pub v311 qos 1 retain with user name and password) {
  // mosquitto_pub -h 127.0.0.1 -p 18990 -V mqttv311 -i cap-pub1 -u alice
  //   -P secret -k 30 -q 1 -r -t a/b -m hello
  auto conn = make_bytes({
    0x10, 0x23, 0x00, 0x04, 0x4D, 0x51, 0x54, 0x54, 0x04, 0xC2, 0x00, 0x1E,
    0x00, 0x08, 0x63, 0x61, 0x70, 0x2D, 0x70, 0x75, 0x62, 0x31, 0x00, 0x05,
    0x61, 0x6C, 0x69, 0x63, 0x65, 0x00, 0x06, 0x73, 0x65, 0x63, 0x72, 0x65,
    0x74,
  });
  auto pub = make_bytes({
    0x33, 0x0C, 0x00, 0x03, 0x61, 0x2F, 0x62, 0x00, 0x01, 0x68, 0x65, 0x6C,
    0x6C, 0x6F,
  });
  auto disc = make_bytes({
    0xE0, 0x00,
  });
  auto c = v311_connect("cap-pub1", 30, true);
  c.username = "alice";
  c.password = "secret";
  CAF_CHECK(golden(conn, c, v311));
  CAF_CHECK(golden(pub, make_publish(qos::at_least_once, true, "a/b", 1,
                                     "hello"),
                   v311));
  CAF_CHECK(golden(disc, disconnect{}, v311));
}

CAF_TEST(mosquitto_pub v311 qos 2 persistent session with will) {
  // mosquitto_pub -h 127.0.0.1 -p 18990 -V mqttv311 -i cap-pub2 -c -k 120
  //   -q 2 --will-topic will/t --will-payload gone --will-qos 1
  //   --will-retain -t q2/topic -m x2
  auto conn = make_bytes({
    0x10, 0x22, 0x00, 0x04, 0x4D, 0x51, 0x54, 0x54, 0x04, 0x2C, 0x00, 0x78,
    0x00, 0x08, 0x63, 0x61, 0x70, 0x2D, 0x70, 0x75, 0x62, 0x32, 0x00, 0x06,
    0x77, 0x69, 0x6C, 0x6C, 0x2F, 0x74, 0x00, 0x04, 0x67, 0x6F, 0x6E, 0x65,
  });
  auto pub = make_bytes({
    0x34, 0x0E, 0x00, 0x08, 0x71, 0x32, 0x2F, 0x74, 0x6F, 0x70, 0x69, 0x63,
    0x00, 0x01, 0x78, 0x32,
  });
  auto rel = make_bytes({
    0x62, 0x02, 0x00, 0x01,
  });
  auto disc = make_bytes({
    0xE0, 0x00,
  });
  auto c = v311_connect("cap-pub2", 120, false); // -c: clean session 0
  will_message w;
  w.qos_level = qos::at_least_once;
  w.retain = true;
  w.topic = "will/t";
  w.payload = "gone";
  c.will = w;
  CAF_CHECK(golden(conn, c, v311));
  CAF_CHECK(golden(pub, make_publish(qos::exactly_once, false, "q2/topic", 1,
                                     "x2"),
                   v311));
  CAF_CHECK(golden(rel, make_ack<pubrel>(1), v311));
  CAF_CHECK(golden(disc, disconnect{}, v311));
}

CAF_TEST(mosquitto_sub v311 two wildcard filters) {
  // mosquitto_sub -h 127.0.0.1 -p 18990 -V mqttv311 -i cap-sub -q 2
  //   -t sport/+/score -t sport/# -E
  auto conn = make_bytes({
    0x10, 0x13, 0x00, 0x04, 0x4D, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x3C,
    0x00, 0x07, 0x63, 0x61, 0x70, 0x2D, 0x73, 0x75, 0x62,
  });
  auto sub = make_bytes({
    0x82, 0x1C, 0x00, 0x01, 0x00, 0x0D, 0x73, 0x70, 0x6F, 0x72, 0x74, 0x2F,
    0x2B, 0x2F, 0x73, 0x63, 0x6F, 0x72, 0x65, 0x02, 0x00, 0x07, 0x73, 0x70,
    0x6F, 0x72, 0x74, 0x2F, 0x23, 0x02,
  });
  auto disc = make_bytes({
    0xE0, 0x00,
  });
  CAF_CHECK(golden(conn, v311_connect("cap-sub", 60, true), v311));
  subscribe s;
  s.packet_id = 1;
  s.subscriptions.push_back({"sport/+/score", qos::exactly_once});
  s.subscriptions.push_back({"sport/#", qos::exactly_once});
  CAF_CHECK(golden(sub, s, v311));
  CAF_CHECK(golden(disc, disconnect{}, v311));
}

CAF_TEST(mosquitto_sub v311 unsubscribe) {
  // mosquitto_sub -h 127.0.0.1 -p 18990 -V mqttv311 -i cap-sub3 -t keep/t
  //   -U old/a -U old/# -E
  auto conn = make_bytes({
    0x10, 0x14, 0x00, 0x04, 0x4D, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x3C,
    0x00, 0x08, 0x63, 0x61, 0x70, 0x2D, 0x73, 0x75, 0x62, 0x33,
  });
  auto sub = make_bytes({
    0x82, 0x0B, 0x00, 0x01, 0x00, 0x06, 0x6B, 0x65, 0x65, 0x70, 0x2F, 0x74,
    0x00,
  });
  auto unsub1 = make_bytes({
    0xA2, 0x09, 0x00, 0x02, 0x00, 0x05, 0x6F, 0x6C, 0x64, 0x2F, 0x61,
  });
  auto unsub2 = make_bytes({
    0xA2, 0x09, 0x00, 0x03, 0x00, 0x05, 0x6F, 0x6C, 0x64, 0x2F, 0x23,
  });
  auto disc = make_bytes({
    0xE0, 0x00,
  });
  CAF_CHECK(golden(conn, v311_connect("cap-sub3", 60, true), v311));
  subscribe s;
  s.packet_id = 1;
  s.subscriptions.push_back({"keep/t", qos::at_most_once});
  CAF_CHECK(golden(sub, s, v311));
  unsubscribe u1;
  u1.packet_id = 2;
  u1.filters = {"old/a"};
  CAF_CHECK(golden(unsub1, u1, v311));
  unsubscribe u2;
  u2.packet_id = 3;
  u2.filters = {"old/#"};
  CAF_CHECK(golden(unsub2, u2, v311));
  CAF_CHECK(golden(disc, disconnect{}, v311));
}

// -- MQTT 5.0 clients (fake broker) -------------------------------------------

CAF_TEST(mosquitto_pub v5 qos 0 with publish properties) {
  // mosquitto_pub -h 127.0.0.1 -p 18990 -V mqttv5 -i cap-v5-pub0
  //   -t v5/topic -m payload
  //   -D publish content-type text/plain
  //   -D publish user-property k1 v1 -D publish user-property k2 v2
  //   -D publish message-expiry-interval 3600
  //   -D publish payload-format-indicator 1
  //   -D publish response-topic resp/t -D publish correlation-data c0rr
  auto conn = make_bytes({
    0x10, 0x1B, 0x00, 0x04, 0x4D, 0x51, 0x54, 0x54, 0x05, 0x02, 0x00, 0x3C,
    0x03, 0x21, 0x00, 0x14, 0x00, 0x0B, 0x63, 0x61, 0x70, 0x2D, 0x76, 0x35,
    0x2D, 0x70, 0x75, 0x62, 0x30,
  });
  auto pub = make_bytes({
    0x30, 0x48, 0x00, 0x08, 0x76, 0x35, 0x2F, 0x74, 0x6F, 0x70, 0x69, 0x63,
    0x36, 0x03, 0x00, 0x0A, 0x74, 0x65, 0x78, 0x74, 0x2F, 0x70, 0x6C, 0x61,
    0x69, 0x6E, 0x26, 0x00, 0x02, 0x6B, 0x31, 0x00, 0x02, 0x76, 0x31, 0x26,
    0x00, 0x02, 0x6B, 0x32, 0x00, 0x02, 0x76, 0x32, 0x02, 0x00, 0x00, 0x0E,
    0x10, 0x01, 0x01, 0x08, 0x00, 0x06, 0x72, 0x65, 0x73, 0x70, 0x2F, 0x74,
    0x09, 0x00, 0x04, 0x63, 0x30, 0x72, 0x72, 0x70, 0x61, 0x79, 0x6C, 0x6F,
    0x61, 0x64,
  });
  auto disc = make_bytes({
    0xE0, 0x00,
  });
  auto c = v5_connect("cap-v5-pub0", 60, true);
  c.props.receive_maximum = 20; // libmosquitto's default
  CAF_CHECK(golden(conn, c, v5));
  auto p = make_publish(qos::at_most_once, false, "v5/topic", 0, "payload");
  p.props.content_type = "text/plain";
  p.props.user_properties = {{"k1", "v1"}, {"k2", "v2"}};
  p.props.message_expiry_interval = 3600;
  p.props.payload_format_indicator = 1;
  p.props.response_topic = "resp/t";
  p.props.correlation_data = "c0rr";
  CAF_CHECK(decodes_to(pub, p, v5)); // properties not in identifier order
  CAF_CHECK(golden(disc, disconnect{}, v5));
}

CAF_TEST(mosquitto_pub v5 qos 1 retain with connect properties) {
  // mosquitto_pub -h 127.0.0.1 -p 18990 -V mqttv5 -i cap-v5-pub1 -u bob
  //   -P pw -k 45 -q 1 -r -t v5/q1 -m m1
  //   -D connect session-expiry-interval 300 -D connect receive-maximum 10
  //   -D connect maximum-packet-size 65536 -D connect topic-alias-maximum 5
  //   -D connect request-problem-information 0
  //   -D connect user-property ck cv
  auto conn = make_bytes({
    0x10, 0x3C, 0x00, 0x04, 0x4D, 0x51, 0x54, 0x54, 0x05, 0xC2, 0x00, 0x2D,
    0x1B, 0x11, 0x00, 0x00, 0x01, 0x2C, 0x21, 0x00, 0x0A, 0x27, 0x00, 0x01,
    0x00, 0x00, 0x22, 0x00, 0x05, 0x17, 0x00, 0x26, 0x00, 0x02, 0x63, 0x6B,
    0x00, 0x02, 0x63, 0x76, 0x00, 0x0B, 0x63, 0x61, 0x70, 0x2D, 0x76, 0x35,
    0x2D, 0x70, 0x75, 0x62, 0x31, 0x00, 0x03, 0x62, 0x6F, 0x62, 0x00, 0x02,
    0x70, 0x77,
  });
  auto pub = make_bytes({
    0x33, 0x0C, 0x00, 0x05, 0x76, 0x35, 0x2F, 0x71, 0x31, 0x00, 0x01, 0x00,
    0x6D, 0x31,
  });
  auto disc = make_bytes({
    0xE0, 0x00,
  });
  auto c = v5_connect("cap-v5-pub1", 45, true);
  c.props.session_expiry_interval = 300;
  c.props.receive_maximum = 10;
  c.props.maximum_packet_size = 65536;
  c.props.topic_alias_maximum = 5;
  c.props.request_problem_information = 0;
  c.props.user_properties = {{"ck", "cv"}};
  c.username = "bob";
  c.password = "pw";
  CAF_CHECK(decodes_to(conn, c, v5)); // properties not in identifier order
  CAF_CHECK(golden(pub, make_publish(qos::at_least_once, true, "v5/q1", 1,
                                     "m1"),
                   v5));
  CAF_CHECK(golden(disc, disconnect{}, v5));
}

CAF_TEST(mosquitto_pub v5 qos 2 with will properties) {
  // mosquitto_pub -h 127.0.0.1 -p 18990 -V mqttv5 -i cap-v5-pub2 -c -q 2
  //   -t v5/q2 -m m2 --will-topic v5/will --will-payload bye --will-qos 2
  //   -D will will-delay-interval 10 -D will content-type text/plain
  //   -D will user-property wk wv
  auto conn = make_bytes({
    0x10, 0x4A, 0x00, 0x04, 0x4D, 0x51, 0x54, 0x54, 0x05, 0x14, 0x00, 0x3C,
    0x08, 0x11, 0xFF, 0xFF, 0xFF, 0xFF, 0x21, 0x00, 0x14, 0x00, 0x0B, 0x63,
    0x61, 0x70, 0x2D, 0x76, 0x35, 0x2D, 0x70, 0x75, 0x62, 0x32, 0x1B, 0x18,
    0x00, 0x00, 0x00, 0x0A, 0x03, 0x00, 0x0A, 0x74, 0x65, 0x78, 0x74, 0x2F,
    0x70, 0x6C, 0x61, 0x69, 0x6E, 0x26, 0x00, 0x02, 0x77, 0x6B, 0x00, 0x02,
    0x77, 0x76, 0x00, 0x07, 0x76, 0x35, 0x2F, 0x77, 0x69, 0x6C, 0x6C, 0x00,
    0x03, 0x62, 0x79, 0x65,
  });
  auto pub = make_bytes({
    0x34, 0x0C, 0x00, 0x05, 0x76, 0x35, 0x2F, 0x71, 0x32, 0x00, 0x01, 0x00,
    0x6D, 0x32,
  });
  auto rel = make_bytes({
    0x62, 0x02, 0x00, 0x01,
  });
  auto disc = make_bytes({
    0xE0, 0x00,
  });
  auto c = v5_connect("cap-v5-pub2", 60, false);
  // -c in 5.0: clean start 0 and a session that never expires.
  c.props.session_expiry_interval = 0xFFFFFFFF;
  c.props.receive_maximum = 20;
  will_message w;
  w.qos_level = qos::exactly_once;
  w.topic = "v5/will";
  w.payload = "bye";
  w.props.will_delay_interval = 10;
  w.props.content_type = "text/plain";
  w.props.user_properties = {{"wk", "wv"}};
  c.will = w;
  CAF_CHECK(decodes_to(conn, c, v5)); // will properties not in id order
  CAF_CHECK(golden(pub, make_publish(qos::exactly_once, false, "v5/q2", 1,
                                     "m2"),
                   v5));
  CAF_CHECK(golden(rel, make_ack<pubrel>(1), v5)); // short form, rl 2
  CAF_CHECK(golden(disc, disconnect{}, v5));
}

CAF_TEST(mosquitto_sub v5 subscribe with user property) {
  // mosquitto_sub -h 127.0.0.1 -p 18990 -V mqttv5 -i cap-v5-sub -q 1
  //   -t home/+/temp -t home/# -E -D subscribe user-property sk sv
  auto conn = make_bytes({
    0x10, 0x1A, 0x00, 0x04, 0x4D, 0x51, 0x54, 0x54, 0x05, 0x02, 0x00, 0x3C,
    0x03, 0x21, 0x00, 0x14, 0x00, 0x0A, 0x63, 0x61, 0x70, 0x2D, 0x76, 0x35,
    0x2D, 0x73, 0x75, 0x62,
  });
  auto sub = make_bytes({
    0x82, 0x23, 0x00, 0x01, 0x09, 0x26, 0x00, 0x02, 0x73, 0x6B, 0x00, 0x02,
    0x73, 0x76, 0x00, 0x0B, 0x68, 0x6F, 0x6D, 0x65, 0x2F, 0x2B, 0x2F, 0x74,
    0x65, 0x6D, 0x70, 0x01, 0x00, 0x06, 0x68, 0x6F, 0x6D, 0x65, 0x2F, 0x23,
    0x01,
  });
  auto disc = make_bytes({
    0xE0, 0x00,
  });
  auto c = v5_connect("cap-v5-sub", 60, true);
  c.props.receive_maximum = 20;
  CAF_CHECK(golden(conn, c, v5));
  subscribe s;
  s.packet_id = 1;
  s.props.user_properties = {{"sk", "sv"}};
  s.subscriptions.push_back({"home/+/temp", qos::at_least_once});
  s.subscriptions.push_back({"home/#", qos::at_least_once});
  CAF_CHECK(golden(sub, s, v5));
  CAF_CHECK(golden(disc, disconnect{}, v5));
}

CAF_TEST(mosquitto_sub v5 subscription identifier and unsubscribe) {
  // mosquitto_sub -h 127.0.0.1 -p 18990 -V mqttv5 -i cap-v5-sub2 -x 600
  //   -q 2 -t fleet/# -E -D subscribe subscription-identifier 42
  //   -U old/a -U old/+/b -D unsubscribe user-property uk uv
  auto conn = make_bytes({
    0x10, 0x20, 0x00, 0x04, 0x4D, 0x51, 0x54, 0x54, 0x05, 0x02, 0x00, 0x3C,
    0x08, 0x11, 0x00, 0x00, 0x02, 0x58, 0x21, 0x00, 0x14, 0x00, 0x0B, 0x63,
    0x61, 0x70, 0x2D, 0x76, 0x35, 0x2D, 0x73, 0x75, 0x62, 0x32,
  });
  auto sub = make_bytes({
    0x82, 0x0F, 0x00, 0x01, 0x02, 0x0B, 0x2A, 0x00, 0x07, 0x66, 0x6C, 0x65,
    0x65, 0x74, 0x2F, 0x23, 0x02,
  });
  auto unsub1 = make_bytes({
    0xA2, 0x13, 0x00, 0x02, 0x09, 0x26, 0x00, 0x02, 0x75, 0x6B, 0x00, 0x02,
    0x75, 0x76, 0x00, 0x05, 0x6F, 0x6C, 0x64, 0x2F, 0x61,
  });
  auto unsub2 = make_bytes({
    0xA2, 0x15, 0x00, 0x03, 0x09, 0x26, 0x00, 0x02, 0x75, 0x6B, 0x00, 0x02,
    0x75, 0x76, 0x00, 0x07, 0x6F, 0x6C, 0x64, 0x2F, 0x2B, 0x2F, 0x62,
  });
  auto disc = make_bytes({
    0xE0, 0x00,
  });
  auto c = v5_connect("cap-v5-sub2", 60, true);
  c.props.session_expiry_interval = 600; // -x 600
  c.props.receive_maximum = 20;
  CAF_CHECK(golden(conn, c, v5));
  subscribe s;
  s.packet_id = 1;
  s.props.subscription_identifiers = {42};
  s.subscriptions.push_back({"fleet/#", qos::exactly_once});
  CAF_CHECK(golden(sub, s, v5));
  unsubscribe u1;
  u1.packet_id = 2;
  u1.props.user_properties = {{"uk", "uv"}};
  u1.filters = {"old/a"};
  CAF_CHECK(golden(unsub1, u1, v5));
  unsubscribe u2;
  u2.packet_id = 3;
  u2.props.user_properties = {{"uk", "uv"}};
  u2.filters = {"old/+/b"};
  CAF_CHECK(golden(unsub2, u2, v5));
  CAF_CHECK(golden(disc, disconnect{}, v5));
}

// -- relayed to a real mosquitto 2.0.11 broker (both directions) -------------

CAF_TEST(mosquitto broker v5 retained message with subscription identifier) {
  // Relay scenario relay_v5_retained_subid, broker: mosquitto -p 18991.
  // 1) mosquitto_pub -h 127.0.0.1 -p 18990 -V mqttv5 -i cap-r-pub -q 1 -r
  //      -t relay/t -m keep
  auto pub_connack = make_bytes({
    0x20, 0x09, 0x00, 0x00, 0x06, 0x22, 0x00, 0x0A, 0x21, 0x00, 0x14,
  }); // broker ->
  auto pub_publish = make_bytes({
    0x33, 0x10, 0x00, 0x07, 0x72, 0x65, 0x6C, 0x61, 0x79, 0x2F, 0x74, 0x00,
    0x01, 0x00, 0x6B, 0x65, 0x65, 0x70,
  }); // client ->
  auto pub_puback = make_bytes({
    0x40, 0x03, 0x00, 0x01, 0x10,
  });  // broker ->
  connack ca;
  ca.props.topic_alias_maximum = 10;
  ca.props.receive_maximum = 20;
  CAF_CHECK(decodes_to(pub_connack, ca, v5)); // 0x22 before 0x21
  CAF_CHECK(golden(pub_publish, make_publish(qos::at_least_once, true,
                                             "relay/t", 1, "keep"),
                   v5));
  // PUBACK short form with remaining length 3: 0x10 no matching subscribers.
  CAF_CHECK(golden(pub_puback,
                   make_ack<puback>(1, reason_code::no_matching_subscribers),
                   v5));
  // 2) mosquitto_sub -h 127.0.0.1 -p 18990 -V mqttv5 -i cap-r-sub -q 2
  //      -t relay/# -C 1 -D subscribe subscription-identifier 7
  auto sub_connect = make_bytes({
    0x10, 0x19, 0x00, 0x04, 0x4D, 0x51, 0x54, 0x54, 0x05, 0x02, 0x00, 0x3C,
    0x03, 0x21, 0x00, 0x01, 0x00, 0x09, 0x63, 0x61, 0x70, 0x2D, 0x72, 0x2D,
    0x73, 0x75, 0x62,
  });  // client ->
  auto sub_subscribe = make_bytes({
    0x82, 0x0F, 0x00, 0x01, 0x02, 0x0B, 0x07, 0x00, 0x07, 0x72, 0x65, 0x6C,
    0x61, 0x79, 0x2F, 0x23, 0x02,
  }); // client ->
  auto sub_suback = make_bytes({
    0x90, 0x04, 0x00, 0x01, 0x00, 0x02,
  });   // broker ->
  auto sub_publish = make_bytes({
    0x33, 0x12, 0x00, 0x07, 0x72, 0x65, 0x6C, 0x61, 0x79, 0x2F, 0x74, 0x00,
    0x01, 0x02, 0x0B, 0x07, 0x6B, 0x65, 0x65, 0x70,
  });  // broker ->
  auto sub_puback = make_bytes({
    0x40, 0x02, 0x00, 0x01,
  });   // client ->
  auto c = v5_connect("cap-r-sub", 60, true);
  c.props.receive_maximum = 1; // mosquitto_sub -C 1
  CAF_CHECK(golden(sub_connect, c, v5));
  subscribe s;
  s.packet_id = 1;
  s.props.subscription_identifiers = {7};
  s.subscriptions.push_back({"relay/#", qos::exactly_once});
  CAF_CHECK(golden(sub_subscribe, s, v5));
  suback sa;
  sa.packet_id = 1;
  sa.codes = {reason_code::granted_qos_2};
  CAF_CHECK(golden(sub_suback, sa, v5));
  // The retained message, at the publisher's QoS 1, retain flag set, with
  // the subscription identifier of the matching subscription (§3.3.4).
  auto delivered = make_publish(qos::at_least_once, true, "relay/t", 1,
                                "keep");
  delivered.props.subscription_identifiers = {7};
  CAF_CHECK(golden(sub_publish, delivered, v5));
  CAF_CHECK(golden(sub_puback, make_ack<puback>(1), v5));
  // 3) mosquitto_pub -h 127.0.0.1 -p 18990 -V mqttv5 -i cap-r-del -q 2 -r
  //      -t relay/t -n
  auto del_publish = make_bytes({
    0x35, 0x0C, 0x00, 0x07, 0x72, 0x65, 0x6C, 0x61, 0x79, 0x2F, 0x74, 0x00,
    0x01, 0x00,
  }); // client ->
  auto del_pubrec = make_bytes({
    0x50, 0x02, 0x00, 0x01,
  });  // broker ->
  auto del_pubrel = make_bytes({
    0x62, 0x02, 0x00, 0x01,
  });  // client ->
  auto del_pubcomp = make_bytes({
    0x70, 0x02, 0x00, 0x01,
  }); // broker ->
  CAF_CHECK(golden(del_publish, make_publish(qos::exactly_once, true,
                                             "relay/t", 1, ""),
                   v5));
  CAF_CHECK(golden(del_pubrec, make_ack<pubrec>(1), v5));
  CAF_CHECK(golden(del_pubrel, make_ack<pubrel>(1), v5));
  CAF_CHECK(golden(del_pubcomp, make_ack<pubcomp>(1), v5));
}

CAF_TEST(mosquitto broker v311 retained message) {
  // Relay scenario relay_v311_retained, broker: mosquitto -p 18991.
  // 1) mosquitto_pub -h 127.0.0.1 -p 18990 -V mqttv311 -i cap-r3-pub -q 2
  //      -r -t relay3/t -m keep3
  auto pub_connect = make_bytes({
    0x10, 0x16, 0x00, 0x04, 0x4D, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x3C,
    0x00, 0x0A, 0x63, 0x61, 0x70, 0x2D, 0x72, 0x33, 0x2D, 0x70, 0x75, 0x62,
  }); // client ->
  auto pub_connack = make_bytes({
    0x20, 0x02, 0x00, 0x00,
  }); // broker ->
  auto pub_publish = make_bytes({
    0x35, 0x11, 0x00, 0x08, 0x72, 0x65, 0x6C, 0x61, 0x79, 0x33, 0x2F, 0x74,
    0x00, 0x01, 0x6B, 0x65, 0x65, 0x70, 0x33,
  }); // client ->
  auto pub_pubrec = make_bytes({
    0x50, 0x02, 0x00, 0x01,
  });  // broker ->
  auto pub_pubrel = make_bytes({
    0x62, 0x02, 0x00, 0x01,
  });  // client ->
  auto pub_pubcomp = make_bytes({
    0x70, 0x02, 0x00, 0x01,
  }); // broker ->
  CAF_CHECK(golden(pub_connect, v311_connect("cap-r3-pub", 60, true), v311));
  CAF_CHECK(golden(pub_connack, connack{}, v311));
  CAF_CHECK(golden(pub_publish, make_publish(qos::exactly_once, true,
                                             "relay3/t", 1, "keep3"),
                   v311));
  CAF_CHECK(golden(pub_pubrec, make_ack<pubrec>(1), v311));
  CAF_CHECK(golden(pub_pubrel, make_ack<pubrel>(1), v311));
  CAF_CHECK(golden(pub_pubcomp, make_ack<pubcomp>(1), v311));
  // 2) mosquitto_sub -h 127.0.0.1 -p 18990 -V mqttv311 -i cap-r3-sub -q 1
  //      -t relay3/+ -C 1
  auto sub_subscribe = make_bytes({
    0x82, 0x0D, 0x00, 0x01, 0x00, 0x08, 0x72, 0x65, 0x6C, 0x61, 0x79, 0x33,
    0x2F, 0x2B, 0x01,
  }); // client ->
  auto sub_suback = make_bytes({
    0x90, 0x03, 0x00, 0x01, 0x01,
  });    // broker ->
  auto sub_publish = make_bytes({
    0x33, 0x11, 0x00, 0x08, 0x72, 0x65, 0x6C, 0x61, 0x79, 0x33, 0x2F, 0x74,
    0x00, 0x01, 0x6B, 0x65, 0x65, 0x70, 0x33,
  });   // broker ->
  auto sub_puback = make_bytes({
    0x40, 0x02, 0x00, 0x01,
  });    // client ->
  subscribe s;
  s.packet_id = 1;
  s.subscriptions.push_back({"relay3/+", qos::at_least_once});
  CAF_CHECK(golden(sub_subscribe, s, v311));
  suback sa;
  sa.packet_id = 1;
  sa.codes = {reason_code::granted_qos_1};
  CAF_CHECK(golden(sub_suback, sa, v311));
  // Retained QoS 2 message delivered at the granted QoS 1, retain set.
  CAF_CHECK(golden(sub_publish, make_publish(qos::at_least_once, true,
                                             "relay3/t", 1, "keep3"),
                   v311));
  CAF_CHECK(golden(sub_puback, make_ack<puback>(1), v311));
  // 3) mosquitto_pub -h 127.0.0.1 -p 18990 -V mqttv311 -i cap-r3-del -r
  //      -t relay3/t -n
  auto del_publish = make_bytes({
    0x31, 0x0A, 0x00, 0x08, 0x72, 0x65, 0x6C, 0x61, 0x79, 0x33, 0x2F, 0x74,
  }); // client ->
  auto del_disconnect = make_bytes({
    0xE0, 0x00,
  }); // client ->
  CAF_CHECK(golden(del_publish, make_publish(qos::at_most_once, true,
                                             "relay3/t", 0, ""),
                   v311));
  CAF_CHECK(golden(del_disconnect, disconnect{}, v311));
}
