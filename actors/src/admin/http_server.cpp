// The admin HTTP server on Boost.Beast: one io_context thread, one
// `http_conn` per connection (read a request, dispatch, write, repeat while
// keep-alive). Design and limits: amq/admin/http_server.hpp.
#include "amq/admin/http_server.hpp"
#include "amq/thread_name.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_set>

namespace amq::admin {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

// -- helpers ---------------------------------------------------------------------

namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size()
         && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
              return std::tolower(static_cast<unsigned char>(x))
                     == std::tolower(static_cast<unsigned char>(y));
            });
}

/// Constant-time comparison (does not leak the position of a mismatch).
bool secure_equals(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i)
    diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
  return diff == 0;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

} // namespace

bool percent_decode(std::string_view in, std::string& out, bool plus_is_space) {
  out.clear();
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size())
        return false;
      int hi = hex_value(in[i + 1]);
      int lo = hex_value(in[i + 2]);
      if (hi < 0 || lo < 0)
        return false;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return true;
}

bool parse_query(std::string_view query, std::vector<std::pair<std::string, std::string>>& out,
                 std::string& bad) {
  out.clear();
  while (!query.empty()) {
    auto amp = query.find('&');
    auto part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (part.empty())
      continue;
    auto eq = part.find('=');
    auto raw_name = part.substr(0, eq);
    auto raw_value = eq == std::string_view::npos ? std::string_view{} : part.substr(eq + 1);
    std::string name, value;
    if (!percent_decode(raw_name, name, true)) {
      bad = std::string{raw_name};
      return false;
    }
    if (!percent_decode(raw_value, value, true)) {
      bad = name;
      return false;
    }
    out.emplace_back(std::move(name), std::move(value));
  }
  return true;
}

bool base64_decode(std::string_view in, std::string& out) {
  out.clear();
  while (!in.empty() && in.back() == '=')
    in.remove_suffix(1);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v;
    if (c >= 'A' && c <= 'Z')
      v = c - 'A';
    else if (c >= 'a' && c <= 'z')
      v = c - 'a' + 26;
    else if (c >= '0' && c <= '9')
      v = c - '0' + 52;
    else if (c == '+')
      v = 62;
    else if (c == '/')
      v = 63;
    else
      return false;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  return bits < 6; // a lone trailing sextet is invalid
}

std::string_view http_request::header(std::string_view name) const {
  for (auto& [k, v] : headers)
    if (iequals(k, name))
      return v;
  return {};
}

http_response http_response::error(unsigned status, std::string_view message) {
  http_response r;
  r.status = status;
  r.body = nlohmann::json{{"error", message}}.dump(-1, ' ', false,
                                                    nlohmann::json::error_handler_t::replace);
  return r;
}

http_response http_response::text(unsigned status, std::string body, std::string content_type) {
  http_response r;
  r.status = status;
  r.body = std::move(body);
  r.content_type = std::move(content_type);
  return r;
}

// -- the server ------------------------------------------------------------------

struct route {
  std::string method;
  std::string path;
  async_handler fn;
  bool needs_auth;
  match_kind kind;
};

struct http_server::impl : std::enable_shared_from_this<http_server::impl> {
  explicit impl(http_server_options o) : opts(std::move(o)) {}

  http_server_options opts;
  std::vector<route> routes;
  asio::io_context ioc{1};
  std::optional<tcp::acceptor> acceptor;
  asio::steady_timer retry{ioc};
  std::thread thread;
  uint16_t bound_port = 0;
  std::atomic<size_t> connections{0};
  std::atomic<uint64_t> requests{0};
  mutable std::atomic<uint64_t> unauthorized{0};
  std::atomic<uint64_t> bad_requests{0};
  /// Open connections, closed on stop (only touched on the server thread).
  std::unordered_set<std::shared_ptr<struct http_conn>> open;
  bool stopped = false;

  void accept();
  void dispatch(const http_request& req, respond_fn respond) const;
  bool authorized(const http_request& req) const;
};

struct http_conn : std::enable_shared_from_this<http_conn> {
  http_conn(tcp::socket s, std::shared_ptr<http_server::impl> srv)
    : stream(std::move(s)), server(std::move(srv)) {
    beast::error_code ec;
    auto ep = stream.socket().remote_endpoint(ec);
    if (!ec) {
      auto addr = ep.address();
      peer = (addr.is_v6() ? "[" + addr.to_string() + "]" : addr.to_string()) + ":"
             + std::to_string(ep.port());
    }
  }

