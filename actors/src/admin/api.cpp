// The /api/v1 routes: parameter parsing, JSON rendering. Reference:
// docs/admin-api.md; design: amq/admin/api.hpp.
#include "amq/admin/api.hpp"

#include <nlohmann/json.hpp>

#include <charconv>

namespace amq::admin {

using json = nlohmann::json;

namespace {

constexpr std::string_view sessions_path = "/api/v1/sessions";
constexpr std::string_view sessions_prefix = "/api/v1/sessions/";

http_response json_response(unsigned status, const json& j) {
  http_response r;
  r.status = status;
  r.body = j.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

http_response bad_param(std::string_view name, std::string_view why) {
  return http_response::error(400, std::string{name} + ": " + std::string{why});
}

json ms_or_null(int64_t ms) {
  return ms == 0 ? json(nullptr) : json(ms);
}

const char* type_name(client_kind k) {
  return k == client_kind::application ? "APPLICATION" : "DEVICE";
}

const char* version_name(uint8_t v) {
  return v == 4 ? "3.1.1" : v == 3 ? "3.1" : "5.0";
}

json row_json(const session_row& r) {
  auto& i = r.info;
  return json{{"client_id", i.client_id},
              {"type", type_name(i.type)},
              {"persistent", i.persistent},
              {"connected", i.connected},
              {"protocol_version", version_name(i.protocol_version)},
              {"client_address", i.address.empty() ? json(nullptr) : json(i.address)},
              {"node", r.node},
              {"connected_at", ms_or_null(i.connected_at_ms)},
              {"disconnected_at", ms_or_null(i.connected ? 0 : i.disconnected_at_ms)},
              {"subscriptions", i.subscriptions},
              {"inflight", r.inflight},
              {"queue_depth", r.queue_depth}};
}

json totals_json(const directory_totals& t) {
  return json{{"sessions", t.sessions},         {"connected", t.connected},
              {"disconnected", t.disconnected}, {"persistent", t.persistent},
              {"clean", t.clean},               {"device", t.device},
              {"application", t.application}};
}

template <class T>
bool parse_uint(std::string_view s, T& out, T lo, T hi) {
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size() || v < lo || v > hi)
    return false;
  out = static_cast<T>(v);
  return true;
}

bool parse_bool(std::string_view s, bool& out) {
  if (s == "true" || s == "1") {
    out = true;
    return true;
  }
  if (s == "false" || s == "0") {
    out = false;
    return true;
  }
  return false;
}

using params = std::vector<std::pair<std::string, std::string>>;

/// Parses the query; on error returns the 400 response.
std::optional<http_response> parse_params(const http_request& req, params& out,
                                          std::initializer_list<std::string_view> allowed) {
  std::string bad;
  if (!parse_query(req.query, out, bad))
    return bad_param(bad.empty() ? std::string_view{"query"} : std::string_view{bad},
                     "malformed percent-encoding");
  for (auto& [k, v] : out) {
    if (std::find(allowed.begin(), allowed.end(), k) == allowed.end())
      return bad_param(k, "unknown parameter");
    if (k.size() > 256 || v.size() > 65536 * 4)
      return bad_param(k, "too long");
  }
  for (size_t i = 0; i < out.size(); ++i)
    for (size_t j = i + 1; j < out.size(); ++j)
      if (out[i].first == out[j].first)
        return bad_param(out[i].first, "given more than once");
  return std::nullopt;
}

class api {
public:
  api(std::shared_ptr<const session_directory> dir, std::shared_ptr<broker_ops> ops,
      api_info info)
    : dir_(std::move(dir)), ops_(std::move(ops)), info_(std::move(info)) {}

  http_response list_sessions(const http_request& req) const {
    params ps;
    if (auto err = parse_params(req, ps,
                                {"limit", "cursor", "sort", "order", "connected", "persistent",
                                 "type", "client_id", "node", "client_ip", "min_subscriptions",
                                 "max_subscriptions"}))
      return *err;
    directory_query q;
    for (auto& [k, v] : ps) {
      if (v.empty())
        continue; // an empty value means "any"
      if (k == "limit") {
        if (!parse_uint<size_t>(v, q.limit, 1, 1000))
          return bad_param(k, "must be an integer from 1 to 1000");
      } else if (k == "cursor") {
        q.cursor = v;
      } else if (k == "sort") {
        auto s = parse_sort_key(v);
        if (!s)
          return bad_param(k, "must be client_id, connected_at, disconnected_at or subscriptions");
        q.sort = *s;
      } else if (k == "order") {
        if (v != "asc" && v != "desc")
          return bad_param(k, "must be asc or desc");
        q.descending = v == "desc";
      } else if (k == "connected" || k == "persistent") {
        bool b;
        if (!parse_bool(v, b))
          return bad_param(k, "must be true or false");
        (k == "connected" ? q.connected : q.persistent) = b;
      } else if (k == "type") {
        if (v == "DEVICE" || v == "device")
          q.type = client_kind::device;
        else if (v == "APPLICATION" || v == "application")
          q.type = client_kind::application;
        else
          return bad_param(k, "must be DEVICE or APPLICATION");
      } else if (k == "client_id") {
        q.client_id_contains = v;
      } else if (k == "node") {
        q.node = v;
      } else if (k == "client_ip") {
        q.client_ip = v;
      } else if (k == "min_subscriptions" || k == "max_subscriptions") {
        uint32_t n;
        if (!parse_uint<uint32_t>(v, n, 0, UINT32_MAX))
          return bad_param(k, "must be a non-negative integer");
        (k == "min_subscriptions" ? q.min_subscriptions : q.max_subscriptions) = n;
      }
    }
    directory_page page;
    std::string error;
    if (!dir_->list(q, page, error))
      return http_response::error(400, error);
    json items = json::array();
    for (auto& r : page.items)
      items.push_back(row_json(r));
    json body{{"items", std::move(items)},
              {"next_cursor", page.next_cursor ? json(*page.next_cursor) : json(nullptr)},
              {"totals", totals_json(page.totals)},
              {"matching", page.matching ? json(*page.matching) : json(nullptr)}};
    return json_response(200, body);
  }

