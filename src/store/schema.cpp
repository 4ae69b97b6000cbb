#include "fathom/store/schema.h"

#include <algorithm>
#include <charconv>
#include <set>

#include "fathom/core/error.h"
#include "fathom/store/cache_names.h"

namespace fathom::store {
namespace {

// Shortest text that reads back as the same double.
std::string double_text(double v) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

template <class T, class F>
std::string list_text(const std::vector<T>& v, F&& item) {
  std::string s = "[";
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + item(v[i]);
  return s + "]";
}

}  // namespace

const char* element_type_name(ElementType t) {
  switch (t) {
    case ElementType::f32: return "f32";
    case ElementType::f16: return "f16";
    case ElementType::i64: return "i64";
    case ElementType::str: return "str";
  }
  return "?";
}

ElementType element_type_from_name(const std::string& name) {
  for (ElementType t : {ElementType::f32, ElementType::f16, ElementType::i64, ElementType::str})
    if (name == element_type_name(t)) return t;
  throw UsageError("unknown store dtype '" + name + "' (expected f32, f16, i64 or str)");
}

std::size_t element_size(ElementType t, std::int64_t width) {
  switch (t) {
    case ElementType::f32: return 4;
    case ElementType::f16: return 2;
    case ElementType::i64: return 8;
    case ElementType::str: return std::size_t(width);
  }
  return 0;
}

std::int64_t DatasetSpec::row_bytes() const {
  return std::int64_t(element_size(type, width)) * values_per_row();
}

const char* attr_type_name(const AttrValue& v) {
  static const char* const names[] = {"int", "double", "string", "string list", "int list", "double list"};
  return names[v.index()];
}

std::string attr_to_text(const AttrValue& v) {
  struct Visitor {
    std::string operator()(std::int64_t x) const { return std::to_string(x); }
    std::string operator()(double x) const { return double_text(x); }
    std::string operator()(const std::string& x) const { return x; }
    std::string operator()(const std::vector<std::string>& x) const {
      return list_text(x, [](const std::string& s) { return s; });
    }
    std::string operator()(const std::vector<std::int64_t>& x) const {
      return list_text(x, [](std::int64_t i) { return std::to_string(i); });
    }
    std::string operator()(const std::vector<double>& x) const { return list_text(x, double_text); }
  };
  return std::visit(Visitor{}, v);
}

const AttrValue* Attributes::find(const std::string& name) const {
  const auto it = values_.find(name);
  return it == values_.end() ? nullptr : &it->second;
}

namespace {
template <class T>
const T& typed(const Attributes& a, const std::string& name, const char* want) {
  const AttrValue* v = a.find(name);
  if (!v) throw InputError(a.source(), 0, name, "attribute is missing");
  if (const T* t = std::get_if<T>(v)) return *t;
  throw InputError(a.source(), 0, name, std::string("attribute is a ") + attr_type_name(*v) + ", expected " + want);
}
}  // namespace

std::int64_t Attributes::get_int(const std::string& name) const { return typed<std::int64_t>(*this, name, "int"); }

double Attributes::get_double(const std::string& name) const {
  const AttrValue* v = find(name);
  if (v && std::holds_alternative<std::int64_t>(*v)) return double(std::get<std::int64_t>(*v));
  return typed<double>(*this, name, "double");
}

const std::string& Attributes::get_string(const std::string& name) const {
  return typed<std::string>(*this, name, "string");
}

const std::vector<std::string>& Attributes::get_strings(const std::string& name) const {
  return typed<std::vector<std::string>>(*this, name, "string list");
}

const std::vector<std::int64_t>& Attributes::get_ints(const std::string& name) const {
  return typed<std::vector<std::int64_t>>(*this, name, "int list");
}

const std::vector<double>& Attributes::get_doubles(const std::string& name) const {
  return typed<std::vector<double>>(*this, name, "double list");
}

bool is_reserved_attribute(const std::string& name) {
  for (const char* reserved : cache_names::attr::kReserved)
    if (name == reserved) return true;
  return false;
}

const DatasetSpec* CacheSchema::find(const std::string& name) const {
  for (const auto& d : datasets)
    if (d.name == name) return &d;
  return nullptr;
}

const DatasetSpec& CacheSchema::dataset(const std::string& name) const {
  if (const DatasetSpec* d = find(name)) return *d;
  std::string known;
  for (const auto& d : datasets) known += (known.empty() ? "" : ", ") + d.name;
  throw UsageError("no dataset '" + name + "' in the cache schema (have: " + known + ")");
}

std::int64_t rows_per_chunk_for(std::int64_t rows, std::int64_t widest_row_bytes, const ChunkPolicy& policy) {
  const std::int64_t multiple = std::max<std::int64_t>(1, policy.row_multiple);
  const std::int64_t min_chunks = std::max<std::int64_t>(1, policy.min_chunks);
  const std::int64_t row_bytes = std::max<std::int64_t>(1, widest_row_bytes);
  const std::int64_t total = std::max<std::int64_t>(1, rows);
  auto round_up = [multiple](std::int64_t n) { return (n + multiple - 1) / multiple * multiple; };
  const std::int64_t by_size = std::max<std::int64_t>(1, policy.target_bytes / row_bytes / multiple) * multiple;
  const std::int64_t by_spread = round_up((total + min_chunks - 1) / min_chunks);
  return std::min(total, std::max(multiple, std::min(by_size, by_spread)));
}

std::int64_t auto_rows_per_chunk(const CacheSchema& schema) {
  std::int64_t widest = 1;
  for (const auto& d : schema.datasets) widest = std::max(widest, d.row_bytes());
  return rows_per_chunk_for(schema.rows, widest, schema.chunk_policy);
}

CacheSchema resolved(const CacheSchema& schema) {
  if (schema.rows < 1) throw UsageError("cache schema: rows must be >= 1, got " + std::to_string(schema.rows));
  if (schema.datasets.empty()) throw UsageError("cache schema: no datasets");
  if (schema.rows_per_chunk < 0)
    throw UsageError("cache schema: rows_per_chunk must be >= 0, got " + std::to_string(schema.rows_per_chunk));
  std::set<std::string> names;
  for (const auto& d : schema.datasets) {
    if (d.name.empty() || d.name.find('/') != std::string::npos || d.name == cache_names::dataset::kComplete ||
        d.name == ".")
      throw UsageError("cache schema: invalid dataset name '" + d.name + "'");
    if (!names.insert(d.name).second) throw UsageError("cache schema: duplicate dataset '" + d.name + "'");
    if (d.width < 0) throw UsageError("cache schema: dataset '" + d.name + "' has negative width");
    if (d.type == ElementType::str && d.width < 1)
      throw UsageError("cache schema: string dataset '" + d.name + "' needs width >= 1 (max bytes per string)");
  }
  const ChunkPolicy& policy = schema.chunk_policy;
  if (policy.target_bytes < 1 || policy.row_multiple < 1 || policy.min_chunks < 1)
    throw UsageError("cache schema: chunk policy needs target_bytes, row_multiple and min_chunks >= 1, got " +
                     std::to_string(policy.target_bytes) + ", " + std::to_string(policy.row_multiple) + ", " +
                     std::to_string(policy.min_chunks));
  for (const auto& [name, value] : schema.attributes.values())
    if (is_reserved_attribute(name))
      throw UsageError("cache schema: attribute '" + name + "' is managed by the cache writer");
  CacheSchema out = schema;
  if (out.rows_per_chunk == 0) out.rows_per_chunk = auto_rows_per_chunk(schema);
  out.rows_per_chunk = std::min(out.rows_per_chunk, out.rows);
  // HDF5 limits a chunk to 4 GiB.
  for (const auto& d : out.datasets)
    if (double(out.rows_per_chunk) * double(d.row_bytes()) >= 4294967296.0)
      throw UsageError("cache schema: a chunk of " + std::to_string(out.rows_per_chunk) + " rows of '" + d.name +
                       "' exceeds HDF5's 4 GiB chunk limit; lower rows_per_chunk");
  return out;
}

std::int64_t num_chunks(std::int64_t rows, std::int64_t rows_per_chunk) {
  if (rows <= 0 || rows_per_chunk <= 0) return 0;
  return (rows + rows_per_chunk - 1) / rows_per_chunk;
}

RowRange chunk_rows(std::int64_t chunk, std::int64_t rows, std::int64_t rows_per_chunk) {
  const std::int64_t begin = chunk * rows_per_chunk;
  return {begin, std::max<std::int64_t>(0, std::min(rows_per_chunk, rows - begin))};
}

std::vector<std::int64_t> chunks_of_rank(std::int64_t num_chunks, int rank, int size) {
  std::vector<std::int64_t> out;
  if (size < 1 || rank < 0 || rank >= size) throw UsageError("chunks_of_rank: rank out of range");
  const std::int64_t first = num_chunks * rank / size, last = num_chunks * (rank + 1) / size;
  for (std::int64_t c = first; c < last; ++c) out.push_back(c);
  return out;
}

RowRange shard_rows(std::int64_t rows, int rank, int size) {
  if (size < 1 || rank < 0 || rank >= size) throw UsageError("shard_rows: rank out of range");
  const std::int64_t begin = rows * rank / size, end = rows * (rank + 1) / size;
  return {begin, end - begin};
}

}  // namespace fathom::store
