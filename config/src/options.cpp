/// THE option table. Every configuration key is declared here exactly once:
/// its key path (taken from the member path by AMQ_KEY, so it cannot drift from
/// the struct), its value codec (type, range), its TBMQ environment names and
/// its doc string. YAML, environment, `--set`, `--print-config`, the example
/// config and docs/configuration.md are all generated from this list.
///
/// To add a key: add the member (with its default) in broker_config.hpp, add
/// one `add(...)` line here, then run `actormq_config_doc --write <repo>` to
/// regenerate the docs and the example config (a test fails until you do).

#include "amq/config/options.hpp"

#include "option_codec.hpp"
#include "value_codecs.hpp"

#include <algorithm>
#include <cctype>

namespace amq::config {

namespace {

using detail::maybe_error;

/// Expands to `"a.b", accessor-of-c.a.b`.
#define AMQ_KEY(path) #path, [](auto& c) -> auto& { return c.path; }

constexpr uint64_t kib = 1024;
constexpr uint64_t mib = 1024 * kib;
constexpr uint64_t gib = 1024 * mib;

// -- format rules -----------------------------------------------------------------

maybe_error non_empty(const std::string& s) {
  if (s.empty())
    return std::string{"must not be empty"};
  return std::nullopt;
}

maybe_error tls_version(const std::string& s) {
  if (s != "tls1.2" && s != "tls1.3")
    return std::string{"expected tls1.2 or tls1.3"};
  return std::nullopt;
}

maybe_error host_port(const std::string& s) {
  auto colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == s.size())
    return std::string{"expected host:port"};
  uint64_t port = 0;
  if (detail::parse_unsigned(s.substr(colon + 1), false, port) || port == 0 || port > 65535)
    return std::string{"expected host:port with a port between 1 and 65535"};
  return std::nullopt;
}

maybe_error kafka_topic_chars(const std::string& s) {
  if (s.empty() || s.size() > 200)
    return "must be 1 to 200 characters long, got " + std::to_string(s.size());
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-'))
      return "may contain only letters, digits, '.', '_' and '-', got " + detail::quoted(s);
  return std::nullopt;
}

/// MQTT topic filter syntax (§4.7): non-empty, no NUL, '+' and '#' fill a
/// whole level and '#' is the last one.
maybe_error topic_filter_syntax(const std::string& s) {
  if (s.empty() || s.find('\0') != std::string::npos)
    return std::string{"expected a non-empty MQTT topic filter"};
  for (size_t i = 0; i < s.size(); ++i) {
    bool level_start = i == 0 || s[i - 1] == '/';
    bool level_end = i + 1 == s.size() || s[i + 1] == '/';
    if ((s[i] == '+' || s[i] == '#') && !(level_start && level_end))
      return "wildcard must fill a whole topic level, got " + detail::quoted(s);
    if (s[i] == '#' && i + 1 != s.size())
      return "'#' must be the last topic level, got " + detail::quoted(s);
  }
  return std::nullopt;
}

// -- table building -----------------------------------------------------------------

struct table_builder {
  std::vector<option_descriptor> out;