  void read() {
    parser.emplace();
    parser->header_limit(static_cast<uint32_t>(server->opts.max_header_bytes));
    parser->body_limit(server->opts.max_body_bytes);
    stream.expires_after(server->opts.idle_timeout);
    http::async_read(stream, buffer, *parser,
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       self->on_read(ec);
                     });
  }

  void on_read(beast::error_code ec) {
    if (ec) {
      if (ec == http::error::body_limit) {
        ++server->bad_requests;
        fail(http_response::error(413, "request body too large"));
      } else if (ec == http::error::header_limit) {
        ++server->bad_requests;
        fail(http_response::error(431, "request headers too large"));
      } else if (ec.category() == http::make_error_code(http::error::bad_target).category()
                 && ec != http::error::end_of_stream && ec != http::error::partial_message) {
        ++server->bad_requests;
        fail(http_response::error(400, "malformed request: " + ec.message()));
      } else {
        close();
      }
      return;
    }
    auto& msg = parser->get();
    http_request req;
    req.method = std::string{msg.method_string()};
    std::string_view target{msg.target().data(), msg.target().size()};
    // Absolute form (http://host/path): keep the path.
    if (auto scheme = target.find("://"); scheme != std::string_view::npos && target[0] != '/') {
      auto slash = target.find('/', scheme + 3);
      target = slash == std::string_view::npos ? std::string_view{"/"} : target.substr(slash);
    }
    auto q = target.find('?');
    req.path = std::string{target.substr(0, q)};
    if (q != std::string_view::npos)
      req.query = std::string{target.substr(q + 1)};
    for (auto& f : msg)
      req.headers.emplace_back(std::string{f.name_string()}, std::string{f.value()});
    req.body = std::move(msg.body());
    req.peer = peer;
    keep_alive = msg.keep_alive();
    ++server->requests;
    auto self = shared_from_this();
    server->dispatch(req, [self](http_response r) {
      auto s = self;
      asio::post(s->stream.get_executor(),
                 [s, r = std::move(r)]() mutable { s->write(std::move(r), s->keep_alive); });
    });
  }

  void write(http_response r, bool keep) {
    if (closed)
      return;
    auto res = std::make_shared<http::response<http::string_body>>();
    res->result(static_cast<http::status>(r.status));
    res->version(11);
    res->set(http::field::server, "actormq");
    res->set(http::field::content_type, r.content_type);
    res->set(http::field::cache_control, "no-store");
    for (auto& [k, v] : r.headers)
      res->set(k, v);
    res->body() = std::move(r.body);
    res->keep_alive(keep);
    res->prepare_payload();
    stream.expires_after(server->opts.idle_timeout);
    http::async_write(stream, *res,
                      [self = shared_from_this(), res, keep](beast::error_code ec, size_t) {
                        if (ec || !keep)
                          self->close();
                        else
                          self->read();
                      });
  }

  /// Answers an unreadable request and closes.
  void fail(http_response r) {
    write(std::move(r), false);
  }

  void close() {
    if (closed)
      return;
    closed = true;
    beast::error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream.close(); // also cancels the idle timer
    --server->connections;
    server->open.erase(shared_from_this());
  }

  beast::tcp_stream stream;
  std::shared_ptr<http_server::impl> server;
  beast::flat_buffer buffer;
  std::optional<http::request_parser<http::string_body>> parser;
  std::string peer;
  bool keep_alive = false;
  bool closed = false;
};

void http_server::impl::accept() {
  acceptor->async_accept([self = shared_from_this()](beast::error_code ec, tcp::socket s) {
    if (self->stopped)
      return;
    if (ec) {
      // E.g. out of file descriptors: try again shortly, not in a busy loop.
      self->retry.expires_after(std::chrono::milliseconds{100});
      self->retry.async_wait([self](beast::error_code) {
        if (!self->stopped)
          self->accept();
      });
      return;
    }
    auto conn = std::make_shared<http_conn>(std::move(s), self);
    self->open.insert(conn);
    if (++self->connections > self->opts.max_connections) {
      ++self->bad_requests;
      conn->fail(http_response::error(503, "too many admin connections"));
    } else {
      conn->read();
    }
    self->accept();
  });
}

bool http_server::impl::authorized(const http_request& req) const {
  if (opts.auth_disabled)
    return true;
  auto auth = req.header("Authorization");
  auto sp = auth.find(' ');
  if (sp == std::string_view::npos)
    return false;
  auto scheme = auth.substr(0, sp);
  auto cred = auth.substr(sp + 1);
  while (!cred.empty() && cred.front() == ' ')
    cred.remove_prefix(1);
  while (!cred.empty() && cred.back() == ' ')
    cred.remove_suffix(1);
  if (iequals(scheme, "Bearer"))
    return !opts.token.empty() && secure_equals(cred, opts.token);
  if (iequals(scheme, "Basic")) {
    if (opts.username.empty())
      return false;
    std::string plain;
    if (!base64_decode(cred, plain))
      return false;
    auto colon = plain.find(':');
    if (colon == std::string::npos)
      return false;
    bool user_ok = secure_equals(std::string_view{plain}.substr(0, colon), opts.username);
    bool pass_ok = secure_equals(std::string_view{plain}.substr(colon + 1), opts.password);
    return user_ok && pass_ok;
  }
  return false;
}

