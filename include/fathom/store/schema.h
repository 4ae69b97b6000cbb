#pragma once
// What a fathom cache file holds: N rows (training examples) of several
// datasets that share one row chunking, plus typed root attributes.
//
// File layout (format "fathom.cache", format_version 1; see cache_writer.h;
// every name is in cache_names.h):
//   /<name>     one dataset per DatasetSpec: [rows] (width 0) or
//               [rows, width]; chunked by rows_per_chunk rows, uncompressed.
//   /complete   uint8 [num_chunks]: 1 once every dataset of that row-chunk
//               has been written (the resume record).
//   root attrs  the schema's attributes plus the reserved ones below.
// Pure data and arithmetic: no I/O, any rank, any thread.
#include <cstdint>
#include <map>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

namespace fathom::store {

// Element type of a dataset in the file (named apart from comm::DType, the
// element type of a collective). f16 is IEEE binary16 (h5py: float16),
// filled from and read into float. str is a fixed-length UTF-8 string of
// `width` bytes, null-padded (h5py: bytes, dtype "S<width>"); fixed length
// because parallel HDF5 cannot write variable-length data.
enum class ElementType { f32, f16, i64, str };

const char* element_type_name(ElementType t);                 // "f32" | "f16" | "i64" | "str"
ElementType element_type_from_name(const std::string& name);  // throws UsageError
std::size_t element_size(ElementType t, std::int64_t width);  // bytes of one element (str: width)

struct DatasetSpec {
  std::string name;        // HDF5 name under "/": no '/', not cache_names::dataset::kComplete
  std::int64_t width = 0;  // 0: 1-D [rows]; else [rows, width]. str: max bytes per string (>= 1)
  ElementType type = ElementType::f32;

  // Values per row in memory: width for 2-D, 1 for 1-D and for str.
  std::int64_t values_per_row() const { return type == ElementType::str || width == 0 ? 1 : width; }
  // Bytes per row in the file.
  std::int64_t row_bytes() const;
  bool operator==(const DatasetSpec& o) const { return name == o.name && width == o.width && type == o.type; }
  bool operator!=(const DatasetSpec& o) const { return !(*this == o); }
};

// Attribute values; stored as HDF5 attributes that h5py reads as int,
// float, str, and 1-D arrays of str/int64/float64.
using AttrValue = std::variant<std::int64_t, double, std::string, std::vector<std::string>,
                               std::vector<std::int64_t>, std::vector<double>>;

// "int" | "double" | "string" | "string list" | "int list" | "double list".
const char* attr_type_name(const AttrValue& v);
// Human-readable value: strings as is, lists as [a, b], doubles round-trip.
std::string attr_to_text(const AttrValue& v);

// Named attribute values with typed getters. Getters throw InputError naming
// `source()` (the file) and the attribute when it is missing or has another type.
class Attributes {
 public:
  Attributes() = default;
  explicit Attributes(std::string source) : source_(std::move(source)) {}

  void set(const std::string& name, AttrValue value) { values_[name] = std::move(value); }
  void set(const std::string& name, const char* value) { values_[name] = std::string(value); }
  // Any integer type is stored as int64 and any floating type as double
  // (a bare `5` would otherwise be ambiguous between the two).
  template <class T, std::enable_if_t<std::is_integral_v<T>, int> = 0>
  void set(const std::string& name, T value) { values_[name] = std::int64_t(value); }
  template <class T, std::enable_if_t<std::is_floating_point_v<T>, int> = 0>
  void set(const std::string& name, T value) { values_[name] = double(value); }
  bool has(const std::string& name) const { return values_.count(name) != 0; }
  const AttrValue* find(const std::string& name) const;
  void erase(const std::string& name) { values_.erase(name); }

  std::int64_t get_int(const std::string& name) const;
  double get_double(const std::string& name) const;  // an int attribute is converted
  const std::string& get_string(const std::string& name) const;
  const std::vector<std::string>& get_strings(const std::string& name) const;
  const std::vector<std::int64_t>& get_ints(const std::string& name) const;
  const std::vector<double>& get_doubles(const std::string& name) const;

