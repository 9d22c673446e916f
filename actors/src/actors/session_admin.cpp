// The session actor's side of the admin API: reports to the session
// directory (amq/admin/session_directory.hpp) and the admin requests
// (subscriptions, clear). Kept apart from session.cpp: none of it is on the
// message path except `report_progress`, a few relaxed stores per input.
#include "amq/actors/session.hpp"

#include "amq/log.hpp"

#include <algorithm>

namespace amq::actors {

namespace {

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

int64_t expires_at_ms(uint32_t expiry, int64_t from_ms) {
  return expiry == UINT32_MAX ? 0 : from_ms + static_cast<int64_t>(expiry) * 1000;
}

} // namespace

void session_state::report_connected() {
  if (!env->directory)
    return;
  admin::session_info i;
  i.client_id = machine.client_id();
  i.connected = true;
  i.persistent = machine.persistent();
  i.type = type == config::client_type::application ? admin::client_kind::application
                                                    : admin::client_kind::device;
  i.protocol_version = static_cast<uint8_t>(machine.version());
  i.address = conn ? conn->peer() : std::string{};
  i.connected_at_ms = wall_ms();
  i.keep_alive = machine.keep_alive();
  i.session_expiry = machine.session_expiry();
  i.subscriptions = static_cast<uint32_t>(machine.subscriptions().size());
  stats.subscriptions_reported = i.subscriptions;
  env->directory->upsert(id, i, &stats);
  in_directory = true;
}

void session_state::report_disconnected() {
  if (!env->directory || machine.finished())
    return;
  auto now = wall_ms();
  env->directory->set_disconnected(id, machine.client_id(), now,
                              expires_at_ms(machine.session_expiry(), now));
}

void session_state::report_restored(const storage::session_record& rec) {
  if (!env->directory)
    return;
  admin::session_info i;
  i.client_id = machine.client_id();
  i.persistent = true;
  i.type = type == config::client_type::application ? admin::client_kind::application
                                                    : admin::client_kind::device;
  i.protocol_version = static_cast<uint8_t>(machine.version());
  i.disconnected_at_ms = rec.disconnected_at_ms;
  i.session_expiry = machine.session_expiry();
  i.expires_at_ms = expires_at_ms(machine.session_expiry(),
                                  rec.disconnected_at_ms != 0 ? rec.disconnected_at_ms : wall_ms());
  i.subscriptions = static_cast<uint32_t>(machine.subscriptions().size());
  stats.subscriptions_reported = i.subscriptions;
  env->directory->upsert(id, i, &stats);
  in_directory = true;
}

void session_state::report_progress() {
  if (!in_directory)
    return;
  stats.inflight.store(static_cast<uint32_t>(machine.inflight_count()),
                        std::memory_order_relaxed);
  stats.queue_depth.store(static_cast<uint32_t>(std::min<uint64_t>(machine.queue_depth(),
                                                                     UINT32_MAX)),
                           std::memory_order_relaxed);
  auto& c = machine.counters();
  stats.dropped.store(c.dropped_queue_full + c.dropped_expired + c.dropped_too_large
                         + c.dropped_qos0_offline,
                       std::memory_order_relaxed);
  auto subs = static_cast<uint32_t>(machine.subscriptions().size());
  if (subs != stats.subscriptions_reported && !machine.finished()) {
    stats.subscriptions_reported = subs;
    env->directory->set_subscriptions(id, machine.client_id(), subs);
  }
}

void session_state::report_ended() {
  if (in_directory)
    env->directory->remove(id, machine.client_id());
  in_directory = false;
}

std::vector<admin::subscription_view> session_state::admin_subscriptions() const {
  std::vector<admin::subscription_view> out;
  out.reserve(machine.subscriptions().size());
  for (auto& [filter, e] : machine.subscriptions())
    out.push_back(admin::subscription_view{std::string{filter}, static_cast<uint8_t>(e.max_qos),
                                           e.no_local, e.retain_as_published,
                                           static_cast<uint8_t>(e.handling), e.subscription_id});
  // The session's set is unordered; the admin API lists by filter.
  std::sort(out.begin(), out.end(),
            [](const auto& x, const auto& y) { return x.filter < y.filter; });
  return out;
}

uint8_t session_state::admin_clear(bool force) {
  if (machine.finished() || removing)
    return static_cast<uint8_t>(admin::op_result::not_found);
  if (machine.connected() && !force)
    return static_cast<uint8_t>(admin::op_result::conflict);
  AMQ_LOG_INFO("session {} cleared by the admin API{}", machine.client_id(),
               machine.connected() ? " (disconnected first)" : "");
  machine.on_admin_clear(self->clock().now());
  after_input();
  return static_cast<uint8_t>(admin::op_result::done);
}

} // namespace amq::actors
