#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "fathom/comm/communicator.h"
#include "fathom/core/error.h"

using namespace fathom::comm;

TEST(commDtype, SizesAndNames) {
  EXPECT_EQ(dtype_size(DType::f32), 4u);
  EXPECT_EQ(dtype_size(DType::f64), 8u);
  EXPECT_EQ(dtype_size(DType::i64), 8u);
  EXPECT_EQ(dtype_size(DType::u8), 1u);
  EXPECT_STREQ(dtype_name(DType::f32), "f32");
  EXPECT_STREQ(dtype_name(DType::f64), "f64");
  EXPECT_STREQ(dtype_name(DType::i64), "i64");
  EXPECT_STREQ(dtype_name(DType::u8), "u8");
  EXPECT_THROW(dtype_size(DType(42)), fathom::Error);
}

TEST(commDtype, DtypeOfMatchesSize) {
  EXPECT_EQ(dtype_size(dtype_of<float>()), sizeof(float));
  EXPECT_EQ(dtype_size(dtype_of<double>()), sizeof(double));
  EXPECT_EQ(dtype_size(dtype_of<std::int64_t>()), sizeof(std::int64_t));
  EXPECT_EQ(dtype_of<char>(), DType::u8);
}

TEST(commTimeout, ParsesEnvAndRejectsGarbage) {
  ::unsetenv("FATHOM_COLLECTIVE_TIMEOUT");
  EXPECT_DOUBLE_EQ(collective_timeout(), 600.0);
  ::setenv("FATHOM_COLLECTIVE_TIMEOUT", "0", 1);
  EXPECT_DOUBLE_EQ(collective_timeout(), 0.0);
  ::setenv("FATHOM_COLLECTIVE_TIMEOUT", "2.5", 1);
  EXPECT_DOUBLE_EQ(collective_timeout(), 2.5);
  for (const char* bad : {"ten", "-1", "5s", "nan"}) {
    ::setenv("FATHOM_COLLECTIVE_TIMEOUT", bad, 1);
    EXPECT_THROW(collective_timeout(), fathom::UsageError) << bad;
  }
  ::unsetenv("FATHOM_COLLECTIVE_TIMEOUT");
}
