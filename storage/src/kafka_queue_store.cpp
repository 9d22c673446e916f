// The offline queues of persistent APPLICATION sessions in Kafka.
//
// One topic per client, 1 partition: `<prefix>.msg.app.<mapped id>`
// (kafka_app_topic). Record key = sequence number (u64 big-endian), value =
// the queue-entry record (record_codec, docs/storage-format.md). With one
// partition and one producer per node, offsets and sequence numbers grow
// together.
//
// Read position = the committed offset of partition 0 in the consumer
// group `opts.group_id`. Per client the store keeps, in memory, an index of
// the records at or above that offset it has seen (produced or read):
//
//   committed          indexed_to
//   |  offset -> (seq, acked)  |  records not read yet (after a restart)
//
// `erase_entries` (the client's PUBACK / PUBCOMP, or a message the session
// dropped) marks an entry acked. The committed offset moves up to the first
// unacked entry, never past an entry not acknowledged; acked entries above
// it are listed in the commit's metadata ("v1 last=<seq> acked=<ranges>"),
// so that a restart skips them instead of resending them. The metadata is
// capped (Kafka's offset.metadata.max.bytes is 4096); acked entries that do
// not fit are resent after a restart (QoS 1: a duplicate with DUP=1).
//
// The acked entries above the committed offset are also kept as ranges of
// seqs (`acked_above`), updated with every ack and commit, so a commit costs
// O(entries it passes + ranges it lists, at most max_metadata bytes), never
// O(backlog): building the metadata from the whole index made a drain
// O(n^2) (a 100,000-message drain spent most of its time walking it).
//
// `apply` order: erased sessions (topic deleted; erased and put again in
// the same batch: the topic is kept and its read position moved to its end),
// put sessions (APPLICATION: topic created if missing; a session that
// became DEVICE: topic deleted), appends (produced, then flushed: apply
// returns only when every record has its delivery report), acks (index, then
// one offset commit request for every changed client).
//
// The commit is asynchronous: apply sends it and returns; its answer is
// collected by a later apply. With max_commits_in_flight unanswered, the
// changes wait and go with the commit of a later batch (coalesced; Kafka
// answers commits more slowly than a drain acknowledges batches); closing
// the store sends what is left and waits for every answer. This keeps
// the durability rule — an offset is committed only after PUBACK/PUBCOMP of
// every entry before it — because what is sent is computed from acks only;
// what asynchrony adds is a window in which a crash loses commits already
// decided: those entries are read again after the restart and resent with
// DUP (QoS 1: a duplicate), never skipped. For QoS 2 after PUBCOMP the
// composite keeps the entry's "released" mark until this store says the
// ack is durable (`erase_pending`: a commit that covers it was confirmed),
// so such an entry comes back as PUBREL, not as a new message. `maintain`
// (the storage actor, between batches) collects answers and sends a
// deferred commit.
// Commits go in order to the group coordinator; should an earlier one
// still land after a later one (a retry inside librdkafka), the offset is
// lower than decided: again redelivery, never a skip. A failed commit is retried with the next batch and
// does not fail the batch (the entries are acknowledged by the client
// already; a crash before the retry resends them).
// If any record of a batch fails, the batch fails and the records of that
// batch that did reach Kafka are marked acked (the router did not deliver
// them and refused the publisher: they must not come back later).
#include "amq/storage/kafka_store.hpp"
#include "kafka_client.hpp"
#include "record_codec.hpp"
#include "validate.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <thread>
#include <unordered_map>
#include <unordered_set>

namespace amq::storage {

namespace {

using namespace std::chrono_literals;

constexpr size_t max_metadata = 3500; // below Kafka's 4096-byte default

/// Offset commits sent and not answered yet, at most. Kafka answers them
/// one after the other (~150 a second on a loaded 2-core machine, fewer than
/// a drain's ack batches): beyond this, the changes wait for a later batch
/// and go in one commit instead of queueing more requests.
constexpr int max_commits_in_flight = 2;

/// A page starting at most this many records after the consumer's position
/// is read on from there instead of re-positioning the consumer.
constexpr int64_t max_read_on = 1024;

void put_be64(std::string& out, uint64_t x) {
  for (int i = 7; i >= 0; --i)
    out.push_back(static_cast<char>(static_cast<uint8_t>(x >> (8 * i))));
}

bool get_be64(const void* p, size_t n, uint64_t& x) {
  if (p == nullptr || n != 8)
    return false;
  auto b = static_cast<const uint8_t*>(p);
  x = 0;
  for (size_t i = 0; i < 8; ++i)
    x = (x << 8) | b[i];
  return true;
}

struct indexed {
  uint64_t seq = 0;
  bool acked = false;
};

/// Disjoint, non-adjacent ranges of sequence numbers: first -> last
/// (inclusive). Adding or removing one number costs O(log ranges); listing
/// them costs one step per range, however many numbers they hold.
class seq_ranges {
public:
  void add(uint64_t s) {
    auto next = ranges_.upper_bound(s); // first range starting after s
    if (next != ranges_.begin()) {
      auto prev = std::prev(next);
      if (s <= prev->second)
        return; // already in
      if (prev->second + 1 == s) {
        prev->second = s;
        if (next != ranges_.end() && next->first == s + 1) {
          prev->second = next->second;
          ranges_.erase(next);
        }
        return;
      }
    }
    if (next != ranges_.end() && next->first == s + 1) {
      auto last = next->second;
      ranges_.erase(next);
      ranges_.emplace(s, last);
      return;
    }
    ranges_.emplace(s, s);
  }

  void remove(uint64_t s) {
    auto next = ranges_.upper_bound(s);
    if (next == ranges_.begin())
      return;
    auto it = std::prev(next);
    if (s > it->second)
      return;
    auto first = it->first;
    auto last = it->second;
    ranges_.erase(it);
    if (first < s)
      ranges_.emplace(first, s - 1);
    if (s < last)
      ranges_.emplace(s + 1, last);
  }

  /// Removes every number <= `floor`.
  void remove_up_to(uint64_t floor) {
    while (!ranges_.empty() && ranges_.begin()->first <= floor) {
      auto last = ranges_.begin()->second;
      ranges_.erase(ranges_.begin());
      if (last > floor) {
        ranges_.emplace(floor + 1, last);
        break;
      }
    }
  }

