#pragma once
// Row ranges and rank sharding of a corpus.
//
// Records are numbered 0..n-1 in file order (see corpus.h for what counts as a
// record). A rank reads the contiguous half-open range [begin, end) that
// shard_range gives it, so the ranks together read every record exactly once
// and concatenating their results in rank order reproduces the whole file.
#include <cstdint>

namespace fathom::data {

// Half-open row range [begin, end). end == -1 means "to the end of the file";
// the default Range therefore selects every record.
struct Range {
  std::int64_t begin = 0;
  std::int64_t end = -1;

  // Number of rows, or -1 when open-ended (end == -1).
  std::int64_t size() const { return end < 0 ? -1 : end - begin; }
  bool contains(std::int64_t i) const { return i >= begin && (end < 0 || i < end); }
};

// The slice of [0, n) owned by `rank` out of `size` ranks: contiguous and
// balanced (sizes differ by at most one; ranks 0 .. n%size-1 get the extra
// row). Valid for every n >= 0, including n == 0 and n < size (some ranks get
// an empty range, begin == end). Throws InputError ("shard_range: field
// '<n|size|rank>': ...", exit code 2) if n < 0, size <= 0 or rank is not in
// [0, size).
Range shard_range(std::int64_t n, int rank, int size);

}  // namespace fathom::data
