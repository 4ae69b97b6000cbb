#include "cache_format.h"

#include <algorithm>
#include <filesystem>

#include "fathom/core/error.h"
#include "h5_types.h"

namespace fathom::store::detail {

namespace attr = cache_names::attr;
using cache_names::dataset::kComplete;

H5Handle open_readonly(const std::string& path) {
  h5_silence();
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw InputError(path, "no such file");
  const H5Where where{path, ""};
  H5Handle fapl = h5_own(H5Pcreate(H5P_FILE_ACCESS), H5Kind::plist, "H5Pcreate", where);
  h5_check(H5Pset_file_locking(fapl.get(), false, true), "H5Pset_file_locking", where);
  const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.get());
  if (f < 0) {
    const std::string stack = h5_error_stack();
    H5Eclear2(H5E_DEFAULT);
    throw InputError(path, "cannot open as an HDF5 file: " + stack);
  }
  return H5Handle(f, H5Kind::file);
}

namespace {
herr_t collect_link(hid_t, const char* name, const H5L_info_t*, void* out) {
  static_cast<std::vector<std::string>*>(out)->push_back(name);
  return 0;
}
}  // namespace

std::vector<std::string> root_links(hid_t file, const H5Where& where) {
  std::vector<std::string> names;
  hsize_t idx = 0;
  if (H5Literate(file, H5_INDEX_CRT_ORDER, H5_ITER_INC, &idx, collect_link, &names) >= 0) return names;
  // Creation order not tracked (not written by fathom): fall back to names.
  H5Eclear2(H5E_DEFAULT);
  names.clear();
  idx = 0;
  h5_check(H5Literate(file, H5_INDEX_NAME, H5_ITER_INC, &idx, collect_link, &names), "H5Literate", where);
  return names;
}

bool is_dataset(hid_t file, const std::string& name, const H5Where& where) {
  H5O_info_t info;
  h5_check(H5Oget_info_by_name2(file, name.c_str(), &info, H5O_INFO_BASIC, H5P_DEFAULT), "H5Oget_info",
           {where.file, name});
  return info.type == H5O_TYPE_DATASET;
}

namespace {

// Spec and row count of one dataset; false when it is not a fathom dataset.
bool read_spec(hid_t file, const std::string& path, const std::string& name, DatasetSpec* spec,
               std::int64_t* rows) {
  const H5Where where{path, name};
  H5Handle ds = h5_own(H5Dopen2(file, name.c_str(), H5P_DEFAULT), H5Kind::dataset, "H5Dopen", where);
  H5Handle type = h5_own(H5Dget_type(ds.get()), H5Kind::datatype, "H5Dget_type", where);
  H5Handle space = h5_own(H5Dget_space(ds.get()), H5Kind::dataspace, "H5Dget_space", where);
  const int ndims = H5Sget_simple_extent_ndims(space.get());
  if (ndims < 1 || ndims > 2) return false;
  hsize_t dims[2] = {0, 0};
  H5Sget_simple_extent_dims(space.get(), dims, nullptr);
  std::int64_t str_width = 0;
  spec->name = name;
  if (!element_type_of_h5_type(type.get(), &spec->type, &str_width)) return false;
  if (spec->type == ElementType::str) {
    if (ndims != 1) return false;
    spec->width = str_width;
  } else {
    spec->width = ndims == 2 ? std::int64_t(dims[1]) : 0;
  }
  *rows = std::int64_t(dims[0]);
  return true;
}

}  // namespace

bool is_cache_format(const Attributes& attrs) {
  const AttrValue* format = attrs.find(attr::kFormat);
  return format && std::holds_alternative<std::string>(*format) &&
         std::get<std::string>(*format) == cache_names::kCacheFormat;
}

bool is_finalized(const Attributes& attrs) {
  const AttrValue* v = attrs.find(attr::kComplete);
  return v && std::holds_alternative<std::int64_t>(*v) && std::get<std::int64_t>(*v) == 1;
}

