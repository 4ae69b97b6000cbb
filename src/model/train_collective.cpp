// Tensor broadcast and dtype mapping for the training loop.
#include "fathom/core/error.h"
#include "train_internal.h"

namespace fathom::model {
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
