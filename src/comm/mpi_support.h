#pragma once
// RAII and error plumbing for MPI (private: mpi.h stays out of public headers).
// Only the C API: the deprecated C++ bindings need libmpi_cxx, which
// MPI::MPI_C does not link.
#ifndef OMPI_SKIP_MPICXX
#define OMPI_SKIP_MPICXX 1
#endif
#ifndef MPICH_SKIP_MPICXX
#define MPICH_SKIP_MPICXX 1
#endif
#include <mpi.h>

#include <memory>

#include "fathom/comm/communicator.h"

namespace fathom::comm::detail {

// Keeps MPI initialised while any holder lives. The first acquire calls
// MPI_Init_thread(FUNNELED) unless MPI is already up; the last release
// finalises only if we initialised it (a host application may own MPI).
class MpiSession {
 public:
  static std::shared_ptr<MpiSession> acquire();
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;

 private:
  explicit MpiSession(bool owns) : owns_(owns) {}
  bool owns_;
};

// Move-only owner of a duplicated communicator (MPI_Comm_free on destruction).
class MpiCommHandle {
 public:
  MpiCommHandle() = default;
  // MPI_Comm_dup(MPI_COMM_WORLD) with MPI_ERRORS_RETURN set on the copy.
  static MpiCommHandle dup_world();
  ~MpiCommHandle();
  MpiCommHandle(MpiCommHandle&& o) noexcept : comm_(o.comm_) { o.comm_ = MPI_COMM_NULL; }
  MpiCommHandle& operator=(MpiCommHandle&& o) noexcept;
  MpiCommHandle(const MpiCommHandle&) = delete;
  MpiCommHandle& operator=(const MpiCommHandle&) = delete;
  MPI_Comm get() const { return comm_; }

 private:
  explicit MpiCommHandle(MPI_Comm c) : comm_(c) {}
  void reset() noexcept;
  MPI_Comm comm_ = MPI_COMM_NULL;
};

// Move-only owner of a committed derived datatype.
class MpiTypeHandle {
 public:
  // n elements of base, with the extent of `stride` elements: consecutive
  // ranks' blocks land `stride` elements apart in a gather.
  static MpiTypeHandle strided_block(MPI_Datatype base, int n, std::int64_t stride, const char* op, int rank);
  ~MpiTypeHandle();
  MpiTypeHandle(MpiTypeHandle&& o) noexcept : t_(o.t_) { o.t_ = MPI_DATATYPE_NULL; }
  MpiTypeHandle(const MpiTypeHandle&) = delete;
  MpiTypeHandle& operator=(const MpiTypeHandle&) = delete;
  MpiTypeHandle& operator=(MpiTypeHandle&&) = delete;
  MPI_Datatype get() const { return t_; }

 private:
  explicit MpiTypeHandle(MPI_Datatype t) : t_(t) {}
  MPI_Datatype t_ = MPI_DATATYPE_NULL;
};

// Throws CommError(op, rank, MPI_Error_string(rc)) unless rc == MPI_SUCCESS.
void mpi_check(int rc, const char* op, int rank);

MPI_Datatype to_mpi(DType t);
MPI_Op to_mpi(ReduceOp op);

}  // namespace fathom::comm::detail
