// librdkafka plumbing shared by the Kafka backends, and the topic name
// mapping (docs/storage-format.md, "Topic names").
#include "kafka_client.hpp"

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <unordered_set>

namespace amq::storage {

namespace {

constexpr size_t max_topic_length = 249; // Kafka's limit
constexpr std::string_view app_infix = ".msg.app.";
constexpr char hex_digits[] = "0123456789abcdef";

bool kept(unsigned char c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  return -1;
}

uint64_t fnv1a64(std::string_view s) noexcept {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

} // namespace

std::string kafka_topic_component(std::string_view prefix, std::string_view client_id) {
  std::string out;
  out.reserve(client_id.size());
  for (unsigned char c : client_id) {
    if (kept(c)) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('_');
      out.push_back(hex_digits[c >> 4]);
      out.push_back(hex_digits[c & 0x0F]);
    }
  }
  auto room = prefix.size() + app_infix.size() < max_topic_length
                ? max_topic_length - prefix.size() - app_infix.size()
                : 0;
  if (out.size() <= room)
    return out;
  // Too long: cut (never inside an escape) and add `_h` + 16 hex digits.
  constexpr size_t suffix = 18;
  size_t keep = room > suffix ? room - suffix : 0;
  size_t cut = 0;
  while (cut < keep) {
    size_t step = out[cut] == '_' ? 3 : 1;
    if (cut + step > keep)
      break;
    cut += step;
  }
  out.resize(cut);
  out += "_h";
  auto h = fnv1a64(client_id);
  for (int i = 15; i >= 0; --i)
    out.push_back(hex_digits[(h >> (4 * i)) & 0x0F]);
  return out;
}

bool kafka_topic_component_decode(std::string_view component, std::string& client_id) {
  client_id.clear();
  for (size_t i = 0; i < component.size(); ++i) {
    auto c = static_cast<unsigned char>(component[i]);
    if (kept(c)) {
      client_id.push_back(static_cast<char>(c));
      continue;
    }
    if (c != '_' || i + 2 >= component.size())
      return false;
    auto hi = hex_value(component[i + 1]);
    auto lo = hex_value(component[i + 2]);
    if (hi < 0 || lo < 0)
      return false; // includes the `_h` hash suffix
    client_id.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return !client_id.empty();
}

std::string kafka_app_topic(std::string_view prefix, std::string_view client_id) {
  std::string out{prefix};
  out += app_infix;
  out += kafka_topic_component(prefix, client_id);
  return out;
}

namespace kafka {

namespace {

/// The handle_events of the handles alive. A handle whose destruction does
/// not end in time is abandoned (its threads run on, see handle_deleter)
/// while its owner and the owner's handle_events go: librdkafka's threads
/// may still call on_log/on_error, which then find it gone here and drop
/// the call. Never destroyed (a detached librdkafka thread may call into it
/// while the process exits).
struct live_events {
  std::mutex mtx;
  std::unordered_multiset<const void*> alive; ///< once per handle (a store may
                                              ///< replace its producer)
  void forget(const void* events) {
    std::lock_guard guard{mtx};
    if (auto i = alive.find(events); i != alive.end())
      alive.erase(i);
  }
  std::atomic<uint64_t> abandoned{0};
};

live_events& live() {
  static auto* x = new live_events;
  return *x;
}

void on_error(rd_kafka_t*, int err, const char* reason, void* opaque) {
  std::lock_guard guard{live().mtx};
  if (live().alive.count(opaque) == 0)
    return;
  auto ev = static_cast<handle_events*>(opaque);
  ev->last_error = std::string{rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err))} + ": "
                   + (reason ? reason : "");
  if (ev->opts && ev->opts->log)
    ev->opts->log(4, "kafka: " + ev->last_error);
}

void on_log(const rd_kafka_t* rk, int level, const char* fac, const char* buf) {
  std::lock_guard guard{live().mtx};
  if (live().alive.count(rd_kafka_opaque(rk)) == 0)
    return;
  auto ev = static_cast<handle_events*>(rd_kafka_opaque(rk));
  if (ev && ev->opts && ev->opts->log)
    ev->opts->log(level, std::string{"kafka "} + fac + ": " + buf);
}

void on_delivery(rd_kafka_t*, const rd_kafka_message_t* msg, void* opaque) {
  auto ev = static_cast<handle_events*>(opaque);
  if (ev->on_delivery)
    ev->on_delivery(msg, ev->owner);
}

/// An admin request's result event, waited for with a deadline.
struct admin_call {
  rd_kafka_queue_t* queue;
  rd_kafka_AdminOptions_t* options;
  admin_call(rd_kafka_t* rk, rd_kafka_admin_op_t op, uint32_t timeout_ms) {
    queue = rd_kafka_queue_new(rk);
    options = rd_kafka_AdminOptions_new(rk, op);
    char err[256];
    rd_kafka_AdminOptions_set_request_timeout(options, static_cast<int>(timeout_ms), err,
                                              sizeof err);
    if (op != RD_KAFKA_ADMIN_OP_ANY)
      rd_kafka_AdminOptions_set_operation_timeout(options, static_cast<int>(timeout_ms), err,
                                                  sizeof err);
  }
  ~admin_call() {
    rd_kafka_AdminOptions_destroy(options);
    rd_kafka_queue_destroy(queue);
  }
  admin_call(const admin_call&) = delete;
  admin_call& operator=(const admin_call&) = delete;
  rd_kafka_event_t* wait(uint32_t timeout_ms) {
    return rd_kafka_queue_poll(queue, static_cast<int>(timeout_ms) + 5000);
  }
};

struct event_deleter {
  void operator()(rd_kafka_event_t* e) const noexcept {
    rd_kafka_event_destroy(e);
  }
};
using event_ptr = std::unique_ptr<rd_kafka_event_t, event_deleter>;

bool check_results(const rd_kafka_topic_result_t** results, size_t n, bool deleting,
                   std::string& error) {
  bool ok = true;
  for (size_t i = 0; i < n; ++i) {
    auto err = rd_kafka_topic_result_error(results[i]);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
      continue;
    if (!deleting && err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
      continue;
    if (deleting && err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
      continue;
    ok = false;
    error = std::string{deleting ? "cannot delete topic " : "cannot create topic "}
            + rd_kafka_topic_result_name(results[i]) + ": " + rd_kafka_err2name(err) + " ("
            + (rd_kafka_topic_result_error_string(results[i])
                 ? rd_kafka_topic_result_error_string(results[i])
                 : "")
            + ")";
  }
  return ok;
}

} // namespace

void handle_deleter::operator()(rd_kafka_t* rk) const noexcept {
  // librdkafka 2.0.2 (Debian 12) can hang in rd_kafka_destroy for ever: a
  // broker thread waits for a reference that is never released (seen
  // after topics were deleted; confluentinc/librdkafka#3007, #3954).
  // Bounded: destroyed on a thread of its own, waited for up to the
  // request timeout + 5 s; past that the handle is abandoned (its threads
  // keep running, its callbacks are dropped), logged and counted, so
  // that closing a store, and the broker's shutdown, always end.
  auto events = static_cast<handle_events*>(rd_kafka_opaque(rk));
  uint32_t wait_ms = 20000;
  decltype(kafka_options::log) log;
  bool consumer = rd_kafka_type(rk) == RD_KAFKA_CONSUMER;
  if (events && events->opts) {
    wait_ms = events->opts->request_timeout_ms + 5000;
    log = events->opts->log;
  }
  struct shared {
    std::mutex mtx;
    std::condition_variable cv;
    bool done = false;
  };
  auto st = std::make_shared<shared>();
  bool finished = false;
  try {
    std::thread{[rk, st] {
      rd_kafka_destroy(rk);
      std::lock_guard guard{st->mtx};
      st->done = true;
      st->cv.notify_all();
    }}.detach();
    std::unique_lock lock{st->mtx};
    finished = st->cv.wait_for(lock, std::chrono::milliseconds{wait_ms}, [&] { return st->done; });
  } catch (...) {
    // no thread: destroyed here, unbounded
    rd_kafka_destroy(rk);
    finished = true;
  }
  live().forget(events);
  if (!finished) {
    ++live().abandoned;
    if (log)
      log(3, std::string{"kafka: a "} + (consumer ? "consumer" : "producer")
               + " handle did not shut down within " + std::to_string(wait_ms)
               + " ms (librdkafka hang in rd_kafka_destroy); abandoned");
  }
}


std::string describe(rd_kafka_resp_err_t err) {
  return std::string{rd_kafka_err2name(err)} + " (" + rd_kafka_err2str(err) + ")";
}

handle_ptr make_handle(const kafka_options& opts, bool consumer, handle_events& events,
                       std::string& error) {
  events.opts = &opts;
  char errstr[512];
  auto conf = rd_kafka_conf_new();
  auto set = [&](const std::string& k, const std::string& v) {
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), errstr, sizeof errstr)
        != RD_KAFKA_CONF_OK) {
      error = "Kafka property " + k + "=" + v + ": " + errstr;
      return false;
    }
    return true;
  };
  bool ok = set("bootstrap.servers", opts.bootstrap_servers)
            && set("socket.timeout.ms", std::to_string(opts.request_timeout_ms))
            && set("client.id", "actormq");
  if (ok && consumer) {
    ok = set("group.id", opts.group_id.empty() ? opts.topic_prefix + ".node" : opts.group_id)
         && set("enable.auto.commit", "false") && set("enable.auto.offset.store", "false")
         && set("auto.offset.reset", "earliest") && set("enable.partition.eof", "false")
         && set("fetch.wait.max.ms", "50") && set("queued.max.messages.kbytes", "16384");
  } else if (ok) {
    ok = set("acks", std::to_string(opts.acks))
         && set("enable.idempotence", opts.idempotence ? "true" : "false")
         && set("message.timeout.ms", std::to_string(opts.delivery_timeout_ms));
  }
  for (auto& [k, v] : opts.properties)
    ok = ok && set(k, v);
  if (!ok) {
    rd_kafka_conf_destroy(conf);
    return nullptr;
  }
  {
    std::lock_guard guard{live().mtx};
    live().alive.insert(&events);
  }
  rd_kafka_conf_set_opaque(conf, &events);
  rd_kafka_conf_set_error_cb(conf, on_error);
  rd_kafka_conf_set_log_cb(conf, on_log);
  if (!consumer)
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  auto rk = rd_kafka_new(consumer ? RD_KAFKA_CONSUMER : RD_KAFKA_PRODUCER, conf, errstr,
                         sizeof errstr);
  if (rk == nullptr) {
    live().forget(&events);
    rd_kafka_conf_destroy(conf);
    error = std::string{"cannot create a Kafka client: "} + errstr;
    return nullptr;
  }
  return handle_ptr{rk};
}

