// The embedded store on RocksDB. Key and record layout:
// docs/storage-format.md. In short, one column family, keys
//
//   s/<client id>                    -> session record
//   n/<client id>                    -> last sequence number of the session
//   q/<client id> 0x00 <seq, 8B BE>  -> queue entry (prefix scan = queue in order)
//   m/<client id> 0x00 <seq, 8B BE>  -> "released" mark of that entry (PUBREC received)
//   r/<topic>                        -> retained message
//
// Client ids never contain U+0000 (MQTT §1.5.4; `apply` rejects them), so
// `q/<client id>\0` is a prefix no other session's keys share, and
// [`q/<client id>\0`, `q/<client id>\1`) is exactly that session's queue.
//
// `apply` turns one write_batch into one rocksdb::WriteBatch, written with
// WriteOptions::sync = `sync`: with sync the batch is in the fsynced WAL
// when apply returns; without it, it is in the OS page cache (survives a
// process crash, not a power loss).
#include "amq/storage/store.hpp"
#include "record_codec.hpp"
#include "rocksdb_options.hpp"
#include "validate.hpp"

#include <rocksdb/convenience.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/merge_operator.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/table_properties_collectors.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <filesystem>
#include <unordered_map>
#include <memory>

namespace amq::storage {

namespace {

// -- keys ---------------------------------------------------------------------

constexpr std::string_view session_prefix = "s/";
constexpr std::string_view last_seq_prefix = "n/";
constexpr std::string_view queue_prefix_tag = "q/";
constexpr std::string_view retained_prefix = "r/";
constexpr std::string_view released_prefix_tag = "m/";

std::string concat(std::string_view a, std::string_view b) {
  std::string out;
  out.reserve(a.size() + b.size() + 9);
  out.append(a);
  out.append(b);
  return out;
}

/// `<tag><client>\0` (the start of a client's keys under `tag`) or, with
/// `last`, `<tag><client>\1` (the first key after them).
std::string client_range(std::string_view tag, std::string_view client, bool last = false) {
  auto out = concat(tag, client);
  out.push_back(last ? '\1' : '\0');
  return out;
}

void append_be64(std::string& out, uint64_t x) {
  for (int i = 7; i >= 0; --i)
    out.push_back(static_cast<char>(static_cast<uint8_t>(x >> (8 * i))));
}

uint64_t read_be64(std::string_view in) {
  uint64_t x = 0;
  for (size_t i = 0; i < 8; ++i)
    x = (x << 8) | static_cast<uint8_t>(in[i]);
  return x;
}

/// `q/<client>\0`, `q/<client>\1`: a client's queue entries.
std::string queue_prefix(std::string_view client) {
  return client_range(queue_prefix_tag, client);
}

std::string queue_end(std::string_view client) {
  return client_range(queue_prefix_tag, client, true);
}

std::string queue_key(std::string_view client, uint64_t seq) {
  auto out = queue_prefix(client);
  append_be64(out, seq);
  return out;
}

/// `m/<client>\0`, `m/<client>\1` and `m/<client>\0<seq>`: the marks, keyed
/// as the queue.
std::string released_prefix(std::string_view client) {
  return client_range(released_prefix_tag, client);
}

std::string released_end(std::string_view client) {
  return client_range(released_prefix_tag, client, true);
}

std::string released_key(std::string_view client, uint64_t seq) {
  auto out = released_prefix(client);
  append_be64(out, seq);
  return out;
}

/// The first key after every key starting with `prefix` ("s/" -> "s0").
std::string prefix_end(std::string_view prefix) {
  std::string out{prefix};
  out.back() = static_cast<char>(out.back() + 1);
  return out;
}

/// A key for logs: non-printable bytes as \xNN.
std::string printable(std::string_view key) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : key) {
    if (c >= 0x20 && c < 0x7F && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      out += "\\x";
      out.push_back(digits[c >> 4]);
      out.push_back(digits[c & 0x0F]);
    }
  }
  return out;
}

