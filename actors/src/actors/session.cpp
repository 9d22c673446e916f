#include "amq/actors/session.hpp"

#include "amq/actors/router.hpp"
#include "amq/net/server.hpp"

#include "amq/actors/timers.hpp"
#include "amq/auth/password_file.hpp"

#include "amq/log.hpp"
#include "amq/metrics/registry.hpp"

#include <caf/actor_system.hpp>
#include <caf/send.hpp>

#include <algorithm>
#include <iterator>
#include <utility>

namespace amq::actors {

using namespace protocol;

namespace {

/// The session's time source: the actor clock, which is steady_clock::now()
/// in production and the deterministic clock under CAF's test coordinator
/// (keep-alive and expiry timers are then driven by `advance_time`).
session_state::clock::time_point now_of(caf::local_actor* self) {
  return self->clock().now();
}

/// Runs `f` on the router's state under its lock when the router is local
/// (`core`); false when it is not: then the caller sends a message.
template <class F>
bool with_router(const std::shared_ptr<router_state>& core, F&& f) {
  if (!core)
    return false;
  std::lock_guard<std::mutex> guard{core->mtx};
  f(*core);
  return true;
}

/// Refusals by auth.acl_file are logged at most 10 a second (a client can ask for refused
/// topics as fast as it can send); actormq_acl_denied_total counts every one.
log::rate_limit denial_log{10};

/// One line per refusal (client, action, topic, what became of it), rate-limited.
void log_denials(std::string_view client_id, const std::vector<broker::access_denial>& denials) {
  // By access_denial::kind: what the client asked for, what became of it.
  static constexpr std::pair<const char*, const char*> texts[] = {
    {"publish to", "not forwarded"},
    {"publish its will to", "the will is not published"},
    {"subscribe to", "refused in the SUBACK"},
    {"read", "the message is not delivered to it"},
  };
  static_assert(std::size(texts) == static_cast<size_t>(broker::access_denial::kind::receive) + 1);
  for (const auto& d : denials) {
    uint64_t held = 0;
    if (!denial_log.admit(held))
      continue;
    const auto& [action, outcome] = texts[static_cast<size_t>(d.what)];
    AMQ_LOG_INFO("client '{}' may not {} '{}' (auth.acl_file): {}{}",
                 log::printable(client_id, 128), action, log::printable(d.topic, 128), outcome,
                 log::held_back(held, "ACL refusals"));
  }
}

} // namespace

void session_state::init(broker::session_id sid, broker::shared_string client_id,
                         broker::session_limits limits, std::shared_ptr<const session_env> e) {
  id = sid;
  machine = broker::session_machine{std::move(client_id), limits};
  env = std::move(e);
}

std::shared_ptr<const session_env>
make_session_env(caf::actor router, caf::actor storage,
                 std::shared_ptr<const config::client_classifier> classifier,
                 std::shared_ptr<admin::session_directory> directory, caf::actor_addr registry) {
  auto core = local_router_core(router);
  return std::make_shared<const session_env>(
    session_env{std::move(router), std::move(core), std::move(storage), std::move(classifier),
                std::move(directory), std::move(registry)});
}

session_state::~session_state() {
  // The directory points at `stats`: gone with this state (a no-op if the entry ended or
  // passed to a successor already).
  report_ended();
  // The registry that spawned this session is of this process: the id goes as the shared
  // handle (no copy), and the registry finds its key by it.
  if (auto reg = env ? caf::actor_cast<caf::actor>(env->registry) : caf::actor{})
    caf::anon_send(reg, remove_atom::value, machine.client_id(), id);
}

namespace {

/// auth.acl_file's view for one client, as the session machine's topic_access.
class acl_access final : public broker::topic_access {
public:
  explicit acl_access(std::shared_ptr<const auth::acl_view> v) : v_(std::move(v)) {
  }
  bool may_publish(std::string_view topic) const override {
    return v_->may_publish(topic);
  }
  bool may_receive(std::string_view topic) const override {
    return v_->may_receive(topic);
  }
  bool may_subscribe(std::string_view filter) const override {
    return v_->may_subscribe(filter);
  }

private:
  std::shared_ptr<const auth::acl_view> v_;
};

std::shared_ptr<const broker::topic_access> topic_access_for(const auth::authenticator& acl,
                                                             std::optional<std::string_view> username,
                                                             std::string_view client_id) {
  auto v = acl.acl_view_for(username, client_id);
  return v ? std::make_shared<acl_access>(std::move(v)) : nullptr;
}

} // namespace

bool session_state::attach(net::connection_ptr c, const connect_frame_ptr& cf,
                           edge_link_ptr l) {
  auto now = now_of(self);
  if (conn) {
    AMQ_LOG_INFO("session {} taken over: closing connection from {}", machine.client_id(),
                 conn->peer());
    machine.on_takeover(now);
    after_input();
    // A session that does not outlive its connection ended with it (and
    // quit): the new connection must not be bound to it.
    if (machine.finished())
      return false;
  }
  conn = std::move(c);
  link = std::move(l);
  // Run where the connection's I/O runs (io_scheduler.hpp, worker_of_loop).
  static_cast<session_actor*>(self)->set_home(worker_of_loop(self->system(), conn->loop()));
  auto early = link->bind(conn, self, true);
  auto& p = cf->packet;
  if (env->classifier)
    type = env->classifier->classify(machine.client_id(), p.username);
  machine.set_application(type == config::client_type::application);
  // Topic access (auth.acl_file) before on_connect, which checks the will against it.
  if (const auto* acl = link->acl_source())
    machine.set_access(topic_access_for(*acl, p.username, machine.client_id()));
  else
    machine.set_access(nullptr);
  if (!machine.on_connect(p, now)) {
    after_input();
    return true;
  }
  if (link->authenticator() != nullptr || link->acl_source() != nullptr) {
    creds = std::make_unique<credentials>();
    if (p.username)
      creds->username.emplace(*p.username);
    if (p.password && link->authenticator() != nullptr)
      creds->password.emplace(*p.password);
  } else {
    creds.reset();
  }
  AMQ_LOG_INFO("client {} connected from {} (MQTT {}, {}, clean start {}, keep alive {}s, {})",
               machine.client_id(), conn->peer(), p.version == protocol_version::v5 ? "5.0" : "3.1.1",
               type == config::client_type::application ? "APPLICATION" : "DEVICE",
               p.clean_start ? 1 : 0, p.keep_alive,
               machine.persistent() ? "persistent" : "clean");
  if (!with_router(env->core, [&](router_state& r) { r.tree.set_online(id, true); }))
    self->send(env->router, online_atom::value, id, true);
  if (!registered || registered_persistent != machine.persistent()) {
    registered = true;
    registered_persistent = machine.persistent();
    register_with_router(0);
  }
  report_connected();
  if (!early.empty())
    machine.on_bytes(early, now);
  after_input();
  flush(); // CONNACK goes out at once
  return true;
}

void session_state::bytes(uint64_t conn_id, byte_chunk& chunk) {
  if (!conn || conn->id() != conn_id)
    return; // from a connection that was taken over
  if (outstanding_routes > 0 || !stash.empty()) {
    // The bytes wait behind routes the router has not accepted yet (flow
    // control, storage), but the client was not silent: keep-alive counts
    // them now (an empty feed only refreshes the time of the last input).
    machine.on_bytes({}, now_of(self));
    stash.emplace_back(conn_id, std::move(chunk));
    return;
  }
  process(conn_id, chunk);
}

void session_state::process(uint64_t conn_id, byte_chunk& chunk) {
  if (!conn || conn->id() != conn_id)
    return;
  machine.on_bytes(chunk.view(), now_of(self));
  link->consumed(conn, chunk.data.size());
  after_input(chunk.arrival);
}

void session_state::closed(uint64_t conn_id) {
  if (!conn || conn->id() != conn_id)
    return;
  AMQ_LOG_INFO("client {} disconnected: connection from {} closed by peer", machine.client_id(),
               conn->peer());
  machine.on_connection_closed(now_of(self));
  detach();
  after_input();
}

void session_state::writable(uint64_t conn_id, bool value) {
  if (!conn || conn->id() != conn_id)
    return;
  machine.set_writable(value, now_of(self));
  after_input();
}

void session_state::deliver(delivery_batch& batch) {
  progress_asked = progress_asked || batch.ask_progress;
  auto now = now_of(self);
  for (auto& d : batch.items)
    machine.on_deliver(std::move(d), now);
  after_input();
}

void session_state::routed(uint64_t seq) {
  if (outstanding_routes > 0)
    --outstanding_routes;
  machine.on_routed(seq, now_of(self));
  after_input();
  while (outstanding_routes == 0 && !stash.empty()) {
    auto [conn_id, chunk] = std::move(stash.front());
    stash.pop_front();
    process(conn_id, chunk);
  }
}

void session_state::held(uint64_t) {
  // Input from now on waits in the stash until the (routed_atom, seq).
  ++outstanding_routes;
}

void session_state::route_failed(uint64_t seq) {
  if (outstanding_routes > 0)
    --outstanding_routes;
  AMQ_LOG_WARN("session {} could not store a published message: refusing it",
               machine.client_id());
  machine.on_route_failed(seq, reason_code::implementation_specific_error, now_of(self));
  after_input();
  while (outstanding_routes == 0 && !stash.empty()) {
    auto [conn_id, chunk] = std::move(stash.front());
    stash.pop_front();
    process(conn_id, chunk);
  }
}

/// A stored entry read back in a page. The offline TTL counts from when it
/// was stored, as for a message queued in memory (docs/sessions.md, "Hot
/// and cold queues"); its own Message Expiry, if any, applies instead.
static broker::queued_message to_queued(storage::queued_entry&& qe, std::chrono::seconds ttl) {
  broker::queued_message qm;
  qm.msg = std::move(qe.msg);
  qm.seq = qe.seq;
  qm.q = static_cast<qos>(qe.qos);
  qm.retain = qe.retain;
  qm.subscription_ids = std::move(qe.subscription_ids);
  qm.released = qe.released; // PUBREC received before: resent as PUBREL
  if (ttl.count() > 0 && qe.stored_at && qm.msg && !qm.msg->expires_at)
    qm.ttl_deadline = *qe.stored_at + ttl;
  return qm;
}

void session_state::restore(storage::session_record& rec, uint64_t first_seq, uint64_t last_seq,
                            uint64_t depth) {
  auto now = now_of(self);
  std::optional<clock::time_point> expires_at;
  if (rec.session_expiry != UINT32_MAX) {
    auto wall_now = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
    auto gone_at = rec.disconnected_at_ms != 0 ? rec.disconnected_at_ms : wall_now;
    auto left_ms = static_cast<int64_t>(rec.session_expiry) * 1000 - (wall_now - gone_at);
    expires_at = now + std::chrono::milliseconds{std::max<int64_t>(left_ms, 0)};
  }
  std::vector<std::pair<std::string, broker::subscription_entry>> subs;
  for (auto& s : rec.subscriptions) {
    broker::subscription_entry e;
    e.max_qos = static_cast<qos>(s.max_qos);
    e.no_local = s.no_local;
    e.retain_as_published = s.retain_as_published;
    e.handling = static_cast<retain_handling>(s.retain_handling);
    e.subscription_id = s.subscription_id;
    subs.emplace_back(std::move(s.filter), e);
  }
  auto version = rec.protocol_version == 4 ? protocol_version::v311 : protocol_version::v5;
  type = rec.client_type == 1 ? config::client_type::application : config::client_type::device;
  machine.set_application(type == config::client_type::application);
  machine.restore_cold(version, rec.session_expiry, expires_at, std::move(subs), first_seq,
                       last_seq, depth);
  machine.restore_qos2_in(rec.qos2_in); // read from their marks (broker_node)
  stored = true;
  registered = true;
  registered_persistent = true;
  register_with_router(last_seq);
  AMQ_LOG_DEBUG("session {} restored cold: {} subscriptions, about {} stored messages",
                machine.client_id(), rec.subscriptions.size(), depth);
  report_restored(rec);
  after_input();
}

storage::session_record session_state::make_record() const {
  storage::session_record rec;
  rec.client_id = machine.client_id().str();
  rec.protocol_version = static_cast<uint8_t>(machine.version());
  rec.client_type = type == config::client_type::application ? 1 : 0;
  rec.session_expiry = machine.session_expiry();
  if (!machine.connected())
    rec.disconnected_at_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
  for (auto& [filter, e] : machine.subscriptions())
    rec.subscriptions.push_back(storage::stored_subscription{
      std::string{filter}, static_cast<uint8_t>(e.max_qos), e.no_local, e.retain_as_published,
      static_cast<uint8_t>(e.handling), e.subscription_id});
  return rec;
}

void session_state::persist_effects(broker::effects& fx) {
  if (!env->storage)
    return;
  storage::write_batch wb;
  auto cid = machine.client_id().view();
  bool erased_by_connect = false;
  if ((fx.state_reset || machine.finished() || !machine.persistent()) && stored) {
    wb.erase_sessions.emplace_back(cid);
    stored = false;
    erased_by_connect = fx.state_reset && machine.connected();
  }
  if (machine.persistent() && !machine.finished() && (fx.record_changed || fx.state_reset)) {
    wb.put_sessions.push_back(make_record());
    stored = true;
  }
  // Also when no record is stored: a delivery the router stored just
  // before the session turned clean must not stay behind.
  for (auto seq : fx.done_seqs)
    wb.erase_entries.emplace_back(cid, seq);
  for (auto seq : fx.unmark_seqs)
    wb.erase_released.emplace_back(cid, seq);
  if (wb.empty())
    return;
  if ((stored && (!fx.subscribes.empty() || !fx.unsubscribes.empty())) || erased_by_connect) {
    // Hold the output until this is stored: a SUBACK or UNSUBACK (an acknowledged subscribe is
    // not lost in a crash, nor an acknowledged unsubscribe undone), and the CONNACK of a Clean
    // Start that discarded a stored session (its Session Present 0 is not undone either).
    ++output_holds;
    self->send(env->storage, persist_atom::value, std::move(wb), uint64_t{1});
  } else {
    self->send(env->storage, persist_atom::value, std::move(wb), uint64_t{0});
  }
}

void session_state::persist_durable() {
  // The inbound QoS 2 ids stored and erased and the "released" marks put
  // (PUBREC received for a stored QoS 2 entry) while handling this input:
  // one batch, one message, one answer (durable_token | its token); the
  // machine sends the PUBRECs, PUBRELs and PUBCOMPs waiting for it then.
  auto* b = machine.commit_durable();
  if (!b)
    return;
  auto token = uint64_t{durable_token | b->token};
  if (!env->storage || !stored) {
    // Nothing survives a restart (no storage, or no stored record: a mark
    // or id would be an orphan): confirmed at once.
    self->send(self, persisted_atom::value, token, true);
    return;
  }
  // Within one input an id is stored before it is erased (PUBLISH, then
  // PUBREL), never the reverse (a PUBLISH reusing an id being erased is a
  // duplicate), which is the batch's own order: puts before erases.
  auto cid = machine.client_id().view();
  storage::write_batch wb;
  wb.put_released.reserve(b->store_qos2_in.size() + b->mark_seqs.size());
  for (auto id : b->store_qos2_in)
    wb.put_released.emplace_back(cid, storage::inbound_qos2_seq(id));
  for (auto seq : b->mark_seqs)
    wb.put_released.emplace_back(cid, seq);
  wb.erase_released.reserve(b->erase_qos2_in.size());
  for (auto id : b->erase_qos2_in)
    wb.erase_released.emplace_back(cid, storage::inbound_qos2_seq(id));
  self->send(env->storage, persist_atom::value, std::move(wb), token);
}

void session_state::durable_stored(uint32_t token, bool ok) {
  if (!ok) {
    if (auto* b = machine.find_durable(token))
      AMQ_LOG_WARN("session {} could not write {} inbound QoS 2 ids, {} id erases and {} "
                   "PUBREC marks: their PUBRECs and PUBCOMPs go out anyway (after a crash a "
                   "resent PUBLISH could be routed again, or a new one with an erased id taken "
                   "for a duplicate); the PUBRELs wait for the client's next connection",
                   machine.client_id(), b->store_qos2_in.size(), b->erase_qos2_in.size(),
                   b->mark_seqs.size());
  }
  machine.on_durable(token, ok, now_of(self));
  after_input();
}

void session_state::kick(reason_code rc) {
  machine.on_server_disconnect(rc, now_of(self));
  after_input();
}

void session_state::recheck_auth() {
  if (!creds || !conn || !link || !machine.connected())
    return;
  auto view = [](const std::optional<std::string>& s) {
    return s ? std::optional<std::string_view>{*s} : std::nullopt;
  };
  // The reloaded ACL applies from the next message on (what is in flight stays in flight).
  if (const auto* acl = link->acl_source())
    machine.set_access(topic_access_for(*acl, view(creds->username), machine.client_id()));
  const auto* auth = link->authenticator();
  if (auth == nullptr)
    return;
  auto v = auth->check(view(creds->username), view(creds->password));
  if (v == auth::verdict::accepted)
    return;
  AMQ_LOG_INFO("client {} no longer passes authentication after the password file was "
               "reloaded ({}): disconnecting it",
               machine.client_id(), auth::to_string(v));
  kick(reason_code::not_authorized);
}

void session_state::tick() {
  auto now = now_of(self);
  if (timer_at && now < *timer_at)
    return; // an earlier wait that is no longer wanted; ours comes later
  timer_at.reset();
  // Keep-alive: input that arrived but is not processed yet (unread in the
  // socket while the I/O thread is busy or reading is paused, or read and on
  // its way here behind this tick) is not silence, however late the broker is.
  if (conn && link && machine.connected() && link->input_pending(conn))
    machine.on_bytes({}, now);
  machine.on_timer(now);
  after_input();
}

void session_state::flush(bool force) {
  flush_pending = false;
  if (output_holds > 0 && !force)
    return; // flushed when the storage confirms
  auto& out = machine.output();
  if (!conn || out.empty()) {
    out.clear();
    return;
  }
  std::vector<uint8_t> bytes;
  bytes.swap(out);
  // A failed send to a connection the machine already let go of (the final
  // flush before closing on takeover, DISCONNECT or timeout: the connection
  // may be closed already) says nothing about the next connection; marking
  // the machine unwritable would stall every delivery on it.
  if (!conn->send(std::move(bytes)) && machine.connected())
    machine.set_writable(false, now_of(self));
}

void session_state::report_drops(bool force) {
  auto& c = machine.counters();
  auto total = c.dropped_queue_full + c.dropped_expired + c.dropped_too_large;
  if (total == drops_logged)
    return;
  auto now = now_of(self);
  if (!force && now - drops_logged_at < std::chrono::seconds{1})
    return;
  AMQ_LOG_WARN("session {} dropped {} messages (queue full {}, expired {}, too large {})",
               machine.client_id(), total - drops_logged, c.dropped_queue_full,
               c.dropped_expired, c.dropped_too_large);
  drops_logged = total;
  drops_logged_at = now;
}

void session_state::route_direct(route_batch& batch) {
  // Routed in this job (router.hpp, "Direct calls"): acknowledged now unless
  // it waits for storage or a congested target; then input waits in the
  // stash until the (routed_atom, seq).
  std::unique_lock<std::mutex> lock{env->core->mtx, std::try_to_lock};
  if (!lock.owns_lock()) {
    // Another worker routes right now: do not wait for it, let the router
    // actor take the batch in its turn. It answers (ack), and until then
    // input waits in the stash, so no later batch of this session can
    // overtake this one by a direct call. Counted: a high rate means the workers take turns at
    // the router's lock (actormq_router_lock_busy_total).
    metrics::count_router_lock_busy();
    batch.ack = true;
    ++outstanding_routes;
    quiet_routes = 0;
    self->send(env->router, route_atom::value, std::move(batch));
    return;
  }
  auto& core = *env->core;
  auto delivered = core.counters.delivered;
  // Deliveries to idle sessions homed on this worker come back claimed, for direct turns
  // (session.hpp) run here once the lock is released: their sessions may call the router.
  auto* eu = current_worker(self->system());
  core.claim_on = eu;
  auto outcome = core.route_for(batch, caf::actor{self});
  core.claim_on = nullptr;
  acks_late = core.counters.delivered != delivered;
  // A vector of this thread's, so that its capacity is reused (empty while one is in use).
  thread_local std::vector<router_state::claimed_delivery> spare;
  std::vector<router_state::claimed_delivery> claimed;
  if (!core.claimed.empty()) {
    claimed.swap(spare);
    claimed.swap(core.claimed);
  }
  lock.unlock();
  // A fan-out's deliveries leave one by one, each as its turn ends (depth first, as a
  // single-threaded broker writes them), not all at the end of the worker's round: the first
  // subscribers get theirs while the later turns still run (docs/performance.md, session 17).
  // One target (point to point, fan-in) stays gathered with the rest of the round.
  auto* gather = claimed.size() > 1 ? net::write_gather::current() : nullptr;
  if (gather != nullptr)
    gather->uninstall();
  for (auto& c : claimed)
    as_session(c.handle)->deliver_claimed(eu, c.batch);
  if (gather != nullptr)
    gather->install();
  if (claimed.capacity() > 0) {
    claimed.clear();
    claimed.swap(spare);
  }
  if (outcome == route_outcome::later)
    ++outstanding_routes;
  else
    machine.on_routed(batch.seq, now_of(self));
}

void session_state::send_route(route_batch& batch) {
  // A batch the publisher need not hear back about (no PUBACK/PUBREC waits
  // for it, nothing is stored for it): no routed_atom, one actor message
  // less per batch, unless the router holds it (held()).
  batch.ack = quiet_routes >= quiet_window
              || !std::all_of(batch.messages.begin(), batch.messages.end(), [](auto& m) {
                   return m->qos_level == qos::at_most_once && !m->retain;
                 });
  if (batch.ack) {
    ++outstanding_routes;
    quiet_routes = 0;
  } else {
    ++quiet_routes;
  }
  self->send(env->router, route_atom::value, std::move(batch));
}

void session_state::register_with_router(uint64_t last_seq) {
  // The router's entry shares the client id's block (the registry's key, this machine's id).
  if (with_router(env->core, [&](router_state& r) {
        r.register_session(id, caf::actor{self}, machine.client_id(), registered_persistent,
                           last_seq, true);
      }))
    return;
  if (env->router.node() == self->node()) // local, not called directly (yet): still shared
    self->send(env->router, register_atom::value, id, caf::actor{self}, machine.client_id(),
               registered_persistent, last_seq);
  else // another node's router: a std::string (serializable)
    self->send(env->router, register_atom::value, id, caf::actor{self}, machine.client_id().str(),
               registered_persistent, last_seq);
}

void session_state::detach() {
  if (!conn)
    return;
  stash.clear();
  machine.output().clear(); // never to be sent on a later connection
  conn.reset();
  link.reset();
  creds.reset();
  static_cast<session_actor*>(self)->set_home(nullptr);
  if (!with_router(env->core, [&](router_state& r) { r.tree.set_online(id, false); }))
    self->send(env->router, online_atom::value, id, false);
  report_disconnected();
}

void session_state::request_page(const broker::page_request& pr) {
  if (!env->storage)
    return;
  auto token = pr.token;
  self->request(env->storage, caf::infinite, read_atom::value, machine.client_id().str(),
                pr.from_seq, pr.limit)
    .then(
      [this, token](std::vector<storage::queued_entry>& entries) {
        std::vector<broker::queued_message> page;
        page.reserve(entries.size());
        for (auto& qe : entries)
          page.push_back(to_queued(std::move(qe), machine.offline_ttl()));
        machine.on_page(token, std::move(page), now_of(self));
        after_input();
      },
      [this, token](caf::error& err) {
        AMQ_LOG_WARN("session {} could not read its stored queue ({}): retrying in 1 s",
                     machine.client_id(), self->system().render(err));
        self->delayed_send(self, std::chrono::seconds{1}, read_atom::value, token);
      });
}

void session_state::finish() {
  if (removing)
    return;
  removing = true;
  AMQ_LOG_DEBUG("session {} ended", machine.client_id());
  if (!env->storage) {
    if (!with_router(env->core, [&](router_state& r) { r.remove(id, false); }))
      self->send(env->router, remove_atom::value, id);
    self->quit();
    return;
  }
  // The router erases what is stored for the client after its own appends
  // to the queue (no entry outlives its session) and answers; a CONNECT for
  // the client id waits until then, so a new session never sees old state.
  self->request(env->router, caf::infinite, remove_atom::value, id, true)
    .then([this](bool) { quit_now(); }, [this](caf::error&) { quit_now(); });
}

void session_state::quit_now() {
  if (attach_waiting)
    for (auto& rp : *attach_waiting)
      rp.deliver(false);
  attach_waiting.reset();
  self->quit();
}

void session_state::after_input(int64_t arrival) {
  auto& fx = machine.fx();
  // The durable batch (inbound QoS 2 ids, "released" marks) before the
  // routes: it usually reaches the storage actor ahead of the router's
  // writes for the same PUBLISHes and shares their group commit. After the
  // record when it is (re)written now (a CONNECT in this input: its erase
  // of an old session must not take the new ids with it).
  if (stored && !fx.state_reset)
    persist_durable();
  for (auto& s : fx.subscribes) {
    s.arrival = arrival;
    if (!with_router(env->core, [&](router_state& r) { r.subscribe(id, caf::actor{self}, s); }))
      self->send(env->router, subscribe_atom::value, id, caf::actor{self}, std::move(s));
  }
  for (auto& f : fx.unsubscribes)
    if (!with_router(env->core, [&](router_state& r) { r.unsubscribe(id, f); }))
      self->send(env->router, unsubscribe_atom::value, id, std::move(f));
  if (!fx.routes.empty()) {
    route_batch batch;
    batch.seq = machine.commit_routes();
    batch.publisher = id;
    batch.arrival = arrival;
    // Copied into the batch's inline room; fx.routes keeps its capacity for the next input.
    batch.messages.assign(std::make_move_iterator(fx.routes.begin()),
                          std::make_move_iterator(fx.routes.end()));
    fx.routes.clear();
    if (env->core)
      route_direct(batch);
    else
      send_route(batch);
  }
  if (!fx.denials.empty())
    log_denials(machine.client_id(), fx.denials);
  if (fx.close && conn) {
    flush(true);
    AMQ_LOG_INFO("client {} disconnected: {} ({}){}", machine.client_id(),
                 to_string(fx.close_reason), static_cast<int>(fx.close_reason),
                 fx.close_detail.empty() ? std::string{} : ": " + fx.close_detail);
    conn->close();
    detach();
  }
  persist_effects(fx);
  persist_durable();
  if (fx.page.token != 0)
    request_page(fx.page);
  fx.clear();
  machine.recycle_effects();
  report_drops(false);
  // Flow control: tell the router how far this session got through what it
  // was sent — every 256 deliveries; when the queue runs empty if the router
  // asked (a delivery batch with ask_progress since the last report with an
  // empty queue: its view of the backlog is high, a publisher waits for this
  // session or it is marked slow; a session that keeps up at a low rate
  // sends nothing per delivery); on every input while offline (the offline
  // queue has its own limit and must not hold publishers back: with a
  // router high mark below 256 they would otherwise wait until the client
  // returns); and on every change of a persistent session (its stored
  // queue does not count, so its progress moves with every delivery; a
  // publisher it holds near its queue's limit is released as it drains).
  auto progress = machine.progress();
  bool empty = machine.queued_count() == 0;
  if (progress != progress_reported
      && (progress - progress_reported >= 256 || (empty && progress_asked)
          || !machine.connected() || machine.persistent())) {
    progress_reported = progress;
    if (!with_router(env->core, [&](router_state& r) { r.progress(id, progress); }))
      self->send(env->router, progress_atom::value, id, progress);
  }
  if (empty && progress == progress_reported)
    progress_asked = false; // the router's view is exact now
  if (!machine.output().empty() && conn && !flush_pending) {
    // Blocked: in a direct turn (session.hpp), where nothing waits either.
    if (self->mailbox().blocked() || self->mailbox().empty()) {
      // Nothing else waits in the mailbox, so nothing would join this
      // write: send it now instead of one scheduling round later (latency
      // at low and fixed rates; under load the mailbox is rarely empty and
      // the flush message below still gathers a burst into one write).
      // The acks of a PUBLISH routed just now leave behind its deliveries
      // when the worker gathers writes (the order of the router's answer
      // before direct calls).
      auto* gather = acks_late ? net::write_gather::current() : nullptr;
      if (gather != nullptr)
        gather->set_late(true);
      flush();
      if (gather != nullptr)
        gather->set_late(false);
    } else {
      flush_pending = true;
      self->send(self, flush_atom::value);
    }
  }
  acks_late = false;
  // Metrics: sessions by kind, queued and in-flight totals (deltas only).
  if (machine.finished())
    probe.release();
  else
    probe.update(machine.connected(), machine.persistent(),
                 type == config::client_type::application,
                 machine.queued_count() + machine.stored_backlog(), machine.inflight_count());
  report_progress();
  if (machine.finished()) {
    report_drops(true);
    report_ended();
    finish();
    return;
  }
  if (auto deadline = machine.next_deadline(); deadline && (!timer_at || *deadline < *timer_at)) {
    timer_at = deadline;
    if (auto timers = find_timer_service(self->system())) {
      // One compact entry in the broker's timer service instead of a CAF
      // timer per session (amq/actors/timers.hpp).
      self->send(timers, timer_atom::value, caf::actor_cast<caf::strong_actor_ptr>(self),
                 static_cast<int64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        deadline->time_since_epoch())
                                        .count()));
    } else {
      auto delay = *deadline - now_of(self);
      if (delay < clock::duration::zero())
        delay = clock::duration::zero();
      self->delayed_send(self, std::chrono::duration_cast<std::chrono::microseconds>(delay)
                                 + std::chrono::milliseconds{1},
                         tick_atom::value);
    }
  }
}

