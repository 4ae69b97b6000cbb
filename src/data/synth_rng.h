#pragma once
// The fixed PRNG behind synthetic corpora. Private to src/data/synth*.
//
// Why our own: std:: distributions (and even std::mt19937 seeding helpers)
// are allowed to differ across standard libraries, and corpora must be
// byte-identical everywhere for a given seed.
//  * splitmix64 (Steele, Lea & Flood 2014) mixes keys and seeds the state;
//  * xoshiro256** (Blackman & Vigna 2018) generates the numbers.
// Only integer arithmetic decides outcomes, except chance(p), which compares
// an exactly representable 53-bit fraction with p (IEEE, no rounding mode
// dependence).
#include <cstddef>
#include <cstdint>

namespace fathom::data::synth {

inline std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// One splitmix64 step as a pure function: a good 64-bit hash.
inline std::uint64_t mix64(std::uint64_t x) {
  return splitmix64(x);
}

enum class Split : std::uint64_t { Train = 1, Dev = 2, Test = 3, Global = 4 };
enum class Purpose : std::uint64_t { Text = 1, Flip = 2, Artifact = 3, Choice = 4 };

class Rng {
 public:
  explicit Rng(std::uint64_t key) {
    for (auto& w : s_) w = splitmix64(key);
  }
  // The stream of one example for one purpose:
  //   key = mix64(mix64(mix64(seed) ^ (split << 8 | purpose)) ^ index)
  static Rng stream(std::uint64_t seed, Split split, std::uint64_t index, Purpose purpose) {
    std::uint64_t tag = (static_cast<std::uint64_t>(split) << 8) | static_cast<std::uint64_t>(purpose);
    return Rng(mix64(mix64(mix64(seed) ^ tag) ^ index));
  }

  std::uint64_t next() {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  // Uniform in [0, n), n >= 1. Lemire's multiply-shift with rejection: exact.
  std::uint64_t below(std::uint64_t n) {
    unsigned __int128 m = static_cast<unsigned __int128>(next()) * n;
    auto low = static_cast<std::uint64_t>(m);
    if (low < n) {
      const std::uint64_t threshold = (0 - n) % n;
      while (low < threshold) {
        m = static_cast<unsigned __int128>(next()) * n;
        low = static_cast<std::uint64_t>(m);
      }
    }
    return static_cast<std::uint64_t>(m >> 64);
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)
  bool chance(double p) { return uniform() < p; }
  template <class T, std::size_t N>
  const T& pick(const T (&a)[N]) {
    return a[below(N)];
  }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::uint64_t s_[4];
};

}  // namespace fathom::data::synth
