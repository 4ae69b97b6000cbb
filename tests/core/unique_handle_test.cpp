// UniqueHandle: every owned value is closed exactly once, null values never.
#include "fathom/core/unique_handle.h"

#include <gtest/gtest.h>

#include <type_traits>
#include <utility>
#include <vector>

namespace {

// Records each value it closes, in order, in a log the test owns.
struct RecordingDeleter {
  std::vector<int>* closed = nullptr;
  void operator()(int v) const noexcept { closed->push_back(v); }
};

// Like hid_t: 0 is a valid handle, -1 is "none".
using IntHandle = fathom::UniqueHandle<int, RecordingDeleter, fathom::NullValue<-1>>;
// Default null policy: a pointer handle, null = nullptr.
struct PointerDeleter {
  int* count = nullptr;
  void operator()(const char*) const noexcept { ++*count; }
};
using PointerHandle = fathom::UniqueHandle<const char*, PointerDeleter>;

static_assert(!std::is_copy_constructible_v<IntHandle>, "move-only");
static_assert(!std::is_copy_assignable_v<IntHandle>, "move-only");
static_assert(std::is_nothrow_move_constructible_v<IntHandle>, "movable without throwing");
static_assert(std::is_nothrow_move_assignable_v<IntHandle>, "movable without throwing");
static_assert(!std::is_convertible_v<IntHandle, bool>, "operator bool is explicit");

TEST(UniqueHandle, DestructorClosesOnceAndZeroIsAValidHandle) {
  std::vector<int> closed;
  { IntHandle h(0, RecordingDeleter{&closed}); EXPECT_TRUE(h); EXPECT_EQ(h.get(), 0); }
  EXPECT_EQ(closed, std::vector<int>({0}));
}

TEST(UniqueHandle, DefaultAndNullAreEmptyAndNeverClosed) {
  std::vector<int> closed;
  {
    IntHandle none;
    EXPECT_FALSE(none);
    EXPECT_EQ(none.get(), -1);
    IntHandle null_value(-1, RecordingDeleter{&closed});
    EXPECT_FALSE(null_value);
  }
  EXPECT_TRUE(closed.empty());
}

TEST(UniqueHandle, MoveTransfersOwnershipWithTheDeleter) {
  std::vector<int> closed;
  IntHandle a(7, RecordingDeleter{&closed});
  IntHandle b(std::move(a));
  EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move): the moved-from state is the contract
  EXPECT_EQ(b.get(), 7);
  EXPECT_EQ(b.get_deleter().closed, &closed);
  EXPECT_TRUE(closed.empty());

  std::vector<int> other_log;
  IntHandle c(8, RecordingDeleter{&other_log});
  c = std::move(b);  // closes 8 with c's old deleter, then owns 7 with b's
  EXPECT_EQ(other_log, std::vector<int>({8}));
  EXPECT_EQ(c.get(), 7);
  c.reset();
  EXPECT_EQ(closed, std::vector<int>({7}));
  EXPECT_EQ(other_log, std::vector<int>({8}));
}

TEST(UniqueHandle, SelfMoveKeepsTheValue) {
  std::vector<int> closed;
  IntHandle h(3, RecordingDeleter{&closed});
  IntHandle& alias = h;
  h = std::move(alias);
  EXPECT_EQ(h.get(), 3);
  EXPECT_TRUE(closed.empty());
}

TEST(UniqueHandle, ReleaseGivesUpOwnership) {
  std::vector<int> closed;
  int released = -1;
  {
    IntHandle h(5, RecordingDeleter{&closed});
    released = h.release();
    EXPECT_FALSE(h);
  }
  EXPECT_EQ(released, 5);
  EXPECT_TRUE(closed.empty());
}

TEST(UniqueHandle, ResetClosesTheOldValueThenOwnsTheNew) {
  std::vector<int> closed;
  {
    IntHandle h(1, RecordingDeleter{&closed});
    h.reset(2);
    EXPECT_EQ(closed, std::vector<int>({1}));
    EXPECT_EQ(h.get(), 2);
    h.reset();
    EXPECT_EQ(closed, std::vector<int>({1, 2}));
    EXPECT_FALSE(h);
    h.reset();  // already empty: nothing more to close
  }
  EXPECT_EQ(closed, std::vector<int>({1, 2}));
}

TEST(UniqueHandle, PointerHandlesDefaultToNullptr) {
  int count = 0;
  static const char text[] = "stream";
  {
    PointerHandle empty(nullptr, PointerDeleter{&count});
    EXPECT_FALSE(empty);
    PointerHandle owned(text, PointerDeleter{&count});
    EXPECT_TRUE(owned);
    EXPECT_EQ(owned.get(), text);
    PointerHandle moved = std::move(owned);
  }
  EXPECT_EQ(count, 1);
}

}  // namespace
