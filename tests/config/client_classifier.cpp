#define CAF_SUITE config_client_classifier
#include <caf/test/unit_test.hpp>

#include "amq/config/client_classifier.hpp"

using namespace amq::config;

namespace {

session_config with_rules(std::vector<client_type_rule> rules,
                          client_type fallback = client_type::device) {
  session_config cfg;
  cfg.default_client_type = fallback;
  cfg.client_type_rules = std::move(rules);
  return cfg;
}

} // namespace

CAF_TEST(no rules gives the default type) {
  client_classifier c{with_rules({})};
  CAF_CHECK(c.classify("sensor-1", std::nullopt) == client_type::device);
  client_classifier a{with_rules({}, client_type::application)};
  CAF_CHECK(a.classify("sensor-1", "bob") == client_type::application);
}

CAF_TEST(prefix exact and regex rules match the chosen field) {
  client_classifier c{with_rules({
    {match_field::client_id, match_kind::prefix, "app-", client_type::application},
    {match_field::username, match_kind::exact, "backend", client_type::application},
    {match_field::client_id, match_kind::regex, "svc-[0-9]+", client_type::application},
  })};
  CAF_CHECK(c.classify("app-7", std::nullopt) == client_type::application);
  CAF_CHECK(c.classify("ap", std::nullopt) == client_type::device);
  CAF_CHECK(c.classify("x", "backend") == client_type::application);
  CAF_CHECK(c.classify("x", "backend2") == client_type::device);
  CAF_CHECK(c.classify("svc-42", std::nullopt) == client_type::application);
  // regex must match the whole field
  CAF_CHECK(c.classify("svc-42x", std::nullopt) == client_type::device);
  CAF_CHECK(c.classify("my-svc-42", std::nullopt) == client_type::device);
}

CAF_TEST(username rules never match without a username) {
  client_classifier c{with_rules({
    {match_field::username, match_kind::prefix, "", client_type::application},
  })};
  CAF_CHECK(c.classify("x", std::nullopt) == client_type::device);
  CAF_CHECK(c.classify("x", "") == client_type::application);
}

CAF_TEST(the first matching rule wins) {
  client_classifier c{with_rules({
    {match_field::client_id, match_kind::prefix, "a", client_type::device},
    {match_field::client_id, match_kind::prefix, "ab", client_type::application},
  }, client_type::application)};
  CAF_CHECK(c.classify("abc", std::nullopt) == client_type::device);
}
