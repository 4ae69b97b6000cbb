#pragma once
// Process-wide malloc tuning for tensor-heavy loops.

namespace fathom {

// Keeps freed blocks of up to 32 MiB in the heap instead of returning them to
// the OS. Per-batch tensors of a few MiB would otherwise be mmap'd and
// unmapped (or trimmed off the heap top) every batch, and each batch would
// pay page faults to touch fresh pages again. Call once, early in main.
// A no-op where the C library has no mallopt.
void retain_freed_memory();

}  // namespace fathom
