#pragma once
// The inverse-HVP solver flags shared by `influence` and `self-influence`.
#include <CLI/CLI.hpp>

#include "fathom/attrib/inverse_hvp.h"

namespace fathom::cli {

// Binds --solver, --damping, --seed and each solver's settings to `o`
// (which must outlive parsing); defaults are SolverOptions' own.
void add_solver_flags(CLI::App& sub, attrib::SolverOptions& o);

}  // namespace fathom::cli