  const std::map<uint64_t, uint64_t>& ranges() const noexcept {
    return ranges_;
  }

  bool contains(uint64_t s) const {
    auto next = ranges_.upper_bound(s);
    return next != ranges_.begin() && s <= std::prev(next)->second;
  }

private:
  std::map<uint64_t, uint64_t> ranges_;
};

/// What one offset commit, once Kafka confirms it, makes durable for one
/// client: every seq up to `floor` and the seqs of the ranges its metadata
/// lists (sorted, disjoint).
struct durable_point {
  uint64_t floor = 0;
  std::vector<std::pair<uint64_t, uint64_t>> listed;

  bool contains(uint64_t s) const {
    if (s <= floor)
      return true;
    auto next = std::upper_bound(listed.begin(), listed.end(), s,
                                 [](uint64_t x, const auto& r) { return x < r.first; });
    return next != listed.begin() && s <= std::prev(next)->second;
  }
};

struct client_state {
  std::string topic;
  bool loaded = false;
  int64_t committed = 0;  ///< next offset to read (Kafka's committed offset)
  int64_t indexed_to = 0; ///< every record in [committed, indexed_to) is indexed
  int64_t known_end = 0;  ///< no record at or after this offset is known
  std::map<int64_t, indexed> by_offset;
  std::map<uint64_t, int64_t> by_seq;
  std::set<uint64_t> acked_unindexed; ///< acked before being indexed (metadata)
  /// Every acknowledged seq the committed offset has not passed yet: the
  /// acked entries of `by_offset` and `acked_unindexed`. Kept with every
  /// change, so a commit lists them without walking `by_offset` (which
  /// holds the whole unacknowledged backlog).
  seq_ranges acked_above;
  uint64_t floor_seq = 0;             ///< highest seq below the committed offset
  uint64_t last_seq = 0;
  bool last_seq_known = false;
  bool dirty = false; ///< commit needed
  /// The acks Kafka has confirmed (the last commit answered, or what was
  /// committed at load): an ack not in here is lost by a crash.
  durable_point durable;
  uint64_t durable_commit = 0; ///< id of the commit `durable` came from
};

/// "v1 last=<seq> acked=a-b,c": parsed leniently (garbage = nothing acked).
void parse_metadata(std::string_view md, uint64_t& last, std::set<uint64_t>& acked) {
  if (!md.starts_with("v1 "))
    return;
  auto num = [](std::string_view s, size_t& i, uint64_t& out) {
    size_t start = i;
    out = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9')
      out = out * 10 + static_cast<uint64_t>(s[i++] - '0');
    return i > start;
  };
  if (auto p = md.find("last="); p != std::string_view::npos) {
    size_t i = p + 5;
    num(md, i, last);
  }
  auto p = md.find("acked=");
  if (p == std::string_view::npos)
    return;
  size_t i = p + 6;
  while (i < md.size()) {
    uint64_t a = 0;
    uint64_t b = 0;
    if (!num(md, i, a))
      return;
    b = a;
    if (i < md.size() && md[i] == '-') {
      ++i;
      if (!num(md, i, b) || b < a || b - a > 1'000'000)
        return;
    }
    for (auto x = a; x <= b; ++x)
      acked.insert(x);
    if (i < md.size() && md[i] == ',')
      ++i;
    else
      return;
  }
}

/// The commit metadata of `st`: one step (counted in `steps`) per range of
/// acknowledged seqs listed, at most as many as fit in `max_metadata`
/// bytes — never a walk over the backlog. The ranges listed go to `listed`.
std::string make_metadata(const client_state& st, uint64_t& steps,
                          std::vector<std::pair<uint64_t, uint64_t>>& listed) {
  std::string out = "v1 last=" + std::to_string(st.last_seq) + " acked=";
  size_t base = out.size();
  for (auto& [first, last] : st.acked_above.ranges()) {
    ++steps;
    std::string part = std::to_string(first);
    if (last > first)
      part += "-" + std::to_string(last);
    if (out.size() + part.size() + 1 > max_metadata)
      break; // the rest is resent after a restart
    if (out.size() > base)
      out.push_back(',');
    out += part;
    listed.emplace_back(first, last);
  }
  return out;
}

class kafka_queue_store final : public store {
public:
  explicit kafka_queue_store(kafka_options opts) : opts_(std::move(opts)) {
    pev_.owner = this;
    pev_.on_delivery = &kafka_queue_store::delivered;
  }

  kafka_queue_store(const kafka_queue_store&) = delete;
  kafka_queue_store& operator=(const kafka_queue_store&) = delete;

  /// A clean shutdown: what is not committed yet is sent, and the answers
  /// are waited for (a crash instead resends those entries, with DUP).
  ~kafka_queue_store() override {
    if (!consumer_)
      return;
    flush_commits(commit_degraded_ ? std::min<uint32_t>(1000, opts_.request_timeout_ms)
                                   : opts_.request_timeout_ms);
    rd_kafka_assign(consumer_.get(), nullptr); // stop fetching before the handle goes
  }

  /// Sends what is not committed yet and waits up to `wait_ms` for the
  /// answers of every commit sent; true if all came and the last succeeded.
  bool flush_commits(uint32_t wait_ms) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds{wait_ms};
    auto left = [&] {
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  deadline - std::chrono::steady_clock::now())
                  .count();
      return static_cast<uint32_t>(std::max<int64_t>(0, ms));
    };
    drain_commits(left(), max_commits_in_flight - 1); // room for the last one
    commit();
    bool answered = drain_commits(left());
    bool all_sent = std::none_of(clients_.begin(), clients_.end(),
                                 [](auto& kv) { return kv.second.loaded && kv.second.dirty; });
    return answered && all_sent && !commit_degraded_;
  }

  const kafka_queue_counters& counters() const noexcept {
    return counters_;
  }

  bool open(std::string& detail) {
    producer_ = kafka::make_handle(opts_, false, pev_, detail);
    if (!producer_)
      return false;
    consumer_ = kafka::make_handle(opts_, true, cev_, detail);
    if (!consumer_)
      return false;
    if (!kafka::reachable_at_boot(producer_.get(), opts_, detail))
      return false;
    if (!kafka::list_topics(producer_.get(), app_prefix(), opts_.request_timeout_ms, topics_,
                            detail))
      return false;
    return true;
  }

