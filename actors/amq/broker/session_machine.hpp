#pragma once
/// The protocol logic of one MQTT client session, as a state machine
/// without I/O: decoded bytes, deliveries, timer ticks and connection
/// closes go in; encoded bytes to write and effects for the router come out.
/// The session actor is a thin adapter around it (see
/// `amq/actors/session.hpp`), which is what makes it testable and fast.
///
/// State owned here (MQTT 5.0 §4.1, the seed's session model):
/// - subscriptions (filter → options),
/// - outbound in-flight QoS 1/2 messages, keyed by packet id,
/// - the outbound queue (messages waiting for a free in-flight slot, or
///   for the client to come back while the session is offline),
/// - inbound QoS 2 receive state (packet ids between PUBREC and PUBREL),
/// - the will message and the session expiry interval.
///
/// Outbound QoS flows (server → client):
///
///     queued ──(window free: assign id, send PUBLISH)──▶ awaiting_puback ──PUBACK──▶ done
///                                                     └▶ awaiting_pubrec ──PUBREC──▶ awaiting_pubcomp
///                                                          (send PUBREL)            ──PUBCOMP─▶ done
///     reconnect: every in-flight entry is resent in order, PUBLISH with DUP=1
///     (or PUBREL for awaiting_pubcomp). Never resent on the same connection.
///
/// A stored QoS 2 entry (seq != 0) takes one more step, so that a restart
/// resends PUBREL and never the message to a client that already has it
/// (docs/sessions.md, "QoS 2 across a restart"):
///
///     awaiting_pubrec ──PUBREC──▶ releasing ──(mark stored: on_durable ok,
///         (fx().mark_seqs: store     │          send PUBREL)──▶ awaiting_pubcomp
///          the "released" mark)      └─(mark failed)──▶ awaiting_pubrec (resent as
///                                                       PUBLISH DUP on reconnect)
///     awaiting_pubcomp ──PUBCOMP──▶ done (fx().done_seqs + unmark_seqs: entry
///                                          and mark erased in one batch)
///     restore/page: an entry read with its mark (queued_message::released)
///         is resent as PUBREL with its packet id and goes to awaiting_pubcomp.
///     reconnect while releasing: nothing is resent; PUBREL follows the mark.
///
/// Inbound QoS flows (client → server), method B of MQTT 5.0 §4.3.3:
///
///     PUBLISH q1 ──route──▶ (router accepted) ──▶ PUBACK
///     PUBLISH q2 ──route──▶ (router accepted) ──▶ PUBREC, id ∈ qos2_in
///         duplicate PUBLISH with id ∈ qos2_in: not routed again, PUBREC resent
///     PUBREL ──▶ id ∉ qos2_in, PUBCOMP
///     persistent session: the id is stored (fx().store_qos2_in) and PUBREC
///         also waits for it; PUBREL erases it (fx().erase_qos2_in) and
///         PUBCOMP waits for that; restore_qos2_in brings the ids back after
///         a restart (docs/sessions.md)
///
/// Durable batches: the ids stored and erased and the "released" marks put
/// while handling one input form one batch (commit_durable), written by the
/// actor as one storage write; on_durable(token) answers all of it, and the
/// PUBRECs, PUBRELs and PUBCOMPs that waited for it go out in order.
///
/// Acknowledgements are sent only after the router accepted the batch the
/// message was in (for persistent offline subscribers that means: stored),
/// and always in the order the PUBLISH packets arrived (MQTT 5.0 §4.6).
///
/// Hot and cold queues (persistent sessions with a store, docs/sessions.md):
///
///     hot ──(a stored entry arrives with limits.queue_memory entries queued)──▶ cold
///     cold ──(page read reaches the last stored seq)──▶ hot
///     restore after a restart ──▶ cold (nothing read yet)
///
/// A hot session holds its whole queue in memory (the store holds a copy of
/// every QoS 1/2 entry, written by the router before delivery). A cold one
/// holds the first part of its queue in memory and only the range
/// [next_seq, last_seq] of the rest: new stored deliveries just advance
/// last_seq (their payload is not kept). While a client is connected and
/// fewer than one page is queued in memory, the machine asks for the next
/// page (`fx().page`: from next_seq, at most min(queue_page, in-flight
/// window) entries); `on_page` appends what the store returned. Entries the
/// store no longer has (dropped, expired) are simply skipped. In-flight
/// entries stay in memory across connections, so order and the
/// resend-with-DUP rule are the same hot or cold.

