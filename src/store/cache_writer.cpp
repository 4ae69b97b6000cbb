#include "fathom/store/cache_writer.h"

#include <ctime>
#include <filesystem>

#include "cache_format.h"
#include "chunk_progress.h"
#include "fathom/comm/mpi_handle.h"
#include "fathom/core/error.h"
#include "fathom/store/half.h"
#include "h5_types.h"
#include "writer_file.h"

namespace fathom::store {

using detail::H5Handle;
using detail::H5Kind;
using detail::H5Where;

struct CacheWriter::Impl {
  std::string path;
  CacheSchema schema;  // resolved
  comm::Communicator* comm = nullptr;
  void* mpi_comm = nullptr;  // MPI_Comm* in MPI-IO mode
  detail::WriterFile file;
  std::vector<H5Handle> memory_types;  // per dataset
  detail::ChunkProgress progress;
  bool finalized = false;
  std::vector<std::uint16_t> half_scratch;
  std::vector<char> string_scratch;

  void start(std::vector<std::uint8_t> flags);
  std::size_t index_of(const std::string& name) const;
  void check_range(const DatasetSpec& spec, std::int64_t row_begin, std::int64_t rows) const;
  // Splits [row_begin, row_begin + rows) at chunk boundaries and calls
  // write(chunk_begin_row, n, offset_in_rows) per piece, with the ordering
  // checks and completion around it.
  template <class F>
  void for_each_piece(std::size_t d, std::int64_t row_begin, std::int64_t rows, F&& write);
  void write_piece(std::size_t d, std::int64_t row_begin, std::int64_t rows, const void* mem);
  void mark_complete(std::int64_t chunk);
  void flush_local();
  void require_open(const char* what) const;
};

namespace {

// UTC, ISO 8601, seconds.
std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// Everything a rank's schema contributes to the file, as text.
std::string fingerprint(const CacheSchema& s) {
  std::string f = std::to_string(s.rows) + "|" + std::to_string(s.rows_per_chunk);
  for (const auto& d : s.datasets) f += "|" + d.name + ":" + dtype_name(d.dtype) + ":" + std::to_string(d.width);
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

// Runs f on rank 0 and makes every rank throw what it threw (InputError
// keeps its kind, so a refused resume exits with the user-error code).
template <class F>
void on_root_then_share(comm::Communicator& comm, const std::string& path, F&& f) {
  std::string message;
  std::int64_t kind = 0;  // 0 ok, 1 InputError, 2 other
  if (comm.rank() == 0) {
    try {
      f();
    } catch (const InputError& e) {
      message = e.problem();
      kind = 1;
    } catch (const std::exception& e) {
      message = e.what();
      kind = 2;
    }
  }
  if (comm.size() > 1) {
    comm.broadcast(&kind, 1, comm::DType::i64, 0);
    comm.broadcast(message, 0);
  }
  if (kind == 1) throw InputError(path, message);
  if (kind == 2) throw Error(message);
}

}  // namespace

void CacheWriter::Impl::start(std::vector<std::uint8_t> flags) {
  for (const auto& spec : schema.datasets) memory_types.push_back(detail::h5_memory_type(spec));
  progress = detail::ChunkProgress(schema, std::move(flags));
}

std::size_t CacheWriter::Impl::index_of(const std::string& name) const {
  for (std::size_t i = 0; i < schema.datasets.size(); ++i)
    if (schema.datasets[i].name == name) return i;
  schema.dataset(name);  // throws the UsageError listing the datasets
  return 0;
}

void CacheWriter::Impl::require_open(const char* what) const {
  if (finalized) throw UsageError(std::string("CacheWriter::") + what + ": '" + path + "' is already finalized");
}

void CacheWriter::Impl::check_range(const DatasetSpec& spec, std::int64_t row_begin, std::int64_t rows) const {
  if (row_begin < 0 || rows < 0 || row_begin + rows > schema.rows)
    throw UsageError("dataset '" + spec.name + "': rows [" + std::to_string(row_begin) + ", " +
                     std::to_string(row_begin + rows) + ") outside [0, " + std::to_string(schema.rows) + ")");
}

template <class F>
void CacheWriter::Impl::for_each_piece(std::size_t d, std::int64_t row_begin, std::int64_t rows, F&& write) {
  std::int64_t done = 0;
  while (done < rows) {
    const std::int64_t row = row_begin + done;
    const std::int64_t chunk = row / schema.rows_per_chunk;
    const RowRange r = store::chunk_rows(chunk, schema.rows, schema.rows_per_chunk);
    const std::int64_t n = std::min(rows - done, r.end() - row);
    progress.check(d, chunk, row, n);
    write(row, n, done);
    if (progress.advance(d, chunk, n)) mark_complete(chunk);
    done += n;
  }
}

void CacheWriter::Impl::write_piece(std::size_t d, std::int64_t row_begin, std::int64_t rows, const void* mem) {
  const DatasetSpec& spec = schema.datasets[d];
  const H5Where where{path, spec.name};
  const hid_t ds = file.datasets[d].get();
  H5Handle fspace = detail::h5_own(H5Dget_space(ds), H5Kind::dataspace, "H5Dget_space", where);
  const hsize_t start[2] = {hsize_t(row_begin), 0};
  const hsize_t count[2] = {hsize_t(rows), hsize_t(spec.width)};
  detail::h5_check(H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, start, nullptr, count, nullptr),
                   "H5Sselect_hyperslab", where);
  const hsize_t mem_dims[1] = {hsize_t(rows * spec.values_per_row())};
  H5Handle mspace =
      detail::h5_own(H5Screate_simple(1, mem_dims, nullptr), H5Kind::dataspace, "H5Screate_simple", where);
  // Default transfer property list = independent I/O under MPI-IO.
  detail::h5_check(H5Dwrite(ds, memory_types[d].get(), mspace.get(), fspace.get(), H5P_DEFAULT, mem), "H5Dwrite",
                   where);
}

void CacheWriter::Impl::flush_local() {
  if (!mpi_comm)
    detail::h5_check(H5Fflush(file.file.get(), H5F_SCOPE_LOCAL), "H5Fflush", {path, ""});
}

void CacheWriter::Impl::mark_complete(std::int64_t chunk) {
  // Data first, then the flag: a flag on disk implies the data is too.
  flush_local();
  const H5Where where{path, detail::kCompleteName};
  const hid_t ds = file.complete.get();
  H5Handle fspace = detail::h5_own(H5Dget_space(ds), H5Kind::dataspace, "H5Dget_space", where);
  const hsize_t start[1] = {hsize_t(chunk)}, one[1] = {1};
  detail::h5_check(H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, start, nullptr, one, nullptr),
                   "H5Sselect_hyperslab", where);
  H5Handle mspace = detail::h5_own(H5Screate_simple(1, one, nullptr), H5Kind::dataspace, "H5Screate_simple", where);
  const std::uint8_t flag = 1;
  detail::h5_check(H5Dwrite(ds, H5T_NATIVE_UINT8, mspace.get(), fspace.get(), H5P_DEFAULT, &flag), "H5Dwrite",
                   where);
  flush_local();
  progress.mark_complete(chunk);
}

