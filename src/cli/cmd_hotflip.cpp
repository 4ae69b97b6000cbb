// `fathom hotflip`: reserved until its area of work ("attacks") lands.
#include "command.h"

namespace fathom::cli {

Registered register_hotflip(CLI::App& app, Context&) {
  return register_reserved(app, "hotflip", "attacks", "HotFlip attack on single inputs");
}

}  // namespace fathom::cli
