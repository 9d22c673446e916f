// Golden bytes of format version 1 of every storage record, written by hand
// from docs/storage-format.md with one comment per field; each test decodes
// the bytes to exactly the expected value and encodes the value to exactly
// the bytes. Then: every truncation, trailing bytes, unknown versions,
// out-of-range values and random garbage are rejected without a crash.
#define CAF_SUITE storage_record_codec
#include <caf/test/unit_test.hpp>

#include "amq/test/bytes.hpp"
#include "record_codec.hpp"

#include <random>

using namespace amq;
using namespace amq::storage;
using namespace amq::test;
using namespace std::literals;

namespace {

using protocol::message;

/// Fixed clocks: steady 1000 s after boot, wall 2023-11-14T22:13:20Z.
const codec::clocks t0{message::clock::time_point{1000s}, 1'700'000'000'000};

std::string str(const bytes& b) {
  return {b.begin(), b.end()};
}

bytes to_bytes(const std::string& s) {
  return {s.begin(), s.end()};
}

bool same(const message& a, const message& b) {
  return a.topic == b.topic && a.payload == b.payload && a.qos_level == b.qos_level
         && a.retain == b.retain && a.payload_format_indicator == b.payload_format_indicator
         && a.content_type == b.content_type && a.response_topic == b.response_topic
         && a.correlation_data == b.correlation_data && a.user_properties == b.user_properties
         && a.expires_at == b.expires_at && a.publisher == b.publisher;
}

bool same(const queued_entry& a, const queued_entry& b) {
  return a.seq == b.seq && a.qos == b.qos && a.retain == b.retain
         && a.subscription_ids == b.subscription_ids && a.msg && b.msg && same(*a.msg, *b.msg);
}

std::string err_str(std::error_code ec) {
  return ec ? ec.message() : std::string{"ok"};
}

// -- golden values --------------------------------------------------------------

session_record golden_session() {
  session_record r;
  r.client_id = "dev1";
  r.protocol_version = 5;
  r.client_type = 1;
  r.session_expiry = 3600;
  r.disconnected_at_ms = 1'700'000'000'000;
  r.subscriptions.push_back({"a/+", 1, true, false, 2, 7});
  r.subscriptions.push_back({"b/#", 2, false, true, 0, 0});
  r.qos2_in = {1, 0x1234};
  return r;
}

const bytes golden_session_bytes = make_bytes({
  0x01,                   // format version 1
  0x01,                   // record type: session
  0x04, 'd', 'e', 'v', '1', // client id: varint length 4, "dev1"
  0x05,                   // protocol version 5
  0x01,                   // client type 1 = APPLICATION
  0x10, 0x0E, 0x00, 0x00, // session expiry 3600 s (u32 LE)
  0x00, 0x68, 0xE5, 0xCF, 0x8B, 0x01, 0x00, 0x00, // disconnected at 1700000000000 ms (i64 LE)
  0x02,                   // subscription count 2
  0x03, 'a', '/', '+',    //   [0] filter "a/+"
  0x01,                   //   [0] max QoS 1
  0x09,                   //   [0] options: no local (bit 0), retain handling 2 (bits 2-3)
  0x07, 0x00, 0x00, 0x00, //   [0] subscription id 7 (u32 LE)
  0x03, 'b', '/', '#',    //   [1] filter "b/#"
  0x02,                   //   [1] max QoS 2
  0x02,                   //   [1] options: retain as published (bit 1)
  0x00, 0x00, 0x00, 0x00, //   [1] subscription id 0 = none
  0x02,                   // inbound QoS 2 id count 2
  0x01, 0x00,             //   id 1 (u16 LE)
  0x34, 0x12,             //   id 0x1234
});

queued_entry golden_entry() {
  auto m = std::make_shared<message>();
  m->topic = "t/1";
  m->payload = std::string{"\0\x01", 2}; // binary, with a NUL byte
  m->qos_level = protocol::qos::exactly_once;
  m->retain = false;
  m->payload_format_indicator = 1;
  m->content_type = "c/t";
  m->response_topic = "r";
  m->correlation_data = std::string{"\0x", 2};
  m->user_properties = {{"k", "v"}, {"k", "w"}};
  m->expires_at = t0.steady + 30s;
  m->publisher = "pub";
  queued_entry e;
  e.seq = 300;
  e.msg = std::move(m);
  e.qos = 2;
  e.retain = true;
  e.subscription_ids = {1, 268'435'455};
  return e;
}

const bytes golden_entry_bytes = make_bytes({
  0x01,                   // format version 1
  0x02,                   // record type: queue entry
  0x2C, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // seq 300 (u64 LE)
  0x02,                   // effective QoS 2
  0x01,                   // entry flags: retain (bit 0)
  0x02,                   // subscription id count 2
  0x01, 0x00, 0x00, 0x00, //   id 1 (u32 LE)
  0xFF, 0xFF, 0xFF, 0x0F, //   id 268435455
  // message:
  0x03, 't', '/', '1',    //   topic "t/1"
  0x02, 0x00, 0x01,       //   payload: length 2, bytes 00 01
  0x02,                   //   publish QoS 2
  0x3E,                   //   flags: pfi, content type, response topic,
                          //          correlation data, expiry (bits 1-5); no retain
  0x01,                   //   payload format indicator 1
  0x03, 'c', '/', 't',    //   content type "c/t"
  0x01, 'r',              //   response topic "r"
  0x02, 0x00, 'x',        //   correlation data 00 78
  0x02,                   //   user property count 2
  0x01, 'k', 0x01, 'v',   //     ("k", "v")
  0x01, 'k', 0x01, 'w',   //     ("k", "w")
  0x30, 0xDD, 0xE5, 0xCF, 0x8B, 0x01, 0x00, 0x00, // expires at 1700000030000 ms wall clock (i64 LE)
  0x03, 'p', 'u', 'b',    //   publisher "pub"
});

/// An entry with its stored time (flag bit 1): stored 5 s before t0.
queued_entry golden_stored_entry() {
  auto m = std::make_shared<message>();
  m->topic = "a";
  m->qos_level = protocol::qos::at_least_once;
  queued_entry e;
  e.seq = 1;
  e.msg = std::move(m);
  e.qos = 1;
  e.stored_at = t0.steady - 5s;
  return e;
}

const bytes golden_stored_entry_bytes = make_bytes({
  0x01,                   // format version 1
  0x02,                   // record type: queue entry
  0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // seq 1 (u64 LE)
  0x01,                   // effective QoS 1
  0x02,                   // entry flags: stored at (bit 1), no retain
  0x00,                   // subscription id count 0
  // message:
  0x01, 'a',              //   topic "a"
  0x00,                   //   payload: length 0
  0x01,                   //   publish QoS 1
  0x00,                   //   flags: none
  0x00,                   //   user property count 0
  0x00,                   //   publisher ""
  0x78, 0x54, 0xE5, 0xCF, 0x8B, 0x01, 0x00, 0x00, // stored at 1699999995000 ms wall clock (i64 LE)
});

message golden_retained() {
  message m;
  m.topic = "a";
  m.payload = "hi";
  m.qos_level = protocol::qos::at_least_once;
  m.retain = true;
  return m;
}

const bytes golden_retained_bytes = make_bytes({
  0x01,                   // format version 1
  0x03,                   // record type: retained
  0x01, 'a',              // topic "a"
  0x02, 'h', 'i',         // payload "hi"
  0x01,                   // publish QoS 1
  0x01,                   // flags: retain (bit 0), no optional field
  0x00,                   // user property count 0
  0x00,                   // publisher "" (length 0)
});

const bytes golden_last_seq_bytes = make_bytes({
  0x01,                   // format version 1
  0x04,                   // record type: last seq
  0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, // 0x0102030405060708 (u64 LE)
});

// -- decoding helpers -----------------------------------------------------------------

std::error_code decode_session(const bytes& b) {
  session_record r;
  return codec::decode(str(b), r);
}

std::error_code decode_entry(const bytes& b) {
  queued_entry e;
  return codec::decode(str(b), e, t0);
}

std::error_code decode_retained(const bytes& b) {
  protocol::message_ptr m;
  return codec::decode_retained(str(b), m, t0);
}

std::error_code decode_last_seq(const bytes& b) {
  uint64_t x;
  return codec::decode_last_seq(str(b), x);
}

using decoder = std::error_code (*)(const bytes&);

/// Every strict prefix fails with `truncated`; one extra byte fails with
/// `trailing_bytes`.
void check_truncations(const bytes& golden, decoder f) {
  CAF_REQUIRE(!f(golden));
  for (size_t n = 0; n < golden.size(); ++n) {
    bytes prefix(golden.begin(), golden.begin() + static_cast<ptrdiff_t>(n));
    auto err = f(prefix);
    if (err != error::truncated)
      CAF_FAIL("prefix of " << n << " bytes: " << err_str(err));
  }
  auto longer = golden;
  longer.push_back(0x00);
  CAF_CHECK(f(longer) == error::trailing_bytes);
}

} // namespace

