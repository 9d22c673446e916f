// The Redis DEVICE queue backend: see amq/storage/redis_store.hpp and
// docs/storage-format.md ("Redis").
#include "amq/storage/redis_store.hpp"
#include "amq/metrics/registry.hpp"
#include "record_codec.hpp"
#include "validate.hpp"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <chrono>
#include <charconv>
#include <limits>
#include <map>
#include <set>
#include <thread>
#include <unordered_set>

namespace amq::storage {

namespace {

using steady = std::chrono::steady_clock;

// KEYS: q, n, d. ARGV: limit, drop_newest (0/1), ttl (s), erase queue
// (0/1), npre, npre seqs to erase, napp, napp (seq, record) pairs, then
// seqs to erase after the appends (entries appended in this batch).
// Returns the sequence numbers (strings) of the entries of this client
// dropped by the overflow policy in this call (their count is also added to
// the client's `d` counter).
constexpr std::string_view queue_script = R"lua(
local q, n, d = KEYS[1], KEYS[2], KEYS[3]
local limit = tonumber(ARGV[1])
local newest = ARGV[2] == '1'
local ttl = tonumber(ARGV[3])
if ARGV[4] == '1' then redis.call('DEL', q, n, d) end
local i = 5
local npre = tonumber(ARGV[i]); i = i + 1
for k = 1, npre do
  redis.call('ZREMRANGEBYSCORE', q, ARGV[i], ARGV[i]); i = i + 1
end
local napp = tonumber(ARGV[i]); i = i + 1
local gone = {}
if napp > 0 then
  local last = tonumber(redis.call('GET', n) or '0')
  local count = redis.call('ZCARD', q)
  for k = 1, napp do
    local seq = ARGV[i]
    count = count - redis.call('ZREMRANGEBYSCORE', q, seq, seq)
    if newest and count >= limit then
      gone[#gone + 1] = seq
    else
      count = count + redis.call('ZADD', q, seq, ARGV[i + 1])
    end
    local s = tonumber(seq)
    if s > last then last = s end
    i = i + 2
  end
  redis.call('SET', n, string.format('%.0f', last))
end
for k = i, #ARGV do
  redis.call('ZREMRANGEBYSCORE', q, ARGV[k], ARGV[k])
end
if napp > 0 then
  local over = redis.call('ZCARD', q) - limit
  if over > 0 then
    local popped = redis.call('ZPOPMIN', q, over)
    for k = 2, #popped, 2 do gone[#gone + 1] = popped[k] end
  end
  if #gone > 0 then redis.call('INCRBY', d, #gone) end
  if ttl > 0 then
    redis.call('EXPIRE', q, ttl)
    redis.call('EXPIRE', n, ttl)
    redis.call('EXPIRE', d, ttl)
  end
end
return gone
)lua";

struct reply_deleter {
  void operator()(redisReply* r) const noexcept {
    if (r)
      freeReplyObject(r);
  }
};
using reply_ptr = std::unique_ptr<redisReply, reply_deleter>;

struct context_deleter {
  void operator()(redisContext* c) const noexcept {
    if (c)
      redisFree(c);
  }
};
using context_ptr = std::unique_ptr<redisContext, context_deleter>;

timeval to_timeval(uint32_t ms) {
  timeval tv;
  tv.tv_sec = static_cast<time_t>(ms / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms % 1000) * 1000);
  return tv;
}

std::string_view view(const redisReply* r) {
  return {r->str, r->len};
}

bool parse_u64(std::string_view s, uint64_t& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && p == s.data() + s.size();
}

/// A glob pattern matching `s` literally.
std::string glob_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\')
      out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

/// Builds one command's argv.
struct command {
  std::vector<std::string> args;

  command& operator<<(std::string s) {
    args.push_back(std::move(s));
    return *this;
  }

  command& operator<<(uint64_t x) {
    args.push_back(std::to_string(x));
    return *this;
  }
};

class redis_queue_store final : public queue_store {
public:
  explicit redis_queue_store(redis_options opts) : opts_(std::move(opts)) {
    describe_ = "redis://" + opts_.host + ":" + std::to_string(opts_.port) + "/"
                + std::to_string(opts_.db) + " (key prefix \"" + opts_.key_prefix + "\")";
  }

  std::string describe() const override {
    return describe_;
  }

