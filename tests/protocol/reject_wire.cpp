// Rejection tests for the wire primitives (MQTT 5.0 §1.5): one test per
// rule, each asserting the exact reason code and a non-empty message.
// Every violation here makes the packet unparsable: Malformed Packet (0x81).
#define CAF_SUITE protocol_reject_wire
#include <caf/test/unit_test.hpp>

#include "codec_check.hpp"

using namespace amq::protocol;
using namespace amq::test;
using namespace std::literals;

namespace {

constexpr auto malformed = reason_code::malformed_packet;

std::span<const uint8_t> span_of(const bytes& b) {
  return {b.data(), b.size()};
}

/// validate_utf8 rejects `s` with 0x81 and a message.
bool utf8_rejected(std::string_view s) {
  auto err = validate_utf8(s);
  if (!err) {
    CAF_TEST_PRINT_ERROR("accepted: " << hex({reinterpret_cast<const uint8_t*>(
                                                s.data()),
                                              s.size()}));
    return false;
  }
  return is_error(*err, malformed, "validate_utf8");
}

/// The reader rejects `s` as a length-prefixed UTF-8 string with 0x81.
bool reader_utf8_rejected(std::string_view s) {
  bytes b{static_cast<uint8_t>(s.size() >> 8), static_cast<uint8_t>(s.size())};
  append(b, s);
  reader r{span_of(b)};
  std::string_view out;
  if (r.utf8(out)) {
    CAF_TEST_PRINT_ERROR("reader accepted: " << hex(b));
    return false;
  }
  return is_error(r.error(), malformed, "reader::utf8");
}

/// A PUBLISH (3.1.1, qos 0) whose topic name is `topic`.
bytes publish_with_topic(std::string_view topic) {
  bytes b{0x30, static_cast<uint8_t>(2 + topic.size() + 1),
          static_cast<uint8_t>(topic.size() >> 8),
          static_cast<uint8_t>(topic.size())};
  append(b, topic);
  b.push_back('p'); // payload
  return b;
}

} // namespace

// -- variable byte integer (§1.5.5) -------------------------------------------

CAF_TEST(varint accepts the four byte maximum) {
  auto b = make_bytes({0xFF, 0xFF, 0xFF, 0x7F}); // 268'435'455
  reader r{span_of(b)};
  uint32_t v = 0;
  CAF_CHECK(r.varint(v));
  CAF_CHECK_EQUAL(v, 268'435'455u);
  CAF_CHECK(r.at_end());
}

CAF_TEST(varint longer than four bytes is malformed) {
  // §1.5.5: at most four bytes; a fifth byte is a Malformed Packet.
  auto b = make_bytes({0x80, 0x80, 0x80, 0x80, 0x01});
  reader r{span_of(b)};
  uint32_t v = 0;
  CAF_CHECK(!r.varint(v));
  CAF_CHECK(is_error(r.error(), malformed, "reader::varint"));
}

CAF_TEST(varint whose continuation runs past the end is malformed) {
  auto b = make_bytes({0x80, 0x80}); // continuation bit set on the last byte
  reader r{span_of(b)};
  uint32_t v = 0;
  CAF_CHECK(!r.varint(v));
  CAF_CHECK(is_error(r.error(), malformed, "reader::varint"));
}

CAF_TEST(property length varint longer than four bytes in a packet) {
  auto wire = make_bytes({
    0x30,                   // PUBLISH qos 0
    0x09,                   // remaining length 9
    0x00, 0x01, 't',        // topic "t"
    0x80, 0x80, 0x80, 0x80, 0x01, // property length: 5-byte varint
                            // (remaining length is consistent, the varint is not)
    'x',                    // payload
  });
  CAF_CHECK(rejects<publish>(wire, v5, malformed));
}

CAF_TEST(subscription identifier varint longer than four bytes) {
  auto wire = make_bytes({
    0x82,                   // SUBSCRIBE
    0x0D,                   // remaining length 13
    0x00, 0x01,             // packet id 1
    0x06,                   // property length 6
    0x0B, 0x81, 0x80, 0x80, 0x80, 0x01, // subscription id: 5-byte varint
    0x00, 0x01, 'a',        // filter "a"
    0x00,                   // options
  });
  CAF_CHECK(rejects<subscribe>(wire, v5, malformed));
}

// -- integers and strings running past the end (§1.5.2–§1.5.4, §1.5.6) ---------

CAF_TEST(two and four byte integers past the end) {
  auto one = make_bytes({0x01});
  reader r1{span_of(one)};
  uint16_t v16 = 0;
  CAF_CHECK(!r1.u16(v16));
  CAF_CHECK(is_error(r1.error(), malformed, "reader::u16"));
  auto three = make_bytes({0x01, 0x02, 0x03});
  reader r2{span_of(three)};
  uint32_t v32 = 0;
  CAF_CHECK(!r2.u32(v32));
  CAF_CHECK(is_error(r2.error(), malformed, "reader::u32"));
}

