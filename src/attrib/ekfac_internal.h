#pragma once
// Private helpers shared by the EK-FAC sources (ekfac.cpp, ekfac_file.cpp,
// ekfac_solver.cpp).
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "fathom/attrib/ekfac.h"
#include "fathom/comm/communicator.h"

namespace fathom::attrib::ekfac_detail {

inline constexpr const char* kFormat = "fathom-ekfac-1";

// splitmix64 finaliser.
inline std::uint64_t mix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}
// A uniform draw in [0, 1) that depends only on its three counters.
inline double uniform01(std::uint64_t seed, std::uint64_t row, std::uint64_t sample) {
  const std::uint64_t x = mix64(mix64(mix64(seed) ^ row) ^ (sample * 0xD1B54A32D192ED03ull));
  return double(x >> 11) * 0x1.0p-53;
}

// COLLECTIVE. Float64 tensors summed over ranks, then rank 0's result given
// to every rank (all_reduce need not give every rank the same bits).
void reduce_and_agree(comm::Communicator& comm, const std::vector<torch::Tensor*>& tensors);
// COLLECTIVE. Rank 0's float64 tensors to every rank (shapes already agree).
void broadcast_from_root(comm::Communicator& comm, const std::vector<torch::Tensor*>& tensors);
// "pooler [6x9 +bias]; ...; diagonal: embeddings.weight" (fingerprint field).
std::string structure_text(const EkfacFactors& f, const grads::ParamLayout& layout);

}  // namespace fathom::attrib::ekfac_detail
