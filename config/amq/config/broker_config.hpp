#pragma once
/// The broker's typed configuration: one struct per area, every field with its
/// default. `load_config` (load.hpp) fills a `broker_config` from YAML, the
/// environment and the command line; `spawn_xxx()` functions hand the part
/// they need to each actor. Actors never read global settings.
///
/// The key path of every field is its member path (`limits.max_packet_size`):
/// the option table (src/options.cpp) derives names from the members, so the
/// YAML keys, environment names, `--set` keys and docs cannot drift apart.
/// Ranges, env names and doc strings live in that table too; see
/// docs/configuration.md for the generated reference.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace amq::config {

// -- enums --------------------------------------------------------------------

/// Severity threshold of the broker log.
enum class log_level : uint8_t { trace, debug, info, warn, error, off };

/// Line format of the broker log.
enum class log_format : uint8_t { text, json };

/// When a session outlives its connection.
enum class persistence_rule : uint8_t {
  /// Our session model (as TBMQ): MQTT 5 Clean Start 0 with Session Expiry 0
  /// or absent is persistent, like MQTT 3.1.1 Clean Session 0.
  seed,
  /// MQTT 5.0 §3.1.2.11.2 to the letter: Session Expiry 0 ends the session
  /// when the network connection closes.
  strict,
};

/// How the broker stores a persistent session's offline messages.
enum class client_type : uint8_t {
  device,      ///< Bounded per-client queue (embedded store or Redis).
  application, ///< Log-backed queue (embedded log or Kafka).
};

/// CONNECT field a client-type rule looks at.
enum class match_field : uint8_t { username, client_id };

/// How a client-type rule compares its pattern.
enum class match_kind : uint8_t { prefix, regex, exact };

/// What happens when a DEVICE session's persisted queue is full.
enum class overflow_policy : uint8_t {
  drop_oldest, ///< Evict the oldest queued message (counted).
  drop_newest, ///< Refuse the new message for that subscriber (counted).
};

/// What the router does with a connected persistent session whose stored
/// queue nears its limit while it does not read (limits.slow_persistent_consumer).
enum class slow_persistent_policy : uint8_t {
  overflow, ///< Hold its publishers for at most limits.slow_consumer_timeout_ms, then its
            ///< queue's limit and overflow policy apply while connected (counted drops).
  hold,     ///< Hold its publishers for as long as it takes; nothing dropped.
};

/// Where one storage role keeps its data.
enum class storage_backend : uint8_t { embedded, redis, kafka, memory };

/// Kafka producer `acks`.
enum class kafka_acks : uint8_t { all, leader, none };

std::string_view to_string(log_level x) noexcept;
std::string_view to_string(log_format x) noexcept;
std::string_view to_string(persistence_rule x) noexcept;
std::string_view to_string(client_type x) noexcept;
std::string_view to_string(match_field x) noexcept;
std::string_view to_string(match_kind x) noexcept;
std::string_view to_string(overflow_policy x) noexcept;
std::string_view to_string(slow_persistent_policy x) noexcept;
std::string_view to_string(storage_backend x) noexcept;
std::string_view to_string(kafka_acks x) noexcept;

// -- sections -----------------------------------------------------------------

/// One MQTT listener (plain TCP).
struct listener_config {
  bool enabled = true;
  std::string bind = "0.0.0.0";
  uint16_t port = 1883; ///< 0 picks a free port (tests).
  bool operator==(const listener_config&) const = default;
};

/// The MQTT-over-TLS listener (docs/security.md).
struct tls_listener_config {
  bool enabled = false;
  std::string bind = "0.0.0.0";
  uint16_t port = 8883; ///< 0 picks a free port (tests).
  std::string cert_file; ///< PEM certificate (chain)
  std::string key_file;  ///< PEM private key
  std::string ca_file;   ///< PEM CA bundle for client certificates (empty: none asked)
  bool require_client_cert = false;
  std::string crl_file; ///< PEM CRLs for client certificates (needs ca_file)
  bool use_identity_as_username = false; ///< the client certificate's CN is the user name
  std::string min_version = "tls1.2"; ///< tls1.2 | tls1.3
  std::string ciphers;      ///< TLS 1.2 cipher list (OpenSSL syntax); empty: OpenSSL's default
  std::string ciphersuites; ///< TLS 1.3 cipher suites (OpenSSL syntax); empty: OpenSSL's default
  bool operator==(const tls_listener_config&) const = default;
};

/// All network listeners that accept MQTT clients.
struct listeners_config {
  listener_config mqtt;
  tls_listener_config tls;
  bool operator==(const listeners_config&) const = default;
};

