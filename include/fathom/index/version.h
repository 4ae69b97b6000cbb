#pragma once
// The FAISS version the index module was built against, for `fathom
// version` and run records ("1.7.3"); FAISS headers stay inside src/index.
#include <string>

namespace fathom::index {

std::string faiss_version();

}  // namespace fathom::index