CAF_TEST(truncated utf8 string) {
  // Length prefix 5, only 3 bytes follow.
  auto b = make_bytes({0x00, 0x05, 'a', 'b', 'c'});
  reader r{span_of(b)};
  std::string_view s;
  CAF_CHECK(!r.utf8(s));
  CAF_CHECK(is_error(r.error(), malformed, "reader::utf8"));
}

CAF_TEST(truncated string length prefix) {
  auto b = make_bytes({0x00}); // one byte of a two-byte length
  reader r{span_of(b)};
  std::string_view s;
  CAF_CHECK(!r.utf8(s));
  CAF_CHECK(is_error(r.error(), malformed, "reader::utf8"));
}

CAF_TEST(truncated binary data) {
  auto b = make_bytes({0x00, 0x04, 0x01, 0x02});
  reader r{span_of(b)};
  std::string_view s;
  CAF_CHECK(!r.binary(s));
  CAF_CHECK(is_error(r.error(), malformed, "reader::binary"));
}

CAF_TEST(truncated client id in connect) {
  auto wire = make_bytes({
    0x10,                   // CONNECT
    0x0F,                   // remaining length 15
    0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name
    0x04,                   // level 4
    0x02,                   // clean session
    0x00, 0x3C,             // keep alive
    0x00, 0x05,             // client id length 5 ...
    'a', 'b', 'c',          // ... but only 3 bytes in the packet
  });
  CAF_CHECK(rejects<connect>(wire, v311, malformed));
}

CAF_TEST(truncated topic in publish) {
  auto wire = make_bytes({
    0x30,                   // PUBLISH
    0x04,                   // remaining length 4
    0x00, 0x05,             // topic length 5 ...
    'a', 'b',               // ... 2 bytes left
  });
  CAF_CHECK(rejects<publish>(wire, v311, malformed));
}

CAF_TEST(truncated user property value) {
  auto wire = make_bytes({
    0x40,                   // PUBACK
    0x0B,                   // remaining length 11
    0x00, 0x01,             // packet id
    0x00,                   // reason code
    0x07,                   // property length 7
    0x26,                   // user property
    0x00, 0x01, 'k',        //   name "k"
    0x00, 0x05, 'v',        //   value length 5, 1 byte left in the block
  });
  CAF_CHECK(rejects<puback>(wire, v5, malformed));
}

// -- UTF-8 rules (§1.5.4) -----------------------------------------------------

CAF_TEST(utf8 well formed strings are accepted) {
  CAF_CHECK(!validate_utf8("").has_value());
  CAF_CHECK(!validate_utf8("sensors/temp").has_value());
  CAF_CHECK(!validate_utf8("\xC2\x80"sv).has_value());         // U+0080
  CAF_CHECK(!validate_utf8("\xE2\x82\xAC"sv).has_value());     // U+20AC €
  CAF_CHECK(!validate_utf8("\xED\x9F\xBF"sv).has_value());     // U+D7FF
  CAF_CHECK(!validate_utf8("\xEE\x80\x80"sv).has_value());     // U+E000
  CAF_CHECK(!validate_utf8("\xEF\xBB\xBF"sv).has_value());     // U+FEFF BOM
  CAF_CHECK(!validate_utf8("\xF0\x9F\x98\x80"sv).has_value()); // U+1F600
  CAF_CHECK(!validate_utf8("\xF4\x8F\xBF\xBF"sv).has_value()); // U+10FFFF
  // §1.5.4: U+0001..U+001F and U+007F..U+009F SHOULD NOT be sent, but a
  // receiver only MAY reject them: they are not a MUST, so accepting is fine.
  // (Not asserted either way.)
}

CAF_TEST(utf8 null character U+0000 is malformed) {
  // [MQTT-1.5.4-2]
  CAF_CHECK(utf8_rejected("a\0b"sv));
  CAF_CHECK(reader_utf8_rejected("\0"sv));
}

CAF_TEST(utf8 surrogate D800 encoded as three bytes is malformed) {
  // [MQTT-1.5.4-1]: U+D800..U+DFFF are ill-formed in UTF-8.
  CAF_CHECK(utf8_rejected("\xED\xA0\x80"sv)); // U+D800
  CAF_CHECK(reader_utf8_rejected("\xED\xA0\x80"sv));
}

CAF_TEST(utf8 surrogate DFFF encoded as three bytes is malformed) {
  CAF_CHECK(utf8_rejected("\xED\xBF\xBF"sv)); // U+DFFF
  CAF_CHECK(utf8_rejected("\xED\xB0\x80"sv)); // U+DC00 (low surrogate)
}

CAF_TEST(utf8 surrogate pair encoded as six bytes is malformed) {
  // CESU-8 style pair for U+1F600.
  CAF_CHECK(utf8_rejected("\xED\xA0\xBD\xED\xB8\x80"sv));
}

