#define CAF_SUITE protocol_roundtrip
#include <caf/test/unit_test.hpp>

// encode -> frame -> decode == original, for every packet type, both
// versions, without properties, with each allowed property alone, and with
// every allowed property at once. Also checks encoded_size against the bytes
// actually written and the shortest-form rules of the 5.0 acks, DISCONNECT
// and AUTH.

#include "amq/protocol/framer.hpp"
#include "amq/protocol/packet.hpp"
#include "amq/protocol/property_codec.hpp"
#include "amq/test/bytes.hpp"
#include "codec_check.hpp"

#include <string>
#include <type_traits>
#include <vector>

using namespace amq::protocol;
using amq::test::bytes;
using amq::test::hex;

namespace {

constexpr auto v311 = protocol_version::v311;
constexpr auto v5 = protocol_version::v5;

constexpr property_id all_ids[] = {
  property_id::payload_format_indicator,
  property_id::message_expiry_interval,
  property_id::content_type,
  property_id::response_topic,
  property_id::correlation_data,
  property_id::subscription_identifier,
  property_id::session_expiry_interval,
  property_id::assigned_client_identifier,
  property_id::server_keep_alive,
  property_id::authentication_method,
  property_id::authentication_data,
  property_id::request_problem_information,
  property_id::will_delay_interval,
  property_id::request_response_information,
  property_id::response_information,
  property_id::server_reference,
  property_id::reason_string,
  property_id::receive_maximum,
  property_id::topic_alias_maximum,
  property_id::topic_alias,
  property_id::maximum_qos,
  property_id::retain_available,
  property_id::user_property,
  property_id::maximum_packet_size,
  property_id::wildcard_subscription_available,
  property_id::subscription_identifier_available,
  property_id::shared_subscription_available,
};

/// Sets property `id` to a valid, non-default value.
void set_property(properties& p, property_id id) {
  switch (id) {
    case property_id::payload_format_indicator:
      p.payload_format_indicator = 1;
      break;
    case property_id::message_expiry_interval:
      p.message_expiry_interval = 0xDEADBEEF;
      break;
    case property_id::content_type:
      p.content_type = "application/json";
      break;
    case property_id::response_topic:
      p.response_topic = "reply/to/me";
      break;
    case property_id::correlation_data:
      p.correlation_data = std::string_view{"\x00\x01\xFF", 3};
      break;
    case property_id::subscription_identifier:
      p.subscription_identifiers.push_back(268'435'455); // 4-byte varint
      break;
    case property_id::session_expiry_interval:
      p.session_expiry_interval = 0xFFFFFFFF;
      break;
    case property_id::assigned_client_identifier:
      p.assigned_client_identifier = "auto-42";
      break;
    case property_id::server_keep_alive:
      p.server_keep_alive = 300;
      break;
    case property_id::authentication_method:
      p.authentication_method = "SCRAM-SHA-256";
      break;
    case property_id::authentication_data:
      p.authentication_data = std::string_view{"\x01\x00\x02", 3};
      break;
    case property_id::request_problem_information:
      p.request_problem_information = 0;
      break;
    case property_id::will_delay_interval:
      p.will_delay_interval = 60;
      break;
    case property_id::request_response_information:
      p.request_response_information = 1;
      break;
    case property_id::response_information:
      p.response_information = "resp/";
      break;
    case property_id::server_reference:
      p.server_reference = "other.example:1883";
      break;
    case property_id::reason_string:
      p.reason_string = "because \xC3\xA9t\xC3\xA9";
      break;
    case property_id::receive_maximum:
      p.receive_maximum = 65535;
      break;
    case property_id::topic_alias_maximum:
      p.topic_alias_maximum = 0; // 0 is valid here
      break;
    case property_id::topic_alias:
      p.topic_alias = 7;
      break;
    case property_id::maximum_qos:
      p.maximum_qos = 1;
      break;
    case property_id::retain_available:
      p.retain_available = 0;
      break;
    case property_id::user_property:
      p.user_properties.push_back({"k", "v"});
      p.user_properties.push_back({"k", "v2"}); // repeats, order kept
      p.user_properties.push_back({"", ""});
      break;
    case property_id::maximum_packet_size:
      p.maximum_packet_size = 1;
      break;
    case property_id::wildcard_subscription_available:
      p.wildcard_subscription_available = 0;
      break;
    case property_id::subscription_identifier_available:
      p.subscription_identifier_available = 1;
      break;
    case property_id::shared_subscription_available:
      p.shared_subscription_available = 0;
      break;
  }
}

/// Every property allowed in `ctx`.
properties every_property(property_context ctx) {
  properties p;
  for (auto id : all_ids)
    if (allowed_in(id, ctx))
      set_property(p, id);
  if (ctx == property_context::publish)
    p.subscription_identifiers.push_back(1); // may repeat in PUBLISH
  return p;
}

/// Each property allowed in `ctx`, alone. CONNECT's Authentication Data
/// needs an Authentication Method.
std::vector<properties> single_properties(property_context ctx) {
  std::vector<properties> out;
  for (auto id : all_ids) {
    if (!allowed_in(id, ctx))
      continue;
    properties p;
    set_property(p, id);
    if (id == property_id::authentication_data && ctx == property_context::connect)
      set_property(p, property_id::authentication_method);
    out.push_back(std::move(p));
  }
  return out;
}


/// Encodes `p`, frames the bytes with the framer, decodes them with the
/// typed and the generic decoder, and compares. Returns the wire bytes.
template <class T>
bytes roundtrip(const T& p, protocol_version v) {
  bytes wire;
  encode(p, v, wire);
  CAF_CHECK_EQUAL(wire.size(), encoded_size(p, v));
  bytes direct(wire.size() + 4, 0xEE);
  CAF_CHECK_EQUAL(encode_to(p, v, direct.data()), wire.size());
  CAF_CHECK(std::equal(wire.begin(), wire.end(), direct.begin()));
  CAF_CHECK_EQUAL(direct[wire.size()], 0xEE); // nothing written past the end
  framer fr;
  int frames = 0;
  auto err = fr.feed(wire, [&](const frame& f) {
    ++frames;
    CAF_CHECK_EQUAL(f.wire_size(), wire.size());
    auto typed = amq::test::decode_as<T>(f, v);
    if (!typed) {
      CAF_FAIL("decode failed: " << typed.error().message << " for "
                                  << to_string(p) << ": " << hex(wire));
    }
    if (!(*typed == p))
      CAF_ERROR("typed decode differs: " << to_string(*typed) << " vs "
                                         << to_string(p) << ": " << hex(wire));
    auto generic = decode(f, v);
    CAF_REQUIRE(generic.has_value());
    auto q = std::get_if<T>(&*generic);
    CAF_REQUIRE(q != nullptr);
    CAF_CHECK(*q == p);
    CAF_CHECK_EQUAL(encoded_size(*generic, v), wire.size());
    return true;
  });
  CAF_CHECK(!err);
  CAF_CHECK_EQUAL(frames, 1);
  CAF_CHECK_EQUAL(fr.buffered(), 0u);
  return wire;
}

/// Roundtrips `p` with no properties, each property of `ctx` alone and all
/// of them together, setting them via `props_of(p)`.
template <class T, class Props>
void roundtrip_with_properties(T p, property_context ctx, Props props_of) {
  roundtrip(p, v5);
  for (auto& single : single_properties(ctx)) {
    props_of(p) = single;
    roundtrip(p, v5);
  }
  props_of(p) = every_property(ctx);
  roundtrip(p, v5);
}

} // namespace

