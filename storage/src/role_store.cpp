// The role composite: see amq/storage/role_store.hpp for the routing and
// crash-ordering rules.
#include "amq/storage/role_store.hpp"
#include "amq/metrics/registry.hpp"
#include "validate.hpp"

#include <chrono>
#include <unordered_set>

namespace amq::storage {

std::error_code queue_store::erase_leftovers(
  const std::unordered_set<std::string>& keep,
  const std::function<void(const std::string&, const std::string&)>& removed) {
  queue_batch leftovers;
  if (auto err = for_each_client([&](const std::string& c) {
        if (!keep.count(c))
          leftovers.erase_queues.push_back(c);
      }))
    return err;
  if (leftovers.empty())
    return {};
  if (auto err = apply(leftovers))
    return err;
  if (removed)
    for (auto& c : leftovers.erase_queues)
      removed(c, c);
  return {};
}

role_store::role_store(std::unique_ptr<store> primary, std::unique_ptr<queue_store> device,
                       std::unique_ptr<queue_store> application)
  : primary_(std::move(primary)), device_(std::move(device)),
    application_(std::move(application)) {
  auto forward = [this](std::string_view what, std::string_view key, std::error_code why) {
    report_corrupt(what, key, why);
  };
  primary_->on_corrupt(forward);
  if (device_)
    device_->on_corrupt = forward;
  if (application_)
    application_->on_corrupt = forward;
  primary_label_ = metrics::backend_of(primary_->describe());
  device_label_ = device_ ? metrics::backend_of(device_->describe()) : primary_label_;
  application_label_ =
    application_ ? metrics::backend_of(application_->describe()) : primary_label_;
}

role_store::~role_store() = default;

std::string role_store::describe() const {
  auto out = primary_->describe();
  out += " + DEVICE queues: ";
  out += device_ ? device_->describe() : "primary";
  out += " + APPLICATION queues: ";
  out += application_ ? application_->describe() : "primary";
  return out;
}

std::string role_store::last_error() const {
  return last_error_;
}

queue_role role_store::role_of_client(const std::string& client_id) const {
  auto i = roles_.find(client_id);
  return i == roles_.end() ? queue_role::device : i->second;
}

std::error_code role_store::move_queue(const std::string& client_id, queue_store* from,
                                       write_batch& out) {
  // Reads the whole queue of the old backend; the caller puts the entries
  // into the new backend's part (phase 1) and the erase of the old queue
  // into phase 2 (primary) or phase 3 (another queue backend).
  std::vector<queued_entry> entries;
  auto collect = [&](queued_entry&& e) { entries.push_back(std::move(e)); };
  auto err = from ? from->read_queue(client_id, 0, 0, collect)
                  : primary_->read_queue(client_id, 0, 0, collect);
  if (err)
    return err;
  for (auto& e : entries)
    out.append.emplace_back(client_id, std::move(e));
  return {};
}

std::error_code role_store::apply(const write_batch& b) {
  if (auto err = detail::validate(b)) {
    last_error_ = "batch rejected: client id empty or containing U+0000, or null message";
    return err;
  }
  if (b.empty())
    return {};
  last_error_.clear();
  std::error_code first_err;
  auto fail = [&](std::error_code err, const std::string& what) {
    if (!first_err)
      first_err = err;
    if (!last_error_.empty())
      last_error_ += "; ";
    last_error_ += what;
  };
  write_batch primary_part;
  queue_batch dev1; // phase 1: before the primary
  queue_batch app1;
  queue_batch dev3; // phase 3: after the primary
  queue_batch app3;
  auto phase1 = [&](queue_store* q) -> queue_batch& { return q == device_.get() ? dev1 : app1; };
  auto phase3 = [&](queue_store* q) -> queue_batch& { return q == device_.get() ? dev3 : app3; };

  // -- erased sessions: the record in the primary (phase 2), the queue in
  // its backend after it (phase 3), or before the appends of a session
  // re-created in this batch (phase 1).
  // A session re-created in this batch (appended to or put again): its old
  // queue goes before the new one's appends and create (phase 1).
  std::unordered_set<std::string_view> appended;
  for (auto& [c, e] : b.append)
    appended.insert(c);
  for (auto& r : b.put_sessions)
    appended.insert(r.client_id);
  for (auto& c : b.erase_sessions) {
    primary_part.erase_sessions.push_back(c);
    auto known = roles_.find(c);
    std::vector<queue_store*> where;
    if (known != roles_.end()) {
      if (auto* q = backend(known->second))
        where.push_back(q);
      roles_.erase(known);
    } else {
      defaulted_.erase(c);
      // Unknown client (appends before any record): every queue backend.
      if (device_)
        where.push_back(device_.get());
      if (application_)
        where.push_back(application_.get());
    }
    for (auto* q : where)
      (appended.count(c) ? phase1(q) : phase3(q)).erase_queues.push_back(c);
  }

  // -- records: learn types; a changed type moves the queue.
  struct move {
    std::string client;
    queue_role from;
    queue_role to;
  };
  std::vector<move> moves;
  for (auto& r : b.put_sessions) {
    auto role = role_of(r.client_type);
    auto [i, inserted] = roles_.emplace(r.client_id, role);
    if (auto* q = backend(role); q && (inserted || i->second != role))
      phase1(q).create_queues.push_back(r.client_id);
    if (inserted && defaulted_.erase(r.client_id) > 0 && role != queue_role::device
        && backend(role) != backend(queue_role::device)) {
      // Appended to before its first record: those entries are in the
      // DEVICE backend.
      moves.push_back({r.client_id, queue_role::device, role});
    } else if (!inserted && i->second != role) {
      if (backend(i->second) != backend(role))
        moves.push_back({r.client_id, i->second, role});
      i->second = role;
    }
    primary_part.put_sessions.push_back(r);
  }
  std::unordered_set<std::string> failed_moves;
  for (auto& m : moves) {
    auto* from = backend(m.from);
    auto* to = backend(m.to);
    write_batch moved;
    if (auto err = move_queue(m.client, from, moved)) {
      fail(err, "cannot read the queue of " + m.client + " to move it to its new client type's "
                  "backend");
      failed_moves.insert(m.client);
      continue;
    }
    std::vector<std::pair<std::string, uint64_t>> moved_seqs;
    for (auto& [c, e] : moved.append)
      moved_seqs.emplace_back(c, e.seq);
    // Into the new backend first ...
    if (to)
      for (auto& a : moved.append)
        phase1(to).append.push_back(std::move(a));
    else
      for (auto& a : moved.append)
        primary_part.append.push_back(std::move(a));
    // ... out of the old one after the record.
    if (from) {
      phase3(from).erase_queues.push_back(m.client);
    } else {
      for (auto& [c, e] : moved_seqs)
        primary_part.erase_entries.emplace_back(c, e);
    }
  }

  // -- queue entries by the client's (new) type.
  for (auto& [c, e] : b.append) {
    if (!roles_.count(c))
      defaulted_.insert(c);
    if (auto* q = backend(role_of_client(c)))
      phase1(q).append.emplace_back(c, e);
    else
      primary_part.append.emplace_back(c, e);
  }
  for (auto& [c, seq] : b.erase_entries) {
    if (auto* q = backend(role_of_client(c)))
      phase1(q).erase_entries.emplace_back(c, seq);
    else
      primary_part.erase_entries.emplace_back(c, seq);
  }
  // "Released" marks live in the primary whatever the queue backend (a
  // Kafka record cannot be updated in place; one layout for all). A mark is
  // put after the queue appends (phase 1) and erased after the entry's
  // erase in the queue backend: a crash in between leaves a mark without
  // its entry (ignored, erased with the session), never an entry that lost
  // its mark.
  primary_part.put_released = b.put_released;
  primary_part.erase_released = b.erase_released;

  primary_part.put_retained = b.put_retained;
  primary_part.erase_retained = b.erase_retained;

  // Each backend's part is timed (one clock read pair per apply call) and
  // observed once per batch under the backend's label
  // (actormq_storage_apply_seconds; the storage actor observes the whole
  // commit as "mixed"). Index 0 device, 1 application, 2 primary.
  using clock = std::chrono::steady_clock;
  struct part_time {
    int64_t ns = 0;
    bool used = false;
    bool ok = true;
  } parts[3];
  auto timed = [&](part_time& p, auto&& run) -> std::error_code {
    auto t0 = clock::now();
    auto err = run();
    p.ns += std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now() - t0).count();
    p.used = true;
    if (err)
      p.ok = false;
    return err;
  };
  auto part_of = [&](queue_store* q) -> part_time& { return parts[q == device_.get() ? 0 : 1]; };

