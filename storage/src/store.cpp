// write_batch::merge and the amq.storage error category.
#include "amq/storage/store.hpp"

#include <iterator>
#include <set>
#include <string_view>
#include <unordered_set>

namespace amq::storage {

namespace {

template <class T>
void move_append(std::vector<T>& to, std::vector<T>& from) {
  if (to.empty()) {
    to = std::move(from);
  } else {
    to.insert(to.end(), std::make_move_iterator(from.begin()),
              std::make_move_iterator(from.end()));
  }
  from.clear();
}

class error_category_impl final : public std::error_category {
public:
  const char* name() const noexcept override {
    return "amq.storage";
  }

  std::string message(int value) const override {
    switch (static_cast<error>(value)) {
      case error::truncated:
        return "record truncated";
      case error::unknown_version:
        return "unknown record format version";
      case error::wrong_record_type:
        return "wrong record type";
      case error::invalid_value:
        return "invalid value in record";
      case error::trailing_bytes:
        return "trailing bytes after record";
      case error::bad_key:
        return "malformed store key";
      case error::locked:
        return "data directory locked by another process";
      case error::io_error:
        return "storage I/O error";
      case error::corruption:
        return "storage files corrupt";
      case error::invalid_argument:
        return "invalid argument to store";
      case error::backend_failure:
        return "storage backend failure";
    }
    return "unknown amq.storage error";
  }
};

} // namespace

const std::error_category& error_category() noexcept {
  static const error_category_impl instance;
  return instance;
}

std::error_code store::queue_stats(const std::string& client_id, queue_info& out) {
  out = {};
  return read_queue(client_id, 0, 0, [&](queued_entry&&) { ++out.depth; });
}

// Applying the merged batch must equal applying `*this`, then `other`. The
// fixed order inside a batch (erase sessions, put sessions, append, put
// released, erase entries, erase released, put retained, erase retained) would otherwise let a mutation of
// `*this` survive a later erase in `other` (or an erase in `*this` kill a
// later put in `other`), so those are dropped from `*this` first.
void write_batch::merge(write_batch&& other) {
  if (!other.erase_sessions.empty()) {
    std::unordered_set<std::string_view> gone(other.erase_sessions.begin(),
                                              other.erase_sessions.end());
    std::erase_if(put_sessions, [&](const session_record& r) { return gone.count(r.client_id) > 0; });
    std::erase_if(append, [&](const auto& a) { return gone.count(a.first) > 0; });
    std::erase_if(erase_entries, [&](const auto& e) { return gone.count(e.first) > 0; });
    std::erase_if(put_released, [&](const auto& e) { return gone.count(e.first) > 0; });
    std::erase_if(erase_released, [&](const auto& e) { return gone.count(e.first) > 0; });
  }
  if (!other.append.empty() && !erase_entries.empty()) {
    // An entry erased in `*this` and appended again in `other` (a sequence
    // restarted after the session was erased) must stay.
    std::set<std::pair<std::string_view, uint64_t>> added;
    for (auto& [client, e] : other.append)
      added.emplace(client, e.seq);
    std::erase_if(erase_entries,
                  [&](const auto& e) { return added.count({e.first, e.second}) > 0; });
  }
  if (!other.put_released.empty() && !erase_released.empty()) {
    // Likewise a mark erased in `*this` and put again in `other`.
    std::set<std::pair<std::string_view, uint64_t>> marked;
    for (auto& [client, seq] : other.put_released)
      marked.emplace(client, seq);
    std::erase_if(erase_released,
                  [&](const auto& e) { return marked.count({e.first, e.second}) > 0; });
  }
  if (!other.erase_retained.empty() && !put_retained.empty()) {
    std::unordered_set<std::string_view> gone(other.erase_retained.begin(),
                                              other.erase_retained.end());
    std::erase_if(put_retained, [&](const protocol::message_ptr& m) { return gone.count(m->topic) > 0; });
  }
  if (!other.put_retained.empty() && !erase_retained.empty()) {
    std::unordered_set<std::string_view> put;
    for (auto& m : other.put_retained)
      put.emplace(m->topic);
    std::erase_if(erase_retained, [&](const std::string& t) { return put.count(t) > 0; });
  }
  move_append(erase_sessions, other.erase_sessions);
  move_append(put_sessions, other.put_sessions);
  move_append(append, other.append);
  move_append(put_released, other.put_released);
  move_append(erase_entries, other.erase_entries);
  move_append(erase_released, other.erase_released);
  move_append(put_retained, other.put_retained);
  move_append(erase_retained, other.erase_retained);
}

} // namespace amq::storage