// -- golden bytes ---------------------------------------------------------------------

CAF_TEST(session record v1) {
  std::string out;
  codec::encode(golden_session(), out);
  CAF_CHECK_EQUAL(hex(to_bytes(out)), hex(golden_session_bytes));
  session_record r;
  CAF_REQUIRE(!codec::decode(str(golden_session_bytes), r));
  CAF_CHECK(r == golden_session());
}

CAF_TEST(queue entry v1) {
  std::string out;
  codec::encode(golden_entry(), out, t0);
  CAF_CHECK_EQUAL(hex(to_bytes(out)), hex(golden_entry_bytes));
  queued_entry e;
  CAF_REQUIRE(!codec::decode(str(golden_entry_bytes), e, t0));
  CAF_CHECK(same(e, golden_entry()));
}

CAF_TEST(queue entry v1 with its stored time) {
  std::string out;
  codec::encode(golden_stored_entry(), out, t0);
  CAF_CHECK_EQUAL(hex(to_bytes(out)), hex(golden_stored_entry_bytes));
  queued_entry e;
  CAF_REQUIRE(!codec::decode(str(golden_stored_entry_bytes), e, t0));
  CAF_CHECK(same(e, golden_stored_entry()));
  CAF_CHECK(e.stored_at == golden_stored_entry().stored_at);
  // An entry without it (written before it existed) has none.
  CAF_REQUIRE(!codec::decode(str(golden_entry_bytes), e, t0));
  CAF_CHECK(!e.stored_at);
  // After a restart (steady clock near 0, wall clock 1 h later) it is still
  // 5 s before t0, i.e. 1 h + 5 s ago.
  codec::clocks after{message::clock::time_point{5s}, t0.wall_ms + 3'600'000};
  CAF_REQUIRE(!codec::decode(str(golden_stored_entry_bytes), e, after));
  CAF_REQUIRE(e.stored_at);
  CAF_CHECK(*e.stored_at == after.steady - 3605s);
}