namespace {

thread_local session_state* tl_current = nullptr;

} // namespace

session_actor::session_actor(caf::actor_config& cfg, broker::session_id id,
                             broker::shared_string client_id,
                             const broker::session_limits& limits,
                             std::shared_ptr<const session_env> env)
  : super(cfg) {
  state.init(id, std::move(client_id), limits, std::move(env));
}

caf::behavior session_actor::make_behavior() {
  return session_behavior();
}

caf::resumable::resume_result session_actor::resume(caf::execution_unit* eu,
                                                    size_t max_throughput) {
  // A direct turn holds the actor (session.hpp): come back when it is over. Only with several
  // workers (a sender on another worker scheduled this actor during the turn), briefly.
  if (claimed_.exchange(true, std::memory_order_acquire))
    return caf::resumable::resume_later;
  auto* prev = tl_current;
  tl_current = &state;
  auto result = super::resume(eu, max_throughput);
  tl_current = prev;
  // The caller still holds the job's reference, so the object lives; its state is not touched.
  claimed_.store(false, std::memory_order_release);
  return result;
}

bool session_actor::try_claim(caf::execution_unit* eu) noexcept {
  // Idle: nothing waits in the mailbox and no job is scheduled (a scheduled or running actor's
  // mailbox is never blocked; a closed one, after the actor ended, is not blocked either).
  if (eu == nullptr || !mailbox().blocked())
    return false;
  if (auto* h = home(); h != nullptr && h != eu)
    return false; // it runs where its connection's I/O runs: leave it there
  if (claimed_.exchange(true, std::memory_order_acquire))
    return false; // a resume that just blocked the mailbox has not returned yet
  if (mailbox().blocked())
    return true;
  // A message arrived in between and scheduled the actor: it runs as a job, in order.
  claimed_.store(false, std::memory_order_release);
  return false;
}

