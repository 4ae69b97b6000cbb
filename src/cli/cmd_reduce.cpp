// `fathom reduce`: reserved until its area of work ("attacks") lands.
#include "command.h"

namespace fathom::cli {

Registered register_reduce(CLI::App& app, Context&) {
  return register_reserved(app, "reduce", "attacks", "input reduction (Feng et al. 2018)");
}

}  // namespace fathom::cli
