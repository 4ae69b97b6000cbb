// "local": a single process. Collectives are copies or no-ops, but they go
// through the same chunking code as the real backends.
#include <cstdlib>
#include <cstring>

#include <spdlog/spdlog.h>

#include "backends.h"
#include "chunked_communicator.h"

namespace fathom::comm::detail {
namespace {

class LocalCommunicator final : public ChunkedCommunicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string backend() const override { return "local"; }
  [[noreturn]] void abort(int code) override {
    spdlog::default_logger()->flush();
    std::exit(code);
  }

 protected:
  void raw_barrier() override {}
  void raw_all_reduce(void*, int, DType, ReduceOp) override {}
  void raw_broadcast(void*, int, DType, int) override {}
  void raw_all_gather(const void* send, int n, void* recv, std::int64_t, DType dtype) override {
    copy(recv, send, n, dtype);
  }
  void raw_gather(const void* send, int n, void* recv, std::int64_t, DType dtype, int) override {
    copy(recv, send, n, dtype);
  }
  void raw_all_gatherv(const void* send, int n, void* recv, const int*, const int* displs, DType dtype) override {
    copy(static_cast<std::uint8_t*>(recv) + std::size_t(displs[0]) * dtype_size(dtype), send, n, dtype);
  }
  void raw_gatherv(const void* send, int n, void* recv, const int* counts, const int* displs, DType dtype,
                   int) override {
    raw_all_gatherv(send, n, recv, counts, displs, dtype);
  }

 private:
  static void copy(void* dst, const void* src, int n, DType dtype) {
    // memmove: in-place all_gather (send == recv) is legal for one rank.
    if (n > 0) std::memmove(dst, src, std::size_t(n) * dtype_size(dtype));
  }
};

}  // namespace

std::unique_ptr<Communicator> make_local() { return std::make_unique<LocalCommunicator>(); }

}  // namespace fathom::comm::detail
