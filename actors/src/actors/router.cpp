#include "amq/actors/router.hpp"
#include "amq/actors/session.hpp"

#include "amq/log.hpp"
#include "amq/metrics/registry.hpp"
#include "amq/protocol/topic.hpp"

#include <caf/actor_system.hpp>
#include <caf/send.hpp>

#include <algorithm>

namespace amq::actors {

using namespace protocol;

void router_state::subscribe(broker::session_id sid, caf::actor session,
                             broker::subscribe_request& req) {
  sessions[sid].handle = session;
  broker::subscription_options opts;
  opts.max_qos = static_cast<uint8_t>(req.options.max_qos);
  opts.no_local = req.options.no_local;
  opts.retain_as_published = req.options.retain_as_published;
  opts.retain_handling = static_cast<uint8_t>(req.options.handling);
  opts.subscription_id = req.options.subscription_id;
  const bool shared = parse_shared(req.filter).has_value();
  // Arrival order (header comment): what arrived after the SUBSCRIBE but was routed before it
  // was read, asked of the tree before it has the new subscription.
  auto& late = late_messages;
  late.clear();
  if (req.arrival != 0 && !req.restored && !shared && recent.size() > 0)
    collect_late(sid, req, late);
  bool is_new = tree.subscribe(sid, req.filter, opts);
  delivery_batch batch;
  auto add = [&](const message_ptr& msg, bool retain) {
    broker::routed_message rm;
    rm.msg = msg;
    rm.max_qos = req.options.max_qos;
    rm.retain = retain;
    if (req.options.subscription_id != 0)
      rm.subscription_ids.push_back(req.options.subscription_id);
    batch.items.push_back(std::move(rm));
  };
  // Retained messages on subscribe (§3.3.1.3): never for shared subscriptions. One that is
  // also a late message goes as the live message it was when the subscription came first.
  auto handling = req.options.handling;
  if (!(req.restored || shared || handling == retain_handling::do_not_send
        || (handling == retain_handling::send_if_new_subscription && !is_new))) {
    retained.match(req.filter, sys->clock().now(),
                   [&](std::string_view, const message_ptr& msg, auto) {
                     if (std::find(late.begin(), late.end(), msg) == late.end())
                       add(msg, true);
                   });
  }
  for (auto& msg : late)
    add(msg, req.options.retain_as_published && msg->retain);
  if (!late.empty())
    metrics::add(metrics::slot::arrival_order, static_cast<int64_t>(late.size()));
  late.clear();
  if (!batch.items.empty()) {
    auto& e = sessions[sid];
    e.sent += static_cast<int64_t>(batch.items.size());
    batch.ask_progress = wants_progress(e);
    caf::send_as(me(), session, deliver_atom::value, std::move(batch));
  }
}

void router_state::collect_late(broker::session_id sid, const broker::subscribe_request& req,
                                std::vector<message_ptr>& late) {
  auto now = sys->clock().now();
  bool complete = recent.since(req.arrival, [&](const broker::arrival_window::entry& e) {
    const auto& msg = *e.msg;
    if (req.options.no_local && e.publisher == sid)
      return;
    if (msg.expired(now) || !topic_matches(req.filter, msg.topic))
      return;
    std::optional<broker::session_id> publisher;
    if (e.publisher != 0)
      publisher = e.publisher;
    // Delivered already through another subscription of the session's.
    if (tree.delivers_to(msg.topic, publisher, sid))
      return;
    late.push_back(e.msg);
  });
  if (!complete)
    metrics::add(metrics::slot::arrival_order + 1);
}

void router_state::unsubscribe(broker::session_id sid, const std::string& filter) {
  tree.unsubscribe(sid, filter);
}

void router_state::remove(broker::session_id sid, bool erase_stored) {
  auto i = sessions.find(sid);
  if (i != sessions.end()) {
    for (auto& [publisher, seq] : i->second.deferred)
      caf::send_as(me(), publisher, routed_atom::value, seq);
    // Orphans: the appends this router sent for the session are in the
    // storage actor's mailbox before this erase, so none outlives it; and
    // with the entry gone nothing more is stored for the session.
    if (erase_stored && storage && i->second.next_seq > 0 && !i->second.client_id.empty()) {
      storage::write_batch b;
      b.erase_sessions.push_back(i->second.client_id.str());
      caf::send_as(me(), storage, persist_atom::value, std::move(b),
                   uint64_t{0});
    }
    sessions.erase(i);
  }
  out.erase(sid); // its cached `sessions` entry
  tree.forget_session(sid);
}

bool router_state::persist_deliveries(session_entry& e, delivery_batch& db) {
  bool any = false;
  for (auto& rm : db.items) {
    auto q = std::min(static_cast<uint8_t>(rm.msg->qos_level), static_cast<uint8_t>(rm.max_qos));
    if (q == 0)
      continue;
    rm.seq = ++e.next_seq;
    storage::queued_entry qe;
    qe.seq = rm.seq;
    qe.msg = rm.msg;
    qe.qos = q;
    qe.retain = rm.retain;
    qe.subscription_ids = rm.subscription_ids;
    wb.append.emplace_back(e.client_id.str(), std::move(qe)); // the storage key: a copy
    any = true;
  }
  return any;
}

bool router_state::wants_progress(const session_entry& e) const noexcept {
  return e.backlog() > flow_high / 4 || !e.deferred.empty() || e.slow;
}

broker::session_id router_state::congested_target_sid() const {
  for (auto& [sid, e] : sessions)
    if (&e == congested_target)
      return sid;
  return 0;
}

void router_state::ack(const caf::actor& publisher, uint64_t seq, broker::session_id congested) {
  if (!publisher)
    return;
  if (congested != 0) {
    // Not if it was marked slow while the batch was being stored: the
    // publisher would wait another timeout for a session nobody waits for.
    if (auto i = sessions.find(congested); i != sessions.end() && !i->second.slow) {
      defer(congested, i->second, publisher, seq);
      return;
    }
  }
  caf::send_as(me(), publisher, routed_atom::value, seq);
}

void router_state::defer(broker::session_id sid, session_entry& e, caf::actor publisher,
                         uint64_t seq) {
  if (e.deferred.empty()) {
    ++e.deferral;
    if (auto router = me())
      caf::delayed_anon_send(router, slow_after, slow_atom::value, sid, e.deferral);
  }
  e.deferred.emplace_back(std::move(publisher), seq);
}

void router_state::slow_check(broker::session_id sid, uint64_t deferral) {
  auto i = sessions.find(sid);
  if (i == sessions.end())
    return;
  auto& e = i->second;
  if (e.deferral != deferral || e.deferred.empty())
    return; // drained in time
  auto name = e.client_id.empty() ? std::to_string(sid) : e.client_id.str();
  bool stored = e.persistent && storage;
  if (stored && hold_persistent) {
    // limits.slow_persistent_consumer: hold. Its queue is stored (it goes
    // cold rather than grow in memory) and it never drops an acknowledged
    // message: the publishers keep waiting until it drains
    // (session_machine::progress).
    AMQ_LOG_WARN("router holds publishers for persistent session {}: backlog {} near its stored "
                 "queue's limit after {} ms",
                 name, e.backlog(), slow_after.count());
    return;
  }
  e.slow = true;
  if (stored) {
    AMQ_LOG_WARN("router marks persistent session {} a slow consumer: its stored queue is at its "
                 "limit (backlog {} after {} ms); publishers no longer wait for it and its queue's "
                 "overflow policy now applies",
                 name, e.backlog(), slow_after.count());
    if (e.handle)
      caf::send_as(me(), e.handle, slow_atom::value, true);
  } else {
    AMQ_LOG_WARN("router marks session {} a slow consumer: backlog {} after {} ms; publishers "
                 "no longer wait for it",
                 name, e.backlog(), slow_after.count());
  }
  ++counters.slow_consumers;
  metrics::add(metrics::slot::slow_consumers);
  for (auto& [publisher, s] : e.deferred)
    caf::send_as(me(), publisher, routed_atom::value, s);
  e.deferred.clear();
}

void router_state::persisted(uint64_t token, bool ok) {
  auto i = commits.find(token);
  if (i == commits.end())
    return;
  auto pc = std::move(i->second);
  commits.erase(i);
  if (!ok) {
    ++counters.storage_failures;
    for (auto& held : pc.held)
      metrics::count_drop(metrics::drop::storage_failed,
                          static_cast<int64_t>(held.second.items.size()));
    // Nothing stored: the persistent sessions do not get the messages and
    // the publisher is refused (5.0: reason code; 3.1.1: disconnected, so
    // it resends), never acknowledged and then lost.
    if (pc.publisher)
      caf::send_as(me(), pc.publisher, routed_atom::value, pc.seq, false);
    return;
  }
  for (auto& [sid, db] : pc.held)
    if (auto j = sessions.find(sid); j != sessions.end())
      caf::send_as(me(), j->second.handle, deliver_atom::value, std::move(db));
  ack(pc.publisher, pc.seq, pc.congested);
}

void router_state::register_session(broker::session_id sid, caf::actor handle,
                                    broker::shared_string client_id, bool persistent,
                                    uint64_t last_seq, bool session_actor) {
  auto& e = sessions[sid];
  e.handle = std::move(handle);
  e.direct = session_actor;
  e.client_id = std::move(client_id);
  e.persistent = persistent;
  e.next_seq = std::max(e.next_seq, last_seq);
}

void router_state::progress(broker::session_id sid, int64_t value) {
  auto i = sessions.find(sid);
  if (i == sessions.end())
    return;
  auto& e = i->second;
  e.progress = value;
  if (e.slow && e.backlog() < flow_low) {
    e.slow = false;
    AMQ_LOG_INFO("router: session {} caught up (backlog {}); publishers are paced by it again",
                 e.client_id.empty() ? std::to_string(sid) : e.client_id.str(), e.backlog());
    if (e.persistent && storage && e.handle)
      caf::send_as(me(), e.handle, slow_atom::value, false); // its queue's limit: held again
  }
  if (!e.deferred.empty() && e.backlog() < flow_low) {
    for (auto& [publisher, seq] : e.deferred)
      caf::send_as(me(), publisher, routed_atom::value, seq);
    e.deferred.clear();
  }
}

void router_state::route(route_batch& batch) {
  congested_target = nullptr;
  std::optional<broker::session_id> publisher;
  if (batch.publisher != 0)
    publisher = batch.publisher;
  wb.clear();
  const size_t batch_size = batch.messages.size();
  size_t index = 0;
  std::string_view last_topic;
  bool reuse = false;
  auto& targets = route_targets;
  targets.clear();
  // Arrival order (header comment): one clock read per batch.
  const int64_t routed_at = recent.enabled() ? broker::arrival_window::now() : 0;
  const int64_t arrival = batch.arrival != 0 ? batch.arrival : routed_at;
  for (auto& msg : batch.messages) {
    ++index;
    ++counters.routed;
    // $SYS/ belongs to the broker (docs/metrics.md): a client's PUBLISH there
    // is acknowledged and discarded, counted; the broker's own are retained
    // in memory only (current values, republished after a restart).
    bool sys_topic = msg->topic.starts_with("$SYS/") || msg->topic == "$SYS";
    if (sys_topic && publisher) {
      metrics::count_drop(metrics::drop::sys_topic_denied);
      continue;
    }
    if (routed_at != 0)
      recent.push(msg, arrival, routed_at, batch.publisher);
    if (msg->retain) {
      if (msg->payload.empty()) {
        if (retained.erase(msg->topic) && storage && !sys_topic)
          wb.erase_retained.push_back(msg->topic);
      } else {
        retained.set(msg->topic, msg, msg->expires_at.value_or(decltype(retained)::never));
        if (storage && !sys_topic)
          wb.put_retained.push_back(msg);
      }
    }
    // Consecutive messages on one topic (a device's burst, one read of a
    // publisher) match the same subscribers: match once and reuse the
    // targets. Not across a shared group's choice, which turns per message.
    if (!reuse || msg->topic != last_topic) {
      tree.match(msg->topic, publisher, matches);
      targets.clear();
      reuse = true;
      for (auto& d : matches) {
        targets.push_back(&out[d.session]);
        reuse = reuse && !d.shared;
      }
      last_topic = msg->topic;
    }
    if (matches.empty()) {
      ++counters.no_subscribers;
      if (!msg->retain) // a retained one is kept for later subscribers
        metrics::count_drop(metrics::drop::no_subscribers);
      continue;
    }
    for (size_t t = 0; t < matches.size(); ++t) {
      auto& d = matches[t];
      auto& tg = *targets[t]; // out's nodes do not move while it grows
      auto& items = tg.batch.items;
      if (items.empty()) {
        // Its first message of this batch (all are empty between batches).
        touched.emplace_back(d.session, &tg);
        if (items.capacity() == 0) {
          // A target usually gets most of a batch (fan-in, fan-out, p2p):
          // room for the rest of it (bounded) instead of growing 1, 2, 4, ...
          items.reserve(std::min<size_t>(batch_size - index + 1, 64));
        }
      }
      auto& rm = items.emplace_back();
      rm.msg = msg;
      rm.max_qos = static_cast<qos>(d.qos);
      rm.retain = d.retain_as_published && msg->retain;
      if (!d.ids.empty()) {
        rm.subscription_ids.reserve(d.ids.size());
        for (size_t i = 0; i < d.ids.size(); ++i)
          rm.subscription_ids.push_back(d.ids[i]);
      }
    }
  }
  pending_commit held;
  auto me = this->me();
  // Only the targets of this batch: not a walk over every session `out`
  // ever held (a hash-node walk per route batch, the router's largest cost
  // in p2p with 100 sessions).
  for (auto [sid, tg] : touched) {
    auto& db = tg->batch;
    if (!tg->entry) {
      auto i = sessions.find(sid);
      if (i == sessions.end()) {
        db.items.clear();
        continue;
      }
      tg->entry = &i->second; // stable: remove() erases the `out` entry too
    }
    auto& e = *tg->entry;
    counters.delivered += db.items.size();
    e.sent += static_cast<int64_t>(db.items.size());
    if (!e.slow && e.backlog() > flow_high
        && (!congested_target || e.backlog() > congested_target->backlog()))
      congested_target = &e;
    db.ask_progress = wants_progress(e);
    if (e.persistent && storage && persist_deliveries(e, db)) {
      // Durability rule: a persistent session gets its QoS 1/2 messages
      // only once they are stored, and the publisher's ack waits too.
      held.held.emplace_back(sid, std::move(db));
    } else if (claim_on != nullptr && e.direct
               && as_session(e.handle)->try_claim(claim_on)) {
      claimed.push_back({e.handle, std::move(db)}); // a direct turn (claim_on)
    } else {
      caf::send_as(me, e.handle, deliver_atom::value, std::move(db));
    }
    db.items = {};
  }
  if (storage && !wb.empty()) {
    held.congested = congested_target ? congested_target_sid() : 0;
    pending_token = ++next_token;
    commits.emplace(pending_token, std::move(held));
    caf::send_as(me, storage, persist_atom::value, std::move(wb), pending_token);
    wb = {};
  } else {
    pending_token = 0;
  }
  touched.clear();
  if (out.size() > 4096)
    out.clear();
}

namespace {

/// Admin API: retained messages with topics starting with `prefix`, after
/// topic `after`, in topic order (a scan of the store: admin calls only).
admin::retained_list list_retained(router_state& st, const std::string& prefix,
                                   const std::string& after, uint64_t limit) {
  admin::retained_list out;
  auto now = st.sys->clock().now();
  std::vector<std::pair<std::string_view, const message*>> hits;
  st.retained.for_each([&](std::string_view topic, const message_ptr& m, auto) {
    if (m->expired(now))
      return;
    ++out.total;
    if (limit > 0 && topic.starts_with(prefix) && (after.empty() || topic > after))
      hits.emplace_back(topic, m.get());
  });
  auto n = std::min<size_t>(hits.size(), limit);
  std::partial_sort(hits.begin(), hits.begin() + n, hits.end());
  out.more = hits.size() > n;
  for (size_t i = 0; i < n; ++i) {
    auto& m = *hits[i].second;
    admin::retained_view v;
    v.topic = m.topic;
    v.qos = static_cast<uint8_t>(m.qos_level);
    v.payload_bytes = m.payload.size();
    v.payload_preview = m.payload.substr(0, 256);
    v.expires_in_s = m.remaining_expiry(now);
    out.items.push_back(std::move(v));
  }
  return out;
}

/// Admin API: deletes the retained message of `topic`, durably.
bool delete_retained(router_state& st, const std::string& topic) {
  if (!st.retained.erase(topic))
    return false;
  if (st.storage) {
    storage::write_batch b;
    b.erase_retained.push_back(topic);
    caf::send_as(st.me(), st.storage, persist_atom::value,
                 std::move(b), uint64_t{0});
  }
  return true;
}

} // namespace

route_outcome router_state::route_for(route_batch& batch, const caf::actor& publisher) {
  route(batch);
  if (pending_token != 0) {
    // Stored first: persisted() acknowledges (or refuses) it.
    auto& pc = commits[pending_token];
    pc.publisher = publisher;
    pc.seq = batch.seq;
    return route_outcome::later;
  }
  // The ack waits for a congested target (never a slow one:
  // congested_target skips those).
  if (congested_target == nullptr || !publisher)
    return route_outcome::done;
  auto sid = congested_target_sid();
  defer(sid, *congested_target, publisher, batch.seq);
  return route_outcome::later;
}

std::shared_ptr<router_state> local_router_core(const caf::actor& router) {
  if (!router)
    return nullptr;
  auto* r = dynamic_cast<router_actor_type*>(caf::actor_cast<caf::abstract_actor*>(router));
  if (r == nullptr || !r->state.core->ready.load(std::memory_order_acquire))
    return nullptr;
  return r->state.core;
}

caf::behavior router_behavior(router_actor_type* self, router_options opts, caf::actor storage) {
  auto core = self->state.core;
  {
    std::lock_guard<std::mutex> guard{core->mtx};
    core->storage = std::move(storage);
    core->flow_high = opts.flow_high;
    core->flow_low = opts.flow_high / 2;
    core->slow_after = opts.slow_after;
    core->hold_persistent = opts.hold_persistent;
    if (opts.arrival_order)
      core->recent.reset(router_options::arrival_window_messages,
                         router_options::arrival_window_bytes);
  }
  core->ready.store(true, std::memory_order_release);
  auto& st = *core;
  using guard = std::lock_guard<std::mutex>;
  return {
    [&st](subscribe_atom, broker::session_id sid, caf::actor& session,
          broker::subscribe_request& req) {
      guard g{st.mtx};
      st.subscribe(sid, std::move(session), req);
    },
    [&st](unsubscribe_atom, broker::session_id sid, const std::string& filter) {
      guard g{st.mtx};
      st.unsubscribe(sid, filter);
    },
    [&st](online_atom, broker::session_id sid, bool online) {
      guard g{st.mtx};
      st.tree.set_online(sid, online);
    },
    [self, &st](route_atom, route_batch& batch) {
      auto sender = caf::actor_cast<caf::actor>(self->current_sender());
      guard g{st.mtx};
      if (st.route_for(batch, sender) == route_outcome::later) {
        // A batch sent without ack: the publisher must stop reading now,
        // before the routed_atom that comes later.
        if (!batch.ack && sender)
          caf::send_as(st.me(), sender, hold_atom::value, batch.seq);
      } else if (batch.ack && sender) {
        caf::send_as(st.me(), sender, routed_atom::value, batch.seq);
      }
    },
    [&st](persisted_atom, uint64_t token, bool ok) {
      guard g{st.mtx};
      st.persisted(token, ok);
    },
    [&st](slow_atom, broker::session_id sid, uint64_t deferral) {
      guard g{st.mtx};
      st.slow_check(sid, deferral);
    },
    [&st](register_atom, broker::session_id sid, caf::actor& handle,
          broker::shared_string& client_id, bool persistent, uint64_t last_seq) {
      // A session of this process: the entry shares its client id block.
      guard g{st.mtx};
      st.register_session(sid, std::move(handle), std::move(client_id), persistent, last_seq);
    },
    [&st](register_atom, broker::session_id sid, caf::actor& handle, std::string& client_id,
          bool persistent, uint64_t last_seq) {
      // Another node's session: a block of this node's own.
      guard g{st.mtx};
      st.register_session(sid, std::move(handle), broker::shared_string{client_id}, persistent,
                          last_seq);
    },
    [&st](restore_atom, std::vector<message_ptr>& msgs) {
      guard g{st.mtx};
      for (auto& m : msgs)
        st.retained.set(m->topic, m, m->expires_at.value_or(decltype(st.retained)::never));
    },
    [&st](remove_atom, broker::session_id sid) {
      guard g{st.mtx};
      st.remove(sid, false);
    },
    [&st](remove_atom, broker::session_id sid, bool erase_stored) {
      guard g{st.mtx};
      st.remove(sid, erase_stored);
      return true;
    },
    [&st](progress_atom, broker::session_id sid, int64_t value) {
      guard g{st.mtx};
      st.progress(sid, value);
    },
    [&st](count_atom) {
      guard g{st.mtx};
      return std::make_tuple(st.tree.size(), st.retained.size(), st.counters.routed);
    },
    [&st](retained_atom, const std::string& prefix, const std::string& after, uint64_t limit) {
      guard g{st.mtx};
      return list_retained(st, prefix, after, limit);
    },
    [&st](clear_atom, const std::string& topic) {
      guard g{st.mtx};
      return delete_retained(st, topic);
    },
  };
}

caf::actor spawn_router(caf::actor_system& sys, const broker::session_limits& limits,
                        caf::actor storage, bool arrival_order) {
  // The backlog at which publishers are paced: well below the queue limit,
  // so that the batches already on their way fit in the queue.
  router_options opts;
  opts.flow_high =
    std::clamp<int64_t>(static_cast<int64_t>(limits.max_queued_online) / 8, 16, 1000);
  opts.slow_after = limits.slow_consumer_timeout;
  opts.hold_persistent = limits.hold_slow_persistent;
  opts.arrival_order = arrival_order;
  return sys.spawn(router_behavior, opts, std::move(storage));
}

} // namespace amq::actors
