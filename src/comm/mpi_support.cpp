#include "mpi_support.h"

#include <spdlog/spdlog.h>

#include <mutex>
#include <string>

#include "backends.h"
#include "fathom/core/error.h"

namespace fathom::comm {
namespace detail {
namespace {
bool mpi_finalized() {
  int f = 0;
  MPI_Finalized(&f);
  return f != 0;
}
}  // namespace

std::shared_ptr<MpiSession> MpiSession::acquire() {
  static std::mutex mutex;
  static std::weak_ptr<MpiSession> current;
  std::lock_guard<std::mutex> lock(mutex);
  if (auto s = current.lock()) return s;
  // MPI cannot be initialised twice in one process.
  if (mpi_finalized())
    throw CommError("init", -1, "MPI was already finalised in this process; keep one communicator alive for the whole job");
  int inited = 0;
  MPI_Initialized(&inited);
  if (!inited) {
    int provided = 0;
    // Before init the world's handler is ERRORS_ARE_FATAL, but check anyway.
    if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
      throw CommError("init", -1, "MPI_Init_thread failed");
    if (provided < MPI_THREAD_FUNNELED)
      spdlog::warn("MPI provides thread level {} < MPI_THREAD_FUNNELED; threaded code may misbehave", provided);
  }
  std::shared_ptr<MpiSession> s(new MpiSession(!inited));
  current = s;
  return s;
}

MpiSession::~MpiSession() {
  if (owns_ && !mpi_finalized()) MPI_Finalize();
}

void MpiCommFree::operator()(MPI_Comm c) const noexcept {
  if (!mpi_finalized()) MPI_Comm_free(&c);
}

void MpiTypeFree::operator()(MPI_Datatype t) const noexcept {
  if (!mpi_finalized()) MPI_Type_free(&t);
}

MpiCommHandle dup_world() {
  MPI_Comm c = MPI_COMM_NULL;
  mpi_check(MPI_Comm_dup(MPI_COMM_WORLD, &c), "init", -1);
  MpiCommHandle h(c);
  // Errors come back as return codes so they can become CommErrors.
  mpi_check(MPI_Comm_set_errhandler(c, MPI_ERRORS_RETURN), "init", -1);
  return h;
}

MpiTypeHandle strided_block(MPI_Datatype base, int n, std::int64_t stride, const char* op, int rank) {
  int es = 0;
  mpi_check(MPI_Type_size(base, &es), op, rank);
  MPI_Datatype block = MPI_DATATYPE_NULL, resized = MPI_DATATYPE_NULL;
  mpi_check(MPI_Type_contiguous(n, base, &block), op, rank);
  // MPI_Aint is 64-bit, so the extent may exceed INT32_MAX bytes.
  const int rc = MPI_Type_create_resized(block, 0, MPI_Aint(stride) * es, &resized);
  MPI_Type_free(&block);
  mpi_check(rc, op, rank);
  MpiTypeHandle h(resized);
  // MPI_Type_commit takes the handle by pointer; keep ownership across it.
  MPI_Datatype committed = h.release();
  const int commit_rc = MPI_Type_commit(&committed);
  h.reset(committed);
  mpi_check(commit_rc, op, rank);
  return h;
}

void mpi_check(int rc, const char* op, int rank) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS) len = 0;
  throw CommError(op, rank, len > 0 ? std::string(text, std::size_t(len)) : "MPI error code " + std::to_string(rc));
}

MPI_Datatype to_mpi(DType t) {
  switch (t) {
    case DType::f32: return MPI_FLOAT;
    case DType::f64: return MPI_DOUBLE;
    case DType::i64: return MPI_INT64_T;
    case DType::u8: return MPI_UINT8_T;
  }
  throw Error("invalid DType value " + std::to_string(int(t)));
}

MPI_Op to_mpi(ReduceOp op) {
  switch (op) {
    case ReduceOp::sum: return MPI_SUM;
    case ReduceOp::max: return MPI_MAX;
    case ReduceOp::min: return MPI_MIN;
  }
  throw Error("invalid ReduceOp value " + std::to_string(int(op)));
}

bool launched_by_mpi() {
  int inited = 0;
  MPI_Initialized(&inited);
  return (inited && !mpi_finalized()) || launcher_says_multi_rank();
}

}  // namespace detail

std::string mpi_library_version() {
  // One of the few MPI calls allowed before MPI_Init.
  char text[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0;
  if (MPI_Get_library_version(text, &len) != MPI_SUCCESS) return "";
  std::string s(text, std::size_t(len));
  const auto nl = s.find('\n');
  if (nl != std::string::npos) s.resize(nl);
  while (!s.empty() && (s.back() == ',' || s.back() == ' ' || s.back() == '\0')) s.pop_back();
  return s;
}

}  // namespace fathom::comm