// -- CONNECT ------------------------------------------------------------------

CAF_TEST(connect without optional fields) {
  for (auto v : {v311, v5}) {
    connect p;
    p.version = v;
    roundtrip(p, v);
    p.clean_start = false;
    p.keep_alive = 65535;
    p.client_id = "client-\xE2\x82\xAC"; // euro sign
    roundtrip(p, v);
  }
}

CAF_TEST(connect with will user and password) {
  for (auto v : {v311, v5}) {
    for (auto q : {qos::at_most_once, qos::at_least_once, qos::exactly_once}) {
      for (bool retain : {false, true}) {
        connect p;
        p.version = v;
        p.client_id = "c";
        will_message w;
        w.qos_level = q;
        w.retain = retain;
        w.topic = "last/will";
        w.payload = std::string_view{"\x00\xFFgone", 6};
        p.will = w;
        p.username = "user";
        p.password = std::string_view{"\x00pw", 3};
        roundtrip(p, v);
      }
    }
    connect p;
    p.version = v;
    p.username = "only-user";
    roundtrip(p, v);
    p.username = "";
    p.password = "";
    roundtrip(p, v);
  }
  // 5.0 allows a password without a user name.
  connect p;
  p.version = v5;
  p.password = "token";
  roundtrip(p, v5);
}

