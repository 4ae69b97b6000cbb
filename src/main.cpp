#include "fathom/cli/app.h"
#include "fathom/core/allocator.h"

int main(int argc, char** argv) {
  fathom::retain_freed_memory();
  return fathom::cli::main(argc, argv);
}