CAF_TEST(retained message v1) {
  std::string out;
  codec::encode_retained(golden_retained(), out, t0);
  CAF_CHECK_EQUAL(hex(to_bytes(out)), hex(golden_retained_bytes));
  protocol::message_ptr m;
  CAF_REQUIRE(!codec::decode_retained(str(golden_retained_bytes), m, t0));
  CAF_CHECK(same(*m, golden_retained()));
}

CAF_TEST(last seq v1) {
  std::string out;
  codec::encode_last_seq(0x0102030405060708, out);
  CAF_CHECK_EQUAL(hex(to_bytes(out)), hex(golden_last_seq_bytes));
  uint64_t x = 0;
  CAF_REQUIRE(!codec::decode_last_seq(str(golden_last_seq_bytes), x));
  CAF_CHECK_EQUAL(x, 0x0102030405060708u);
}

CAF_TEST(released mark v1) {
  // The "released" mark of a QoS 2 queue entry (PUBREC received).
  const bytes golden = make_bytes({
    0x01,                   // format version 1
    0x05,                   // record type: released mark
    0x2c, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // seq 300 (u64 LE)
  });
  std::string out;
  codec::encode_released(300, out);
  CAF_CHECK_EQUAL(hex(to_bytes(out)), hex(golden));
  uint64_t x = 0;
  CAF_REQUIRE(!codec::decode_released(str(golden), x));
  CAF_CHECK_EQUAL(x, 300u);
  auto decode_released = [](const bytes& b) {
    uint64_t seq;
    return codec::decode_released(str(b), seq);
  };
  check_truncations(golden, decode_released);
  CAF_CHECK(decode_released(golden_last_seq_bytes) == error::wrong_record_type);
  auto v2 = golden;
  v2[0] = 0x02;
  CAF_CHECK(decode_released(v2) == error::unknown_version);
  auto longer = golden;
  longer.push_back(0);
  CAF_CHECK(decode_released(longer) == error::trailing_bytes);
}