bool reachable_at_boot(rd_kafka_t* rk, const kafka_options& opts, std::string& detail) {
  std::string why;
  if (wait_reachable(rk, std::chrono::milliseconds{opts.wait_at_boot_ms}, opts.request_timeout_ms,
                     why))
    return true;
  detail = "Kafka at " + opts.bootstrap_servers + " is unreachable (" + why + ")";
  if (opts.wait_at_boot_ms > 0)
    detail += " after waiting " + std::to_string(opts.wait_at_boot_ms) + " ms";
  return false;
}

bool wait_reachable(rd_kafka_t* rk, std::chrono::milliseconds wait, uint32_t request_timeout_ms,
                    std::string& error) {
  auto deadline = std::chrono::steady_clock::now() + wait;
  for (;;) {
    const rd_kafka_metadata_t* md = nullptr;
    auto timeout = std::min<uint32_t>(request_timeout_ms, 5000);
    auto err = rd_kafka_metadata(rk, 0, nullptr, &md, static_cast<int>(timeout));
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      bool any = md->broker_cnt > 0;
      rd_kafka_metadata_destroy(md);
      if (any)
        return true;
      error = "no broker in the cluster metadata";
    } else {
      error = describe(err);
    }
    if (std::chrono::steady_clock::now() >= deadline)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds{250});
  }
}