  std::string last_error() const override {
    return last_error_;
  }

  bool complete_reads() const noexcept override {
    return true;
  }

  /// Connects now; false with last_error_ set on failure.
  bool connect() {
    ctx_.reset();
    context_ptr c{redisConnectWithTimeout(opts_.host.c_str(), opts_.port,
                                          to_timeval(opts_.connect_timeout_ms))};
    if (!c) {
      last_error_ = "cannot allocate a Redis context";
      return false;
    }
    if (c->err) {
      last_error_ = "cannot connect to Redis at " + opts_.host + ":" + std::to_string(opts_.port)
                    + ": " + c->errstr;
      return false;
    }
    redisSetTimeout(c.get(), to_timeval(opts_.command_timeout_ms));
    redisEnableKeepAlive(c.get());
    ctx_ = std::move(c);
    if (!opts_.password.empty()) {
      auto r = run(command{} << "AUTH" << opts_.password);
      if (!r || r->type == REDIS_REPLY_ERROR) {
        fail_reply("AUTH", r.get());
        return false;
      }
    }
    if (!opts_.client_name.empty()) {
      auto r = run(command{} << "CLIENT" << std::string{"SETNAME"} << opts_.client_name);
      if (!r || r->type == REDIS_REPLY_ERROR) {
        fail_reply("CLIENT SETNAME", r.get());
        return false;
      }
    }
    if (opts_.db != 0) {
      auto r = run(command{} << "SELECT" << uint64_t{opts_.db});
      if (!r || r->type == REDIS_REPLY_ERROR) {
        fail_reply("SELECT", r.get());
        return false;
      }
    }
    if (!load_script())
      return false;
    backoff_ = std::chrono::milliseconds{100};
    return true;
  }

  std::error_code apply(const queue_batch& b) override {
    // Erases come first (those kept from failed applies, then this
    // batch's), then creates (nothing to do: keys appear on first write).
    for (auto& c : b.erase_queues)
      if (!detail::valid_client_id(c))
        return error::invalid_argument;
    for (auto& [c, seq] : b.erase_entries)
      if (!detail::valid_client_id(c))
        return error::invalid_argument;
    for (auto& [c, e] : b.append)
      if (!detail::valid_client_id(c) || !e.msg)
        return error::invalid_argument;
    for (auto& c : b.erase_queues) {
      pending_erase_queues_.insert(c);
      pending_erases_.erase(c);
    }
    // Per client: the script's arguments.
    struct client_ops {
      bool erase_queue = false;
      std::vector<uint64_t> pre;
      std::vector<const queued_entry*> append;
      std::vector<uint64_t> post;
    };
    std::map<std::string_view, client_ops> ops;
    for (auto& c : pending_erase_queues_)
      ops[c].erase_queue = true;
    std::map<std::string_view, std::unordered_set<uint64_t>> appended;
    for (auto& [c, e] : b.append) {
      ops[c].append.push_back(&e);
      appended[c].insert(e.seq);
    }
    for (auto& [c, seqs] : pending_erases_) {
      auto a = appended.find(c);
      for (auto s : seqs)
        if (a == appended.end() || !a->second.count(s)) // re-appended: the append wins
          ops[c].pre.push_back(s);
    }
    for (auto& [c, seq] : b.erase_entries) {
      auto a = appended.find(c);
      if (a != appended.end() && a->second.count(seq))
        ops[c].post.push_back(seq);
      else
        ops[c].pre.push_back(seq);
    }
    // Keep this batch's erases until they are applied (those of entries
    // appended in this batch too go if the batch fails).
    for (auto& [c, seq] : b.erase_entries) {
      auto a = appended.find(c);
      if (a == appended.end() || !a->second.count(seq))
        pending_erases_[c].insert(seq);
    }
    // Entries the script dropped earlier that the session now erases (its
    // own overflow drop, an expiry, or a delivered entry's ack): the session
    // accounted for them, so the backend does not count them (see
    // `unclaimed_`).
    if (!unclaimed_.empty())
      for (auto& [c, seq] : b.erase_entries)
        claim(c, seq);
    for (auto& c : b.erase_queues)
      settle(c, 0, std::numeric_limits<uint64_t>::max());
    if (ops.empty())
      return {};
    auto now = codec::clocks::now();
    std::vector<command> cmds;
    cmds.reserve(ops.size() + 3);
    cmds.push_back(command{} << "MULTI");
    std::vector<std::string_view> clients;
    clients.reserve(ops.size());
    for (auto& [c, o] : ops) {
      clients.push_back(c);
      command cmd;
      cmd << "EVALSHA" << sha_ << uint64_t{3} << redis_client_key(opts_.key_prefix, c, 'q')
          << redis_client_key(opts_.key_prefix, c, 'n')
          << redis_client_key(opts_.key_prefix, c, 'd') << uint64_t{opts_.limit}
          << std::string{opts_.drop_newest ? "1" : "0"} << uint64_t{opts_.ttl_s}
          << std::string{o.erase_queue ? "1" : "0"} << uint64_t{o.pre.size()};
      for (auto s : o.pre)
        cmd << s;
      cmd << uint64_t{o.append.size()};
      for (auto* e : o.append) {
        cmd << e->seq;
        std::string rec;
        codec::encode(*e, rec, now);
        cmd << std::move(rec);
      }
      for (auto s : o.post)
        cmd << s;
      cmds.push_back(std::move(cmd));
    }
    cmds.push_back(command{} << "EXEC");
    if (opts_.wait_replicas > 0)
      cmds.push_back(command{} << "WAIT" << uint64_t{opts_.wait_replicas}
                               << uint64_t{opts_.wait_timeout_ms});
    auto err = transact(cmds, clients);
    if (err == error_noscript) {
      // Redis lost its script cache (restart, SCRIPT FLUSH): no script ran.
      if (load_script()) {
        for (size_t i = 1; i + 1 < cmds.size(); ++i)
          if (cmds[i].args[0] == "EVALSHA")
            cmds[i].args[1] = sha_;
        err = transact(cmds, clients);
      }
    }
    if (err != error_none) {
      if (b.append.empty())
        return {}; // erases only: kept and retried with the next batch
      return error::backend_failure;
    }
    pending_erase_queues_.clear();
    pending_erases_.clear();
    return {};
  }

