#pragma once
/// The admin HTTP server: Boost.Beast on its own io_context thread (never a
/// CAF worker), a route registry, and authentication (bearer token or HTTP
/// basic credentials, unless `auth_disabled`). No CAF, no MQTT: the REST API
/// (amq/admin/api.hpp), the Prometheus endpoint and the Sessions page are
/// routes registered on it.
///
/// Extension point
/// ---------------
/// Register routes before `start()`:
///
///     server.add_route("GET", "/metrics", [](const http_request&) {
///       return http_response::text(200, render_metrics(), "text/plain; version=0.0.4");
///     }, /*needs_auth=*/false);
///     server.add_route("GET", "/", serve_static, false, match_kind::prefix);
///
/// A handler returns its response; an async handler gets a `respond_fn` it
/// must call exactly once, from any thread (e.g. from a CAF actor once an
/// answer arrived); the response is written on the server's thread.
/// Matching: an exact route wins over a prefix route; among prefix routes
/// the longest wins. A path with routes for other methods only gets 405
/// (with Allow), a path without routes 404. `needs_auth` routes answer 401
/// with a JSON error unless the request carries `Authorization: Bearer
/// <admin.token>` or `Authorization: Basic base64(user:password)`.
///
/// Limits: request headers up to `max_header_bytes` (431 beyond), bodies up
/// to `max_body_bytes` (413 beyond), `max_connections` at once (503 beyond),
/// idle connections closed after `idle_timeout`. A malformed request gets 400
/// and the connection is closed.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace amq::admin {

struct http_request {
  std::string method;  ///< "GET", "POST", ... as sent
  std::string path;    ///< the target's path, still percent-encoded
  std::string query;   ///< the raw query string after '?', empty if none
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string peer;    ///< "ip:port" of the client

  /// Value of header `name` (case-insensitive), empty if absent.
  std::string_view header(std::string_view name) const;
};

struct http_response {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;

  /// `{"error": message}` with `status`.
  static http_response error(unsigned status, std::string_view message);
  static http_response text(unsigned status, std::string body,
                            std::string content_type = "text/plain; charset=utf-8");
};

using respond_fn = std::function<void(http_response)>;
using handler = std::function<http_response(const http_request&)>;
using async_handler = std::function<void(const http_request&, respond_fn)>;

enum class match_kind : uint8_t { exact, prefix };

struct http_server_options {
  std::string bind = "127.0.0.1";
  uint16_t port = 8083; ///< 0: pick a free port (see port())
  bool auth_disabled = false;
  std::string token;    ///< empty: no bearer token accepted
  std::string username; ///< empty: no basic credentials accepted
  std::string password;
  size_t max_header_bytes = 16 * 1024;
  size_t max_body_bytes = 1024 * 1024;
  size_t max_connections = 256;
  std::chrono::seconds idle_timeout{60};
};

class http_server {
public:
  explicit http_server(http_server_options opts);
  ~http_server();
  http_server(const http_server&) = delete;
  http_server& operator=(const http_server&) = delete;

  /// Registers a route (before start()). `path` is matched against the raw
  /// request path; with `match_kind::prefix` every path starting with it.
  void add_route(std::string method, std::string path, handler h, bool needs_auth = true,
                 match_kind kind = match_kind::exact);
  void add_async_route(std::string method, std::string path, async_handler h,
                       bool needs_auth = true, match_kind kind = match_kind::exact);

  /// Binds, listens and starts the server thread. Returns the bind error.
  std::error_code start();

  /// Stops accepting, closes every connection, joins the thread. Idempotent.
  void stop();

  /// The bound port (after start(); useful with port 0).
  uint16_t port() const;

  /// True if credentials are configured or auth is disabled; false means
  /// every protected route answers 401.
  bool has_credentials() const;

  /// Routing and authentication without a socket (tests, benchmarks): calls
  /// `respond` exactly once, possibly from another thread (async routes).
  void dispatch(const http_request& req, respond_fn respond) const;

  /// True if `req` carries valid credentials (or auth is disabled).
  bool authorized(const http_request& req) const;

  struct stats {
    uint64_t requests = 0;
    uint64_t unauthorized = 0;
    uint64_t bad_requests = 0; ///< malformed, too large, refused (400/413/431/503)
  };
  stats get_stats() const;

  struct impl;

private:
  std::shared_ptr<impl> impl_;
};

/// Percent-decodes `in` (RFC 3986; '+' is kept as is unless `plus_is_space`).
/// False on a malformed escape.
bool percent_decode(std::string_view in, std::string& out, bool plus_is_space = false);

/// Splits a query string into decoded (name, value) pairs. False (with the
/// offending name in `bad`) on a malformed escape.
bool parse_query(std::string_view query, std::vector<std::pair<std::string, std::string>>& out,
                 std::string& bad);

/// Standard base64 (RFC 4648) decode; false on invalid input.
bool base64_decode(std::string_view in, std::string& out);

} // namespace amq::admin
