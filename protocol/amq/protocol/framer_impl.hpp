#pragma once
// Implementation of the template `framer::feed` (included by framer.hpp).
//
// Two phases per call:
// 1. If a partial frame is buffered, complete its fixed header byte by byte
//    (at most 5 bytes), check the size limit, then append exactly the missing
//    body bytes. If the frame is now complete it is delivered from the
//    framer's buffer.
// 2. Parse frames straight out of `data` and deliver them as views (zero
//    copy). A trailing partial frame is copied into the buffer; if its fixed
//    header is already complete, its size is checked first, so an oversize
//    packet fails with 0x95 before any of its body is buffered.

#include "amq/protocol/framer.hpp"

#include <algorithm>
#include <type_traits>
#include <utility>

namespace amq::protocol {

template <class F>
std::optional<decode_error> framer::feed(std::span<const uint8_t> data, F&& on_frame) {
  if (failed_)
    return error_;
  auto deliver = [&on_frame](const frame& f) -> bool {
    if constexpr (std::is_void_v<std::invoke_result_t<F&, const frame&>>) {
      on_frame(f);
      return true;
    } else {
      return static_cast<bool>(on_frame(f));
    }
  };
  size_t header_len = 0;
  uint32_t remaining = 0;
  decode_error err;
  // -- phase 1: complete the buffered frame ----------------------------------
  if (!partial_.empty()) {
    for (;;) {
      auto st = parse_header(partial_, header_len, remaining, err);
      if (st == parse_status::error)
        return fail(err);
      if (st == parse_status::complete)
        break;
      if (data.empty())
        return std::nullopt;
      partial_.push_back(data.front());
      data = data.subspan(1);
    }
    size_t total = header_len + remaining;
    size_t take = std::min(total - partial_.size(), data.size());
    partial_.insert(partial_.end(), data.begin(), data.begin() + take);
    data = data.subspan(take);
    if (partial_.size() < total)
      return std::nullopt;
    frame f{partial_[0], std::span<const uint8_t>{partial_}.subspan(header_len)};
    bool go = deliver(f);
    if (partial_.capacity() > keep_capacity)
      std::vector<uint8_t>{}.swap(partial_);
    else
      partial_.clear();
    if (!go)
      return std::nullopt;
  }
  // -- phase 2: frames inside `data` ------------------------------------------
  while (!data.empty()) {
    auto st = parse_header(data, header_len, remaining, err);
    if (st == parse_status::error)
      return fail(err);
    if (st == parse_status::need_more)
      break;
    size_t total = header_len + remaining;
    if (data.size() < total) {
      // Reserve the whole frame up front (bounded), so the body does not
      // trigger repeated reallocation while it trickles in.
      partial_.reserve(std::min(total, keep_capacity));
      break;
    }
    frame f{data[0], data.subspan(header_len, remaining)};
    if (!deliver(f))
      return std::nullopt;
    data = data.subspan(total);
  }
  if (!data.empty())
    partial_.assign(data.begin(), data.end());
  return std::nullopt;
}

} // namespace amq::protocol