CAF_TEST(lengths from 128 take a two byte varint) {
  auto m = golden_retained();
  m.payload.assign(200, 'x');
  std::string out;
  codec::encode_retained(m, out, t0);
  auto expected = make_bytes({0x01, 0x03, 0x01, 'a',
                              0xC8, 0x01}); // payload length 200 = 0x48 | 0x80, 0x01
  expected.insert(expected.end(), 200, 'x');
  append(expected, "\x01\x01\x00\x00"sv);   // QoS 1, flags retain, 0 user properties, publisher ""
  CAF_CHECK_EQUAL(hex(to_bytes(out)), hex(expected));
}

// -- expiry across restarts -------------------------------------------------------------

CAF_TEST(expiry is stored as wall clock time and survives a restart) {
  std::string out;
  codec::encode(golden_entry(), out, t0);
  // The broker restarts 10 s later (wall clock); the machine rebooted, so
  // its steady clock starts again near 0.
  codec::clocks after{message::clock::time_point{5s}, t0.wall_ms + 10'000};
  queued_entry e;
  CAF_REQUIRE(!codec::decode(out, e, after));
  CAF_REQUIRE(e.msg->expires_at);
  CAF_CHECK(*e.msg->expires_at == after.steady + 20s);
  auto left = e.msg->remaining_expiry(after.steady).value_or(999);
  CAF_CHECK_EQUAL(left, 20u);
  CAF_CHECK(!e.msg->expired(after.steady));
}

CAF_TEST(a message that expired while the broker was down comes back expired) {
  std::string out;
  codec::encode(golden_entry(), out, t0); // expires 30 s after t0
  codec::clocks after{message::clock::time_point{5s}, t0.wall_ms + 3'600'000};
  queued_entry e;
  CAF_REQUIRE(!codec::decode(out, e, after));
  CAF_CHECK(e.msg->expired(after.steady));
  auto left = e.msg->remaining_expiry(after.steady).value_or(999);
  CAF_CHECK_EQUAL(left, 0u);
}

CAF_TEST(absurd expiry values are clamped not overflowed) {
  auto bytes = golden_entry_bytes;
  // Expiry field: offset of the 8 expiry bytes from the end (8 + publisher 4).
  auto at = bytes.size() - 12;
  for (uint64_t v : {uint64_t{0}, uint64_t{1} << 63, ~uint64_t{0}, uint64_t{0x7FFFFFFFFFFFFFFF}}) {
    for (int i = 0; i < 8; ++i)
      bytes[at + static_cast<size_t>(i)] = static_cast<uint8_t>(v >> (8 * i));
    queued_entry e;
    CAF_REQUIRE(!codec::decode(str(bytes), e, t0));
    CAF_CHECK(e.msg->expires_at.has_value());
  }
}

// -- rejection --------------------------------------------------------------------------

CAF_TEST(every truncation is rejected) {
  check_truncations(golden_session_bytes, decode_session);
  check_truncations(golden_entry_bytes, decode_entry);
  check_truncations(golden_stored_entry_bytes, decode_entry);
  check_truncations(golden_retained_bytes, decode_retained);
  check_truncations(golden_last_seq_bytes, decode_last_seq);
}

CAF_TEST(unknown versions are rejected) {
  for (int v : {0, 2, 255}) {
    auto b = golden_session_bytes;
    b[0] = static_cast<uint8_t>(v);
    CAF_CHECK(decode_session(b) == error::unknown_version);
    b = golden_entry_bytes;
    b[0] = static_cast<uint8_t>(v);
    CAF_CHECK(decode_entry(b) == error::unknown_version);
    b = golden_retained_bytes;
    b[0] = static_cast<uint8_t>(v);
    CAF_CHECK(decode_retained(b) == error::unknown_version);
  }
}

CAF_TEST(a record of another type is rejected) {
  CAF_CHECK(decode_session(golden_entry_bytes) == error::wrong_record_type);
  CAF_CHECK(decode_entry(golden_retained_bytes) == error::wrong_record_type);
  CAF_CHECK(decode_retained(golden_session_bytes) == error::wrong_record_type);
  CAF_CHECK(decode_last_seq(golden_session_bytes) == error::wrong_record_type);
}

CAF_TEST(out of range values are rejected) {
  auto b = golden_retained_bytes;
  b[7] = 0x03; // publish QoS 3
  CAF_CHECK(decode_retained(b) == error::invalid_value);
  b = golden_retained_bytes;
  b[8] = 0x41; // reserved message flag bit 6
  CAF_CHECK(decode_retained(b) == error::invalid_value);
  b = golden_entry_bytes;
  b[10] = 0x03; // effective QoS 3
  CAF_CHECK(decode_entry(b) == error::invalid_value);
  b = golden_entry_bytes;
  b[11] = 0x04; // reserved entry flag bit 2
  CAF_CHECK(decode_entry(b) == error::invalid_value);
  b = golden_session_bytes;
  b[27] = 0x0D; // retain handling 3
  CAF_CHECK(decode_session(b) == error::invalid_value);
  b = golden_session_bytes;
  b[27] = 0x10; // reserved option bit 4
  CAF_CHECK(decode_session(b) == error::invalid_value);
  // An 11-byte varint as the topic length.
  auto v = make_bytes({0x01, 0x03, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01});
  CAF_CHECK(decode_retained(v) == error::invalid_value);
  // A huge element count is rejected before anything is allocated.
  auto c = make_bytes({0x01, 0x01, 0x00, 0x05, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                       0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F});
  CAF_CHECK(decode_session(c) == error::truncated);
}

CAF_TEST(garbage never crashes the decoders) {
  std::mt19937 rng{42};
  std::uniform_int_distribution<int> byte{0, 255};
  std::uniform_int_distribution<int> len{0, 64};
  size_t accepted = 0;
  for (int i = 0; i < 100'000; ++i) {
    bytes b(static_cast<size_t>(len(rng)));
    for (auto& x : b)
      x = static_cast<uint8_t>(byte(rng));
    if (i % 2 == 0 && b.size() >= 2) { // half of them with a valid header
      b[0] = 0x01;
      b[1] = static_cast<uint8_t>(1 + i % 4);
    }
    accepted += !decode_session(b) + !decode_entry(b) + !decode_retained(b) + !decode_last_seq(b);
  }
  // Bit flips of the golden records: decoded or rejected, never a crash.
  for (auto* golden : {&golden_session_bytes, &golden_entry_bytes, &golden_retained_bytes}) {
    for (size_t i = 0; i < golden->size() * 8; ++i) {
      auto b = *golden;
      b[i / 8] ^= static_cast<uint8_t>(1u << (i % 8));
      accepted += !decode_session(b) + !decode_entry(b) + !decode_retained(b);
    }
  }
  CAF_MESSAGE(accepted << " random or flipped inputs happened to decode");
}
