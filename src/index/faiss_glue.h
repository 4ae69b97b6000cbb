#pragma once
// Private to the index module: the one place that turns FAISS's exceptions
// into fathom's error kinds, and the text that says which specs fathom takes.
// FAISS headers stay inside src/index.
#include <faiss/impl/FaissException.h>

#include <string>
#include <utility>

#include "fathom/core/error.h"

namespace fathom::index::detail {

// The factory forms fathom documents (any index_factory string is tried).
inline constexpr const char* kAcceptedSpecs =
    "accepted specs: any FAISS index_factory string, e.g. Flat, IVF<nlist>,Flat, IVF<nlist>,PQ<m>, "
    "IVF<nlist>,SQ8, HNSW<M>, HNSW<M>,Flat, PQ<m>, OPQ<m>,IVF<nlist>,PQ<m>";

// FAISS's message without its "Error in <function> at <file>:<line>: " prefix.
inline std::string faiss_message(const faiss::FaissException& e) {
  std::string m = e.what();
  const std::string marker = ": ";
  if (m.rfind("Error in ", 0) == 0) {
    // "Error in f(args) at file.cpp:123: message": cut after the line number.
    const auto at = m.find(" at ");
    if (at != std::string::npos) {
      const auto colon = m.find(':', at);  // file:line
      if (colon != std::string::npos) {
        const auto end = m.find(marker, colon + 1);
        if (end != std::string::npos) return m.substr(end + marker.size());
      }
    }
  }
  return m;
}

// Runs fn(); a FaissException becomes UsageError("<what>: FAISS: <message>").
template <class F>
decltype(auto) usage_on_faiss_error(const std::string& what, F&& fn) {
  try {
    return std::forward<F>(fn)();
  } catch (const faiss::FaissException& e) {
    throw UsageError(what + ": FAISS: " + faiss_message(e));
  }
}

// Runs fn(); a FaissException becomes InputError(file, "<what>: FAISS: <message>").
template <class F>
decltype(auto) input_on_faiss_error(const std::string& file, const std::string& what, F&& fn) {
  try {
    return std::forward<F>(fn)();
  } catch (const faiss::FaissException& e) {
    throw InputError(file, what + ": FAISS: " + faiss_message(e));
  }
}

}  // namespace fathom::index::detail