CAF_TEST(connect with every property and every will property) {
  connect p;
  p.version = v5;
  p.client_id = "props";
  roundtrip_with_properties(p, property_context::connect,
                            [](connect& c) -> properties& { return c.props; });
  will_message w;
  w.topic = "w";
  w.payload = "bye";
  p.will = w;
  roundtrip_with_properties(p, property_context::will,
                            [](connect& c) -> properties& { return c.will->props; });
  p.props = every_property(property_context::connect);
  p.will->props = every_property(property_context::will);
  roundtrip(p, v5);
}

// -- CONNACK ------------------------------------------------------------------

CAF_TEST(connack) {
  for (uint8_t rc = 0; rc <= 5; ++rc) {
    connack p;
    CAF_REQUIRE(from_v311_connack(rc, p.code));
    auto wire = roundtrip(p, v311);
    CAF_CHECK_EQUAL(wire, (bytes{0x20, 0x02, 0x00, rc}));
  }
  connack sp;
  sp.session_present = true;
  roundtrip(sp, v311);
  roundtrip(sp, v5);
  for (uint8_t rc : {0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88,
                     0x89, 0x8A, 0x8C, 0x90, 0x95, 0x97, 0x99, 0x9A, 0x9B, 0x9C,
                     0x9D, 0x9F}) {
    connack p;
    p.code = static_cast<reason_code>(rc);
    roundtrip(p, v5);
  }
  roundtrip_with_properties(connack{}, property_context::connack,
                            [](connack& c) -> properties& { return c.props; });
}

// -- PUBLISH ------------------------------------------------------------------

