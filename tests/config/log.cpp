#define CAF_SUITE log
#include <caf/test/unit_test.hpp>

#include "amq/log.hpp"

#include <spdlog/sinks/ostream_sink.h>

#include <iostream>
#include <sstream>
#include <string>

using namespace amq;

namespace {

/// Captures log lines in a string stream for the duration of a test.
struct fixture {
  std::ostringstream out;

  void start(config::log_level level, config::log_format format = config::log_format::text) {
    config::log_config cfg;
    cfg.level = level;
    cfg.format = format;
    log::init(cfg, std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
  }

  ~fixture() {
    // Back to a quiet logger so that other tests do not write into `out`.
    config::log_config cfg;
    cfg.level = config::log_level::off;
    log::init(cfg, std::make_shared<spdlog::sinks::ostream_sink_mt>(std::cerr));
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(log_tests, fixture)

CAF_TEST(lines_at_or_above_the_level_are_written) {
  start(config::log_level::info);
  AMQ_LOG_INFO("session {} connected from {}", "c1", "10.0.0.1:5000");
  AMQ_LOG_DEBUG("session {} sent {}", "c1", "PINGREQ");
  AMQ_LOG_WARN("session {} dropped {} messages: queue full", "c1", 3);
  auto text = out.str();
  CAF_CHECK_NOT_EQUAL(text.find("info [") , std::string::npos);
  CAF_CHECK_NOT_EQUAL(text.find("session c1 connected from 10.0.0.1:5000"), std::string::npos);
  CAF_CHECK_EQUAL(text.find("PINGREQ"), std::string::npos);
  CAF_CHECK_NOT_EQUAL(text.find("session c1 dropped 3 messages: queue full"), std::string::npos);
}

CAF_TEST(disabled_lines_do_not_evaluate_their_arguments) {
  start(config::log_level::warn);
  int evaluated = 0;
  auto expensive = [&] {
    ++evaluated;
    return std::string{"x"};
  };
  AMQ_LOG_DEBUG("value {}", expensive());
  AMQ_LOG_INFO("value {}", expensive());
  CAF_CHECK_EQUAL(evaluated, 0);
  AMQ_LOG_ERROR("value {}", expensive());
  CAF_CHECK_EQUAL(evaluated, 1);
}

CAF_TEST(level_off_writes_nothing) {
  start(config::log_level::off);
  AMQ_LOG_ERROR("router {} failed", "r1");
  CAF_CHECK_EQUAL(out.str(), "");
}

CAF_TEST(json_lines_escape_the_message) {
  start(config::log_level::trace, config::log_format::json);
  AMQ_LOG_TRACE("client {} sent \"{}\"", "c\\2", "a\nb");
  auto text = out.str();
  CAF_CHECK_NOT_EQUAL(text.find(R"("level":"trace")"), std::string::npos);
  CAF_CHECK_NOT_EQUAL(text.find(R"("msg":"client c\\2 sent \"a\nb\""})"), std::string::npos);
  CAF_CHECK_EQUAL(text.back(), '\n');
  CAF_CHECK_EQUAL(text.find('\n'), text.size() - 1); // One line.
}

CAF_TEST(log_file_that_cannot_be_opened_is_an_error) {
  config::log_config cfg;
  cfg.file = "/dev/null/actormq.log";
  auto err = log::init(cfg);
  CAF_REQUIRE(err);
  CAF_CHECK_NOT_EQUAL(err->find("log.file: cannot open /dev/null/actormq.log"),
                      std::string::npos);
}

CAF_TEST_FIXTURE_SCOPE_END()
