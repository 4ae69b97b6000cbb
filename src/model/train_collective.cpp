// Collectives with error propagation, and tensor broadcast.
#include <exception>

#include "fathom/core/error.h"
#include "train_internal.h"

namespace fathom::model {
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

void collective_check(comm::Communicator& comm, const std::string& what, const std::function<void()>& fn) {
  std::exception_ptr error;
  try {
    fn();
  } catch (...) {
    error = std::current_exception();
  }
  // Lowest failing rank (size() when none): every rank learns who failed.
  const std::int64_t me = error ? comm.rank() : comm.size();
  const std::int64_t first = comm.all_reduce_value<std::int64_t>(me, comm::ReduceOp::min);
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
    comm.broadcast(&kind, 1, comm::DType::i64, int(first));
  }
  if (error) std::rethrow_exception(error);
  throw Error(what + " failed on rank " + std::to_string(first) + ": " + message, static_cast<ErrorKind>(kind));
}

void on_root(comm::Communicator& comm, const std::string& what, const std::function<void()>& fn) {
  collective_check(comm, what, [&] {
    if (comm.is_root()) fn();
  });
}

comm::DType comm_dtype(torch::ScalarType t) {
  switch (t) {
    case torch::kFloat: return comm::DType::f32;
    case torch::kDouble: return comm::DType::f64;
    case torch::kLong: return comm::DType::i64;
    case torch::kByte: return comm::DType::u8;
    default: throw Error(std::string("no communicator dtype for tensor dtype ") + c10::toString(t));
  }
}

void broadcast_tensors(comm::Communicator& comm, const std::vector<torch::Tensor>& tensors) {
  if (comm.size() == 1) return;
  torch::NoGradGuard no_grad;
  for (const auto& t : tensors) {
    // Parameters are contiguous CPU tensors; anything else goes through a
    // contiguous copy.
    torch::Tensor buf = t.is_contiguous() ? t : t.contiguous();
    comm.broadcast(buf.data_ptr(), buf.numel(), comm_dtype(buf.scalar_type()), 0);
    if (!buf.is_same(t)) t.copy_(buf);
  }
}

}  // namespace fathom::model
