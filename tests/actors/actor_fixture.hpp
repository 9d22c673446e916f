#pragma once
/// Shared fixture of the actor suites: CAF's deterministic test coordinator,
/// a fake `net::connection` that records what the actors write, and MQTT
/// client helpers that build CONNECT frames and feed packets through a real
/// `edge_link` (the path the network edge takes), without sockets.
///
/// Time: the session and router actors read the actor clock, so under the
/// test coordinator `advance_time` drives keep-alive and expiry timers.

#ifndef FAIL
#  define FAIL CAF_FAIL // CAF 0.17.6's dsl.hpp uses an undefined FAIL
#endif
#include <caf/test/dsl.hpp>

#include "amq/actors/edge_link.hpp"
#include "amq/actors/messages.hpp"
#include "amq/actors/registry.hpp"
#include "amq/actors/router.hpp"
#include "amq/actors/session.hpp"
#include "amq/protocol/packet.hpp"

#include <caf/actor_system.hpp>
#include <caf/send.hpp>

#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace amq::test {

using protocol::protocol_version;
constexpr auto v311 = protocol_version::v311;
constexpr auto v5 = protocol_version::v5;

inline int code(protocol::reason_code rc) {
  return static_cast<int>(rc);
}

inline int level(protocol::qos q) {
  return static_cast<int>(q);
}

/// A `net::connection` without a socket. Records every `send`, `close`,
/// `abort` and read pause; `send_result` is what `send` returns while open
/// (false simulates a write queue above its high watermark). After
/// close/abort sends are dropped and return false, like the real one.
class fake_connection : public net::connection {
public:
  explicit fake_connection(uint64_t id, protocol_version v = v5)
    : connection(id, "fake:" + std::to_string(id)), version(v) {
  }

  void set_receiver(std::shared_ptr<net::connection_receiver> r) override {
    receiver = std::move(r);
  }

  bool send(std::vector<uint8_t> bytes) override {
    ++send_calls;
    if (closed || aborted) {
      ++dropped_sends;
      return false;
    }
    sends.push_back(std::move(bytes));
    return send_result;
  }

  void pause_reading() override {
    ++pauses;
    reading = false;
  }

  void resume_reading() override {
    ++resumes;
    reading = true;
  }

  void close() override {
    ++close_calls;
    closed = true;
  }

  void abort() override {
    ++abort_calls;
    aborted = true;
  }

  size_t queued_bytes() const noexcept override {
    return 0;
  }

  /// What the socket would hold unread (set by a test).
  size_t readable_bytes() const noexcept override {
    return unread;
  }

  bool is_closed() const noexcept {
    return closed || aborted;
  }

  /// Decodes the sends not yet taken into packets (each `send` must hold
  /// whole packets: the session writes complete output). The packets view
  /// `sends`, which only ever grows.
  std::vector<protocol::packet> take() {
    std::vector<protocol::packet> out;
    for (; taken < sends.size(); ++taken) {
      protocol::framer fr;
      auto& buf = sends[taken];
      auto err = fr.feed(buf, [&](const protocol::frame& f) {
        auto res = protocol::decode(f, version);
        if (!res) {
          CAF_FAIL("undecodable packet from the broker: " << res.error().message);
          return false;
        }
        out.push_back(std::move(*res));
        return true;
      });
      if (err || fr.buffered() != 0) // a send holds whole packets
        CAF_FAIL("a send does not end on a packet boundary");
    }
    return out;
  }

  /// All packets of all sends, from the start.
  std::vector<protocol::packet> all() {
    auto saved = taken;
    taken = 0;
    auto out = take();
    taken = saved;
    return out;
  }

  protocol_version version;
  std::shared_ptr<net::connection_receiver> receiver;
  std::deque<std::vector<uint8_t>> sends;
  size_t taken = 0;
  bool send_result = true;
  size_t unread = 0;
  bool closed = false;
  bool aborted = false;
  bool close_notified = false;
  bool reading = false;
  int send_calls = 0;
  int dropped_sends = 0;
  int close_calls = 0;
  int abort_calls = 0;
  int pauses = 0;
  int resumes = 0;
};

using fake_connection_ptr = std::shared_ptr<fake_connection>;

/// Packets of type T among `ps`.
template <class T>
std::vector<T> only(const std::vector<protocol::packet>& ps) {
  std::vector<T> out;
  for (auto& p : ps)
    if (auto x = std::get_if<T>(&p))
      out.push_back(*x);
  return out;
}

/// A CONNECT frame as the edge produces it: encoded with the codec, framed
/// and decoded again, the packet viewing the frame's own bytes.
inline actors::connect_frame_ptr make_connect_frame(const protocol::connect& c) {
  std::vector<uint8_t> wire;
  protocol::encode(c, c.version, wire);
  auto owned = std::make_shared<actors::connect_frame>();
  protocol::framer fr;
  uint8_t header = 0;
  fr.feed(wire, [&](const protocol::frame& f) {
    header = f.header;
    owned->bytes.assign(f.body.begin(), f.body.end());
    return false;
  });
  auto res = protocol::decode_connect(protocol::frame{header, owned->bytes});
  if (!res)
    CAF_FAIL("CONNECT does not decode: " << res.error().message);
  owned->packet = std::move(*res);
  return owned;
}

/// What a test client asks for in its CONNECT.
struct connect_options {
  bool clean = true;
  std::optional<uint32_t> expiry; ///< 5.0 Session Expiry Interval
  uint16_t keep_alive = 0;
  std::optional<uint16_t> receive_maximum; ///< 5.0 Receive Maximum
};

/// One simulated MQTT client: a fake connection with a real edge_link.
struct client {
  std::string id;
  protocol_version version = v5;
  fake_connection_ptr conn;
  actors::edge_link_ptr link;
  uint16_t next_packet_id = 1;

