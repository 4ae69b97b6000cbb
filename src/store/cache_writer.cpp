// CacheWriter's collective life cycle: create, resume (checked read-only
// first), finalize, and the layout accessors.
#include "fathom/store/cache_writer.h"

#include <unistd.h>

#include <ctime>
#include <filesystem>

#include <spdlog/spdlog.h>

#include "cache_format.h"
#include "cache_writer_impl.h"
#include "fathom/core/clock.h"
#include "fathom/comm/collective_check.h"
#include "fathom/comm/mpi_handle.h"
#include "fathom/store/cache_names.h"
#include "fathom/store/cache_reader.h"
#include "fathom/core/atomic_file.h"
#include "fathom/core/error.h"
#include "h5_types.h"

namespace fathom::store {

using detail::H5Handle;

namespace {

namespace fs = std::filesystem;

// Everything a rank's schema contributes to the file, as text.
std::string fingerprint(const CacheSchema& s) {
  const ChunkPolicy& p = s.chunk_policy;
  std::string f = std::to_string(s.rows) + "|" + std::to_string(s.rows_per_chunk) + "|" +
                  std::to_string(p.target_bytes) + "," + std::to_string(p.row_multiple) + "," +
                  std::to_string(p.min_chunks);
  for (const auto& d : s.datasets) f += "|" + d.name + ":" + element_type_name(d.type) + ":" + std::to_string(d.width);
  for (const auto& [name, value] : s.attributes.values())
    f += "|" + name + "=" + attr_type_name(value) + ":" + attr_to_text(value);
  return f;
}

// COLLECTIVE: every rank must pass the same schema, since HDF5 metadata
// calls under MPI-IO need identical arguments everywhere.
void check_same_schema(const CacheSchema& schema, comm::Communicator& comm) {
  if (comm.size() == 1) return;
  const std::string mine = fingerprint(schema);
  std::string root = mine;
  comm.broadcast(root, 0);
  const std::int64_t differs = comm.all_reduce_value<std::int64_t>(mine != root ? 1 : 0, comm::ReduceOp::max);
  if (differs) throw UsageError("cache schema differs between ranks; every rank must pass the same schema");
}

// Rank 0's check that `path` can be created: its directory exists and is
// writable, and `path` is not a directory. Without it HDF5 fails inside the
// collective H5Fcreate with an internal error on every rank; this names the
// user's mistake (an InputError, exit 2) before any rank touches the file.
void check_creatable(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) throw InputError(path, "is a directory; a cache needs a file path");
  const fs::path parent = fs::path(path).parent_path().empty() ? fs::path(".") : fs::path(path).parent_path();
  if (!fs::is_directory(parent, ec))
    throw InputError(path, "cannot create the cache: directory " + parent.string() + " does not exist");
  if (::access(parent.c_str(), W_OK) != 0)
    throw InputError(path, "cannot create the cache: directory " + parent.string() + " is not writable");
}

}  // namespace

CacheWriter::CacheWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CacheWriter::~CacheWriter() = default;
CacheWriter::CacheWriter(CacheWriter&&) noexcept = default;
CacheWriter& CacheWriter::operator=(CacheWriter&&) noexcept = default;

std::unique_ptr<CacheWriter::Impl> CacheWriter::new_impl(const std::string& path, const CacheSchema& schema,
                                                        comm::Communicator& comm) {
  detail::h5_silence();
  check_same_schema(schema, comm);
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->schema = resolved(schema);
  impl->comm = &comm;
  impl->mpi_comm = comm::native_mpi_comm(comm);
  return impl;
}

CacheWriter CacheWriter::create(const std::string& path, const CacheSchema& schema, comm::Communicator& comm) {
  auto impl = new_impl(path, schema, comm);
  comm::on_root(comm, "creating the cache " + path, [&] { check_creatable(path); });
  // One timestamp for all ranks: attribute values must agree.
  std::string created_at = comm.rank() == 0 ? utc_timestamp() : std::string();
  if (comm.size() > 1) comm.broadcast(created_at, 0);
  impl->file = detail::create_writer_file(path, impl->schema, impl->mpi_comm, created_at);
  const std::int64_t chunks = store::num_chunks(impl->schema.rows, impl->schema.rows_per_chunk);
  impl->start(std::vector<std::uint8_t>(std::size_t(chunks), 0));
  return CacheWriter(std::move(impl));
}