rocksdb::Slice slice(std::string_view s) {
  return {s.data(), s.size()};
}

std::string_view view(const rocksdb::Slice& s) {
  return {s.data(), s.size()};
}

std::error_code to_error(const rocksdb::Status& s) {
  if (s.ok())
    return {};
  if (s.IsCorruption())
    return error::corruption;
  if (s.IsIOError())
    return error::io_error;
  if (s.IsInvalidArgument())
    return error::invalid_argument;
  return error::backend_failure;
}

bool contains(std::string_view s, std::string_view what) {
  return s.find(what) != std::string_view::npos;
}

// -- last seq: a max merge operator --------------------------------------------------

/// `n/<client>` is written with Merge(), never Put(): the operands are
/// last-seq records and the merged value is the record of their maximum. So
/// an append never has to read the stored last seq (one Get per session per
/// batch cost more than the rest of apply), and last_seq still never goes
/// down. The name is part of the on-disk format: a store written with merge
/// operands can only be read with an operator of the same name.
class max_seq_operator final : public rocksdb::AssociativeMergeOperator {
public:
  bool Merge(const rocksdb::Slice&, const rocksdb::Slice* existing, const rocksdb::Slice& value,
             std::string* new_value, rocksdb::Logger*) const override {
    uint64_t a = 0;
    uint64_t b = 0;
    // A corrupt operand counts as 0: the other one still holds. (The reader
    // falls back to the queue's highest key if the result is corrupt.)
    if (existing && codec::decode_last_seq(view(*existing), a))
      a = 0;
    if (codec::decode_last_seq(view(value), b))
      b = 0;
    new_value->clear();
    codec::encode_last_seq(std::max(a, b), *new_value);
    return true;
  }

  const char* Name() const override {
    return "actormq.max_seq.v1";
  }
};

// -- the store ----------------------------------------------------------------

class rocksdb_store final : public store {
public:
  rocksdb_store(std::string dir, rocksdb::DB* db, bool sync) : dir_(std::move(dir)), db_(db) {
    write_opts_.sync = sync;
  }

  ~rocksdb_store() override {
    db_->Close(); // errors here have nowhere to go; the WAL holds the data
  }

  std::string describe() const override {
    return "rocksdb:" + dir_;
  }

  std::string last_error() const override {
    return last_error_;
  }

  std::error_code apply(const write_batch& b) override {
    if (auto err = detail::validate(b)) {
      last_error_ = "batch rejected: client id empty or containing U+0000, or null message";
      return err;
    }
    auto now = codec::clocks::now();
    rocksdb::WriteBatch wb;
    for (auto& c : b.erase_sessions) {
      wb.Delete(slice(concat(session_prefix, c)));
      wb.Delete(slice(concat(last_seq_prefix, c)));
      wb.DeleteRange(slice(queue_prefix(c)), slice(queue_end(c)));
      wb.DeleteRange(slice(released_prefix(c)), slice(released_end(c)));
    }
    for (auto& r : b.put_sessions) {
      buf_.clear();
      codec::encode(r, buf_);
      wb.Put(slice(concat(session_prefix, r.client_id)), slice(buf_));
    }
    std::unordered_map<std::string_view, uint64_t> max_seq;
    for (auto& [c, e] : b.append) {
      buf_.clear();
      codec::encode(e, buf_, now);
      wb.Put(slice(queue_key(c, e.seq)), slice(buf_));
      auto& m = max_seq[c];
      m = std::max(m, e.seq);
    }
    for (auto& [c, seq] : max_seq) {
      // Merged as max with the stored value (max_seq_operator); after the
      // Delete of an erased session above, this operand stands alone.
      buf_.clear();
      codec::encode_last_seq(seq, buf_);
      wb.Merge(slice(concat(last_seq_prefix, c)), slice(buf_));
    }
    for (auto& [c, seq] : b.put_released) {
      buf_.clear();
      codec::encode_released(seq, buf_);
      wb.Put(slice(released_key(c, seq)), slice(buf_));
    }
    for (auto& [c, seq] : b.erase_entries)
      wb.Delete(slice(queue_key(c, seq)));
    for (auto& [c, seq] : b.erase_released)
      wb.Delete(slice(released_key(c, seq)));
    for (auto& m : b.put_retained) {
      buf_.clear();
      codec::encode_retained(*m, buf_, now);
      wb.Put(slice(concat(retained_prefix, m->topic)), slice(buf_));
    }
    for (auto& t : b.erase_retained)
      wb.Delete(slice(concat(retained_prefix, t)));
    return check(db_->Write(write_opts_, &wb));
  }

