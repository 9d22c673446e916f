#pragma once
/// The SESSION actor: one per client session, a thin adapter around
/// `broker::session_machine`. It outlives its connection when the session
/// is persistent; connections attach and detach.
///
/// Output batching: whatever the machine writes while the actor works
/// through its mailbox is collected and written with one `send` when a
/// self-addressed `flush_atom` (queued behind the messages already waiting)
/// comes up, so a burst of deliveries becomes one write.

#include "amq/actors/edge_link.hpp"
#include "amq/actors/io_scheduler.hpp"
#include "amq/admin/session_directory.hpp"
#include "amq/actors/messages.hpp"
#include "amq/broker/session_machine.hpp"
#include "amq/config/client_classifier.hpp"
#include "amq/metrics/session_probe.hpp"

#include <caf/actor_traits.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/extend.hpp>
#include <caf/mixin/behavior_changer.hpp>
#include <caf/mixin/requester.hpp>
#include <caf/mixin/sender.hpp>
#include <caf/scheduled_actor.hpp>
#include <caf/response_promise.hpp>
#include <caf/stateful_actor.hpp>

#include <atomic>
#include <deque>
#include <memory>
#include <optional>
#include <string>

namespace amq::actors {

struct router_state;

/// What every session of a node shares: the router, the storage actor, the client-type rules,
/// the admin directory and the registry. One copy (`make_session_env`, made once by the registry)
/// instead of these members in every session: idle connections are what a broker has most of,
/// and they were 72 bytes of each session's state.
struct session_env {
  caf::actor router;
  /// The router's state when the router is local: called directly, under
  /// its lock (router.hpp, "Direct calls"); null: messages to `router`.
  std::shared_ptr<router_state> core;
  caf::actor storage; ///< null: nothing is persisted
  std::shared_ptr<const config::client_classifier> classifier;
  /// Admin API: the directory sessions report to (null: none).
  std::shared_ptr<admin::session_directory> directory;
  /// The registry that spawned the sessions (null: none), told when one ends.
  caf::actor_addr registry;
};

/// CAF's `event_based_actor` without its group-subscriber mixin: sessions never join CAF groups,
/// and the mixin's empty `std::unordered_set<group>` is 56 bytes in every session actor (idle
/// connections are what a broker has most of; docs/performance.md, "Idle connections").
/// Everything else — sending, requests, become, `make_behavior`, a dynamically typed handle — is
/// as in `event_based_actor`; `initialize` does what CAF 0.17's does.
class session_base;

} // namespace amq::actors

template <>
class caf::behavior_type_of<amq::actors::session_base> {
public:
  using type = caf::behavior;
};

namespace amq::actors {

class session_base
  : public caf::extend<caf::scheduled_actor, session_base>::with<
      caf::mixin::sender, caf::mixin::requester, caf::mixin::behavior_changer>,
    public caf::dynamically_typed_actor_base {
public:
  using signatures = caf::none_t;
  using behavior_type = caf::behavior;

  explicit session_base(caf::actor_config& cfg) : extended_base(cfg) {}

  void initialize() override {
    extended_base::initialize();
    setf(is_initialized_flag);
    auto bhvr = make_behavior();
    if (bhvr)
      become(std::move(bhvr));
  }

protected:
  virtual caf::behavior make_behavior() { return {}; }
};

struct session_state {
  static inline const char* name = "session";

  using clock = broker::session_machine::clock;

  explicit session_state(session_base* self) : self(self) {}
  /// Tells the registry that spawned it (if any) that this session ended;
  /// runs however the actor exits (CAF destroys the state in on_exit).
  ~session_state();

  void init(broker::session_id id, broker::shared_string client_id, broker::session_limits limits,
            std::shared_ptr<const session_env> env);