  std::error_code read_queue(const std::string& client_id, uint64_t from_seq, size_t limit,
                             const std::function<void(queued_entry&&)>& f) override {
    if (!detail::valid_client_id(client_id))
      return error::invalid_argument;
    if (!ensure_connected())
      return error::backend_failure;
    auto key = redis_client_key(opts_.key_prefix, client_id, 'q');
    command cmd;
    cmd << "ZRANGEBYSCORE" << key << from_seq << std::string{"+inf"} << std::string{"WITHSCORES"};
    if (limit != 0)
      cmd << std::string{"LIMIT"} << uint64_t{0} << uint64_t{limit};
    auto r = run(cmd);
    if (!r || r->type != REDIS_REPLY_ARRAY) {
      fail_reply("ZRANGEBYSCORE", r.get());
      return error::backend_failure;
    }
    if (!unclaimed_.empty()) {
      // The reader skips every seq from `from_seq` up to the last entry of
      // this page (all of them if the page is not full): dropped entries
      // there that no session erased are counted now.
      uint64_t upto = std::numeric_limits<uint64_t>::max();
      uint64_t last = 0;
      if (limit != 0 && r->elements / 2 >= limit && r->elements >= 2
          && r->element[r->elements - 1]->type == REDIS_REPLY_STRING
          && parse_u64(view(r->element[r->elements - 1]), last))
        upto = last;
      settle(client_id, from_seq, upto);
    }
    auto now = codec::clocks::now();
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
      auto* member = r->element[i];
      auto* score = r->element[i + 1];
      uint64_t seq = 0;
      queued_entry e;
      std::error_code derr;
      if (member->type != REDIS_REPLY_STRING || score->type != REDIS_REPLY_STRING
          || !parse_u64(view(score), seq))
        derr = error::bad_key;
      else
        derr = codec::decode(view(member), e, now);
      if (!derr && e.seq != seq)
        derr = error::invalid_value;
      if (derr) {
        if (on_corrupt)
          on_corrupt("queue entry", key + " score " + std::string{view(score)}, derr);
        continue;
      }
      f(std::move(e));
    }
    return {};
  }

