// The admin API's operations on the actors. Design: amq/actors/admin_ops.hpp.
#include "amq/actors/admin_ops.hpp"

#include "amq/actors/messages.hpp"

#include <caf/event_based_actor.hpp>
#include <caf/after.hpp>
#include <caf/send.hpp>

namespace amq::actors {

namespace {

constexpr auto op_timeout = std::chrono::seconds{5};

class caf_admin_ops : public admin::broker_ops {
public:
  caf_admin_ops(caf::actor_system& sys, caf::actor registry, caf::actor router,
                caf::actor storage, std::function<uint64_t()> connections)
    : sys_(sys),
      registry_(std::move(registry)),
      router_(std::move(router)),
      storage_(std::move(storage)),
      connections_(std::move(connections)) {}

  void subscriptions(const std::string& client_id,
                     std::function<void(std::optional<std::vector<admin::subscription_view>>)>
                       done) override {
    sys_.spawn([registry = registry_, client_id, done](caf::event_based_actor* self) {
      self->request(registry, std::chrono::seconds{2}, info_atom::value, client_id)
        .then([done](std::vector<admin::subscription_view>& subs) { done(std::move(subs)); },
              [done](caf::error&) { done(std::nullopt); });
    });
  }

  void disconnect(const std::string& client_id,
                  std::function<void(admin::op_result)> done) override {
    sys_.spawn([registry = registry_, client_id, done](caf::event_based_actor* self) {
      self
        ->request(registry, op_timeout, kick_atom::value, client_id,
                  protocol::reason_code::administrative_action)
        .then([done](bool found) { done(found ? admin::op_result::done
                                              : admin::op_result::not_found); },
              [done](caf::error&) { done(admin::op_result::failed); });
    });
  }

  void clear(const std::string& client_id, bool force,
             std::function<void(admin::op_result)> done) override {
    sys_.spawn([registry = registry_, router = router_, storage = storage_, client_id, force,
                done](caf::event_based_actor* self) -> caf::behavior {
      self->request(registry, op_timeout, clear_atom::value, client_id, force)
        .then(
          [=](uint8_t code) {
            auto r = static_cast<admin::op_result>(code);
            if (r != admin::op_result::done || !storage) {
              done(r);
              self->quit();
              return;
            }
            // The session sent its removal to the router before answering;
            // once the router answers this, its erase is in the storage
            // actor's mailbox, and a barrier behind it confirms the commit.
            self->request(router, op_timeout, count_atom::value)
              .then(
                [=](size_t, size_t, uint64_t) {
                  self->send(storage, persist_atom::value, storage::write_batch{}, uint64_t{1});
                },
                [=](caf::error&) {
                  done(admin::op_result::failed);
                  self->quit();
                });
          },
          [=](caf::error&) {
            done(admin::op_result::failed);
            self->quit();
          });
      return {
        [=](persisted_atom, uint64_t, bool ok) {
          done(ok ? admin::op_result::done : admin::op_result::failed);
          self->quit();
        },
        caf::after(std::chrono::seconds{15}) >>
          [=] {
            done(admin::op_result::failed);
            self->quit();
          },
      };
    });
  }

  void retained(const std::string& prefix, const std::string& after, size_t limit,
                std::function<void(std::optional<admin::retained_list>)> done) override {
    sys_.spawn([router = router_, prefix, after, limit, done](caf::event_based_actor* self) {
      self
        ->request(router, op_timeout, retained_atom::value, prefix, after,
                  static_cast<uint64_t>(limit))
        .then([done](admin::retained_list& l) { done(std::move(l)); },
              [done](caf::error&) { done(std::nullopt); });
    });
  }

  void delete_retained(const std::string& topic,
                       std::function<void(admin::op_result)> done) override {
    sys_.spawn([router = router_, storage = storage_, topic,
                done](caf::event_based_actor* self) -> caf::behavior {
      // The router sends the erase to the storage before it answers; the
      // barrier behind it confirms the commit.
      self->request(router, op_timeout, clear_atom::value, topic)
        .then(
          [=](bool existed) {
            if (!existed || !storage) {
              done(existed ? admin::op_result::done : admin::op_result::not_found);
              self->quit();
              return;
            }
            self->send(storage, persist_atom::value, storage::write_batch{}, uint64_t{1});
          },
          [=](caf::error&) {
            done(admin::op_result::failed);
            self->quit();
          });
      return {
        [=](persisted_atom, uint64_t, bool ok) {
          done(ok ? admin::op_result::done : admin::op_result::failed);
          self->quit();
        },
        caf::after(std::chrono::seconds{15}) >>
          [=] {
            done(admin::op_result::failed);
            self->quit();
          },
      };
    });
  }

  uint64_t connections() override {
    return connections_ ? connections_() : 0;
  }

private:
  caf::actor_system& sys_;
  caf::actor registry_;
  caf::actor router_;
  caf::actor storage_;
  std::function<uint64_t()> connections_;
};

} // namespace

std::shared_ptr<admin::broker_ops>
make_admin_ops(caf::actor_system& sys, caf::actor registry, caf::actor router, caf::actor storage,
               std::function<uint64_t()> connections) {
  return std::make_shared<caf_admin_ops>(sys, std::move(registry), std::move(router),
                                         std::move(storage), std::move(connections));
}

} // namespace amq::actors
