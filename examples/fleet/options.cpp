#include "options.hpp"

#include <CLI/CLI.hpp>

#include <thread>

namespace amq::fleet {

std::optional<int> parse_options(int argc, char** argv, options& o) {
  CLI::App app{"actormq-fleet: simulates a fleet of MQTT devices against any MQTT broker and "
               "measures loss, duplicates, order and latency of every message stream.",
               "actormq-fleet"};
  app.option_defaults()->always_capture_default();
  app.get_formatter()->column_width(34);
  app.add_option("--scenario", o.scenario, "fleet, or backlog (offline queueing + reconnect drain of one persistent session)")
    ->check(CLI::IsMember({"fleet", "backlog"}));
  app.add_option("--backlog", o.backlog, "Messages queued for the offline session (--scenario backlog)");
  auto* b = "Broker";
  app.add_option("--host", o.host, "Broker address (IPv4)")->group(b);
  app.add_option("--port,-p", o.port, "Broker port")->group(b);
  app.add_option("--mqtt", o.mqtt, "Protocol level: 4 (3.1.1) or 5 (5.0)")
    ->check(CLI::IsMember({4, 5}))->group(b);
  auto* f = "Fleet";
  app.add_option("--devices,-n", o.devices, "Simulated devices")->group(f);
  app.add_option("--id-style", o.id_style, "Client id style: device (dev-<n>) or application (app-<n>)")
    ->check(CLI::IsMember({"device", "application"}))->group(f);
  app.add_option("--id-prefix", o.id_prefix, "Client id prefix (overrides --id-style's)")->group(f);
  app.add_option("--topic-prefix", o.topic_prefix, "First topic level of every topic")->group(f);
  app.add_flag("--persistent,!--clean", o.persistent,
               "Persistent sessions (Clean Session 0 / Clean Start 0 + Session Expiry)")->group(f);
  app.add_option("--session-expiry", o.session_expiry, "MQTT 5 Session Expiry Interval (s) of persistent sessions")->group(f);
  app.add_option("--keepalive", o.keepalive, "Keep Alive (s)")->group(f);
  app.add_option("--qos,-q", o.qos, "QoS of every publish and subscription")
    ->check(CLI::Range(0, 2))->group(f);
  auto* c = "Connecting";
  app.add_option("--connect-rate", o.connect_rate, "New connections per second (0: as fast as possible)")->group(c);
  app.add_option("--connect-parallel", o.connect_parallel, "Most handshakes in progress per thread")->group(c);
  app.add_option("--connect-timeout-ms", o.connect_timeout_ms, "CONNACK deadline")->group(c);
  app.add_option("--source-addresses", o.source_addresses,
                 "Bind connections to 127.0.0.1..127.0.0.K (0: auto, one per 20,000 connections on loopback)")->group(c);
  auto* s = "Subscriptions per device";
  app.add_flag("--sub-command,!--no-sub-command", o.sub_command, "Own command topic <prefix>/cmd/<id>")->group(s);
  app.add_flag("--sub-broadcast", o.sub_broadcast, "Wildcard <prefix>/bcast/# (fan-out to the whole fleet)")->group(s);
  app.add_flag("--sub-shared", o.sub_shared, "Shared subscription $share/fleet/<prefix>/jobs")->group(s);
  auto* t = "Traffic";
  app.add_option("--telemetry-rate", o.telemetry_rate, "Telemetry msg/s per device to <prefix>/tele/<id>")->group(t);
  app.add_option("--payload", o.payload, "Payload bytes (at least 32)")->check(CLI::Range(32u, 1u << 26))->group(t);
  app.add_option("--inflight", o.inflight, "Most unacknowledged QoS 1/2 publishes per client")->check(CLI::Range(1u, 65535u))->group(t);
  app.add_option("--consumers", o.consumers, "Telemetry consumers subscribed to <prefix>/tele/+")->group(t);
  app.add_flag("--consumers-shared", o.consumers_shared, "Consumers share $share/consumers/<prefix>/tele/+")->group(t);
  app.add_option("--command-rate", o.command_rate, "Commands per second (total) to device command topics")->group(t);
  app.add_option("--broadcast-rate", o.broadcast_rate, "Messages per second to <prefix>/bcast/all")->group(t);
  app.add_option("--shared-rate", o.shared_rate, "Messages per second to <prefix>/jobs")->group(t);
  auto* ch = "Churn";
  app.add_option("--disconnect-rate", o.disconnect_rate, "Fraction of connected devices dropped per second")->group(ch);
  app.add_option("--reconnect-delay-ms", o.reconnect_delay_ms, "Mean delay before a dropped device reconnects")->group(ch);
  app.add_option("--storm-every", o.storm_every, "Seconds between reconnect storms (0: none)")->group(ch);
  app.add_option("--storm-at", o.storm_at, "Second of the first storm (default: --storm-every)")->group(ch);
  app.add_option("--storm-fraction", o.storm_fraction, "Fraction of connected devices a storm drops")->check(CLI::Range(0.0, 1.0))->group(ch);
  app.add_option("--takeover-fraction", o.takeover_fraction,
                 "Fraction of reconnects that connect again before closing the old connection (session takeover)")
    ->check(CLI::Range(0.0, 1.0))->group(ch);
  app.add_flag("--graceful", o.graceful, "Send DISCONNECT before dropping (default: just close)")->group(ch);
  auto* r = "Run";
  app.add_option("--duration,-d", o.duration, "Seconds from the start of the device ramp")->group(r);
  app.add_option("--drain", o.drain, "Most seconds to wait for outstanding messages after the run")->group(r);
  app.add_option("--setup-timeout", o.setup_timeout, "Most seconds for consumers and command sender to connect")->group(r);
  app.add_option("--threads,-t", o.threads, "Event loop threads (one io_context each)")
    ->check(CLI::Range(1u, std::max(1u, std::thread::hardware_concurrency())))->group(r);
  app.add_option("--seed", o.seed, "Random seed")->group(r);
  app.add_option("--progress", o.progress, "Seconds between progress lines (0: 1 on a TTY, 5 otherwise)")->group(r);
  app.add_flag("--quiet", o.quiet, "Print only the JSON line")->group(r);
  app.add_flag("--sys", o.sys, "Read $SYS/broker/... counters before and after the run and report their change")->group(r);
  app.add_option("--sys-wait", o.sys_wait, "Most seconds to wait for a $SYS update after the run")->group(r);
  app.add_option("--label", o.label, "Free text copied into the JSON line")->group(r);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (o.id_prefix.empty())
    o.id_prefix = o.id_style == "application" ? "app-" : "dev-";
  if (o.scenario == "backlog") {
    o.devices = 1;
    o.consumers = 0;
    o.persistent = true;
    o.telemetry_rate = 0;
    o.sub_command = true;
  }
  if (o.storm_at <= 0)
    o.storm_at = o.storm_every;
  return std::nullopt;
}

} // namespace amq::fleet
