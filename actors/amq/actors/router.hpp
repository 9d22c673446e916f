#pragma once
/// The ROUTER actor: owns the topic tree (subscriptions, shared groups) and
/// the retained messages, and fans out route batches to session actors.
///
/// Batching: one `route_batch` from a session (all PUBLISHes of one read)
/// becomes at most one `delivery_batch` per target session. Every message
/// is shared (`message_ptr`), never copied per subscriber. The publisher
/// gets `(routed_atom, seq)` once the batch is handed to every target
/// session's mailbox — the point at which it may acknowledge (in-memory
/// sessions; the durable backends extend this to "stored").

#include "amq/actors/messages.hpp"
#include "amq/broker/retained_store.hpp"
#include "amq/broker/topic_tree.hpp"

#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include <unordered_map>

namespace amq::actors {

struct router_counters {
  uint64_t routed = 0;
  uint64_t delivered = 0;
  uint64_t no_subscribers = 0;
};

struct router_state {
  static inline const char* name = "router";

  explicit router_state(caf::event_based_actor* self) : self(self) {}

  void subscribe(broker::session_id sid, caf::actor session, broker::subscribe_request& req);
  void unsubscribe(broker::session_id sid, const std::string& filter);
  void route(route_batch& batch);
  void remove(broker::session_id sid);

  caf::event_based_actor* self;
  broker::topic_tree tree;
  broker::retained_store<protocol::message> retained;
  std::unordered_map<broker::session_id, caf::actor> sessions;
  std::vector<broker::delivery> matches;
  std::unordered_map<broker::session_id, delivery_batch> out;
  router_counters counters;
};

using router_actor_type = caf::stateful_actor<router_state>;

caf::behavior router_behavior(router_actor_type* self);

caf::actor spawn_router(caf::actor_system& sys);

} // namespace amq::actors