  std::error_code for_each_session(const std::function<void(session_record&&)>& f) override {
    return scan(session_prefix, [&](std::string_view key, std::string_view value) {
      session_record r;
      auto err = codec::decode(value, r);
      if (!err && r.client_id != key.substr(session_prefix.size()))
        err = error::invalid_value; // the record is not the key's session
      if (err)
        report_corrupt("session", printable(key), err);
      else
        f(std::move(r));
      return true;
    });
  }

  std::error_code read_queue(const std::string& client_id, uint64_t from_seq, size_t limit,
                             const std::function<void(queued_entry&&)>& f) override {
    if (!detail::valid_client_id(client_id))
      return error::invalid_argument;
    // The marks first (a handful at most: entries in flight at QoS 2).
    marks_.clear();
    if (auto err = read_released(client_id, from_seq, marks_))
      return err;
    auto now = codec::clocks::now();
    auto prefix = queue_prefix(client_id);
    auto end = queue_end(client_id);
    rocksdb::Slice upper{end};
    rocksdb::ReadOptions ro;
    ro.iterate_upper_bound = &upper;
    std::unique_ptr<rocksdb::Iterator> it{db_->NewIterator(ro)};
    auto mark = marks_.begin();
    size_t n = 0;
    for (it->Seek(slice(queue_key(client_id, from_seq))); it->Valid(); it->Next()) {
      if (limit != 0 && n == limit)
        break;
      auto key = view(it->key());
      if (key.size() != prefix.size() + 8 || !key.starts_with(prefix)) {
        report_corrupt("queue entry", printable(key), error::bad_key);
        continue;
      }
      queued_entry e;
      auto err = codec::decode(view(it->value()), e, now);
      if (!err && e.seq != read_be64(key.substr(prefix.size())))
        err = error::invalid_value; // the record is not the key's entry
      if (err) {
        report_corrupt("queue entry", printable(key), err);
        continue;
      }
      while (mark != marks_.end() && *mark < e.seq)
        ++mark;
      e.released = mark != marks_.end() && *mark == e.seq;
      f(std::move(e));
      ++n;
    }
    return check(it->status());
  }

  std::error_code read_released(const std::string& client_id, uint64_t from_seq,
                                std::vector<uint64_t>& out) override {
    if (!detail::valid_client_id(client_id))
      return error::invalid_argument;
    auto prefix = released_prefix(client_id);
    auto end = released_end(client_id);
    rocksdb::Slice upper{end};
    rocksdb::ReadOptions ro;
    ro.iterate_upper_bound = &upper;
    std::unique_ptr<rocksdb::Iterator> it{db_->NewIterator(ro)};
    for (it->Seek(slice(released_key(client_id, from_seq))); it->Valid(); it->Next()) {
      auto key = view(it->key());
      if (key.size() != prefix.size() + 8 || !key.starts_with(prefix)) {
        report_corrupt("released mark", printable(key), error::bad_key);
        continue;
      }
      uint64_t seq = 0;
      auto err = codec::decode_released(view(it->value()), seq);
      if (!err && seq != read_be64(key.substr(prefix.size())))
        err = error::invalid_value; // the record is not the key's mark
      if (err) {
        // Skipped: the entry is then resent as PUBLISH (DUP), as before
        // marks existed; never a lost message.
        report_corrupt("released mark", printable(key), err);
        continue;
      }
      out.push_back(seq);
    }
    return check(it->status());
  }