  std::string describe() const override {
    return "kafka:" + opts_.bootstrap_servers + " (APPLICATION queues, topics " + app_prefix()
           + "*)";
  }

  std::string last_error() const override {
    return last_error_;
  }

  std::error_code apply(const write_batch& b) override {
    if (auto err = detail::validate(b)) {
      last_error_ = "batch rejected: client id empty or containing U+0000, or null message";
      return err;
    }
    std::error_code result;
    auto fail = [&](std::string why) {
      last_error_ = std::move(why);
      result = error::backend_failure;
    };
    std::string why;
    // -- sessions erased, sessions put ----------------------------------------
    std::unordered_set<std::string_view> put_app;
    for (auto& r : b.put_sessions)
      if (r.client_type == 1)
        put_app.insert(r.client_id);
    std::vector<std::string> to_delete;
    for (auto& c : b.erase_sessions) {
      if (put_app.count(c) > 0) {
        if (topics_.count(topic_of(c)) > 0 && !reset(c, why))
          fail(why);
        continue;
      }
      if (erased_.size() > 10000)
        erased_.clear();
      erased_.insert(c);
      if (topics_.erase(topic_of(c)) > 0)
        to_delete.push_back(topic_of(c));
      clients_.erase(c);
    }
    for (auto& r : b.put_sessions) {
      if (r.client_type == 1) {
        erased_.erase(r.client_id);
        if (topics_.count(topic_of(r.client_id)) == 0 && !create(r.client_id, why))
          fail(why);
      } else if (topics_.erase(topic_of(r.client_id)) > 0) {
        // APPLICATION -> DEVICE: the Kafka queue goes (as TBMQ does).
        to_delete.push_back(topic_of(r.client_id));
        clients_.erase(r.client_id);
      }
    }
    delete_topics_now(std::move(to_delete));
    // -- appends ----------------------------------------------------------------
    if (!b.append.empty()) {
      if (auto err = produce(b))
        result = err;
    }
    // -- acks --------------------------------------------------------------------
    for (auto& [c, seq] : b.erase_entries)
      ack(c, seq);
    commit();
    return result;
  }

  /// Deletes `to_delete` and the deletions kept from earlier failures; a
  /// failure keeps them for the next call (their sessions are gone either
  /// way) and sets last_error_.
  void delete_topics_now(std::vector<std::string> to_delete) {
    std::string why;
    to_delete.insert(to_delete.end(), delete_later_.begin(), delete_later_.end());
    delete_later_.clear();
    // Commits still unanswered may name a topic about to go: their answers
    // first (rare: sessions ending). An answer about a deleted topic can
    // leave librdkafka unable to close the consumer (rd_kafka_destroy hangs).
    // The consumer must not have read a topic when it goes: a fetch that
    // meets the deleted partition (also one in flight as the consumer is
    // unassigned) leaves librdkafka 2.0.2 holding a reference for ever, and
    // the consumer's rd_kafka_destroy then hangs (bounded: see
    // kafka::handle_deleter). So a consumer that read one is replaced
    // first: destroyed while the topic still exists.
    if (!to_delete.empty()) {
      drain_commits(commit_degraded_ ? 0 : opts_.request_timeout_ms);
      if (!assigned_.empty()
          && std::find(to_delete.begin(), to_delete.end(), assigned_) != to_delete.end())
        replace_consumer();
    }
    if (!to_delete.empty()
        && !kafka::delete_topics(producer_.get(), to_delete, opts_.request_timeout_ms, why)) {
      // Retried with the next batch; the sessions are gone either way.
      last_error_ = why;
      for (auto& t : to_delete)
        if (topics_.count(t) == 0)
          delete_later_.insert(t);
    }
  }

  std::error_code for_each_session(const std::function<void(session_record&&)>&) override {
    return {}; // session records live in the primary store
  }