bool list_topics(rd_kafka_t* rk, std::string_view prefix, uint32_t timeout_ms,
                 std::set<std::string>& out, std::string& error) {
  const rd_kafka_metadata_t* md = nullptr;
  auto err = rd_kafka_metadata(rk, 1, nullptr, &md, static_cast<int>(timeout_ms));
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    error = "cannot list topics: " + describe(err);
    return false;
  }
  for (int i = 0; i < md->topic_cnt; ++i) {
    std::string_view name{md->topics[i].topic};
    if (name.starts_with(prefix) && md->topics[i].err == RD_KAFKA_RESP_ERR_NO_ERROR)
      out.emplace(name);
  }
  rd_kafka_metadata_destroy(md);
  return true;
}

bool create_topics(rd_kafka_t* rk, const std::vector<new_topic>& topics, int replication_factor,
                   uint32_t timeout_ms, std::string& error) {
  if (topics.empty())
    return true;
  std::vector<rd_kafka_NewTopic_t*> nts;
  char errstr[512];
  bool ok = true;
  for (auto& t : topics) {
    auto nt = rd_kafka_NewTopic_new(t.name.c_str(), 1, replication_factor, errstr, sizeof errstr);
    if (nt == nullptr) {
      error = "cannot create topic " + t.name + ": " + errstr;
      ok = false;
      break;
    }
    nts.push_back(nt);
    for (auto& [k, v] : t.configs)
      rd_kafka_NewTopic_set_config(nt, k.c_str(), v.c_str());
  }
  if (ok) {
    admin_call call{rk, RD_KAFKA_ADMIN_OP_CREATETOPICS, timeout_ms};
    rd_kafka_CreateTopics(rk, nts.data(), nts.size(), call.options, call.queue);
    event_ptr ev{call.wait(timeout_ms)};
    if (!ev) {
      error = "CreateTopics: no answer from Kafka in time";
      ok = false;
    } else if (auto e = rd_kafka_event_error(ev.get()); e != RD_KAFKA_RESP_ERR_NO_ERROR) {
      error = std::string{"CreateTopics: "} + rd_kafka_err2name(e) + " ("
              + rd_kafka_event_error_string(ev.get()) + ")";
      ok = false;
    } else {
      size_t n = 0;
      auto res = rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev.get()),
                                                     &n);
      ok = check_results(res, n, false, error);
    }
  }
  rd_kafka_NewTopic_destroy_array(nts.data(), nts.size());
  return ok;
}