  // Phase 1: queue backends (appends are durable when this returns).
  std::unordered_set<queue_store*> failed;
  for (auto* q : {device_.get(), application_.get()}) {
    if (!q || phase1(q).empty())
      continue;
    if (auto err = timed(part_of(q), [&] { return q->apply(phase1(q)); })) {
      failed.insert(q);
      fail(err, q->describe() + ": " + q->last_error());
    }
  }
  // A move whose target failed did not happen: keep the old type in the
  // record (so that the boot clean-up keeps the queue where it is) and in
  // the role map, and keep the old queue.
  for (auto& m : moves) {
    if (!failed.count(backend(m.to)) && !failed_moves.count(m.client))
      continue;
    roles_[m.client] = m.from;
    for (auto& r : primary_part.put_sessions)
      if (r.client_id == m.client)
        r.client_type = m.from == queue_role::application ? 1 : 0;
    if (auto* from = backend(m.from)) {
      std::erase(phase3(from).erase_queues, m.client);
    } else {
      std::erase_if(primary_part.erase_entries, [&](const auto& e) {
        return e.first == m.client;
      });
    }
  }
  // The erase of an entry failed in its backend: keep its mark, so that a
  // restart before the erase is retried resends PUBREL, not the message.
  if (!failed.empty() && !primary_part.erase_released.empty())
    std::erase_if(primary_part.erase_released, [&](const auto& e) {
      auto* q = backend(role_of_client(e.first));
      return q && failed.count(q) > 0;
    });
  // A mark goes only once the erase of its entry is durable in the entry's
  // backend; until then it is held (Kafka: the offset commit that carries
  // the PUBCOMP is not confirmed yet; a crash would bring the entry back,
  // and without its mark it would go out again as a new PUBLISH). Erased
  // sessions take their marks with their records.
  for (auto& c : b.erase_sessions)
    if (auto h = held_marks_.find(c); h != held_marks_.end()) {
      held_mark_count_ -= h->second.size();
      held_marks_.erase(h);
    }
  if (!primary_part.erase_released.empty())
    std::erase_if(primary_part.erase_released, [&](const auto& e) {
      auto* q = backend(role_of_client(e.first));
      if (!q || !q->erase_pending(e.first, e.second))
        return false;
      if (held_marks_[e.first].insert(e.second).second)
        ++held_mark_count_;
      return true;
    });
  release_held_marks(primary_part.erase_released);
  // Phase 2: the primary.
  if (!primary_part.empty())
    if (auto err = timed(parts[2], [&] { return primary_->apply(primary_part); }))
      fail(err, primary_->describe() + ": " + primary_->last_error());
  // Phase 3: erases of whole queues in other backends (a backend keeps
  // and retries an erase it could not apply; leftovers of a crash are
  // removed by recover()).
  for (auto* q : {device_.get(), application_.get()}) {
    if (!q || phase3(q).empty())
      continue;
    if (auto err = timed(part_of(q), [&] { return q->apply(phase3(q)); })) {
      if (!last_error_.empty())
        last_error_ += "; ";
      last_error_ += q->describe() + " (erasing queues, retried later): " + q->last_error();
    }
  }
  const size_t labels[3] = {device_label_, application_label_, primary_label_};
  for (size_t i = 0; i < 3; ++i)
    if (parts[i].used)
      metrics::observe_storage_part(labels[i], parts[i].ns, parts[i].ok);
  return first_err;
}

