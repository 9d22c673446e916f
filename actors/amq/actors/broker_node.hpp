#pragma once
/// One broker node: the network edge, the registry and the router, built
/// from a validated configuration. Embeddable: give it an existing
/// `caf::actor_system` (e.g. inside another CAF application) and a config.

#include "amq/admin/http_server.hpp"
#include "amq/admin/session_directory.hpp"
#include "amq/auth/password_file.hpp"
#include "amq/broker/session_types.hpp"
#include "amq/config/broker_config.hpp"
#include "amq/net/server.hpp"
#include "amq/storage/store.hpp"

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include <memory>
#include <system_error>

namespace amq::actors {

/// Session limits derived from the configuration.
broker::session_limits make_session_limits(const config::broker_config& cfg);

class edge_source;

class broker_node {
public:
  broker_node(caf::actor_system& sys, config::broker_config cfg);
  ~broker_node();

  /// Spawns the actors and starts listening. Returns the bind error, if any.
  std::error_code start();

  /// Stops accepting, disconnects every client (0x8B Server shutting down
  /// for 5.0 clients) and stops the actors. Idempotent.
  void stop();

  /// Re-reads auth.password_file (SIGHUP). A bad file is logged and the users
  /// loaded before stay. Returns false then. Thread-safe against CONNECTs.
  bool reload_auth();

  /// Re-reads listeners.tls.cert_file, key_file, ca_file and crl_file (SIGHUP: a renewed
  /// certificate or CRL).
  /// New TLS connections use them; connected clients keep theirs. A bad or missing file is
  /// logged and the certificate loaded before stays: returns false then. True without a TLS
  /// listener.
  bool reload_tls();

  /// SIGHUP: reload_auth() and reload_tls(). False if either kept the old state.
  bool reload();

  /// Port the MQTT listener is bound to (after start; useful with port 0). 0: no plain listener.
  uint16_t port() const;
  /// Port the MQTT-over-TLS listener is bound to; 0: not enabled.
  uint16_t tls_port() const;

  caf::actor registry() const { return registry_; }
  caf::actor router() const { return router_; }
  /// The metrics actor: (caf::get_atom) → the Prometheus page (metrics_actor.hpp).
  caf::actor metrics() const { return metrics_; }
  /// The edge's counters, both listeners added up.
  net::server::stats edge_stats() const;

  /// The admin HTTP server (null unless admin.enabled and it could bind).
  /// Its routes are registered in start(): the API (amq/admin/api.hpp),
  /// the Sessions page, /metrics.
  admin::http_server* admin_server() const { return admin_.get(); }
  /// Port the admin server is bound to (0: not running).
  uint16_t admin_port() const { return admin_ ? admin_->port() : 0; }
  /// Every session of this node, for the admin API.
  std::shared_ptr<admin::session_directory> directory() const { return directory_; }

private:
  struct restored_session {
    storage::session_record record;
    uint64_t first_seq = 0; ///< first stored queue entry (0: none)
    uint64_t last_seq = 0;
    uint64_t depth = 0; ///< last - first + 1 (an upper bound: it ignores gaps)
  };

  /// Opens the configured store, loads what survives a restart, spawns the
  /// storage actor. Leaves `storage_` null for the memory backend.
  std::error_code open_storage(std::vector<protocol::message_ptr>& retained,
                               std::vector<restored_session>& sessions);

  caf::actor_system& sys_;
  config::broker_config cfg_;
  broker::session_limits limits_;
  /// CONNECT check (auth.*); declared before server_ so it outlives the I/O threads.
  std::unique_ptr<auth::authenticator> auth_;
  caf::actor storage_;
  caf::actor watchdog_; ///< closes connections that send no CONNECT in time
  caf::actor router_;
  caf::actor registry_;
  caf::actor metrics_;
  std::shared_ptr<edge_source> metrics_edge_;
  std::unique_ptr<net::server> server_;     ///< plain TCP (listeners.mqtt); null if disabled
  std::unique_ptr<net::server> tls_server_; ///< MQTT over TLS (listeners.tls); null if disabled
  std::shared_ptr<admin::session_directory> directory_;
  std::unique_ptr<admin::http_server> admin_;
  /// Starts the admin server (admin.*); a bind failure is logged, and the
  /// broker runs without it.
  void start_admin();
  bool stopped_ = false;
};

} // namespace amq::actors