  std::error_code last_seq(const std::string& client_id, uint64_t& out) override {
    if (!detail::valid_client_id(client_id))
      return error::invalid_argument;
    return stored_last_seq(client_id, out);
  }

  std::error_code
  for_each_queue(const std::function<void(const std::string&)>& f) override {
    // Every queue has its `n/` record (an append writes it; erasing the
    // session deletes it with the queue), so this never reads a queue.
    if (auto err = scan(last_seq_prefix, [&](std::string_view key, std::string_view) {
          f(std::string{key.substr(last_seq_prefix.size())});
          return true;
        }))
      return err;
    // Clients with "released" marks but no `n/` record (marks of queues in
    // Redis/Kafka whose session is gone, or left by a build without marks)
    // are listed too, so the boot clean-up erases their marks. Marks are
    // few (QoS 2 entries in flight): one lookup per client that has any.
    std::string last;
    std::string value;
    return scan(released_prefix_tag, [&](std::string_view key, std::string_view) {
      auto rest = key.substr(released_prefix_tag.size());
      auto client = rest.substr(0, rest.find('\0'));
      if (client == last)
        return true;
      last.assign(client);
      auto s = db_->Get(rocksdb::ReadOptions{}, slice(concat(last_seq_prefix, client)), &value);
      if (s.IsNotFound())
        f(last);
      return true;
    });
  }

  std::error_code
  for_each_retained(const std::function<void(protocol::message_ptr&&)>& f) override {
    auto now = codec::clocks::now();
    return scan(retained_prefix, [&](std::string_view key, std::string_view value) {
      protocol::message_ptr m;
      auto err = codec::decode_retained(value, m, now);
      if (!err && m->topic != key.substr(retained_prefix.size()))
        err = error::invalid_value;
      if (err)
        report_corrupt("retained", printable(key), err);
      else
        f(std::move(m));
      return true;
    });
  }

private:
  std::error_code check(const rocksdb::Status& s) {
    if (s.ok())
      return {};
    last_error_ = s.ToString();
    return to_error(s);
  }

  /// Calls `f(key, value)` for every key starting with `prefix`.
  template <class F>
  std::error_code scan(std::string_view prefix, F f) {
    auto end = prefix_end(prefix);
    rocksdb::Slice upper{end};
    rocksdb::ReadOptions ro;
    ro.iterate_upper_bound = &upper;
    ro.fill_cache = false; // start-up scans read everything once
    std::unique_ptr<rocksdb::Iterator> it{db_->NewIterator(ro)};
    for (it->Seek(slice(prefix)); it->Valid(); it->Next())
      f(view(it->key()), view(it->value()));
    return check(it->status());
  }

  /// The `n/` record; if it is corrupt, the highest key in the queue (so
  /// that no sequence number is ever reused for a stored entry).
  std::error_code stored_last_seq(const std::string& client_id, uint64_t& out) {
    out = 0;
    std::string value;
    auto key = concat(last_seq_prefix, client_id);
    auto s = db_->Get(rocksdb::ReadOptions{}, slice(key), &value);
    if (s.IsNotFound())
      return {};
    if (!s.ok())
      return check(s);
    if (auto err = codec::decode_last_seq(value, out); !err)
      return {};
    report_corrupt("last seq", printable(key), codec::decode_last_seq(value, out));
    out = 0;
    auto prefix = queue_prefix(client_id);
    auto end = queue_end(client_id);
    rocksdb::Slice upper{end};
    rocksdb::ReadOptions ro;
    ro.iterate_upper_bound = &upper;
    std::unique_ptr<rocksdb::Iterator> it{db_->NewIterator(ro)};
    for (it->SeekForPrev(slice(end)); it->Valid(); it->Prev()) {
      auto k = view(it->key());
      if (!k.starts_with(prefix))
        break;
      if (k.size() == prefix.size() + 8) {
        out = read_be64(k.substr(prefix.size()));
        break;
      }
    }
    return check(it->status());
  }

