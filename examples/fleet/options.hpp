#pragma once
/// actormq-fleet's command line (CLI11): what fleet to simulate against which broker.

#include <cstdint>
#include <optional>
#include <string>

namespace amq::fleet {

struct options {
  /// fleet: the simulated fleet. backlog: one persistent session goes offline, the command
  /// sender queues `backlog` messages for it as fast as the broker acknowledges them, then the
  /// session reconnects and drains them (offline queueing rate and drain rate).
  std::string scenario = "fleet";
  uint32_t backlog = 100000;
  // broker
  std::string host = "127.0.0.1";
  uint16_t port = 1883;
  int mqtt = 4; ///< protocol level: 4 = 3.1.1, 5 = 5.0
  // fleet shape
  uint32_t devices = 100;
  std::string id_style = "device"; ///< device | application
  std::string id_prefix;           ///< default: "dev-" or "app-" by id_style
  std::string topic_prefix = "fleet";
  bool persistent = false;
  uint32_t session_expiry = 3600; ///< MQTT 5, persistent sessions
  uint16_t keepalive = 60;
  int qos = 1;
  // connecting
  double connect_rate = 0;        ///< new connections per second (0: as fast as possible)
  uint32_t connect_parallel = 512; ///< most handshakes in progress per thread
  uint32_t connect_timeout_ms = 10000;
  uint32_t source_addresses = 0; ///< 127.0.0.1..127.0.0.K as local addresses (0: auto on loopback)
  // subscriptions per device
  bool sub_command = true;  ///< <prefix>/cmd/<id>
  bool sub_broadcast = false; ///< wildcard <prefix>/bcast/#
  bool sub_shared = false;  ///< $share/fleet/<prefix>/jobs
  // traffic
  double telemetry_rate = 1.0; ///< per device, msg/s (0: none)
  uint32_t payload = 64;
  uint32_t inflight = 16;       ///< most unacknowledged outgoing QoS 1/2 messages per client
  uint32_t consumers = 1;       ///< telemetry consumers (APPLICATION-style)
  bool consumers_shared = false; ///< consumers share $share/consumers/<prefix>/tele/+
  double command_rate = 100;    ///< total msg/s to device command topics
  double broadcast_rate = 0;    ///< msg/s to <prefix>/bcast/all
  double shared_rate = 0;       ///< msg/s to <prefix>/jobs (shared subscription)
  // churn
  double disconnect_rate = 0; ///< fraction of connected devices dropped per second
  uint32_t reconnect_delay_ms = 1000;
  double storm_every = 0;     ///< seconds between reconnect storms (0: none)
  double storm_at = 0;        ///< first storm at this second (0: storm_every)
  double storm_fraction = 0.5;
  double takeover_fraction = 0; ///< of reconnects: open the new connection before closing the old
  bool graceful = false;        ///< send DISCONNECT before dropping
  // run
  double duration = 10; ///< seconds, from the start of the device ramp
  double drain = 10;    ///< most seconds to wait for in-flight messages after the run
  double setup_timeout = 30;
  unsigned threads = 1;
  uint64_t seed = 1;
  double progress = 0; ///< seconds between progress lines (0: 1 on a TTY, 5 otherwise)
  bool quiet = false;  ///< only the JSON line
  bool sys = false;    ///< read $SYS/broker/... before and after the run
  double sys_wait = 12; ///< most seconds to wait for a fresh $SYS update at the end
  std::string label;   ///< free text copied to the JSON line
};

/// Parses argv. Returns the exit code to stop with (help, usage error), or nothing to run.
std::optional<int> parse_options(int argc, char** argv, options& o);

} // namespace amq::fleet
