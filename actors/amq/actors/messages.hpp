#pragma once
/// Atoms, message types and the actor interfaces of actormq, in one place.
///
/// CAF 0.17.6 has no `typed_actor_fwd`, and the session, router and registry
/// interfaces refer to each other, so the actors are dynamically typed
/// (`caf::actor`). Their interfaces are documented here instead: a `///`
/// line per role and a `//` line per handler.
///
/// /// SESSION actor: one per client session (amq/actors/session.hpp).
/// // (attach_atom, connection_ptr, connect_frame_ptr, edge_link_ptr)  a connection attaches
/// // (bytes_atom, uint64_t conn_id, byte_chunk) bytes read from connection `conn_id`
/// // (closed_atom, uint64_t conn_id)            that connection closed
/// // (writable_atom, uint64_t conn_id, bool)    write queue crossed its watermark
/// // (deliver_atom, delivery_batch)             messages routed to this session
/// // (routed_atom, uint64_t seq)                router accepted route batch `seq`
/// // (hold_atom, uint64_t seq)                  route batch `seq` (sent without `ack`) waits
/// //                                            for a congested target: a routed_atom follows
/// // (kick_atom, reason_code)                   administrative disconnect / shutdown
/// // (recheck_atom) → bool                      the auth files were reloaded: the session takes
/// //                                            its client's access from the ACL again; a client
/// //                                            whose user name and password no longer pass is
/// //                                            disconnected (0x87 Not authorized)
/// // (tick_atom)                                timer (keep-alive, will delay, expiry)
/// // (slow_atom, bool)                          router marked it a slow consumer / caught up
/// // (shutdown_atom)                            server shutdown: DISCONNECT 0x8B, close, quit
/// // (restore_atom, session_record, uint64_t first_seq, uint64_t last_seq, uint64_t depth)
/// //                                            state loaded from storage at boot (the
/// //                                            queue stays there: restored cold)
/// // (flush_atom)                               write what the last messages produced
/// // (info_atom) → std::vector<admin::subscription_view>     admin API: its subscriptions
/// // (clear_atom, bool force) → uint8_t admin::op_result   admin API: end now, erase stored state
///
/// /// ROUTER actor: topic tree, shared groups, retained messages (amq/actors/router.hpp).
/// // (subscribe_atom, session_id, caf::actor, subscribe_request)
/// // (unsubscribe_atom, session_id, std::string filter)
/// // (online_atom, session_id, bool)            for shared-group balancing
/// // (route_atom, route_batch)  → sender gets (routed_atom, seq); for a batch without
/// //                            `ack` only if it waits ((hold_atom, seq) first)
/// // (remove_atom, session_id)                  session is gone
/// // (remove_atom, session_id, bool) → bool     session is gone; its stored queue is
/// //                                            erased after the router's appends to it
/// // (retained_atom, std::string prefix, std::string after, uint64_t limit)
/// //   → admin::retained_list                   admin API: retained messages in topic order
/// // (clear_atom, std::string topic) → bool     admin API: delete a retained message (durably)
/// // (progress_atom, session_id, int64_t)        deliveries the session has taken off its
/// //                                            backlog (see router.hpp, flow control)
///
/// // (register_atom, session_id, caf::actor, broker::shared_string client_id, bool persistent,
/// //  uint64_t last_seq)                       a session's identity and persistence (a local
/// //                                            session not calling it directly: the entry
/// //                                            shares the session's client id block)
/// // (register_atom, session_id, caf::actor, std::string client_id, bool persistent,
/// //  uint64_t last_seq)                       the same from another node's session
/// // (restore_atom, std::vector<message_ptr>)  retained messages loaded at boot
/// // (persisted_atom, uint64_t token, bool ok)  the storage committed a batch
///
/// /// STORAGE actor: applies write batches with group commit (amq/actors/storage_actor.hpp).
/// // (persist_atom, storage::write_batch, uint64_t token)  token != 0: reply persisted_atom
/// // (commit_atom)                              self: apply everything pending
/// // (maintain_atom)                            self, 50 ms after a commit: the store's
/// //                                            work between batches (store::maintain)
/// // (read_atom, std::string client_id, uint64_t from_seq, uint32_t limit)
/// //   → std::vector<queued_entry>              a page of a stored queue (as committed)
///
/// /// REGISTRY actor: client id → session actor; takeover (amq/actors/registry.hpp).
/// // (connect_atom, connection_ptr, connect_frame_ptr, edge_link_ptr)
/// // (kick_atom, std::string client_id, reason_code)
/// // (recheck_atom) → size_t                    the auth files were reloaded: every session
/// //                                            re-checks its client; answered once all have
/// //                                            (the number of sessions asked)
/// // (info_atom, std::string client_id) → std::vector<admin::subscription_view>  (admin API;
/// //                                            delegated to the session)
/// // (clear_atom, std::string client_id, bool force) → uint8_t admin::op_result  (admin API:
/// //                                            end the session and erase its stored state)
/// // (count_atom) → size_t sessions
/// // (shutdown_atom) → bool, once every session actor has ended
/// // (restore_atom, session_record, uint64_t first_seq, uint64_t last_seq, uint64_t depth)
/// //                                            a persistent session loaded at boot
/// // (remove_atom, broker::shared_string client_id, session_id)  a session actor it spawned
/// //                                            ended (sent from the session state's
/// //                                            destructor; its sessions are always local)

#include "amq/admin/api.hpp"
#include "amq/broker/session_types.hpp"
#include "amq/broker/shared_string.hpp"
#include "amq/net/connection.hpp"
#include "amq/protocol/packets/connect.hpp"
#include "amq/storage/store.hpp"

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>

