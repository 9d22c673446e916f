// The non-durable store: the semantics of the RocksDB store in std::maps.
// Records are kept decoded (messages shared, they are immutable), so this
// store never sees a corrupt record.
#include "amq/storage/store.hpp"
#include "validate.hpp"

#include <map>
#include <set>

namespace amq::storage {

namespace {

class memory_store final : public store {
public:
  std::string describe() const override {
    return "memory";
  }

  std::error_code apply(const write_batch& b) override {
    if (auto err = detail::validate(b))
      return err;
    for (auto& c : b.erase_sessions) {
      sessions_.erase(c);
      queues_.erase(c);
      last_seq_.erase(c);
      released_.erase(c);
    }
    for (auto& r : b.put_sessions)
      sessions_[r.client_id] = r;
    for (auto& [c, e] : b.append) {
      auto& stored = queues_[c][e.seq] = e;
      stored.released = false; // the mark is kept apart (released_)
      auto& last = last_seq_[c];
      if (e.seq > last)
        last = e.seq;
    }
    for (auto& [c, seq] : b.put_released)
      released_[c].insert(seq);
    for (auto& [c, seq] : b.erase_entries) {
      if (auto i = queues_.find(c); i != queues_.end()) {
        i->second.erase(seq);
        if (i->second.empty())
          queues_.erase(i);
      }
    }
    for (auto& [c, seq] : b.erase_released) {
      if (auto i = released_.find(c); i != released_.end()) {
        i->second.erase(seq);
        if (i->second.empty())
          released_.erase(i);
      }
    }
    for (auto& m : b.put_retained)
      retained_[m->topic] = m;
    for (auto& t : b.erase_retained)
      retained_.erase(t);
    return {};
  }

  std::error_code for_each_session(const std::function<void(session_record&&)>& f) override {
    for (auto& [c, r] : sessions_)
      f(session_record{r});
    return {};
  }

  std::error_code read_queue(const std::string& client_id, uint64_t from_seq, size_t limit,
                             const std::function<void(queued_entry&&)>& f) override {
    if (!detail::valid_client_id(client_id))
      return error::invalid_argument;
    auto q = queues_.find(client_id);
    if (q == queues_.end())
      return {};
    auto r = released_.find(client_id);
    size_t n = 0;
    for (auto i = q->second.lower_bound(from_seq); i != q->second.end(); ++i) {
      if (limit != 0 && n == limit)
        break;
      queued_entry e{i->second};
      e.released = r != released_.end() && r->second.count(e.seq) > 0;
      f(std::move(e));
      ++n;
    }
    return {};
  }

  std::error_code read_released(const std::string& client_id, uint64_t from_seq,
                                std::vector<uint64_t>& out) override {
    if (!detail::valid_client_id(client_id))
      return error::invalid_argument;
    if (auto r = released_.find(client_id); r != released_.end())
      out.insert(out.end(), r->second.lower_bound(from_seq), r->second.end());
    return {};
  }

  std::error_code last_seq(const std::string& client_id, uint64_t& out) override {
    if (!detail::valid_client_id(client_id))
      return error::invalid_argument;
    auto i = last_seq_.find(client_id);
    out = i == last_seq_.end() ? 0 : i->second;
    return {};
  }

  std::error_code
  for_each_queue(const std::function<void(const std::string&)>& f) override {
    for (auto& [c, last] : last_seq_)
      f(c);
    for (auto& [c, marks] : released_) // marks without a queue (as RocksDB)
      if (!last_seq_.count(c))
        f(c);
    return {};
  }

  std::error_code
  for_each_retained(const std::function<void(protocol::message_ptr&&)>& f) override {
    for (auto& [t, m] : retained_)
      f(protocol::message_ptr{m});
    return {};
  }

private:
  std::map<std::string, session_record> sessions_;
  std::map<std::string, std::map<uint64_t, queued_entry>> queues_;
  std::map<std::string, uint64_t> last_seq_;
  /// "Released" marks by client (independent of the entries, as on disk).
  std::map<std::string, std::set<uint64_t>> released_;
  std::map<std::string, protocol::message_ptr> retained_;
};

} // namespace

std::unique_ptr<store> make_memory_store() {
  return std::make_unique<memory_store>();
}

} // namespace amq::storage
