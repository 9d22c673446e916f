#pragma once
/// The ROUTER actor: owns the topic tree (subscriptions, shared groups) and
/// the retained messages, and fans out route batches to session actors.
///
/// Batching: one `route_batch` from a session (all PUBLISHes of one read)
/// becomes at most one `delivery_batch` per target session. Every message
/// is shared (`message_ptr`), never copied per subscriber. The publisher
/// gets `(routed_atom, seq)` once the batch is handed to every target
/// session's mailbox — the point at which it may acknowledge (in-memory
/// sessions; the durable backends extend this to "stored"). A batch sent
/// without `ack` (QoS 0 only, nothing retained: nothing to acknowledge)
/// gets no answer unless its ack is deferred (flow control, below): then
/// `(hold_atom, seq)` at once, and `(routed_atom, seq)` when released.
///
/// Flow control: the router counts the deliveries it sent to each session,
/// and each session reports its progress (deliveries taken off its
/// backlog): every 256 deliveries, and once its queue runs empty after a
/// delivery batch that asked for it (`delivery_batch::ask_progress`);
/// offline and persistent sessions on every change (session.cpp). The
/// router asks while its view of the backlog (sent minus last reported) is
/// above `flow_high / 4`, while a publisher's ack waits for the session or
/// while it is marked slow. So a session that keeps up sends no progress
/// message per delivery, and the router's view of a session it did not
/// ask stays at most `flow_high / 4` above the truth (only a batch of more
/// than `3/4 flow_high` messages for one session can then be deferred on a
/// view above the truth; it asks, and the session's report once its queue
/// is empty releases the ack).
/// When a route batch reaches a session whose backlog — messages
/// in its mailbox plus its queue while connected — is above `flow_high`, the
/// publisher's ack is deferred until that backlog falls below `flow_low`.
/// A publisher session sends its next batch only after the ack of the
/// previous one (or, after a batch without `ack`, unless told to hold; at
/// most 8 of those in a row), and stops reading its socket meanwhile, so a slow
/// subscriber slows its publishers instead of losing acknowledged messages
/// or growing memory without bound.
///
/// Slow consumers: a session whose backlog keeps a publisher waiting for
/// longer than `slow_after` (limits.slow_consumer_timeout_ms, 2 s; e.g. a
/// client that stopped reading) is marked slow: the waiting acks are
/// released and publishers no longer wait for it, so it cannot stall the
/// other subscribers of its topics. Its own queue then takes the overflow:
/// a clean session's (bounded by `limits.max_queued_messages`, oldest
/// dropped and counted); a connected persistent session with a store is
/// told (`(slow_atom, true)`, session_machine::set_slow) and its stored
/// queue's limit and overflow policy then apply as while offline (counted
/// drops). A persistent session's stored queue does not count as backlog
/// until it nears its limit (`session_machine::progress`), so it is held
/// and marked only there. It is unmarked once its backlog (while marked,
/// its whole queue) falls below `flow_low` again (a persistent session is
/// told: `(slow_atom, false)`). With limits.slow_persistent_consumer: hold,
/// a persistent session with a store is never marked: its publishers wait
/// as long as it takes and it never drops an acknowledged message
/// (docs/sessions.md "Slow consumers").
///
/// Durability: QoS 1/2 deliveries to persistent sessions get a per-session
/// queue position and are written to the storage actor in one batch per
/// route batch (with retained-message changes); the deliveries to those
/// sessions and the publisher's ack are released only when the storage
/// actor reports the batch committed (synced). Everything else is delivered
/// at once.
///
/// Direct calls: the router's state (`router_state`) is shared between the
/// router actor and the session actors of this node, behind its mutex. A
/// local session calls it directly (`local_router_core`): it routes its
/// PUBLISHes in its own job and learns at once whether they are routed
/// (`route_for`), instead of a message to the router and, for QoS 1/2, one
/// back: one actor hop less per message, two for an acknowledged one (when
/// another thread holds the lock it sends the batch to the router actor
/// instead and waits for its answer, as a remote session does). Its
/// subscribe, unsubscribe, online, register, progress and remove calls go
/// the same way, so they stay in order with its routes. What comes later
/// (storage commits, deferred acks, the slow-consumer timer) still arrives
/// as messages; the router actor handles those, the admin API's calls and
/// everything from a session that is not local (another node's, or a
/// stand-in in tests), under the same mutex. What the router's state sends
/// carries the router actor as its sender, whichever thread sends it (the
/// storage actor answers the router).
///
/// Arrival order: a SUBSCRIBE and another client's PUBLISH are read by whichever workers own
/// their connections, and a worker that was asleep or busy reads late. So a PUBLISH that
/// reached the machine after a SUBSCRIBE could be routed before the subscription existed, and
/// missed (measured: 1-2 % of rounds of "B subscribes without waiting for its SUBACK, A
/// publishes at once" with two workers; the Paho 5.0 suite's test_subscribe_options does
/// that). MQTT orders neither, but a single-threaded broker never shows it, so clients come to
/// rely on it. The edge stamps each read with the kernel's receive time of its newest byte
/// (SO_TIMESTAMPNS, `net::connection::read_arrival`), carried by the session into its route
/// batches and subscribe requests. The router keeps the messages it routed lately with their
/// arrival and routing times (`recent`, bounded: `router_options::arrival_window_messages` and
/// `_bytes`), and a new subscription is given, after its retained messages, every recent
/// message that arrived after its SUBSCRIBE, matches it, and did not already reach the session
/// through another of its subscriptions: the result is as if the SUBSCRIBE had been read
/// first. A retained message that is also such a late message goes once, as the live message.
/// Only messages routed after the SUBSCRIBE arrived are looked at (the last few, newest end of
/// the window). Not for shared subscriptions (the group's choice for a message is made), nor
/// for restored ones, nor across nodes. A SUBSCRIBE whose window no longer reaches back to its
/// arrival (more than the window routed in between) gets what is left, counted
/// (`actormq_arrival_order_total{outcome="window_exceeded"}`). Cost: one clock read per route
/// batch and one ring slot per message.

