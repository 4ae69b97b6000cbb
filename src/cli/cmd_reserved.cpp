// Subcommand names reserved for later releases, so the surface stays stable:
// they are listed in --help with what they will do and fail clearly (exit 1).
#include "command.h"
#include "fathom/core/error.h"

namespace fathom::cli {

std::vector<Registered> register_reserved(CLI::App& app, Context&) {
  static const std::pair<const char*, const char*> kReserved[] = {
      {"index", "build a FAISS index over cached features or gradients"},
      {"knn", "nearest training examples of test examples (kNN interpretation)"},
      {"representer", "representer point values (Yeh et al. 2018)"},
      {"influence", "influence functions (LiSSA/CG/exact, FastIF candidate restriction)"},
      {"self-influence", "rank training examples by self-influence / TracIn to find mislabels"},
      {"triggers", "universal adversarial triggers (beam search, distributed)"},
      {"hotflip", "HotFlip attack on single inputs"},
      {"reduce", "input reduction (Feng et al. 2018)"},
      {"saliency", "vanilla gradient, gradient x input, integrated gradients, SmoothGrad, leave-one-out"},
      {"serve", "HTTP server for saliency and attacks"},
      {"audit", "dataset artifact audit (PMI, z*), mislabel candidates"},
  };
  std::vector<Registered> out;
  for (auto& [name, what] : kReserved) {
    auto* sub = app.add_subcommand(name, std::string("[not yet available] ") + what);
    sub->allow_extras();
    std::string n = name;
    out.push_back({sub, [n]() -> int {
                     throw Error("'fathom " + n + "' is reserved but not implemented in this version (" +
                                 std::string("see README, Roadmap") + ")");
                   }});
  }
  return out;
}

}  // namespace fathom::cli