  std::error_code last_seq(const std::string& client_id, uint64_t& out) override {
    out = 0;
    if (!detail::valid_client_id(client_id))
      return error::invalid_argument;
    if (!ensure_connected())
      return error::backend_failure;
    auto r = run(command{} << "GET" << redis_client_key(opts_.key_prefix, client_id, 'n'));
    if (!r || (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_NIL)) {
      fail_reply("GET", r.get());
      return error::backend_failure;
    }
    if (r->type == REDIS_REPLY_STRING && !parse_u64(view(r.get()), out)) {
      out = 0;
      if (on_corrupt)
        on_corrupt("last seq", redis_client_key(opts_.key_prefix, client_id, 'n'),
                   error::invalid_value);
    }
    return {};
  }

  std::error_code queue_stats(const std::string& client_id, queue_info& out) override {
    out = {};
    if (!detail::valid_client_id(client_id))
      return error::invalid_argument;
    if (!ensure_connected())
      return error::backend_failure;
    std::vector<command> cmds;
    cmds.push_back(command{} << "ZCARD" << redis_client_key(opts_.key_prefix, client_id, 'q'));
    cmds.push_back(command{} << "GET" << redis_client_key(opts_.key_prefix, client_id, 'd'));
    std::vector<reply_ptr> replies;
    if (!pipeline(cmds, replies))
      return error::backend_failure;
    if (replies[0]->type == REDIS_REPLY_INTEGER)
      out.depth = static_cast<uint64_t>(replies[0]->integer);
    if (replies[1]->type == REDIS_REPLY_STRING)
      parse_u64(view(replies[1].get()), out.dropped);
    return {};
  }

  std::error_code for_each_client(const std::function<void(const std::string&)>& f) override {
    if (!ensure_connected())
      return error::backend_failure;
    auto head = opts_.key_prefix + "{";
    auto pattern = glob_escape(head) + "*}:[qnd]";
    std::set<std::string> seen;
    std::string cursor = "0";
    do {
      auto r = run(command{} << "SCAN" << cursor << std::string{"MATCH"} << pattern
                             << std::string{"COUNT"} << uint64_t{1000});
      if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2
          || r->element[1]->type != REDIS_REPLY_ARRAY) {
        fail_reply("SCAN", r.get());
        return error::backend_failure;
      }
      cursor = std::string{view(r->element[0])};
      for (size_t i = 0; i < r->element[1]->elements; ++i) {
        auto key = view(r->element[1]->element[i]);
        if (key.size() < head.size() + 3 || !key.starts_with(head))
          continue;
        seen.emplace(key.substr(head.size(), key.size() - head.size() - 3));
      }
    } while (cursor != "0");
    for (auto& c : seen)
      f(c);
    return {};
  }

