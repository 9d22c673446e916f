#include "amq/actors/router.hpp"

#include "amq/protocol/topic.hpp"

#include <caf/actor_system.hpp>

namespace amq::actors {

using namespace protocol;

void router_state::subscribe(broker::session_id sid, caf::actor session,
                             broker::subscribe_request& req) {
  sessions[sid] = session;
  broker::subscription_options opts;
  opts.max_qos = static_cast<uint8_t>(req.options.max_qos);
  opts.no_local = req.options.no_local;
  opts.retain_as_published = req.options.retain_as_published;
  opts.retain_handling = static_cast<uint8_t>(req.options.handling);
  opts.subscription_id = req.options.subscription_id;
  bool is_new = tree.subscribe(sid, req.filter, opts);
  // Retained messages on subscribe (§3.3.1.3): never for shared subscriptions.
  auto handling = req.options.handling;
  if (parse_shared(req.filter) || handling == retain_handling::do_not_send
      || (handling == retain_handling::send_if_new_subscription && !is_new))
    return;
  delivery_batch batch;
  retained.match(req.filter, message::clock::now(),
                 [&](std::string_view, const message_ptr& msg, auto) {
                   broker::routed_message rm;
                   rm.msg = msg;
                   rm.max_qos = req.options.max_qos;
                   rm.retain = true;
                   if (req.options.subscription_id != 0)
                     rm.subscription_ids.push_back(req.options.subscription_id);
                   batch.items.push_back(std::move(rm));
                 });
  if (!batch.items.empty())
    self->send(session, deliver_atom::value, std::move(batch));
}

void router_state::unsubscribe(broker::session_id sid, const std::string& filter) {
  tree.unsubscribe(sid, filter);
}

void router_state::remove(broker::session_id sid) {
  sessions.erase(sid);
  tree.forget_session(sid);
}

void router_state::route(route_batch& batch) {
  auto now = message::clock::now();
  std::optional<broker::session_id> publisher;
  if (batch.publisher != 0)
    publisher = batch.publisher;
  for (auto& msg : batch.messages) {
    ++counters.routed;
    if (msg->retain) {
      if (msg->payload.empty())
        retained.erase(msg->topic);
      else
        retained.set(msg->topic, msg, msg->expires_at.value_or(decltype(retained)::never));
    }
    tree.match(msg->topic, publisher, matches);
    if (matches.empty()) {
      ++counters.no_subscribers;
      continue;
    }
    for (auto& d : matches) {
      broker::routed_message rm;
      rm.msg = msg;
      rm.max_qos = static_cast<qos>(d.qos);
      rm.retain = d.retain_as_published && msg->retain;
      for (size_t i = 0; i < d.ids.size(); ++i)
        rm.subscription_ids.push_back(d.ids[i]);
      out[d.session].items.push_back(std::move(rm));
    }
  }
  (void) now;
  for (auto& [sid, db] : out) {
    if (db.items.empty())
      continue;
    auto i = sessions.find(sid);
    if (i == sessions.end()) {
      db.items.clear();
      continue;
    }
    counters.delivered += db.items.size();
    self->send(i->second, deliver_atom::value, std::move(db));
    db.items = {};
  }
  if (out.size() > 4096)
    out.clear();
}

caf::behavior router_behavior(router_actor_type* self) {
  auto& st = self->state;
  return {
    [&st](subscribe_atom, broker::session_id sid, caf::actor& session,
          broker::subscribe_request& req) { st.subscribe(sid, std::move(session), req); },
    [&st](unsubscribe_atom, broker::session_id sid, const std::string& filter) {
      st.unsubscribe(sid, filter);
    },
    [&st](online_atom, broker::session_id sid, bool online) { st.tree.set_online(sid, online); },
    [&st](route_atom, route_batch& batch) {
      st.route(batch);
      auto sender = caf::actor_cast<caf::actor>(st.self->current_sender());
      if (sender)
        st.self->send(sender, routed_atom::value, batch.seq);
    },
    [&st](remove_atom, broker::session_id sid) { st.remove(sid); },
    [&st](count_atom) {
      return std::make_tuple(st.tree.size(), st.retained.size(), st.counters.routed);
    },
  };
}

caf::actor spawn_router(caf::actor_system& sys) {
  return sys.spawn(router_behavior);
}

} // namespace amq::actors
