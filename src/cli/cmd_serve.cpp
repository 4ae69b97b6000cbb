// `fathom serve`: reserved until its area of work ("saliency") lands.
#include "command.h"

namespace fathom::cli {

Registered register_serve(CLI::App& app, Context&) {
  return register_reserved(app, "serve", "saliency", "HTTP server for saliency and attacks");
}

}  // namespace fathom::cli
