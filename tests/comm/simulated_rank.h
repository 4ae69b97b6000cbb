#pragma once
// A fake backend for testing the chunking layer (ChunkedCommunicator) on one
// process: it plays rank `rank` of a world of `size` ranks whose other
// members' inputs are given up front, carries out every raw_* primitive as
// the real transport would (reductions over all ranks, rank-major gathers),
// and records each call it was asked for (operation, element offset into the
// caller's buffer, element counts). Tests then assert both the result (the
// ranks' data arrived in the right places) and the pieces (none larger than
// max_chunk, contiguous, covering the buffer) — which the single-rank "local"
// backend cannot show, since its reductions and broadcasts are no-ops.
//
// Inputs are doubles (every dtype goes through the same byte arithmetic; the
// fake checks that the dtype it is asked for is f64). The caller binds its own
// send buffer with bind_send() so the fake can turn pointers into offsets.
#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "chunked_communicator.h"

namespace fathom::testing {

struct RecordedCall {
  std::string op;                 // "all_reduce", "broadcast", "all_gather", "gather", "all_gatherv", "gatherv", "counts"
  std::int64_t offset = -1;       // element offset of this rank's piece in its bound buffer (-1: none sent)
  int n = 0;                      // elements this rank sent / reduced in the call
  std::vector<int> counts;        // v-variants: elements per rank in this call
};

class SimulatedRank final : public comm::detail::ChunkedCommunicator {
 public:
  // inputs[q] is what rank q contributes; inputs.size() is the world size.
  SimulatedRank(int rank, std::vector<std::vector<double>> inputs) : rank_(rank), inputs_(std::move(inputs)) {}

  int rank() const override { return rank_; }
  int size() const override { return int(inputs_.size()); }
  std::string backend() const override { return "simulated"; }
  [[noreturn]] void abort(int code) override { throw std::runtime_error("abort " + std::to_string(code)); }

  // The buffer this rank passes as send (or in-place data). Resets the
  // per-rank progress of the v-variants.
  void bind_send(const double* data) {
    bound_ = data;
    consumed_.assign(inputs_.size(), 0);
  }
  const std::vector<RecordedCall>& calls() const { return calls_; }
  void clear_calls() { calls_.clear(); }

 protected:
  void raw_barrier() override { calls_.push_back({"barrier", -1, 0, {}}); }

  void raw_all_reduce(void* data, int n, comm::DType dtype, comm::ReduceOp op) override {
    auto* d = as_f64(data, dtype);
    const std::int64_t off = offset_of(d);
    for (int i = 0; i < n; ++i) {
      double acc = d[i];  // this rank's own value, in place
      for (int q = 0; q < size(); ++q) {
        if (q == rank_) continue;
        const double x = element(q, off + i);
        acc = op == comm::ReduceOp::sum ? acc + x : op == comm::ReduceOp::max ? std::max(acc, x) : std::min(acc, x);
      }
      d[i] = acc;
    }
    calls_.push_back({"all_reduce", off, n, {}});
  }

  void raw_broadcast(void* data, int n, comm::DType dtype, int root) override {
    auto* d = as_f64(data, dtype);
    const std::int64_t off = offset_of(d);
    if (root != rank_)
      for (int i = 0; i < n; ++i) d[i] = element(root, off + i);
    calls_.push_back({"broadcast", off, n, {}});
  }

  void raw_all_gather(const void* send, int n, void* recv, std::int64_t stride, comm::DType dtype) override {
    if (dtype == comm::DType::i64 && n == 1 && !inside_bound(send)) {
      // The v-variants first exchange element counts (one i64 per rank).
      auto* r = static_cast<std::int64_t*>(recv);
      for (int q = 0; q < size(); ++q)
        r[q * stride] = q == rank_ ? *static_cast<const std::int64_t*>(send) : std::int64_t(inputs_[q].size());
      calls_.push_back({"counts", -1, 1, {}});
      return;
    }
    gather_pieces("all_gather", send, n, recv, stride, dtype);
  }

