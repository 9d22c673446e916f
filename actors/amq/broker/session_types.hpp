#pragma once
/// Value types shared by the session state machine, the session actor and
/// the router: limits, deliveries, queued messages, effects, counters.

#include "amq/protocol/message.hpp"
#include "amq/protocol/packets/subscribe.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace amq::broker {

using session_id = uint64_t;

/// Topic authorization for one client (auth.acl_file; amq/auth/acl_file.hpp implements it).
/// Immutable and shared: the session machine checks PUBLISH (and the will) and SUBSCRIBE
/// against it, the router checks each message before it goes to the session.
class topic_access {
public:
  virtual ~topic_access() = default;
  virtual bool may_publish(std::string_view topic) const = 0;
  virtual bool may_receive(std::string_view topic) const = 0;
  virtual bool may_subscribe(std::string_view filter) const = 0;
};

/// Which session model applies to MQTT 5.0 Clean Start 0 + Session Expiry
/// 0/absent (docs/sessions.md).
enum class persistence_rule : uint8_t {
  /// The seed's table: such a session is persistent.
  seed,
  /// MQTT 5.0 §3.1.2.11.2: the session ends when the connection closes.
  strict,
};

/// Limits and server capabilities a session enforces, taken from the
/// validated broker configuration.
struct session_limits {
  uint32_t max_packet_size = 1024 * 1024;   ///< inbound, whole packet
  uint16_t receive_maximum = 65535;         ///< inbound QoS 1/2 in flight
  uint16_t max_inflight = 1000;             ///< outbound cap (≤ client's Receive Maximum)
  size_t max_queued_online = 10000;         ///< queue beyond in-flight while connected
  /// Persistent session queue while offline (DEVICE sessions, and sessions
  /// whose type is not known; see `application`).
  size_t max_queued_offline = 10000;
  /// The same for APPLICATION sessions; 0: no count limit (their queue is a
  /// Kafka topic, bounded by its retention).
  size_t max_queued_offline_application = 10000;
  /// QoS 0 deliveries are dropped (counted) for a connected session whose
  /// queue already holds this many messages: a subscriber that cannot keep
  /// up does not buffer QoS 0 without bound (limits.max_queued_qos0_messages).
  size_t max_queued_qos0 = 10000;
  /// Durable (stored) queue entries a session keeps in memory before it goes
  /// cold (session.offline_queue_memory, docs/sessions.md "Cold sessions").
  uint32_t queue_memory = 1000;
  /// Largest page read from the store at once (session.offline_queue_page).
  uint32_t queue_page = 256;
  uint16_t topic_alias_maximum = 10;        ///< inbound aliases we accept
  /// Longest keep alive accepted (5.0: a larger or 0 value is replaced by
  /// this one and announced as Server Keep Alive). 0: accept any.
  uint16_t server_keep_alive = 0;
  uint32_t max_session_expiry = UINT32_MAX; ///< cap on Session Expiry Interval
  /// Expiry used instead of "never" (3.1.1 Clean Session 0, 5.0 0xFFFFFFFF,
  /// the seed's Clean Start 0 + expiry 0); 0 = never expire.
  uint32_t no_expiry_ttl = 0;
  /// Offline queue overflow: drop the newest (true) or the oldest (false).
  bool offline_drop_newest = false;
  /// limits.slow_persistent_consumer: hold (true) or overflow (false). With
  /// overflow, a connected persistent session the router marked slow
  /// (`session_machine::set_slow`) drops at its stored queue's limit.
  bool hold_slow_persistent = false;
  /// limits.slow_consumer_timeout_ms: how long the router defers publishers'
  /// acks for one subscriber before it marks it slow (router.hpp).
  std::chrono::milliseconds slow_consumer_timeout{2000};
  /// Which offline limit applies: set on the shared copy a machine points
  /// to (session_machine::set_application), so picking the limit by client
  /// type costs no memory per session.
  bool application = false;
  /// Longest an offline-queued message without Message Expiry is kept
  /// (0: until delivered or evicted).
  std::chrono::seconds offline_message_ttl{0};
  uint16_t max_topic_levels = 0; ///< 0: no limit
  uint16_t max_client_id_length = 65535;
  persistence_rule rule = persistence_rule::seed;
  /// Topic filters refused in SUBSCRIBE (acl.deny_subscribe).
  std::vector<std::string> deny_subscribe;
  std::chrono::milliseconds connect_timeout{10'000};

  bool operator==(const session_limits&) const = default;
};

/// One message routed to one session, with the options of the matching
/// subscription(s).
struct routed_message {
  protocol::message_ptr msg;
  /// Position in the session's durable queue (0: not persisted). Its
  /// outbound packet id is `storage::packet_id_for(seq)`.
  uint64_t seq = 0;
  protocol::qos max_qos = protocol::qos::at_most_once; ///< granted QoS of the subscription
  bool retain = false;                 ///< RETAIN flag to send (already decided by the router)
  std::vector<uint32_t> subscription_ids;
};

/// A message waiting for routed_message (queued or in flight).
struct queued_message {
  protocol::message_ptr msg;
  uint64_t seq = 0; ///< durable queue position, 0 = not persisted
  bool dup = false; ///< may have been sent before (restored after a restart)
  /// QoS 2 stored entry whose PUBREC was received and whose "released" mark
  /// is (being) stored: it is resent as PUBREL, and its mark is erased with
  /// it (`effects::unmark_seqs`).
  bool released = false;
  protocol::qos q = protocol::qos::at_most_once; ///< effective QoS
  bool retain = false;
  std::vector<uint32_t> subscription_ids;
  /// Queued offline with a TTL (session.device_persisted_messages_ttl).
  std::optional<std::chrono::steady_clock::time_point> ttl_deadline;
};

/// A subscription as the session remembers it.
struct subscription_entry {
  protocol::qos max_qos = protocol::qos::at_most_once;
  bool no_local = false;
  bool retain_as_published = false;
  protocol::retain_handling handling = protocol::retain_handling::send_on_subscribe;
  uint32_t subscription_id = 0;
  friend bool operator==(const subscription_entry&, const subscription_entry&) = default;
};

/// Will message kept by the session until it is published or discarded.
struct will_state {
  protocol::message_ptr msg;
  uint32_t delay = 0; ///< Will Delay Interval, seconds
};

/// A subscription change for the router.
struct subscribe_request {
  std::string filter;
  subscription_entry options;
  bool is_new = true; ///< for Retain Handling 1
  bool restored = false; ///< re-registered after a restart: no retained delivery
  /// When the SUBSCRIBE arrived (the kernel's receive time of its read, CLOCK_REALTIME ns; 0:
  /// unknown). The router delivers to the new subscription what other clients published after
  /// it arrived but was routed before it was read (amq/actors/router.hpp, "Arrival order").
  int64_t arrival = 0;
};

/// A cold session asks for the next page of its stored queue: entries with
/// seq >= `from_seq`, at most `limit`. The answer goes to
/// `session_machine::on_page(token, ...)`.
struct page_request {
  uint64_t token = 0; ///< 0: no request
  uint64_t from_seq = 0;
  uint32_t limit = 0;
};

/// The inbound QoS 2 ids and "released" marks one input asked to store or
/// erase (`effects::store_qos2_in`, `mark_seqs`, `erase_qos2_in`), closed by
/// `session_machine::commit_durable`. The actor writes all of it as ONE
/// storage batch and answers with `session_machine::on_durable(token, ok)`;
/// the PUBRECs, PUBRELs and PUBCOMPs waiting for it go out then, in order.
struct durable_batch {
  uint32_t token = 0; ///< never 0 for a batch the machine waits for
  std::vector<uint16_t> store_qos2_in;
  std::vector<uint64_t> mark_seqs;
  std::vector<uint16_t> erase_qos2_in;