#include "amq/broker/lazy_box.hpp"
#include "amq/broker/lazy_deque.hpp"
#include "amq/broker/packet_id_map.hpp"
#include "amq/broker/seq_map.hpp"
#include "amq/broker/session_types.hpp"
#include "amq/broker/shared_string.hpp"
#include "amq/broker/subscription_set.hpp"
#include "amq/protocol/framer.hpp"
#include "amq/protocol/message.hpp"
#include "amq/protocol/packet.hpp"

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace amq::broker {

class session_machine {
public:
  using clock = std::chrono::steady_clock;
  using time_point = clock::time_point;

  /// Machines created with equal limits share one copy of them (the
  /// broker's sessions all have the same limits; see `limits_`). The
  /// client id is shared, not copied: the registry's key and the router's
  /// entry hold the same block (amq/broker/shared_string.hpp).
  session_machine(shared_string client_id, const session_limits& limits);
  /// The same with a client id of its own (tests).
  session_machine(std::string_view client_id, const session_limits& limits)
    : session_machine(shared_string{client_id}, limits) {
  }

  // -- inputs -----------------------------------------------------------------

  /// A connection attaches with its CONNECT. Writes the CONNACK (and, for a
  /// resumed session, the resends) into the output. `existed` says whether
  /// this machine held a session from before (for Session Present).
  /// Returns false if the CONNECT is refused (CONNACK with error written,
  /// close requested).
  bool on_connect(const protocol::connect& c, time_point now);

  /// Bytes read from the attached connection.
  void on_bytes(std::span<const uint8_t> bytes, time_point now);

  /// The attached connection closed (EOF, error, or we closed it).
  void on_connection_closed(time_point now);

  /// The session is taken over by a new connection: the current one gets
  /// DISCONNECT 0x8E (5.0) and is closed. The will is handled as for an
  /// unexpected close.
  void on_takeover(time_point now);

  /// The router accepted every route batch up to and including `seq`.
  void on_routed(uint64_t seq, time_point now);

  /// The router refused batch `seq` (e.g. storage unavailable): QoS 1/2
  /// publishers get the reason code (5.0) instead of a success ack.
  void on_route_failed(uint64_t seq, protocol::reason_code rc, time_point now);

  /// A message for this session from the router.
  void on_deliver(routed_message d, time_point now);

  /// Timer tick: keep-alive, will delay, session expiry.
  void on_timer(time_point now);

  /// Restores a persistent session after a restart: offline, with its
  /// subscriptions and its durable queue (sent with DUP=1 on reconnect, as
  /// they may have been in flight). `expires_at` is when it ends unless the
  /// client returns (nullopt: never).
  void restore(protocol::protocol_version v, uint32_t session_expiry,
               std::optional<time_point> expires_at,
               std::vector<std::pair<std::string, subscription_entry>> subs,
               std::deque<queued_message> queue);

  /// The session's client type: an APPLICATION session's offline queue is
  /// bounded by `max_queued_offline_application` (0: no count limit), a
  /// DEVICE session's by `max_queued_offline`. Switches the shared limits
  /// pointer; no per-session memory.
  void set_application(bool application);

  /// Restores a persistent session cold: its stored queue holds entries
  /// in [first_seq, last_seq] (about `depth` of them) and none is read
  /// until the client is back. Entries up to `last_seq` are sent with
  /// DUP=1 (they may have been in flight before the restart).
  void restore_cold(protocol::protocol_version v, uint32_t session_expiry,
                    std::optional<time_point> expires_at,
                    std::vector<std::pair<std::string, subscription_entry>> subs,
                    uint64_t first_seq, uint64_t last_seq, uint64_t depth);

  /// The answer to page request `token`: stored entries in seq order
  /// (fewer than asked: the store had no more at the time of the read).
  /// Stale answers (session reset, ended, or back to hot) are ignored.
  void on_page(uint64_t token, std::vector<queued_message> entries, time_point now);

  /// Page request `token` failed: it is asked again by the next input that
  /// needs it (the actor retries after a delay).
  void on_page_failed(uint64_t token, time_point now);

  /// Closes the durable batch of this input: moves `fx().store_qos2_in`,
  /// `mark_seqs` and `erase_qos2_in` into a new batch with its own token and
  /// returns it (valid until the next call into the machine), or nullptr if
  /// the input asked for none of them. The caller writes the whole batch as
  /// one storage write and answers with `on_durable(token, ok)`. Call once
  /// per input, after it.
  const durable_batch* commit_durable();

  /// Durable batch `token` was written (`ok`) or not: answers each of its
  /// ids and marks as the three functions below do, then sends the acks
  /// that waited for it, in order. Unknown tokens are ignored.
  void on_durable(uint32_t token, bool ok, time_point now);

  /// The outstanding durable batch `token`, or nullptr (for logs).
  const durable_batch* find_durable(uint32_t token) const noexcept;

  /// The "released" mark of entry `seq` (asked for in `fx().mark_seqs`) is
  /// stored (`ok`): PUBREL goes out now (or on reconnect). Not stored: the
  /// entry waits for PUBREC again (it is resent as PUBLISH with DUP=1 on
  /// the next connection). Stale answers are ignored.
  void on_mark_stored(uint64_t seq, bool ok, time_point now);

  /// The inbound QoS 2 id `packet_id` (asked for in `fx().store_qos2_in`)
  /// was written (`ok`) or not: its PUBREC goes out once its routes are
  /// accepted too. Not stored: PUBREC goes out anyway (storage is failing;
  /// only a crash before PUBREL could then route a resent PUBLISH again).
  /// Stale answers are ignored.
  void on_qos2_in_stored(uint16_t packet_id, bool ok, time_point now);

  /// The erase of inbound QoS 2 id `packet_id` (PUBREL received, asked for
  /// in `fx().erase_qos2_in`) is written (`ok`) or not: PUBCOMP goes out
  /// now (not stored: anyway; the actor logs it). Stale answers are ignored.
  void on_qos2_in_erased(uint16_t packet_id, bool ok, time_point now);

  /// After `restore`/`restore_cold`: the inbound QoS 2 ids stored before
  /// the restart (PUBREC sent or about to be, PUBREL not yet received). A
  /// PUBLISH with one of them is a duplicate: PUBREC again, not routed.
  void restore_qos2_in(const std::vector<uint16_t>& ids);

  /// Administrative disconnect (0x98) or server shutdown (0x8B).
  void on_server_disconnect(protocol::reason_code rc, time_point now);

  /// Admin API "clear": disconnects (0x98) if connected and ends the session
  /// at once, discarding its will, subscriptions and queue.
  void on_admin_clear(time_point now);

  /// The connection's write queue went above (false) or back below (true)
  /// its high watermark. While not writable, deliveries are queued.
  void set_writable(bool writable, time_point now);

  /// The router marked this session a slow consumer (true: it kept a
  /// publisher waiting for limits.slow_consumer_timeout_ms) or found it
  /// caught up (false). Only a connected persistent session with stored
  /// entries takes it (limits.slow_persistent_consumer: overflow; a clean
  /// session's queue is bounded anyway): while marked, its stored queue's
  /// limit (offline_limit()) and overflow policy apply as while offline —
  /// the excess is dropped now (drop_oldest), counted — and all of its queue
  /// counts as backlog. Unmarked while still above the point where the
  /// router would hold its publishers again, it stays marked until it is
  /// below it. docs/sessions.md "Slow consumers".
  void set_slow(bool slow);
  /// True while marked slow (set_slow).
  bool slow() const noexcept { return slow_ != not_slow; }

  // -- outputs ----------------------------------------------------------------

  /// Bytes to write to the connection (appended to by every input).
  std::vector<uint8_t>& output() noexcept { return out_; }

  /// Effects for the actor to carry out after each input.
  effects& fx() {
    if (!fx_)
      fx_ = acquire_effects();
    return *fx_;
  }

  /// Hands the effects object (emptied by the caller) back to this thread's
  /// spare, so that a session between inputs holds none: effects are only
  /// ever non-empty during one input and the actor's `after_input`.
  void recycle_effects() noexcept;

  /// Closes the batch of `fx().routes` produced so far and returns its
  /// sequence number, to be passed back to `on_routed` / `on_route_failed`.
  /// Call once per non-empty batch.
  uint64_t commit_routes() noexcept;

  /// Earliest time `on_timer` must be called, if any.
  std::optional<time_point> next_deadline() const noexcept;

  // -- state inspection -------------------------------------------------------

  /// Reads as a std::string_view; copy it to share the id (registry, router).
  const shared_string& client_id() const noexcept { return client_id_; }

  /// The client's topic authorization (auth.acl_file), or null: every topic open. Set before
  /// `on_connect` (the will is checked there) and again when the ACL is reloaded.
  void set_access(std::shared_ptr<const topic_access> access) noexcept { access_ = std::move(access); }
  const std::shared_ptr<const topic_access>& access() const noexcept { return access_; }
  bool connected() const noexcept { return connected_; }
  bool persistent() const noexcept { return persistent_; }
  /// True once the session is over (clean session disconnected, expired):
  /// the actor removes its subscriptions and terminates.
  bool finished() const noexcept { return finished_; }
  protocol::protocol_version version() const noexcept { return version_; }
  /// Filter → options (amq/broker/subscription_set.hpp; unordered).
  const subscription_set& subscriptions() const noexcept { return subs_; }
  size_t inflight_count() const noexcept { return inflight_.size(); }
  uint16_t keep_alive() const noexcept { return keep_alive_; }
  /// Queued messages held in memory (not the stored tail of a cold session).
  size_t queued_count() const noexcept { return queue_.size(); }
  /// True while part of the queue lives only in the store.
  bool cold() const noexcept { return cold_ != nullptr; }
  /// Entries of the stored tail of a cold session (an upper bound when the
  /// store dropped some the session has not read yet); 0 when hot.
  uint64_t stored_backlog() const noexcept { return cold_ ? cold_->count : 0; }
  /// Messages waiting for the client: in flight, queued in memory, stored tail.
  uint64_t queue_depth() const noexcept {
    return inflight_.size() + queue_.size() + stored_backlog();
  }
  size_t qos2_in_count() const noexcept { return qos2_in_.size(); }
  const session_counters& counters() const noexcept { return counters_.view(); }
  uint32_t session_expiry() const noexcept { return session_expiry_; }
  /// Offline TTL of a queued message without Message Expiry (0: none); an
  /// entry read back from the store gets its stored time + this.
  std::chrono::seconds offline_ttl() const noexcept { return limits_->offline_message_ttl; }

  /// Deliveries taken off this session's backlog: every `on_deliver` call
  /// minus what waits in the queue while connected. The router compares it
  /// with what it sent to pace publishers (flow control). While offline the
  /// queue does not count: it has its own limit and overflow policy.
  /// A connected persistent session whose queue is stored does not count its
  /// queue either (it goes cold instead of growing in memory), except the
  /// part above its stored queue's limit less a headroom (hold_mark()): the
  /// router then holds its publishers, for at most
  /// limits.slow_consumer_timeout_ms unless limits.slow_persistent_consumer
  /// is hold (docs/sessions.md "Slow consumers"). While marked slow
  /// (set_slow) all of its queue counts.
  int64_t progress() const noexcept;

private:
  struct inflight_entry {
    enum state_t : uint8_t { awaiting_puback, awaiting_pubrec, releasing, awaiting_pubcomp };
    uint16_t packet_id;
    state_t state;
    queued_message qm;
  };

  /// The stored tail of a cold session (allocated only while cold).
  struct cold_queue {
    uint64_t next_seq = 0;  ///< first seq not in memory
    uint64_t last_seq = 0;  ///< highest seq known to be stored
    uint64_t count = 0;     ///< entries in [next_seq, last_seq] (upper bound)
    uint64_t dup_until = 0; ///< entries up to here may have been sent before a restart
    uint64_t token = 0;     ///< outstanding page request (its first seq), 0: none
    uint64_t asked_last = 0; ///< last_seq when that request was made
    uint32_t asked_limit = 0;
  };

  struct pending_ack {
    uint64_t seq;
    uint16_t packet_id;
    protocol::qos q;
    bool routed; ///< the router accepted batch `seq` (a QoS 2 ack may still wait for its id)
    protocol::reason_code code = protocol::reason_code::success; ///< MQTT 5: 0x87 when refused
  };

  /// CONNACK with `rc` and close (on_connect's refusals); returns false.
  bool refuse_connect(protocol::reason_code rc, const char* detail);

  // packet handlers
  void handle(protocol::publish& p, time_point now);
  void handle(const protocol::puback& p, time_point now);
  void handle(const protocol::pubrec& p, time_point now);
  void handle(const protocol::pubrel& p, time_point now);
  void handle(const protocol::pubcomp& p, time_point now);
  /// Sends the acks at the front of `pending_acks_` whose batch is routed
  /// (and, for QoS 2, whose id is stored), in order.
  void flush_acks();
  /// `on_qos2_in_stored` without sending the acks.
  void qos2_in_stored(uint16_t packet_id);
  void handle(const protocol::subscribe& p, time_point now);
  void handle(const protocol::unsubscribe& p, time_point now);
  void handle(const protocol::disconnect& p, time_point now);

  // helpers
  template <class Packet>
  void write(const Packet& p) {
    protocol::encode(p, version_, out_);
  }
  /// Closes the connection for a protocol error; in 5.0 a DISCONNECT with
  /// `rc` goes first unless `send_disconnect` is false.
  void protocol_violation(protocol::reason_code rc, std::string_view why,
                          bool send_disconnect = true);
  void close_connection(bool publish_will, time_point now);
  void connection_gone(bool publish_will, time_point now);
  void end_session(time_point now);
  void reset_state();
  bool send_now(queued_message& qm, uint16_t packet_id, bool dup, time_point now);
  void pump(time_point now);
  uint16_t next_packet_id();
  void enqueue(queued_message qm);
  size_t offline_limit() const noexcept;
  /// Queue length (memory + stored tail) above which a connected persistent
  /// session counts the rest as backlog (the router holds its publishers):
  /// offline_limit() less a headroom for the route batches on their way.
  size_t hold_mark() const noexcept;
  /// Drops the oldest queued entry (memory front, else the stored tail's
  /// first), counted by the caller.
  void drop_oldest();
  /// Cold: asks for the next page when connected and less than one page is
  /// queued in memory; goes hot when the stored tail is empty.
  void want_page();
  uint32_t page_limit() const noexcept;
  void entry_done(const queued_message& qm);
  void publish_will(time_point now);
  void flush_acks(time_point now);
  uint32_t effective_expiry(const protocol::connect& c) const;

  /// Shared with the registry's key and the router's entry (8 bytes; the
  /// characters are in one block per session, docs/performance.md session 15).
  shared_string client_id_;
  /// Shared, read-only (16 bytes instead of a ~100-byte copy per session).
  std::shared_ptr<const session_limits> limits_;
  std::shared_ptr<const topic_access> access_; ///< null: no ACL
  protocol::framer framer_;

  // The small members sit together: padding is per session
  // (docs/performance.md "Idle connections").
  protocol::protocol_version version_ = protocol::protocol_version::v5;
  bool connected_ = false;
  bool writable_ = true;
  bool persistent_ = false;
  bool finished_ = false;
  bool existed_ = false; ///< held state from an earlier connection

  // connection-scoped (reset on every CONNECT)
  uint16_t keep_alive_ = 0;
  time_point last_rx_{};
  uint16_t client_receive_max_ = 65535;
  bool request_problem_info_ = true;
  /// Slow consumer (set_slow): not_slow, slow_marked, or slow_leaving (the
  /// router unmarked it while its queue was still near its limit). Cleared
  /// when the connection goes.
  static constexpr uint8_t not_slow = 0, slow_marked = 1, slow_leaving = 2;
  uint8_t slow_ = not_slow;
  uint32_t client_max_packet_ = 0; ///< 0 = no limit
  lazy_box<std::unordered_map<uint16_t, std::string>> topic_aliases_;
  /// Outbound (server to client) topic aliases, 5.0 §3.3.2.3.4: at most the
  /// client's Topic Alias Maximum (absent or 0: none, [MQTT-3.1.2-27]).
  uint16_t client_topic_alias_max_ = 0;
  uint16_t last_packet_id_ = 0;
  uint32_t durable_token_ = 0; ///< last durable batch token (in the padding here)
  lazy_box<std::map<std::string, uint16_t, std::less<>>> out_aliases_;
  uint32_t inbound_unacked_ = 0; ///< QoS 1/2 publishes not yet fully acked

  // session-scoped
  uint32_t session_expiry_ = 0; ///< seconds; UINT32_MAX = never
  std::optional<time_point> expires_at_;
  /// The will and when it is due; null: none (8 bytes for the many
  /// sessions without one, docs/performance.md "Idle connections").
  struct pending_will : will_state {
    /// The will's Message Expiry Interval: its lifetime counts from the moment
    /// the will is published, not from CONNECT (MQTT 5.0 §3.1.3.2.4).
    std::optional<uint32_t> expiry;
    std::optional<time_point> at; ///< delayed will: when it is published
  };
  std::unique_ptr<pending_will> will_;
  subscription_set subs_; ///< 8 bytes; one malloc chunk for a few filters
  lazy_box<seq_map<inflight_entry>> inflight_; ///< send order → entry (amq/broker/seq_map.hpp)
  lazy_box<packet_id_map> inflight_ids_;
  uint64_t send_seq_ = 0;
  lazy_deque<queued_message> queue_;
  std::unique_ptr<cold_queue> cold_; ///< null: hot (the whole queue is in memory)
  /// Inbound QoS 2 ids between PUBLISH and PUBCOMP -> their state: a
  /// persistent session's id is being stored (PUBREC waits), stored (or
  /// nothing to store), or being erased after PUBREL (PUBCOMP waits).
  static constexpr uint8_t qos2_storing = 0, qos2_stored = 1, qos2_erasing = 2;
  lazy_box<std::unordered_map<uint16_t, uint8_t>> qos2_in_;
  /// Durable batches written and not answered yet (commit_durable).
  lazy_deque<durable_batch> durable_;

  // route bookkeeping
  uint64_t route_seq_ = 0; ///< seq of the batch being filled
  lazy_deque<pending_ack> pending_acks_;

  /// Allocated on the first count (an idle session never counts).
  lazy_value<session_counters> counters_;
  uint64_t deliveries_ = 0;
  std::vector<uint8_t> out_;
  /// Borrowed from a per-thread spare while an input is being handled.
  std::unique_ptr<effects> fx_;
  static std::unique_ptr<effects> acquire_effects();
};

} // namespace amq::broker
