// FAISS's OpenMP thread count per rank (threads.h).
#include "fathom/index/threads.h"

#include <omp.h>

#include "fathom/core/threads.h"

namespace fathom::index {

int use_threads(int requested) {
  const int threads = threads_per_rank(requested);
  omp_set_num_threads(threads);
  return threads;
}

}  // namespace fathom::index
