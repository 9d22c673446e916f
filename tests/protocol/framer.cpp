#define CAF_SUITE protocol_framer
#include <caf/test/unit_test.hpp>

// The incremental framer: zero-copy delivery of complete frames, buffering
// of a trailing partial frame only, splits at every byte boundary, oversize
// rejection from the fixed header alone, bad Remaining Length, sticky failure.

#include "amq/protocol/framer.hpp"
#include "amq/protocol/packet.hpp"
#include "amq/test/bytes.hpp"

#include <string>
#include <vector>

using namespace amq::protocol;
using amq::test::bytes;
using amq::test::hex;

namespace {

constexpr auto v5 = protocol_version::v5;

/// What the callback saw: header byte and a copy of the body.
struct seen_frame {
  uint8_t header;
  bytes body;
  friend bool operator==(const seen_frame&, const seen_frame&) = default;
};

/// A stream of packets of various sizes (1-, 2- and 3-byte remaining lengths,
/// empty bodies) and the frames it must produce.
struct stream_fixture {
  bytes wire;
  std::vector<seen_frame> expected;
  std::string medium = std::string(300, 'm');
  std::string large = std::string(17'000, 'L');

  template <class T>
  void add(const T& p) {
    bytes one;
    encode(p, v5, one);
    size_t header_len = 2; // type byte + remaining length bytes
    while (one[header_len - 1] & 0x80)
      ++header_len;
    expected.push_back({one[0], bytes(one.begin() + header_len, one.end())});
    wire.insert(wire.end(), one.begin(), one.end());
  }

  stream_fixture() {
    publish small;
    small.topic = "a/b";
    small.payload = "hello";
    add(small);
    add(pingreq{});
    publish mid;
    mid.qos_level = qos::at_least_once;
    mid.packet_id = 1;
    mid.topic = "m";
    mid.payload = medium;
    add(mid);
    puback ack;
    ack.packet_id = 1;
    add(ack);
    publish big;
    big.qos_level = qos::exactly_once;
    big.packet_id = 2;
    big.topic = "l";
    big.payload = large;
    add(big);
    add(disconnect{});
  }
};

/// Feeds `chunks` into a fresh framer and collects the frames.
std::vector<seen_frame> feed_chunks(framer& fr, const bytes& wire,
                                    const std::vector<size_t>& cuts) {
  std::vector<seen_frame> out;
  size_t pos = 0;
  auto collect = [&](const frame& f) {
    out.push_back({f.header, bytes(f.body.begin(), f.body.end())});
    return true;
  };
  for (auto cut : cuts) {
    auto err = fr.feed(std::span<const uint8_t>{wire.data() + pos, cut - pos}, collect);
    CAF_REQUIRE(!err);
    pos = cut;
  }
  auto err = fr.feed(std::span<const uint8_t>{wire.data() + pos, wire.size() - pos},
                     collect);
  CAF_REQUIRE(!err);
  return out;
}

} // namespace

CAF_TEST_FIXTURE_SCOPE(framer_tests, stream_fixture)

CAF_TEST(many frames in one buffer are delivered zero copy) {
  framer fr;
  std::vector<seen_frame> got;
  auto err = fr.feed(wire, [&](const frame& f) {
    // The body views the fed buffer itself.
    CAF_CHECK(f.body.empty()
              || (f.body.data() >= wire.data()
                  && f.body.data() + f.body.size() <= wire.data() + wire.size()));
    got.push_back({f.header, bytes(f.body.begin(), f.body.end())});
    return true;
  });
  CAF_CHECK(!err);
  CAF_CHECK(got == expected);
  CAF_CHECK_EQUAL(fr.buffered(), 0u);
  CAF_CHECK(!fr.failed());
}

CAF_TEST(a split at every byte boundary yields the same frames) {
  for (size_t cut = 0; cut <= wire.size(); ++cut) {
    framer fr;
    auto got = feed_chunks(fr, wire, {cut});
    if (got != expected)
      CAF_FAIL("frames differ when split at byte " << cut);
    CAF_CHECK_EQUAL(fr.buffered(), 0u);
  }
}

CAF_TEST(two splits around every frame boundary) {
  // All pairs of cuts within the first 400 bytes (small, medium frames and
  // the fixed header of the large one), then the rest in one piece.
  size_t limit = std::min<size_t>(wire.size(), 400);
  for (size_t a = 0; a <= limit; a += 1)
    for (size_t b = a; b <= limit; b += 7) {
      framer fr;
      if (feed_chunks(fr, wire, {a, b}) != expected)
        CAF_FAIL("frames differ for cuts " << a << ", " << b);
    }
}

CAF_TEST(byte by byte) {
  framer fr;
  std::vector<size_t> cuts;
  for (size_t i = 1; i < wire.size(); ++i)
    cuts.push_back(i);
  CAF_CHECK(feed_chunks(fr, wire, cuts) == expected);
  CAF_CHECK_EQUAL(fr.buffered(), 0u);
}

CAF_TEST(only the trailing partial frame is buffered) {
  framer fr;
  // First frame complete, then 3 bytes of the second (PINGREQ has 2 bytes,
  // so cut inside the third frame).
  auto first = 1 + 1 + expected[0].body.size();
  auto cut = first + 2 + 3;
  int n = 0;
  CAF_CHECK(!fr.feed(std::span<const uint8_t>{wire.data(), cut}, [&](const frame&) {
    ++n;
    return true;
  }));
  CAF_CHECK_EQUAL(n, 2);
  CAF_CHECK_EQUAL(fr.buffered(), 3u);
  // The rest: the completed frame comes from the buffer, later frames are
  // views into the new data.
  const uint8_t* rest = wire.data() + cut;
  int from_data = 0;
  CAF_CHECK(!fr.feed(std::span<const uint8_t>{rest, wire.size() - cut},
                     [&](const frame& f) {
                       ++n;
                       if (!f.body.empty() && f.body.data() >= rest
                           && f.body.data() < wire.data() + wire.size())
                         ++from_data;
                       return true;
                     }));
  CAF_CHECK_EQUAL(n, static_cast<int>(expected.size()));
  CAF_CHECK_EQUAL(from_data, 2); // the large PUBLISH and the PUBACK
  CAF_CHECK_EQUAL(fr.buffered(), 0u);
}

CAF_TEST(stopping from the callback discards the rest) {
  framer fr;
  int n = 0;
  auto err = fr.feed(wire, [&](const frame&) { return ++n < 2; });
  CAF_CHECK(!err);
  CAF_CHECK_EQUAL(n, 2);
  CAF_CHECK_EQUAL(fr.buffered(), 0u);
  CAF_CHECK(!fr.failed());
}

CAF_TEST(void callbacks continue) {
  framer fr;
  size_t n = 0;
  CAF_CHECK(!fr.feed(wire, [&](const frame&) { ++n; }));
  CAF_CHECK_EQUAL(n, expected.size());
}

CAF_TEST_FIXTURE_SCOPE_END()

CAF_TEST(oversize packet is rejected from its fixed header) {
  // PUBLISH with remaining length 200 (0xC8 0x01): 203 bytes > 100.
  bytes head{0x30, 0xC8, 0x01};
  framer fr{100};
  int n = 0;
  auto err = fr.feed(head, [&](const frame&) {
    ++n;
    return true;
  });
  CAF_REQUIRE(err.has_value());
  CAF_CHECK_EQUAL(static_cast<int>(err->code), 0x95);
  CAF_CHECK(!err->message.empty());
  CAF_CHECK_EQUAL(n, 0);
  CAF_CHECK_EQUAL(fr.buffered(), 0u);
  CAF_CHECK(fr.failed());
  // Stays failed.
  CAF_CHECK(fr.feed(bytes{0xC0, 0x00}, [&](const frame&) {
    ++n;
    return true;
  }));
  CAF_CHECK_EQUAL(n, 0);
}

CAF_TEST(oversize header split across reads is rejected before the body) {
  framer fr{100};
  auto nop = [](const frame&) { return true; };
  CAF_CHECK(!fr.feed(bytes{0x30}, nop));
  CAF_CHECK(!fr.feed(bytes{0xC8}, nop));
  CAF_CHECK_EQUAL(fr.buffered(), 2u);
  auto err = fr.feed(bytes{0x01, 'x', 'y'}, nop);
  CAF_REQUIRE(err.has_value());
  CAF_CHECK_EQUAL(static_cast<int>(err->code), 0x95);
  CAF_CHECK_EQUAL(fr.buffered(), 0u);
}

CAF_TEST(oversize after a complete frame in the same read) {
  framer fr{100};
  bytes data{0xC0, 0x00, 0x30, 0xE4, 0x00}; // PINGREQ, then 102-byte PUBLISH
  int n = 0;
  auto err = fr.feed(data, [&](const frame&) {
    ++n;
    return true;
  });
  CAF_CHECK_EQUAL(n, 1);
  CAF_REQUIRE(err.has_value());
  CAF_CHECK_EQUAL(static_cast<int>(err->code), 0x95);
}

CAF_TEST(maximum packet size boundary) {
  // Total size 100 is accepted, 101 is not.
  bytes ok(100, 'p');
  ok[0] = 0x30;
  ok[1] = 98;
  framer fr{100};
  int n = 0;
  CAF_CHECK(!fr.feed(ok, [&](const frame& f) {
    ++n;
    CAF_CHECK_EQUAL(f.wire_size(), 100u);
    return true;
  }));
  CAF_CHECK_EQUAL(n, 1);
  framer fr2{100};
  CAF_CHECK(fr2.feed(bytes{0x30, 99}, [](const frame&) { return true; }));
}

CAF_TEST(remaining length longer than four bytes is malformed) {
  bytes bad{0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01};
  {
    framer fr;
    auto err = fr.feed(bad, [](const frame&) { return true; });
    CAF_REQUIRE(err.has_value());
    CAF_CHECK_EQUAL(static_cast<int>(err->code), 0x81);
    CAF_CHECK(fr.failed());
  }
  {
    // The same, one byte per read: the error comes with the 5th length byte.
    framer fr;
    for (size_t i = 0; i < 4; ++i)
      CAF_CHECK(!fr.feed(std::span<const uint8_t>{bad.data() + i, 1},
                         [](const frame&) { return true; }));
    auto err = fr.feed(std::span<const uint8_t>{bad.data() + 4, 1},
                       [](const frame&) { return true; });
    CAF_REQUIRE(err.has_value());
    CAF_CHECK_EQUAL(static_cast<int>(err->code), 0x81);
  }
  {
    // 4 bytes is the maximum: 268'435'455 bytes, within the default limit.
    framer fr;
    CAF_CHECK(!fr.feed(bytes{0x30, 0xFF, 0xFF, 0xFF, 0x7F},
                       [](const frame&) { return true; }));
    CAF_CHECK_EQUAL(fr.buffered(), 5u);
    CAF_CHECK(!fr.failed());
  }
}

CAF_TEST(empty feed is a no-op) {
  framer fr;
  CAF_CHECK(!fr.feed(std::span<const uint8_t>{}, [](const frame&) { return true; }));
  CAF_CHECK_EQUAL(fr.buffered(), 0u);
}