CAF_TEST(publish flags ids and payload sizes) {
  std::string big(20'000, 'x'); // 3-byte remaining length
  std::string medium(200, 'y'); // 2-byte remaining length
  for (auto v : {v311, v5}) {
    for (auto q : {qos::at_most_once, qos::at_least_once, qos::exactly_once}) {
      for (bool dup : {false, true}) {
        if (dup && q == qos::at_most_once)
          continue;
        for (bool retain : {false, true}) {
          for (std::string_view payload : {std::string_view{}, std::string_view{"hi"},
                                           std::string_view{medium},
                                           std::string_view{big}}) {
            publish p;
            p.dup = dup;
            p.qos_level = q;
            p.retain = retain;
            p.topic = "a/b/\xC3\xBC";
            p.packet_id = q == qos::at_most_once ? 0 : 65535;
            p.payload = payload;
            roundtrip(p, v);
          }
        }
      }
    }
  }
}

CAF_TEST(publish with every property) {
  publish p;
  p.qos_level = qos::at_least_once;
  p.packet_id = 7;
  p.topic = "t";
  p.payload = "payload";
  roundtrip_with_properties(p, property_context::publish,
                            [](publish& x) -> properties& { return x.props; });
  // Empty topic with a topic alias (5.0 only).
  publish aliased;
  aliased.props.topic_alias = 3;
  aliased.payload = "x";
  roundtrip(aliased, v5);
}

CAF_TEST(publish to_string) {
  publish p;
  p.qos_level = qos::at_least_once;
  p.packet_id = 7;
  p.topic = "a/b";
  std::string payload(64, 'z');
  p.payload = payload;
  CAF_CHECK_EQUAL(to_string(p), R"(PUBLISH(q1, d0, r0, id=7, topic="a/b", 64 bytes))");
  CAF_CHECK_EQUAL(to_string(packet{p}), to_string(p));
}

// -- PUBACK / PUBREC / PUBREL / PUBCOMP ---------------------------------------

namespace {

template <class Ack>
void ack_roundtrips(property_context ctx, std::initializer_list<uint8_t> codes) {
  Ack p;
  p.packet_id = 0x1234;
  auto expected_header = static_cast<uint8_t>(
    (static_cast<uint8_t>(Ack::type) << 4) | (Ack::type == packet_type::pubrel ? 2 : 0));
  CAF_CHECK_EQUAL(roundtrip(p, v311), (bytes{expected_header, 0x02, 0x12, 0x34}));
  // 5.0 shortest forms: success without properties has remaining length 2.
  CAF_CHECK_EQUAL(roundtrip(p, v5), (bytes{expected_header, 0x02, 0x12, 0x34}));
  for (auto rc : codes) {
    p.code = static_cast<reason_code>(rc);
    auto wire = roundtrip(p, v5);
    if (rc != 0)
      CAF_CHECK_EQUAL(wire, (bytes{expected_header, 0x03, 0x12, 0x34, rc}));
  }
  p.code = reason_code::success;
  roundtrip_with_properties(p, ctx, [](Ack& x) -> properties& { return x.props; });
  p.code = static_cast<reason_code>(*(codes.end() - 1));
  roundtrip_with_properties(p, ctx, [](Ack& x) -> properties& { return x.props; });
}

} // namespace

CAF_TEST(acks) {
  ack_roundtrips<puback>(property_context::puback,
                         {0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99});
  ack_roundtrips<pubrec>(property_context::pubrec,
                         {0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99});
  ack_roundtrips<pubrel>(property_context::pubrel, {0x00, 0x92});
  ack_roundtrips<pubcomp>(property_context::pubcomp, {0x00, 0x92});
}

// -- SUBSCRIBE / SUBACK -------------------------------------------------------

CAF_TEST(subscribe) {
  subscribe p;
  p.packet_id = 10;
  for (auto q : {qos::at_most_once, qos::at_least_once, qos::exactly_once})
    p.subscriptions.push_back({"a/+/#", q});
  roundtrip(p, v311);
  // Syntactically invalid filters are not decode errors (answered in SUBACK).
  p.subscriptions.push_back({"a/#/b", qos::at_most_once});
  roundtrip(p, v311);
  // 5.0 options, every combination.
  subscribe p5;
  p5.packet_id = 11;
  for (auto q : {qos::at_most_once, qos::at_least_once, qos::exactly_once})
    for (bool nl : {false, true})
      for (bool rap : {false, true})
        for (auto rh : {retain_handling::send_on_subscribe,
                        retain_handling::send_if_new_subscription,
                        retain_handling::do_not_send})
          p5.subscriptions.push_back({"x/y", q, nl, rap, rh});
  p5.subscriptions.push_back({"$share/group/x/#", qos::at_least_once, false, true,
                              retain_handling::do_not_send});
  roundtrip(p5, v5);
  subscribe one;
  one.packet_id = 1;
  one.subscriptions.push_back({"#", qos::exactly_once});
  roundtrip_with_properties(one, property_context::subscribe,
                            [](subscribe& x) -> properties& { return x.props; });
}

CAF_TEST(suback) {
  suback p;
  p.packet_id = 9;
  p.codes = {reason_code::granted_qos_0, reason_code::granted_qos_1,
             reason_code::granted_qos_2, reason_code::unspecified_error};
  roundtrip(p, v311);
  suback p5;
  p5.packet_id = 9;
  for (uint8_t rc : {0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E,
                     0xA1, 0xA2})
    p5.codes.push_back(static_cast<reason_code>(rc));
  roundtrip_with_properties(p5, property_context::suback,
                            [](suback& x) -> properties& { return x.props; });
  // 3.1.1 encoding maps every failure code to 0x80.
  bytes wire;
  encode(p5, v311, wire);
  auto f = bytes{0x90, 0x0E, 0x00, 0x09, 0x00, 0x01, 0x02, 0x80, 0x80, 0x80,
                 0x80, 0x80, 0x80, 0x80, 0x80, 0x80};
  CAF_CHECK_EQUAL(hex(wire), hex(f));
}

// -- UNSUBSCRIBE / UNSUBACK ---------------------------------------------------

CAF_TEST(unsubscribe) {
  unsubscribe p;
  p.packet_id = 77;
  p.filters = {"a/b", "$share/g/c/+", "#"};
  roundtrip(p, v311);
  roundtrip_with_properties(p, property_context::unsubscribe,
                            [](unsubscribe& x) -> properties& { return x.props; });
}

CAF_TEST(unsuback) {
  unsuback p;
  p.packet_id = 78;
  CAF_CHECK_EQUAL(roundtrip(p, v311), (bytes{0xB0, 0x02, 0x00, 0x4E}));
  for (uint8_t rc : {0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91})
    p.codes.push_back(static_cast<reason_code>(rc));
  roundtrip_with_properties(p, property_context::unsuback,
                            [](unsuback& x) -> properties& { return x.props; });
}

// -- PINGREQ / PINGRESP / DISCONNECT / AUTH -----------------------------------

CAF_TEST(ping) {
  for (auto v : {v311, v5}) {
    CAF_CHECK_EQUAL(roundtrip(pingreq{}, v), (bytes{0xC0, 0x00}));
    CAF_CHECK_EQUAL(roundtrip(pingresp{}, v), (bytes{0xD0, 0x00}));
  }
}

CAF_TEST(disconnect) {
  CAF_CHECK_EQUAL(roundtrip(disconnect{}, v311), (bytes{0xE0, 0x00}));
  CAF_CHECK_EQUAL(roundtrip(disconnect{}, v5), (bytes{0xE0, 0x00}));
  for (uint8_t rc : {0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E,
                     0x8F, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A,
                     0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2}) {
    disconnect p;
    p.code = static_cast<reason_code>(rc);
    CAF_CHECK_EQUAL(roundtrip(p, v5), (bytes{0xE0, 0x01, rc}));
  }
  disconnect p;
  roundtrip_with_properties(p, property_context::disconnect,
                            [](disconnect& x) -> properties& { return x.props; });
  p.code = reason_code::server_shutting_down;
  roundtrip_with_properties(p, property_context::disconnect,
                            [](disconnect& x) -> properties& { return x.props; });
}

CAF_TEST(auth) {
  CAF_CHECK_EQUAL(roundtrip(auth{}, v5), (bytes{0xF0, 0x00}));
  for (auto rc : {reason_code::continue_authentication, reason_code::re_authenticate}) {
    auth p;
    p.code = rc;
    CAF_CHECK_EQUAL(roundtrip(p, v5),
                    (bytes{0xF0, 0x02, static_cast<uint8_t>(rc), 0x00}));
    roundtrip_with_properties(p, property_context::auth,
                              [](auth& x) -> properties& { return x.props; });
  }
}

// -- properties ---------------------------------------------------------------

CAF_TEST(property block encoded size matches the bytes written) {
  for (auto ctx : {property_context::connect, property_context::will,
                   property_context::connack, property_context::publish,
                   property_context::puback, property_context::subscribe,
                   property_context::disconnect, property_context::auth}) {
    auto p = every_property(ctx);
    CAF_CHECK(!p.empty());
    std::vector<uint8_t> buf(properties_wire_size(p) + 1, 0xEE);
    writer w{buf.data()};
    write_properties(w, p);
    CAF_CHECK_EQUAL(static_cast<size_t>(w.position() - buf.data()),
                    properties_wire_size(p));
    reader r{std::span<const uint8_t>{buf.data(), buf.size() - 1}};
    properties back;
    CAF_CHECK(read_properties(r, ctx, back));
    CAF_CHECK(r.at_end());
    CAF_CHECK(back == p);
  }
  CAF_CHECK(properties{}.empty());
  CAF_CHECK_EQUAL(properties_wire_size(properties{}), 1u);
}

CAF_TEST(to_string covers every packet) {
  // One line each, starting with the packet name.
  std::vector<packet> all{connect{},     connack{},  publish{},   puback{},
                          pubrec{},      pubrel{},   pubcomp{},   subscribe{},
                          suback{},      unsubscribe{}, unsuback{}, pingreq{},
                          pingresp{},    disconnect{}, auth{}};
  for (size_t i = 0; i < all.size(); ++i) {
    auto s = to_string(all[i]);
    auto name = to_string(static_cast<packet_type>(i + 1));
    CAF_CHECK_EQUAL(s.substr(0, name.size()), name);
    CAF_CHECK_EQUAL(s.find('\n'), std::string::npos);
  }
}
