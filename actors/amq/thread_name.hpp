#pragma once
/// Names the calling thread as `top -H`, `ps -L`, `perf` and /proc/<pid>/task/<tid>/comm show
/// it (docs/operations.md, "Threads"). Linux keeps at most 15 characters; longer names are cut.

#include <pthread.h>

#include <string>

namespace amq {

inline void name_this_thread(const std::string& name) {
  ::pthread_setname_np(::pthread_self(), name.substr(0, 15).c_str());
}

} // namespace amq
