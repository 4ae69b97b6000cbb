#include "fathom/core/allocator.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace fathom {

void retain_freed_memory() {
#if defined(__GLIBC__)
  mallopt(M_MMAP_THRESHOLD, 32 << 20);  // glibc's maximum for the threshold on 64-bit
  mallopt(M_TRIM_THRESHOLD, 512 << 20);
#endif
}

}  // namespace fathom
