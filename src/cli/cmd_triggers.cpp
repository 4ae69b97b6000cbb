// `fathom triggers`: reserved until its area of work ("attacks") lands.
#include "command.h"

namespace fathom::cli {

Registered register_triggers(CLI::App& app, Context&) {
  return register_reserved(app, "triggers", "attacks", "universal adversarial triggers (beam search, distributed)");
}

}  // namespace fathom::cli
