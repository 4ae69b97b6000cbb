// `fathom influence`: reserved until its area of work ("influence") lands.
#include "command.h"

namespace fathom::cli {

Registered register_influence(CLI::App& app, Context&) {
  return register_reserved(app, "influence", "influence", "influence functions (LiSSA/CG/exact/Arnoldi/EK-FAC, FastIF candidate restriction)");
}

}  // namespace fathom::cli
