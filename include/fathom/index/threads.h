#pragma once
// FAISS's compute threads (OpenMP) per rank. FAISS parallelises training,
// adding and searching over OpenMP; ranks sharing a node must not each take
// every core, so commands set this once, as they set torch's threads.
namespace fathom::index {

// Sets FAISS's OpenMP threads to core::threads_per_rank(requested)
// (requested > 0 wins; 0 = this rank's share of the node) and returns it.
// Any rank; call from the main thread before building or searching.
int use_threads(int requested = 0);

}  // namespace fathom::index
