#pragma once
/// The REGISTRY actor: maps client ids to session actors and serializes
/// CONNECTs per client id, which makes takeover race-free on one node: two
/// simultaneous CONNECTs for one id are handled one after the other by the
/// same session actor, and exactly one connection stays attached.
///
/// A session actor that is ending refuses an attach (it answers false, or
/// is already gone and the request fails); the registry then spawns a fresh
/// session and attaches to that, so no CONNECT is ever lost in the race
/// between "session ended" and "client reconnected".

#include "amq/actors/messages.hpp"
#include "amq/admin/session_directory.hpp"
#include "amq/config/client_classifier.hpp"

#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include <caf/response_promise.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace amq::actors {

struct session_env;

struct registry_state {
  static inline const char* name = "registry";

  explicit registry_state(caf::event_based_actor* self) : self(self) {}

  void connect(net::connection_ptr conn, connect_frame_ptr cf, edge_link_ptr link);
  /// Attaches the connection to the client's session. `refused`: the
  /// session that just refused it or is gone (retry); a newer session for
  /// the id (from a concurrent retry) is used, else a fresh one is spawned.
  void attach(const broker::shared_string& client_id, net::connection_ptr conn,
              connect_frame_ptr cf, edge_link_ptr link, int attempt, caf::actor refused = {});
  /// Spawns a session for `client_id` and makes it the id's entry. One block per client id: the
  /// entry's key, the session machine's id and the router's entry share it; a session replacing
  /// another for the id gets the existing key's block.
  caf::actor spawn_for(const broker::shared_string& client_id);
  /// The id's block: the key of its entry if it has one, else a new one.
  broker::shared_string key_for(std::string_view client_id) const;

  struct entry {
    caf::actor session;
    broker::session_id id;
  };

  caf::event_based_actor* self;
  broker::session_limits limits;
  caf::actor router;
  caf::actor storage; ///< null: nothing is persisted
  std::shared_ptr<const config::client_classifier> classifier;
  std::shared_ptr<admin::session_directory> directory; ///< null: no admin API
  /// What the sessions share (session_env): made at the first spawn.
  std::shared_ptr<const session_env> env;
  /// Client id → its current session. The key is the id's one block, shared with the session
  /// and the router (amq/broker/shared_string.hpp); found by any string type.
  broker::shared_string_map<entry> sessions;
  /// Session actors spawned and not yet ended (also those replaced in
  /// `sessions`). A session tells the registry it ended with
  /// (remove_atom, client_id, id) from its state's destructor, which runs
  /// however the actor exits; no monitor and no map by actor address
  /// (~170 bytes per session, docs/performance.md "Idle connections").
  size_t live = 0;
  /// A session `(client_id, id)` ended: forget it unless replaced (the key's block goes with
  /// the last of the session, its router entry and this map to let go of it).
  void ended(std::string_view client_id, broker::session_id id);
  broker::session_id next_id = 1;
  /// Pending answer to (shutdown_atom) while sessions are still ending.
  std::optional<caf::response_promise> shutdown_promise;
  uint64_t next_assigned = 1;
};

using registry_actor_type = caf::stateful_actor<registry_state>;

caf::behavior registry_behavior(registry_actor_type* self, broker::session_limits limits,
                                caf::actor router, caf::actor storage,
                                std::shared_ptr<const config::client_classifier> classifier,
                                std::shared_ptr<admin::session_directory> directory);

/// `classifier` may be null: every client is a DEVICE.
caf::actor spawn_registry(caf::actor_system& sys, const broker::session_limits& limits,
                          caf::actor router, caf::actor storage,
                          std::shared_ptr<const config::client_classifier> classifier = nullptr,
                          std::shared_ptr<admin::session_directory> directory = nullptr);

} // namespace amq::actors