private:
  enum outcome { error_none, error_io, error_reply, error_noscript };

  /// Connected, or reconnected if the backoff allows; false: down.
  bool ensure_connected() {
    if (ctx_)
      return true;
    auto now = steady::now();
    if (now < next_attempt_) {
      // last_error_ still says why the last attempt failed.
      return false;
    }
    if (connect()) {
      log(6, "storage reconnected to Redis at " + opts_.host + ":" + std::to_string(opts_.port));
      return true;
    }
    next_attempt_ = steady::now() + backoff_;
    backoff_ = std::min(backoff_ * 2, std::chrono::milliseconds{opts_.max_backoff_ms});
    log(4, "storage cannot reach Redis (" + last_error_ + "); next attempt in "
             + std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                next_attempt_ - steady::now())
                                .count())
             + " ms");
    return false;
  }

  /// The connection failed: drop it; the next use reconnects at once, later
  /// ones with backoff.
  void disconnect(const std::string& why) {
    if (ctx_)
      log(3, "storage lost its Redis connection: " + why);
    ctx_.reset();
    last_error_ = why;
    next_attempt_ = steady::now();
  }

  void fail_reply(std::string_view what, const redisReply* r) {
    if (!ctx_)
      return; // disconnect() said why
    if (!r) {
      disconnect(std::string{what} + ": " + ctx_->errstr);
      return;
    }
    last_error_ = std::string{what} + " failed: "
                  + (r->type == REDIS_REPLY_ERROR ? std::string{view(r)}
                                                  : "unexpected reply type "
                                                      + std::to_string(r->type));
  }

  reply_ptr run(const command& cmd) {
    std::vector<command> one{cmd};
    std::vector<reply_ptr> replies;
    if (!pipeline(one, replies))
      return nullptr;
    return std::move(replies[0]);
  }

  /// Sends `cmds` in one write and reads every reply; false (connection
  /// dropped) on I/O error or timeout.
  bool pipeline(const std::vector<command>& cmds, std::vector<reply_ptr>& replies) {
    if (!ctx_)
      return false;
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (auto& c : cmds) {
      argv.clear();
      lens.clear();
      for (auto& a : c.args) {
        argv.push_back(a.data());
        lens.push_back(a.size());
      }
      if (redisAppendCommandArgv(ctx_.get(), static_cast<int>(argv.size()), argv.data(),
                                 lens.data())
          != REDIS_OK) {
        disconnect(std::string{"cannot queue a command: "} + ctx_->errstr);
        return false;
      }
    }
    replies.clear();
    for (size_t i = 0; i < cmds.size(); ++i) {
      void* raw = nullptr;
      if (redisGetReply(ctx_.get(), &raw) != REDIS_OK || !raw) {
        disconnect(std::string{"I/O error or timeout talking to Redis: "} + ctx_->errstr);
        return false;
      }
      replies.emplace_back(static_cast<redisReply*>(raw));
    }
    return true;
  }

  /// MULTI ... EXEC [WAIT]: one script per client of `clients`, in order.
  outcome transact(const std::vector<command>& cmds,
                   const std::vector<std::string_view>& clients) {
    auto n = clients.size();
    if (!ensure_connected())
      return error_io;
    std::vector<reply_ptr> replies;
    if (!pipeline(cmds, replies))
      return error_io;
    auto& exec = replies[n + 1];
    if (exec->type != REDIS_REPLY_ARRAY) {
      // Aborted (EXECABORT: a command was refused while queued).
      for (auto& r : replies)
        if (r->type == REDIS_REPLY_ERROR) {
          fail_reply("MULTI/EXEC", r.get());
          return view(r.get()).starts_with("NOSCRIPT") ? error_noscript : error_reply;
        }
      fail_reply("EXEC", exec.get());
      return error_reply;
    }
    bool noscript = false;
    std::string first_error;
    uint64_t dropped = 0;
    for (size_t i = 0; i < exec->elements; ++i) {
      auto* e = exec->element[i];
      if (e->type == REDIS_REPLY_ERROR) {
        if (view(e).starts_with("NOSCRIPT"))
          noscript = true;
        else if (first_error.empty())
          first_error = std::string{view(e)};
      } else if (e->type == REDIS_REPLY_ARRAY && e->elements > 0 && i < n) {
        // The scripts that ran dropped these whatever the outcome of the
        // others (a script's effects are not rolled back).
        for (size_t k = 0; k < e->elements; ++k) {
          uint64_t seq = 0;
          if (e->element[k]->type == REDIS_REPLY_STRING && parse_u64(view(e->element[k]), seq))
            track(clients[i], seq);
          else
            ++dropped; // unreadable: counted at once
        }
      }
    }
    if (dropped > 0)
      metrics::count_drop(metrics::drop::backend_trimmed, static_cast<int64_t>(dropped));
    if (noscript) {
      last_error_ = "NOSCRIPT: Redis lost the queue script";
      return error_noscript;
    }
    if (!first_error.empty()) {
      last_error_ = "queue script failed: " + first_error;
      return error_reply;
    }
    if (opts_.wait_replicas > 0) {
      auto& w = replies[n + 2];
      if (w->type != REDIS_REPLY_INTEGER
          || static_cast<uint64_t>(w->integer) < opts_.wait_replicas) {
        last_error_ = "WAIT: only "
                      + std::to_string(w->type == REDIS_REPLY_INTEGER ? w->integer : 0)
                      + " of " + std::to_string(opts_.wait_replicas)
                      + " replicas confirmed the batch in time";
        return error_reply;
      }
    }
    return error_none;
  }

  bool load_script() {
    auto r = run(command{} << "SCRIPT" << std::string{"LOAD"} << std::string{queue_script});
    if (!r || r->type != REDIS_REPLY_STRING) {
      fail_reply("SCRIPT LOAD", r.get());
      return false;
    }
    sha_ = std::string{view(r.get())};
    return true;
  }

  void log(int level, const std::string& line) {
    if (opts_.log)
      opts_.log(level, line);
  }

  /// The script dropped `client`'s entry `seq`.
  void track(std::string_view client, uint64_t seq) {
    auto i = unclaimed_.find(client);
    if (i == unclaimed_.end())
      i = unclaimed_.emplace(std::string{client}, std::set<uint64_t>{}).first;
    i->second.insert(seq);
    if (i->second.size() > max_unclaimed) {
      // Nobody erases or reads this queue: count the oldest now.
      i->second.erase(i->second.begin());
      metrics::count_drop(metrics::drop::backend_trimmed);
    }
  }

  /// The session erased `client`'s entry `seq`: if the script had dropped
  /// it, the session counted it (or delivered it from memory).
  void claim(const std::string& client, uint64_t seq) {
    auto i = unclaimed_.find(client);
    if (i == unclaimed_.end())
      return;
    i->second.erase(seq);
    if (i->second.empty())
      unclaimed_.erase(i);
  }

  /// Counts (backend_trimmed) and forgets `client`'s dropped entries with a
  /// seq in [from, to]: the reader passed them, or the queue is erased.
  void settle(const std::string& client, uint64_t from, uint64_t to) {
    auto i = unclaimed_.find(client);
    if (i == unclaimed_.end())
      return;
    auto& seqs = i->second;
    auto first = seqs.lower_bound(from);
    auto last = to == std::numeric_limits<uint64_t>::max() ? seqs.end() : seqs.upper_bound(to);
    auto n = std::distance(first, last);
    if (n > 0) {
      metrics::count_drop(metrics::drop::backend_trimmed, static_cast<int64_t>(n));
      seqs.erase(first, last);
    }
    if (seqs.empty())
      unclaimed_.erase(i);
  }

  redis_options opts_;
  std::string describe_;
  context_ptr ctx_;
  std::string sha_;
  std::string last_error_;
  steady::time_point next_attempt_{};
  std::chrono::milliseconds backoff_{100};
  /// Erases not applied yet (the batch holding them failed).
  std::set<std::string> pending_erase_queues_;
  std::map<std::string, std::set<uint64_t>> pending_erases_;
  /// Entries the script dropped (trimmed to the limit, or refused by
  /// drop_newest) that are not counted yet, by client. Usually the session
  /// drops the same entry itself (it enforces the same limit, after the
  /// store: the router stores before it delivers) and counts it under its
  /// own reason (offline_queue_full); its erase claims the entry here, so
  /// it is counted once. An entry no session erases is counted
  /// (backend_trimmed) when a read passes over it, when its queue is
  /// erased, or when a client has more than `max_unclaimed` of them.
  static constexpr size_t max_unclaimed = 4096;
  std::map<std::string, std::set<uint64_t>, std::less<>> unclaimed_;
};

} // namespace

