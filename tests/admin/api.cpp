#define CAF_SUITE admin_api
#include <caf/test/unit_test.hpp>

#include "amq/admin/api.hpp"

#include <nlohmann/json.hpp>

#include <string>

using namespace amq::admin;
using json = nlohmann::json;

namespace {

/// Answers at once, records what it was asked.
struct fake_ops : broker_ops {
  std::string last;
  op_result next = op_result::done;
  void subscriptions(const std::string& id,
                     std::function<void(std::optional<std::vector<subscription_view>>)> done)
    override {
    last = "subs " + id;
    done(std::vector<subscription_view>{{"a/+", 1, true, false, 2, 9}});
  }
  void disconnect(const std::string& id, std::function<void(op_result)> done) override {
    last = "disconnect " + id;
    done(next);
  }
  void clear(const std::string& id, bool force, std::function<void(op_result)> done) override {
    last = "clear " + id + (force ? " force" : "");
    done(next);
  }
  void retained(const std::string& prefix, const std::string& after, size_t limit,
                std::function<void(std::optional<retained_list>)> done) override {
    last = "retained " + prefix + "|" + after + "|" + std::to_string(limit);
    retained_list l;
    l.total = 1;
    if (limit > 0)
      l.items.push_back(retained_view{"t/1", 1, 3, "abc", std::nullopt});
    done(l);
  }
  void delete_retained(const std::string& topic, std::function<void(op_result)> done) override {
    last = "delete " + topic;
    done(next);
  }
  uint64_t connections() override {
    return 1;
  }
};

struct fixture {
  std::shared_ptr<session_directory> dir = std::make_shared<session_directory>("n1");
  std::shared_ptr<fake_ops> ops = std::make_shared<fake_ops>();
  http_server server{[] {
    http_server_options o;
    o.token = "tok";
    o.username = "u";
    o.password = "p:w";
    return o;
  }()};

  fixture() {
    register_api(server, dir, ops, api_info{"1.0", "n1", std::chrono::system_clock::now()});
    session_info a;
    a.client_id = "dev/1";
    a.connected = true;
    a.address = "127.0.0.1:5000";
    dir->upsert(1, a, nullptr);
    session_info b;
    b.client_id = "app-2";
    b.persistent = true;
    b.type = client_kind::application;
    dir->upsert(2, b, nullptr);
  }

  http_response call(std::string method, std::string target,
                     std::string auth = "Bearer tok") {
    http_request req;
    req.method = std::move(method);
    auto q = target.find('?');
    req.path = target.substr(0, q);
    if (q != std::string::npos)
      req.query = target.substr(q + 1);
    if (!auth.empty())
      req.headers.emplace_back("authorization", auth);
    http_response out;
    bool called = false;
    server.dispatch(req, [&](http_response r) {
      out = std::move(r);
      called = true;
    });
    CAF_REQUIRE(called);
    return out;
  }

  json body(const http_response& r) {
    return json::parse(r.body);
  }
};

} // namespace

CAF_TEST(helpers) {
  std::string out;
  CAF_CHECK(percent_decode("a%2Fb%20c", out) && out == "a/b c");
  CAF_CHECK(!percent_decode("%", out));
  CAF_CHECK(!percent_decode("%4", out));
  CAF_CHECK(!percent_decode("%zz", out));
  CAF_CHECK(base64_decode("dTpwOnc=", out) && out == "u:p:w");
  CAF_CHECK(!base64_decode("d*==", out));
  std::vector<std::pair<std::string, std::string>> ps;
  std::string bad;
  CAF_CHECK(parse_query("a=1&b=x+y&&c", ps, bad) && ps.size() == 3 && ps[1].second == "x y");
  CAF_CHECK(!parse_query("a=1&b=%G0", ps, bad) && bad == "b");
}

CAF_TEST_FIXTURE_SCOPE(api_tests, fixture)

CAF_TEST(authentication) {
  CAF_CHECK_EQUAL(call("GET", "/api/v1/status", "").status, 401u);
  CAF_CHECK_EQUAL(call("GET", "/api/v1/status", "Bearer nope").status, 401u);
  CAF_CHECK_EQUAL(call("GET", "/api/v1/status", "Bearer tok").status, 200u);
  CAF_CHECK_EQUAL(call("GET", "/api/v1/status", "Basic dTpwOnc=").status, 200u); // u:p:w
  CAF_CHECK_EQUAL(call("GET", "/api/v1/status", "Basic dTpwOng=").status, 401u); // u:p:x
  CAF_CHECK_EQUAL(call("GET", "/api/v1/status", "basic %%%").status, 401u);
  auto r = call("GET", "/api/v1/status", "");
  CAF_CHECK(body(r).contains("error"));
}

