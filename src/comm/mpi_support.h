#pragma once
// RAII and error plumbing for MPI (private: mpi.h stays out of public headers).
// Only the C API is used (OMPI_SKIP_MPICXX is set project-wide).
#include <mpi.h>

#include <memory>

#include "fathom/comm/communicator.h"
#include "fathom/core/unique_handle.h"

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

// MPI_COMM_NULL / MPI_DATATYPE_NULL are not constant expressions in Open MPI
// (address casts), so they are UniqueHandle null policies, not NullValue<>.
struct MpiCommNull {
  static MPI_Comm value() noexcept { return MPI_COMM_NULL; }
};
struct MpiTypeNull {
  static MPI_Datatype value() noexcept { return MPI_DATATYPE_NULL; }
};
// Free the handle unless MPI is already finalised (then it is gone anyway).
struct MpiCommFree {
  void operator()(MPI_Comm c) const noexcept;
};
struct MpiTypeFree {
  void operator()(MPI_Datatype t) const noexcept;
};

// Move-only owner of a communicator (MPI_Comm_free on destruction).
using MpiCommHandle = UniqueHandle<MPI_Comm, MpiCommFree, MpiCommNull>;
// Move-only owner of a committed derived datatype (MPI_Type_free).
using MpiTypeHandle = UniqueHandle<MPI_Datatype, MpiTypeFree, MpiTypeNull>;

// MPI_Comm_dup(MPI_COMM_WORLD) with MPI_ERRORS_RETURN set on the copy.
MpiCommHandle dup_world();

// n elements of base, with the extent of `stride` elements: consecutive
// ranks' blocks land `stride` elements apart in a gather. Committed.
MpiTypeHandle strided_block(MPI_Datatype base, int n, std::int64_t stride, const char* op, int rank);

// Throws CommError(op, rank, MPI_Error_string(rc)) unless rc == MPI_SUCCESS.
void mpi_check(int rc, const char* op, int rank);

MPI_Datatype to_mpi(DType t);
MPI_Op to_mpi(ReduceOp op);

}  // namespace fathom::comm::detail