  const std::map<std::string, AttrValue>& values() const { return values_; }
  std::size_t size() const { return values_.size(); }
  const std::string& source() const { return source_; }

 private:
  std::string source_;
  std::map<std::string, AttrValue> values_;  // sorted: stable messages and output
};

// Attribute names the writer manages itself (cache_names::kReservedAttributes);
// a schema must not set them.
bool is_reserved_attribute(const std::string& name);

// Half-open row interval [begin, begin + count).
struct RowRange {
  std::int64_t begin = 0;
  std::int64_t count = 0;
  std::int64_t end() const { return begin + count; }
  bool operator==(const RowRange& o) const { return begin == o.begin && count == o.count; }
};

// The one chunk-size policy: how rows_per_chunk is chosen when a schema
// leaves it 0. A chunk is the unit of HDF5 I/O and of resuming, and a
// writer may hold one in memory.
struct ChunkPolicy {
  // Bytes of the widest dataset per chunk. HDF5's sweet spot for
  // uncompressed chunked I/O is 1-4 MiB.
  std::int64_t target_bytes = std::int64_t(2) << 20;
  // Rows per chunk are a multiple of this (e.g. whole batches), >= 1.
  std::int64_t row_multiple = 1;
  // At least this many chunks when the rows allow (work for that many
  // ranks, little to redo on a resume); 1 = no such floor.
  std::int64_t min_chunks = 1;
};

// Rows per chunk for `rows` rows whose widest dataset row takes
// `widest_row_bytes`: about policy.target_bytes per chunk, rounded down to a
// multiple of row_multiple (at least one multiple), lowered so there are at
// least min_chunks chunks (not below one multiple), and at most `rows`
// (at least 1). Independent of the number of ranks, so a cache may be
// resumed with another rank count.
std::int64_t rows_per_chunk_for(std::int64_t rows, std::int64_t widest_row_bytes, const ChunkPolicy& policy);

struct CacheSchema {
  std::int64_t rows = 0;  // >= 1
  std::vector<DatasetSpec> datasets;
  // Rows per HDF5 chunk, shared by every dataset; 0 = auto_rows_per_chunk.
  std::int64_t rows_per_chunk = 0;
  // How auto_rows_per_chunk chooses when rows_per_chunk is 0.
  ChunkPolicy chunk_policy;
  Attributes attributes;  // caller's provenance (model sha256, projection, ...)
  // Attributes recorded for people but not compared when a cache is resumed
  // (paths: the same model or corpus may move; content attributes such as a
  // sha256 guard what matters). A resume keeps the file's values.
  std::vector<std::string> unchecked_attributes;

  const DatasetSpec* find(const std::string& name) const;
  // The dataset or UsageError("no dataset '<name>' ...").
  const DatasetSpec& dataset(const std::string& name) const;
};

// rows_per_chunk_for(schema.rows, widest row of schema.datasets, schema.chunk_policy).
std::int64_t auto_rows_per_chunk(const CacheSchema& schema);
// A copy with rows_per_chunk resolved; throws UsageError on an invalid
// schema (rows < 1, bad or duplicate names, str width < 1, negative width,
// reserved attribute names, no datasets, a chunk policy with
// target_bytes, row_multiple or min_chunks < 1).
CacheSchema resolved(const CacheSchema& schema);

// Row-chunk arithmetic. Chunk i holds rows [i*rows_per_chunk, ...), the last
// one possibly shorter.
std::int64_t num_chunks(std::int64_t rows, std::int64_t rows_per_chunk);
RowRange chunk_rows(std::int64_t chunk, std::int64_t rows, std::int64_t rows_per_chunk);
// Chunks owned by `rank` of `size`: a contiguous, balanced run (sizes differ
// by at most one). Writers assign rows by whole chunks so two ranks never
// touch the same HDF5 chunk.
std::vector<std::int64_t> chunks_of_rank(std::int64_t num_chunks, int rank, int size);
// Rows [r*rows/size, (r+1)*rows/size): a balanced contiguous split for readers.
RowRange shard_rows(std::int64_t rows, int rank, int size);

}  // namespace fathom::store