bool delete_topics(rd_kafka_t* rk, const std::vector<std::string>& topics, uint32_t timeout_ms,
                   std::string& error) {
  if (topics.empty())
    return true;
  std::vector<rd_kafka_DeleteTopic_t*> dts;
  for (auto& t : topics)
    dts.push_back(rd_kafka_DeleteTopic_new(t.c_str()));
  bool ok = true;
  {
    admin_call call{rk, RD_KAFKA_ADMIN_OP_DELETETOPICS, timeout_ms};
    rd_kafka_DeleteTopics(rk, dts.data(), dts.size(), call.options, call.queue);
    event_ptr ev{call.wait(timeout_ms)};
    if (!ev) {
      error = "DeleteTopics: no answer from Kafka in time";
      ok = false;
    } else if (auto e = rd_kafka_event_error(ev.get()); e != RD_KAFKA_RESP_ERR_NO_ERROR) {
      error = std::string{"DeleteTopics: "} + rd_kafka_err2name(e) + " ("
              + rd_kafka_event_error_string(ev.get()) + ")";
      ok = false;
    } else {
      size_t n = 0;
      auto res = rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev.get()),
                                                     &n);
      ok = check_results(res, n, true, error);
    }
  }
  rd_kafka_DeleteTopic_destroy_array(dts.data(), dts.size());
  return ok;
}

bool watermarks(rd_kafka_t* rk, const std::string& topic, uint32_t timeout_ms, int64_t& low,
                int64_t& high, std::string& error) {
  auto err = rd_kafka_query_watermark_offsets(rk, topic.c_str(), 0, &low, &high,
                                              static_cast<int>(timeout_ms));
  if (err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION || err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC
      || err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART
      || err == RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE) {
    // The handle's metadata cache may hold the topic as it was before it
    // was created (no partitions) and answer from it for minutes: ask
    // for this topic's metadata explicitly, then once more.
    if (auto rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr)) {
      const rd_kafka_metadata_t* md = nullptr;
      if (rd_kafka_metadata(rk, 0, rkt, &md, static_cast<int>(timeout_ms))
          == RD_KAFKA_RESP_ERR_NO_ERROR)
        rd_kafka_metadata_destroy(md);
      rd_kafka_topic_destroy(rkt);
    }
    err = rd_kafka_query_watermark_offsets(rk, topic.c_str(), 0, &low, &high,
                                           static_cast<int>(timeout_ms));
  }
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    error = "cannot read the offsets of " + topic + ": " + describe(err);
    return false;
  }
  return true;
}

} // namespace kafka

uint64_t kafka_abandoned_handles() noexcept {
  return kafka::live().abandoned.load();
}

} // namespace amq::storage