std::error_code role_store::for_each_session(const std::function<void(session_record&&)>& f) {
  return primary_->for_each_session([&](session_record&& r) {
    roles_[r.client_id] = role_of(r.client_type);
    f(std::move(r));
  });
}

std::error_code role_store::read_queue(const std::string& client_id, uint64_t from_seq,
                                       size_t limit,
                                       const std::function<void(queued_entry&&)>& f) {
  if (!detail::valid_client_id(client_id))
    return error::invalid_argument;
  auto* q = backend(role_of_client(client_id));
  if (!q)
    return primary_->read_queue(client_id, from_seq, limit, f);
  // The queue from its backend, the marks from the primary.
  std::vector<uint64_t> marks;
  if (auto err = primary_->read_released(client_id, from_seq, marks)) {
    last_error_ = primary_->describe() + ": " + primary_->last_error();
    return err;
  }
  if (marks.empty())
    return q->read_queue(client_id, from_seq, limit, f);
  // A mark at or after `from_seq` and before an entry the backend returned,
  // without its own entry, is the mark of an entry the backend dropped
  // (Redis trimmed it to the depth limit or expired it, Kafka's retention
  // deleted it): the backend returns a client's entries in seq order, so
  // that entry would have come first. Nobody would erase such a mark before
  // the session ends (the session never sees the entry again), so it goes
  // now. Marks after the last entry returned go too when the backend's
  // reads are complete (Redis) and this one returned everything there is
  // (fewer than `limit`, nothing corrupt skipped); otherwise they are left
  // alone (a full page says nothing about what follows it). Inbound QoS 2
  // ids (a reserved seq range) are never touched.
  auto mark = marks.begin();
  write_batch stale;
  size_t returned = 0;
  auto corrupt_before = corrupt_records();
  auto err = q->read_queue(client_id, from_seq, limit, [&](queued_entry&& e) {
    ++returned;
    for (; mark != marks.end() && *mark < e.seq; ++mark)
      stale.erase_released.emplace_back(client_id, *mark); // (held below if pending)
    e.released = mark != marks.end() && *mark == e.seq;
    if (e.released)
      ++mark;
    f(std::move(e));
  });
  if (!err && q->complete_reads() && (limit == 0 || returned < limit)
      && corrupt_records() == corrupt_before)
    for (; mark != marks.end() && !is_inbound_qos2_seq(*mark); ++mark)
      stale.erase_released.emplace_back(client_id, *mark);
  // Skipped because its erase is applied but not durable yet (Kafka: an
  // ack whose commit is unconfirmed): held, as in apply.
  std::erase_if(stale.erase_released, [&](const auto& e) {
    if (!q->erase_pending(e.first, e.second))
      return false;
    if (held_marks_[e.first].insert(e.second).second)
      ++held_mark_count_;
    return true;
  });
  if (!err && !stale.erase_released.empty()) {
    if (auto e = primary_->apply(stale))
      last_error_ = "cannot erase the released marks of entries gone from " + q->describe()
                    + ": " + primary_->describe() + ": " + primary_->last_error()
                    + " (tried again with the next read)";
  }
  return err;
}