CAF_TEST(list detail and errors) {
  auto r = call("GET", "/api/v1/sessions?limit=1");
  CAF_REQUIRE_EQUAL(r.status, 200u);
  auto j = body(r);
  CAF_CHECK_EQUAL(j["items"].size(), 1u);
  CAF_CHECK_EQUAL(j["items"][0]["client_id"], "app-2");
  CAF_CHECK(j["next_cursor"].is_string());
  CAF_CHECK_EQUAL(j["totals"]["sessions"], 2);
  auto j2 = body(call("GET", "/api/v1/sessions?limit=1&cursor="
                               + j["next_cursor"].get<std::string>()));
  CAF_CHECK_EQUAL(j2["items"][0]["client_id"], "dev/1");
  CAF_CHECK(j2["next_cursor"].is_null());
  auto app = body(call("GET", "/api/v1/sessions?type=APPLICATION&connected=false"));
  CAF_CHECK_EQUAL(app["items"].size(), 1u);
  CAF_CHECK_EQUAL(app["matching"], 1);
  auto d = call("GET", "/api/v1/sessions/dev%2F1");
  CAF_REQUIRE_EQUAL(d.status, 200u);
  auto dj = body(d);
  CAF_CHECK_EQUAL(dj["client_address"], "127.0.0.1:5000");
  CAF_CHECK_EQUAL(dj["subscriptions"][0]["filter"], "a/+");
  CAF_CHECK_EQUAL(dj["subscriptions"][0]["subscription_id"], 9);
  CAF_CHECK_EQUAL(ops->last, "subs dev/1");
  CAF_CHECK_EQUAL(call("GET", "/api/v1/sessions/nobody").status, 404u);
  CAF_CHECK_EQUAL(call("GET", "/api/v1/sessions/%zz").status, 400u);
  CAF_CHECK_EQUAL(call("GET", "/api/v1/sessions?limit=5000").status, 400u);
  auto unknown = body(call("GET", "/api/v1/sessions?nope=1"));
  CAF_CHECK_EQUAL(unknown["error"], "nope: unknown parameter");
  CAF_CHECK_EQUAL(call("GET", "/api/v1/sessions/x/y").status, 404u);
  CAF_CHECK_EQUAL(call("GET", "/api/v1").status, 404u);
  auto m = call("PATCH", "/api/v1/sessions");
  CAF_CHECK_EQUAL(m.status, 405u);
  CAF_CHECK_EQUAL(m.headers.at(0).first, "Allow");
  CAF_CHECK_EQUAL(call("PUT", "/api/v1/sessions/dev%2F1").status, 405u);
}

CAF_TEST(actions) {
  CAF_CHECK_EQUAL(call("POST", "/api/v1/sessions/dev%2F1/disconnect").status, 200u);
  CAF_CHECK_EQUAL(ops->last, "disconnect dev/1");
  CAF_CHECK_EQUAL(call("POST", "/api/v1/sessions/app-2/disconnect").status, 409u);
  CAF_CHECK_EQUAL(call("DELETE", "/api/v1/sessions/dev%2F1").status, 409u);
  CAF_CHECK_EQUAL(call("DELETE", "/api/v1/sessions/dev%2F1?force=true").status, 200u);
  CAF_CHECK_EQUAL(ops->last, "clear dev/1 force");
  CAF_CHECK_EQUAL(call("DELETE", "/api/v1/sessions/app-2?force=maybe").status, 400u);
  ops->next = op_result::failed;
  CAF_CHECK_EQUAL(call("DELETE", "/api/v1/sessions/app-2").status, 503u);
  ops->next = op_result::not_found;
  CAF_CHECK_EQUAL(call("DELETE", "/api/v1/retained?topic=a%2Fb").status, 404u);
  CAF_CHECK_EQUAL(ops->last, "delete a/b");
  CAF_CHECK_EQUAL(call("DELETE", "/api/v1/retained").status, 400u);
  CAF_CHECK_EQUAL(call("DELETE", "/api/v1/retained?topic=a%2F%23").status, 400u);
  auto r = body(call("GET", "/api/v1/retained?topic_prefix=t%2F&limit=10"));
  CAF_CHECK_EQUAL(ops->last, "retained t/||10");
  CAF_CHECK_EQUAL(r["items"][0]["payload_preview"], "abc");
  CAF_CHECK_EQUAL(call("GET", "/api/v1/retained?cursor=bogus").status, 400u);
  auto s = body(call("GET", "/api/v1/status"));
  CAF_CHECK_EQUAL(s["node"], "n1");
  CAF_CHECK_EQUAL(s["retained"], 1);
  CAF_CHECK_EQUAL(s["sessions"]["connected"], 1);
}

CAF_TEST_FIXTURE_SCOPE_END()
