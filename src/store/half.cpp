#include "fathom/store/half.h"

#include <cstring>

namespace fathom::store {
namespace {

std::uint32_t bits_of(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

float float_of(std::uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// Shifts `value` right by `shift` bits, rounding to nearest, ties to even.
std::uint32_t shift_round_even(std::uint32_t value, unsigned shift) {
  const std::uint32_t kept = value >> shift;
  const std::uint32_t rest = value & ((1u << shift) - 1u);
  const std::uint32_t half = 1u << (shift - 1);
  return kept + ((rest > half || (rest == half && (kept & 1u))) ? 1u : 0u);
}

constexpr std::uint32_t kFloatInf = 0x7f800000u;
constexpr std::uint32_t kHalfInf = 0x7c00u;
// 65520 = largest half (65504) + half an ulp: ties go to the even "next"
// value, which is infinity, so everything from here up overflows.
constexpr std::uint32_t kHalfOverflow = 0x477ff000u;
// 2^-14, the smallest normal half.
constexpr std::uint32_t kHalfMinNormal = 0x38800000u;
// (127 - 15) << 23: moves a float exponent to the half bias.
constexpr std::uint32_t kRebias = 0x38000000u;

}  // namespace

std::uint16_t float_to_half(float value) {
  const std::uint32_t x = bits_of(value);
  const std::uint32_t sign = (x >> 16) & 0x8000u;
  const std::uint32_t ax = x & 0x7fffffffu;
  if (ax > kFloatInf) {
    std::uint32_t payload = (ax >> 13) & 0x3ffu;
    if (payload == 0) payload = 1;  // keep it a NaN
    return std::uint16_t(sign | kHalfInf | payload);
  }
  if (ax >= kHalfOverflow) return std::uint16_t(sign | kHalfInf);
  if (ax >= kHalfMinNormal) {
    // Dropping 13 mantissa bits; a carry out of the mantissa correctly bumps
    // the exponent (and cannot reach infinity, see kHalfOverflow).
    return std::uint16_t(sign | shift_round_even(ax - kRebias, 13));
  }
  // Subnormal half: value / 2^-24 rounded. With the implicit bit, the float is
  // mant * 2^(e - 150), so the half count is mant >> (126 - e).
  const std::uint32_t e = ax >> 23;
  const unsigned shift = 126u - e;
  if (shift > 24) return std::uint16_t(sign);  // below 2^-25 (float subnormals included)
  const std::uint32_t mant = (ax & 0x7fffffu) | 0x800000u;
  // A round-up to 0x400 is the smallest normal half, encoded correctly.
  return std::uint16_t(sign | shift_round_even(mant, shift));
}

float half_to_float(std::uint16_t bits) {
  const std::uint32_t sign = std::uint32_t(bits & 0x8000u) << 16;
  const std::uint32_t e = (bits >> 10) & 0x1fu;
  const std::uint32_t m = bits & 0x3ffu;
  if (e == 0x1f) return float_of(sign | kFloatInf | (m << 13));
  if (e == 0) {
    // m * 2^-24, exact in float (m < 2^10, power-of-two scale).
    const float magnitude = float(m) * 5.9604644775390625e-8f;
    return sign ? -magnitude : magnitude;
  }
  return float_of(sign | ((e + 112u) << 23) | (m << 13));
}

void floats_to_halves(const float* in, std::uint16_t* out, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) out[i] = float_to_half(in[i]);
}

void halves_to_floats(const std::uint16_t* in, float* out, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) out[i] = half_to_float(in[i]);
}

}  // namespace fathom::store