CacheWriter CacheWriter::open_for_resume(const std::string& path, const CacheSchema& schema,
                                         comm::Communicator& comm) {
  auto impl = new_impl(path, schema, comm);
  // Check read-only first, so a refused resume leaves the file untouched.
  // The completion record is read there too and broadcast: were each rank to
  // read it after the open, a slow rank could see chunks that a fast one
  // already completed in this run, and the ranks would disagree.
  std::vector<std::uint8_t> flags;
  comm::on_root(comm, "checking " + path + " for resuming", [&] {
    H5Handle f;
    CacheSchema in_file;
    try {
      f = detail::open_readonly(path);
      in_file = detail::read_cache_schema(f.get(), path);
    } catch (const InputError& e) {
      // Typically a run killed inside create(), before the file was valid.
      throw InputError(path, e.problem() + " (cannot resume it; delete it to start the cache again)");
    }
    const std::string diff = detail::schema_difference(in_file, impl->schema);
    if (!diff.empty()) throw InputError(path, "cannot resume: " + diff);
    flags = detail::read_complete_flags(f.get(), path);
    if (std::int64_t(flags.size()) != store::num_chunks(impl->schema.rows, impl->schema.rows_per_chunk))
      throw InputError(path, 0, cache_names::dataset::kComplete,
                       "has " + std::to_string(flags.size()) + " entries, expected one per row-chunk");
  });
  if (comm.size() > 1) comm.broadcast(flags, 0);
  if (comm.rank() == 0) {
    std::int64_t done = 0;
    for (std::uint8_t f : flags) done += f ? 1 : 0;
    spdlog::info("resuming {}: {}/{} row-chunks already complete", path, done, flags.size());
  }
  impl->file = detail::open_writer_file(path, impl->schema, impl->mpi_comm);
  impl->start(std::move(flags));
  return CacheWriter(std::move(impl));
}

bool CacheWriter::complete_and_matching(const std::string& path, const CacheSchema& schema,
                                        comm::Communicator& comm) {
  std::int64_t match = 0;
  if (comm.rank() == 0) {
    std::error_code ec;
    if (std::filesystem::exists(path, ec)) {
      try {
        const CacheReader reader = CacheReader::open(path);
        match = reader.is_complete() && detail::schema_difference(reader.schema(), resolved(schema)).empty() ? 1 : 0;
      } catch (const Error&) {
        match = 0;  // open_for_resume reports the problem
      }
    }
  }
  if (comm.size() > 1) comm.broadcast(&match, 1, comm::DType::i64, 0);
  return match != 0;
}

CacheWriter CacheWriter::open_or_create(const std::string& path, const CacheSchema& schema,
                                        comm::Communicator& comm, bool* resumed) {
  // Rank 0 decides, so all ranks take the same (collective) branch.
  std::int64_t exists = 0;
  if (comm.rank() == 0) {
    std::error_code ec;
    exists = std::filesystem::exists(path, ec) ? 1 : 0;
  }
  if (comm.size() > 1) comm.broadcast(&exists, 1, comm::DType::i64, 0);
  if (resumed) *resumed = exists != 0;
  return exists ? open_for_resume(path, schema, comm) : create(path, schema, comm);
}

void CacheWriter::finalize() {
  Impl& m = *impl_;
  m.require_open("finalize");
  detail::h5_silence();
  // Every rank's completions, so all ranks agree on whether to finish.
  std::vector<std::uint8_t> flags = m.progress.flags();
  if (m.comm->size() > 1) m.comm->all_reduce(flags, comm::ReduceOp::max);
  m.progress.set_flags(flags);
  std::int64_t missing = 0, first = -1;
  for (std::size_t i = 0; i < flags.size(); ++i)
    if (!flags[i]) {
      if (first < 0) first = std::int64_t(i);
      ++missing;
    }
  if (missing) {
    const RowRange r = chunk_rows(first);
    throw Error("cannot finalize " + m.path + ": " + std::to_string(missing) + " of " +
                std::to_string(flags.size()) + " row-chunks are incomplete (first: chunk " + std::to_string(first) +
                ", rows " + std::to_string(r.begin) + "-" + std::to_string(r.end() - 1) + ")");
  }
  detail::set_root_attribute(m.file, m.path, cache_names::attr::kComplete, std::int64_t(1));
  detail::h5_check(H5Fflush(m.file.file.get(), H5F_SCOPE_GLOBAL), "H5Fflush", {m.path, ""});
  // Close in order (datasets before the file) and report errors, which the
  // destructor could not.
  for (auto& ds : m.file.datasets) detail::h5_close(ds, {m.path, "dataset"});
  detail::h5_close(m.file.complete, {m.path, cache_names::dataset::kComplete});
  detail::h5_close(m.file.file, {m.path, ""});
  // Through MPI-IO the flush above was an MPI_File_sync; a local file gets
  // the same durability here, so "complete" means on disk in both modes.
  if (!m.mpi_comm) fsync_file(m.path);
  m.finalized = true;
}

const CacheSchema& CacheWriter::schema() const { return impl_->schema; }
const std::string& CacheWriter::path() const { return impl_->path; }
std::int64_t CacheWriter::num_chunks() const {
  return store::num_chunks(impl_->schema.rows, impl_->schema.rows_per_chunk);
}
RowRange CacheWriter::chunk_rows(std::int64_t chunk) const {
  return store::chunk_rows(chunk, impl_->schema.rows, impl_->schema.rows_per_chunk);
}
std::vector<std::int64_t> CacheWriter::chunks_of_rank(int rank, int size) const {
  return store::chunks_of_rank(num_chunks(), rank, size);
}
bool CacheWriter::parallel() const { return impl_->mpi_comm != nullptr; }

}  // namespace fathom::store