  template <class Access, class Codec>
  option_descriptor& add(std::string_view key, Access access, Codec codec,
                         std::vector<std::string> tbmq_env, std::string doc) {
    option_descriptor d;
    d.key = std::string{key};
    d.type = codec.type_name();
    d.range = codec.range();
    d.tbmq_env = std::move(tbmq_env);
    d.doc = std::move(doc);
    d.codec = std::make_shared<detail::field_codec<Access, Codec>>(access, std::move(codec));
    out.push_back(std::move(d));
    return out.back();
  }
};

template <class T>
detail::uint_codec<T> uint_in(uint64_t lo, uint64_t hi) {
  return detail::uint_codec<T>{lo, hi, false};
}

template <class T>
detail::uint_codec<T> bytes_in(uint64_t lo, uint64_t hi) {
  return detail::uint_codec<T>{lo, hi, true};
}

detail::string_codec any_string() {
  return {};
}

detail::string_codec required_string() {
  return {non_empty, "non-empty"};
}

// -- the table ----------------------------------------------------------------------

std::vector<option_descriptor> make_options() {
  table_builder t;
  using detail::bool_codec;

  // listeners
  t.add(AMQ_KEY(listeners.mqtt.enabled), bool_codec{}, {"LISTENER_TCP_ENABLED"},
        "Accept MQTT clients over plain TCP. false with listeners.tls.enabled false too makes "
        "the broker refuse to start (no listener).")
    .tbmq_default = "true";
  t.add(AMQ_KEY(listeners.mqtt.bind), required_string(), {"LISTENER_TCP_BIND_ADDRESS"},
        "Address the MQTT listener binds to; 0.0.0.0 means every IPv4 interface.")
    .tbmq_default = "0.0.0.0";
  t.add(AMQ_KEY(listeners.mqtt.port), uint_in<uint16_t>(0, 65535), {"LISTENER_TCP_BIND_PORT"},
        "TCP port of the MQTT listener; 0 picks a free port (tests).")
    .tbmq_default = "1883";
  t.add(AMQ_KEY(listeners.tls.enabled), bool_codec{}, {"LISTENER_SSL_ENABLED"},
        "Accept MQTT clients over TLS (MQTT over TLS, port 8883) besides or instead of plain "
        "TCP. Needs listeners.tls.cert_file and key_file; a missing or bad file stops the broker "
        "at start, naming the file. See docs/security.md.")
    .tbmq_default = "false";
  t.add(AMQ_KEY(listeners.tls.bind), required_string(), {"LISTENER_SSL_BIND_ADDRESS"},
        "Address the TLS listener binds to.")
    .tbmq_default = "0.0.0.0";
  t.add(AMQ_KEY(listeners.tls.port), uint_in<uint16_t>(0, 65535), {"LISTENER_SSL_BIND_PORT"},
        "TCP port of the TLS listener; 0 picks a free port (tests).")
    .tbmq_default = "8883";
  t.add(AMQ_KEY(listeners.tls.cert_file), any_string(), {"LISTENER_SSL_PEM_CERT"},
        "PEM file with the server certificate, followed by any intermediate certificates. Read "
        "at start and again on SIGHUP (with key_file, ca_file and crl_file): a renewed "
        "certificate written over it is used for new connections; a bad file then keeps the "
        "one loaded before.");
  t.add(AMQ_KEY(listeners.tls.key_file), any_string(), {"LISTENER_SSL_PEM_KEY"},
        "PEM file with the server certificate's private key (unencrypted).");
  t.add(AMQ_KEY(listeners.tls.ca_file), any_string(), {},
        "PEM CA bundle that signs client certificates. Set: clients are asked for a certificate "
        "and one that does not verify fails the handshake. Empty: no client certificates.");
  t.add(AMQ_KEY(listeners.tls.require_client_cert), bool_codec{}, {},
        "Mutual TLS: a client without a certificate signed by listeners.tls.ca_file fails the "
        "handshake (needs ca_file).");
  t.add(AMQ_KEY(listeners.tls.crl_file), any_string(), {},
        "PEM certificate revocation lists for client certificates (needs ca_file): a client "
        "whose certificate is revoked fails the handshake. It must hold a current CRL of every "
        "CA that issues client certificates; a certificate whose issuer has none fails too. "
        "Read at start (a bad file stops the broker) and again on SIGHUP with the certificate. "
        "Mosquitto's crlfile.");
  t.add(AMQ_KEY(listeners.tls.use_identity_as_username), bool_codec{}, {},
        "Mutual TLS: the Common Name of the client's verified certificate is its MQTT user name "
        "(client-type rules, the admin API), replacing any the CONNECT carries; the certificate "
        "is the credential, so auth.password_file is not asked for these clients and a CONNECT "
        "password is ignored. Needs require_client_cert. Mosquitto's use_identity_as_username.");
  t.add(AMQ_KEY(listeners.tls.min_version), detail::string_codec{tls_version, "tls1.2 or tls1.3"},
        {}, "Lowest TLS version accepted: tls1.2 or tls1.3.");
  t.add(AMQ_KEY(listeners.tls.ciphers), any_string(), {},
        "TLS 1.2 cipher list in OpenSSL's syntax (openssl ciphers), e.g. "
        "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256. Empty: OpenSSL's default. A "
        "list that names no cipher OpenSSL knows stops the broker at start. Read again on "
        "SIGHUP with the certificate.");
  t.add(AMQ_KEY(listeners.tls.ciphersuites), any_string(), {},
        "TLS 1.3 cipher suites in OpenSSL's syntax, e.g. TLS_AES_256_GCM_SHA384:"
        "TLS_CHACHA20_POLY1305_SHA256. Empty: OpenSSL's default. An unknown suite stops the "
        "broker at start. Read again on SIGHUP with the certificate.");

  // admin
  t.add(AMQ_KEY(admin.enabled), bool_codec{}, {}, "Serve the admin REST API and Sessions page.");
  t.add(AMQ_KEY(admin.bind), required_string(), {"HTTP_BIND_ADDRESS"},
        "Address the admin API binds to. Local only by default (TBMQ binds 0.0.0.0).")
    .tbmq_default = "0.0.0.0";
  t.add(AMQ_KEY(admin.port), uint_in<uint16_t>(0, 65535), {"HTTP_BIND_PORT"},
        "TCP port of the admin API; 0 picks a free port (tests).")
    .tbmq_default = "8083";
  t.add(AMQ_KEY(admin.auth_disabled), bool_codec{}, {},
        "Serve the admin API without authentication. For local development only.");
  t.add(AMQ_KEY(admin.token), any_string(), {},
        "Bearer token the admin API accepts (Authorization: Bearer <token>); empty: none.")
    .secret = true;
  t.add(AMQ_KEY(admin.username), any_string(), {},
        "User name for HTTP basic authentication of the admin API; set together with "
        "admin.password. Empty: no basic authentication.");
  t.add(AMQ_KEY(admin.password), any_string(), {},
        "Password for HTTP basic authentication of the admin API.")
    .secret = true;

  // sys
  t.add(AMQ_KEY(sys.interval_s), uint_in<uint32_t>(0, 86400), {},
        "Seconds between publications of the $SYS/broker/... topics (retained, QoS 0; "
        "docs/metrics.md). 0: no $SYS topics. Mosquitto's sys_interval.");

  // limits
  t.add(AMQ_KEY(limits.max_packet_size), bytes_in<uint32_t>(16, 268435455),
        {"TCP_NETTY_MAX_PAYLOAD_SIZE"},
        "Largest MQTT packet accepted, advertised as Maximum Packet Size in CONNACK (MQTT 5); a "
        "larger packet closes the connection (reason 0x95). TBMQ defaults to 64 KiB; 1 MiB fits "
        "telemetry batches and firmware chunks while bounding per-connection memory.")
    .tbmq_default = "65536";
  t.add(AMQ_KEY(limits.receive_maximum), uint_in<uint16_t>(1, 65535), {"MQTT_MAX_IN_FLIGHT_MSGS"},
        "QoS 1/2 PUBLISH packets one client may have unacknowledged toward the broker, advertised "
        "as Receive Maximum in CONNACK (MQTT 5); a client exceeding it is disconnected (0x93).")
    .tbmq_default = "1000";
  t.add(AMQ_KEY(limits.max_inflight_out), uint_in<uint16_t>(1, 65535),
        {"MQTT_FLOW_CONTROL_MQTT_3X_RECEIVE_MAX"},
        "QoS 1/2 messages the broker keeps unacknowledged toward one client. The window is the "
        "smaller of this and the client's Receive Maximum; MQTT 3.1.1 clients send none, so this "
        "is their window (as in TBMQ).")
    .tbmq_default = "65535";
  t.add(AMQ_KEY(limits.max_queued_messages), uint_in<uint32_t>(0, 10000000),
        {"MQTT_FLOW_CONTROL_DELAYED_QUEUE_MAX_SIZE"},
        "Messages queued for an online session beyond its in-flight window. Publishers are "
        "paced long before it fills (flow control at 1/8 of it, at most 1000 messages); it is "
        "the safety net for many publishers at once. When full, the oldest message is dropped "
        "and counted. Messages are shared, so this costs per slow subscriber about the "
        "per-message overhead (~150 bytes) times the depth, not the payload.")
    .tbmq_default = "1000";
  t.add(AMQ_KEY(limits.max_queued_qos0_messages), uint_in<uint32_t>(1, 10000000), {},
        "QoS 0 messages a connected subscriber may have queued (waiting for its connection to "
        "drain) before further QoS 0 messages for it are dropped, counted and logged. "
        "Publishers are paced by a subscriber's backlog first (flow control); this bounds the "
        "memory a truly slow consumer can hold when it is no longer allowed to pace them. "
        "Mosquitto's equivalent is max_queued_messages with queue_qos0_messages.");
  t.add(AMQ_KEY(limits.slow_consumer_timeout_ms), uint_in<uint32_t>(50, 600000), {},
        "Milliseconds the router defers publishers' acknowledgements for one subscriber whose "
        "backlog is above the flow-control mark (a client that stopped reading) before it "
        "stops waiting for it: the subscriber is marked a slow consumer (logged, counted in "
        "actormq_slow_consumers_total), the waiting publishers are released and no longer "
        "wait for it, and its own bounded queue takes the overflow (drops counted). Too "
        "short marks clients that are only briefly starved of CPU (a busy machine); too long "
        "stalls the other subscribers of the same publishers for that long.");
  t.add(AMQ_KEY(limits.slow_persistent_consumer), detail::slow_persistent_policy_codec(), {},
        "A connected persistent subscriber whose stored queue nears its limit (session."
        "offline_queue_limit, or the Redis / APPLICATION limit of its type) holds its "
        "publishers. overflow: for at most limits.slow_consumer_timeout_ms, then it is marked "
        "a slow consumer and its queue's limit and overflow policy (session."
        "device_overflow_policy) apply while connected as while offline: drops counted "
        "(reason stored_queue_full) and logged, the newest messages kept (drop_oldest); "
        "unmarked once it has caught up. hold: its publishers wait for as long as it takes "
        "(until it reads or disconnects), nothing is dropped; one stuck subscriber then "
        "stalls every publisher to its topics.");
  t.add(AMQ_KEY(limits.read_ahead_bytes), bytes_in<uint64_t>(4 * kib, 1 * gib), {},
        "Bytes read from one connection and not yet processed by its session above which the "
        "broker stops reading it, so TCP flow control slows a client that publishes faster "
        "than the broker routes (QoS 0 has no acknowledgement to pace it). Two read buffers "
        "(128 KiB) keep reads and processing overlapped; more only adds memory and latency "
        "per connection.");
  t.add(AMQ_KEY(limits.topic_alias_maximum), uint_in<uint16_t>(0, 65535), {"MQTT_TOPIC_ALIAS_MAX"},
        "Topic aliases a client may use toward the broker, advertised in CONNACK (MQTT 5); 0 "
        "disables topic aliases.")
    .tbmq_default = "10";
  t.add(AMQ_KEY(limits.max_keep_alive), uint_in<uint16_t>(0, 65535),
        {"MQTT_KEEP_ALIVE_MAX_KEEP_ALIVE_SEC"},
        "Largest keep alive, in seconds, an MQTT 5 client may use; a larger request (or 0) is "
        "lowered to this and returned as Server Keep Alive. 0: no cap.")
    .tbmq_default = "600";
  t.add(AMQ_KEY(limits.max_session_expiry_interval), uint_in<uint32_t>(0, 4294967295),
        {"MQTT_CLIENT_SESSION_EXPIRY_MAX_EXPIRY_INTERVAL"},
        "Cap, in seconds, on the Session Expiry Interval a client requests (MQTT 5); the granted "
        "value is returned in CONNACK. 4294967295: no cap, a session may never expire (TBMQ "
        "defaults to 604800, one week).")
    .tbmq_default = "604800";
  t.add(AMQ_KEY(limits.max_client_id_length), uint_in<uint16_t>(23, 65535), {},
        "Longest client identifier accepted, in bytes; a longer one gets CONNACK 0x85. MQTT "
        "requires servers to accept at least 23.");
  t.add(AMQ_KEY(limits.connect_timeout_ms), uint_in<uint32_t>(100, 3600000), {},
        "Milliseconds a new connection may take to send its CONNECT; after that it is closed "
        "(logged). MQTT 3.1.4 says a server SHOULD close a connection without CONNECT in a "
        "reasonable time.");
  t.add(AMQ_KEY(limits.max_topic_levels), uint_in<uint16_t>(0, 65535),
        {"MQTT_TOPIC_MAX_SEGMENTS_COUNT"},
        "Most '/'-separated levels in a topic name or filter; deeper ones are rejected. 0: no "
        "limit. 200 is Mosquitto's fixed limit.")
    .tbmq_default = "0";
  t.add(AMQ_KEY(limits.write_buffer_high_watermark), bytes_in<uint64_t>(1 * kib, 1 * gib),
        {"NETTY_WRITE_BUFFER_HIGH_WATER_MARK"},
        "Bytes waiting to be written on one connection above which the broker stops writing to "
        "it (back-pressure) until it drains below the low watermark. Deliveries then wait in "
        "the session's queue, where they count toward the backlog by which the router paces "
        "publishers: a small value keeps latency and memory per subscriber low (the kernel's "
        "socket buffer comes on top).");
  t.add(AMQ_KEY(limits.socket_receive_buffer), bytes_in<uint32_t>(0, 64 * 1024 * 1024), {},
        "SO_RCVBUF of client connections (set on the listening socket, inherited by every "
        "accepted one). 0: the kernel's default with autotuning (net.ipv4.tcp_rmem; up to "
        "tens of MB per connection); the kernel doubles a set value for its bookkeeping. It "
        "bounds the bytes a fast publisher has waiting in the broker's kernel; measured, a "
        "small value did not shorten QoS 0 latency at max rate and cost throughput "
        "(docs/performance.md, \"QoS 0 latency at max rate\").");
  t.add(AMQ_KEY(limits.socket_send_buffer), bytes_in<uint32_t>(0, 64 * 1024 * 1024), {},
        "SO_SNDBUF of client connections (set on the listening socket, inherited). 0: the "
        "kernel's default with autotuning (net.ipv4.tcp_wmem). Bytes waiting here for a slow "
        "subscriber come on top of limits.write_buffer_high_watermark.");
  t.add(AMQ_KEY(limits.write_buffer_low_watermark), bytes_in<uint64_t>(0, 1 * gib),
        {"NETTY_WRITE_BUFFER_LOW_WATER_MARK"},
        "Bytes waiting to be written below which a back-pressured connection is written to "
        "again; must be below the high watermark. Not used yet: the edge resumes at half the "
        "high watermark.");

  // session
  t.add(AMQ_KEY(session.persistence_rule), detail::persistence_rule_codec(), {},
        "Which sessions outlive their connection. seed: MQTT 5 Clean Start 0 with Session Expiry "
        "0 or absent is persistent, like MQTT 3.1.1 Clean Session 0 (our session model, as "
        "TBMQ). strict: MQTT 5.0 section 3.1.2.11.2 to the letter, expiry 0 ends the session at "
        "disconnect.");
  t.add(AMQ_KEY(session.no_expiry_ttl), uint_in<uint32_t>(0, 4294967295),
        {"MQTT_CLIENT_SESSION_EXPIRY_TTL"},
        "Seconds after disconnect at which a persistent session without an expiry interval "
        "(MQTT 3.1.1 Clean Session 0, or expiry 0 under the seed rule) is removed. 0: never.")
    .tbmq_default = "604800";
  t.add(AMQ_KEY(session.default_client_type), detail::client_type_codec(), {},
        "Client type when no client-type rule matches. device: bounded per-client queue; "
        "application: log-backed queue for high-volume consumers.");
  t.add(AMQ_KEY(session.client_type_rules), detail::client_type_rules_codec{}, {},
        "Ordered rules choosing a connecting client's type; the first match wins. Each rule has "
        "field (username or client_id), kind (prefix, regex or exact), pattern and type (device "
        "or application). In the environment or --set, write the list in YAML flow style.")
    .example = "client_type_rules:\n"
               "  - {field: username, kind: prefix, pattern: \"app-\", type: application}\n"
               "  - {field: client_id, kind: regex, pattern: \"^backend-[0-9]+$\", "
               "type: application}";
  t.add(AMQ_KEY(session.device_persisted_messages_limit), uint_in<uint32_t>(1, 100000000),
        {"MQTT_PERSISTENT_SESSION_DEVICE_PERSISTED_MESSAGES_LIMIT"},
        "Most messages stored for one persistent DEVICE session in Redis while it is offline "
        "(storage.device_queue: redis; see session.offline_queue_limit for the embedded store); "
        "see session.device_overflow_policy.")
    .tbmq_default = "10000";
  t.add(AMQ_KEY(session.offline_queue_limit), uint_in<uint32_t>(1, 100000000), {},
        "Messages queued per offline persistent session when its queue lives in the embedded "
        "store (the default) or in memory; device_persisted_messages_limit applies to DEVICE "
        "queues in Redis. Only the first session.offline_queue_memory of them are held in "
        "memory (storage.sessions: memory keeps all of them there, about 150 bytes plus the "
        "payload each); on overflow session.device_overflow_policy decides, counted.");
  t.add(AMQ_KEY(session.application_queue_limit), uint_in<uint32_t>(0, 100000000), {},
        "Messages queued per offline persistent APPLICATION session when its queue lives in "
        "Kafka (storage.application_queue: kafka). 0 (the default): no count limit, the "
        "topic's retention (storage.kafka.app_topic_retention_ms) bounds the queue. Otherwise "
        "overflow follows session.device_overflow_policy, counted. APPLICATION queues in the "
        "embedded store use session.offline_queue_limit.");
  t.add(AMQ_KEY(session.offline_queue_memory), uint_in<uint32_t>(1, 10000000), {},
        "Queued messages a persistent session keeps in memory. Beyond that the session goes "
        "cold: the rest stays in the store only (the router stored it before delivering) and "
        "is read back in pages of session.offline_queue_page while the client drains it. A "
        "restarted broker restores every session cold, without reading its queue.");
  t.add(AMQ_KEY(session.offline_queue_page), uint_in<uint32_t>(1, 65535), {},
        "Largest page of stored queue entries a cold session reads at once; a page is also "
        "never larger than the client's Receive Maximum (and limits.max_inflight_out). One "
        "page is read ahead, so a draining session holds at most its in-flight messages plus "
        "two pages.");
  t.add(AMQ_KEY(session.device_persisted_messages_ttl), uint_in<uint32_t>(0, 4294967295),
        {"MQTT_PERSISTENT_SESSION_DEVICE_PERSISTED_MESSAGES_TTL"},
        "Seconds a message queued for an offline persistent session (DEVICE or APPLICATION, "
        "in memory or in the store) without a Message Expiry Interval is kept, counted from when "
        "it was stored; then it is dropped (counted, reason queue_ttl). With Redis also the "
        "lifetime of a DEVICE client's keys after its last append. 0: until delivered or "
        "evicted.")
    .tbmq_default = "604800";
  t.add(AMQ_KEY(session.device_overflow_policy), detail::overflow_policy_codec(), {},
        "What a full DEVICE queue does with a new message. drop_oldest: evict the oldest queued "
        "message; drop_newest: refuse the new one. Both are counted per session.");

  // auth
  t.add(AMQ_KEY(auth.allow_anonymous), bool_codec{}, {},
        "Accept a CONNECT without a user name. false: it is refused with CONNACK 0x05 "
        "(3.1.1) / 0x87 Not authorized (5.0); without auth.password_file every CONNECT is "
        "then refused (fail closed). Mosquitto's allow_anonymous.");
  t.add(AMQ_KEY(auth.password_file), any_string(), {},
        "Password file in the format of mosquitto_passwd (mosquitto 2.0: $7$ PBKDF2-SHA512 or "
        "$6$ SHA-512 lines; manage it with mosquitto_passwd). A CONNECT with a user name must "
        "name a user of the file with the right password, else CONNACK 0x04 (3.1.1) / 0x86 Bad "
        "User Name or Password (5.0). Read at start (a bad file stops the broker, naming file "
        "and line) and again on SIGHUP (a bad file then keeps the users loaded before; after a "
        "good one, connected clients whose credentials no longer pass are disconnected, 5.0 "
        "with 0x87 Not authorized: docs/security.md). Empty: "
        "user names and passwords are not checked (with auth.allow_anonymous true).");
  t.add(AMQ_KEY(auth.acl_file), any_string(), {},
        "Topic authorization in the format of Mosquitto's acl_file: 'user <name>' sections of "
        "'topic [read|write|readwrite|deny] <filter>' lines (lines before the first 'user' are "
        "for clients without a user name) and 'pattern ...' lines for every client with %c "
        "(client id) and %u (user name). With a file, a client may publish, subscribe and "
        "receive only what an entry grants, and deny entries win: a refused PUBLISH is not "
        "forwarded (5.0 QoS 1/2: PUBACK/PUBREC 0x87), a refused filter gets SUBACK 0x87 (3.1.1: "
        "0x80), a message the client may not read is not delivered, a will on a refused topic "
        "refuses the CONNECT (0x87 / 0x05). The user name is the certificate CN with "
        "listeners.tls.use_identity_as_username. Read at start (a bad file stops the broker, "
        "naming file and line) and on SIGHUP (a bad file keeps the rules loaded before). "
        "Empty: every topic is open (docs/security.md).")
    .example = "acl_file: /etc/actormq/acl";

  // acl
  t.add(AMQ_KEY(acl.deny_subscribe),
        detail::string_list_codec{topic_filter_syntax, "list of topic filters", ""}, {},
        "Topic filters no client may subscribe to: a SUBSCRIBE for a filter one of these "
        "matches (the requested filter read as a topic name; the filter of a $share "
        "subscription without its prefix) gets return code 0x80, in MQTT 3.1.1 and 5.0 alike. "
        "In the environment or --set: comma-separated.")
    .example = "deny_subscribe: [\"test/nosubscribe\", \"private/#\"]";

  // storage
  t.add(AMQ_KEY(storage.sessions), detail::storage_backend_codec(), {},
        "Backend for session state and subscriptions. --storage sets all four roles. kafka: "
        "the records stay in the embedded store too, and are replicated to the compacted topics "
        "<topic_prefix>.client.session and .client.subscriptions; at start-up every persistent "
        "session is rebuilt from those topics (a node with an empty data_dir recovers them).");
  t.add(AMQ_KEY(storage.device_queue), detail::storage_backend_codec(), {},
        "Backend for the offline queues of DEVICE sessions.");
  t.add(AMQ_KEY(storage.application_queue), detail::storage_backend_codec(), {},
        "Backend for the offline queues of APPLICATION sessions.");
  t.add(AMQ_KEY(storage.retained), detail::storage_backend_codec(), {},
        "Backend for retained messages.");
  t.add(AMQ_KEY(storage.data_dir), required_string(), {},
        "Directory of the embedded store, created if missing.");
  t.add(AMQ_KEY(storage.redis.host), any_string(), {"REDIS_HOST"}, "Redis host name or address.")
    .tbmq_default = "localhost";
  t.add(AMQ_KEY(storage.redis.port), uint_in<uint16_t>(1, 65535), {"REDIS_PORT"}, "Redis port.")
    .tbmq_default = "6379";
  auto& redis_password = t.add(AMQ_KEY(storage.redis.password), any_string(), {"REDIS_PASSWORD"},
                               "Redis password (AUTH); empty: none.");
  redis_password.secret = true;
  redis_password.tbmq_default = "";
  t.add(AMQ_KEY(storage.redis.db), uint_in<uint32_t>(0, 65535), {"REDIS_DB"},
        "Redis database index (SELECT).")
    .tbmq_default = "0";
  t.add(AMQ_KEY(storage.redis.key_prefix), any_string(), {"CACHE_PREFIX"},
        "Prefix of every Redis key the broker writes, so that brokers can share one Redis.")
    .tbmq_default = "";
  t.add(AMQ_KEY(storage.redis.connect_timeout_ms), uint_in<uint32_t>(1, 600000),
        {"REDIS_CLIENT_CONNECT_TIMEOUT"}, "Timeout of one Redis connection attempt, in ms.")
    .tbmq_default = "30000";
  t.add(AMQ_KEY(storage.redis.wait_at_boot_ms), uint_in<uint32_t>(0, 3600000), {},
        "How long the broker keeps retrying to reach Redis at start-up before it gives up, in "
        "ms. 0: fail at once.");
  t.add(AMQ_KEY(storage.redis.command_timeout_ms), uint_in<uint32_t>(1, 600000), {},
        "Timeout of one round trip to Redis (a batch of queue writes, a page of reads), in ms. "
        "On timeout the batch fails (its publishers are refused, never acknowledged) and the "
        "connection is re-established with backoff.");
  t.add(AMQ_KEY(storage.redis.wait_replicas), uint_in<uint32_t>(0, 64), {},
        "After each batch of queue writes, wait (WAIT) until this many replicas have it; 0: "
        "do not wait. A batch that fewer replicas confirm in wait_timeout_ms fails.");
  t.add(AMQ_KEY(storage.redis.wait_timeout_ms), uint_in<uint32_t>(1, 600000), {},
        "How long one WAIT for wait_replicas replicas may take, in ms.");
  t.add(AMQ_KEY(storage.kafka.bootstrap_servers), any_string(), {"TB_KAFKA_SERVERS"},
        "Kafka bootstrap servers, comma-separated host:port.")
    .tbmq_default = "localhost:9092";
  t.add(AMQ_KEY(storage.kafka.topic_prefix),
        detail::string_codec{kafka_topic_chars, "[A-Za-z0-9._-]"}, {},
        "First part of every topic name the broker creates (actormq.msg.app.<client>, ...); "
        "TBMQ uses tbmq.");
  t.add(AMQ_KEY(storage.kafka.acks), detail::kafka_acks_codec(),
        {"TB_KAFKA_DEFAULT_PRODUCER_ACKS"},
        "Producer acks: all waits for every in-sync replica (durable; TBMQ defaults to 1), 1 for "
        "the leader only, 0 for none. -1 means all.")
    .tbmq_default = "1";
  t.add(AMQ_KEY(storage.kafka.idempotence), bool_codec{}, {},
        "Idempotent producer (enable.idempotence): no duplicates or reordering on retries. "
        "Requires acks = all.");
  t.add(AMQ_KEY(storage.kafka.properties), detail::string_map_codec{}, {},
        "Extra librdkafka properties, passed through unchanged (security.protocol, sasl.*, "
        "linger.ms, ...). In the environment or --set: key=value pairs separated by ';'.")
    .example = "properties:\n"
               "  security.protocol: SASL_SSL\n"
               "  linger.ms: \"5\"";
  t.add(AMQ_KEY(storage.kafka.replication_factor), uint_in<uint32_t>(0, 32767), {},
        "Replication factor of the topics the broker creates (APPLICATION queues, session "
        "replication); 0: the Kafka cluster's default.replication.factor.");
  t.add(AMQ_KEY(storage.kafka.group_id), any_string(), {},
        "Consumer group whose committed offsets are the read positions of the APPLICATION "
        "queues; empty: <topic_prefix>.node.<cluster.node_name>. Keep it stable across "
        "restarts: a new group starts every queue from its oldest record.");
  t.add(AMQ_KEY(storage.kafka.delivery_timeout_ms), uint_in<uint32_t>(100, 600000), {},
        "How long a batch of queue writes waits for Kafka's delivery reports "
        "(message.timeout.ms), in ms. A batch not confirmed in time fails: its publishers are "
        "refused with a reason code (MQTT 5) or disconnected (3.1.1), never acknowledged.");
  t.add(AMQ_KEY(storage.kafka.wait_at_boot_ms), uint_in<uint32_t>(0, 3600000), {},
        "How long the broker keeps retrying to reach Kafka at start-up before it gives up, in "
        "ms. 0: fail at once.");
  t.add(AMQ_KEY(storage.kafka.app_topic_retention_ms), uint_in<uint64_t>(0, 9223372036854775807ULL),
        {}, "retention.ms of each APPLICATION queue topic, which bounds the queue: Kafka deletes "
        "older records, acknowledged or not. 0: the cluster's default (log.retention.*).");

  // cluster
  t.add(AMQ_KEY(cluster.node_name), any_string(), {"TB_SERVICE_ID"},
        "Name of this node in the cluster and in logs; empty: the host name. Keep it stable "
        "across restarts.")
    .tbmq_default = "";
  t.add(AMQ_KEY(cluster.port), uint_in<uint16_t>(0, 65535), {},
        "Port other nodes connect to (CAF middleman); 0: no cluster listener (single node).");
  t.add(AMQ_KEY(cluster.seeds),
        detail::string_list_codec{host_port, "list of host:port", ""}, {},
        "Nodes to join at start-up. In the environment or --set: comma-separated.")
    .example = "seeds: [\"node-a:4242\", \"node-b:4242\"]";

  // runtime
  t.add(AMQ_KEY(runtime.io_threads), uint_in<uint32_t>(0, 256), {},
        "Threads that run network I/O (accept, read, write). 0: no I/O thread; each actor "
        "worker runs an event loop of its own between actor jobs (docs/architecture.md, "
        "\"Threads\"): a message is read, routed and written on one thread without a thread "
        "switch.");
  t.add(AMQ_KEY(runtime.worker_threads), uint_in<uint32_t>(0, 4096), {},
        "Threads that run actors (CAF scheduler); 0: one per CPU the process may run on (its "
        "affinity mask: taskset, a container's cpuset).");
  t.add(AMQ_KEY(runtime.write_through), bool_codec{}, {},
        "Plain TCP: when a session's bytes find its connection with nothing queued or being "
        "written, the actor thread writes them to the socket itself (one non-blocking send) "
        "instead of handing them to the I/O thread. Saves two thread switches per message at "
        "low and fixed rates; under load writes still gather. false: every write is the I/O "
        "thread's. TLS connections always write from the I/O thread.");
  t.add(AMQ_KEY(runtime.write_gather_us), uint_in<uint32_t>(0, 100000), {},
        "With runtime.io_threads 0 and runtime.write_through: what the actors on one worker "
        "write through is gathered and leaves in one burst of sends when the worker runs out "
        "of jobs and ready reads, or once the oldest has waited this many microseconds "
        "(checked between actor jobs). A client woken once per burst instead of once per "
        "write costs the broker less CPU per message (docs/architecture.md, \"Write-through\"). "
        "0: every write-through leaves at once.");
  t.add(AMQ_KEY(runtime.io_poll_us), uint_in<uint32_t>(1, 1000000), {},
        "With runtime.io_threads 0: a worker that keeps running actor jobs reads its "
        "connections (without blocking) after at most this many microseconds of them. Lower: "
        "new input waits less behind a long burst of work; higher: a burst (a fan-out's "
        "deliveries) finishes before newer input is read. The period starts when the worker "
        "wakes for input, so the input that woke it gets its whole period.");
  t.add(AMQ_KEY(runtime.session_affinity), bool_codec{}, {},
        "With runtime.io_threads 0: a session actor runs on the worker that runs its "
        "connection's event loop (connections are spread over the workers round-robin), so a "
        "fan-out's deliveries and their sends spread over the workers that own the subscribers' "
        "connections, and a session's work stays on its socket's core. An idle worker still "
        "steals queued sessions from a busy one. false: an actor runs on the worker of whoever "
        "sent it its message (the whole path of a message on one worker unless stolen).");
  t.add(AMQ_KEY(runtime.direct_turns), bool_codec{}, {},
        "With runtime.io_threads 0: a session that is idle on the worker reading its "
        "connection, or routing a message to it, handles that input at once in the worker's "
        "handler instead of as an actor message (docs/architecture.md, \"Direct turns\"; "
        "counted by actormq_direct_turns_total); a fan-out's deliveries then leave depth "
        "first. false: every input is an actor message, as before this existed (a way back "
        "if it misbehaves, and for comparisons).");
  t.add(AMQ_KEY(runtime.pin_workers), bool_codec{}, {},
        "With runtime.io_threads 0: worker i runs on the i-th CPU the process may use "
        "(its affinity mask, e.g. from taskset), so a worker woken by another for its "
        "sessions' deliveries runs on its own core instead of queueing behind the waker on "
        "the waker's core. Applied only when there are at least as many CPUs as workers "
        "(logged either way). false: the kernel places the workers (better on a machine "
        "shared with other busy programs, where a pinned worker cannot move off a busy core).");
  t.add(AMQ_KEY(runtime.arrival_order), bool_codec{}, {},
        "A SUBSCRIBE and other clients' PUBLISHes are ordered by when they reached the "
        "machine (the kernel's receive timestamp of each read, SO_TIMESTAMPNS), not by when a "
        "worker got to read them: a message that arrived after a SUBSCRIBE but was routed "
        "before it was read is given to the new subscription (docs/sessions.md, \"Arrival "
        "order\"; counted by actormq_arrival_order_total). The router keeps the last 1,024 "
        "messages (at most 1 MiB) for this. false: no timestamps, no window; a client that "
        "publishes right after another's SUBSCRIBE, without waiting for its SUBACK, may miss "
        "it now and then (MQTT promises the subscription from the SUBACK on).");
  t.add(AMQ_KEY(runtime.worker_moderate_polls), uint_in<uint32_t>(0, 100000), {},
        "With runtime.io_threads >= 1 (CAF's own scheduler): "
        "how an idle actor worker waits (CAF work-stealing moderate-poll-attempts): after a short "
        "spin it polls this many times with a 50 us sleep each, then blocks until woken. 0: "
        "block right after the spin, so a message reaching an idle worker runs at once; CAF's "
        "own default, 500, spends up to 25 ms in such sleeps, which add tens of microseconds "
        "to each message at low and fixed rates and wake the core every 50 us.");

  // log
  t.add(AMQ_KEY(log.level), detail::log_level_codec(), {},
        "Lowest severity written to the log.");
  t.add(AMQ_KEY(log.format), detail::log_format_codec(), {},
        "text: one human-readable line per event; json: one JSON object per line.");
  t.add(AMQ_KEY(log.file), any_string(), {},
        "File the log is appended to, created with its directory if missing; empty: standard "
        "error.");
  return std::move(t.out);
}

#undef AMQ_KEY

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j)
    row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

} // namespace

