#include "amq/actors/broker_node.hpp"

#include "amq/actors/edge_link.hpp"
#include "amq/actors/io_scheduler.hpp"
#include "amq/actors/metrics_actor.hpp"
#include "amq/actors/admin_ops.hpp"
#include "amq/actors/registry.hpp"
#include "amq/actors/router.hpp"
#include "amq/actors/storage_actor.hpp"
#include "amq/actors/timers.hpp"
#include "amq/actors/store_factory.hpp"
#include "amq/config/load.hpp"
#include "amq/log.hpp"
#include "amq/web/routes.hpp"

#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include <filesystem>
#include <unordered_set>

namespace amq::actors {

broker::session_limits make_session_limits(const config::broker_config& cfg) {
  broker::session_limits l;
  l.max_packet_size = cfg.limits.max_packet_size;
  l.receive_maximum = cfg.limits.receive_maximum;
  l.max_inflight = cfg.limits.max_inflight_out;
  l.max_queued_online = cfg.limits.max_queued_messages;
  l.max_queued_qos0 = cfg.limits.max_queued_qos0_messages;
  l.queue_memory = cfg.session.offline_queue_memory;
  l.queue_page = cfg.session.offline_queue_page;
  l.max_queued_offline = cfg.storage.device_queue == config::storage_backend::redis
                           ? cfg.session.device_persisted_messages_limit
                           : cfg.session.offline_queue_limit;
  // An APPLICATION queue in Kafka is bounded by the topic's retention; a
  // count limit only if configured (session.application_queue_limit).
  l.max_queued_offline_application = cfg.storage.application_queue == config::storage_backend::kafka
                                       ? cfg.session.application_queue_limit
                                       : cfg.session.offline_queue_limit;
  l.topic_alias_maximum = cfg.limits.topic_alias_maximum;
  l.server_keep_alive = cfg.limits.max_keep_alive;
  l.max_session_expiry = cfg.limits.max_session_expiry_interval;
  l.no_expiry_ttl = cfg.session.no_expiry_ttl;
  l.offline_drop_newest = cfg.session.device_overflow_policy == config::overflow_policy::drop_newest;
  l.hold_slow_persistent =
    cfg.limits.slow_persistent_consumer == config::slow_persistent_policy::hold;
  l.slow_consumer_timeout = std::chrono::milliseconds{cfg.limits.slow_consumer_timeout_ms};
  l.offline_message_ttl = std::chrono::seconds{cfg.session.device_persisted_messages_ttl};
  l.max_topic_levels = cfg.limits.max_topic_levels;
  l.max_client_id_length = cfg.limits.max_client_id_length;
  l.connect_timeout = std::chrono::milliseconds{cfg.limits.connect_timeout_ms};
  l.deny_subscribe = cfg.acl.deny_subscribe;
  l.rule = cfg.session.persistence_rule == config::persistence_rule::strict
             ? broker::persistence_rule::strict
             : broker::persistence_rule::seed;
  return l;
}

broker_node::broker_node(caf::actor_system& sys, config::broker_config cfg)
  : sys_(sys), cfg_(std::move(cfg)), limits_(make_session_limits(cfg_)) {
}

broker_node::~broker_node() {
  stop();
}

std::error_code broker_node::open_storage(std::vector<protocol::message_ptr>& retained,
                                          std::vector<restored_session>& sessions) {
  using config::storage_backend;
  auto& sc = cfg_.storage;
  if (sc.sessions == storage_backend::memory) {
    if (sc.device_queue == storage_backend::redis
        || sc.application_queue == storage_backend::kafka) {
      AMQ_LOG_ERROR("broker cannot start: storage.sessions: memory keeps no store, so "
                    "storage.device_queue: {} / storage.application_queue: {} would be ignored; "
                    "use storage.sessions: embedded",
                    config::to_string(sc.device_queue), config::to_string(sc.application_queue));
      return std::make_error_code(std::errc::invalid_argument);
    }
    AMQ_LOG_WARN("broker keeps sessions in memory only: persistent sessions do not survive "
                 "a restart (storage.sessions: memory)");
    return {};
  }
  std::error_code err;
  std::string detail;
  auto store = open_store(cfg_, err, detail);
  if (!store) {
    AMQ_LOG_ERROR("broker cannot open its store: {}", detail.empty() ? err.message() : detail);
    return err ? err : std::make_error_code(std::errc::io_error);
  }
  store->on_corrupt([](std::string_view what, std::string_view key, std::error_code why) {
    AMQ_LOG_ERROR("storage skipped a corrupt {} record (key {}): {}", what, key, why.message());
  });
  // Load everything before the storage actor owns the store (one thread at
  // a time uses it).
  store->for_each_retained([&](protocol::message_ptr&& m) { retained.push_back(std::move(m)); });
  std::vector<storage::session_record> records;
  store->for_each_session([&](storage::session_record&& r) { records.push_back(std::move(r)); });
  // Sessions are restored cold: the queue stays in the store and is read in
  // pages when the client is back. Only its first entry is looked at.
  std::unordered_set<std::string> known;
  for (auto& r : records) {
    restored_session rs;
    store->read_queue(r.client_id, 0, 1,
                      [&](storage::queued_entry&& e) { rs.first_seq = e.seq; });
    store->last_seq(r.client_id, rs.last_seq);
    if (rs.first_seq != 0 && rs.last_seq >= rs.first_seq)
      rs.depth = rs.last_seq - rs.first_seq + 1;
    // Inbound QoS 2 ids (PUBREC sent, PUBREL not received): kept as marks
    // in a reserved seq range (storage::inbound_qos2_seq).
    std::vector<uint64_t> ids;
    if (auto e = store->read_released(r.client_id, storage::inbound_qos2_base, ids))
      AMQ_LOG_WARN("broker could not read the inbound QoS 2 state of {}: {}", r.client_id,
                   e.message());
    for (auto seq : ids)
      if (storage::is_inbound_qos2_seq(seq))
        r.qos2_in.push_back(static_cast<uint16_t>(seq & 0xFFFF));
    known.insert(r.client_id);
    rs.record = std::move(r);
    sessions.push_back(std::move(rs));
  }
  // Queues without a session record (left by a broker before the router
  // erased them in order, or by a crash right after a clean session took
  // over a persistent one) are erased.
  storage::write_batch orphans;
  store->for_each_queue([&](const std::string& cid) {
    if (!known.count(cid))
      orphans.erase_sessions.push_back(cid);
  });
  if (!orphans.erase_sessions.empty()) {
    AMQ_LOG_INFO("broker erases {} stored queues without a session", orphans.erase_sessions.size());
    if (auto e = store->apply(orphans))
      AMQ_LOG_WARN("broker could not erase queues without a session: {}", e.message());
  }
  AMQ_LOG_INFO("broker opened {}: {} persistent sessions, {} retained messages",
               store->describe(), sessions.size(), retained.size());
  storage_ = spawn_storage(sys_, std::shared_ptr<storage::store>{std::move(store)});
  return {};
}

std::error_code broker_node::start() {
  if (!cfg_.listeners.mqtt.enabled && !cfg_.listeners.tls.enabled) {
    AMQ_LOG_ERROR("broker cannot start: listeners.mqtt.enabled and listeners.tls.enabled are "
                  "both false: no listener");
    return std::make_error_code(std::errc::invalid_argument);
  }
  {
    std::string auth_error;
    auth_ = auth::authenticator::create(
      {cfg_.auth.allow_anonymous, cfg_.auth.password_file, cfg_.auth.acl_file}, auth_error);
    if (!auth_) {
      const bool acl = !cfg_.auth.acl_file.empty() && auth_error.rfind(cfg_.auth.acl_file, 0) == 0;
      AMQ_LOG_ERROR("broker cannot start: {}: {}", acl ? "auth.acl_file" : "auth.password_file",
                    auth_error);
      return std::make_error_code(std::errc::invalid_argument);
    }
    if (auth_->has_acl())
      AMQ_LOG_INFO("broker authorizes topics: {} entries from {}", auth_->acl_entries(),
                   cfg_.auth.acl_file);
    if (!cfg_.auth.password_file.empty())
      AMQ_LOG_INFO("broker authenticates clients: {} users from {}; anonymous clients {}",
                   auth_->users(), cfg_.auth.password_file,
                   cfg_.auth.allow_anonymous ? "allowed" : "refused");
    else if (!cfg_.auth.allow_anonymous)
      AMQ_LOG_WARN("auth.allow_anonymous is false but auth.password_file is empty: every "
                   "CONNECT is refused (not authorized); set auth.password_file");
  }
  std::vector<protocol::message_ptr> retained;
  std::vector<restored_session> restored;
  if (auto err = open_storage(retained, restored))
    return err;
  // One timer service for every session's keep-alive, will and expiry
  // deadlines (amq/actors/timers.hpp); sessions find it by name.
  sys_.registry().put(timer_service_name, spawn_timer_service(sys_));
  router_ = spawn_router(sys_, limits_, storage_, cfg_.runtime.arrival_order);
  if (cfg_.admin.enabled)
    directory_ = std::make_shared<admin::session_directory>(cfg_.cluster.node_name);
  registry_ = spawn_registry(sys_, limits_, router_, storage_,
                             std::make_shared<config::client_classifier>(cfg_.session),
                             directory_);
  if (!retained.empty())
    caf::anon_send(router_, restore_atom::value, std::move(retained));
  for (auto& rs : restored)
    caf::anon_send(registry_, restore_atom::value, std::move(rs.record), rs.first_seq,
                   rs.last_seq, rs.depth);
  net::server_options opts;
  opts.bind = cfg_.listeners.mqtt.bind;
  opts.port = cfg_.listeners.mqtt.port;
  opts.io_threads = cfg_.runtime.io_threads;
  if (cfg_.runtime.io_threads == 0) {
    // The actor workers run the event loops (amq/actors/io_scheduler.hpp), if the actor system
    // was built with them; an embedding system with CAF's own scheduler gets one I/O thread.
    if (auto* loops = io_loops::installed()) {
      opts.external_contexts = loops->contexts();
    } else {
      AMQ_LOG_INFO("broker runs the edge on 1 I/O thread: runtime.io_threads is 0 but this actor "
                   "system's workers do not run I/O loops (see amq/actors/io_scheduler.hpp, "
                   "install_io_scheduler)");
      opts.io_threads = 1;
    }
  }
  opts.write_through = cfg_.runtime.write_through;
  opts.receive_timestamps = cfg_.runtime.arrival_order;
  opts.write_high_watermark = cfg_.limits.write_buffer_high_watermark;
  opts.receive_buffer = static_cast<int>(cfg_.limits.socket_receive_buffer);
  opts.send_buffer = static_cast<int>(cfg_.limits.socket_send_buffer);
  auto registry = registry_;
  auto max_packet = cfg_.limits.max_packet_size;
  auto read_ahead = static_cast<size_t>(cfg_.limits.read_ahead_bytes);
  auto& sys = sys_;
  // CONNECT timeout (MQTT 3.1.4: a server SHOULD close a connection that
  // sends no CONNECT in reasonable time): a watchdog checks every new
  // connection once, `limits.connect_timeout` after the accept.
  watchdog_ = spawn_connect_watchdog(sys_, limits_.connect_timeout);
  auto watchdog = watchdog_;
  const auth::authenticator* auth = auth_->active() || auth_->has_acl() ? auth_.get() : nullptr;
  // The same handler for both listeners: above the edge a TLS connection is just bytes.
  auto accept_with = [&sys, registry, max_packet, read_ahead, watchdog,
                      auth](bool identity_as_username) {
    return [&sys, registry, max_packet, read_ahead, watchdog, auth,
            identity_as_username](const net::connection_ptr& conn) {
      auto link = std::make_shared<edge_link>(sys, registry, max_packet, read_ahead, auth,
                                              identity_as_username);
      conn->set_receiver(link);
      caf::anon_send(watchdog, watch_atom::value, conn, link);
    };
  };
  auto on_accept = accept_with(false);
  if (cfg_.listeners.tls.enabled) {
    // First: a bad certificate or key stops the broker before any client is accepted.
    const auto& tc = cfg_.listeners.tls;
    if (tc.use_identity_as_username && !tc.require_client_cert) {
      AMQ_LOG_ERROR("broker cannot start: listeners.tls: use_identity_as_username needs "
                    "require_client_cert (the user name is the verified certificate's CN)");
      return std::make_error_code(std::errc::invalid_argument);
    }
    net::server_options topts = opts;
    topts.bind = tc.bind;
    topts.port = tc.port;
    topts.tls.enabled = true;
    topts.tls.cert_file = tc.cert_file;
    topts.tls.key_file = tc.key_file;
    topts.tls.ca_file = tc.ca_file;
    topts.tls.crl_file = tc.crl_file;
    topts.tls.require_client_cert = tc.require_client_cert;
    topts.tls.min_version = tc.min_version;
    topts.tls.ciphers = tc.ciphers;
    topts.tls.ciphersuites = tc.ciphersuites;
    topts.tls.handshake_timeout = limits_.connect_timeout;
    tls_server_ = std::make_unique<net::server>(topts, accept_with(tc.use_identity_as_username));
    if (auto err = tls_server_->start()) {
      if (!tls_server_->error_detail().empty())
        AMQ_LOG_ERROR("broker cannot start: listeners.tls: {}", tls_server_->error_detail());
      else
        AMQ_LOG_ERROR("broker cannot listen for MQTT over TLS on {}:{}: {}", topts.bind,
                      topts.port, err.message());
      return err;
    }
    AMQ_LOG_INFO("broker listens for MQTT over TLS on {}:{} (min {}, client certificates {}{})",
                 topts.bind, tls_server_->port(), tc.min_version,
                 tc.require_client_cert ? "required"
                 : tc.ca_file.empty()   ? "not asked"
                                        : "verified if sent",
                 tc.use_identity_as_username ? ", CN as user name" : "");
  }
  if (cfg_.listeners.mqtt.enabled) {
    server_ = std::make_unique<net::server>(opts, on_accept);
    if (auto err = server_->start()) {
      AMQ_LOG_ERROR("broker cannot listen on {}:{}: {}", opts.bind, opts.port, err.message());
      return err;
    }
    AMQ_LOG_INFO("broker listens for MQTT on {}:{}", opts.bind, server_->port());
  }
  // Metrics: the /metrics page (admin server) and the $SYS topics.
  metrics_edge_ = std::make_shared<edge_source>(server_.get(), tls_server_.get());
  metrics_sources ms;
  ms.router = router_;
  ms.registry = registry_;
  ms.edge = metrics_edge_;
  ms.version = std::string{config::version()};
  ms.node = cfg_.cluster.node_name;
  ms.sys_interval = std::chrono::seconds{cfg_.sys.interval_s};
  metrics_ = spawn_metrics(sys_, std::move(ms));
  if (cfg_.admin.enabled)
    start_admin();
  return {};
}

void broker_node::start_admin() {
  auto& ac = cfg_.admin;
  admin::http_server_options o;
  o.bind = ac.bind;
  o.port = ac.port;
  o.auth_disabled = ac.auth_disabled;
  o.token = ac.token;
  o.username = ac.username;
  o.password = ac.password;
  admin_ = std::make_unique<admin::http_server>(o);
  // Routes: the REST API; the Sessions page and /metrics register here too.
  auto ops = make_admin_ops(sys_, registry_, router_, storage_, [edge = metrics_edge_] {
    auto st = edge->get();
    return st.accepted - st.closed;
  });
  admin::register_api(*admin_, directory_, std::move(ops),
                      admin::api_info{std::string{config::version()}, cfg_.cluster.node_name,
                                      std::chrono::system_clock::now()});
  if (metrics_)
    register_metrics_route(*admin_, sys_, metrics_);
  web::add_page_routes(*admin_); // the Sessions page at "/", no auth (docs/sessions-page.md)
  if (auto err = admin_->start()) {
    AMQ_LOG_WARN("admin API cannot listen on {}:{}: {}; the broker runs without it", o.bind,
                 o.port, err.message());
    admin_.reset();
    return;
  }
  std::string auth = ac.auth_disabled ? "authentication DISABLED"
                     : !ac.token.empty() && !ac.username.empty()
                       ? "bearer token, basic credentials"
                     : !ac.token.empty()    ? "bearer token"
                     : !ac.username.empty() ? "basic credentials"
                                            : "no credentials configured: every API call gets 401";
  if (ac.auth_disabled || (ac.token.empty() && ac.username.empty()))
    AMQ_LOG_WARN("admin API listens on {}:{} ({})", o.bind, admin_->port(), auth);
  else
    AMQ_LOG_INFO("admin API listens on {}:{} ({})", o.bind, admin_->port(), auth);
}

uint16_t broker_node::port() const {
  return server_ ? server_->port() : 0;
}

uint16_t broker_node::tls_port() const {
  return tls_server_ ? tls_server_->port() : 0;
}

net::server::stats broker_node::edge_stats() const {
  return edge_source{server_.get(), tls_server_.get()}.get();
}

bool broker_node::reload() {
  AMQ_LOG_INFO("broker got SIGHUP: reloading auth.password_file, auth.acl_file and the TLS "
               "certificate");
  const bool auth_ok = reload_auth();
  const bool tls_ok = reload_tls();
  return auth_ok && tls_ok;
}

bool broker_node::reload_tls() {
  if (!tls_server_)
    return true;
  const auto& tc = cfg_.listeners.tls;
  std::string detail;
  if (auto err = tls_server_->reload_tls(detail)) {
    AMQ_LOG_WARN("listeners.tls: certificate not reloaded: {}; the certificate loaded before "
                 "stays",
                 detail);
    return false;
  }
  AMQ_LOG_INFO("listeners.tls: certificate reloaded from {} (key {}{}{}); new connections use it, "
               "connected clients keep theirs",
               tc.cert_file, tc.key_file, tc.ca_file.empty() ? "" : ", CA " + tc.ca_file,
               tc.crl_file.empty() ? "" : ", CRL " + tc.crl_file);
  return true;
}

bool broker_node::reload_auth() {
  if (!auth_ || (cfg_.auth.password_file.empty() && cfg_.auth.acl_file.empty()))
    return true; // nothing to reload
  bool ok = true;
  bool changed = false;
  // One file: reloaded (logged with its count) or kept (a warning says why).
  auto reload_file = [&](const std::string& file, std::string_view option, std::string err,
                         size_t count, std::string_view what) {
    if (!err.empty()) {
      AMQ_LOG_WARN("{} not reloaded: {}; the {} {} loaded before stay", option, err, count, what);
      ok = false;
      return;
    }
    AMQ_LOG_INFO("{} reloaded: {} {} from {}", option, count, what, file);
    changed = true;
  };
  if (!cfg_.auth.password_file.empty()) {
    auto err = auth_->reload();
    reload_file(cfg_.auth.password_file, "auth.password_file", std::move(err), auth_->users(),
                "users");
  }
  if (!cfg_.auth.acl_file.empty()) {
    auto err = auth_->reload_acl();
    reload_file(cfg_.auth.acl_file, "auth.acl_file", std::move(err), auth_->acl_entries(),
                "entries");
  }
  // Connected clients are checked again, as Mosquitto does on reload: a removed user or a
  // changed password disconnects the client (its session stays, as after any disconnect), and
  // each session takes its client's access from the new ACL. Once the line below is logged,
  // every connected session applies the new rules to its next packet and delivery. A helper
  // actor waits for the sessions, not the signal thread: a SIGTERM right after a SIGHUP stops
  // the broker at once, whatever the sessions are doing.
  if (changed) {
    sys_.spawn([registry = registry_](caf::event_based_actor* self) {
      self->request(registry, std::chrono::seconds(30), recheck_atom::value)
        .then(
          [](size_t n) {
            AMQ_LOG_INFO("reloaded auth files apply to every session now ({} checked)", n);
          },
          [](caf::error& e) {
            AMQ_LOG_WARN("reloaded auth files: not every session confirmed in time ({}); they "
                         "take the new rules as they get to it",
                         caf::to_string(e));
          });
    });
  }
  return ok;
}

void broker_node::stop() {
  if (stopped_)
    return;
  stopped_ = true;
  if (admin_)
    admin_->stop(); // no admin call during shutdown
  if (registry_) {
    // Tell every session (DISCONNECT 0x8B to 5.0 clients), wait for them.
    caf::scoped_actor self{sys_};
    self->request(registry_, std::chrono::seconds{10}, shutdown_atom::value)
      .receive([](bool) {},
               [&](caf::error& err) {
                 AMQ_LOG_WARN("broker shutdown: sessions did not end in time ({})",
                              sys_.render(err));
               });
  }
  if (metrics_edge_)
    metrics_edge_->detach();
  if (metrics_)
    caf::anon_send_exit(metrics_, caf::exit_reason::user_shutdown);
  if (server_)
    server_->stop();
  if (tls_server_)
    tls_server_->stop();
  if (registry_)
    caf::anon_send_exit(registry_, caf::exit_reason::user_shutdown);
  if (router_)
    caf::anon_send_exit(router_, caf::exit_reason::user_shutdown);
  if (watchdog_)
    caf::anon_send_exit(watchdog_, caf::exit_reason::user_shutdown);
  if (auto timers = find_timer_service(sys_)) {
    sys_.registry().erase(timer_service_name);
    caf::anon_send_exit(timers, caf::exit_reason::user_shutdown);
  }
  if (storage_) {
    // Apply what the sessions stored on their way out (acknowledgements of
    // the last moments, records) before the storage actor stops: its
    // mailbox is in order, and an exit would drop what is pending.
    caf::scoped_actor self{sys_};
    self->request(storage_, std::chrono::seconds{30}, commit_atom::value)
      .receive([] {},
               [&](caf::error& err) {
                 AMQ_LOG_WARN("broker shutdown: the store did not commit in time ({})",
                              sys_.render(err));
               });
    caf::anon_send_exit(storage_, caf::exit_reason::user_shutdown);
  }
}

} // namespace amq::actors