std::string redis_client_key(std::string_view prefix, std::string_view client_id, char suffix) {
  std::string out;
  out.reserve(prefix.size() + client_id.size() + 4);
  out.append(prefix);
  out.push_back('{');
  out.append(client_id);
  out.push_back('}');
  out.push_back(':');
  out.push_back(suffix);
  return out;
}

std::unique_ptr<queue_store> open_redis_queue_store(const redis_options& opts,
                                                    std::error_code& err, std::string& detail) {
  err.clear();
  detail.clear();
  auto st = std::make_unique<redis_queue_store>(opts);
  auto deadline = steady::now() + std::chrono::milliseconds{opts.wait_at_boot_ms};
  bool logged = false;
  while (!st->connect()) {
    if (steady::now() >= deadline) {
      err = error::backend_failure;
      detail = st->last_error() + " (storage.device_queue: redis"
               + (opts.wait_at_boot_ms > 0
                    ? "; gave up after storage.redis.wait_at_boot_ms = "
                        + std::to_string(opts.wait_at_boot_ms) + " ms)"
                    : "; set storage.redis.wait_at_boot_ms to wait for it)");
      return nullptr;
    }
    if (!logged && opts.log) {
      opts.log(4, "storage waits for Redis (" + st->last_error() + "), up to "
                    + std::to_string(opts.wait_at_boot_ms) + " ms");
      logged = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{200});
  }
  return st;
}

} // namespace amq::storage