template <class F>
void session_actor::run_claimed(caf::execution_unit* eu, F&& f) {
  auto* prev = tl_current;
  tl_current = &state;
  context(eu); // sends from the turn are scheduled from this worker
  net::io_thread_pause pause; // its writes go as a job's do, also when run from a read handler
  try {
    f(state);
  } catch (...) {
    // As CAF's resume does with an exception escaping a handler.
    AMQ_LOG_ERROR("session {} failed in a direct turn: it ends", state.machine.client_id());
    quit(caf::exit_reason::unhandled_exception);
  }
  // The turn may have ended the actor (quit: a clean session without storage whose client
  // left). CAF cleans up after each message in resume; a direct turn has to do the same, since
  // a later resume of an actor that quit returns at once without cleaning up.
  finalize();
  tl_current = prev;
  claimed_.store(false, std::memory_order_release);
}

void session_actor::deliver_claimed(caf::execution_unit* eu, delivery_batch& batch) {
  metrics::count_direct_turn(true);
  run_claimed(eu, [&](session_state& st) { st.deliver(batch); });
}

void session_actor::bytes_claimed(caf::execution_unit* eu, uint64_t conn_id, byte_chunk& chunk) {
  metrics::count_direct_turn(false);
  run_claimed(eu, [&](session_state& st) { st.bytes(conn_id, chunk); });
}