#include "amq/actors/messages.hpp"
#include "amq/broker/arrival_window.hpp"
#include "amq/broker/retained_store.hpp"
#include "amq/broker/topic_tree.hpp"

#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>

namespace amq::actors {

struct router_counters {
  uint64_t routed = 0;
  uint64_t delivered = 0;
  uint64_t no_subscribers = 0;
  uint64_t storage_failures = 0;
  uint64_t slow_consumers = 0;
};

/// The router's settings (spawn_router derives them from session_limits).
struct router_options {
  int64_t flow_high = 2000; ///< backlog above which publishers' acks wait
  std::chrono::milliseconds slow_after{2000}; ///< limits.slow_consumer_timeout_ms
  bool hold_persistent = false; ///< limits.slow_persistent_consumer: hold
  /// runtime.arrival_order: keep the recent window (header comment, "Arrival order").
  bool arrival_order = true;
  static constexpr size_t arrival_window_messages = 1024;
  static constexpr size_t arrival_window_bytes = 1024 * 1024;
};

/// What `route_for` did with a route batch.
enum class route_outcome {
  done,  ///< routed: nothing more comes for it (the publisher may acknowledge)
  later, ///< (routed_atom, seq) comes when it is stored or a congested target drained
};

struct router_state {
  struct session_entry;

  /// `self`: the router actor (the storage actor answers it; the
  /// slow-consumer timer goes to it).
  router_state(caf::actor_system& sys, caf::actor_addr self) : sys(&sys), self(std::move(self)) {}

  /// Guards everything below: the router actor and local sessions call in
  /// from their own threads (the header comment, "Direct calls").
  std::mutex mtx;
  /// Set once the router actor applied its options; until then sessions
  /// use messages.
  std::atomic<bool> ready{false};