  std::error_code read_queue(const std::string& client_id, uint64_t from_seq, size_t limit,
                             const std::function<void(queued_entry&&)>& f) override {
    if (!detail::valid_client_id(client_id))
      return error::invalid_argument;
    auto topic = topic_of(client_id);
    if (topics_.count(topic) == 0)
      return {};
    auto& st = state(client_id);
    std::string why;
    if (!load(st, why))
      return failed(why);
    // Start at the first indexed entry with seq >= from_seq, unless records
    // before it are not indexed yet.
    int64_t start = st.indexed_to;
    if (auto i = st.by_seq.lower_bound(from_seq); i != st.by_seq.end() && i->second < start)
      start = i->second;
    start = std::max(start, st.committed);
    if (start >= st.known_end) {
      int64_t low = 0;
      int64_t high = 0;
      if (!watermarks(st.topic, low, high, why))
        return failed(why);
      st.known_end = std::max(st.known_end, high);
      if (start >= st.known_end)
        return {};
    }
    // Positioned a little before `start` (entries acknowledged and
    // committed before they were read, ...): read on from there — what lies
    // in between is indexed and not delivered (acknowledged, or below
    // from_seq) — rather than re-position the consumer, which drops the
    // records it fetched ahead and fetches again (a round trip).
    bool read_on = assigned_ == st.topic && position_ >= st.committed && position_ <= start
                   && start - position_ <= max_read_on;
    if (!read_on && !seek(st.topic, start, why))
      return failed(why);
    auto now = codec::clocks::now();
    size_t n = 0;
    auto deadline = std::chrono::steady_clock::now()
                    + std::chrono::milliseconds{opts_.request_timeout_ms};
    while (position_ < st.known_end && (limit == 0 || n < limit)) {
      kafka::message_ptr m{rd_kafka_consumer_poll(consumer_.get(), 100)};
      if (!m) {
        if (std::chrono::steady_clock::now() > deadline)
          return failed("reading " + st.topic + " at offset " + std::to_string(position_)
                        + ": no record from Kafka in time");
        continue;
      }
      if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
        continue;
      if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        auto e = m->err;
        assigned_.clear(); // re-seek next time
        return failed("reading " + st.topic + ": " + kafka::describe(e));
      }
      if (m->rkt == nullptr || st.topic != rd_kafka_topic_name(m->rkt) || m->offset < position_)
        continue; // left over from an earlier assignment
      deadline = std::chrono::steady_clock::now()
                 + std::chrono::milliseconds{opts_.request_timeout_ms};
      bool contiguous = position_ <= st.indexed_to;
      position_ = m->offset + 1;
      uint64_t seq = 0;
      queued_entry e;
      std::error_code bad;
      if (!get_be64(m->key, m->key_len, seq))
        bad = error::bad_key;
      else
        bad = codec::decode(std::string_view{static_cast<const char*>(m->payload), m->len}, e,
                            now);
      if (!bad && e.seq != seq)
        bad = error::invalid_value;
      if (bad) {
        report_corrupt("queue entry", st.topic + "@" + std::to_string(m->offset), bad);
        index(st, m->offset, seq, true, contiguous);
        continue;
      }
      bool acked = st.acked_unindexed.erase(seq) > 0;
      if (auto i = st.by_offset.find(m->offset); i != st.by_offset.end())
        acked = acked || i->second.acked;
      index(st, m->offset, seq, acked, contiguous);
      if (!acked && seq >= from_seq && m->offset >= st.committed) {
        f(std::move(e));
        ++n;
      }
    }
    return {};
  }

  std::error_code last_seq(const std::string& client_id, uint64_t& out) override {
    out = 0;
    if (!detail::valid_client_id(client_id))
      return error::invalid_argument;
    auto topic = topic_of(client_id);
    if (topics_.count(topic) == 0)
      return {};
    auto& st = state(client_id);
    std::string why;
    if (!load(st, why))
      return failed(why);
    if (!st.last_seq_known) {
      int64_t low = 0;
      int64_t high = 0;
      if (!watermarks(st.topic, low, high, why))
        return failed(why);
      st.known_end = std::max(st.known_end, high);
      if (high > low) {
        if (!seek(st.topic, high - 1, why))
          return failed(why);
        auto deadline = std::chrono::steady_clock::now()
                        + std::chrono::milliseconds{opts_.request_timeout_ms};
        for (;;) {
          kafka::message_ptr m{rd_kafka_consumer_poll(consumer_.get(), 100)};
          if (std::chrono::steady_clock::now() > deadline)
            return failed("reading the last record of " + st.topic + ": no record in time");
          if (!m || m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
            continue;
          if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            auto e = m->err;
            assigned_.clear();
            return failed("reading " + st.topic + ": " + kafka::describe(e));
          }
          if (m->rkt == nullptr || st.topic != rd_kafka_topic_name(m->rkt)
              || m->offset < high - 1)
            continue;
          position_ = m->offset + 1;
          uint64_t seq = 0;
          if (get_be64(m->key, m->key_len, seq))
            st.last_seq = std::max(st.last_seq, seq);
          else
            report_corrupt("queue entry key", st.topic + "@" + std::to_string(m->offset),
                           error::bad_key);
          break;
        }
      }
      st.last_seq_known = true;
    }
    out = st.last_seq;
    return {};
  }

  std::error_code
  for_each_retained(const std::function<void(protocol::message_ptr&&)>&) override {
    return {};
  }

  /// Depth: records from the committed offset to the end, minus those
  /// acknowledged above it.
  std::error_code queue_stats(const std::string& client_id, queue_info& out) override {
    out = {};
    if (!detail::valid_client_id(client_id))
      return error::invalid_argument;
    if (topics_.count(topic_of(client_id)) == 0)
      return {};
    auto& st = state(client_id);
    std::string why;
    if (!load(st, why))
      return failed(why);
    int64_t low = 0;
    int64_t high = 0;
    if (!watermarks(st.topic, low, high, why))
      return failed(why);
    st.known_end = std::max(st.known_end, high);
    uint64_t acked = st.acked_unindexed.size();
    for (auto& [off, e] : st.by_offset)
      acked += e.acked ? 1 : 0;
    auto span = static_cast<uint64_t>(std::max<int64_t>(0, high - st.committed));
    out.depth = span > acked ? span - acked : 0;
    return {};
  }

  /// Every client with a queue topic (names with a hash suffix cannot be
  /// mapped back and are skipped).
  std::error_code for_each_queue(const std::function<void(const std::string&)>& f) override {
    std::set<std::string> names;
    std::string why;
    if (!kafka::list_topics(producer_.get(), app_prefix(), opts_.request_timeout_ms, names, why))
      return failed(why);
    auto prefix = app_prefix();
    std::string client;
    for (auto& t : names) {
      topics_.insert(t);
      if (kafka_topic_component_decode(std::string_view{t}.substr(prefix.size()), client))
        f(client);
    }
    return {};
  }

  /// Boot clean-up (queue_store::erase_leftovers): deletes every queue
  /// topic that is not the topic of a client in `keep`. The expected name
  /// of each kept client is computed (`kafka_app_topic`, hashed or not), so
  /// a topic whose hashed name gives no client id back is found too.
  std::error_code
  erase_leftover_topics(const std::unordered_set<std::string>& keep,
                        const std::function<void(const std::string&, const std::string&)>& removed) {
    std::set<std::string> names;
    std::string why;
    if (!kafka::list_topics(producer_.get(), app_prefix(), opts_.request_timeout_ms, names, why))
      return failed(why);
    std::unordered_set<std::string> expected;
    for (auto& c : keep)
      expected.insert(topic_of(c));
    auto prefix = app_prefix();
    std::vector<std::string> to_delete;
    std::vector<std::string> clients;
    for (auto& t : names) {
      if (expected.count(t) > 0) {
        topics_.insert(t);
        continue;
      }
      std::string client;
      if (!kafka_topic_component_decode(std::string_view{t}.substr(prefix.size()), client)) {
        client.clear(); // a hashed name: the id is in no record any more
      } else {
        // As an erased session (apply): late appends are dropped.
        if (erased_.size() > 10000)
          erased_.clear();
        erased_.insert(client);
        clients_.erase(client);
      }
      topics_.erase(t);
      to_delete.push_back(t);
      clients.push_back(std::move(client));
    }
    if (to_delete.empty())
      return {};
    auto deleted = to_delete;
    delete_topics_now(std::move(to_delete));
    if (removed)
      for (size_t i = 0; i < deleted.size(); ++i)
        removed(clients[i], deleted[i]);
    return {};
  }

