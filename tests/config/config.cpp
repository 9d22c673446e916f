#define CAF_SUITE config
#include <caf/test/unit_test.hpp>

#include "amq/config/doc.hpp"
#include "amq/config/load.hpp"
#include "amq/config/options.hpp"

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

using namespace amq::config;

namespace {

/// A command line: argv[0] is "actormq".
class command_line {
public:
  command_line(std::initializer_list<std::string> xs) : args_{"actormq"} {
    args_.insert(args_.end(), xs);
    for (auto& s : args_)
      ptrs_.push_back(s.data());
    ptrs_.push_back(nullptr);
  }
  int argc() const { return static_cast<int>(args_.size()); }
  char** argv() { return ptrs_.data(); }

private:
  std::vector<std::string> args_;
  std::vector<char*> ptrs_;
};

result<load_outcome> load(std::initializer_list<std::string> args, const environment& env = {}) {
  command_line cl{args};
  return load_config(cl.argc(), cl.argv(), env);
}

/// The defaults after `load_config` resolved the auto values.
broker_config resolved_defaults() {
  broker_config cfg;
  resolve_auto_values(cfg);
  return cfg;
}

/// A YAML file in the temp directory, removed at scope exit.
class temp_file {
public:
  explicit temp_file(std::string_view contents) {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path()
            / ("actormq-config-test-" + std::to_string(getpid()) + "-"
               + std::to_string(counter++) + ".yaml");
    std::ofstream out{path_, std::ios::binary};
    out << contents;
  }
  ~temp_file() {
    std::error_code ec;
    std::filesystem::remove(path_, ec);
  }
  std::string path() const { return path_.string(); }

private:
  std::filesystem::path path_;
};

std::string read_file(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

/// Returns `needle` if `haystack` contains it, else `haystack`: with
/// CAF_CHECK_EQUAL, a failure prints the whole message.
std::string find_in(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos ? std::string{needle} : haystack;
}

#define CHECK_CONTAINS(haystack, needle) CAF_CHECK_EQUAL(find_in((haystack), (needle)), (needle))

/// The error of a load that must fail.
std::string load_error(std::initializer_list<std::string> args, const environment& env = {}) {
  auto res = load(args, env);
  if (res)
    return "<loaded without error>";
  return res.error();
}

std::string yaml_error(std::string_view yaml) {
  temp_file f{yaml};
  return load_error({"-c", f.path()});
}

} // namespace

// -- defaults -------------------------------------------------------------------

CAF_TEST(defaults) {
  broker_config cfg;
  CAF_CHECK_EQUAL(cfg.listeners.mqtt.bind, "0.0.0.0");
  CAF_CHECK_EQUAL(cfg.listeners.mqtt.port, 1883u);
  CAF_CHECK_EQUAL(cfg.admin.bind, "127.0.0.1");
  CAF_CHECK_EQUAL(cfg.admin.port, 8083u);
  CAF_CHECK_EQUAL(cfg.limits.max_packet_size, 1024u * 1024u);
  CAF_CHECK_EQUAL(cfg.limits.topic_alias_maximum, 10u);
  CAF_CHECK_EQUAL(cfg.limits.max_session_expiry_interval, UINT32_MAX);
  CAF_CHECK(cfg.session.persistence_rule == persistence_rule::seed);
  CAF_CHECK(cfg.session.default_client_type == client_type::device);
  CAF_CHECK_EQUAL(cfg.session.device_persisted_messages_limit, 10000u);
  CAF_CHECK(cfg.session.device_overflow_policy == overflow_policy::drop_oldest);
  CAF_CHECK(cfg.storage.sessions == storage_backend::embedded);
  CAF_CHECK_EQUAL(cfg.storage.data_dir, "./data");
  CAF_CHECK_EQUAL(cfg.storage.kafka.topic_prefix, "actormq");
  CAF_CHECK(cfg.storage.kafka.acks == kafka_acks::all);
  CAF_CHECK(cfg.storage.kafka.idempotence);
  CAF_CHECK_EQUAL(cfg.runtime.io_threads, 0u); // the actor workers run the I/O
  CAF_CHECK(cfg.log.level == log_level::info);
  CAF_CHECK(validate(cfg).empty());
}

CAF_TEST(loading_nothing_yields_the_defaults) {
  auto res = load({});
  CAF_REQUIRE(res);
  CAF_CHECK(res->config == resolved_defaults());
  CAF_CHECK(!res->print_and_exit);
  CAF_CHECK(res->config_file.empty());
  CAF_CHECK(!res->config.cluster.node_name.empty());
  CAF_CHECK_GREATER(res->config.runtime.worker_threads, 0u);
}

// -- YAML -------------------------------------------------------------------------

CAF_TEST(yaml_file_sets_keys) {
  temp_file f{R"(
listeners:
  mqtt:
    port: 1884
    bind: 127.0.0.1
limits:
  max_packet_size: 2MiB
  write_buffer_high_watermark: 4M
session:
  persistence_rule: strict
  client_type_rules:
    - {field: username, kind: prefix, pattern: "app-", type: application}
    - field: client_id
      kind: regex
      pattern: "^backend-[0-9]+$"
      type: application
storage:
  device_queue: redis
  redis:
    host: redis.local
    password: ~
  kafka:
    acks: -1
    properties:
      linger.ms: 5
      security.protocol: SASL_SSL
cluster:
  seeds: ["a:4242", "b:4242"]
log:
  level: debug
  format: json
)"};
  auto res = load({"--config", f.path()});
  CAF_REQUIRE(res);
  const auto& cfg = res->config;
  CAF_CHECK_EQUAL(res->config_file, f.path());
  CAF_CHECK_EQUAL(cfg.listeners.mqtt.port, 1884u);
  CAF_CHECK_EQUAL(cfg.listeners.mqtt.bind, "127.0.0.1");
  CAF_CHECK_EQUAL(cfg.limits.max_packet_size, 2u * 1024 * 1024);
  CAF_CHECK_EQUAL(cfg.limits.write_buffer_high_watermark, 4u * 1024 * 1024);
  CAF_CHECK(cfg.session.persistence_rule == persistence_rule::strict);
  CAF_REQUIRE_EQUAL(cfg.session.client_type_rules.size(), 2u);
  auto r0 = client_type_rule{match_field::username, match_kind::prefix, "app-",
                             client_type::application};
  CAF_CHECK(cfg.session.client_type_rules[0] == r0);
  CAF_CHECK(cfg.session.client_type_rules[1].kind == match_kind::regex);
  CAF_CHECK_EQUAL(cfg.session.client_type_rules[1].pattern, "^backend-[0-9]+$");
  CAF_CHECK(cfg.storage.device_queue == storage_backend::redis);
  CAF_CHECK(cfg.storage.sessions == storage_backend::embedded);
  CAF_CHECK_EQUAL(cfg.storage.redis.host, "redis.local");
  CAF_CHECK_EQUAL(cfg.storage.redis.password, "");
  CAF_CHECK(cfg.storage.kafka.acks == kafka_acks::all);
  CAF_CHECK_EQUAL(cfg.storage.kafka.properties.at("linger.ms"), "5");
  CAF_CHECK_EQUAL(cfg.storage.kafka.properties.at("security.protocol"), "SASL_SSL");
  CAF_CHECK_EQUAL(cfg.cluster.seeds, (std::vector<std::string>{"a:4242", "b:4242"}));
  CAF_CHECK(cfg.log.level == log_level::debug);
  CAF_CHECK(cfg.log.format == log_format::json);
  // Untouched keys keep their defaults.
  CAF_CHECK_EQUAL(cfg.admin.port, 8083u);
}

CAF_TEST(empty_yaml_file_keeps_defaults) {
  temp_file f{"# nothing here\n"};
  auto res = load({"-c", f.path()});
  CAF_REQUIRE(res);
  CAF_CHECK(res->config == resolved_defaults());
}

CAF_TEST(unknown_yaml_keys_are_errors) {
  auto err = yaml_error("limits:\n  max_pakcet_size: 3\n");
  CHECK_CONTAINS(err, ":2:3: limits.max_pakcet_size: unknown key");
  CHECK_CONTAINS(err, "(did you mean limits.max_packet_size?)");
  CHECK_CONTAINS(yaml_error("limit:\n  max_packet_size: 3\n"),
                 "limit: unknown key (did you mean limits?)");
  CHECK_CONTAINS(yaml_error("storage:\n  redis:\n    hots: x\n"),
                 ":3:5: storage.redis.hots: unknown key (did you mean storage.redis.host?)");
  CHECK_CONTAINS(yaml_error("session:\n  client_type_rules:\n"
                            "    - {field: username, kind: prefix, patern: a, type: device}\n"),
                 "session.client_type_rules: rule 1: unknown key 'patern'");
}

CAF_TEST(bad_yaml_values_name_the_field) {
  auto err = yaml_error("limits:\n  max_packet_size: 3\n");
  CHECK_CONTAINS(err, "limits.max_packet_size: must be between 16 and 268435455, got 3");
  CHECK_CONTAINS(err, ".yaml:2:20: ");
  CHECK_CONTAINS(yaml_error("log:\n  level: loud\n"),
                 "log.level: must be one of trace, debug, info, warn, error, off; got 'loud'");
  CHECK_CONTAINS(yaml_error("listeners:\n  mqtt:\n    enabled: maybe\n"),
                 "listeners.mqtt.enabled: expected true or false, got 'maybe'");
  CHECK_CONTAINS(yaml_error("listeners:\n  mqtt:\n    port: -1\n"),
                 "listeners.mqtt.port: expected an unsigned integer, got '-1'");
  CHECK_CONTAINS(yaml_error("listeners:\n  mqtt:\n    port: 70000\n"),
                 "listeners.mqtt.port: must be between 0 and 65535, got 70000");
  CHECK_CONTAINS(yaml_error("limits:\n  max_packet_size: 2XB\n"),
                 "limits.max_packet_size: expected a size in bytes");
  CHECK_CONTAINS(yaml_error("listeners:\n  mqtt:\n    port: [1, 2]\n"),
                 "listeners.mqtt.port: expected a single value, got a list");
  CHECK_CONTAINS(yaml_error("limits: 5\n"), "limits: expected a map of keys");
  CHECK_CONTAINS(yaml_error("limits:\n  receive_maximum: 5\n  receive_maximum: 6\n"),
                 ":3:3: limits.receive_maximum: duplicate key");
  CHECK_CONTAINS(yaml_error("limits: [\n"), "invalid YAML");
  CHECK_CONTAINS(yaml_error("- a\n- b\n"), "expected a map of sections at the top level");
  CHECK_CONTAINS(yaml_error("cluster:\n  seeds: [nohost]\n"),
                 "cluster.seeds: item 1 ('nohost'): expected host:port");
  CHECK_CONTAINS(yaml_error("storage:\n  kafka:\n    topic_prefix: \"a b\"\n"),
                 "storage.kafka.topic_prefix: may contain only letters");
  CHECK_CONTAINS(yaml_error("session:\n  client_type_rules:\n"
                            "    - {field: username, kind: regex, pattern: \"(\", type: device}\n"),
                 "session.client_type_rules: rule 1: pattern: invalid regex '('");
  CHECK_CONTAINS(load_error({"-c", "/nonexistent/actormq.yaml"}),
                 "cannot read config file /nonexistent/actormq.yaml");
}

// -- environment --------------------------------------------------------------------

CAF_TEST(environment_overrides_yaml) {
  temp_file f{"listeners:\n  mqtt:\n    port: 1884\n"};
  auto res = load({"-c", f.path()}, {{"LISTENER_TCP_BIND_PORT", "1885"}});
  CAF_REQUIRE(res);
  CAF_CHECK_EQUAL(res->config.listeners.mqtt.port, 1885u);
  // The generic name wins over the TBMQ name.
  res = load({"-c", f.path()},
             {{"LISTENER_TCP_BIND_PORT", "1885"}, {"ACTORMQ_LISTENERS__MQTT__PORT", "1886"}});
  CAF_REQUIRE(res);
  CAF_CHECK_EQUAL(res->config.listeners.mqtt.port, 1886u);
}

CAF_TEST(tbmq_environment_names) {
  environment env{
    {"MQTT_PERSISTENT_SESSION_DEVICE_PERSISTED_MESSAGES_LIMIT", "500"},
    {"TCP_NETTY_MAX_PAYLOAD_SIZE", "65536"},
    {"REDIS_HOST", "redis.example"},
    {"REDIS_PORT", "6380"},
    {"REDIS_PASSWORD", "pw"},
    {"TB_KAFKA_SERVERS", "k1:9092,k2:9092"},
    {"TB_SERVICE_ID", "node-7"},
    {"MQTT_TOPIC_ALIAS_MAX", "0"},
  };
  auto res = load({}, env);
  CAF_REQUIRE(res);
  const auto& cfg = res->config;
  CAF_CHECK_EQUAL(cfg.session.device_persisted_messages_limit, 500u);
  CAF_CHECK_EQUAL(cfg.limits.max_packet_size, 65536u);
  CAF_CHECK_EQUAL(cfg.storage.redis.host, "redis.example");
  CAF_CHECK_EQUAL(cfg.storage.redis.port, 6380u);
  CAF_CHECK_EQUAL(cfg.storage.redis.password, "pw");
  CAF_CHECK_EQUAL(cfg.storage.kafka.bootstrap_servers, "k1:9092,k2:9092");
  CAF_CHECK_EQUAL(cfg.cluster.node_name, "node-7");
  CAF_CHECK_EQUAL(cfg.limits.topic_alias_maximum, 0u);
}

CAF_TEST(environment_errors) {
  CHECK_CONTAINS(load_error({}, {{"LISTENER_TCP_BIND_PORT", "abc"}}),
                 "environment variable LISTENER_TCP_BIND_PORT: listeners.mqtt.port: "
                 "expected an unsigned integer, got 'abc'");
  auto err = load_error({}, {{"ACTORMQ_LIMITS__MAX_PAKET_SIZE", "1"}});
  CHECK_CONTAINS(err, "environment variable ACTORMQ_LIMITS__MAX_PAKET_SIZE: matches no "
                      "configuration key (did you mean ACTORMQ_LIMITS__MAX_PACKET_SIZE?)");
  // Without "__" it may be someone else's variable: a warning, not an error.
  auto res = load({}, {{"ACTORMQ_LOG_LEVEL", "debug"}});
  CAF_REQUIRE(res);
  CAF_REQUIRE_EQUAL(res->warnings.size(), 1u);
  CHECK_CONTAINS(res->warnings[0], "did you mean ACTORMQ_LOG__LEVEL?");
  CAF_CHECK(res->config.log.level == log_level::info);
}

CAF_TEST(environment_collections) {
  environment env{
    {"ACTORMQ_CLUSTER__SEEDS", "a:1, b:2"},
    {"ACTORMQ_STORAGE__KAFKA__PROPERTIES", "linger.ms=5; sasl.mechanism=PLAIN"},
    {"ACTORMQ_SESSION__CLIENT_TYPE_RULES",
     "[{field: client_id, kind: exact, pattern: svc, type: application}]"},
  };
  auto res = load({}, env);
  CAF_REQUIRE(res);
  const auto& cfg = res->config;
  CAF_CHECK_EQUAL(cfg.cluster.seeds, (std::vector<std::string>{"a:1", "b:2"}));
  CAF_CHECK_EQUAL(cfg.storage.kafka.properties.size(), 2u);
  CAF_CHECK_EQUAL(cfg.storage.kafka.properties.at("sasl.mechanism"), "PLAIN");
  CAF_REQUIRE_EQUAL(cfg.session.client_type_rules.size(), 1u);
  CAF_CHECK(cfg.session.client_type_rules[0].kind == match_kind::exact);
}

CAF_TEST(config_path_from_environment) {
  temp_file a{"listeners:\n  mqtt:\n    port: 2001\n"};
  temp_file b{"listeners:\n  mqtt:\n    port: 2002\n"};
  auto res = load({}, {{"ACTORMQ_CONFIG", a.path()}});
  CAF_REQUIRE(res);
  CAF_CHECK_EQUAL(res->config.listeners.mqtt.port, 2001u);
  CAF_CHECK_EQUAL(res->config_file, a.path());
  // --config wins over ACTORMQ_CONFIG.
  res = load({"-c", b.path()}, {{"ACTORMQ_CONFIG", a.path()}});
  CAF_REQUIRE(res);
  CAF_CHECK_EQUAL(res->config.listeners.mqtt.port, 2002u);
}

CAF_TEST(process_environment) {
  // The only test that touches the real environment; it restores it.
  const char* name = "MQTT_PERSISTENT_SESSION_DEVICE_PERSISTED_MESSAGES_LIMIT";
  CAF_REQUIRE(std::getenv(name) == nullptr);
  CAF_REQUIRE_EQUAL(setenv(name, "1234", 1), 0);
  command_line cl{};
  auto res = load_config(cl.argc(), cl.argv());
  unsetenv(name);
  CAF_REQUIRE(res);
  CAF_CHECK_EQUAL(res->config.session.device_persisted_messages_limit, 1234u);
  CAF_CHECK(std::getenv(name) == nullptr);
}

// -- command line ---------------------------------------------------------------------

CAF_TEST(flags_override_environment) {
  environment env{{"LISTENER_TCP_BIND_PORT", "1885"}, {"ACTORMQ_LOG__LEVEL", "error"}};
  auto res = load({"--port", "1886", "--log-level", "trace"}, env);
  CAF_REQUIRE(res);
  CAF_CHECK_EQUAL(res->config.listeners.mqtt.port, 1886u);
  CAF_CHECK(res->config.log.level == log_level::trace);
  // --set wins over the shortcut flags.
  res = load({"--port", "1886", "--set", "listeners.mqtt.port=1887"}, env);
  CAF_REQUIRE(res);
  CAF_CHECK_EQUAL(res->config.listeners.mqtt.port, 1887u);
}

CAF_TEST(shortcut_flags) {
  auto res = load({"--storage", "redis", "--redis", "r.local:6380", "--kafka", "k:9092",
                   "--data-dir", "/var/lib/actormq", "--bind", "127.0.0.1"});
  CAF_REQUIRE(res);
  const auto& st = res->config.storage;
  CAF_CHECK(st.sessions == storage_backend::redis);
  CAF_CHECK(st.device_queue == storage_backend::redis);
  CAF_CHECK(st.application_queue == storage_backend::redis);
  CAF_CHECK(st.retained == storage_backend::redis);
  CAF_CHECK_EQUAL(st.redis.host, "r.local");
  CAF_CHECK_EQUAL(st.redis.port, 6380u);
  CAF_CHECK_EQUAL(st.kafka.bootstrap_servers, "k:9092");
  CAF_CHECK_EQUAL(st.data_dir, "/var/lib/actormq");
  CAF_CHECK_EQUAL(res->config.listeners.mqtt.bind, "127.0.0.1");
  CHECK_CONTAINS(load_error({"--storage", "floppy"}),
                 "--storage: storage.sessions: must be one of embedded, redis, kafka, memory; "
                 "got 'floppy'");
  CHECK_CONTAINS(load_error({"--port", "99999"}),
                 "--port: listeners.mqtt.port: must be between 0 and 65535, got 99999");
}

CAF_TEST(set_any_key) {
  auto res = load({"--set", "limits.max_packet_size=64KiB", "--set",
                   "storage.kafka.properties=linger.ms=5;acks=all", "--set",
                   "session.client_type_rules=[{field: username, kind: prefix, pattern: app-, "
                   "type: application}]",
                   "--set", "admin.auth_disabled=yes"});
  CAF_REQUIRE(res);
  const auto& cfg = res->config;
  CAF_CHECK_EQUAL(cfg.limits.max_packet_size, 65536u);
  CAF_CHECK_EQUAL(cfg.storage.kafka.properties.at("linger.ms"), "5");
  CAF_CHECK_EQUAL(cfg.session.client_type_rules.size(), 1u);
  CAF_CHECK(cfg.admin.auth_disabled);
  CHECK_CONTAINS(load_error({"--set", "limits.max_paket_size=1"}),
                 "--set: limits.max_paket_size: unknown key (did you mean "
                 "limits.max_packet_size?)");
  CHECK_CONTAINS(load_error({"--set", "limits.max_packet_size"}),
                 "--set: expected key.path=value, got 'limits.max_packet_size'");
  CHECK_CONTAINS(load_error({"--set", "limits.max_packet_size=3"}),
                 "--set: limits.max_packet_size: must be between 16 and 268435455, got 3");
}

CAF_TEST(help_version_and_bad_flags) {
  auto res = load({"--help"});
  CAF_REQUIRE(res);
  CAF_REQUIRE(res->print_and_exit);
  CHECK_CONTAINS(*res->print_and_exit, "--print-config");
  CAF_CHECK_EQUAL(*res->print_and_exit, cli_help());
  res = load({"--version"});
  CAF_REQUIRE(res);
  CAF_CHECK_EQUAL(*res->print_and_exit, "actormq " + std::string{version()} + "\n");
  CHECK_CONTAINS(load_error({"--frobnicate"}), "command line: ");
  CHECK_CONTAINS(load_error({"--port"}), "command line: ");
}

CAF_TEST(print_config_round_trips) {
  auto res = load({"--print-config", "--port", "1999", "--set", "cluster.seeds=a:1,b:2", "--set",
                   "storage.kafka.properties=linger.ms=5", "--set",
                   "session.client_type_rules=[{field: username, kind: prefix, pattern: "
                   "\"app-\", type: application}]",
                   "--set", "storage.redis.key_prefix=", "--set", "cluster.node_name=n1"});
  CAF_REQUIRE(res);
  CAF_REQUIRE(res->print_and_exit);
  const auto& text = *res->print_and_exit;
  CHECK_CONTAINS(text, "    port: 1999\n");
  temp_file f{text};
  auto again = load({"-c", f.path()});
  CAF_REQUIRE(again);
  CAF_CHECK(again->config == res->config);
  CAF_CHECK_EQUAL(to_yaml(again->config), text);
}

CAF_TEST(print_config_redacts_secrets) {
  auto res = load({"--print-config", "--set", "admin.username=root", "--set",
                   "admin.password=s3cret", "--set", "storage.redis.password=hunter2"});
  CAF_REQUIRE(res);
  const auto& text = *res->print_and_exit;
  CAF_CHECK_EQUAL(text.find("s3cret"), std::string::npos);
  CAF_CHECK_EQUAL(text.find("hunter2"), std::string::npos);
  CHECK_CONTAINS(text, "password: <redacted>");
  CHECK_CONTAINS(to_yaml(res->config, false), "s3cret");
}

// -- validation ---------------------------------------------------------------------------

CAF_TEST(cross_field_validation) {
  CHECK_CONTAINS(load_error({"--set", "limits.write_buffer_low_watermark=2MiB"}),
                 "limits.write_buffer_low_watermark: must be below "
                 "limits.write_buffer_high_watermark (65536), got 2097152");
  CHECK_CONTAINS(load_error({"--set", "storage.kafka.acks=1"}),
                 "storage.kafka.idempotence: requires storage.kafka.acks = all");
  CAF_CHECK(load({"--set", "storage.kafka.acks=1", "--set", "storage.kafka.idempotence=false"}));
  CHECK_CONTAINS(load_error({"--set", "admin.username=root"}),
                 "admin.username and admin.password must be set together");
  CHECK_CONTAINS(load_error({"--port", "8083"}),
                 "admin.port: must differ from listeners.mqtt.port");
  CHECK_CONTAINS(load_error({"--storage", "redis", "--set", "storage.redis.host="}),
                 "storage.redis.host: must be set when a storage role uses redis");
  broker_config cfg;
  cfg.limits.max_packet_size = 3;
  cfg.runtime.io_threads = 257;
  auto errors = validate(cfg);
  CAF_REQUIRE_EQUAL(errors.size(), 2u);
  CAF_CHECK_EQUAL(errors[0], "limits.max_packet_size: must be between 16 and 268435455, got 3");
  CAF_CHECK_EQUAL(errors[1], "runtime.io_threads: must be between 0 and 256, got 257");
}

// -- the option table ------------------------------------------------------------------

CAF_TEST(option_table_is_consistent) {
  std::set<std::string> keys;
  std::set<std::string> env_names;
  const broker_config defaults;
  for (const auto& opt : options()) {
    CAF_CHECK(keys.insert(opt.key).second);
    CAF_CHECK(!opt.doc.empty());
    CAF_CHECK(!opt.type.empty());
    for (const auto& name : opt.env_names())
      CAF_CHECK(env_names.insert(name).second);
    // Every default survives the text round trip.
    auto cfg = defaults;
    auto err = set_option(cfg, opt.key, option_text(defaults, opt));
    CAF_CHECK_EQUAL(err.value_or(""), "");
    CAF_CHECK(cfg == defaults);
    // Every key belongs to a documented section.
    auto section = opt.key.substr(0, opt.key.find('.'));
    bool found = false;
    for (const auto& s : sections())
      found = found || s.name == section;
    CAF_CHECK(found);
  }
  CAF_CHECK_EQUAL(find_option("limits.max_packet_size")->generic_env(),
                  "ACTORMQ_LIMITS__MAX_PACKET_SIZE");
  CAF_CHECK_EQUAL(find_option("storage.redis.host")->generic_env(), "ACTORMQ_STORAGE__REDIS__HOST");
}

// -- generated files ---------------------------------------------------------------------

CAF_TEST(example_config_equals_defaults) {
  auto path = std::string{AMQ_SOURCE_DIR} + "/config/actormq.example.yaml";
  auto res = load({"-c", path});
  CAF_REQUIRE(res);
  CAF_CHECK(res->config == resolved_defaults());
}

CAF_TEST(generated_docs_are_up_to_date) {
  // Regenerate with: cmake --build <dir> --target actormq_config_docs
  auto md = read_file(std::string{AMQ_SOURCE_DIR} + "/docs/configuration.md");
  CAF_CHECK(md == render_reference_markdown());
  auto example = read_file(std::string{AMQ_SOURCE_DIR} + "/config/actormq.example.yaml");
  CAF_CHECK(example == render_example_yaml());
}
