// Collective error propagation (collective_check.h).
#include "fathom/comm/collective_check.h"

#include <exception>

#include "fathom/comm/communicator.h"
#include "fathom/core/error.h"

namespace fathom::comm {
namespace {

// Message and kind of an in-flight exception, for sending to other ranks.
std::pair<std::string, ErrorKind> summarise(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const Error& e) {
    return {describe(e), e.kind()};
  } catch (const std::exception& e) {
    return {describe(e), ErrorKind::Internal};
  } catch (...) {
    return {"unknown exception", ErrorKind::Internal};
  }
}

}  // namespace

void collective_check(Communicator& comm, const std::string& what, const std::function<void()>& fn) {
  std::exception_ptr error;
  try {
    fn();
  } catch (...) {
    error = std::current_exception();
  }
  // Lowest failing rank (size() when none): every rank learns who failed.
  const std::int64_t me = error ? comm.rank() : comm.size();
  const std::int64_t first = comm.all_reduce_value<std::int64_t>(me, ReduceOp::min);
  if (first == comm.size()) return;
  // That rank tells the others what went wrong, so every rank exits with
  // the same code (2 for input/usage errors) and an actionable message.
  std::string message;
  std::int64_t kind = 0;
  if (comm.rank() == first) {
    auto [m, k] = summarise(error);
    message = std::move(m);
    kind = static_cast<std::int64_t>(k);
  }
  if (comm.size() > 1) {
    comm.broadcast(message, int(first));
    comm.broadcast(&kind, 1, DType::i64, int(first));
  }
  if (error) std::rethrow_exception(error);
  throw Error(what + " failed on rank " + std::to_string(first) + ": " + message, static_cast<ErrorKind>(kind));
}

void on_root(Communicator& comm, const std::string& what, const std::function<void()>& fn) {
  collective_check(comm, what, [&] {
    if (comm.is_root()) fn();
  });
}

}  // namespace fathom::comm