CAF_TEST(utf8 overlong two byte forms are malformed) {
  CAF_CHECK(utf8_rejected("\xC0\x80"sv)); // overlong U+0000 ("modified UTF-8")
  CAF_CHECK(utf8_rejected("\xC0\xAF"sv)); // overlong '/'
  CAF_CHECK(utf8_rejected("\xC1\xBF"sv)); // overlong U+007F
  CAF_CHECK(reader_utf8_rejected("\xC0\xAF"sv));
}

CAF_TEST(utf8 overlong three byte forms are malformed) {
  CAF_CHECK(utf8_rejected("\xE0\x80\xAF"sv)); // overlong '/'
  CAF_CHECK(utf8_rejected("\xE0\x9F\xBF"sv)); // overlong U+07FF
}

CAF_TEST(utf8 overlong four byte forms are malformed) {
  CAF_CHECK(utf8_rejected("\xF0\x80\x80\xAF"sv)); // overlong '/'
  CAF_CHECK(utf8_rejected("\xF0\x8F\xBF\xBF"sv)); // overlong U+FFFF
}

CAF_TEST(utf8 code points above U+10FFFF are malformed) {
  CAF_CHECK(utf8_rejected("\xF4\x90\x80\x80"sv)); // U+110000
  CAF_CHECK(utf8_rejected("\xF5\x80\x80\x80"sv)); // lead byte F5
  CAF_CHECK(utf8_rejected("\xF7\xBF\xBF\xBF"sv)); // U+1FFFFF
  CAF_CHECK(utf8_rejected("\xF8\x88\x80\x80\x80"sv)); // old 5-byte form
  CAF_CHECK(utf8_rejected("\xFC\x84\x80\x80\x80\x80"sv)); // old 6-byte form
  CAF_CHECK(utf8_rejected("\xFE"sv));
  CAF_CHECK(utf8_rejected("\xFF"sv));
}

CAF_TEST(utf8 lone continuation bytes are malformed) {
  CAF_CHECK(utf8_rejected("\x80"sv));
  CAF_CHECK(utf8_rejected("a\xBF"sv));
  CAF_CHECK(utf8_rejected("\xE2\x82\xAC\x80"sv)); // extra continuation after €
}

CAF_TEST(utf8 truncated multibyte sequences are malformed) {
  CAF_CHECK(utf8_rejected("\xE2\x82"sv));         // € missing its last byte
  CAF_CHECK(utf8_rejected("\xC3"sv));             // 2-byte lead at the end
  CAF_CHECK(utf8_rejected("\xF0\x9F\x98"sv));     // 4-byte missing one
  CAF_CHECK(utf8_rejected("\xE2\x28\xA1"sv));     // lead followed by ASCII
}

CAF_TEST(invalid utf8 in a publish topic is malformed) {
  // [MQTT-1.5.4-1] applies to every UTF-8 string field of a packet.
  CAF_CHECK(rejects<publish>(publish_with_topic("a/\xED\xA0\x80"sv), v311,
                             malformed));
  CAF_CHECK(rejects<publish>(publish_with_topic("a\0b"sv), v311, malformed));
  CAF_CHECK(rejects<publish>(publish_with_topic("\xC0\xAF"sv), v311,
                             malformed));
}

CAF_TEST(invalid utf8 in a connect client id is malformed) {
  auto wire = make_bytes({
    0x10,                   // CONNECT
    0x0E,                   // remaining length 14
    0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name
    0x04,                   // level 4
    0x02,                   // clean session
    0x00, 0x3C,             // keep alive
    0x00, 0x02,             // client id length 2
    0xC0, 0x80,             // overlong U+0000
  });
  CAF_CHECK(rejects<connect>(wire, v311, malformed));
}

CAF_TEST(invalid utf8 in a user property is malformed) {
  auto wire = make_bytes({
    0x40,                   // PUBACK
    0x0B,                   // remaining length 11
    0x00, 0x01,             // packet id
    0x00,                   // reason code
    0x07,                   // property length 7
    0x26,                   // user property
    0x00, 0x01, 0xFF,       //   name: byte FF is never valid UTF-8
    0x00, 0x01, 'v',        //   value "v"
  });
  CAF_CHECK(rejects<puback>(wire, v5, malformed));
}

CAF_TEST(invalid utf8 in a subscribe filter is malformed) {
  auto wire = make_bytes({
    0x82,                   // SUBSCRIBE
    0x08,                   // remaining length 8
    0x00, 0x01,             // packet id 1
    0x00, 0x03,             // filter length 3
    0xED, 0xBF, 0xBF,       // U+DFFF surrogate
    0x00,                   // options
  });
  CAF_CHECK(rejects<subscribe>(wire, v311, malformed));
}

CAF_TEST(binary data is not utf8 checked) {
  // §1.5.6: binary data (correlation data, password) may hold any bytes.
  auto b = make_bytes({0x00, 0x03, 0x00, 0xED, 0xA0});
  reader r{span_of(b)};
  std::string_view s;
  CAF_CHECK(r.binary(s));
  CAF_CHECK_EQUAL(s.size(), 3u);
}