  /// /api/v1/sessions/{id}[/disconnect]
  void session_route(const http_request& req, respond_fn respond) const {
    auto rest = std::string_view{req.path}.substr(sessions_prefix.size());
    auto slash = rest.find('/');
    auto raw_id = rest.substr(0, slash);
    auto action = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
    std::string id;
    if (!percent_decode(raw_id, id))
      return respond(bad_param("client_id", "malformed percent-encoding in the path"));
    if (id.empty())
      return respond(bad_param("client_id", "empty"));
    if (action == "disconnect") {
      if (req.method != "POST")
        return respond(method_not_allowed(req, "POST"));
      return disconnect(req, id, std::move(respond));
    }
    if (!action.empty())
      return respond(http_response::error(404, "no such resource: " + req.path));
    if (req.method == "GET")
      return detail(req, id, std::move(respond));
    if (req.method == "DELETE")
      return clear(req, id, std::move(respond));
    respond(method_not_allowed(req, "GET, DELETE"));
  }

  static http_response method_not_allowed(const http_request& req, std::string allow) {
    auto r = http_response::error(405, "method " + req.method + " not allowed on " + req.path);
    r.headers.emplace_back("Allow", std::move(allow));
    return r;
  }

  void detail(const http_request& req, const std::string& id, respond_fn respond) const {
    params ps;
    if (auto err = parse_params(req, ps, {}))
      return respond(*err);
    auto row = dir_->find(id);
    if (!row)
      return respond(http_response::error(404, "no session with client id " + id));
    auto j = row_json(*row);
    auto& i = row->info;
    j["keep_alive"] = i.keep_alive;
    j["session_expiry_interval"] = i.session_expiry == UINT32_MAX ? json(nullptr)
                                                                  : json(i.session_expiry);
    j["expires_at"] = i.connected ? json(nullptr) : ms_or_null(i.expires_at_ms);
    j["dropped"] = row->dropped;
    ops_->subscriptions(id, [j = std::move(j), respond](
                              std::optional<std::vector<subscription_view>> subs) mutable {
      json list = json::array();
      if (subs)
        for (auto& s : *subs)
          list.push_back(json{{"filter", s.filter},
                              {"qos", s.qos},
                              {"no_local", s.no_local},
                              {"retain_as_published", s.retain_as_published},
                              {"retain_handling", s.retain_handling},
                              {"subscription_id", s.subscription_id == 0
                                                    ? json(nullptr)
                                                    : json(s.subscription_id)}});
      j["subscription_count"] = j["subscriptions"];
      j["subscriptions"] = std::move(list);
      j["subscriptions_known"] = subs.has_value();
      respond(json_response(200, j));
    });
  }

  void disconnect(const http_request& req, const std::string& id, respond_fn respond) const {
    params ps;
    if (auto err = parse_params(req, ps, {}))
      return respond(*err);
    auto row = dir_->find(id);
    if (!row)
      return respond(http_response::error(404, "no session with client id " + id));
    if (!row->info.connected)
      return respond(http_response::error(409, "session " + id + " is not connected"));
    ops_->disconnect(id, [id, respond](op_result r) {
      switch (r) {
        case op_result::done:
          return respond(json_response(200, json{{"client_id", id}, {"disconnected", true}}));
        case op_result::not_found:
          return respond(http_response::error(404, "no session with client id " + id));
        case op_result::conflict:
          return respond(http_response::error(409, "session " + id + " is not connected"));
        case op_result::failed:
          break;
      }
      respond(http_response::error(503, "the broker did not answer in time"));
    });
  }

  void clear(const http_request& req, const std::string& id, respond_fn respond) const {
    params ps;
    if (auto err = parse_params(req, ps, {"force"}))
      return respond(*err);
    bool force = false;
    for (auto& [k, v] : ps)
      if (!v.empty() && !parse_bool(v, force))
        return respond(bad_param(k, "must be true or false"));
    auto row = dir_->find(id);
    if (!row)
      return respond(http_response::error(404, "no session with client id " + id));
    if (row->info.connected && !force)
      return respond(http_response::error(
        409, "session " + id + " is connected: disconnect it first or use ?force=true"));
    ops_->clear(id, force, [id, respond](op_result r) {
      switch (r) {
        case op_result::done:
          return respond(json_response(200, json{{"client_id", id}, {"cleared", true}}));
        case op_result::not_found:
          return respond(http_response::error(404, "no session with client id " + id));
        case op_result::conflict:
          return respond(http_response::error(
            409, "session " + id + " is connected: disconnect it first or use ?force=true"));
        case op_result::failed:
          break;
      }
      respond(http_response::error(503, "the broker could not clear the session"));
    });
  }