  uint16_t packet_id() {
    auto x = next_packet_id++;
    if (next_packet_id == 0)
      next_packet_id = 1;
    return x;
  }

  protocol::connect connect_packet(const connect_options& o) const {
    protocol::connect c;
    c.version = version;
    c.clean_start = o.clean;
    c.keep_alive = o.keep_alive;
    c.client_id = id;
    if (version == v5) {
      c.props.session_expiry_interval = o.expiry;
      c.props.receive_maximum = o.receive_maximum;
    }
    return c;
  }

  /// Encodes `p` and hands it to the edge_link as one read: it reaches the
  /// bound session as `(bytes_atom, conn_id, byte_chunk)`.
  template <class Packet>
  void send(const Packet& p) {
    std::vector<uint8_t> buf;
    protocol::encode(p, version, buf);
    link->on_data(conn, buf);
  }

  void send_bytes(const std::vector<uint8_t>& buf) {
    link->on_data(conn, buf);
  }

  void subscribe(std::string_view filter, protocol::qos q, uint32_t sub_id = 0) {
    protocol::subscribe s;
    s.packet_id = packet_id();
    protocol::subscription sub;
    sub.filter = filter;
    sub.max_qos = q;
    s.subscriptions.push_back(sub);
    if (sub_id != 0 && version == v5)
      s.props.subscription_identifiers.push_back(sub_id);
    send(s);
  }

  void publish(std::string_view topic, protocol::qos q, std::string_view payload,
               bool retain = false) {
    protocol::publish p;
    p.topic = topic;
    p.qos_level = q;
    p.retain = retain;
    p.payload = payload;
    if (q != protocol::qos::at_most_once)
      p.packet_id = packet_id();
    send(p);
  }

  template <class Ack>
  void ack(uint16_t id, protocol::reason_code rc = protocol::reason_code::success) {
    Ack a;
    a.packet_id = id;
    a.code = rc;
    send(a);
  }

  void disconnect() {
    protocol::disconnect d;
    send(d);
  }
};

/// Records what a stand-in actor (a session or a publisher) received.
struct inbox {
  std::vector<actors::delivery_batch> batches;
  std::vector<uint64_t> routed;
  std::vector<caf::message> other;

  /// All delivered messages, flattened, in arrival order.
  std::vector<broker::routed_message> items() const {
    std::vector<broker::routed_message> out;
    for (auto& b : batches)
      out.insert(out.end(), b.items.begin(), b.items.end());
    return out;
  }
};

/// A stand-in for a session (router tests) or for the router (session
/// tests): stores delivery batches, routed replies and everything else.
inline caf::behavior recorder(caf::event_based_actor* self, std::shared_ptr<inbox> box) {
  self->set_default_handler([box](caf::scheduled_actor*, caf::message_view& xs) -> caf::result<caf::message> {
    box->other.push_back(xs.move_content_to_message());
    return caf::message{};
  });
  return {
    [box](actors::deliver_atom, actors::delivery_batch& b) { box->batches.push_back(std::move(b)); },
    [box](actors::routed_atom, uint64_t seq) { box->routed.push_back(seq); },
  };
}

/// A message as a session builds it from a PUBLISH.
inline protocol::message_ptr make_message(std::string topic, std::string payload,
                                          protocol::qos q = protocol::qos::at_least_once,
                                          bool retain = false) {
  auto m = std::make_shared<protocol::message>();
  m->topic = std::move(topic);
  m->payload = std::move(payload);
  m->qos_level = q;
  m->retain = retain;
  return m;
}

struct actor_fixture : test_coordinator_fixture<caf::actor_system_config> {
  broker::session_limits limits;
  std::vector<fake_connection_ptr> conns;
  uint64_t next_conn_id = 1;

  /// Runs every actor until idle, then tells the edge_links of connections
  /// that were closed (as the real connection does with `on_closed`), and
  /// repeats until nothing is left to do. Timers are NOT fired.
  void settle() {
    for (;;) {
      sched.run();
      bool any = false;
      for (auto& c : conns) {
        if (c->is_closed() && !c->close_notified) {
          c->close_notified = true;
          any = true;
          if (auto r = c->receiver)
            r->on_closed(c, std::error_code{});
        }
      }
      if (!any)
        return;
    }
  }

  /// A client with a fresh connection whose receiver is a real edge_link
  /// talking to `registry`.
  client make_client(std::string id, protocol_version v, caf::actor registry) {
    client c;
    c.id = std::move(id);
    c.version = v;
    c.conn = std::make_shared<fake_connection>(next_conn_id++, v);
    c.link = std::make_shared<actors::edge_link>(sys, std::move(registry),
                                                 limits.max_packet_size, 1024 * 1024);
    c.conn->set_receiver(c.link);
    conns.push_back(c.conn);
    return c;
  }

  /// A new connection for the same client (reconnect / takeover).
  client reconnect(const client& old, caf::actor registry) {
    auto c = make_client(old.id, old.version, std::move(registry));
    c.next_packet_id = old.next_packet_id;
    return c;
  }

  /// Ends `actors` and breaks the connection <-> edge_link <-> session
  /// reference cycles, so that the actor system can shut down. Call from
  /// the suite fixture's destructor.
  void stop_actors(const std::vector<caf::actor>& actors) {
    for (auto& a : actors)
      if (a)
        caf::anon_send_exit(a, caf::exit_reason::kill);
    sched.run();
    for (auto& c : conns)
      c->receiver.reset();
  }

  /// The peer closes the connection (EOF): the edge reports it.
  void peer_close(client& c) {
    c.conn->closed = true;
  }
};

} // namespace amq::test
