// Non-virtual parts of the Communicator interface: dtype helpers, string
// broadcast, the collective timeout setting.
#include "fathom/comm/communicator.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "fathom/core/error.h"

namespace fathom::comm {

std::size_t dtype_size(DType t) {
  switch (t) {
    case DType::f32: return 4;
    case DType::f64: return 8;
    case DType::i64: return 8;
    case DType::u8: return 1;
  }
  throw Error("invalid DType value " + std::to_string(int(t)));
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "f32";
    case DType::f64: return "f64";
    case DType::i64: return "i64";
    case DType::u8: return "u8";
  }
  throw Error("invalid DType value " + std::to_string(int(t)));
}

void Communicator::broadcast(std::string& s, int root) {
  std::int64_t n = std::int64_t(s.size());
  broadcast(&n, 1, DType::i64, root);
  s.resize(std::size_t(n));
  broadcast(s.data(), n, DType::u8, root);
}

double collective_timeout() {
  const char* env = std::getenv("FATHOM_COLLECTIVE_TIMEOUT");
  if (!env || !*env) return 600.0;
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(env, &end);
  // A typo here would silently disable deadlock protection, so reject it.
  if (errno != 0 || end == env || *end != '\0' || !std::isfinite(v) || v < 0)
    throw UsageError(std::string("FATHOM_COLLECTIVE_TIMEOUT must be a number of seconds >= 0 (0 = off), got '") +
                     env + "'");
  return v;
}

}  // namespace fathom::comm
