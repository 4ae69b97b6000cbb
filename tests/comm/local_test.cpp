// The local backend's own copies (gathers, string broadcast) at several chunk
// sizes. Reductions and broadcasts are no-ops on one rank, so the chunking
// arithmetic itself is tested through a simulated world in chunking_test.cpp,
// and the real transport in mpi/collectives_main.cpp.
#include <gtest/gtest.h>

#include <cstring>
#include <numeric>
#include <string>
#include <vector>

#include "fathom/comm/communicator.h"
#include "fathom/core/error.h"

using namespace fathom::comm;

namespace {
std::unique_ptr<Communicator> local(std::int64_t chunk = 0) {
  auto c = make_communicator("local");
  if (chunk > 0) c->set_max_chunk(chunk);
  return c;
}
std::vector<double> iota_vec(int n) {
  std::vector<double> v(static_cast<std::size_t>(n));
  std::iota(v.begin(), v.end(), 1.0);
  return v;
}
}  // namespace

TEST(commLocal, Identity) {
  auto c = local();
  EXPECT_EQ(c->rank(), 0);
  EXPECT_EQ(c->size(), 1);
  EXPECT_TRUE(c->is_root());
  EXPECT_EQ(c->backend(), "local");
  EXPECT_EQ(c->max_chunk(), 2147483647);
  c->barrier();
}

class commLocalChunks : public ::testing::TestWithParam<std::int64_t> {};

TEST_P(commLocalChunks, AllGatherAndGatherCopy) {
  auto c = local(GetParam());
  const auto send = iota_vec(10);
  std::vector<double> recv(10, -1.0);
  c->all_gather(send.data(), 10, recv.data(), DType::f64);
  EXPECT_EQ(recv, send);
  std::vector<double> g(10, -1.0);
  c->gather(send.data(), 10, g.data(), DType::f64, 0);
  EXPECT_EQ(g, send);
  EXPECT_EQ(c->all_gather_value<std::int64_t>(5), std::vector<std::int64_t>{5});
}

TEST_P(commLocalChunks, AllGathervConcatenatesAndReportsCounts) {
  auto c = local(GetParam());
  const auto send = iota_vec(11);
  std::vector<std::int64_t> counts;
  auto bytes = c->all_gatherv(send.data(), 11, DType::f64, &counts);
  ASSERT_EQ(bytes.size(), 11 * sizeof(double));
  std::vector<double> got(11);
  std::memcpy(got.data(), bytes.data(), bytes.size());
  EXPECT_EQ(got, send);
  EXPECT_EQ(counts, std::vector<std::int64_t>{11});
  EXPECT_TRUE(c->all_gatherv(nullptr, 0, DType::u8, &counts).empty());
  EXPECT_EQ(counts, std::vector<std::int64_t>{0});
  auto to_root = c->gatherv(send.data(), 11, DType::f64, 0, &counts);
  ASSERT_EQ(to_root, bytes);
  EXPECT_EQ(counts, std::vector<std::int64_t>{11});
}

TEST_P(commLocalChunks, StringBroadcast) {
  auto c = local(GetParam());
  std::string s = "hello, ranks";
  c->broadcast(s);
  EXPECT_EQ(s, "hello, ranks");
  std::string empty;
  c->broadcast(empty);
  EXPECT_EQ(empty, "");
}

// 0 = default (one piece); 1, 2, 3 split 10/11 elements unevenly.
INSTANTIATE_TEST_SUITE_P(Chunk, commLocalChunks, ::testing::Values(0, 1, 2, 3));

TEST(commLocal, BadArgumentsThrowCommError) {
  auto c = local();
  double x = 0;
  EXPECT_THROW(c->all_reduce(&x, -1, DType::f64, ReduceOp::sum), fathom::CommError);
  EXPECT_THROW(c->broadcast(&x, 1, DType::f64, 1), fathom::CommError);
  try {
    c->gather(&x, 1, &x, DType::f64, -1);
    FAIL() << "no throw";
  } catch (const fathom::CommError& e) {
    EXPECT_EQ(e.op(), "gather");
    EXPECT_EQ(e.rank(), 0);
  }
}