  void list_retained(const http_request& req, respond_fn respond) const {
    params ps;
    if (auto err = parse_params(req, ps, {"topic_prefix", "limit", "cursor"}))
      return respond(*err);
    std::string prefix, after;
    size_t limit = 100;
    for (auto& [k, v] : ps) {
      if (v.empty())
        continue;
      if (k == "topic_prefix") {
        prefix = v;
      } else if (k == "limit") {
        if (!parse_uint<size_t>(v, limit, 1, 1000))
          return respond(bad_param(k, "must be an integer from 1 to 1000"));
      } else if (k == "cursor") {
        sort_key sk;
        bool desc;
        int64_t value;
        if (!decode_cursor(v, sk, desc, value, after) || sk != sort_key::client_id || desc
            || value != 1 || after.empty())
          return respond(bad_param(k, "not a cursor this server returned"));
      }
    }
    ops_->retained(prefix, after, limit, [respond](std::optional<retained_list> list) {
      if (!list)
        return respond(http_response::error(503, "the broker did not answer in time"));
      json items = json::array();
      for (auto& m : list->items)
        items.push_back(json{{"topic", m.topic},
                             {"qos", m.qos},
                             {"payload_bytes", m.payload_bytes},
                             {"payload_preview", m.payload_preview},
                             {"expires_in", m.expires_in_s ? json(*m.expires_in_s)
                                                           : json(nullptr)}});
      json next = nullptr;
      if (list->more && !list->items.empty())
        next = encode_cursor(sort_key::client_id, false, 1, list->items.back().topic);
      respond(json_response(
        200, json{{"items", std::move(items)}, {"next_cursor", next}, {"total", list->total}}));
    });
  }

  void delete_retained(const http_request& req, respond_fn respond) const {
    params ps;
    if (auto err = parse_params(req, ps, {"topic"}))
      return respond(*err);
    std::string topic;
    for (auto& [k, v] : ps)
      topic = v;
    if (topic.empty())
      return respond(bad_param("topic", "required (the exact topic name)"));
    if (topic.find_first_of("+#") != std::string::npos)
      return respond(bad_param("topic", "must be a topic name, not a filter"));
    ops_->delete_retained(topic, [topic, respond](op_result r) {
      if (r == op_result::done)
        return respond(json_response(200, json{{"topic", topic}, {"deleted", true}}));
      if (r == op_result::not_found)
        return respond(http_response::error(404, "no retained message on topic " + topic));
      respond(http_response::error(503, "the broker could not delete the retained message"));
    });
  }

  void status(const http_request& req, respond_fn respond) const {
    params ps;
    if (auto err = parse_params(req, ps, {}))
      return respond(*err);
    auto now = std::chrono::system_clock::now();
    json j{{"version", info_.version},
           {"node", info_.node},
           {"started_at", std::chrono::duration_cast<std::chrono::milliseconds>(
                            info_.started.time_since_epoch())
                            .count()},
           {"uptime_s",
            std::chrono::duration_cast<std::chrono::seconds>(now - info_.started).count()},
           {"connections", ops_->connections()},
           {"sessions", totals_json(dir_->totals())}};
    ops_->retained("", "", 0, [j = std::move(j), respond](std::optional<retained_list> l) mutable {
      j["retained"] = l ? json(l->total) : json(nullptr);
      respond(json_response(200, j));
    });
  }

private:
  std::shared_ptr<const session_directory> dir_;
  std::shared_ptr<broker_ops> ops_;
  api_info info_;
};

} // namespace

void register_api(http_server& server, std::shared_ptr<const session_directory> directory,
                  std::shared_ptr<broker_ops> ops, api_info info) {
  auto a = std::make_shared<api>(std::move(directory), std::move(ops), std::move(info));
  server.add_route("GET", std::string{sessions_path},
                   [a](const http_request& r) { return a->list_sessions(r); });
  for (auto method : {"GET", "POST", "DELETE"})
    server.add_async_route(
      method, std::string{sessions_prefix},
      [a](const http_request& r, respond_fn f) { a->session_route(r, std::move(f)); }, true,
      match_kind::prefix);
  server.add_async_route("GET", "/api/v1/retained", [a](const http_request& r, respond_fn f) {
    a->list_retained(r, std::move(f));
  });
  server.add_async_route("DELETE", "/api/v1/retained", [a](const http_request& r, respond_fn f) {
    a->delete_retained(r, std::move(f));
  });
  server.add_async_route("GET", "/api/v1/status", [a](const http_request& r, respond_fn f) {
    a->status(r, std::move(f));
  });
}

} // namespace amq::admin
