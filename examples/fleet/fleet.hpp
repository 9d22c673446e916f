#pragma once
/// actormq-fleet's engine: runs the simulated fleet described by `options` and prints the
/// summary and the JSON line. Returns the process exit code.
///
/// Design: `threads` workers, each one Boost.Asio io_context on its own thread, owning a slice
/// of the clients (device i lives on worker i % threads). No thread per device: sockets are
/// non-blocking, readiness comes from async_wait, every worker reads into one shared buffer and
/// frames with actormq_protocol's framer. A 1 ms tick per worker drives the connect ramp,
/// telemetry schedule (a heap of due times), keep-alive, churn and the command sender.
///
/// Every PUBLISH payload starts with a 32-byte header: magic, run id, publisher id, kind,
/// sequence number (per publisher and stream) and the CLOCK_MONOTONIC send time. Publishers and
/// receivers share the process, so the receiver computes latency and tracks each
/// (publisher, subscriber) stream in a bitset: lost, duplicated, out of order.
///
/// What counts as expected (a message whose absence is "lost"):
/// - QoS 1/2: the broker acknowledged it (PUBACK / PUBCOMP); QoS 0: it was written.
/// - And the subscriber was entitled to it: for persistent sessions, the message was published
///   after the subscriber's first SUBACK; for clean sessions, after the SUBACK of the
///   subscriber's current connection and that connection was never dropped afterwards.
/// Messages that do not qualify (e.g. a clean session dropped while they were in flight) are
/// "unconfirmed": counted when they arrive, never counted as lost.

#include "options.hpp"

namespace amq::fleet {

int run(const options& o);

} // namespace amq::fleet
