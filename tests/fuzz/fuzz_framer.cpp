// libFuzzer target: the incremental framer, and every frame it yields
// through the generic decoder.
//
// Input layout: byte 0 = configuration (bits 0–1: maximum packet size
// {protocol limit, 4096, 64, 5}; bit 2: version for decoding; bits 3–5:
// chunk size class), bytes 1–4 = seed for the chunk sizes, the rest = the
// byte stream.
//
// The stream is fed twice: in one piece, and in pseudo-random chunks
// (1..2^(class+1) bytes). Both must yield the same frames (header and body
// bytes, compared by count, size and hash), the same error and the same
// number of buffered bytes: splitting a
// TCP stream differently must never change what the broker sees.
// Seeds: corpus/framer/.
#include "fuzz_common.hpp"

#include <algorithm>
#include <optional>

namespace {

using namespace amq::fuzz;

/// What one pass saw. Frames are summarized by their count, their total
/// body size and an FNV-1a hash over every header byte, body length and body
/// byte in order: no allocation per frame, so the target stays fast on
/// streams of thousands of tiny frames.
struct outcome {
  size_t frames = 0;
  size_t body_bytes = 0;
  uint64_t hash = 14695981039346656037ull;
  std::optional<decode_error> error;
  size_t buffered = 0;

  void add(uint8_t x) noexcept {
    hash ^= x;
    hash *= 1099511628211ull;
  }

  void add(const frame& f) noexcept {
    ++frames;
    body_bytes += f.body.size();
    add(f.header);
    for (int shift = 0; shift < 32; shift += 8)
      add(static_cast<uint8_t>(f.body.size() >> shift));
    for (auto b : f.body)
      add(b);
  }

  bool same_frames(const outcome& other) const noexcept {
    return frames == other.frames && body_bytes == other.body_bytes
           && hash == other.hash;
  }
};

constexpr uint32_t max_sizes[] = {268'435'460, 4096, 64, 5};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 5)
    return 0;
  auto max_size = max_sizes[data[0] & 0x03];
  auto version = (data[0] & 0x04) ? protocol_version::v5 : protocol_version::v311;
  auto chunk_class = static_cast<unsigned>((data[0] >> 3) & 0x07);
  uint32_t rng = static_cast<uint32_t>(data[1]) | (uint32_t{data[2]} << 8)
                 | (uint32_t{data[3]} << 16) | (uint32_t{data[4]} << 24);
  rng |= 1; // xorshift32 must not start at 0
  std::span<const uint8_t> stream{data + 5, size - 5};

  // Frames are decoded in the chunked pass only (same frames either way).
  auto collect = [&](outcome& out, bool decode_frames) {
    return [&out, version, max_size, decode_frames](const frame& f) {
      if (f.wire_size() > max_size)
        fail("framer passed on a frame above the maximum packet size", f.header);
      out.add(f);
      if (!decode_frames)
        return true;
      if (auto r = decode(f, version); r && to_string(*r).empty())
        fail("to_string of a decoded packet is empty", f.header);
      return true;
    };
  };

  outcome whole;
  {
    framer fr{max_size};
    whole.error = fr.feed(stream, collect(whole, false));
    if (whole.error.has_value() != fr.failed())
      fail("feed's error and failed() disagree", 0);
    whole.buffered = fr.buffered();
  }

  outcome chunked;
  {
    framer fr{max_size};
    size_t pos = 0;
    while (pos < stream.size() && !chunked.error) {
      rng ^= rng << 13;
      rng ^= rng >> 17;
      rng ^= rng << 5;
      size_t n = 1 + rng % (size_t{2} << chunk_class);
      n = std::min(n, stream.size() - pos);
      chunked.error = fr.feed(stream.subspan(pos, n), collect(chunked, true));
      pos += n;
    }
    if (chunked.error.has_value() != fr.failed())
      fail("feed's error and failed() disagree (chunked)", 0);
    chunked.buffered = fr.buffered();
  }

  if (!whole.same_frames(chunked))
    fail("chunked feeding yields other frames than feeding in one piece", 0);
  if (whole.error != chunked.error)
    fail("chunked feeding yields another error than feeding in one piece", 0);
  if (!whole.error && whole.buffered != chunked.buffered)
    fail("chunked feeding buffers another number of bytes", 0);
  return 0;
}