private:
  std::string app_prefix() const {
    return opts_.topic_prefix + ".msg.app.";
  }

  std::string topic_of(std::string_view client) const {
    return kafka_app_topic(opts_.topic_prefix, client);
  }

  /// Low and high watermark of the client's topic (a request to Kafka).
  bool watermarks(const std::string& topic, int64_t& low, int64_t& high, std::string& why) {
    ++counters_.watermark_requests;
    return kafka::watermarks(consumer_.get(), topic, opts_.request_timeout_ms, low, high, why);
  }

  std::error_code failed(std::string why) {
    last_error_ = std::move(why);
    return error::backend_failure;
  }

  client_state& state(const std::string& client) {
    auto& st = clients_[client];
    if (st.topic.empty())
      st.topic = topic_of(client);
    return st;
  }

  /// Committed offset and its metadata, watermarks: once per client.
  bool load(client_state& st, std::string& why) {
    if (st.loaded)
      return true;
    int64_t low = 0;
    int64_t high = 0;
    if (!watermarks(st.topic, low, high, why))
      return false;
    kafka::tpl_ptr tpl{rd_kafka_topic_partition_list_new(1)};
    rd_kafka_topic_partition_list_add(tpl.get(), st.topic.c_str(), 0);
    auto err = rd_kafka_committed(consumer_.get(), tpl.get(),
                                  static_cast<int>(opts_.request_timeout_ms));
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
      err = tpl->elems[0].err;
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      why = "cannot read the committed offset of " + st.topic + ": " + kafka::describe(err);
      return false;
    }
    auto& p = tpl->elems[0];
    int64_t off = p.offset;
    if (off < low || off > high) // none yet, below retention, or stale
      off = low;
    uint64_t last = 0;
    std::set<uint64_t> acked;
    if (p.metadata != nullptr && p.metadata_size > 0 && high > off)
      parse_metadata({static_cast<const char*>(p.metadata), p.metadata_size}, last, acked);
    st.committed = off;
    st.indexed_to = off;
    st.known_end = high;
    st.last_seq = std::max(st.last_seq, last);
    for (auto s : acked)
      if (st.by_seq.count(s) == 0) {
        st.acked_unindexed.insert(s);
        st.acked_above.add(s);
      }
    // What Kafka has is durable: the acks its metadata lists.
    st.durable = {};
    for (auto s : acked) {
      if (!st.durable.listed.empty() && st.durable.listed.back().second + 1 == s)
        st.durable.listed.back().second = s;
      else
        st.durable.listed.emplace_back(s, s);
    }
    st.loaded = true;
    return true;
  }

  /// A session's topic, created if missing, its read position at its end
  /// (a topic left over from an earlier session with this id is skipped).
  bool create(const std::string& client, std::string& why) {
    auto topic = topic_of(client);
    std::vector<kafka::new_topic> nt{{topic, {}}};
    if (opts_.app_retention_ms != 0)
      nt[0].configs.emplace_back("retention.ms", std::to_string(opts_.app_retention_ms));
    if (!kafka::create_topics(producer_.get(), nt, opts_.replication_factor,
                              opts_.request_timeout_ms, why))
      return false;
    delete_later_.erase(topic);
    topics_.insert(topic);
    clients_.erase(client);
    return reset(client, why);
  }

  /// Forgets everything below the end of the client's topic.
  bool reset(const std::string& client, std::string& why) {
    auto& st = state(client);
    int64_t low = 0;
    int64_t high = 0;
    // A topic just created may not have a leader yet: retry briefly.
    auto deadline = std::chrono::steady_clock::now()
                    + std::chrono::milliseconds{opts_.request_timeout_ms};
    while (!watermarks(st.topic, low, high, why)) {
      if (std::chrono::steady_clock::now() > deadline)
        return false;
      std::this_thread::sleep_for(50ms);
    }
    auto last = st.last_seq;
    st = client_state{};
    st.topic = topic_of(client);
    st.loaded = true;
    st.committed = high;
    st.indexed_to = high;
    st.known_end = high;
    st.last_seq = last;
    st.dirty = true;
    return true;
  }

  /// Adds the record at `offset` to the index.
  void index(client_state& st, int64_t offset, uint64_t seq, bool acked, bool contiguous) {
    if (offset >= st.committed) {
      auto& e = st.by_offset[offset];
      e.seq = seq;
      e.acked = e.acked || acked;
      st.by_seq[seq] = offset;
      if (e.acked) {
        st.acked_above.add(seq);
        st.dirty = true;
      }
    }
    if (contiguous)
      st.indexed_to = std::max(st.indexed_to, offset + 1);
    while (st.by_offset.count(st.indexed_to) > 0)
      ++st.indexed_to;
    st.known_end = std::max(st.known_end, offset + 1);
    st.last_seq = std::max(st.last_seq, seq);
  }

  void ack(const std::string& client, uint64_t seq) {
    if (topics_.count(topic_of(client)) == 0)
      return;
    auto& st = state(client);
    std::string why;
    if (!load(st, why)) {
      last_error_ = why; // lost: resent after a restart
      return;
    }
    if (auto j = st.by_seq.find(seq); j != st.by_seq.end()) {
      st.by_offset[j->second].acked = true;
      st.acked_above.add(seq);
      st.dirty = true;
    } else if (seq > st.floor_seq && st.acked_unindexed.size() < 100000) {
      st.acked_unindexed.insert(seq);
      st.acked_above.add(seq);
      st.dirty = true;
    }
  }

  /// Moves the committed offsets of changed clients: one commit request for
  /// all of them, sent without waiting for its answer (see the top of this
  /// file). Its cost does not depend on the backlog: the committed offset
  /// moves over the entries acknowledged since the last commit, and the
  /// metadata lists the ranges of `acked_above`, at most `max_metadata`
  /// bytes of them.
  void commit() {
    drain_commits(0); // answers that are there already
    bool any = false;
    for (auto& [c, st] : clients_) {
      if (!st.dirty || !st.loaded)
        continue;
      any = true;
      while (!st.by_offset.empty()) {
        auto it = st.by_offset.begin();
        if (!it->second.acked || (it->first != st.committed && it->first >= st.indexed_to))
          break;
        st.committed = it->first + 1;
        st.floor_seq = std::max(st.floor_seq, it->second.seq);
        st.acked_above.remove(it->second.seq);
        st.by_seq.erase(it->second.seq);
        st.by_offset.erase(it);
      }
      if (st.by_offset.empty() && st.indexed_to > st.committed)
        st.committed = st.indexed_to;
      st.acked_unindexed.erase(st.acked_unindexed.begin(),
                               st.acked_unindexed.upper_bound(st.floor_seq));
      st.acked_above.remove_up_to(st.floor_seq);
    }
    if (!any)
      return;
    // Too many commits unanswered: the clients stay dirty and are committed
    // by a later batch, together (or when the store closes). apply never
    // waits for Kafka's answer.
    if (commits_in_flight_ >= max_commits_in_flight) {
      ++counters_.commits_deferred;
      return;
    }
    kafka::tpl_ptr tpl{rd_kafka_topic_partition_list_new(8)};
    std::vector<client_state*> states;
    auto id = ++last_commit_id_;
    std::vector<std::pair<std::string, durable_point>> points;
    for (auto& [c, st] : clients_) {
      if (!st.dirty || !st.loaded)
        continue;
      durable_point point;
      point.floor = st.floor_seq;
      auto md = make_metadata(st, counters_.metadata_steps, point.listed);
      points.emplace_back(c, std::move(point));
      auto p = rd_kafka_topic_partition_list_add(tpl.get(), st.topic.c_str(), 0);
      p->offset = st.committed;
      p->metadata = std::malloc(md.size());
      std::memcpy(p->metadata, md.data(), md.size());
      p->metadata_size = md.size();
      states.push_back(&st);
    }
    if (!commit_queue_)
      commit_queue_.reset(rd_kafka_queue_new(consumer_.get()));
    auto err = rd_kafka_commit_queue(consumer_.get(), tpl.get(), commit_queue_.get(),
                                     [](rd_kafka_t*, rd_kafka_resp_err_t,
                                        rd_kafka_topic_partition_list_t*, void*) {},
                                     reinterpret_cast<void*>(static_cast<uintptr_t>(id)));
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      last_error_ = "offset commit failed (retried with the next batch): " + kafka::describe(err);
      return;
    }
    in_flight_points_.emplace(id, std::move(points));
    ++commits_in_flight_;
    ++counters_.commits;
    for (auto* st : states)
      st->dirty = false; // a failed commit marks every client dirty again
  }

  /// Kafka confirmed commit `id`: its acks are durable. Commits are
  /// answered in the order they were sent; one that is older than the
  /// point a client has already (a retry inside librdkafka answered late)
  /// changes nothing.
  void confirmed(uint64_t id, std::vector<std::pair<std::string, durable_point>>& points) {
    for (auto& [c, point] : points) {
      auto it = clients_.find(c);
      if (it == clients_.end() || !it->second.loaded || it->second.durable_commit > id)
        continue;
      it->second.durable = std::move(point);
      it->second.durable_commit = id;
    }
    ++durability_epoch_;
  }

