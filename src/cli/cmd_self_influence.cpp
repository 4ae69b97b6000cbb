// `fathom self-influence`: reserved until its area of work ("influence") lands.
#include "command.h"

namespace fathom::cli {

Registered register_self_influence(CLI::App& app, Context&) {
  return register_reserved(app, "self-influence", "influence", "rank training examples by self-influence / TracIn to find mislabels");
}

}  // namespace fathom::cli