  /// False if the session ended instead (a clean session taken over): the
  /// registry then attaches the connection to a fresh session.
  bool attach(net::connection_ptr conn, const connect_frame_ptr& cf, edge_link_ptr link);
  void bytes(uint64_t conn_id, byte_chunk& chunk);
  void process(uint64_t conn_id, byte_chunk& chunk);
  void closed(uint64_t conn_id);
  void writable(uint64_t conn_id, bool value);
  void deliver(delivery_batch& batch);
  void routed(uint64_t seq);
  /// The router holds route batch `seq`, sent without `ack` (hold_atom).
  void held(uint64_t seq);
  void route_failed(uint64_t seq);
  /// Restores a persistent session at boot, cold: its queue stays in the
  /// store ([first_seq, last_seq], about `depth` entries) and is read in
  /// pages once the client is back.
  void restore(storage::session_record& rec, uint64_t first_seq, uint64_t last_seq,
               uint64_t depth);
  /// Asks the storage actor for a page of the stored queue (cold session).
  void request_page(const broker::page_request& pr);
  /// The session ended: the router removes it (and, with storage, erases
  /// its stored state after its own appends, then answers); then quit.
  void finish();
  /// Quits, refusing the CONNECTs that waited for the removal.
  void quit_now();
  /// Writes what changed in the session's durable state (fire and forget:
  /// the storage actor applies it in order, before later batches).
  void persist_effects(broker::effects& fx);
  /// Token bit of a `persisted_atom` answering a durable batch (the low 32
  /// bits are its token): the inbound QoS 2 ids stored and erased and the
  /// "released" marks put while handling one input, written as one batch
  /// (`broker::session_machine::commit_durable`); the PUBRECs, PUBRELs and
  /// PUBCOMPs that wait for it go out when it is answered.
  static constexpr uint64_t durable_token = uint64_t{1} << 63;
  /// Writes the durable batch of the input just handled, if any, as one
  /// storage write (or, when nothing survives a restart anyway, confirms it
  /// at once).
  void persist_durable();
  /// The storage answered durable batch `token`.
  void durable_stored(uint32_t token, bool ok);
  storage::session_record make_record() const;
  void kick(protocol::reason_code rc);
  /// The auth files were reloaded: takes the client's topic access from the ACL file again, and
  /// disconnects the client (0x87) if its credentials no longer pass the password file.
  void recheck_auth();
  void tick();
  /// Writes the collected output; `force` ignores output holds (closing).
  void flush(bool force = false);

  /// Carries out the machine's effects after every input. `arrival`: when the input's bytes
  /// arrived (byte_chunk::arrival; 0 for other inputs), given to its SUBSCRIBEs and its route
  /// batch (router.hpp, "Arrival order").
  void after_input(int64_t arrival = 0);
  /// Routes a batch of this session's PUBLISHes: in this job when the
  /// router is local (`core`), else as a message to it.
  void route_direct(route_batch& batch);
  void send_route(route_batch& batch);
  /// Tells the router the session's handle, client id and kind (directly or by message).
  void register_with_router(uint64_t last_seq);
  void detach();
  void report_drops(bool force);

  // Admin API (session_admin.cpp): reports to the session directory, and
  // the two admin requests.
  void report_connected();
  void report_disconnected();
  void report_restored(const storage::session_record& rec);
  /// Hot numbers (relaxed stores) and a changed subscription count.
  void report_progress();
  void report_ended();
  std::vector<admin::subscription_view> admin_subscriptions() const;
  /// Ends the session now (admin clear); an admin::op_result.
  uint8_t admin_clear(bool force);

  session_base* self;
  broker::session_id id = 0;
  broker::session_machine machine{broker::shared_string{}, broker::session_limits{}};
  /// Router, storage, classifier, directory, registry: shared by the node's sessions.
  std::shared_ptr<const session_env> env;
  /// DEVICE or APPLICATION, assigned at each CONNECT by the configured rules.
  /// (The small members sit together: padding is per session.)
  config::client_type type = config::client_type::device;
  bool stored = false; ///< a session record exists in storage
  bool registered_persistent = false;
  bool registered = false;
  /// Record writes the output waits for: a SUBACK is sent only once the
  /// subscription it confirms is stored (a crash must not lose it).
  uint32_t output_holds = 0;
  bool flush_pending = false;
  /// This input's route delivered to sessions: its acks join the worker's
  /// write gather behind their deliveries (net::write_gather::set_late).
  bool acks_late = false;
  /// The session ended and waits for the router to confirm its removal;
  /// attaches meanwhile wait (answered false when it quits).
  bool removing = false;
  /// Flow control: a delivery batch asked for the progress
  /// (delivery_batch::ask_progress) and it was not reported with an empty
  /// queue since (after_input).
  bool progress_asked = false;
  /// The directory has an entry of this session's pointing at `stats`: the
  /// destructor removes it (if it is still this session's) before they go.
  bool in_directory = false;
  /// Route batches sent without `ack` since the last one with it: QoS 0
  /// only and nothing retained, at most `quiet_window` in a row (a router
  /// that falls behind holds at most that many more batches per publisher).
  /// The router answers one only when it waits for a congested target
  /// ((hold_atom, seq), then (routed_atom, seq)): it then counts in
  /// `outstanding_routes` like the others.
  uint8_t quiet_routes = 0; ///< (in the padding before outstanding_routes)
  static constexpr uint8_t quiet_window = 8;
  /// Route batches sent and not yet acknowledged by the router. While one is
  /// outstanding, further bytes wait in `stash` and are not reported
  /// consumed, so the edge stops reading: a publisher is paced by the router,
  /// which defers its ack while a target session's backlog is too long.
  uint32_t outstanding_routes = 0;
  net::connection_ptr conn;
  edge_link_ptr link;
  broker::lazy_deque<std::pair<uint64_t, byte_chunk>> stash;
  /// Flow control (router.hpp): deliveries taken off the backlog, as last
  /// reported to the router.
  int64_t progress_reported = 0;
  /// Drops already reported in the log (reported at most once a second).
  uint64_t drops_logged = 0;
  clock::time_point drops_logged_at{};
  std::optional<clock::time_point> timer_at;
  std::unique_ptr<std::vector<caf::response_promise>> attach_waiting;
  /// Admin API: the numbers the directory (env->directory) reads from this
  /// session without asking it (through a pointer: see admin::session_stats).
  admin::session_stats stats;
  /// What this session adds to the broker's gauges (amq/metrics/session_probe.hpp).
  metrics::session_probe probe;
  /// The connected client's user name (with an ACL file or a credential check) and password
  /// (with a credential check: a password file or allow_anonymous false), for recheck_auth().
  struct credentials {
    std::optional<std::string> username;
    std::optional<std::string> password;
  };
  std::unique_ptr<credentials> creds;
};

/// The session actor class. Idle connections are what a broker has most of,
/// so its footprint matters (docs/performance.md, "Idle connections"): all
/// session actors share ONE behavior object (the handlers find their state
/// through `current()`, set for the duration of `resume`) instead of each
/// owning a copy of 13 handlers (~570 bytes per session). While a
/// connection is attached the session's home is the worker that runs that
/// connection's I/O (homed_actor, io_scheduler.hpp).
class session_actor : public homed_actor<caf::stateful_actor<session_state, session_base>> {
public:
  using super = homed_actor<caf::stateful_actor<session_state, session_base>>;