public:
  /// Between batches: the answers that came, and the commit of acks a
  /// batch had to defer (two unanswered) once there is room, so that the
  /// last acks of a drain do not wait for the next batch. True while a
  /// commit is unanswered or acks are not sent yet.
  bool maintain() override {
    if (!consumer_)
      return false;
    drain_commits(0);
    bool dirty = std::any_of(clients_.begin(), clients_.end(),
                             [](auto& kv) { return kv.second.loaded && kv.second.dirty; });
    if (dirty && commits_in_flight_ < max_commits_in_flight)
      commit();
    return commits_in_flight_ > 0
           || std::any_of(clients_.begin(), clients_.end(),
                          [](auto& kv) { return kv.second.loaded && kv.second.dirty; });
  }

  /// True if entry `seq` of `client` was acknowledged (erased) and that
  /// erase is not durable yet: a crash now would bring the entry back
  /// (its offset commit is unanswered, deferred, failed, or the ack did
  /// not fit in the commit metadata). False for an entry not acknowledged
  /// at all, and for a client this store does not hold.
  bool erase_pending(const std::string& client, uint64_t seq) const {
    auto it = clients_.find(client);
    if (it == clients_.end() || !it->second.loaded)
      return false;
    auto& st = it->second;
    bool acked = seq <= st.floor_seq || st.acked_above.contains(seq);
    return acked && !st.durable.contains(seq);
  }

  /// Grows with every confirmed commit (erase_pending may have changed).
  uint64_t durability_epoch() const noexcept {
    return durability_epoch_;
  }

