// "nccl": collectives on device buffers through NCCL, bootstrapped over MPI.
// Host buffers (the typed helpers, string broadcast, counts) are routed to
// the bootstrap MPI communicator, so every Communicator call keeps working.
#include <cuda_runtime_api.h>
#include <nccl.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "../backends.h"
#include "../chunked_communicator.h"
#include "fathom/core/error.h"
#include "fathom/core/unique_handle.h"

namespace fathom::comm::detail {
namespace {

void cuda_check(cudaError_t e, const char* op, int rank) {
  if (e != cudaSuccess) throw CommError(op, rank, std::string("CUDA: ") + cudaGetErrorString(e));
}

ncclDataType_t to_nccl(DType t) {
  switch (t) {
    case DType::f32: return ncclFloat32;
    case DType::f64: return ncclFloat64;
    case DType::i64: return ncclInt64;
    case DType::u8: return ncclUint8;
  }
  throw Error("invalid DType value " + std::to_string(int(t)));
}

ncclRedOp_t to_nccl(ReduceOp op) {
  switch (op) {
    case ReduceOp::sum: return ncclSum;
    case ReduceOp::max: return ncclMax;
    case ReduceOp::min: return ncclMin;
  }
  throw Error("invalid ReduceOp value " + std::to_string(int(op)));
}

// Device (or managed) memory goes through NCCL; anything else is host memory.
bool is_device_pointer(const void* p) {
  if (!p) return false;
  cudaPointerAttributes a{};
  if (cudaPointerGetAttributes(&a, p) != cudaSuccess) {
    (void)cudaGetLastError();  // clear the sticky-free error for later calls
    return false;
  }
  return a.type == cudaMemoryTypeDevice || a.type == cudaMemoryTypeManaged;
}

struct NcclCommDestroy {
  void operator()(ncclComm_t c) const noexcept { ncclCommDestroy(c); }
};
struct CudaStreamDestroy {
  void operator()(cudaStream_t s) const noexcept { cudaStreamDestroy(s); }
};
// Move-only owners (null = nullptr, never destroyed).
using NcclCommHandle = UniqueHandle<ncclComm_t, NcclCommDestroy>;
using CudaStream = UniqueHandle<cudaStream_t, CudaStreamDestroy>;

// Index of this rank among the ranks on the same host (picks its GPU).
int node_local_rank(Communicator& host) {
  char name[256] = {};
  gethostname(name, sizeof(name) - 1);
  const auto mine = std::int64_t(std::hash<std::string>{}(name));
  const auto all = host.all_gather_value(mine);
  int local = 0;
  for (int r = 0; r < host.rank(); ++r) local += all[std::size_t(r)] == mine;
  return local;
}

class NcclCommunicator final : public ChunkedCommunicator {
 public:
  NcclCommunicator(std::unique_ptr<Communicator> host, int device_count) : host_(std::move(host)) {
    rank_ = host_->rank();
    size_ = host_->size();
    device_ = node_local_rank(*host_) % device_count;
    cuda_check(cudaSetDevice(device_), "init", rank_);

    // Rank 0 makes the id and sends it with its status, so a failure there
    // becomes an error on every rank instead of a hang.
    struct {
      std::int64_t status;
      ncclUniqueId id;
    } boot{};
    if (rank_ == 0) boot.status = ncclGetUniqueId(&boot.id);
    host_->broadcast(&boot, std::int64_t(sizeof(boot)), DType::u8, 0);
    if (boot.status != ncclSuccess)
      throw CommError("init", rank_, std::string("ncclGetUniqueId on rank 0: ") +
                                         ncclGetErrorString(ncclResult_t(boot.status)));
    ncclComm_t c = nullptr;
    check(ncclCommInitRank(&c, size_, boot.id, rank_), "init");
    comm_ = NcclCommHandle(c);
    cudaStream_t s = nullptr;
    cuda_check(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "init", rank_);
    stream_ = CudaStream(s);
    // ncclCommAbort could block on a wedged GPU; MPI_Abort ends the job anyway.
    start_watchdog([h = host_.get()] { h->abort(3); });
  }
  ~NcclCommunicator() override {
    stop_watchdog();
    if (stream_.get()) cudaStreamSynchronize(stream_.get());
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string backend() const override { return "nccl"; }
  [[noreturn]] void abort(int code) override {
    host_->abort(code);
    std::_Exit(code);  // unreachable; tells the compiler so
  }

  // Every op ends with a stream sync, so a host barrier orders device work too.
  void barrier() override { host_->barrier(); }

  void all_reduce(void* data, std::int64_t count, DType dtype, ReduceOp op) override {
    if (!is_device_pointer(data)) return host_->all_reduce(data, count, dtype, op);
    ChunkedCommunicator::all_reduce(data, count, dtype, op);
  }
  void broadcast(void* data, std::int64_t count, DType dtype, int root) override {
    if (!is_device_pointer(data)) return host_->broadcast(data, count, dtype, root);
    ChunkedCommunicator::broadcast(data, count, dtype, root);
  }
  void all_gather(const void* send, std::int64_t count, void* recv, DType dtype) override {
    if (!is_device_pointer(send)) return host_->all_gather(send, count, recv, dtype);
    ChunkedCommunicator::all_gather(send, count, recv, dtype);
  }
  void gather(const void* send, std::int64_t count, void* recv, DType dtype, int root) override {
    if (!is_device_pointer(send)) return host_->gather(send, count, recv, dtype, root);
    ChunkedCommunicator::gather(send, count, recv, dtype, root);
  }
  // The result is host memory, so stage the device input on the host and let
  // MPI do the uneven exchange (ranks with count 0 may pass any pointer).
  std::vector<std::uint8_t> all_gatherv(const void* send, std::int64_t count, DType dtype,
                                        std::vector<std::int64_t>* counts) override {
    std::vector<std::uint8_t> staged = stage_on_host(send, count, dtype, "all_gatherv");
    return host_->all_gatherv(staged.empty() ? send : staged.data(), count, dtype, counts);
  }
  std::vector<std::uint8_t> gatherv(const void* send, std::int64_t count, DType dtype, int root,
                                    std::vector<std::int64_t>* counts) override {
    std::vector<std::uint8_t> staged = stage_on_host(send, count, dtype, "gatherv");
    return host_->gatherv(staged.empty() ? send : staged.data(), count, dtype, root, counts);
  }
  using Communicator::all_reduce;
  using Communicator::broadcast;

 protected:
  void raw_barrier() override { host_->barrier(); }

  void raw_all_reduce(void* data, int n, DType dtype, ReduceOp op) override {
    begin("all_reduce");
    check(ncclAllReduce(data, data, std::size_t(n), to_nccl(dtype), to_nccl(op), comm_.get(), stream_.get()),
          "all_reduce");
    finish("all_reduce");
  }

  void raw_broadcast(void* data, int n, DType dtype, int root) override {
    begin("broadcast");
    check(ncclBroadcast(data, data, std::size_t(n), to_nccl(dtype), root, comm_.get(), stream_.get()), "broadcast");
    finish("broadcast");
  }

  void raw_all_gather(const void* send, int n, void* recv, std::int64_t stride, DType dtype) override {
    begin("all_gather");
    if (stride == n) {
      check(ncclAllGather(send, recv, std::size_t(n), to_nccl(dtype), comm_.get(), stream_.get()), "all_gather");
    } else {
      // Strided blocks: point-to-point with every peer in one group.
      const std::size_t es = dtype_size(dtype);
      copy_own(block(recv, rank_, stride, es), send, std::size_t(n) * es, "all_gather");
      check(ncclGroupStart(), "all_gather");
      for (int p = 0; p < size_; ++p) {
        if (p == rank_) continue;
        check(ncclSend(send, std::size_t(n), to_nccl(dtype), p, comm_.get(), stream_.get()), "all_gather");
        check(ncclRecv(block(recv, p, stride, es), std::size_t(n), to_nccl(dtype), p, comm_.get(), stream_.get()),
              "all_gather");
      }
      check(ncclGroupEnd(), "all_gather");
    }
    finish("all_gather");
  }

  // NCCL has no gather: root receives from every peer in one group.
  void raw_gather(const void* send, int n, void* recv, std::int64_t stride, DType dtype, int root) override {
    begin("gather");
    const std::size_t es = dtype_size(dtype);
    if (rank_ == root) {
      copy_own(block(recv, rank_, stride, es), send, std::size_t(n) * es, "gather");
      check(ncclGroupStart(), "gather");
      for (int p = 0; p < size_; ++p)
        if (p != root)
          check(ncclRecv(block(recv, p, stride, es), std::size_t(n), to_nccl(dtype), p, comm_.get(), stream_.get()),
                "gather");
      check(ncclGroupEnd(), "gather");
    } else {
      check(ncclSend(send, std::size_t(n), to_nccl(dtype), root, comm_.get(), stream_.get()), "gather");
    }
    finish("gather");
  }

 private:
  // A copy of a device buffer in host memory; empty when `send` is already a
  // host pointer (or there is nothing to send), so the caller passes it as is.
  std::vector<std::uint8_t> stage_on_host(const void* send, std::int64_t count, DType dtype, const char* op) const {
    if (count <= 0 || !is_device_pointer(send)) return {};
    std::vector<std::uint8_t> staged(std::size_t(count) * dtype_size(dtype));
    cuda_check(cudaMemcpy(staged.data(), send, staged.size(), cudaMemcpyDeviceToHost), op, rank_);
    return staged;
  }
  static void* block(void* base, int r, std::int64_t stride, std::size_t es) {
    return static_cast<std::uint8_t*>(base) + std::size_t(r) * std::size_t(stride) * es;
  }
  void copy_own(void* dst, const void* src, std::size_t bytes, const char* op) {
    if (dst != src) cuda_check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream_.get()), op, rank_);
  }
  // Other code may have switched the current device since the last call.
  void begin(const char* op) { cuda_check(cudaSetDevice(device_), op, rank_); }
  void finish(const char* op) {
    cuda_check(cudaStreamSynchronize(stream_.get()), op, rank_);
    ncclResult_t async = ncclSuccess;
    check(ncclCommGetAsyncError(comm_.get(), &async), op);
    check(async, op);
  }
  void check(ncclResult_t r, const char* op) const {
    if (r == ncclSuccess) return;
    std::string detail = ncclGetErrorString(r);
    if (comm_.get()) {
      const char* last = ncclGetLastError(comm_.get());
      if (last && *last) detail += std::string(": ") + last;
    }
    throw CommError(op, rank_, detail);
  }

