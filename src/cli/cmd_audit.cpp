// `fathom audit`: reserved until its area of work ("audit") lands.
#include "command.h"

namespace fathom::cli {

Registered register_audit(CLI::App& app, Context&) {
  return register_reserved(app, "audit", "audit", "dataset artifact audit (PMI, z*), mislabel candidates");
}

}  // namespace fathom::cli