  bool empty() const noexcept {
    return store_qos2_in.empty() && mark_seqs.empty() && erase_qos2_in.empty();
  }
};

/// What auth.acl_file refused a client in one input: logged by the actor (rate-limited),
/// counted by the machine (actormq_acl_denied_total).
struct access_denial {
  enum class kind : uint8_t {
    publish,   ///< a PUBLISH not forwarded
    will,      ///< a will not published (an ACL reloaded since CONNECT took the topic away)
    subscribe, ///< a filter refused in the SUBACK
    receive,   ///< a message not delivered (or not queued) to this client
  };
  kind what;
  std::string topic; ///< the topic, or the filter for `subscribe`
};

/// Effects produced by one input, carried out by the actor.
struct effects {
  /// Messages to route (publishes, wills), in order. Acks wait for
  /// `on_routed(route_seq)`.
  std::vector<protocol::message_ptr> routes;
  std::vector<subscribe_request> subscribes;
  std::vector<std::string> unsubscribes;
  /// Durable queue entries that are done (acknowledged, dropped, expired).
  std::vector<uint64_t> done_seqs;
  /// QoS 2 entries whose PUBREC arrived: store their "released" mark
  /// (PUBREL goes out only then). With `store_qos2_in` and `erase_qos2_in`
  /// closed into one `durable_batch` by `session_machine::commit_durable`.
  std::vector<uint64_t> mark_seqs;
  /// Entries of `done_seqs` (or dropped from the stored tail) whose mark
  /// must go with them.
  std::vector<uint64_t> unmark_seqs;
  /// Inbound QoS 2 ids to store (persistent session; PUBREC waits for
  /// them) and to erase (PUBREL: PUBCOMP waits for that; a refused
  /// PUBLISH: nothing waits). Answered per input by
  /// `session_machine::on_durable`.
  std::vector<uint16_t> store_qos2_in;
  std::vector<uint16_t> erase_qos2_in;
  /// The session's durable record (subscriptions, expiry, connected state)
  /// changed.
  bool record_changed = false;
  /// The session's state was discarded (Clean Start 1 over an existing
  /// session): its stored queue and record go too.
  bool state_reset = false;
  /// Read the next page of the stored queue (token 0: none).
  page_request page;
  /// Close the connection after writing the output.
  bool close = false;
  /// Reason logged for the close / disconnect.
  protocol::reason_code close_reason = protocol::reason_code::success;
  std::string close_detail;
  /// Refused by auth.acl_file in this input (for the log).
  std::vector<access_denial> denials;

  bool empty() const noexcept {
    return routes.empty() && subscribes.empty() && unsubscribes.empty() && done_seqs.empty()
           && mark_seqs.empty() && unmark_seqs.empty() && store_qos2_in.empty()
           && erase_qos2_in.empty() && !record_changed && !state_reset
           && !close && page.token == 0 && denials.empty();
  }
  void clear() {
    routes.clear();
    subscribes.clear();
    unsubscribes.clear();
    done_seqs.clear();
    mark_seqs.clear();
    unmark_seqs.clear();
    store_qos2_in.clear();
    erase_qos2_in.clear();
    record_changed = false;
    state_reset = false;
    page = {};
    close = false;
    close_reason = protocol::reason_code::success;
    close_detail.clear();
    denials.clear();
  }
};

/// Per-session counters (drops are never silent).
struct session_counters {
  uint64_t messages_in = 0;
  uint64_t messages_out = 0;
  uint64_t dropped_queue_full = 0;
  uint64_t dropped_expired = 0;
  uint64_t dropped_too_large = 0;
  uint64_t dropped_qos0_offline = 0;
  uint64_t duplicate_qos2 = 0;
};

} // namespace amq::broker
