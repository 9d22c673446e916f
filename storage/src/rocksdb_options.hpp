#pragma once
// The RocksDB options of the embedded store (rocksdb_store.cpp). Anything
// that opens the store's directory directly (tests, repair tools) must use
// them: the `n/` keys hold merge operands of the `actormq.max_seq.v1`
// operator set here.

#include <rocksdb/options.h>

namespace amq::storage {

rocksdb::Options make_rocksdb_options();

} // namespace amq::storage
