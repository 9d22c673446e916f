#define CAF_SUITE web_assets
#include <caf/test/unit_test.hpp>

#include "amq/admin/http_server.hpp"
#include "amq/web/assets.hpp"
#include "amq/web/routes.hpp"

#include <regex>
#include <string>
#include <string_view>

using namespace amq;

namespace {

std::string_view body_of(std::string_view path) {
  auto a = web::find(path);
  return a ? a->file->body : std::string_view{};
}

admin::http_response dispatch(const admin::http_server& s, admin::http_request req) {
  admin::http_response out;
  bool called = false;
  s.dispatch(req, [&](admin::http_response r) {
    out = std::move(r);
    called = true;
  });
  CAF_REQUIRE(called); // both routes here answer synchronously
  return out;
}

std::string header(const admin::http_response& r, std::string_view name) {
  for (auto& [k, v] : r.headers)
    if (k == name)
      return v;
  return {};
}

} // namespace

CAF_TEST(the page and its files are embedded with content types) {
  CAF_CHECK_GREATER_OR_EQUAL(web::files().size(), 3u);
  for (auto& f : web::files()) {
    CAF_MESSAGE("embedded " << f.path << ": " << f.body.size() << " bytes, etag " << f.etag);
    CAF_CHECK(!f.body.empty());
    CAF_CHECK_EQUAL(f.etag.size(), 18u); // 16 hex digits in quotes
  }
  auto root = web::find("/");
  CAF_REQUIRE(root != nullptr);
  CAF_CHECK_EQUAL(root, web::find("/index.html"));
  CAF_CHECK_EQUAL(root->content_type, "text/html; charset=utf-8");
  CAF_CHECK(root->file->body.starts_with("<!doctype html>"));
  CAF_REQUIRE(web::find("/app.js?v=2") != nullptr);
  CAF_CHECK_EQUAL(web::find("/app.js?v=2")->content_type, "text/javascript; charset=utf-8");
  CAF_REQUIRE(web::find("/style.css") != nullptr);
  CAF_CHECK_EQUAL(web::find("/style.css")->content_type, "text/css; charset=utf-8");
}

CAF_TEST(only embedded files match) {
  for (auto p : {"/api/v1/sessions", "/../index.html", "/index.html/", "//index.html", "/APP.JS",
                 "/app.js%00", "/nope", "/web/app.js", "/%2e%2e/etc/passwd"})
    CAF_CHECK_EQUAL(web::find(p), nullptr);
}

CAF_TEST(every file index.html loads is embedded) {
  auto html = std::string{body_of("/index.html")};
  std::regex ref{R"re((?:src|href)="([^"]+)")re"};
  size_t local = 0;
  for (auto it = std::sregex_iterator(html.begin(), html.end(), ref); it != std::sregex_iterator();
       ++it) {
    auto target = (*it)[1].str();
    if (target.find(':') != std::string::npos || target.starts_with("#"))
      continue; // absolute URL or fragment
    ++local;
    CAF_MESSAGE("index.html loads " << target);
    CAF_CHECK(web::find("/" + target) != nullptr);
  }
  CAF_CHECK_GREATER_OR_EQUAL(local, 2u); // app.js and style.css
}

CAF_TEST(app.js never parses data as HTML) {
  // Client ids and topic filters are attacker-controlled: the page builds its
  // DOM with createElement/textContent only (docs/sessions-page.md, Security).
  auto js = body_of("/app.js");
  CAF_REQUIRE(!js.empty());
  for (auto bad : {"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
                   "new Function", "DOMParser"})
  {
    CAF_MESSAGE("app.js must not use " << bad);
    CAF_CHECK_EQUAL(js.find(bad), std::string_view::npos);
  }
}

CAF_TEST(the page is served without credentials while the API still needs them) {
  admin::http_server_options opts;
  opts.port = 0;
  opts.token = "s3cret";
  admin::http_server server{opts};
  server.add_route("GET", "/api/v1/status",
                   [](const admin::http_request&) { return admin::http_response::text(200, "{}"); });
  web::add_page_routes(server);

  admin::http_request req;
  req.method = "GET";
  req.path = "/";
  auto page = dispatch(server, req);
  CAF_CHECK_EQUAL(page.status, 200u);
  CAF_CHECK_EQUAL(page.content_type, "text/html; charset=utf-8");
  CAF_CHECK(page.body.starts_with("<!doctype html>"));
  CAF_CHECK_EQUAL(header(page, "Content-Security-Policy"), web::content_security_policy);
  CAF_CHECK_EQUAL(header(page, "X-Content-Type-Options"), "nosniff");
  CAF_CHECK_EQUAL(header(page, "Cache-Control"), "no-cache");
  auto etag = header(page, "ETag");
  CAF_CHECK_EQUAL(etag, web::find("/")->file->etag);

  req.headers.emplace_back("If-None-Match", etag);
  auto cached = dispatch(server, req);
  CAF_CHECK_EQUAL(cached.status, 304u);
  CAF_CHECK(cached.body.empty());

  req.headers.clear();
  req.path = "/app.js";
  CAF_CHECK_EQUAL(dispatch(server, req).status, 200u);
  req.path = "/secret.txt";
  CAF_CHECK_EQUAL(dispatch(server, req).status, 404u);
  req.path = "/api/v1/status"; // the longer, protected route wins over "/"
  CAF_CHECK_EQUAL(dispatch(server, req).status, 401u);
  req.path = "/api/v1/nope";
  CAF_CHECK_EQUAL(dispatch(server, req).status, 404u);
  req.headers.emplace_back("Authorization", "Bearer s3cret");
  req.path = "/api/v1/status";
  CAF_CHECK_EQUAL(dispatch(server, req).status, 200u);
}