bool role_store::maintain() {
  bool more = false;
  for (auto* q : {device_.get(), application_.get()})
    if (q && q->maintain())
      more = true;
  write_batch done;
  release_held_marks(done.erase_released);
  if (!done.erase_released.empty()) {
    if (auto err = primary_->apply(done)) {
      // Held again: tried with the next batch or call.
      last_error_ = "cannot erase released marks: " + primary_->describe() + ": "
                    + primary_->last_error();
      for (auto& [c, seq] : done.erase_released)
        if (held_marks_[c].insert(seq).second)
          ++held_mark_count_;
      held_epoch_[0] = held_epoch_[1] = ~uint64_t{0}; // look again next time
      return true;
    }
  }
  return more || held_mark_count_ > 0;
}

void role_store::release_held_marks(std::vector<std::pair<std::string, uint64_t>>& out) {
  if (held_marks_.empty())
    return;
  bool moved = false;
  queue_store* qs[2] = {device_.get(), application_.get()};
  for (size_t i = 0; i < 2; ++i) {
    auto epoch = qs[i] ? qs[i]->durability_epoch() : 0;
    if (epoch != held_epoch_[i]) {
      held_epoch_[i] = epoch;
      moved = true;
    }
  }
  if (!moved)
    return;
  for (auto h = held_marks_.begin(); h != held_marks_.end();) {
    auto* q = backend(role_of_client(h->first));
    for (auto s = h->second.begin(); s != h->second.end();) {
      if (q && q->erase_pending(h->first, *s)) {
        ++s;
        continue;
      }
      out.emplace_back(h->first, *s);
      s = h->second.erase(s);
      --held_mark_count_;
    }
    h = h->second.empty() ? held_marks_.erase(h) : std::next(h);
  }
}

