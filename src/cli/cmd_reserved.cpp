// Subcommand names reserved for later releases, so the surface stays stable:
// they are listed in --help with what they will do and fail clearly (exit 1),
// naming the area of work that will build them and the README section
// ("Status") that lists them.
#include "command.h"
#include "fathom/core/error.h"

namespace fathom::cli {

Registered register_reserved(CLI::App& app, const char* name, const char* area, const char* what) {
  auto* sub = app.add_subcommand(name, std::string("[not yet available: ") + area + "] " + what);
  sub->allow_extras();
  const std::string message = std::string("'fathom ") + name + "' is reserved but not built yet: it belongs to the '" +
                              area + "' area of work (see README.md, section \"Status\")";
  return {sub, [message]() -> int { throw Error(message); }};
}

}  // namespace fathom::cli
