#include "fathom/store/cache_reader.h"

#include <algorithm>
#include <cstring>
#include <initializer_list>

#include "cache_format.h"
#include "fathom/core/error.h"
#include "fathom/store/half.h"
#include "h5_rows.h"
#include "h5_types.h"

namespace fathom::store {

using detail::H5Handle;
using detail::H5Kind;
using detail::H5Where;

struct CacheReader::Impl {
  std::string path;
  H5Handle file;  // first: closed last
  CacheSchema schema;
  Attributes attributes;
  std::vector<H5Handle> datasets;  // schema.datasets order
  std::vector<std::uint8_t> flags;

  std::size_t index_of(const std::string& name) const {
    for (std::size_t i = 0; i < schema.datasets.size(); ++i)
      if (schema.datasets[i].name == name) return i;
    schema.dataset(name);  // throws UsageError listing the datasets
    return 0;
  }
  // What every read checks first: `dataset` exists and holds one of `types`
  // (else UsageError "... is <type>, <not_what>"), rows in range. Returns
  // the dataset's index.
  std::size_t begin_read(const std::string& dataset, std::int64_t begin, std::int64_t count,
                         std::initializer_list<ElementType> types, const char* not_what) const;
  void read(std::size_t d, std::int64_t begin, std::int64_t count, hid_t mem_type, void* out) const;
};

std::size_t CacheReader::Impl::begin_read(const std::string& dataset, std::int64_t begin, std::int64_t count,
                                          std::initializer_list<ElementType> types, const char* not_what) const {
  detail::h5_silence();
  const std::size_t d = index_of(dataset);
  const DatasetSpec& spec = schema.datasets[d];
  if (std::find(types.begin(), types.end(), spec.type) == types.end())
    throw UsageError("dataset '" + dataset + "' is " + element_type_name(spec.type) + ", " + not_what);
  if (begin < 0 || count < 0 || begin + count > schema.rows)
    throw UsageError("dataset '" + spec.name + "' of " + path + ": rows [" + std::to_string(begin) + ", " +
                     std::to_string(begin + count) + ") outside [0, " + std::to_string(schema.rows) + ")");
  return d;
}

void CacheReader::Impl::read(std::size_t d, std::int64_t begin, std::int64_t count, hid_t mem_type,
                             void* out) const {
  if (count == 0) return;
  const DatasetSpec& spec = schema.datasets[d];
  const H5Where where{path, spec.name};
  const hid_t ds = datasets[d].get();
  const detail::RowSelection sel = detail::select_rows(ds, spec, begin, count, where);
  detail::h5_check(H5Dread(ds, mem_type, sel.memory.get(), sel.file.get(), H5P_DEFAULT, out), "H5Dread", where);
}

CacheReader::CacheReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CacheReader::~CacheReader() = default;
CacheReader::CacheReader(CacheReader&&) noexcept = default;
CacheReader& CacheReader::operator=(CacheReader&&) noexcept = default;

CacheReader CacheReader::open(const std::string& path) {
  auto m = std::make_unique<Impl>();
  m->path = path;
  m->file = detail::open_readonly(path);
  m->schema = detail::read_cache_schema(m->file.get(), path, &m->attributes);
  for (const auto& spec : m->schema.datasets)
    m->datasets.push_back(detail::h5_own(H5Dopen2(m->file.get(), spec.name.c_str(), H5P_DEFAULT), H5Kind::dataset,
                                         "H5Dopen", {path, spec.name}));
  m->flags = detail::read_complete_flags(m->file.get(), path);
  return CacheReader(std::move(m));
}

const std::string& CacheReader::path() const { return impl_->path; }
const CacheSchema& CacheReader::schema() const { return impl_->schema; }
const Attributes& CacheReader::attributes() const { return impl_->attributes; }
std::int64_t CacheReader::rows() const { return impl_->schema.rows; }
std::int64_t CacheReader::rows_per_chunk() const { return impl_->schema.rows_per_chunk; }
std::int64_t CacheReader::num_chunks() const { return std::int64_t(impl_->flags.size()); }
const DatasetSpec& CacheReader::dataset(const std::string& name) const {
  return impl_->schema.datasets[impl_->index_of(name)];
}

bool CacheReader::is_complete() const { return detail::is_finalized(impl_->attributes); }

bool CacheReader::chunk_complete(std::int64_t chunk) const {
  if (chunk < 0 || chunk >= num_chunks())
    throw UsageError("chunk " + std::to_string(chunk) + " out of range [0, " + std::to_string(num_chunks()) + ")");
  return impl_->flags[std::size_t(chunk)] != 0;
}

std::int64_t CacheReader::completed_chunk_count() const {
  std::int64_t n = 0;
  for (std::uint8_t f : impl_->flags) n += f ? 1 : 0;
  return n;
}

void CacheReader::read_rows(const std::string& dataset, std::int64_t begin, std::int64_t count, float* out) const {
  const std::size_t d =
      impl_->begin_read(dataset, begin, count, {ElementType::f32, ElementType::f16}, "not a float dataset");
  const DatasetSpec& spec = impl_->schema.datasets[d];
  if (spec.type == ElementType::f32) return impl_->read(d, begin, count, H5T_NATIVE_FLOAT, out);
  std::vector<std::uint16_t> bits(std::size_t(count * spec.values_per_row()));
  read_half_bits(dataset, begin, count, bits.data());
  halves_to_floats(bits.data(), out, bits.size());
}

void CacheReader::read_half_bits(const std::string& dataset, std::int64_t begin, std::int64_t count,
                                 std::uint16_t* out) const {
  const std::size_t d = impl_->begin_read(dataset, begin, count, {ElementType::f16}, "not f16");
  H5Handle half = detail::h5_half_type();
  impl_->read(d, begin, count, half.get(), out);
}

void CacheReader::read_rows(const std::string& dataset, std::int64_t begin, std::int64_t count,
                            std::int64_t* out) const {
  const std::size_t d = impl_->begin_read(dataset, begin, count, {ElementType::i64}, "not i64");
  impl_->read(d, begin, count, H5T_NATIVE_INT64, out);
}

std::vector<std::string> CacheReader::read_strings(const std::string& dataset, std::int64_t begin,
                                                   std::int64_t count) const {
  const std::size_t d = impl_->begin_read(dataset, begin, count, {ElementType::str}, "not str");
  const DatasetSpec& spec = impl_->schema.datasets[d];
  const std::size_t width = std::size_t(spec.width);
  std::vector<char> buf(std::size_t(count) * width);
  H5Handle type = detail::h5_fixed_string_type(spec.width);
  impl_->read(d, begin, count, type.get(), buf.data());
  std::vector<std::string> out;
  out.reserve(std::size_t(count));
  for (std::int64_t i = 0; i < count; ++i) {
    const char* p = buf.data() + std::size_t(i) * width;
    out.emplace_back(p, strnlen(p, width));
  }
  return out;
}

}  // namespace fathom::store
