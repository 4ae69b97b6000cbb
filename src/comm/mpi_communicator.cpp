// "mpi": collectives on a private duplicate of MPI_COMM_WORLD.
#include <cstdlib>

#include <spdlog/spdlog.h>

#include "backends.h"
#include "chunked_communicator.h"
#include "mpi_support.h"

namespace fathom::comm::detail {
namespace {

class MpiCommunicator final : public ChunkedCommunicator {
 public:
  MpiCommunicator() : session_(MpiSession::acquire()), comm_(dup_world()) {
    mpi_check(MPI_Comm_rank(comm_.get(), &rank_), "init", -1);
    mpi_check(MPI_Comm_size(comm_.get(), &size_), "init", rank_);
    // The watchdog aborts from its own thread. Strictly that breaks FUNNELED,
    // but the job is dead either way and MPI_Abort only asks the launcher to
    // kill every rank (Open MPI and MPICH both allow it in practice).
    MPI_Comm c = comm_.get();
    start_watchdog([c] { MPI_Abort(c, 3); });
  }
  ~MpiCommunicator() override { stop_watchdog(); }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string backend() const override { return "mpi"; }
  [[noreturn]] void abort(int code) override {
    spdlog::default_logger()->flush();
    MPI_Abort(comm_.get(), code);
    std::_Exit(code);  // MPI_Abort should not return; make sure we do not either.
  }

 protected:
  void raw_barrier() override { check(MPI_Barrier(comm_.get()), "barrier"); }

  void raw_all_reduce(void* data, int n, DType dtype, ReduceOp op) override {
    check(MPI_Allreduce(MPI_IN_PLACE, data, n, to_mpi(dtype), to_mpi(op), comm_.get()), "all_reduce");
  }

  void raw_broadcast(void* data, int n, DType dtype, int root) override {
    check(MPI_Bcast(data, n, to_mpi(dtype), root, comm_.get()), "broadcast");
  }

  void raw_all_gather(const void* send, int n, void* recv, std::int64_t stride, DType dtype) override {
    const MPI_Datatype t = to_mpi(dtype);
    if (stride == n) {
      check(MPI_Allgather(send, n, t, recv, n, t, comm_.get()), "all_gather");
      return;
    }
    const auto block = strided_block(t, n, stride, "all_gather", rank_);
    check(MPI_Allgather(send, n, t, recv, 1, block.get(), comm_.get()), "all_gather");
  }

  void raw_gather(const void* send, int n, void* recv, std::int64_t stride, DType dtype, int root) override {
    const MPI_Datatype t = to_mpi(dtype);
    // Receive arguments only matter on root.
    if (rank_ != root || stride == n) {
      check(MPI_Gather(send, n, t, recv, n, t, root, comm_.get()), "gather");
      return;
    }
    const auto block = strided_block(t, n, stride, "gather", rank_);
    check(MPI_Gather(send, n, t, recv, 1, block.get(), root, comm_.get()), "gather");
  }

  void raw_all_gatherv(const void* send, int n, void* recv, const int* counts, const int* displs,
                       DType dtype) override {
    const MPI_Datatype t = to_mpi(dtype);
    check(MPI_Allgatherv(send, n, t, recv, counts, displs, t, comm_.get()), "all_gatherv");
  }

  void raw_gatherv(const void* send, int n, void* recv, const int* counts, const int* displs, DType dtype,
                   int root) override {
    // Receive arguments only matter on root (recv is nullptr elsewhere).
    const MPI_Datatype t = to_mpi(dtype);
    check(MPI_Gatherv(send, n, t, recv, counts, displs, t, root, comm_.get()), "gatherv");
  }

 private:
  void check(int rc, const char* op) const { mpi_check(rc, op, rank_); }

  // Declaration order is teardown order reversed: the comm is freed before
  // the session may finalise MPI.
  std::shared_ptr<MpiSession> session_;
  MpiCommHandle comm_;
  int rank_ = 0;
  int size_ = 1;
};

}  // namespace

std::unique_ptr<Communicator> make_mpi() { return std::make_unique<MpiCommunicator>(); }

}  // namespace fathom::comm::detail
