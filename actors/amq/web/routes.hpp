#pragma once

// Serves the embedded Sessions page (amq/web/assets.hpp) on the admin HTTP
// server. Header-only so that actormq_web does not depend on the admin
// library; whoever builds the server calls, before start():
//
//     amq::web::add_page_routes(server);
//
// GET "/" and every path below it that is not an API route (the API's routes
// are longer prefixes, so they win) answer the page's files WITHOUT
// authentication: the files hold no data, and the page asks the operator for
// the admin token itself (kept in sessionStorage). Anything else under "/"
// answers 404. Responses carry an ETag (304 on a match), no-cache, and a
// Content-Security-Policy that only allows the page's own scripts, styles and
// origin.

#include "amq/admin/http_server.hpp"
#include "amq/web/assets.hpp"

#include <string>

namespace amq::web {

/// The response for a GET of `req.path` (404 JSON error if it is not a page file).
inline admin::http_response page_response(const admin::http_request& req) {
  const asset* a = find(req.path);
  if (a == nullptr)
    return admin::http_response::error(404, "no such page or API route");
  admin::http_response r;
  r.headers.emplace_back("ETag", std::string{a->file->etag});
  r.headers.emplace_back("Cache-Control", "no-cache");
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  r.headers.emplace_back("Referrer-Policy", "no-referrer");
  r.headers.emplace_back("X-Frame-Options", "DENY");
  r.headers.emplace_back("Content-Security-Policy", std::string{content_security_policy});
  r.content_type = std::string{a->content_type};
  if (req.header("If-None-Match") == a->file->etag) {
    r.status = 304;
    return r;
  }
  r.status = 200;
  r.body = std::string{a->file->body};
  return r;
}

/// Registers the page's route: GET "/" as a prefix route without authentication.
inline void add_page_routes(admin::http_server& server) {
  server.add_route("GET", "/", page_response, /*needs_auth=*/false, admin::match_kind::prefix);
}

} // namespace amq::web
