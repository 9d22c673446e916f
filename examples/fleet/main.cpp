// actormq-fleet: simulates a fleet of MQTT devices against any MQTT broker.
// Usage: actormq-fleet --help; docs/fleet.md.

#include "fleet.hpp"

int main(int argc, char** argv) {
  amq::fleet::options o;
  if (auto code = amq::fleet::parse_options(argc, argv, o))
    return *code;
  return amq::fleet::run(o);
}
