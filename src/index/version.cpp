// FAISS's version from its own header (version.h).
#include "fathom/index/version.h"

#include <faiss/Index.h>

namespace fathom::index {

std::string faiss_version() {
  return std::to_string(FAISS_VERSION_MAJOR) + "." + std::to_string(FAISS_VERSION_MINOR) + "." +
         std::to_string(FAISS_VERSION_PATCH);
}

}  // namespace fathom::index
