#pragma once
// IEEE 754 binary16 ("half", numpy float16) <-> binary32 conversion, in
// software so results do not depend on the CPU (F16C) or compiler flags.
//
//  * float -> half rounds to nearest, ties to even; |x| >= 65520 becomes
//    +-inf; values below the smallest subnormal (2^-24) round to +-0 or
//    2^-24; NaN stays NaN with the sign and the top 10 payload bits kept
//    (a payload that would vanish becomes 1), as numpy does.
//  * half -> float is exact (every half is a float), NaN payloads kept.
// Pure functions, any thread.
#include <cstddef>
#include <cstdint>

namespace fathom::store {

std::uint16_t float_to_half(float value);
float half_to_float(std::uint16_t bits);

// n elements; in and out must not overlap.
void floats_to_halves(const float* in, std::uint16_t* out, std::size_t n);
void halves_to_floats(const std::uint16_t* in, float* out, std::size_t n);

}  // namespace fathom::store
