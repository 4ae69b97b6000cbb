#include "chunked_communicator.h"

#include <algorithm>
#include <climits>
#include <cstring>
#include <numeric>

#include "fathom/core/error.h"

namespace fathom::comm::detail {

namespace {
const std::uint8_t* at(const void* p, std::int64_t elements, std::size_t es) {
  return static_cast<const std::uint8_t*>(p) + elements * std::int64_t(es);
}
std::uint8_t* at(void* p, std::int64_t elements, std::size_t es) {
  return static_cast<std::uint8_t*>(p) + elements * std::int64_t(es);
}
}  // namespace

std::int64_t effective_chunk(std::int64_t max_chunk) {
  return std::clamp<std::int64_t>(max_chunk, 1, INT_MAX);
}

void ChunkedCommunicator::fail(const char* op, const std::string& detail) const {
  throw CommError(op, rank(), detail);
}

void ChunkedCommunicator::check_count(const char* op, std::int64_t count) const {
  if (count < 0) fail(op, "negative element count " + std::to_string(count));
}

void ChunkedCommunicator::check_root(const char* op, int root) const {
  if (root < 0 || root >= size())
    fail(op, "root " + std::to_string(root) + " is not a rank of a communicator of size " +
                 std::to_string(size()));
}

void ChunkedCommunicator::start_watchdog(std::function<void()> on_timeout) {
  const double t = collective_timeout();
  if (t > 0) watchdog_ = std::make_unique<Watchdog>(t, rank(), std::move(on_timeout));
}

void ChunkedCommunicator::raw_all_gatherv(const void*, int, void*, const int*, const int*, DType) {
  fail("all_gatherv", "not supported by backend " + backend());
}

void ChunkedCommunicator::raw_gatherv(const void*, int, void*, const int*, const int*, DType, int) {
  fail("gatherv", "not supported by backend " + backend());
}

void ChunkedCommunicator::barrier() {
  ArmedScope armed(watchdog_.get(), "barrier");
  raw_barrier();
}

void ChunkedCommunicator::all_reduce(void* data, std::int64_t count, DType dtype, ReduceOp op) {
  check_count("all_reduce", count);
  ArmedScope armed(watchdog_.get(), "all_reduce");
  const std::size_t es = dtype_size(dtype);
  for_each_piece(count, effective_chunk(max_chunk()), [&](std::int64_t off, std::int64_t n) {
    raw_all_reduce(at(data, off, es), int(n), dtype, op);
  });
}

void ChunkedCommunicator::broadcast(void* data, std::int64_t count, DType dtype, int root) {
  check_count("broadcast", count);
  check_root("broadcast", root);
  ArmedScope armed(watchdog_.get(), "broadcast");
  const std::size_t es = dtype_size(dtype);
  for_each_piece(count, effective_chunk(max_chunk()), [&](std::int64_t off, std::int64_t n) {
    raw_broadcast(at(data, off, es), int(n), dtype, root);
  });
}

void ChunkedCommunicator::all_gather(const void* send, std::int64_t count, void* recv, DType dtype) {
  check_count("all_gather", count);
  ArmedScope armed(watchdog_.get(), "all_gather");
  const std::size_t es = dtype_size(dtype);
  // Piece [off, off+n) of every rank goes to recv[r*count + off]: the stride
  // keeps the result rank-major however the count is split.
  for_each_piece(count, effective_chunk(max_chunk()), [&](std::int64_t off, std::int64_t n) {
    raw_all_gather(at(send, off, es), int(n), at(recv, off, es), count, dtype);
  });
}

void ChunkedCommunicator::gather(const void* send, std::int64_t count, void* recv, DType dtype, int root) {
  check_count("gather", count);
  check_root("gather", root);
  ArmedScope armed(watchdog_.get(), "gather");
  const std::size_t es = dtype_size(dtype);
  const bool me_root = rank() == root;
  for_each_piece(count, effective_chunk(max_chunk()), [&](std::int64_t off, std::int64_t n) {
    raw_gather(at(send, off, es), int(n), me_root ? at(recv, off, es) : nullptr, count, dtype, root);
  });
}

std::vector<std::uint8_t> ChunkedCommunicator::all_gatherv(const void* send, std::int64_t count, DType dtype,
                                                           std::vector<std::int64_t>* counts_out) {
  return gather_varying("all_gatherv", send, count, dtype, kEveryRank, counts_out);
}

std::vector<std::uint8_t> ChunkedCommunicator::gatherv(const void* send, std::int64_t count, DType dtype, int root,
                                                       std::vector<std::int64_t>* counts_out) {
  check_root("gatherv", root);
  return gather_varying("gatherv", send, count, dtype, root, counts_out);
}

std::vector<std::uint8_t> ChunkedCommunicator::gather_varying(const char* op, const void* send, std::int64_t count,
                                                              DType dtype, int root,
                                                              std::vector<std::int64_t>* counts_out) {
  check_count(op, count);
  ArmedScope armed(watchdog_.get(), op);
  const std::size_t es = dtype_size(dtype);
  const int p = size();
  // Every rank learns every count: all of them must agree on the rounds below.
  std::vector<std::int64_t> counts(static_cast<std::size_t>(p), 0);
  raw_all_gather(&count, 1, counts.data(), 1, DType::i64);
  std::vector<std::int64_t> displs(static_cast<std::size_t>(p), 0);
  std::exclusive_scan(counts.begin(), counts.end(), displs.begin(), std::int64_t(0));
  const std::int64_t total = displs.back() + counts.back();
  if (counts_out) *counts_out = counts;

  const bool receives = root == kEveryRank || rank() == root;
  std::vector<std::uint8_t> out(receives ? std::size_t(total) * es : 0);
  if (total == 0) return out;
  auto move = [&](const void* s, int n, void* recv, const int* ns, const int* ds) {
    if (root == kEveryRank)
      raw_all_gatherv(s, n, recv, ns, ds, dtype);
    else
      raw_gatherv(s, n, receives ? recv : nullptr, ns, ds, dtype, root);
  };
  const std::int64_t chunk = effective_chunk(max_chunk());
  std::vector<int> n(static_cast<std::size_t>(p)), d(static_cast<std::size_t>(p));

  if (total <= chunk) {  // One call: every count and displacement fits in an int.
    for (int r = 0; r < p; ++r) n[r] = int(counts[r]), d[r] = int(displs[r]);
    move(send, int(count), out.data(), n.data(), d.data());
    return out;
  }
  // Rounds: round k moves elements [k*per_rank, (k+1)*per_rank) of every rank
  // into a staging buffer. A round holds at most max(chunk, size) elements, so
  // its int counts and displacements cannot overflow even when the final
  // offsets exceed INT32_MAX; then each rank's piece is copied into place.
  const std::int64_t per_rank = std::max<std::int64_t>(1, chunk / p);
  const std::int64_t longest = *std::max_element(counts.begin(), counts.end());
  std::vector<std::uint8_t> stage(receives ? std::size_t(per_rank * p) * es : 0);
  for (std::int64_t first = 0; first < longest; first += per_rank) {
    int pos = 0;
    for (int r = 0; r < p; ++r) {
      n[r] = int(std::clamp<std::int64_t>(counts[r] - first, 0, per_rank));
      d[r] = pos;
      pos += n[r];
    }
    const int mine = n[std::size_t(rank())];
    move(mine > 0 ? at(send, first, es) : nullptr, mine, stage.data(), n.data(), d.data());
    if (!receives) continue;
    for (int r = 0; r < p; ++r)
      if (n[r] > 0) std::memcpy(at(out.data(), displs[r] + first, es), at(stage.data(), d[r], es), std::size_t(n[r]) * es);
  }
  return out;
}

}  // namespace fathom::comm::detail
