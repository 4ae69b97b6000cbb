// Subcommand names reserved for later releases, so the surface stays stable:
// they are listed in --help with what they will do and fail clearly (exit 1),
// naming the area of work that will build them and the README section
// ("Status") that lists them.
#include "command.h"
#include "fathom/core/error.h"

namespace fathom::cli {
namespace {

struct Reserved {
  const char* name;
  const char* area;  // the README "Status" area (and issue) that builds it
  const char* what;
};

constexpr Reserved kReserved[] = {
    {"influence", "influence", "influence functions (LiSSA/CG/exact, FastIF candidate restriction)"},
    {"self-influence", "influence", "rank training examples by self-influence / TracIn to find mislabels"},
    {"triggers", "attacks", "universal adversarial triggers (beam search, distributed)"},
    {"hotflip", "attacks", "HotFlip attack on single inputs"},
    {"reduce", "attacks", "input reduction (Feng et al. 2018)"},
    {"saliency", "saliency", "vanilla gradient, gradient x input, integrated gradients, SmoothGrad, leave-one-out"},
    {"serve", "saliency", "HTTP server for saliency and attacks"},
    {"audit", "audit", "dataset artifact audit (PMI, z*), mislabel candidates"},
};

std::string reserved_message(const Reserved& r) {
  return std::string("'fathom ") + r.name + "' is reserved but not built yet: it belongs to the '" + r.area +
         "' area of work (see README.md, section \"Status\")";
}

}  // namespace

std::vector<Registered> register_reserved(CLI::App& app, Context&) {
  std::vector<Registered> out;
  for (const auto& r : kReserved) {
    auto* sub = app.add_subcommand(r.name, std::string("[not yet available: ") + r.area + "] " + r.what);
    sub->allow_extras();
    const std::string message = reserved_message(r);
    out.push_back({sub, [message]() -> int { throw Error(message); }});
  }
  return out;
}

}  // namespace fathom::cli
