#include "amq/actors/broker_node.hpp"

#include "amq/actors/edge_link.hpp"
#include "amq/actors/registry.hpp"
#include "amq/actors/router.hpp"
#include "amq/log.hpp"

#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

namespace amq::actors {

broker::session_limits make_session_limits(const config::broker_config& cfg) {
  broker::session_limits l;
  l.max_packet_size = cfg.limits.max_packet_size;
  l.receive_maximum = cfg.limits.receive_maximum;
  l.max_inflight = cfg.limits.max_inflight_out;
  l.max_queued_online = cfg.limits.max_queued_messages;
  l.max_queued_offline = cfg.session.device_persisted_messages_limit;
  l.topic_alias_maximum = cfg.limits.topic_alias_maximum;
  l.server_keep_alive = cfg.limits.max_keep_alive;
  l.max_session_expiry = cfg.limits.max_session_expiry_interval;
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

std::error_code broker_node::start() {
  router_ = spawn_router(sys_, limits_);
  registry_ = spawn_registry(sys_, limits_, router_);
  net::server_options opts;
  opts.bind = cfg_.listeners.mqtt.bind;
  opts.port = cfg_.listeners.mqtt.port;
  opts.io_threads = cfg_.runtime.io_threads;
  opts.write_high_watermark = cfg_.limits.write_buffer_high_watermark;
  auto registry = registry_;
  auto max_packet = cfg_.limits.max_packet_size;
  auto& sys = sys_;
  server_ = std::make_unique<net::server>(opts, [&sys, registry, max_packet](
                                                  const net::connection_ptr& conn) {
    conn->set_receiver(std::make_shared<edge_link>(sys, registry, max_packet, 1 << 20));
  });
  if (auto err = server_->start()) {
    AMQ_LOG_ERROR("broker cannot listen on {}:{}: {}", opts.bind, opts.port, err.message());
    return err;
  }
  AMQ_LOG_INFO("broker listens for MQTT on {}:{}", opts.bind, server_->port());
  return {};
}

uint16_t broker_node::port() const {
  return server_ ? server_->port() : 0;
}

net::server::stats broker_node::edge_stats() const {
  return server_ ? server_->get_stats() : net::server::stats{};
}

void broker_node::stop() {
  if (stopped_)
    return;
  stopped_ = true;
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
  if (server_)
    server_->stop();
  if (registry_)
    caf::anon_send_exit(registry_, caf::exit_reason::user_shutdown);
  if (router_)
    caf::anon_send_exit(router_, caf::exit_reason::user_shutdown);
}

} // namespace amq::actors