  /// Routes `batch` from `publisher` (may be null) and records what the
  /// publisher waits for: `later` when its ack waits for storage or a
  /// congested target, then (routed_atom, seq) follows.
  route_outcome route_for(route_batch& batch, const caf::actor& publisher);

  void subscribe(broker::session_id sid, caf::actor session, broker::subscribe_request& req);
  /// Arrival order (header comment): the recent messages a new subscription gets.
  void collect_late(broker::session_id sid, const broker::subscribe_request& req,
                    std::vector<protocol::message_ptr>& late);
  void unsubscribe(broker::session_id sid, const std::string& filter);
  void route(route_batch& batch);
  /// Forgets a session that ended. `erase_stored`: also erase the client's
  /// stored record and queue, ordered after this router's appends to it.
  void remove(broker::session_id sid, bool erase_stored);
  void progress(broker::session_id sid, int64_t value);
  /// `client_id`: the session's own handle (shared: no copy of the characters).
  /// `session_actor`: `handle` is a local `session_actor` (session.hpp; the session registering
  /// itself by a direct call), which deliveries may reach in a direct turn (`claim_on`).
  void register_session(broker::session_id sid, caf::actor handle, broker::shared_string client_id,
                        bool persistent, uint64_t last_seq, bool session_actor = false);
  /// Assigns queue positions to the QoS 1/2 deliveries in `db` and adds
  /// them to `wb`; false if there were none.
  bool persist_deliveries(session_entry& e, delivery_batch& db);
  void persisted(uint64_t token, bool ok);
  void ack(const caf::actor& publisher, uint64_t seq, broker::session_id congested);
  void defer(broker::session_id sid, session_entry& e, caf::actor publisher, uint64_t seq);
  void slow_check(broker::session_id sid, uint64_t deferral);
  broker::session_id congested_target_sid() const;
  /// Whether a delivery batch to `e` (already counted in `sent`) asks for
  /// its progress (see the header comment).
  bool wants_progress(const session_entry& e) const noexcept;

  caf::actor_system* sys;
  caf::actor_addr self;
  /// The router actor's handle, the sender of what its state sends (null
  /// once it is gone).
  caf::actor me() const {
    return caf::actor_cast<caf::actor>(self);
  }
  broker::topic_tree tree;
  broker::retained_store<protocol::message> retained;
  /// Publishers waiting for a congested session: 8 bytes until one waits (a vector inline was
  /// 24 bytes in every session's entry, and almost all sessions never have one).
  class deferred_list {
  public:
    using value_type = std::pair<caf::actor, uint64_t>;
    bool empty() const noexcept { return !v_ || v_->empty(); }
    void emplace_back(caf::actor publisher, uint64_t seq) {
      if (!v_)
        v_ = std::make_unique<std::vector<value_type>>();
      v_->emplace_back(std::move(publisher), seq);
    }
    void clear() noexcept { v_.reset(); }
    std::vector<value_type>::iterator begin() noexcept { return v_ ? v_->begin() : none().begin(); }
    std::vector<value_type>::iterator end() noexcept { return v_ ? v_->end() : none().end(); }

  private:
    static std::vector<value_type>& none() noexcept {
      static std::vector<value_type> empty;
      return empty;
    }
    std::unique_ptr<std::vector<value_type>> v_;
  };

