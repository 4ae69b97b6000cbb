// The one order of top-k lists (top_k.h) against an independent sort: nearer
// first (ascending l2, descending ip), equal distances by row, missing
// entries (row -1) last; and merge_top_k of a split list equals the sorted
// whole list cut at k.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <tuple>
#include <vector>

#include "fathom/core/error.h"
#include "fathom/index/top_k.h"

namespace fathom::index {
namespace {

using Entry = std::pair<float, std::int64_t>;

// The reference order as a sort key: (missing, signed distance, row).
std::vector<Entry> reference_sorted(std::vector<Entry> entries, Metric metric) {
  const bool larger = metric != Metric::l2;
  std::sort(entries.begin(), entries.end(), [larger](const Entry& a, const Entry& b) {
    const auto key = [larger](const Entry& e) {
      return std::make_tuple(e.second < 0 ? 1 : 0, e.second < 0 ? 0.0f : (larger ? -e.first : e.first), e.second);
    };
    return key(a) < key(b);
  });
  return entries;
}

// Distances from a small set so ties are common; some entries missing.
std::vector<Entry> random_entries(std::int64_t n, std::mt19937_64& gen, bool with_missing, std::int64_t row_base = 0) {
  std::uniform_int_distribution<int> value(-3, 3), missing(0, 5);
  std::vector<std::int64_t> rows(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) rows[std::size_t(i)] = row_base + i;
  std::shuffle(rows.begin(), rows.end(), gen);
  std::vector<Entry> out;
  for (std::int64_t i = 0; i < n; ++i) {
    if (with_missing && missing(gen) == 0)
      out.emplace_back(float(value(gen)), -1);  // a missing entry with a (meaningless) finite distance
    else
      out.emplace_back(float(value(gen)) * 0.5f, rows[std::size_t(i)]);
  }
  return out;
}

Neighbors lists_of(const std::vector<std::vector<Entry>>& per_query, std::int64_t k) {
  Neighbors n;
  n.queries = std::int64_t(per_query.size());
  n.k = k;
  for (const auto& list : per_query)
    for (std::int64_t j = 0; j < k; ++j) {
      n.distances.push_back(list[std::size_t(j)].first);
      n.rows.push_back(list[std::size_t(j)].second);
    }
  return n;
}

class TopKOrder : public ::testing::TestWithParam<Metric> {};

TEST_P(TopKOrder, SortListsMatchesIndependentSort) {
  const Metric metric = GetParam();
  std::mt19937_64 gen(7);
  const std::int64_t queries = 20, k = 30;
  std::vector<std::vector<Entry>> lists;
  for (std::int64_t q = 0; q < queries; ++q) lists.push_back(random_entries(k, gen, true));
  Neighbors got = lists_of(lists, k);
  sort_lists(got, metric);
  for (std::int64_t q = 0; q < queries; ++q) {
    const std::vector<Entry> want = reference_sorted(lists[std::size_t(q)], metric);
    for (std::int64_t j = 0; j < k; ++j) {
      const std::size_t at = std::size_t(q * k + j);
      EXPECT_EQ(got.rows[at], want[std::size_t(j)].second) << "query " << q << " position " << j;
      if (want[std::size_t(j)].second >= 0) EXPECT_EQ(got.distances[at], want[std::size_t(j)].first);
    }
  }
}

TEST_P(TopKOrder, MergeOfSplitListsEqualsSortedWholeCutAtK) {
  const Metric metric = GetParam();
  std::mt19937_64 gen(11);
  const std::int64_t queries = 15, n = 40, k = 12;
  std::vector<Neighbors> parts(3);
  std::vector<std::vector<Entry>> whole(static_cast<std::size_t>(queries));
  // Three parts of different lengths (one shorter than k), rows disjoint.
  const std::int64_t lengths[] = {5, 20, 15};
  std::vector<std::vector<std::vector<Entry>>> per_part(3);
  for (std::int64_t q = 0; q < queries; ++q) {
    const std::vector<Entry> entries = random_entries(n, gen, true);
    std::int64_t at = 0;
    for (int p = 0; p < 3; ++p) {
      std::vector<Entry> slice(entries.begin() + at, entries.begin() + at + lengths[p]);
      at += lengths[p];
      per_part[std::size_t(p)].push_back(slice);
      for (const Entry& e : slice)
        if (e.second >= 0) whole[std::size_t(q)].push_back(e);
    }
  }
  for (int p = 0; p < 3; ++p) parts[std::size_t(p)] = lists_of(per_part[std::size_t(p)], lengths[p]);
  const Neighbors got = merge_top_k(parts, k, metric);
  ASSERT_EQ(got.queries, queries);
  ASSERT_EQ(got.k, k);
  for (std::int64_t q = 0; q < queries; ++q) {
    const std::vector<Entry> want = reference_sorted(whole[std::size_t(q)], metric);
    for (std::int64_t j = 0; j < k; ++j) {
      const std::size_t at = std::size_t(q * k + j);
      ASSERT_LT(std::size_t(j), want.size());
      EXPECT_EQ(got.rows[at], want[std::size_t(j)].second) << "query " << q << " position " << j;
      EXPECT_EQ(got.distances[at], want[std::size_t(j)].first) << "query " << q << " position " << j;
    }
  }
}

TEST_P(TopKOrder, MissingEntriesFillPastTheCandidates) {
  const Metric metric = GetParam();
  const std::vector<std::vector<Entry>> one = {{{2.0f, 4}, {1.0f, 9}}};
  const Neighbors got = merge_top_k({lists_of(one, 2)}, 4, metric);
  const float worst = metric == Metric::l2 ? std::numeric_limits<float>::infinity()
                                           : -std::numeric_limits<float>::infinity();
  if (metric == Metric::l2) {
    EXPECT_EQ(got.rows, (std::vector<std::int64_t>{9, 4, -1, -1}));
  } else {
    EXPECT_EQ(got.rows, (std::vector<std::int64_t>{4, 9, -1, -1}));
  }
  EXPECT_EQ(got.distances[2], worst);
  EXPECT_EQ(got.distances[3], worst);
  const Neighbors empty(3, 5, metric);
  EXPECT_EQ(empty.rows, std::vector<std::int64_t>(15, -1));
  EXPECT_EQ(empty.distances, std::vector<float>(15, worst));
}

INSTANTIATE_TEST_SUITE_P(Metrics, TopKOrder, ::testing::Values(Metric::l2, Metric::ip, Metric::cosine),
                         [](const auto& info) { return std::string(metric_name(info.param)); });

TEST(TopK, EqualDistancesGoByRowInBothDirections) {
  const std::vector<std::vector<Entry>> ties = {{{1.0f, 8}, {1.0f, 3}, {0.5f, 5}, {1.0f, 1}}};
  Neighbors l2 = lists_of(ties, 4), ip = lists_of(ties, 4);
  sort_lists(l2, Metric::l2);
  sort_lists(ip, Metric::ip);
  EXPECT_EQ(l2.rows, (std::vector<std::int64_t>{5, 1, 3, 8}));
  EXPECT_EQ(ip.rows, (std::vector<std::int64_t>{1, 3, 8, 5}));
}

TEST(TopK, MergeRejectsMismatchedQueriesAndBadK) {
  Neighbors a(2, 3, Metric::l2), b(3, 3, Metric::l2);
  EXPECT_THROW(merge_top_k({a, b}, 3, Metric::l2), UsageError);
  EXPECT_THROW(merge_top_k({a}, 0, Metric::l2), UsageError);
}

}  // namespace
}  // namespace fathom::index

// Recall@k by hand: query 0 finds 2 of its 3 reference rows, query 1 all of
// its 2 (a missing reference entry does not count): 4 / 5.
TEST(TopK, RecallAtKCountsReferenceRowsFound) {
  fathom::index::Neighbors reference(2, 3, fathom::index::Metric::l2), got(2, 2, fathom::index::Metric::l2);
  reference.rows = {4, 7, 9, 1, 2, -1};
  got.rows = {9, 4, 2, 1};
  EXPECT_DOUBLE_EQ(fathom::index::recall_at_k(got, reference), 4.0 / 5.0);
  got.rows = {5, 6, 8, 3};
  EXPECT_DOUBLE_EQ(fathom::index::recall_at_k(got, reference), 0.0);
  EXPECT_DOUBLE_EQ(fathom::index::recall_at_k(fathom::index::Neighbors(2, 1, fathom::index::Metric::l2),
                                              fathom::index::Neighbors(2, 1, fathom::index::Metric::l2)),
                   1.0);
  EXPECT_THROW(fathom::index::recall_at_k(got, fathom::index::Neighbors(3, 1, fathom::index::Metric::l2)),
               fathom::UsageError);
}