  void raw_gather(const void* send, int n, void* recv, std::int64_t stride, comm::DType dtype, int root) override {
    if ((recv != nullptr) != (root == rank_)) throw std::logic_error("gather: recv must be set on root only");
    gather_pieces("gather", send, n, recv, stride, dtype);
  }

  void raw_all_gatherv(const void* send, int n, void* recv, const int* counts, const int* displs,
                       comm::DType dtype) override {
    gatherv_pieces("all_gatherv", send, n, recv, counts, displs, dtype);
  }

  void raw_gatherv(const void* send, int n, void* recv, const int* counts, const int* displs, comm::DType dtype,
                   int root) override {
    if ((recv != nullptr) != (root == rank_)) throw std::logic_error("gatherv: recv must be set on root only");
    gatherv_pieces("gatherv", send, n, recv, counts, displs, dtype);
  }

 private:
  static double* as_f64(void* p, comm::DType dtype) {
    if (dtype != comm::DType::f64) throw std::logic_error("SimulatedRank only carries f64 data");
    return static_cast<double*>(p);
  }
  bool inside_bound(const void* p) const {
    const auto* d = static_cast<const double*>(p);
    return bound_ && d >= bound_ && d <= bound_ + inputs_[std::size_t(rank_)].size();
  }
  std::int64_t offset_of(const double* p) const {
    if (!inside_bound(p)) throw std::logic_error("pointer outside the bound buffer (call bind_send)");
    return p - bound_;
  }
  double element(int q, std::int64_t i) const {
    const auto& v = inputs_[std::size_t(q)];
    if (i < 0 || i >= std::int64_t(v.size()))
      throw std::logic_error("rank " + std::to_string(q) + " has no element " + std::to_string(i));
    return v[std::size_t(i)];
  }

  // Equal-count gathers: every rank sends the same piece [off, off+n).
  void gather_pieces(const char* op, const void* send, int n, void* recv, std::int64_t stride, comm::DType dtype) {
    const auto* s = static_cast<const double*>(send);
    const std::int64_t off = offset_of(s);
    if (recv) {
      auto* r = as_f64(recv, dtype);
      for (int q = 0; q < size(); ++q)
        for (int i = 0; i < n; ++i) r[q * stride + i] = q == rank_ ? s[i] : element(q, off + i);
    }
    calls_.push_back({op, off, n, {}});
  }

  // Uneven gathers: as a real transport, each rank's next piece follows the
  // one it sent in the previous call (consumed_ tracks that), so a piece sent
  // twice or skipped shows up as wrong data.
  void gatherv_pieces(const char* op, const void* send, int n, void* recv, const int* counts, const int* displs,
                      comm::DType dtype) {
    if (n != counts[rank_]) throw std::logic_error(std::string(op) + ": own count differs from counts[rank]");
    std::int64_t off = -1;
    if (n > 0) {
      off = offset_of(static_cast<const double*>(send));
      if (off != consumed_[std::size_t(rank_)])
        throw std::logic_error(std::string(op) + ": rank sends from offset " + std::to_string(off) + ", expected " +
                               std::to_string(consumed_[std::size_t(rank_)]));
    }
    if (recv) {
      auto* r = as_f64(recv, dtype);
      for (int q = 0; q < size(); ++q)
        for (int i = 0; i < counts[q]; ++i) r[displs[q] + i] = element(q, consumed_[std::size_t(q)] + i);
    }
    for (int q = 0; q < size(); ++q) consumed_[std::size_t(q)] += counts[q];
    calls_.push_back({op, off, n, std::vector<int>(counts, counts + size())});
  }

  int rank_;
  std::vector<std::vector<double>> inputs_;
  const double* bound_ = nullptr;
  std::vector<std::int64_t> consumed_;
  std::vector<RecordedCall> calls_;
};

}  // namespace fathom::testing