#include <boost/container/small_vector.hpp>

#include <atomic>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

namespace amq::actors {

using attach_atom = caf::atom_constant<caf::atom("attach")>;
using bytes_atom = caf::atom_constant<caf::atom("bytes")>;
using closed_atom = caf::atom_constant<caf::atom("closed")>;
using writable_atom = caf::atom_constant<caf::atom("writable")>;
using deliver_atom = caf::atom_constant<caf::atom("deliver")>;
using routed_atom = caf::atom_constant<caf::atom("routed")>;
using kick_atom = caf::atom_constant<caf::atom("kick")>;
using recheck_atom = caf::atom_constant<caf::atom("recheck")>;
using tick_atom = caf::atom_constant<caf::atom("tick")>;
using flush_atom = caf::atom_constant<caf::atom("flush")>;
using subscribe_atom = caf::atom_constant<caf::atom("subscribe")>;
using unsubscribe_atom = caf::atom_constant<caf::atom("unsub")>;
using online_atom = caf::atom_constant<caf::atom("online")>;
using route_atom = caf::atom_constant<caf::atom("route")>;
using remove_atom = caf::atom_constant<caf::atom("remove")>;
using connect_atom = caf::atom_constant<caf::atom("connect")>;
using count_atom = caf::atom_constant<caf::atom("count")>;
using shutdown_atom = caf::atom_constant<caf::atom("shutdown")>;
using progress_atom = caf::atom_constant<caf::atom("progress")>;
using persist_atom = caf::atom_constant<caf::atom("persist")>;
using persisted_atom = caf::atom_constant<caf::atom("persisted")>;
using commit_atom = caf::atom_constant<caf::atom("commit")>;
using maintain_atom = caf::atom_constant<caf::atom("maintain")>;
using register_atom = caf::atom_constant<caf::atom("register")>;
using restore_atom = caf::atom_constant<caf::atom("restore")>;
using slow_atom = caf::atom_constant<caf::atom("slow")>;
using info_atom = caf::atom_constant<caf::atom("info")>;
using clear_atom = caf::atom_constant<caf::atom("clear")>;
using retained_atom = caf::atom_constant<caf::atom("retained")>;
using read_atom = caf::atom_constant<caf::atom("read")>;
using hold_atom = caf::atom_constant<caf::atom("hold")>;

/// A CONNECT packet with the bytes it views (decoded once, at the edge).
struct connect_frame {
  std::vector<uint8_t> bytes; ///< the frame body; never modified after decode
  /// listeners.tls.use_identity_as_username: the client certificate's CN, which
  /// `packet.username` then views instead of the CONNECT's own.
  std::string identity;
  protocol::connect packet;   ///< views into `bytes` (and `identity`)
};
using connect_frame_ptr = std::shared_ptr<const connect_frame>;

/// Bytes read from a connection, handed to its session actor.
struct byte_chunk {
  /// Inline up to 128 bytes (a small PUBLISH or an ack): no allocation besides the message's.
  boost::container::small_vector<uint8_t, 128> data;
  /// When the bytes arrived (net::connection::read_arrival: CLOCK_REALTIME ns, the kernel's
  /// receive time); 0: unknown.
  int64_t arrival = 0;
  byte_chunk() = default;
  explicit byte_chunk(std::span<const uint8_t> bytes, int64_t arrival = 0)
    : data(bytes.begin(), bytes.end()), arrival(arrival) {
  }
  std::span<const uint8_t> view() const noexcept {
    return {data.data(), data.size()};
  }
};

/// Messages to route, from one session, as one batch.
struct route_batch {
  uint64_t seq = 0;
  broker::session_id publisher = 0; ///< 0 = the broker itself (No Local)
  /// False: the publisher needs no (routed_atom, seq) unless the batch waits
  /// (router.hpp, flow control): QoS 0 only, nothing retained, and within
  /// the publisher's window of unacknowledged batches (session.hpp).
  bool ack = true;
  /// When the read that carried the messages arrived (byte_chunk::arrival); 0: unknown (a will,
  /// a message of the broker's), taken as the time it is routed (router.hpp, "Arrival order").
  int64_t arrival = 0;
  /// Inline up to 4 (a read's worth, usually 1): no allocation besides the message's.
  boost::container::small_vector<protocol::message_ptr, 4> messages;
};

/// Messages for one session, as one batch.
struct delivery_batch {
  /// Inline for one (point to point, fan-out: one message per target and route batch).
  boost::container::small_vector<broker::routed_message, 1> items;
  /// The router's flow control needs the session's progress (router.hpp):
  /// the session reports it once its queue runs empty. The router clears it
  /// while its view of the session's backlog is low and nothing waits for
  /// the session, which then reports only every 256 deliveries.
  bool ask_progress = true;
};

/// Shared between a connection's I/O-thread receiver and its session actor:
/// which actor receives the bytes, and read credit (back-pressure toward a
/// client that publishes faster than its session can process).
class edge_link;
using edge_link_ptr = std::shared_ptr<edge_link>;

} // namespace amq::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(amq::net::connection_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(amq::actors::connect_frame_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(amq::actors::edge_link_ptr)
// A client id shared within this process (amq/broker/shared_string.hpp): never to another node.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(amq::broker::shared_string)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(amq::actors::byte_chunk)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(amq::actors::route_batch)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(amq::actors::delivery_batch)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(amq::broker::subscribe_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(amq::protocol::reason_code)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(amq::storage::write_batch)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(amq::storage::session_record)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<amq::storage::queued_entry>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<amq::protocol::message_ptr>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<amq::admin::subscription_view>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(amq::admin::retained_list)
