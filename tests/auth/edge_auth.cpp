#define CAF_SUITE actors_auth
#include <caf/test/unit_test.hpp>

// The CONNECT check in the edge_link (amq/actors/edge_link.hpp) with a real
// authenticator, real registry, session and router actors under CAF's test
// coordinator: a refused CONNECT is answered and closed by the link itself and
// never reaches the registry, so a live session with the same client id is
// neither taken over nor disturbed.

#include "actor_fixture.hpp"

#include "amq/auth/password_file.hpp"

#include <cstdio>
#include <fstream>

using namespace amq;
using namespace amq::actors;
using namespace amq::test;
using protocol::qos;

namespace {

// mosquitto_passwd -b -c f alice secret (Debian 12, mosquitto 2.0.11).
constexpr const char* alice_line =
  "alice:$7$101$fxdPL78TstWUTQHq$0AnEmVmJZJEBpnMjHMoq7e5Lv42xleW9XdrvGqYbGbZ+3gWwIlavPd3BbWQW9zwFK"
  "wjlb2JGr/vWHy9DOSHkGA==\n";

struct credentials {
  std::optional<std::string_view> user;
  std::optional<std::string_view> password;
};

struct fixture : actor_fixture {
  caf::actor router;
  caf::actor registry;
  std::string pw_path;
  std::unique_ptr<auth::authenticator> auth;

  fixture() {
    char templ[] = "/tmp/amq-edge-auth-XXXXXX";
    int fd = mkstemp(templ);
    CAF_REQUIRE(fd >= 0);
    close(fd);
    pw_path = templ;
    std::ofstream{pw_path} << alice_line;
    std::string err;
    auth = auth::authenticator::create({false, pw_path}, err);
    CAF_REQUIRE(auth != nullptr);
    router = spawn_router(sys, limits, caf::actor{});
    registry = spawn_registry(sys, limits, router, caf::actor{});
    sched.run();
  }

  ~fixture() {
    std::remove(pw_path.c_str());
    std::vector<caf::actor> all{registry, router};
    for (auto& [cid, e] : reg().sessions)
      all.push_back(e.session);
    stop_actors(all);
  }

  registry_state& reg() {
    return deref<registry_actor_type>(registry).state;
  }

  /// A client whose edge_link checks credentials.
  client make(std::string id, protocol_version v) {
    auto c = make_client(std::move(id), v, registry);
    c.link = std::make_shared<edge_link>(sys, registry, limits.max_packet_size, 1024 * 1024,
                                         auth.get());
    c.conn->set_receiver(c.link);
    return c;
  }

  /// Sends the CONNECT through the link (as the socket would) and runs the actors.
  void connect(client& c, credentials cr, connect_options o = {}) {
    auto p = c.connect_packet(o);
    p.username = cr.user;
    p.password = cr.password;
    c.send(p);
    settle();
  }

  caf::actor session_of(const std::string& client_id) {
    auto i = reg().sessions.find(client_id);
    return i == reg().sessions.end() ? caf::actor{} : i->second.session;
  }
};

/// The CONNACK return code / reason code byte of the first send.
int connack_code(client& c) {
  CAF_REQUIRE(!c.conn->sends.empty());
  const auto& b = c.conn->sends.front();
  CAF_REQUIRE(b.size() >= 4);
  CAF_REQUIRE_EQUAL(b[0], 0x20);
  return b[3];
}

} // namespace

CAF_TEST_FIXTURE_SCOPE(edge_auth_tests, fixture)

CAF_TEST(right password connects and a wrong password or no user name is refused by the link) {
  for (auto v : {v311, v5}) {
    bool is5 = v == v5;
    auto ok = make(is5 ? "ok5" : "ok311", v);
    connect(ok, {"alice", "secret"});
    CAF_CHECK_EQUAL(connack_code(ok), 0);
    CAF_CHECK(!ok.conn->is_closed());
    CAF_CHECK(session_of(ok.id) != nullptr);
    auto bad = make(is5 ? "bad5" : "bad311", v);
    connect(bad, {"alice", "guess"});
    CAF_CHECK_EQUAL(connack_code(bad), is5 ? 0x86 : 0x04);
    CAF_CHECK_EQUAL(bad.conn->sends.size(), 1u);
    CAF_CHECK(bad.conn->is_closed());
    CAF_CHECK(session_of(bad.id) == nullptr);
    auto anon = make(is5 ? "anon5" : "anon311", v);
    connect(anon, {});
    CAF_CHECK_EQUAL(connack_code(anon), is5 ? 0x87 : 0x05);
    CAF_CHECK(anon.conn->is_closed());
    CAF_CHECK(session_of(anon.id) == nullptr);
    // Bytes after the refusal are not framed again (no second answer).
    anon.subscribe("x", qos::at_most_once);
    CAF_CHECK_EQUAL(anon.conn->sends.size(), 1u);
  }
  CAF_CHECK_EQUAL(reg().sessions.size(), 2u);
}

CAF_TEST(a refused connect with a live client id leaves the session alone) {
  for (auto v : {v311, v5}) {
    std::string id = v == v5 ? "dev-5" : "dev-311";
    auto live = make(id, v);
    connect(live, {"alice", "secret"}, {false, 3600});
    CAF_REQUIRE_EQUAL(connack_code(live), 0);
    live.subscribe("t/" + id, qos::at_least_once);
    settle();
    live.conn->take();
    auto session = session_of(id);
    CAF_REQUIRE(session != nullptr);
    auto intruder = make(id, v);
    connect(intruder, {"alice", "secret!"}, {true});
    CAF_CHECK_EQUAL(connack_code(intruder), v == v5 ? 0x86 : 0x04);
    CAF_CHECK(intruder.conn->is_closed());
    auto anon = make(id, v);
    connect(anon, {}, {true});
    CAF_CHECK(anon.conn->is_closed());
    // Same session actor, its connection open, its subscription working.
    CAF_CHECK(session_of(id) == session);
    CAF_CHECK(!live.conn->is_closed());
    auto pub = make("pub-" + id, v);
    connect(pub, {"alice", "secret"});
    pub.publish("t/" + id, qos::at_most_once, "still-here");
    settle();
    auto got = only<protocol::publish>(live.conn->take());
    CAF_REQUIRE_EQUAL(got.size(), 1u);
    CAF_CHECK_EQUAL(got[0].payload, "still-here");
  }
}

CAF_TEST_FIXTURE_SCOPE_END()
