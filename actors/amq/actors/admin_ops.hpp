#pragma once
/// The admin API's view of the actors: `admin::broker_ops` implemented with
/// one short-lived CAF actor per operation, so neither the HTTP thread nor
/// any actor ever waits for the other (amq/admin/api.hpp).
///
///  - subscriptions: registry (info_atom, id) → delegated to the session
///  - disconnect:    registry (kick_atom, id, 0x98)
///  - clear:         registry (clear_atom, id, force) → delegated to the
///                   session, which ends (its router removal erases the
///                   stored record and queue); then a storage barrier: an
///                   empty batch with a token, answered once everything
///                   queued before it (the erase) is committed
///  - retained:      router (retained_atom, prefix, after, limit)
///                   router (clear_atom, topic)

#include "amq/admin/api.hpp"
#include "amq/net/server.hpp"

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include <functional>

namespace amq::actors {

std::shared_ptr<admin::broker_ops>
make_admin_ops(caf::actor_system& sys, caf::actor registry, caf::actor router, caf::actor storage,
               std::function<uint64_t()> connections);

} // namespace amq::actors