std::string option_descriptor::generic_env() const {
  std::string out = "ACTORMQ_";
  for (char c : key) {
    if (c == '.')
      out += "__";
    else
      out += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return out;
}

std::vector<std::string> option_descriptor::env_names() const {
  auto out = tbmq_env;
  out.push_back(generic_env());
  return out;
}

const std::vector<option_descriptor>& options() {
  static const auto table = make_options();
  return table;
}

const std::vector<section_descriptor>& sections() {
  static const std::vector<section_descriptor> table{
    {"listeners", "Network listeners that accept MQTT clients."},
    {"admin", "Admin HTTP server: the REST API (docs/admin-api.md), the Sessions page (/) and "
                "/metrics, on its own port. Every API call needs admin.token or "
                "admin.username/admin.password unless admin.auth_disabled."},
    {"sys", "Broker status topics ($SYS/broker/...), published through the router as retained "
            "messages (docs/metrics.md). Prometheus metrics are served by the admin server at "
            "GET /metrics."},
    {"limits", "Protocol limits, flow control and back-pressure."},
    {"session", "Session persistence and client types (DEVICE / APPLICATION)."},
    {"auth", "Client authentication at CONNECT (docs/security.md): anonymous clients and a "
             "mosquitto_passwd password file."},
    {"acl", "Authorization. Minimal for now: a list of topic filters the broker refuses to "
            "subscribe anyone to; everything else is allowed."},
    {"storage", "Storage backend per role, and backend connection settings. sessions and "
                  "retained: embedded (RocksDB under data_dir, the default) or memory; "
                  "device_queue: embedded or redis (docs/sessions.md); application_queue: "
                  "embedded or kafka."},
    {"cluster", "Cluster membership. Not used yet: actormq runs as a single node for now."},
    {"runtime", "Thread pools."},
    {"log", "Broker log."},
  };
  return table;
}

const option_descriptor* find_option(std::string_view key) {
  for (const auto& opt : options())
    if (opt.key == key)
      return &opt;
  return nullptr;
}

std::optional<std::string> set_option(broker_config& cfg, std::string_view key,
                                      std::string_view text) {
  const auto* opt = find_option(key);
  if (opt == nullptr) {
    auto msg = std::string{key} + ": unknown key";
    if (auto hint = closest_key(key); !hint.empty())
      msg += " (did you mean " + hint + "?)";
    return msg;
  }
  if (auto err = opt->codec->from_text(cfg, text))
    return opt->key + ": " + *err;
  return std::nullopt;
}

std::string option_text(const broker_config& cfg, const option_descriptor& opt) {
  return opt.codec->to_text(cfg);
}

std::string closest_key(std::string_view key) {
  std::string best;
  size_t best_distance = std::max<size_t>(2, key.size() / 4) + 1;
  auto consider = [&](std::string_view candidate) {
    auto d = edit_distance(key, candidate);
    if (d < best_distance) {
      best_distance = d;
      best = std::string{candidate};
    }
  };
  for (const auto& opt : options()) {
    // Sections and sub-sections ("storage", "storage.redis") are candidates too.
    for (auto dot = opt.key.find('.'); dot != std::string::npos; dot = opt.key.find('.', dot + 1))
      consider(std::string_view{opt.key}.substr(0, dot));
    consider(opt.key);
  }
  return best;
}

} // namespace amq::config