  struct session_entry {
    caf::actor handle;
    int64_t sent = 0;     ///< deliveries sent to the session
    int64_t progress = 0; ///< last progress it reported
    /// Shares the session's block (amq/broker/shared_string.hpp): the key of its stored queue
    /// (a std::string copy per storage write) and the name in log lines.
    broker::shared_string client_id;
    bool persistent = false; ///< QoS 1/2 deliveries go through storage
    bool slow = false;       ///< publishers no longer wait for it (next to
                             ///< `persistent`: 16 bytes less per session)
    bool direct = false;     ///< `handle` is a local session_actor (register_session)
    uint64_t next_seq = 0;   ///< last durable queue position assigned
    deferred_list deferred; ///< (publisher, seq)
    uint64_t deferral = 0;   ///< increments each time `deferred` fills from empty
    int64_t backlog() const noexcept { return sent - progress; }
  };
  std::unordered_map<broker::session_id, session_entry> sessions;
  int64_t flow_high = 2000;
  int64_t flow_low = 1000;
  std::chrono::milliseconds slow_after{2000};
  bool hold_persistent = false; ///< never mark a persistent session with a store
  std::vector<broker::delivery> matches;
  /// route(): what a route batch delivers to one session, and the
  /// session's entry in `sessions` (looked up once, not per batch; remove()
  /// erases both).
  struct target {
    delivery_batch batch;
    session_entry* entry = nullptr;
  };
  std::unordered_map<broker::session_id, target> out;
  /// route(): the entries of `out` the current batch fills, in the order of
  /// their first message, and the `out` entries of the current topic's
  /// matches (kept to reuse their capacity).
  std::vector<std::pair<broker::session_id, target*>> touched;
  std::vector<target*> route_targets;
  router_counters counters;
  /// Durability (see the header comment): the storage actor, the batch
  /// being built, and the route batches waiting for their commit.
  caf::actor storage;
  storage::write_batch wb;
  struct pending_commit {
    caf::actor publisher;
    uint64_t seq = 0;
    broker::session_id congested = 0;
    std::vector<std::pair<broker::session_id, delivery_batch>> held;
  };
  std::unordered_map<uint64_t, pending_commit> commits;
  uint64_t next_token = 0;
  uint64_t pending_token = 0; ///< set by route(): its commit token, or 0
  /// Set by route(): a target of the current batch above `flow_high`.
  session_entry* congested_target = nullptr;
  /// Direct turns (session.hpp): set by a session that routes in its own turn on a worker
  /// (session_state::route_direct) for one route(). Deliveries sent at once (not held for
  /// storage) to an idle local session homed on that worker are not sent: route() claims the
  /// session while it holds `mtx` (so they keep the order of the routes, as sends would) and
  /// leaves them in `claimed`, for the caller to run after it released `mtx`.
  caf::execution_unit* claim_on = nullptr;
  struct claimed_delivery {
    caf::actor handle; ///< keeps the session alive until its turn
    delivery_batch batch;
  };
  std::vector<claimed_delivery> claimed;
  /// Arrival order (header comment): the messages routed lately (off until the router actor
  /// applies its options), and subscribe()'s list of late ones (kept for its capacity).
  broker::arrival_window recent;
  std::vector<protocol::message_ptr> late_messages;
};

/// The router actor's state: the shared router state.
struct router_actor_state {
  static inline const char* name = "router";
  explicit router_actor_state(caf::event_based_actor* self)
    : core(std::make_shared<router_state>(self->system(), self->address())) {
  }
  std::shared_ptr<router_state> core;
};

using router_actor_type = caf::stateful_actor<router_actor_state>;

caf::behavior router_behavior(router_actor_type* self, router_options opts, caf::actor storage);

/// The state of `router` when it is a router actor of this process (and
/// has applied its options), for direct calls; null otherwise (a remote
/// router, a stand-in): then use messages.
std::shared_ptr<router_state> local_router_core(const caf::actor& router);

/// Spawns the router; flow-control thresholds derive from the sessions'
/// online queue limit, the slow-consumer settings from `limits` too.
/// `storage` may be null (memory-only broker): nothing is persisted.
/// `arrival_order`: runtime.arrival_order (header comment).
caf::actor spawn_router(caf::actor_system& sys, const broker::session_limits& limits,
                        caf::actor storage, bool arrival_order = true);

} // namespace amq::actors