/// Admin REST API and Sessions page.
struct admin_config {
  bool enabled = true;
  std::string bind = "127.0.0.1";
  uint16_t port = 8083;
  /// Local development only: serve the admin API without authentication.
  bool auth_disabled = false;
  /// Bearer token accepted by the admin API (empty: none).
  std::string token;
  /// Basic-auth credentials (both or neither).
  std::string username;
  std::string password;
  bool operator==(const admin_config&) const = default;
};

/// Broker status topics ($SYS/broker/..., docs/metrics.md).
struct sys_config {
  /// Seconds between $SYS publications; 0: no $SYS topics.
  uint32_t interval_s = 10;
  bool operator==(const sys_config&) const = default;
};

/// Protocol limits, flow control and back-pressure.
struct limits_config {
  uint32_t max_packet_size = 1024 * 1024;
  uint16_t receive_maximum = 1000;
  uint16_t max_inflight_out = 1000;
  uint32_t max_queued_messages = 100000;
  uint32_t max_queued_qos0_messages = 10000;
  /// How long the router defers publishers' acks for one subscriber before
  /// it stops waiting for it (marks it a slow consumer).
  uint32_t slow_consumer_timeout_ms = 2000;
  slow_persistent_policy slow_persistent_consumer = slow_persistent_policy::overflow;
  uint64_t read_ahead_bytes = 128 * 1024;
  uint16_t topic_alias_maximum = 10;
  uint16_t max_keep_alive = 0;
  uint32_t max_session_expiry_interval = UINT32_MAX;
  uint16_t max_client_id_length = 1024;
  uint16_t max_topic_levels = 200;
  uint64_t write_buffer_high_watermark = 64 * 1024;
  uint64_t write_buffer_low_watermark = 32 * 1024;
  uint32_t socket_receive_buffer = 0; ///< SO_RCVBUF of client connections; 0: kernel autotuning
  uint32_t socket_send_buffer = 0;    ///< SO_SNDBUF of client connections; 0: kernel autotuning
  uint32_t connect_timeout_ms = 10000;
  bool operator==(const limits_config&) const = default;
};

/// Assigns a client type to a connecting client; the first matching rule wins.
struct client_type_rule {
  match_field field = match_field::client_id;
  match_kind kind = match_kind::prefix;
  std::string pattern;
  client_type type = client_type::application;
  bool operator==(const client_type_rule&) const = default;
};

/// Session persistence and client types.
struct session_config {
  config::persistence_rule persistence_rule = config::persistence_rule::seed;
  uint32_t no_expiry_ttl = 604800;
  client_type default_client_type = client_type::device;
  std::vector<client_type_rule> client_type_rules;
  uint32_t device_persisted_messages_limit = 10000;
  uint32_t offline_queue_limit = 200000;
  /// APPLICATION sessions with storage.application_queue: kafka; 0: no count
  /// limit (the topic's retention bounds the queue).
  uint32_t application_queue_limit = 0;
  uint32_t offline_queue_memory = 1000;
  uint32_t offline_queue_page = 256;
  uint32_t device_persisted_messages_ttl = 604800;
  overflow_policy device_overflow_policy = overflow_policy::drop_oldest;
  bool operator==(const session_config&) const = default;
};

/// Client authentication at CONNECT (docs/security.md).
struct auth_config {
  /// false: a CONNECT without a user name is refused (3.1.1 0x05, 5.0 0x87).
  bool allow_anonymous = true;
  /// mosquitto_passwd password file, read at start and on SIGHUP; empty: no password check.
  std::string password_file;
  /// Mosquitto acl_file: topic authorization per user, read at start and on SIGHUP; empty:
  /// every topic is open to every client.
  std::string acl_file;
  bool operator==(const auth_config&) const = default;
};

/// Authorization besides auth.acl_file: topic filters no client may subscribe to.
struct acl_config {
  /// A SUBSCRIBE for a filter that one of these matches is refused (0x80).
  std::vector<std::string> deny_subscribe;
  bool operator==(const acl_config&) const = default;
};

/// Redis connection (DEVICE queues, sessions, retained when so configured).
struct redis_config {
  std::string host = "localhost";
  uint16_t port = 6379;
  std::string password;
  uint32_t db = 0;
  std::string key_prefix = "actormq:";
  uint32_t connect_timeout_ms = 5000;
  uint32_t wait_at_boot_ms = 30000;
  uint32_t command_timeout_ms = 5000;
  uint32_t wait_replicas = 0;
  uint32_t wait_timeout_ms = 1000;
  bool operator==(const redis_config&) const = default;
};

