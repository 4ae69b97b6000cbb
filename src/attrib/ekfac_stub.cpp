// TEMPORARY (lead): stands in for the EK-FAC solver until src/attrib/ekfac*.cpp
// defines make_ekfac_inverse_hvp. Whoever adds that definition deletes this file
// (git rm src/attrib/ekfac_stub.cpp) in the same commit.
#include "fathom/attrib/inverse_hvp.h"
#include "fathom/core/error.h"

namespace fathom::attrib {

std::unique_ptr<InverseHvp> make_ekfac_inverse_hvp(const SolverOptions&, TrainingHessian&) {
  throw Error("--solver ekfac is not built yet");
}

}  // namespace fathom::attrib