  std::string dir_;
  std::unique_ptr<rocksdb::DB> db_;
  rocksdb::WriteOptions write_opts_;
  std::string buf_;
  std::vector<uint64_t> marks_;
  std::string last_error_;
};

} // namespace

// -- options --------------------------------------------------------------------

rocksdb::Options make_rocksdb_options() {
  rocksdb::Options opt;
  opt.create_if_missing = true;
  opt.merge_operator = std::make_shared<max_seq_operator>();
  // Every WriteBatch goes to the WAL file at once (sync decides fsync).
  opt.manual_wal_flush = false;
  // Small state, write-heavy, short-lived queue entries: modest memtables;
  // an entry acknowledged before its memtable is flushed never reaches an
  // SST (only its tombstone does).
  opt.write_buffer_size = 16 << 20;
  opt.max_write_buffer_number = 3;
  opt.max_total_wal_size = 64 << 20;
  opt.level_compaction_dynamic_level_bytes = true;
  opt.max_background_jobs = 2;
  // RocksDB's own LOG files in the data directory: keep them bounded.
  opt.keep_log_file_num = 4;
  opt.max_log_file_size = 8 << 20;
  // LZ4 where this RocksDB has it, else none (payloads are often already
  // compressed or tiny; zlib/zstd cost too much CPU for the gain).
  auto supported = rocksdb::GetSupportedCompressions();
  opt.compression =
    std::find(supported.begin(), supported.end(), rocksdb::kLZ4Compression) != supported.end()
      ? rocksdb::kLZ4Compression
      : rocksdb::kNoCompression;
  opt.bottommost_compression = opt.compression;
  rocksdb::BlockBasedTableOptions table;
  // Point lookups (n/<client>) skip SSTs that cannot hold the key.
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  opt.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  // Queues are append-then-delete: SSTs full of tombstones slow down the
  // scan of a queue, so compact them early (half of any 1000 consecutive
  // entries being deletions triggers it).
  opt.table_properties_collector_factories.emplace_back(
    rocksdb::NewCompactOnDeletionCollectorFactory(1000, 500, 0.5));
  return opt;
}

std::unique_ptr<store> open_rocksdb_store(const std::string& dir, bool sync, std::error_code& err,
                                          std::string& detail) {
  err.clear();
  detail.clear();
  std::error_code fs_err;
  std::filesystem::create_directories(dir, fs_err);
  if (fs_err) {
    err = fs_err;
    detail = "cannot create data directory " + dir + ": " + fs_err.message();
    return nullptr;
  }
  rocksdb::DB* db = nullptr;
  auto s = rocksdb::DB::Open(make_rocksdb_options(), dir, &db);
  if (s.ok())
    return std::make_unique<rocksdb_store>(dir, db, sync);
  delete db;
  auto msg = s.ToString();
  if (s.IsIOError() && contains(msg, "LOCK")) {
    err = error::locked;
    if (contains(msg, "lock hold by current process"))
      detail = "data directory " + dir + " is locked: it is already open in this process ("
               + msg + ")";
    else
      detail = "data directory " + dir + " is locked by another actormq process (" + msg + ")";
  } else if (contains(msg, "Permission denied")) {
    err = std::make_error_code(std::errc::permission_denied);
    detail = "data directory " + dir + " is not accessible: permission denied (" + msg + ")";
  } else if (s.IsCorruption()) {
    err = error::corruption;
    detail = "data directory " + dir + " holds a corrupt RocksDB store (" + msg + ")";
  } else {
    err = to_error(s);
    detail = "cannot open the RocksDB store in data directory " + dir + " (" + msg + ")";
  }
  return nullptr;
}

} // namespace amq::storage
