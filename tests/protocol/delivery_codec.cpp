#define CAF_SUITE protocol_delivery_codec
#include <caf/test/unit_test.hpp>

// append_delivery (the subscriber hot path) writes exactly the bytes of the
// generic path it replaces — to_publish + encode_to<publish> — for every
// combination of version, QoS, flags, message properties, subscription
// identifiers, topic alias and expiry; it honours the size limit; and the
// bytes decode back to the same PUBLISH.

#include "amq/protocol/delivery_codec.hpp"
#include "amq/protocol/framer.hpp"
#include "amq/protocol/packet.hpp"
#include "amq/test/bytes.hpp"

#include <string>
#include <vector>

using namespace amq::protocol;
using amq::test::bytes;
using amq::test::hex;
using amq::test::make_bytes;

namespace {

using clock_type = message::clock;

/// The generic path: the packet to_publish builds, as session_machine
/// built it before append_delivery.
bytes generic(const message& m, const delivery_header& h, protocol_version v,
              clock_type::time_point now) {
  std::vector<string_pair> scratch;
  publish pub;
  to_publish(m, h.q, h.retain, now, scratch, pub);
  pub.dup = h.dup;
  pub.packet_id = h.packet_id;
  if (v == protocol_version::v5) {
    pub.props.subscription_identifiers.assign(h.subscription_ids.begin(),
                                              h.subscription_ids.end());
    if (h.topic_alias != 0)
      pub.props.topic_alias = h.topic_alias;
    if (h.alias_only)
      pub.topic = {};
  } else {
    pub.props = properties{};
  }
  bytes out;
  encode(pub, v, out);
  return out;
}

std::vector<message> messages(clock_type::time_point now) {
  std::vector<message> out;
  message plain;
  plain.topic = "a/b";
  plain.payload = std::string(64, 'x');
  out.push_back(plain);
  message empty = plain;
  empty.payload.clear();
  out.push_back(empty);
  message big = plain; // remaining length needs 3 bytes
  big.topic = std::string(300, 't');
  big.payload = std::string(20000, 'p');
  out.push_back(big);
  message props = plain;
  props.payload_format_indicator = 1;
  props.content_type = "text/plain";
  props.response_topic = "reply/here";
  props.correlation_data = std::string("\x00\x01\xff", 3);
  props.user_properties = {{"k1", "v1"}, {"", ""}, {"key", std::string(200, 'v')}};
  props.expires_at = now + std::chrono::milliseconds{90'500}; // 91 s left (rounded up)
  out.push_back(props);
  message expired = plain;
  expired.expires_at = now - std::chrono::seconds{1}; // 0 s left
  out.push_back(expired);
  message only_user = plain;
  only_user.user_properties = {{"a", "b"}};
  out.push_back(only_user);
  return out;
}

} // namespace

CAF_TEST(append_delivery equals the generic encoder in every combination) {
  auto now = clock_type::now();
  const std::vector<std::vector<uint32_t>> id_sets = {
    {}, {1}, {127, 128, 268'435'455}, {5, 16'384, 2'097'151, 42}};
  size_t cases = 0;
  for (auto v : {protocol_version::v311, protocol_version::v5})
    for (auto& m : messages(now))
      for (auto q : {qos::at_most_once, qos::at_least_once, qos::exactly_once})
        for (int flags = 0; flags < 4; ++flags)
          for (auto& ids : id_sets)
            for (int alias = 0; alias < 3; ++alias) {
              delivery_header h;
              h.q = q;
              h.retain = (flags & 1) != 0;
              h.dup = (flags & 2) != 0 && q != qos::at_most_once;
              h.packet_id = q == qos::at_most_once ? 0 : 0xBEEF;
              h.subscription_ids = ids;
              h.topic_alias = alias == 0 ? 0 : 7;
              h.alias_only = alias == 2;
              auto want = generic(m, h, v, now);
              bytes got = make_bytes({0xAA, 0xBB}); // appends after what is there
              auto n = append_delivery(m, h, v, now, 0, got);
              CAF_REQUIRE_EQUAL(n, want.size());
              CAF_REQUIRE_EQUAL(got.size(), want.size() + 2);
              bytes tail(got.begin() + 2, got.end());
              if (tail != want)
                CAF_FAIL("v" << static_cast<int>(v) << " q" << static_cast<int>(q) << " flags "
                             << flags << " ids " << ids.size() << " alias " << alias
                             << "\n got  " << hex(tail) << "\n want " << hex(want));
              ++cases;
            }
  CAF_MESSAGE(cases << " combinations");
}

CAF_TEST(append_delivery decodes back to the delivered PUBLISH) {
  auto now = clock_type::now();
  message m;
  m.topic = "s/t";
  m.payload = "hello";
  m.content_type = "c";
  m.user_properties = {{"n", "v"}};
  std::vector<uint32_t> ids{3, 300};
  delivery_header h;
  h.q = qos::exactly_once;
  h.retain = true;
  h.dup = true;
  h.packet_id = 9;
  h.subscription_ids = ids;
  h.topic_alias = 2;
  bytes out;
  append_delivery(m, h, protocol_version::v5, now, 0, out);
  framer fr;
  int frames = 0;
  auto err = fr.feed(out, [&](const frame& f) {
    ++frames;
    auto res = decode(f, protocol_version::v5);
    CAF_REQUIRE(res.has_value());
    auto& p = std::get<publish>(*res);
    CAF_CHECK_EQUAL(p.topic, "s/t");
    CAF_CHECK_EQUAL(p.payload, "hello");
    CAF_CHECK_EQUAL(p.packet_id, 9);
    CAF_CHECK(p.dup);
    CAF_CHECK(p.retain);
    CAF_CHECK(p.qos_level == qos::exactly_once);
    CAF_CHECK(p.props.subscription_identifiers == ids);
    CAF_CHECK(p.props.topic_alias == std::optional<uint16_t>{2});
    CAF_CHECK(p.props.content_type == std::optional<std::string_view>{"c"});
    CAF_REQUIRE_EQUAL(p.props.user_properties.size(), 1u);
    return true;
  });
  CAF_CHECK(!err);
  CAF_CHECK_EQUAL(frames, 1);
}

CAF_TEST(append_delivery golden bytes for 3.1.1 QoS 1) {
  message m;
  m.topic = "a/b";
  m.payload = "hi";
  delivery_header h;
  h.q = qos::at_least_once;
  h.packet_id = 10;
  bytes out;
  append_delivery(m, h, protocol_version::v311, clock_type::now(), 0, out);
  auto want = make_bytes({
    0x32,            // PUBLISH, QoS 1, DUP 0, RETAIN 0
    0x09,            // remaining length 9
    0x00, 0x03,      // topic length 3
    'a', '/', 'b',   // topic "a/b"
    0x00, 0x0A,      // packet identifier 10
    'h', 'i',        // payload
  });
  CAF_CHECK_EQUAL(hex(out), hex(want));
}

CAF_TEST(append_delivery appends nothing above the size limit) {
  message m;
  m.topic = "a/b";
  m.payload = std::string(100, 'x');
  delivery_header h;
  bytes out = make_bytes({1, 2, 3});
  auto n = append_delivery(m, h, protocol_version::v5, clock_type::now(), 50, out);
  CAF_CHECK_EQUAL(n, 1u + 1u + 2u + 3u + 1u + 100u); // header, length, topic, props, payload
  CAF_CHECK_EQUAL(out.size(), 3u);
  auto exact = append_delivery(m, h, protocol_version::v5, clock_type::now(), n, out);
  CAF_CHECK_EQUAL(exact, n);
  CAF_CHECK_EQUAL(out.size(), 3u + n);
}
