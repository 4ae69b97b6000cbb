// `fathom lds`: reserved until its area of work ("influence") lands.
#include "command.h"

namespace fathom::cli {

Registered register_lds(CLI::App& app, Context&) {
  return register_reserved(app, "lds", "influence", "linear datamodeling score of an attribution score matrix (retraining on subsets)");
}

}  // namespace fathom::cli
