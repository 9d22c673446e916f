// Replication of session records and subscription sets through Kafka.
//
// Two compacted topics, 1 partition each, created at open if missing
// (cleanup.policy=compact):
//
//   <prefix>.client.session        key = client id, value = session record
//                                  (record_codec type 0x01) without its
//                                  subscriptions
//   <prefix>.client.subscriptions  key = client id, value = session record
//                                  (type 0x01) holding only the client id
//                                  and the full subscription set
//
// An erased session gets a tombstone (null value) in both. A put writes
// the session topic every time and the subscription topic only when the
// set differs from the last one written (or read at boot). `apply` returns
// when every record has its delivery report. `for_each_session` reads both
// topics from the beginning to their end (watermarks taken first) and
// yields every session with its subscriptions: a node with an empty data
// directory rebuilds every persistent session from Kafka.
#include "amq/storage/kafka_store.hpp"
#include "kafka_client.hpp"
#include "record_codec.hpp"
#include "validate.hpp"

#include <map>
#include <optional>
#include <thread>
#include <unordered_map>

namespace amq::storage {

namespace {

class kafka_session_store final : public store {
public:
  explicit kafka_session_store(kafka_options opts)
    : opts_(std::move(opts)),
      session_topic_(opts_.topic_prefix + ".client.session"),
      subs_topic_(opts_.topic_prefix + ".client.subscriptions") {
    pev_.owner = this;
    pev_.on_delivery = &kafka_session_store::delivered;
  }

  bool open(std::string& detail) {
    producer_ = kafka::make_handle(opts_, false, pev_, detail);
    if (!producer_)
      return false;
    if (!kafka::reachable_at_boot(producer_.get(), opts_, detail))
      return false;
    std::string why;
    std::vector<kafka::new_topic> topics;
    for (auto& t : {session_topic_, subs_topic_})
      topics.push_back({t, {{"cleanup.policy", "compact"}}});
    if (!kafka::create_topics(producer_.get(), topics, opts_.replication_factor,
                              opts_.request_timeout_ms, detail))
      return false;
    // A topic just created may not have a leader yet: wait until both
    // answer, so that the boot reads that follow do not fail.
    auto deadline = std::chrono::steady_clock::now()
                    + std::chrono::milliseconds{opts_.request_timeout_ms};
    for (auto& t : {session_topic_, subs_topic_}) {
      int64_t low = 0;
      int64_t high = 0;
      while (!kafka::watermarks(producer_.get(), t, opts_.request_timeout_ms, low, high, why)) {
        if (std::chrono::steady_clock::now() > deadline) {
          detail = why;
          return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds{50});
      }
    }
    return true;
  }

  std::string describe() const override {
    return "kafka:" + opts_.bootstrap_servers + " (sessions, topics " + session_topic_ + ", "
           + subs_topic_ + ")";
  }

  std::string last_error() const override {
    return last_error_;
  }

