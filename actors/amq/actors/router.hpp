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
///
/// Flow control: the router counts the deliveries it sent to each session,
/// and each session reports its progress (deliveries taken off its
/// backlog). When a route batch reaches a session whose backlog — messages
/// in its mailbox plus its queue while connected — is above `flow_high`, the
/// publisher's ack is deferred until that backlog falls below `flow_low`.
/// A publisher session sends its next batch only after the ack of the
/// previous one, and stops reading its socket meanwhile, so a slow
/// subscriber slows its publishers instead of losing acknowledged messages
/// or growing memory without bound.

#include "amq/actors/messages.hpp"
#include "amq/broker/retained_store.hpp"
#include "amq/broker/topic_tree.hpp"

#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include <optional>
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
  void progress(broker::session_id sid, int64_t value);

  caf::event_based_actor* self;
  broker::topic_tree tree;
  broker::retained_store<protocol::message> retained;
  struct session_entry {
    caf::actor handle;
    int64_t sent = 0;     ///< deliveries sent to the session
    int64_t progress = 0; ///< last progress it reported
    std::vector<std::pair<caf::actor, uint64_t>> deferred; ///< (publisher, seq)
    int64_t backlog() const noexcept { return sent - progress; }
  };
  std::unordered_map<broker::session_id, session_entry> sessions;
  int64_t flow_high = 2000;
  int64_t flow_low = 1000;
  std::vector<broker::delivery> matches;
  std::unordered_map<broker::session_id, delivery_batch> out;
  router_counters counters;
  /// Set by route(): a target of the current batch above `flow_high`.
  session_entry* congested_target = nullptr;
};

using router_actor_type = caf::stateful_actor<router_state>;

caf::behavior router_behavior(router_actor_type* self, int64_t flow_high);

/// Spawns the router; flow-control thresholds derive from the sessions'
/// online queue limit.
caf::actor spawn_router(caf::actor_system& sys, const broker::session_limits& limits);

} // namespace amq::actors
