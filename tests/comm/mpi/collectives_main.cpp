// Every collective of the "mpi" backend against locally computed results, at
// the default chunk size and with max_chunk 2 and 3 (forcing the split paths).
// Run under mpirun; rank 0 prints the gtest report, other ranks print only
// their failures, and all ranks exit non-zero if any rank failed.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "mpi_gtest.h"
#include "fathom/comm/communicator.h"
#include "fathom/core/log.h"

using namespace fathom::comm;

namespace {

Communicator* g_comm = nullptr;


// Parameter: max_chunk (0 = default INT32_MAX). EXPECT only, never ASSERT,
// between collectives: a rank returning early would deadlock the others.
class commMpi : public ::testing::TestWithParam<std::int64_t> {
 protected:
  void SetUp() override {
    c = g_comm;
    c->set_max_chunk(GetParam() > 0 ? GetParam() : 2147483647);
    r = c->rank();
    p = c->size();
  }
  Communicator* c = nullptr;
  int r = 0, p = 1;
};

// Element i on rank q: signed, rank-dependent, exact in float.
template <class T>
T value(int q, int i) {
  return T((i - 3) * (q + 1) + 2 * q);
}

template <class T>
void check_all_reduce(Communicator* c, ReduceOp op) {
  const int n = 7, p = c->size();
  std::vector<T> v(n), want(n);
  for (int i = 0; i < n; ++i) {
    v[i] = value<T>(c->rank(), i);
    want[i] = value<T>(0, i);
    for (int q = 1; q < p; ++q) {
      const T x = value<T>(q, i);
      want[i] = op == ReduceOp::sum ? T(want[i] + x) : op == ReduceOp::max ? std::max(want[i], x) : std::min(want[i], x);
    }
  }
  c->all_reduce(v, op);
  EXPECT_EQ(v, want) << dtype_name(dtype_of<T>()) << " op " << int(op);
}

TEST_P(commMpi, AllReduce) {
  for (auto op : {ReduceOp::sum, ReduceOp::max, ReduceOp::min}) {
    check_all_reduce<float>(c, op);
    check_all_reduce<double>(c, op);
    check_all_reduce<std::int64_t>(c, op);
  }
  EXPECT_EQ(c->all_reduce_value<std::int64_t>(1), p);
}

TEST_P(commMpi, BroadcastFromNonZeroRoot) {
  const int root = p - 1;
  std::vector<double> v(10, -1.0), want(10);
  for (int i = 0; i < 10; ++i) want[i] = 1.5 * i + root;
  if (r == root) v = want;
  c->broadcast(v.data(), 10, DType::f64, root);
  EXPECT_EQ(v, want);
  // Typed helper resizes the receivers.
  std::vector<std::int64_t> w;
  if (r == root) w = {4, 5, 6, 7, 8};
  c->broadcast(w, root);
  EXPECT_EQ(w, (std::vector<std::int64_t>{4, 5, 6, 7, 8}));
}

TEST_P(commMpi, AllGatherIsRankMajor) {
  const int n = 5;
  std::vector<std::int64_t> send(n), recv(std::size_t(n * p), -1), want;
  for (int i = 0; i < n; ++i) send[i] = r * 100 + i;
  for (int q = 0; q < p; ++q)
    for (int i = 0; i < n; ++i) want.push_back(q * 100 + i);
  c->all_gather(send.data(), n, recv.data(), DType::i64);
  EXPECT_EQ(recv, want);
  std::vector<std::int64_t> ranks(static_cast<std::size_t>(p));
  for (int q = 0; q < p; ++q) ranks[q] = q;
  EXPECT_EQ(c->all_gather_value<std::int64_t>(r), ranks);
}

TEST_P(commMpi, AllGathervUnevenWithEmptyRank) {
  auto count_of = [](int q) { return q == 1 ? 0 : 2 * q + 3; };  // rank 1 sends nothing
  std::vector<float> send(std::size_t(count_of(r)));
  for (int i = 0; i < count_of(r); ++i) send[i] = float(r * 1000 + i);
  std::vector<float> want;
  std::vector<std::int64_t> want_counts;
  for (int q = 0; q < p; ++q) {
    want_counts.push_back(count_of(q));
    for (int i = 0; i < count_of(q); ++i) want.push_back(float(q * 1000 + i));
  }
  std::vector<std::int64_t> counts;
  const auto bytes = c->all_gatherv(send.empty() ? nullptr : send.data(), count_of(r), DType::f32, &counts);
  EXPECT_EQ(counts, want_counts);
  std::vector<float> got(bytes.size() / sizeof(float));
  if (!bytes.empty()) std::memcpy(got.data(), bytes.data(), bytes.size());
  EXPECT_EQ(got, want);
}

// Only the root receives; the others get an empty result but every count.
TEST_P(commMpi, GathervUnevenToNonZeroRoot) {
  const int root = p - 1;
  auto count_of = [](int q) { return q == 0 ? 0 : 3 * q + 2; };  // rank 0 sends nothing
  std::vector<std::int64_t> send(std::size_t(count_of(r)));
  for (int i = 0; i < count_of(r); ++i) send[i] = r * 1000 + i;
  std::vector<std::int64_t> want, want_counts;
  for (int q = 0; q < p; ++q) {
    want_counts.push_back(count_of(q));
    for (int i = 0; i < count_of(q); ++i) want.push_back(q * 1000 + i);
  }
  std::vector<std::int64_t> counts;
  const auto bytes = c->gatherv(send.empty() ? nullptr : send.data(), count_of(r), DType::i64, root, &counts);
  EXPECT_EQ(counts, want_counts);
  if (r == root) {
    std::vector<std::int64_t> got(bytes.size() / sizeof(std::int64_t));
    if (!bytes.empty()) std::memcpy(got.data(), bytes.data(), bytes.size());
    EXPECT_EQ(got, want);
  } else {
    EXPECT_TRUE(bytes.empty()) << "rank " << r << " is not the root but received " << bytes.size() << " bytes";
  }
}

TEST_P(commMpi, GatherToNonZeroRoot) {
  const int root = 1, n = 4;
  std::vector<double> send(n), recv;
  for (int i = 0; i < n; ++i) send[i] = r + 0.25 * i;
  if (r == root) recv.assign(std::size_t(n * p), -1.0);
  c->gather(send.data(), n, r == root ? recv.data() : nullptr, DType::f64, root);
  if (r == root) {
    std::vector<double> want;
    for (int q = 0; q < p; ++q)
      for (int i = 0; i < n; ++i) want.push_back(q + 0.25 * i);
    EXPECT_EQ(recv, want);
  }
}

TEST_P(commMpi, StringBroadcast) {
  std::string s = r == 1 ? "hello from rank 1, with some length" : "stale";
  c->broadcast(s, 1);
  EXPECT_EQ(s, "hello from rank 1, with some length");
  std::string e = r == 0 ? "" : "not empty";
  c->broadcast(e);
  EXPECT_EQ(e, "");
  c->barrier();
}

INSTANTIATE_TEST_SUITE_P(Chunk, commMpi, ::testing::Values(0, 2, 3));

}  // namespace

int main(int argc, char** argv) {
  auto comm = fathom::testing::start_mpi_gtest(&argc, argv);
  if (comm->size() < 2) {
    std::fprintf(stderr, "run under mpirun with at least 2 ranks\n");
    return 1;
  }
  g_comm = comm.get();
  comm->set_max_chunk(2147483647);
  return fathom::testing::any_rank_failed(*comm) ? 1 : 0;
}