  std::error_code apply(const write_batch& b) override {
    if (auto err = detail::validate(b)) {
      last_error_ = "batch rejected: client id empty or containing U+0000";
      return err;
    }
    if (b.erase_sessions.empty() && b.put_sessions.empty() && retry_.empty())
      return {};
    deliveries_.clear();
    bool ok = true;
    // What a failed batch did not replicate goes first (older state).
    auto retry = std::move(retry_);
    retry_.clear();
    for (auto& [c, r] : retry) {
      if (!r) {
        ok = ok && produce(session_topic_, c, nullptr);
        ok = ok && produce(subs_topic_, c, nullptr);
        continue;
      }
      std::string buf;
      session_record head = *r;
      head.subscriptions.clear();
      codec::encode(head, buf);
      ok = ok && produce(session_topic_, c, &buf);
      session_record subs;
      subs.client_id = c;
      subs.subscriptions = r->subscriptions;
      buf.clear();
      codec::encode(subs, buf);
      ok = ok && produce(subs_topic_, c, &buf);
    }
    for (auto& c : b.erase_sessions) {
      ok = ok && produce(session_topic_, c, nullptr);
      ok = ok && produce(subs_topic_, c, nullptr);
      subs_.erase(c);
    }
    std::string buf;
    std::vector<std::pair<std::string, std::vector<stored_subscription>>> written;
    for (auto& r : b.put_sessions) {
      session_record head = r;
      head.subscriptions.clear();
      buf.clear();
      codec::encode(head, buf);
      ok = ok && produce(session_topic_, r.client_id, &buf);
      auto i = subs_.find(r.client_id);
      if (i == subs_.end() || i->second != r.subscriptions) {
        session_record subs;
        subs.client_id = r.client_id;
        subs.subscriptions = r.subscriptions;
        buf.clear();
        codec::encode(subs, buf);
        ok = ok && produce(subs_topic_, r.client_id, &buf);
        written.emplace_back(r.client_id, r.subscriptions);
      }
    }
    auto flush_ms = static_cast<int>(opts_.delivery_timeout_ms) + 5000;
    if (rd_kafka_flush(producer_.get(), flush_ms) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      rd_kafka_purge(producer_.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
      rd_kafka_flush(producer_.get(), 1000);
    }
    for (auto& d : deliveries_) {
      if (d.done && d.err == RD_KAFKA_RESP_ERR_NO_ERROR)
        continue;
      if (ok)
        last_error_ = "replicating session " + d.key + " to Kafka failed: "
                      + kafka::describe(d.done ? d.err : RD_KAFKA_RESP_ERR__TIMED_OUT);
      ok = false;
    }
    deliveries_.clear();
    if (!ok) {
      // Unsure what Kafka holds: the batch's sessions are written again
      // with the next batch, and every subscription set too.
      for (auto& [c, r] : retry)
        retry_.emplace(c, std::move(r));
      for (auto& c : b.erase_sessions)
        retry_[c] = std::nullopt;
      for (auto& r : b.put_sessions)
        retry_[r.client_id] = r;
      subs_.clear();
      char fatal[256];
      if (rd_kafka_fatal_error(producer_.get(), fatal, sizeof fatal)
          != RD_KAFKA_RESP_ERR_NO_ERROR) {
        std::string why;
        if (auto p = kafka::make_handle(opts_, false, pev_, why))
          producer_ = std::move(p);
      }
      return error::backend_failure;
    }
    for (auto& [c, s] : written)
      subs_[c] = std::move(s);
    return {};
  }

  std::error_code for_each_session(const std::function<void(session_record&&)>& f) override {
    std::string why;
    kafka::handle_events cev;
    auto consumer = kafka::make_handle(opts_, true, cev, why);
    if (!consumer)
      return failed(why);
    std::map<std::string, session_record> sessions;
    std::unordered_map<std::string, std::vector<stored_subscription>> subs;
    auto read = [&](const std::string& topic, auto on_record) -> bool {
      int64_t low = 0;
      int64_t high = 0;
      if (!kafka::watermarks(consumer.get(), topic, opts_.request_timeout_ms, low, high, why))
        return false;
      if (high <= low)
        return true;
      kafka::tpl_ptr tpl{rd_kafka_topic_partition_list_new(1)};
      rd_kafka_topic_partition_list_add(tpl.get(), topic.c_str(), 0)->offset = low;
      if (auto err = rd_kafka_assign(consumer.get(), tpl.get()); err) {
        why = "cannot read " + topic + ": " + kafka::describe(err);
        return false;
      }
      int64_t pos = low;
      auto deadline = std::chrono::steady_clock::now()
                      + std::chrono::milliseconds{opts_.request_timeout_ms};
      while (pos < high) {
        kafka::message_ptr m{rd_kafka_consumer_poll(consumer.get(), 100)};
        if (std::chrono::steady_clock::now() > deadline) {
          why = "reading " + topic + " at offset " + std::to_string(pos) + ": no record in time";
          return false;
        }
        if (!m || m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
          continue;
        if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
          why = "reading " + topic + ": " + kafka::describe(m->err);
          return false;
        }
        if (m->rkt == nullptr || topic != rd_kafka_topic_name(m->rkt) || m->offset < pos)
          continue;
        pos = m->offset + 1;
        deadline = std::chrono::steady_clock::now()
                   + std::chrono::milliseconds{opts_.request_timeout_ms};
        std::string key{static_cast<const char*>(m->key), m->key ? m->key_len : 0};
        on_record(key, m->payload
                         ? std::optional<std::string_view>{std::string_view{
                             static_cast<const char*>(m->payload), m->len}}
                         : std::nullopt,
                  topic + "@" + std::to_string(m->offset));
      }
      return true;
    };
    auto decode = [&](const std::string& key, std::string_view value, const std::string& where,
                      session_record& r) {
      auto err = codec::decode(value, r);
      if (!err && r.client_id != key)
        err = error::invalid_value;
      if (err)
        report_corrupt("session", where, err);
      return !err;
    };
    bool ok = read(session_topic_, [&](const std::string& key, auto value, const std::string& w) {
      if (!value) {
        sessions.erase(key);
        return;
      }
      session_record r;
      if (decode(key, *value, w, r))
        sessions[key] = std::move(r);
    });
    ok = ok && read(subs_topic_, [&](const std::string& key, auto value, const std::string& w) {
      if (!value) {
        subs.erase(key);
        return;
      }
      session_record r;
      if (decode(key, *value, w, r))
        subs[key] = std::move(r.subscriptions);
    });
    rd_kafka_consumer_close(consumer.get());
    if (!ok)
      return failed(why);
    subs_.clear();
    for (auto& [c, r] : sessions) {
      if (auto i = subs.find(c); i != subs.end())
        r.subscriptions = std::move(i->second);
      subs_[c] = r.subscriptions;
      f(std::move(r));
    }
    return {};
  }

  std::error_code read_queue(const std::string&, uint64_t, size_t,
                             const std::function<void(queued_entry&&)>&) override {
    return {};
  }

  std::error_code last_seq(const std::string&, uint64_t& out) override {
    out = 0;
    return {};
  }

  std::error_code
  for_each_retained(const std::function<void(protocol::message_ptr&&)>&) override {
    return {};
  }

private:
  std::error_code failed(std::string why) {
    last_error_ = std::move(why);
    return error::backend_failure;
  }

  /// Produces (topic, key, value or tombstone); false if not even queued.
  bool produce(const std::string& topic, const std::string& key, const std::string* value) {
    deliveries_.push_back({key});
    auto idx = deliveries_.size() - 1;
    for (;;) {
      auto err = rd_kafka_producev(
        producer_.get(), RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(0),
        RD_KAFKA_V_KEY(key.data(), key.size()),
        RD_KAFKA_V_VALUE(value ? const_cast<char*>(value->data()) : nullptr,
                         value ? value->size() : 0),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_OPAQUE(reinterpret_cast<void*>(static_cast<uintptr_t>(idx))), RD_KAFKA_V_END);
      if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        rd_kafka_poll(producer_.get(), 10);
        continue;
      }
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        deliveries_[idx].done = true;
        deliveries_[idx].err = err;
        return false;
      }
      return true;
    }
  }