std::error_code role_store::read_released(const std::string& client_id, uint64_t from_seq,
                                          std::vector<uint64_t>& out) {
  return primary_->read_released(client_id, from_seq, out);
}

std::error_code role_store::last_seq(const std::string& client_id, uint64_t& out) {
  if (!detail::valid_client_id(client_id))
    return error::invalid_argument;
  if (auto* q = backend(role_of_client(client_id)))
    return q->last_seq(client_id, out);
  return primary_->last_seq(client_id, out);
}

std::error_code role_store::queue_stats(const std::string& client_id, queue_info& out) {
  if (!detail::valid_client_id(client_id))
    return error::invalid_argument;
  if (auto* q = backend(role_of_client(client_id)))
    return q->queue_stats(client_id, out);
  return primary_->queue_stats(client_id, out);
}

std::error_code role_store::for_each_queue(const std::function<void(const std::string&)>& f) {
  if (auto err = primary_->for_each_queue(f))
    return err;
  for (auto* q : {device_.get(), application_.get()}) {
    if (!q)
      continue;
    if (auto err = q->for_each_client(f)) {
      last_error_ = q->describe() + ": " + q->last_error();
      return err;
    }
  }
  return {};
}

std::error_code
role_store::for_each_retained(const std::function<void(protocol::message_ptr&&)>& f) {
  return primary_->for_each_retained(f);
}

std::error_code
role_store::recover(const std::function<void(const std::string&, const std::string&)>& removed) {
  roles_.clear();
  defaulted_.clear();
  if (auto err = for_each_session([](session_record&&) {}))
    return err;
  for (auto* q : {device_.get(), application_.get()}) {
    if (!q)
      continue;
    // An orphan is a queue that is not the queue of any client whose
    // record puts it in this backend (the backend computes each kept
    // client's queue name, hashed or not, so it finds every other one).
    std::unordered_set<std::string> keep;
    for (auto& [c, role] : roles_)
      if (backend(role) == q)
        keep.insert(c);
    auto err = q->erase_leftovers(keep, [&](const std::string& c, const std::string& name) {
      if (removed)
        removed(c, c.empty() ? q->describe() + " (" + name + ")" : q->describe());
    });
    if (err) {
      last_error_ = q->describe() + ": " + q->last_error();
      return err;
    }
  }
  return {};
}

} // namespace amq::storage