private:
  /// Collects the answers of earlier commits until at most `target` are
  /// unanswered, waiting up to `wait_ms`; false if more are left.
  bool drain_commits(uint32_t wait_ms, int target = 0) {
    if (!commit_queue_)
      return true;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds{wait_ms};
    while (commits_in_flight_ > target) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
      auto ev = rd_kafka_queue_poll(commit_queue_.get(), static_cast<int>(std::max<int64_t>(0, left)));
      if (ev == nullptr) {
        if (wait_ms > 0) {
          commit_degraded_ = true;
          last_error_ = "offset commit: no answer from Kafka in time (retried)";
        }
        return false;
      }
      if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_OFFSET_COMMIT) {
        --commits_in_flight_;
        auto id = static_cast<uint64_t>(reinterpret_cast<uintptr_t>(rd_kafka_event_opaque(ev)));
        auto points = in_flight_points_.extract(id);
        auto e = rd_kafka_event_error(ev);
        std::string failure;
        if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
          failure = "offset commit failed (retried with the next batch): " + kafka::describe(e);
        } else if (auto parts = rd_kafka_event_topic_partition_list(ev)) {
          for (int i = 0; i < parts->cnt; ++i)
            if (parts->elems[i].err != RD_KAFKA_RESP_ERR_NO_ERROR)
              failure = std::string{"offset commit of "} + parts->elems[i].topic
                        + " failed (retried): " + kafka::describe(parts->elems[i].err);
        }
        if (failure.empty()) {
          commit_degraded_ = false;
          if (!points.empty())
            confirmed(id, points.mapped());
        } else {
          commit_degraded_ = true;
          ++counters_.commit_failures;
          last_error_ = std::move(failure);
          for (auto& [c, st] : clients_)
            if (st.loaded)
              st.dirty = true;
        }
      }
      rd_kafka_event_destroy(ev);
    }
    return true;
  }

  /// A new consumer handle for the current one (same group); the commits
  /// still unanswered (their queue belongs to the old handle) are sent
  /// again with the next batch. Keeps the old one, unassigned, if no new
  /// one can be made.
  void replace_consumer() {
    std::string why;
    auto fresh = kafka::make_handle(opts_, true, cev_, why);
    if (!fresh) {
      last_error_ = why;
      rd_kafka_assign(consumer_.get(), nullptr);
      assigned_.clear();
      return;
    }
    commit_queue_.reset();
    in_flight_points_.clear(); // never confirmed: their acks are sent again
    if (commits_in_flight_ > 0) {
      commits_in_flight_ = 0;
      for (auto& [c, st] : clients_)
        if (st.loaded)
          st.dirty = true;
    }
    consumer_ = std::move(fresh); // the old one is destroyed here
    assigned_.clear();
    position_ = -1;
  }

  /// Assigns the consumer to partition 0 of `topic` at `offset`, unless it
  /// is there already.
  bool seek(const std::string& topic, int64_t offset, std::string& why) {
    if (assigned_ == topic && position_ == offset)
      return true;
    ++counters_.seeks;
    kafka::tpl_ptr tpl{rd_kafka_topic_partition_list_new(1)};
    rd_kafka_topic_partition_list_add(tpl.get(), topic.c_str(), 0)->offset = offset;
    auto err = rd_kafka_assign(consumer_.get(), tpl.get());
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      assigned_.clear();
      why = "cannot read " + topic + ": " + kafka::describe(err);
      return false;
    }
    assigned_ = topic;
    position_ = offset;
    return true;
  }

  /// Produces the batch's appends; waits for every delivery report.
  std::error_code produce(const write_batch& b) {
    std::string why;
    // After a failed batch, ask Kafka first (at most 500 ms): while it does
    // not answer, batches fail at once instead of holding the storage
    // thread (and every other backend's batches) for the delivery timeout.
    if (produce_degraded_) {
      auto probe = std::min<uint32_t>(500, opts_.delivery_timeout_ms);
      if (!kafka::wait_reachable(producer_.get(), std::chrono::milliseconds{0}, probe, why)) {
        last_error_ = "Kafka at " + opts_.bootstrap_servers + " is unreachable (" + why
                      + "): batch refused without producing";
        return error::backend_failure;
      }
    }
    auto now = codec::clocks::now();
    deliveries_.clear();
    deliveries_.reserve(b.append.size());
    std::string key;
    std::string value;
    bool failed_early = false;
    for (auto& [c, e] : b.append) {
      if (erased_.count(c) > 0)
        continue; // appended after its session was erased: nobody reads it
      auto topic = topic_of(c);
      if (topics_.count(topic) == 0 && !create(c, why)) {
        last_error_ = why;
        failed_early = true;
        break;
      }
      auto& st = state(c);
      if (!st.loaded && !load(st, why)) {
        last_error_ = why;
        failed_early = true;
        break;
      }
      key.clear();
      put_be64(key, e.seq);
      value.clear();
      codec::encode(e, value, now);
      deliveries_.push_back({c, e.seq});
      auto idx = deliveries_.size() - 1;
      for (;;) {
        auto err = rd_kafka_producev(
          producer_.get(), RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(0),
          RD_KAFKA_V_KEY(key.data(), key.size()), RD_KAFKA_V_VALUE(value.data(), value.size()),
          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
          RD_KAFKA_V_OPAQUE(reinterpret_cast<void*>(static_cast<uintptr_t>(idx))), RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
          rd_kafka_poll(producer_.get(), 10);
          continue;
        }
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
          deliveries_[idx].err = err;
          deliveries_[idx].done = true;
        }
        break;
      }
    }
    // Every report, or a definite failure: message.timeout.ms bounds the wait.
    auto flush_ms = static_cast<int>(opts_.delivery_timeout_ms) + 5000;
    if (rd_kafka_flush(producer_.get(), flush_ms) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      rd_kafka_purge(producer_.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
      rd_kafka_flush(producer_.get(), 1000);
    }
    bool ok = !failed_early;
    for (auto& d : deliveries_) {
      if (!d.done) {
        d.err = RD_KAFKA_RESP_ERR__TIMED_OUT;
        d.done = true;
      }
      if (d.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (ok)
          last_error_ = "producing to " + topic_of(d.client) + " failed: " + kafka::describe(d.err);
        ok = false;
      }
    }
    for (auto& d : deliveries_) {
      if (d.err != RD_KAFKA_RESP_ERR_NO_ERROR)
        continue;
      auto& st = state(d.client);
      // Stored, but a failed batch was not delivered: skip it for good.
      index(st, d.offset, d.seq, !ok, d.offset == st.indexed_to);
      st.last_seq_known = st.last_seq_known || d.offset + 1 >= st.known_end;
    }
    deliveries_.clear();
    if (auto fatal = fatal_error(); !fatal.empty()) {
      last_error_ = fatal;
      recreate_producer();
      ok = false;
    }
    produce_degraded_ = !ok;
    return ok ? std::error_code{} : std::error_code{error::backend_failure};
  }

  std::string fatal_error() {
    char buf[512];
    auto err = rd_kafka_fatal_error(producer_.get(), buf, sizeof buf);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
      return {};
    return std::string{"Kafka producer fatal error: "} + buf;
  }

  void recreate_producer() {
    std::string why;
    auto p = kafka::make_handle(opts_, false, pev_, why);
    if (p)
      producer_ = std::move(p);
  }

  static void delivered(const rd_kafka_message_t* m, void* owner) {
    auto self = static_cast<kafka_queue_store*>(owner);
    auto idx = static_cast<size_t>(reinterpret_cast<uintptr_t>(m->_private));
    if (self == nullptr || idx >= self->deliveries_.size())
      return;
    auto& d = self->deliveries_[idx];
    d.done = true;
    d.err = m->err;
    d.offset = m->offset;
  }

  struct delivery {
    std::string client;
    uint64_t seq = 0;
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    int64_t offset = -1;
    bool done = false;
  };

  kafka_options opts_;
  kafka::handle_events pev_;
  kafka::handle_events cev_;
  kafka::handle_ptr producer_;
  kafka::handle_ptr consumer_;
  std::set<std::string> topics_;        ///< queue topics known to exist
  std::set<std::string> delete_later_;  ///< deletions to retry
  std::unordered_set<std::string> erased_; ///< sessions erased (appends dropped)
  std::unordered_map<std::string, client_state> clients_;
  std::vector<delivery> deliveries_;
  struct queue_deleter {
    void operator()(rd_kafka_queue_t* q) const noexcept {
      rd_kafka_queue_destroy(q);
    }
  };
  std::unique_ptr<rd_kafka_queue_t, queue_deleter> commit_queue_;
  int commits_in_flight_ = 0;
  uint64_t last_commit_id_ = 0;
  /// Per commit sent and not answered: what it makes durable per client.
  std::map<uint64_t, std::vector<std::pair<std::string, durable_point>>> in_flight_points_;
  uint64_t durability_epoch_ = 0;
  bool produce_degraded_ = false; ///< the last batch failed: probe first
  bool commit_degraded_ = false;
  kafka_queue_counters counters_;
  std::string assigned_; ///< topic the consumer reads
  int64_t position_ = -1;
  std::string last_error_;
};