  static void delivered(const rd_kafka_message_t* m, void* owner) {
    auto self = static_cast<kafka_session_store*>(owner);
    auto idx = static_cast<size_t>(reinterpret_cast<uintptr_t>(m->_private));
    if (self == nullptr || idx >= self->deliveries_.size())
      return;
    self->deliveries_[idx].done = true;
    self->deliveries_[idx].err = m->err;
  }

  struct delivery {
    std::string key;
    bool done = false;
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
  };

  kafka_options opts_;
  std::string session_topic_;
  std::string subs_topic_;
  kafka::handle_events pev_;
  kafka::handle_ptr producer_;
  /// The subscription set last written per client (to skip unchanged ones).
  std::unordered_map<std::string, std::vector<stored_subscription>> subs_;
  /// Sessions a failed batch did not replicate (nullopt: erased).
  std::map<std::string, std::optional<session_record>> retry_;
  std::vector<delivery> deliveries_;
  std::string last_error_;
};

/// A store whose session records are also replicated to a session log,
/// from which they are read back at boot.
class replicated_store final : public store {
public:
  replicated_store(std::unique_ptr<store> inner, std::unique_ptr<store> log)
    : inner_(std::move(inner)), log_(std::move(log)) {
    auto forward = [this](std::string_view what, std::string_view key, std::error_code why) {
      report_corrupt(what, key, why);
    };
    inner_->on_corrupt(forward);
    log_->on_corrupt(forward);
  }

  std::string describe() const override {
    return inner_->describe() + " + sessions replicated to " + log_->describe();
  }

  std::string last_error() const override {
    return last_error_;
  }

  std::error_code apply(const write_batch& b) override {
    // Local first (durable before anything else knows), then the log.
    auto err = inner_->apply(b);
    if (err)
      last_error_ = inner_->last_error();
    if (auto e = log_->apply(b)) {
      if (!err) {
        err = e;
        last_error_ = log_->last_error();
      }
    }
    return err;
  }

  std::error_code for_each_session(const std::function<void(session_record&&)>& f) override {
    auto err = log_->for_each_session(f);
    if (err)
      last_error_ = log_->last_error();
    return err;
  }

  std::error_code read_queue(const std::string& client_id, uint64_t from_seq, size_t limit,
                             const std::function<void(queued_entry&&)>& f) override {
    return inner_->read_queue(client_id, from_seq, limit, f);
  }

  std::error_code read_released(const std::string& client_id, uint64_t from_seq,
                                std::vector<uint64_t>& out) override {
    return inner_->read_released(client_id, from_seq, out);
  }

  std::error_code last_seq(const std::string& client_id, uint64_t& out) override {
    return inner_->last_seq(client_id, out);
  }

  std::error_code queue_stats(const std::string& client_id, queue_info& out) override {
    return inner_->queue_stats(client_id, out);
  }

  bool maintain() override {
    bool more = inner_->maintain();
    return log_->maintain() || more;
  }

  std::error_code for_each_queue(const std::function<void(const std::string&)>& f) override {
    return inner_->for_each_queue(f);
  }

  std::error_code
  for_each_retained(const std::function<void(protocol::message_ptr&&)>& f) override {
    return inner_->for_each_retained(f);
  }

private:
  std::unique_ptr<store> inner_;
  std::unique_ptr<store> log_;
  std::string last_error_;
};

} // namespace

std::unique_ptr<store> make_replicated_store(std::unique_ptr<store> inner,
                                             std::unique_ptr<store> log) {
  return std::make_unique<replicated_store>(std::move(inner), std::move(log));
}

std::unique_ptr<store> open_kafka_session_store(const kafka_options& opts, std::error_code& err,
                                                std::string& detail) {
  err.clear();
  detail.clear();
  auto s = std::make_unique<kafka_session_store>(opts);
  if (!s->open(detail)) {
    err = error::backend_failure;
    return nullptr;
  }
  return s;
}

} // namespace amq::storage