  session_actor(caf::actor_config& cfg, broker::session_id id, broker::shared_string client_id,
                const broker::session_limits& limits, std::shared_ptr<const session_env> env);

  caf::behavior make_behavior() override;
  caf::resumable::resume_result resume(caf::execution_unit* eu, size_t max_throughput) override;

  /// The state of the session actor running on this thread (in a handler).
  static session_state& current() noexcept;

  // -- direct turns (docs/architecture.md, "Direct turns") ---------------------------------------
  //
  // A message to an idle session (its mailbox empty and blocked: not scheduled, not running)
  // from a worker that is the session's home may be handled by that worker at once, as a
  // *direct turn*: the handler's code runs on the caller's stack, without a mailbox element, a
  // job and CAF's resume and dispatch. Only for the two messages of the message path: a
  // connection's bytes (edge_link) and a route's deliveries (route_direct). The claim stands in
  // for CAF's own exclusion: `resume` takes the same flag, so a job of the actor that a sender
  // schedules meanwhile waits (resume_later) until the direct turn is over, and runs after it
  // with what arrived meanwhile, in mailbox order.

  /// Takes the session for a direct turn on `eu` if it is idle there (see above); the caller
  /// then runs exactly one `*_claimed` call. False: send the message as usual.
  bool try_claim(caf::execution_unit* eu) noexcept;

  /// The (deliver_atom, batch) handler as a direct turn of a claimed session; releases it.
  void deliver_claimed(caf::execution_unit* eu, delivery_batch& batch);

  /// The (bytes_atom, conn_id, chunk) handler as a direct turn of a claimed session; releases it.
  void bytes_claimed(caf::execution_unit* eu, uint64_t conn_id, byte_chunk& chunk);

private:
  template <class F>
  void run_claimed(caf::execution_unit* eu, F&& f);

  /// Held while a worker runs this actor: CAF's resume or a direct turn.
  std::atomic<bool> claimed_{false};
};

using session_actor_type = session_actor;

/// The session actor behind `handle`, which must be one (edge_link::bind and
/// router_state::register_session are told so by the session itself).
inline session_actor* as_session(const caf::actor& handle) noexcept {
  return static_cast<session_actor*>(caf::actor_cast<caf::abstract_actor*>(handle));
}

/// The behavior all session actors share (see `session_actor`).
caf::behavior session_behavior();

/// The environment for sessions of `router` (its state is looked up here: make it after the
/// router is spawned).
std::shared_ptr<const session_env>
make_session_env(caf::actor router, caf::actor storage,
                 std::shared_ptr<const config::client_classifier> classifier = nullptr,
                 std::shared_ptr<admin::session_directory> directory = nullptr,
                 caf::actor_addr registry = {});

/// Spawns a session actor for `client_id` (shared with the caller: the registry keeps the same
/// block as its key; the session hands it on to the router).
caf::actor spawn_session(caf::actor_system& sys, broker::session_id id,
                         broker::shared_string client_id, const broker::session_limits& limits,
                         std::shared_ptr<const session_env> env);

/// The same with an environment and a client id of its own (tests).
caf::actor spawn_session(caf::actor_system& sys, broker::session_id id, std::string_view client_id,
                         const broker::session_limits& limits, caf::actor router,
                         caf::actor storage,
                         std::shared_ptr<const config::client_classifier> classifier = nullptr,
                         std::shared_ptr<admin::session_directory> directory = nullptr,
                         caf::actor_addr registry = {});

} // namespace amq::actors