void http_server::impl::dispatch(const http_request& req, respond_fn respond) const {
  const route* best = nullptr;
  bool path_known = false;
  std::string allow;
  auto consider = [&](bool exact) {
    for (auto& r : routes) {
      bool hit = exact ? (r.kind == match_kind::exact && r.path == req.path)
                       : (r.kind == match_kind::prefix && req.path.starts_with(r.path));
      if (!hit)
        continue;
      path_known = true;
      if (r.method == req.method) {
        if (!best || (best->kind == match_kind::prefix && r.path.size() > best->path.size()))
          best = &r;
      } else if (allow.find(r.method) == std::string::npos) {
        allow += allow.empty() ? r.method : ", " + r.method;
      }
    }
  };
  consider(true);
  if (!best && !path_known)
    consider(false);
  if (!best) {
    if (!path_known) {
      respond(http_response::error(404, "no such resource: " + req.path));
      return;
    }
    auto r = http_response::error(405, "method " + req.method + " not allowed on " + req.path);
    r.headers.emplace_back("Allow", allow);
    respond(std::move(r));
    return;
  }
  if (best->needs_auth && !authorized(req)) {
    ++unauthorized;
    auto r = http_response::error(
      401, opts.token.empty() && opts.username.empty()
             ? "authentication required, but the broker has no admin credentials configured "
               "(set admin.token or admin.username/admin.password)"
             : "authentication required: send Authorization: Bearer <token> or Basic credentials");
    r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"actormq\"");
    respond(std::move(r));
    return;
  }
  try {
    best->fn(req, respond);
  } catch (const std::exception& e) {
    respond(http_response::error(500, std::string{"internal error: "} + e.what()));
  }
}

http_server::http_server(http_server_options opts)
  : impl_(std::make_shared<impl>(std::move(opts))) {
}

http_server::~http_server() {
  stop();
}

void http_server::add_route(std::string method, std::string path, handler h, bool needs_auth,
                            match_kind kind) {
  add_async_route(
    std::move(method), std::move(path),
    [h = std::move(h)](const http_request& req, respond_fn respond) { respond(h(req)); },
    needs_auth, kind);
}

void http_server::add_async_route(std::string method, std::string path, async_handler h,
                                  bool needs_auth, match_kind kind) {
  impl_->routes.push_back(route{std::move(method), std::move(path), std::move(h), needs_auth, kind});
}

std::error_code http_server::start() {
  auto& s = *impl_;
  beast::error_code ec;
  auto addr = asio::ip::make_address(s.opts.bind, ec);
  if (ec)
    return ec;
  tcp::endpoint ep{addr, s.opts.port};
  s.acceptor.emplace(s.ioc);
  s.acceptor->open(ep.protocol(), ec);
  if (!ec)
    s.acceptor->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec)
    s.acceptor->bind(ep, ec);
  if (!ec)
    s.acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    s.acceptor.reset();
    return ec;
  }
  s.bound_port = s.acceptor->local_endpoint().port();
  s.accept();
  s.thread = std::thread([self = impl_] {
    name_this_thread("amq.admin");
    for (;;) {
      try {
        self->ioc.run();
        return;
      } catch (...) {
        // A handler threw: keep serving.
      }
    }
  });
  return {};
}

void http_server::stop() {
  auto& s = *impl_;
  if (!s.thread.joinable())
    return;
  asio::post(s.ioc, [self = impl_] {
    self->stopped = true;
    beast::error_code ec;
    if (self->acceptor)
      self->acceptor->close(ec);
    self->retry.cancel();
    auto open = self->open;
    for (auto& c : open)
      c->close();
    // run() returns once the aborted operations have completed: no handler
    // (and no reference to this impl) is left behind in the io_context.
  });
  s.thread.join();
}

uint16_t http_server::port() const {
  return impl_->bound_port;
}

bool http_server::has_credentials() const {
  auto& o = impl_->opts;
  return o.auth_disabled || !o.token.empty() || !o.username.empty();
}

void http_server::dispatch(const http_request& req, respond_fn respond) const {
  impl_->dispatch(req, std::move(respond));
}

bool http_server::authorized(const http_request& req) const {
  return impl_->authorized(req);
}

http_server::stats http_server::get_stats() const {
  return stats{impl_->requests.load(), impl_->unauthorized.load(), impl_->bad_requests.load()};
}

} // namespace amq::admin