/// The store above as the role composite's APPLICATION queue backend.
class kafka_app_queue final : public queue_store {
public:
  explicit kafka_app_queue(std::unique_ptr<store> impl) : impl_(std::move(impl)) {
    impl_->on_corrupt([this](std::string_view what, std::string_view key, std::error_code why) {
      if (on_corrupt)
        on_corrupt(what, key, why);
    });
  }

  std::string describe() const override {
    return impl_->describe();
  }

  std::string last_error() const override {
    return impl_->last_error();
  }

  std::error_code apply(const queue_batch& qb) override {
    write_batch b;
    b.erase_sessions = qb.erase_queues;
    for (auto& c : qb.create_queues) {
      session_record r;
      r.client_id = c;
      r.client_type = 1;
      b.put_sessions.push_back(std::move(r));
    }
    b.append = qb.append;
    b.erase_entries = qb.erase_entries;
    return impl_->apply(b);
  }

  std::error_code read_queue(const std::string& client_id, uint64_t from_seq, size_t limit,
                             const std::function<void(queued_entry&&)>& f) override {
    return impl_->read_queue(client_id, from_seq, limit, f);
  }

  std::error_code last_seq(const std::string& client_id, uint64_t& out) override {
    return impl_->last_seq(client_id, out);
  }

  std::error_code queue_stats(const std::string& client_id, queue_info& out) override {
    return impl_->queue_stats(client_id, out);
  }

  std::error_code for_each_client(const std::function<void(const std::string&)>& f) override {
    return impl_->for_each_queue(f);
  }

  std::error_code erase_leftovers(
    const std::unordered_set<std::string>& keep,
    const std::function<void(const std::string&, const std::string&)>& removed) override;

  bool erase_pending(const std::string& client_id, uint64_t seq) const override;

  uint64_t durability_epoch() const noexcept override;

  bool maintain() override {
    return impl_->maintain();
  }

  store& inner() const noexcept {
    return *impl_;
  }

private:
  std::unique_ptr<store> impl_;
};

kafka_queue_store* as_kafka_queue(store& s) {
  return dynamic_cast<kafka_queue_store*>(&s);
}

std::error_code kafka_app_queue::erase_leftovers(
  const std::unordered_set<std::string>& keep,
  const std::function<void(const std::string&, const std::string&)>& removed) {
  auto k = as_kafka_queue(*impl_);
  if (k == nullptr)
    return queue_store::erase_leftovers(keep, removed);
  return k->erase_leftover_topics(keep, removed);
}

bool kafka_app_queue::erase_pending(const std::string& client_id, uint64_t seq) const {
  auto k = as_kafka_queue(*impl_);
  return k != nullptr && k->erase_pending(client_id, seq);
}

uint64_t kafka_app_queue::durability_epoch() const noexcept {
  auto k = as_kafka_queue(*impl_);
  return k != nullptr ? k->durability_epoch() : 0;
}

kafka_queue_store* as_kafka_queue(queue_store& q) {
  auto app = dynamic_cast<kafka_app_queue*>(&q);
  return app != nullptr ? as_kafka_queue(app->inner()) : nullptr;
}

} // namespace

std::optional<kafka_queue_counters> kafka_queue_stats(store& s) {
  if (auto k = as_kafka_queue(s))
    return k->counters();
  return std::nullopt;
}

std::optional<kafka_queue_counters> kafka_queue_stats(queue_store& q) {
  if (auto k = as_kafka_queue(q))
    return k->counters();
  return std::nullopt;
}

bool kafka_queue_flush_commits(store& s, uint32_t wait_ms) {
  auto k = as_kafka_queue(s);
  return k != nullptr && k->flush_commits(wait_ms);
}

bool kafka_queue_flush_commits(queue_store& q, uint32_t wait_ms) {
  auto k = as_kafka_queue(q);
  return k != nullptr && k->flush_commits(wait_ms);
}

std::unique_ptr<queue_store> open_kafka_app_queue(const kafka_options& opts,
                                                  std::error_code& err, std::string& detail) {
  auto s = open_kafka_queue_store(opts, err, detail);
  if (!s)
    return nullptr;
  return std::make_unique<kafka_app_queue>(std::move(s));
}

std::unique_ptr<store> open_kafka_queue_store(const kafka_options& opts, std::error_code& err,
                                              std::string& detail) {
  err.clear();
  detail.clear();
  auto s = std::make_unique<kafka_queue_store>(opts);
  if (!s->open(detail)) {
    err = error::backend_failure;
    return nullptr;
  }
  return s;
}

} // namespace amq::storage
