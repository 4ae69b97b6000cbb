// `fathom saliency`: reserved until its area of work ("saliency") lands.
#include "command.h"

namespace fathom::cli {

Registered register_saliency(CLI::App& app, Context&) {
  return register_reserved(app, "saliency", "saliency", "vanilla gradient, gradient x input, integrated gradients, SmoothGrad, leave-one-out");
}

}  // namespace fathom::cli