session_state& session_actor::current() noexcept {
  return *tl_current;
}

caf::behavior session_behavior() {
  // Built once; the handlers capture nothing, so every session actor can
  // share it (behavior_impl is reference counted and invoking it does not
  // modify it).
  static const caf::behavior shared{
    [](attach_atom, net::connection_ptr& conn, connect_frame_ptr& cf,
       edge_link_ptr& link) -> caf::result<bool> {
      auto& st = session_actor::current();
      if (st.machine.finished()) {
        if (!st.removing)
          return false; // the registry spawns a fresh session
        // ... once this one's stored state is erased (finish()).
        if (!st.attach_waiting)
          st.attach_waiting = std::make_unique<std::vector<caf::response_promise>>();
        st.attach_waiting->push_back(st.self->make_response_promise());
        return caf::delegated<bool>{};
      }
      return st.attach(std::move(conn), cf, std::move(link));
    },
    [](bytes_atom, uint64_t conn_id, byte_chunk& chunk) {
      session_actor::current().bytes(conn_id, chunk);
    },
    [](closed_atom, uint64_t conn_id) { session_actor::current().closed(conn_id); },
    [](writable_atom, uint64_t conn_id, bool v) { session_actor::current().writable(conn_id, v); },
    [](deliver_atom, delivery_batch& batch) { session_actor::current().deliver(batch); },
    [](routed_atom, uint64_t seq) { session_actor::current().routed(seq); },
    [](hold_atom, uint64_t seq) { session_actor::current().held(seq); },
    [](routed_atom, uint64_t seq, bool) { session_actor::current().route_failed(seq); },
    [](restore_atom, storage::session_record& rec, uint64_t first_seq, uint64_t last_seq,
       uint64_t depth) { session_actor::current().restore(rec, first_seq, last_seq, depth); },
    [](read_atom, uint64_t token) {
      auto& st = session_actor::current();
      st.machine.on_page_failed(token, now_of(st.self));
      st.after_input();
    },
    [](kick_atom, reason_code rc) { session_actor::current().kick(rc); },
    [](recheck_atom) {
      session_actor::current().recheck_auth();
      return true; // the registry answers the reload once every session has (registry.cpp)
    },
    [](tick_atom) { session_actor::current().tick(); },
    [](slow_atom, bool slow) {
      // The router marked it a slow consumer or found it caught up (router.hpp).
      auto& st = session_actor::current();
      st.machine.set_slow(slow);
      st.after_input();
    },
    [](persisted_atom, uint64_t token, bool ok) {
      auto& st = session_actor::current();
      if ((token & session_state::durable_token) != 0) {
        st.durable_stored(static_cast<uint32_t>(token), ok);
        return;
      }
      if (!ok)
        AMQ_LOG_WARN("session {} could not store its session record (subscriptions, or the "
                     "erase of a discarded session); the answer it held is sent anyway",
                     st.machine.client_id());
      if (st.output_holds > 0 && --st.output_holds == 0)
        st.flush();
    },
    [](shutdown_atom) {
      auto& st = session_actor::current();
      st.kick(reason_code::server_shutting_down);
      st.self->quit();
    },
    [](flush_atom) { session_actor::current().flush(); },
    [](info_atom) { return session_actor::current().admin_subscriptions(); },
    [](clear_atom, bool force) { return session_actor::current().admin_clear(force); },
  };
  return shared;
}

caf::actor spawn_session(caf::actor_system& sys, broker::session_id id,
                         broker::shared_string client_id, const broker::session_limits& limits,
                         std::shared_ptr<const session_env> env) {
  return sys.spawn<session_actor>(id, std::move(client_id), limits, std::move(env));
}

caf::actor spawn_session(caf::actor_system& sys, broker::session_id id, std::string_view client_id,
                         const broker::session_limits& limits, caf::actor router,
                         caf::actor storage,
                         std::shared_ptr<const config::client_classifier> classifier,
                         std::shared_ptr<admin::session_directory> directory,
                         caf::actor_addr registry) {
  return spawn_session(sys, id, broker::shared_string{client_id}, limits,
                       make_session_env(std::move(router), std::move(storage),
                                        std::move(classifier), std::move(directory),
                                        std::move(registry)));
}

} // namespace amq::actors