  // Teardown order (reverse of declaration): NCCL comm, stream, then MPI.
  std::unique_ptr<Communicator> host_;
  CudaStream stream_;
  NcclCommHandle comm_;
  int rank_ = 0;
  int size_ = 1;
  int device_ = 0;
};

}  // namespace

std::unique_ptr<Communicator> make_nccl() {
  // Check the GPU before touching MPI, so a CPU-only machine gets a clear
  // usage error rather than a crash inside NCCL.
  int devices = 0;
  const cudaError_t e = cudaGetDeviceCount(&devices);
  if (e != cudaSuccess || devices == 0) {
    (void)cudaGetLastError();
    throw UsageError(std::string("communicator backend 'nccl' needs a GPU, but there is no CUDA device (") +
                     (e != cudaSuccess ? cudaGetErrorString(e) : "cudaGetDeviceCount returned 0") +
                     "); use the mpi or local backend instead");
  }
  return std::make_unique<NcclCommunicator>(make_mpi(), devices);
}

std::string nccl_runtime_version() {
  int v = 0;
  if (ncclGetVersion(&v) != ncclSuccess) return "";
  // Since 2.9 the code is major*10000 + minor*100 + patch; before, *1000.
  const int major = v >= 10000 ? v / 10000 : v / 1000;
  const int minor = v >= 10000 ? (v % 10000) / 100 : (v % 1000) / 100;
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(v % 100);
}

}  // namespace fathom::comm::detail
