// The chunking layer shared by every backend, driven through a simulated
// 3-rank world (simulated_rank.h): results must be what the other ranks' data
// implies, and every piece handed to the transport must be at most max_chunk
// elements, in order, covering the buffer exactly once. Expected values are
// computed here with plain loops, independently of the code under test.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <memory>
#include <numeric>
#include <string>
#include <tuple>
#include <vector>

#include "comm/simulated_rank.h"
#include "deadline.h"
#include "fathom/core/error.h"

using fathom::comm::DType;
using fathom::comm::ReduceOp;
using fathom::testing::RecordedCall;
using fathom::testing::SimulatedRank;

namespace {

constexpr int kRanks = 3;

// Element i of rank q: distinct across ranks and positions, exact in double.
double value(int q, int i) { return 1000.0 * (q + 1) + i * (q % 2 ? -1.0 : 1.0); }

std::vector<std::vector<double>> world(const std::vector<int>& counts) {
  std::vector<std::vector<double>> in(counts.size());
  for (std::size_t q = 0; q < counts.size(); ++q)
    for (int i = 0; i < counts[q]; ++i) in[q].push_back(value(int(q), i));
  return in;
}

std::vector<double> as_doubles(const std::vector<std::uint8_t>& bytes) {
  std::vector<double> v(bytes.size() / sizeof(double));
  if (!bytes.empty()) std::memcpy(v.data(), bytes.data(), bytes.size());
  return v;
}

std::vector<RecordedCall> calls_of(const SimulatedRank& c, const std::string& op) {
  std::vector<RecordedCall> out;
  for (const auto& call : c.calls())
    if (call.op == op) out.push_back(call);
  return out;
}

// The equal-count collectives: pieces start at 0, follow each other without
// gap or overlap, are at most `chunk` long and cover [0, count).
void expect_tiling(const std::vector<RecordedCall>& pieces, std::int64_t count, std::int64_t chunk) {
  std::int64_t next = 0;
  for (const auto& p : pieces) {
    EXPECT_EQ(p.offset, next) << "piece out of order or overlapping";
    EXPECT_GE(p.n, 1) << "empty piece";
    EXPECT_LE(p.n, chunk) << "piece larger than max_chunk";
    next += p.n;
  }
  EXPECT_EQ(next, count) << "pieces do not cover the buffer";
  EXPECT_EQ(std::int64_t(pieces.size()), count == 0 ? 0 : (count + chunk - 1) / chunk) << "more calls than needed";
}

// Parameters: this rank, max_chunk (0 = default, one piece).
class commChunking : public ::testing::TestWithParam<std::tuple<int, std::int64_t>> {
 protected:
  int me() const { return std::get<0>(GetParam()); }
  std::int64_t chunk_setting() const { return std::get<1>(GetParam()); }
  std::int64_t chunk() const { return chunk_setting() > 0 ? chunk_setting() : std::numeric_limits<int>::max(); }
  std::unique_ptr<SimulatedRank> make(const std::vector<int>& counts) {
    auto c = std::make_unique<SimulatedRank>(me(), world(counts));
    if (chunk_setting() > 0) c->set_max_chunk(chunk_setting());
    return c;
  }
};

TEST_P(commChunking, AllReduceCombinesEveryRankPieceByPiece) {
  const int n = 10;
  for (auto op : {ReduceOp::sum, ReduceOp::max, ReduceOp::min}) {
    auto c = make(std::vector<int>(kRanks, n));
    std::vector<double> data(n);
    for (int i = 0; i < n; ++i) data[i] = value(me(), i);
    std::vector<double> want(n);
    for (int i = 0; i < n; ++i) {
      want[i] = value(0, i);
      for (int q = 1; q < kRanks; ++q)
        want[i] = op == ReduceOp::sum ? want[i] + value(q, i)
                  : op == ReduceOp::max ? std::max(want[i], value(q, i))
                                        : std::min(want[i], value(q, i));
    }
    c->bind_send(data.data());
    c->all_reduce(data.data(), n, DType::f64, op);
    EXPECT_EQ(data, want) << "op " << int(op);
    expect_tiling(calls_of(*c, "all_reduce"), n, chunk());
  }
}

TEST_P(commChunking, BroadcastCopiesTheRootPieceByPiece) {
  const int n = 11, root = 2;
  auto c = make(std::vector<int>(kRanks, n));
  std::vector<double> data(n);
  for (int i = 0; i < n; ++i) data[i] = value(me(), i);
  c->bind_send(data.data());
  c->broadcast(data.data(), n, DType::f64, root);
  std::vector<double> want(n);
  for (int i = 0; i < n; ++i) want[i] = value(root, i);
  EXPECT_EQ(data, want);
  expect_tiling(calls_of(*c, "broadcast"), n, chunk());
}

TEST_P(commChunking, AllGatherIsRankMajorWhateverTheSplit) {
  const int n = 7;
  auto c = make(std::vector<int>(kRanks, n));
  std::vector<double> send(n), recv(std::size_t(n * kRanks), -1.0), want;
  for (int i = 0; i < n; ++i) send[i] = value(me(), i);
  for (int q = 0; q < kRanks; ++q)
    for (int i = 0; i < n; ++i) want.push_back(value(q, i));
  c->bind_send(send.data());
  c->all_gather(send.data(), n, recv.data(), DType::f64);
  EXPECT_EQ(recv, want);
  expect_tiling(calls_of(*c, "all_gather"), n, chunk());
}

TEST_P(commChunking, GatherFillsOnlyTheRoot) {
  const int n = 5, root = 1;
  auto c = make(std::vector<int>(kRanks, n));
  std::vector<double> send(n), want;
  for (int i = 0; i < n; ++i) send[i] = value(me(), i);
  for (int q = 0; q < kRanks; ++q)
    for (int i = 0; i < n; ++i) want.push_back(value(q, i));
  std::vector<double> recv(me() == root ? want.size() : 0, -1.0);
  c->bind_send(send.data());
  c->gather(send.data(), n, me() == root ? recv.data() : nullptr, DType::f64, root);
  if (me() == root) EXPECT_EQ(recv, want);
  expect_tiling(calls_of(*c, "gather"), n, chunk());
}

// Uneven counts with an empty rank: each call's counts fit the chunk (per
// rank, and the staging round as a whole), and the result is the
// concatenation in rank order.
void check_varying(SimulatedRank& c, const std::vector<int>& counts, int me, bool all, int root,
                   std::int64_t chunk) {
  std::vector<double> send(std::size_t(counts[me])), want;
  for (int i = 0; i < counts[me]; ++i) send[i] = value(me, i);
  for (int q = 0; q < int(counts.size()); ++q)
    for (int i = 0; i < counts[q]; ++i) want.push_back(value(q, i));
  c.bind_send(send.data());
  std::vector<std::int64_t> got_counts;
  const auto bytes = all ? c.all_gatherv(send.data(), counts[me], DType::f64, &got_counts)
                         : c.gatherv(send.data(), counts[me], DType::f64, root, &got_counts);
  EXPECT_EQ(got_counts, std::vector<std::int64_t>(counts.begin(), counts.end()));
  if (all || me == root)
    EXPECT_EQ(as_doubles(bytes), want);
  else
    EXPECT_TRUE(bytes.empty()) << "a rank that is not the root received " << bytes.size() << " bytes";

  const auto rounds = calls_of(c, all ? "all_gatherv" : "gatherv");
  std::vector<std::int64_t> sent(counts.size(), 0);
  const std::int64_t round_limit = std::max<std::int64_t>(chunk, std::int64_t(counts.size()));
  for (const auto& r : rounds) {
    std::int64_t in_round = 0;
    for (std::size_t q = 0; q < counts.size(); ++q) {
      EXPECT_LE(r.counts[q], chunk);
      sent[q] += r.counts[q];
      in_round += r.counts[q];
    }
    EXPECT_LE(in_round, round_limit) << "a staging round overflows the chunk";
    EXPECT_GT(in_round, 0) << "an empty round";
  }
  EXPECT_EQ(sent, std::vector<std::int64_t>(counts.begin(), counts.end())) << "every element sent exactly once";
}

TEST_P(commChunking, AllGathervConcatenatesUnevenRanks) {
  const std::vector<int> counts = {5, 0, 8};
  auto c = make(counts);
  check_varying(*c, counts, me(), /*all=*/true, 0, chunk());
}

TEST_P(commChunking, GathervDeliversToTheRootOnly) {
  const std::vector<int> counts = {4, 9, 0};
  for (int root : {0, 2}) {
    auto c = make(counts);
    check_varying(*c, counts, me(), /*all=*/false, root, chunk());
  }
}

INSTANTIATE_TEST_SUITE_P(RanksAndChunks, commChunking,
                         ::testing::Combine(::testing::Values(0, 1, 2), ::testing::Values(0, 1, 2, 3, 4, 7)));

TEST(commChunkingLimits, GathervChecksItsRoot) {
  SimulatedRank c(0, world({1, 1}));
  double x = 0;
  c.bind_send(&x);
  EXPECT_THROW(c.gatherv(&x, 1, DType::f64, 2), fathom::CommError);
  EXPECT_THROW(c.gatherv(&x, -1, DType::f64, 0), fathom::CommError);
}

// set_max_chunk(0) or a negative value must neither loop forever nor send
// empty pieces: it behaves as a chunk of one element.
TEST(commChunkingLimits, NonPositiveMaxChunkStillTerminates) {
  for (std::int64_t bad : {std::int64_t(0), std::int64_t(-5)}) {
    EXPECT_TRUE(fathom::testing::finishes_within(10, [bad] {
      SimulatedRank c(1, world({4, 4, 4}));
      c.set_max_chunk(bad);
      std::vector<double> v(4);
      for (int i = 0; i < 4; ++i) v[i] = value(1, i);
      c.bind_send(v.data());
      c.all_reduce(v.data(), 4, DType::f64, ReduceOp::sum);
      const auto pieces = calls_of(c, "all_reduce");
      bool ok = pieces.size() == 4;
      for (std::size_t i = 0; ok && i < pieces.size(); ++i) ok = pieces[i].n == 1 && pieces[i].offset == int(i);
      for (int i = 0; ok && i < 4; ++i) ok = v[i] == value(0, i) + value(1, i) + value(2, i);
      return ok;
    })) << "max_chunk " << bad;
  }
}

}  // namespace
