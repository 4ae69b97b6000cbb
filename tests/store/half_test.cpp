// float <-> binary16 conversion: known values, exhaustive half round trips,
// and bit-for-bit agreement with numpy on edge cases and random floats.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <random>

#include "fathom/store/half.h"
#include "python_util.h"
#include "store_fixtures.h"

namespace fathom::store {
namespace {

std::uint32_t bits(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
float from_bits(std::uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

TEST(Half, KnownValues) {
  EXPECT_EQ(float_to_half(0.0f), 0x0000);
  EXPECT_EQ(float_to_half(-0.0f), 0x8000);
  EXPECT_EQ(float_to_half(1.0f), 0x3c00);
  EXPECT_EQ(float_to_half(-2.0f), 0xc000);
  EXPECT_EQ(float_to_half(0.5f), 0x3800);
  EXPECT_EQ(float_to_half(65504.0f), 0x7bff);          // largest finite
  EXPECT_EQ(float_to_half(65519.99f), 0x7bff);         // just below the overflow tie
  EXPECT_EQ(float_to_half(65520.0f), 0x7c00);          // tie rounds to even = inf
  EXPECT_EQ(float_to_half(1e10f), 0x7c00);
  EXPECT_EQ(float_to_half(-1e10f), 0xfc00);
  EXPECT_EQ(float_to_half(std::numeric_limits<float>::infinity()), 0x7c00);
  EXPECT_EQ(float_to_half(-std::numeric_limits<float>::infinity()), 0xfc00);
  EXPECT_EQ(float_to_half(0.1f), 0x2e66);
  EXPECT_EQ(float_to_half(1.0f / 3.0f), 0x3555);
  EXPECT_EQ(float_to_half(std::ldexp(1.0f, -14)), 0x0400);  // smallest normal
  EXPECT_EQ(float_to_half(std::ldexp(1.0f, -24)), 0x0001);  // smallest subnormal
  EXPECT_EQ(float_to_half(std::ldexp(1.0f, -25)), 0x0000);  // tie -> even (0)
  EXPECT_EQ(float_to_half(std::ldexp(1.5f, -25)), 0x0001);  // above the tie
  EXPECT_EQ(float_to_half(std::ldexp(3.0f, -25)), 0x0002);  // 1.5 units: tie -> even (2)
  EXPECT_EQ(float_to_half(std::ldexp(1.0f, -26)), 0x0000);
  EXPECT_EQ(float_to_half(-std::ldexp(1.0f, -26)), 0x8000);
  EXPECT_EQ(float_to_half(1e-45f), 0x0000);  // float subnormal
  // Ties in the normal range: 1 + 2^-11 is halfway between 1 and 1 + 2^-10.
  EXPECT_EQ(float_to_half(1.0f + std::ldexp(1.0f, -11)), 0x3c00);
  EXPECT_EQ(float_to_half(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);
  // Rounding carries into the exponent: just below 2 rounds to 2.
  EXPECT_EQ(float_to_half(std::nextafter(2.0f, 0.0f)), 0x4000);
  // Largest subnormal rounding up to the smallest normal.
  EXPECT_EQ(float_to_half(std::nextafter(std::ldexp(1.0f, -14), 0.0f)), 0x0400);

  EXPECT_EQ(half_to_float(0x3c00), 1.0f);
  EXPECT_EQ(half_to_float(0x7bff), 65504.0f);
  EXPECT_EQ(half_to_float(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(half_to_float(0x03ff), std::ldexp(1023.0f, -24));
  EXPECT_EQ(bits(half_to_float(0x8000)), 0x80000000u);
  EXPECT_TRUE(std::isinf(half_to_float(0xfc00)) && half_to_float(0xfc00) < 0);
}

TEST(Half, NaNStaysNaN) {
  const float qnan = std::numeric_limits<float>::quiet_NaN();
  const std::uint16_t h = float_to_half(qnan);
  EXPECT_EQ(h & 0x7c00, 0x7c00);
  EXPECT_NE(h & 0x03ff, 0);
  EXPECT_TRUE(std::isnan(half_to_float(h)));
  // A payload only in the low float bits must not turn into infinity.
  const std::uint16_t low = float_to_half(from_bits(0x7f800001u));
  EXPECT_EQ(low, 0x7c01);
  EXPECT_EQ(float_to_half(from_bits(0xffc00000u)) & 0x8000, 0x8000);  // sign kept
}

TEST(Half, EveryHalfRoundTripsExactly) {
  for (std::uint32_t h = 0; h < 0x10000; ++h) {
    const float f = half_to_float(std::uint16_t(h));
    if (std::isnan(f)) {
      ASSERT_EQ(float_to_half(f), h) << std::hex << h;  // payload preserved both ways
      continue;
    }
    ASSERT_EQ(float_to_half(f), h) << std::hex << h;
  }
}

TEST(Half, MidpointsRoundToEven) {
  // Between consecutive finite positive halves a < b, the float midpoint
  // rounds to whichever has an even mantissa; one float ulp either side
  // rounds to the nearer one.
  for (std::uint32_t a = 0; a < 0x7bff; ++a) {
    const float fa = half_to_float(std::uint16_t(a)), fb = half_to_float(std::uint16_t(a + 1));
    const float mid = fa + (fb - fa) / 2;  // exact: halves have 11 significant bits
    const std::uint16_t even = (a & 1) ? std::uint16_t(a + 1) : std::uint16_t(a);
    ASSERT_EQ(float_to_half(mid), even) << std::hex << a;
    ASSERT_EQ(float_to_half(std::nextafter(mid, 0.0f)), a) << std::hex << a;
    ASSERT_EQ(float_to_half(std::nextafter(mid, 1e9f)), a + 1) << std::hex << a;
    ASSERT_EQ(float_to_half(-mid), even | 0x8000) << std::hex << a;
  }
}

TEST(Half, BulkMatchesScalar) {
  std::vector<float> in = {1.0f, -0.0f, 3.14159f, 1e-6f, 7e4f};
  std::vector<std::uint16_t> h(in.size());
  std::vector<float> back(in.size());
  floats_to_halves(in.data(), h.data(), in.size());
  halves_to_floats(h.data(), back.data(), in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    EXPECT_EQ(h[i], float_to_half(in[i]));
    EXPECT_EQ(bits(back[i]), bits(half_to_float(h[i])));
  }
}

TEST(Half, AgreesWithNumpy) {
  if (!testing::python_has("numpy")) GTEST_SKIP() << "/usr/bin/python3 with numpy not available";
  testing::TempDir dir("half_numpy");
  // Edge cases (every half, the midpoints and their neighbours) and random
  // bit patterns over the whole float range.
  std::vector<float> values;
  for (std::uint32_t a = 0; a < 0x7c00; ++a) {
    const float fa = half_to_float(std::uint16_t(a));
    values.push_back(fa);
    values.push_back(-fa);
    if (a < 0x7bff) {
      const float mid = fa + (half_to_float(std::uint16_t(a + 1)) - fa) / 2;
      values.push_back(mid);
      values.push_back(std::nextafter(mid, 0.0f));
      values.push_back(std::nextafter(mid, 1e9f));
    }
  }
  std::mt19937 rng(42);
  for (int i = 0; i < 1000000; ++i) values.push_back(from_bits(rng()));
  for (int i = 0; i < 200000; ++i) values.push_back(std::ldexp(float(rng() % 100000) / 1000.0f, int(rng() % 40) - 30));
  const std::string in = dir.file("in.f32"), out = dir.file("out.f16");
  std::ofstream(in, std::ios::binary).write(reinterpret_cast<const char*>(values.data()),
                                            std::streamsize(values.size() * 4));
  const auto r = testing::run_python(dir.file("conv.py"),
                                     "import sys, numpy as np\n"
                                     "a = np.fromfile(sys.argv[1], dtype='<f4')\n"
                                     "with np.errstate(all='ignore'):\n"
                                     "    a.astype('<f2').view('<u2').tofile(sys.argv[2])\n",
                                     in + " " + out);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::vector<std::uint16_t> want(values.size());
  std::ifstream(out, std::ios::binary).read(reinterpret_cast<char*>(want.data()), std::streamsize(want.size() * 2));
  std::size_t mismatches = 0;
  for (std::size_t i = 0; i < values.size(); ++i) {
    const std::uint16_t got = float_to_half(values[i]);
    if (std::isnan(values[i])) {
      // Hardware conversion (F16C) may quieten signalling NaNs; NaN-ness is what matters.
      EXPECT_TRUE((got & 0x7c00) == 0x7c00 && (got & 0x3ff) != 0);
      continue;
    }
    if (got != want[i] && ++mismatches <= 5)
      ADD_FAILURE() << "float bits 0x" << std::hex << bits(values[i]) << ": ours 0x" << got << ", numpy 0x" << want[i];
  }
  EXPECT_EQ(mismatches, 0u);
}

}  // namespace
}  // namespace fathom::store