CacheSchema read_cache_schema(hid_t file, const std::string& path, Attributes* all_attributes) {
  const H5Where where{path, ""};
  Attributes attrs = read_attributes(file, path, where);
  if (!is_cache_format(attrs))
    throw InputError(path, std::string("not a fathom cache (root attribute ") + attr::kFormat + " != '" +
                               cache_names::kCacheFormat + "')");
  const std::int64_t version = attrs.get_int(attr::kFormatVersion);
  if (version > cache_names::kCacheFormatVersion)
    throw InputError(path, std::string("cache ") + attr::kFormatVersion + " " + std::to_string(version) +
                               " is newer than this fathom (" + std::to_string(cache_names::kCacheFormatVersion) +
                               "); upgrade fathom");
  CacheSchema schema;
  schema.rows_per_chunk = attrs.get_int(attr::kRowsPerChunk);
  schema.rows = -1;
  for (const auto& name : root_links(file, where)) {
    if (name == kComplete || !is_dataset(file, name, where)) continue;
    DatasetSpec spec;
    std::int64_t rows = 0;
    if (!read_spec(file, path, name, &spec, &rows))
      throw InputError(path, 0, name, "dataset has a type or shape a fathom cache cannot hold");
    if (schema.rows >= 0 && rows != schema.rows)
      throw InputError(path, 0, name,
                       "dataset has " + std::to_string(rows) + " rows, others " + std::to_string(schema.rows));
    schema.rows = rows;
    schema.datasets.push_back(spec);
  }
  if (schema.datasets.empty()) throw InputError(path, "fathom cache without datasets");
  if (all_attributes) *all_attributes = attrs;
  for (const auto& [name, value] : attrs.values())
    if (!is_reserved_attribute(name)) schema.attributes.set(name, value);
  return schema;
}

std::vector<std::uint8_t> read_complete_flags(hid_t file, const std::string& path) {
  const H5Where where{path, kComplete};
  H5Handle ds = h5_own(H5Dopen2(file, kComplete, H5P_DEFAULT), H5Kind::dataset, "H5Dopen", where);
  H5Handle space = h5_own(H5Dget_space(ds.get()), H5Kind::dataspace, "H5Dget_space", where);
  const hssize_t n = H5Sget_simple_extent_npoints(space.get());
  std::vector<std::uint8_t> flags(std::size_t(std::max<hssize_t>(n, 0)));
  if (!flags.empty())
    h5_check(H5Dread(ds.get(), H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, flags.data()), "H5Dread", where);
  return flags;
}

namespace {

std::string spec_text(const DatasetSpec& d) {
  std::string s = std::string(element_type_name(d.type));
  if (d.width > 0) s += "[" + std::to_string(d.width) + "]";
  return s;
}

std::string differ(const std::string& what, const std::string& file, const std::string& run) {
  return what + ": file has " + file + ", this run has " + run;
}

std::string value_text(const Attributes& a, const std::string& name) {
  const AttrValue* v = a.find(name);
  return v ? attr_to_text(*v) + " (" + attr_type_name(*v) + ")" : "(none)";
}

}  // namespace

std::string schema_difference(const CacheSchema& file, const CacheSchema& run) {
  // Attributes first: they carry the provenance (model, projection, corpus)
  // and are the usual reason a resume must be refused. Every differing one
  // is named, so the message shows the real cause (a sha256) even when a
  // path differs too.
  std::vector<std::string> names;
  for (const auto& [n, v] : file.attributes.values()) names.push_back(n);
  for (const auto& [n, v] : run.attributes.values())
    if (!file.attributes.has(n)) names.push_back(n);
  std::sort(names.begin(), names.end());
  std::string out;
  for (const auto& n : names) {
    if (std::find(run.unchecked_attributes.begin(), run.unchecked_attributes.end(), n) !=
        run.unchecked_attributes.end())
      continue;
    const AttrValue* a = file.attributes.find(n);
    const AttrValue* b = run.attributes.find(n);
    if (a && b && *a == *b) continue;
    // Same type: plain values; otherwise say the types too.
    out += out.empty() ? "" : "; ";
    out += (a && b && a->index() == b->index()) ? differ(n, attr_to_text(*a), attr_to_text(*b))
                                                : differ(n, value_text(file.attributes, n), value_text(run.attributes, n));
  }
  if (!out.empty()) return out;
  if (file.rows != run.rows) return differ("rows", std::to_string(file.rows), std::to_string(run.rows));
  if (file.rows_per_chunk != run.rows_per_chunk)
    return differ(attr::kRowsPerChunk, std::to_string(file.rows_per_chunk), std::to_string(run.rows_per_chunk));
  for (const auto& d : run.datasets) {
    const DatasetSpec* f = file.find(d.name);
    if (!f) return differ("dataset " + d.name, "(none)", spec_text(d));
    if (*f != d) return differ("dataset " + d.name, spec_text(*f), spec_text(d));
  }
  for (const auto& f : file.datasets)
    if (!run.find(f.name)) return differ("dataset " + f.name, spec_text(f), "(none)");
  return "";
}

}  // namespace fathom::store::detail