/// Kafka producer/consumer settings (APPLICATION queues, session log).
struct kafka_config {
  std::string bootstrap_servers = "localhost:9092";
  std::string topic_prefix = "actormq";
  kafka_acks acks = kafka_acks::all;
  bool idempotence = true;
  /// Extra librdkafka properties, passed through unchanged.
  std::map<std::string, std::string> properties;
  /// Replication factor of the topics the broker creates; 0: the cluster's
  /// default.replication.factor.
  uint32_t replication_factor = 0;
  /// Consumer group of the APPLICATION queues' read positions; empty:
  /// `<topic_prefix>.node.<cluster.node_name>`.
  std::string group_id;
  /// How long a batch waits for its delivery reports (message.timeout.ms).
  uint32_t delivery_timeout_ms = 10000;
  /// How long the broker retries to reach Kafka at start-up; 0: fail at once.
  uint32_t wait_at_boot_ms = 30000;
  /// retention.ms of the APPLICATION queue topics; 0: the cluster's default.
  uint64_t app_topic_retention_ms = 0;
  bool operator==(const kafka_config&) const = default;
};

/// Storage backend per role, and backend connection settings.
struct storage_config {
  storage_backend sessions = storage_backend::embedded;
  storage_backend device_queue = storage_backend::embedded;
  storage_backend application_queue = storage_backend::embedded;
  storage_backend retained = storage_backend::embedded;
  std::string data_dir = "./data";
  redis_config redis;
  kafka_config kafka;
  bool operator==(const storage_config&) const = default;
};

/// Cluster membership (CAF middleman).
struct cluster_config {
  /// Empty: the host name (filled in by `load_config`).
  std::string node_name;
  /// 0: no cluster listener (single node).
  uint16_t port = 0;
  /// Other nodes as "host:port".
  std::vector<std::string> seeds;
  bool operator==(const cluster_config&) const = default;
};

/// Thread pools.
struct runtime_config {
  /// 0: the actor workers run the I/O loops (amq/actors/io_scheduler.hpp).
  uint32_t io_threads = 0;
  /// 0: std::thread::hardware_concurrency() (filled in by `load_config`).
  uint32_t worker_threads = 0;
  /// CAF work-stealing "moderate" poll attempts of an idle worker (each sleeps 50 us).
  uint32_t worker_moderate_polls = 0;
  /// Actors write to an idle plain-TCP connection themselves (net::server_options::write_through).
  bool write_through = true;
  /// io_threads 0: a worker's write-throughs leave together when its queue runs empty, at the
  /// latest this many microseconds after the first (0: each at once; net::write_gather).
  uint32_t write_gather_us = 50;
  /// io_threads 0: a busy worker reads its connections after at most this many microseconds of
  /// actor jobs (io_scheduler_options::io_poll_period).
  uint32_t io_poll_us = 1000;
  /// io_threads 0: a session actor runs on the worker that runs its connection's loop
  /// (io_scheduler_options::session_affinity).
  bool session_affinity = true;
  /// io_threads 0: a session idle on the worker that produces its input takes it in a direct
  /// turn, without an actor message (io_scheduler_options::direct_turns).
  bool direct_turns = true;
  /// io_threads 0: worker i runs on the i-th CPU the process may use (when there are at least
  /// as many CPUs as workers; io_scheduler_options::worker_cpus).
  bool pin_workers = true;
  /// A SUBSCRIBE and other clients' PUBLISHes are ordered by when they reached the machine, not
  /// by when a worker read them (amq/actors/router.hpp, "Arrival order").
  bool arrival_order = true;
  bool operator==(const runtime_config&) const = default;
};

/// Broker log.
struct log_config {
  log_level level = log_level::info;
  log_format format = log_format::text;
  /// Empty: standard error.
  std::string file;
  bool operator==(const log_config&) const = default;
};

/// The whole configuration of one broker node.
struct broker_config {
  listeners_config listeners;
  admin_config admin;
  sys_config sys;
  limits_config limits;
  session_config session;
  auth_config auth;
  acl_config acl;
  storage_config storage;
  cluster_config cluster;
  runtime_config runtime;
  log_config log;
  bool operator==(const broker_config&) const = default;
};

/// Checks every field's range and the rules that span fields. Returns one
/// message per problem, each starting with the key path
/// ("limits.max_packet_size: must be between 16 and 268435455, got 3").
std::vector<std::string> validate(const broker_config& cfg);

} // namespace amq::config