CacheWriter::CacheWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CacheWriter::~CacheWriter() = default;
CacheWriter::CacheWriter(CacheWriter&&) noexcept = default;
CacheWriter& CacheWriter::operator=(CacheWriter&&) noexcept = default;

CacheWriter CacheWriter::create(const std::string& path, const CacheSchema& schema, comm::Communicator& comm) {
  detail::h5_silence();
  check_same_schema(schema, comm);
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->schema = resolved(schema);
  impl->comm = &comm;
  impl->mpi_comm = comm::native_mpi_comm(comm);
  // One timestamp for all ranks: attribute values must agree.
  std::string created_at = comm.rank() == 0 ? utc_now() : std::string();
  if (comm.size() > 1) comm.broadcast(created_at, 0);
  impl->file = detail::create_writer_file(path, impl->schema, impl->mpi_comm, created_at);
  impl->start(std::vector<std::uint8_t>(std::size_t(store::num_chunks(impl->schema.rows, impl->schema.rows_per_chunk)), 0));
  return CacheWriter(std::move(impl));
}

CacheWriter CacheWriter::open_for_resume(const std::string& path, const CacheSchema& schema,
                                         comm::Communicator& comm) {
  detail::h5_silence();
  check_same_schema(schema, comm);
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->schema = resolved(schema);
  impl->comm = &comm;
  impl->mpi_comm = comm::native_mpi_comm(comm);
  // Check read-only first, so a refused resume leaves the file untouched.
  on_root_then_share(comm, path, [&] {
    H5Handle f = detail::open_readonly(path);
    const CacheSchema in_file = detail::read_cache_schema(f.get(), path);
    const std::string diff = detail::schema_difference(in_file, impl->schema);
    if (!diff.empty()) throw InputError(path, "cannot resume: " + diff);
  });
  impl->file = detail::open_writer_file(path, impl->schema, impl->mpi_comm);
  impl->start(detail::read_complete_flags(impl->file.file.get(), path));
  return CacheWriter(std::move(impl));
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

void CacheWriter::write_rows(const std::string& dataset, std::int64_t row_begin, std::int64_t rows,
                             const float* data) {
  Impl& m = *impl_;
  m.require_open("write_rows");
  detail::h5_silence();
  const std::size_t d = m.index_of(dataset);
  const DatasetSpec& spec = m.schema.datasets[d];
  if (spec.dtype != Dtype::f32 && spec.dtype != Dtype::f16)
    throw UsageError("dataset '" + dataset + "' is " + dtype_name(spec.dtype) + "; float data needs f32 or f16");
  m.check_range(spec, row_begin, rows);
  const std::int64_t per_row = spec.values_per_row();
  m.for_each_piece(d, row_begin, rows, [&](std::int64_t row, std::int64_t n, std::int64_t offset) {
    const float* src = data + offset * per_row;
    if (spec.dtype == Dtype::f32) return m.write_piece(d, row, n, src);
    m.half_scratch.resize(std::size_t(n * per_row));
    floats_to_halves(src, m.half_scratch.data(), m.half_scratch.size());
    m.write_piece(d, row, n, m.half_scratch.data());
  });
}

void CacheWriter::write_rows(const std::string& dataset, std::int64_t row_begin, std::int64_t rows,
                             const std::int64_t* data) {
  Impl& m = *impl_;
  m.require_open("write_rows");
  detail::h5_silence();
  const std::size_t d = m.index_of(dataset);
  const DatasetSpec& spec = m.schema.datasets[d];
  if (spec.dtype != Dtype::i64)
    throw UsageError("dataset '" + dataset + "' is " + dtype_name(spec.dtype) + "; int64 data needs i64");
  m.check_range(spec, row_begin, rows);
  const std::int64_t per_row = spec.values_per_row();
  m.for_each_piece(d, row_begin, rows, [&](std::int64_t row, std::int64_t n, std::int64_t offset) {
    m.write_piece(d, row, n, data + offset * per_row);
  });
}

void CacheWriter::write_strings(const std::string& dataset, std::int64_t row_begin, std::int64_t rows,
                                const std::string* strings) {
  Impl& m = *impl_;
  m.require_open("write_strings");
  detail::h5_silence();
  const std::size_t d = m.index_of(dataset);
  const DatasetSpec& spec = m.schema.datasets[d];
  if (spec.dtype != Dtype::str)
    throw UsageError("dataset '" + dataset + "' is " + dtype_name(spec.dtype) + "; strings need str");
  m.check_range(spec, row_begin, rows);
  const std::size_t width = std::size_t(spec.width);
  for (std::int64_t i = 0; i < rows; ++i)
    if (strings[i].size() > width)
      throw InputError(m.path, 0, dataset,
                       "row " + std::to_string(row_begin + i) + ": string of " + std::to_string(strings[i].size()) +
                           " bytes is longer than the dataset width " + std::to_string(width));
  m.for_each_piece(d, row_begin, rows, [&](std::int64_t row, std::int64_t n, std::int64_t offset) {
    // Null-padded fixed-width records.
    m.string_scratch.assign(std::size_t(n) * width, '\0');
    for (std::int64_t i = 0; i < n; ++i) {
      const std::string& s = strings[offset + i];
      std::copy(s.begin(), s.end(), m.string_scratch.begin() + std::ptrdiff_t(std::size_t(i) * width));
    }
    m.write_piece(d, row, n, m.string_scratch.data());
  });
}

bool CacheWriter::chunk_complete(std::int64_t chunk) const {
  if (chunk < 0 || chunk >= num_chunks())
    throw UsageError("chunk " + std::to_string(chunk) + " out of range [0, " + std::to_string(num_chunks()) + ")");
  return impl_->progress.complete(chunk);
}

std::vector<std::int64_t> CacheWriter::completed_chunks() const {
  std::vector<std::int64_t> out;
  const auto& flags = impl_->progress.flags();
  for (std::size_t i = 0; i < flags.size(); ++i)
    if (flags[i]) out.push_back(std::int64_t(i));
  return out;
}

std::vector<std::int64_t> CacheWriter::pending_chunks(int rank, int size) const {
  std::vector<std::int64_t> out;
  for (std::int64_t c : chunks_of_rank(rank, size))
    if (!impl_->progress.complete(c)) out.push_back(c);
  return out;
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
  detail::set_root_attribute(m.file, m.path, "complete", std::int64_t(1));
  detail::h5_check(H5Fflush(m.file.file.get(), H5F_SCOPE_GLOBAL), "H5Fflush", {m.path, ""});
  // Close in order (datasets before the file) and report errors, which the
  // destructor could not.
  for (auto& ds : m.file.datasets) ds.close({m.path, "dataset"});
  m.file.complete.close({m.path, detail::kCompleteName});
  m.file.file.close({m.path, ""});
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
