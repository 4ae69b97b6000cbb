// CacheWriter's write path: rows split at chunk boundaries, one HDF5 write
// per piece, and the completion record once a chunk is whole.
#include <algorithm>

#include "cache_format.h"
#include "cache_writer_impl.h"
#include "fathom/core/error.h"
#include "fathom/store/half.h"
#include "h5_rows.h"
#include "h5_types.h"

namespace fathom::store {

using detail::H5Handle;
using detail::H5Kind;
using detail::H5Where;

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

std::size_t CacheWriter::Impl::begin_write(const char* call, const std::string& dataset, std::int64_t row_begin,
                                           std::int64_t rows, std::initializer_list<ElementType> types,
                                           const char* data_needs) {
  require_open(call);
  detail::h5_silence();
  const std::size_t d = index_of(dataset);
  const DatasetSpec& spec = schema.datasets[d];
  if (std::find(types.begin(), types.end(), spec.type) == types.end())
    throw UsageError("dataset '" + dataset + "' is " + element_type_name(spec.type) + "; " + data_needs);
  check_range(spec, row_begin, rows);
  return d;
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
  const detail::RowSelection sel = detail::select_rows(ds, spec, row_begin, rows, where);
  // Default transfer property list = independent I/O under MPI-IO.
  detail::h5_check(H5Dwrite(ds, memory_types[d].get(), sel.memory.get(), sel.file.get(), H5P_DEFAULT, mem),
                   "H5Dwrite", where);
}

void CacheWriter::Impl::flush_local() {
  if (!mpi_comm)
    detail::h5_check(H5Fflush(file.file.get(), H5F_SCOPE_LOCAL), "H5Fflush", {path, ""});
}

void CacheWriter::Impl::mark_complete(std::int64_t chunk) {
  // Data first, then the flag: a flag on disk implies the data is too.
  flush_local();
  const H5Where where{path, cache_names::dataset::kComplete};
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

void CacheWriter::write_rows(const std::string& dataset, std::int64_t row_begin, std::int64_t rows,
                             const float* data) {
  Impl& m = *impl_;
  const std::size_t d =
      m.begin_write("write_rows", dataset, row_begin, rows, {ElementType::f32, ElementType::f16}, "float data needs f32 or f16");
  const DatasetSpec& spec = m.schema.datasets[d];
  const std::int64_t per_row = spec.values_per_row();
  m.for_each_piece(d, row_begin, rows, [&](std::int64_t row, std::int64_t n, std::int64_t offset) {
    const float* src = data + offset * per_row;
    if (spec.type == ElementType::f32) return m.write_piece(d, row, n, src);
    m.half_scratch.resize(std::size_t(n * per_row));
    floats_to_halves(src, m.half_scratch.data(), m.half_scratch.size());
    m.write_piece(d, row, n, m.half_scratch.data());
  });
}

void CacheWriter::write_rows(const std::string& dataset, std::int64_t row_begin, std::int64_t rows,
                             const std::int64_t* data) {
  Impl& m = *impl_;
  const std::size_t d = m.begin_write("write_rows", dataset, row_begin, rows, {ElementType::i64}, "int64 data needs i64");
  const DatasetSpec& spec = m.schema.datasets[d];
  const std::int64_t per_row = spec.values_per_row();
  m.for_each_piece(d, row_begin, rows, [&](std::int64_t row, std::int64_t n, std::int64_t offset) {
    m.write_piece(d, row, n, data + offset * per_row);
  });
}

void CacheWriter::write_strings(const std::string& dataset, std::int64_t row_begin, std::int64_t rows,
                                const std::string* strings) {
  Impl& m = *impl_;
  const std::size_t d = m.begin_write("write_strings", dataset, row_begin, rows, {ElementType::str}, "strings need str");
  const DatasetSpec& spec = m.schema.datasets[d];
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

}  // namespace fathom::store
