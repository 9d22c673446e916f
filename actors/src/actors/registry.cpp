#include "amq/actors/registry.hpp"

#include "amq/actors/edge_link.hpp"
#include "amq/actors/router.hpp"
#include "amq/actors/session.hpp"
#include "amq/log.hpp"
#include "amq/metrics/registry.hpp"
#include "amq/protocol/packet.hpp"

#include <caf/actor_system.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>

namespace amq::actors {

using namespace protocol;

namespace {

/// Refuses a CONNECT with a CONNACK in the client's version, then closes.
void refuse(const net::connection_ptr& conn, protocol_version v, reason_code rc) {
  metrics::count_rejected(static_cast<uint8_t>(rc));
  connack ack;
  ack.code = rc;
  std::vector<uint8_t> out;
  encode(ack, v, out);
  conn->send(std::move(out));
  conn->close();
}

} // namespace

broker::shared_string registry_state::key_for(std::string_view client_id) const {
  if (auto i = sessions.find(client_id); i != sessions.end())
    return i->first;
  return broker::shared_string{client_id};
}

caf::actor registry_state::spawn_for(const broker::shared_string& client_id) {
  auto sid = next_id++;
  // Made at the first spawn, when the router is surely running (its state is looked up then);
  // again if it was not local then and is now.
  if (!env || (!env->core && local_router_core(router)))
    env = make_session_env(router, storage, classifier, directory, self->address());
  // A session replacing another for this id shares the existing key's block, so that the id
  // stays one block however often its session is replaced.
  auto i = sessions.find(client_id);
  const auto& key = i != sessions.end() ? i->first : client_id;
  auto session = spawn_session(self->system(), sid, key, limits, env);
  ++live;
  if (i != sessions.end())
    i->second = entry{session, sid};
  else
    sessions.emplace(client_id, entry{session, sid});
  return session;
}

void registry_state::ended(std::string_view client_id, broker::session_id sid) {
  if (live > 0)
    --live;
  if (auto j = sessions.find(client_id); j != sessions.end() && j->second.id == sid)
    sessions.erase(j);
  if (shutdown_promise && live == 0) {
    shutdown_promise->deliver(true);
    shutdown_promise.reset();
  }
}

void registry_state::connect(net::connection_ptr conn, connect_frame_ptr cf,
                             edge_link_ptr link) {
  auto& p = cf->packet;
  std::string_view client_id = p.client_id; // views cf's bytes
  char buf[40];
  if (client_id.empty()) {
    // §3.1.3.1: 3.1.1 allows an empty id only with Clean Session 1.
    if (p.version == protocol_version::v311 && !p.clean_start) {
      AMQ_LOG_INFO("connection {} refused: empty client id with Clean Session 0", conn->peer());
      refuse(conn, p.version, reason_code::client_identifier_not_valid);
      return;
    }
    static thread_local std::mt19937_64 rng{std::random_device{}()};
    auto n = std::snprintf(buf, sizeof(buf), "amq-%016llx-%llu",
                           static_cast<unsigned long long>(rng()),
                           static_cast<unsigned long long>(next_assigned++));
    client_id = std::string_view{buf, std::min(static_cast<size_t>(n), sizeof(buf) - 1)};
  }
  if (client_id.size() > limits.max_client_id_length) {
    AMQ_LOG_INFO("connection {} refused: client id of {} bytes is longer than {}", conn->peer(),
                 client_id.size(), limits.max_client_id_length);
    refuse(conn, p.version, reason_code::client_identifier_not_valid);
    return;
  }
  attach(key_for(client_id), std::move(conn), std::move(cf), std::move(link), 0);
}

void registry_state::attach(const broker::shared_string& client_id, net::connection_ptr conn,
                            connect_frame_ptr cf, edge_link_ptr link, int attempt,
                            caf::actor refused) {
  // On a retry, another CONNECT for this id may already have replaced the
  // refusing session (two takeovers of an ending clean session): use that
  // one, so that the CONNECTs stay serialized and one connection survives.
  caf::actor session;
  if (auto i = sessions.find(client_id); i != sessions.end() && i->second.session != refused)
    session = i->second.session;
  else
    session = spawn_for(client_id);
  self
    ->request(session, caf::infinite, attach_atom::value, conn, cf, link)
    .then(
      [=, this](bool accepted) {
        if (!accepted)
          attach(client_id, conn, cf, link, attempt + 1, session);
      },
      [=, this](caf::error& err) {
        if (attempt < 2) {
          attach(client_id, conn, cf, link, attempt + 1, session);
          return;
        }
        AMQ_LOG_WARN("client {} refused: no session could take the connection ({})", client_id,
                     self->system().render(err));
        refuse(conn, cf->packet.version, reason_code::server_unavailable);
      });
}

caf::behavior registry_behavior(registry_actor_type* self, broker::session_limits limits,
                                caf::actor router, caf::actor storage,
                                std::shared_ptr<const config::client_classifier> classifier,
                                std::shared_ptr<admin::session_directory> directory) {
  auto& st = self->state;
  st.directory = std::move(directory);
  st.classifier = std::move(classifier);
  st.limits = limits;
  st.router = std::move(router);
  st.storage = std::move(storage);
  return {
    [&st](connect_atom, net::connection_ptr& conn, connect_frame_ptr& cf, edge_link_ptr& link) {
      st.connect(std::move(conn), std::move(cf), std::move(link));
    },
    [&st](remove_atom, const broker::shared_string& client_id, broker::session_id sid) {
      st.ended(client_id, sid);
    },
    [&st](kick_atom, const std::string& client_id, reason_code rc) -> bool {
      auto i = st.sessions.find(client_id);
      if (i == st.sessions.end())
        return false;
      st.self->send(i->second.session, kick_atom::value, rc);
      return true;
    },
    [&st](recheck_atom) -> caf::result<size_t> {
      // Answered once every session has taken the reloaded rules (or ended): from then on
      // every delivery and PUBLISH is checked against them (broker_node::reload_auth logs it).
      const size_t n = st.sessions.size();
      if (n == 0)
        return n;
      auto rp = st.self->make_response_promise<size_t>();
      auto pending = std::make_shared<size_t>(n);
      auto one_done = [rp, pending, n]() mutable {
        if (--*pending == 0)
          rp.deliver(n);
      };
      for (auto& [cid, e] : st.sessions)
        st.self->request(e.session, std::chrono::seconds(10), recheck_atom::value)
          .then([one_done](bool) mutable { one_done(); },
                [one_done](caf::error&) mutable { one_done(); }); // ended meanwhile
      return rp;
    },
    [&st](count_atom) { return st.sessions.size(); },
    [&st](info_atom, const std::string& client_id) -> caf::delegated<caf::message> {
      auto i = st.sessions.find(client_id);
      if (i == st.sessions.end()) {
        st.self->make_response_promise().deliver(caf::make_error(caf::sec::invalid_argument));
        return {};
      }
      return st.self->delegate(i->second.session, info_atom::value);
    },
    [&st](clear_atom, const std::string& client_id, bool force) -> caf::delegated<caf::message> {
      auto i = st.sessions.find(client_id);
      if (i == st.sessions.end()) {
        st.self->make_response_promise().deliver(static_cast<uint8_t>(admin::op_result::not_found));
        return {};
      }
      return st.self->delegate(i->second.session, clear_atom::value, force);
    },
    [&st](restore_atom, storage::session_record& rec, uint64_t first_seq, uint64_t last_seq,
          uint64_t depth) {
      auto session = st.spawn_for(st.key_for(rec.client_id));
      st.self->send(session, restore_atom::value, std::move(rec), first_seq, last_seq, depth);
    },
    [&st](shutdown_atom) -> caf::result<bool> {
      if (st.live == 0)
        return true;
      // Sessions replaced in `sessions` are ending already (they refused
      // an attach or are gone) and report like the others.
      for (auto& [cid, e] : st.sessions)
        st.self->send(e.session, shutdown_atom::value);
      st.shutdown_promise = st.self->make_response_promise();
      return caf::delegated<bool>{};
    },
  };
}

caf::actor spawn_registry(caf::actor_system& sys, const broker::session_limits& limits,
                          caf::actor router, caf::actor storage,
                          std::shared_ptr<const config::client_classifier> classifier,
                          std::shared_ptr<admin::session_directory> directory) {
  return sys.spawn(registry_behavior, limits, router, storage, std::move(classifier),
                   std::move(directory));
}

} // namespace amq::actors
