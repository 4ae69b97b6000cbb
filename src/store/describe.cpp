#include "fathom/store/describe.h"

#include <sys/stat.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cache_format.h"
#include "fathom/core/error.h"
#include "h5_types.h"

namespace fathom::store {

using detail::H5Handle;
using detail::H5Kind;
using detail::H5Where;
using nlohmann::json;

namespace {

json attr_json(const AttrValue& v) {
  return std::visit([](const auto& x) { return json(x); }, v);
}

json attributes_json(const Attributes& a) {
  json out = json::object();
  for (const auto& [name, value] : a.values()) out[name] = attr_json(value);
  return out;
}

std::string human_bytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) {
    b /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u ? "%.1f %s" : "%.0f %s", b, units[u]);
  return buf;
}

std::string dims_text(const json& dims) {
  std::string s = "[";
  for (std::size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i].get<std::int64_t>());
  return s + "]";
}

herr_t collect_path(hid_t, const char* name, const H5L_info_t*, void* out) {
  static_cast<std::vector<std::string>*>(out)->push_back(name);
  return 0;
}

// Every link below the root, recursively, in creation order when tracked.
std::vector<std::string> all_links(hid_t file, const H5Where& where) {
  std::vector<std::string> names;
  if (H5Lvisit(file, H5_INDEX_CRT_ORDER, H5_ITER_INC, collect_path, &names) >= 0) return names;
  H5Eclear2(H5E_DEFAULT);
  names.clear();
  detail::h5_check(H5Lvisit(file, H5_INDEX_NAME, H5_ITER_INC, collect_path, &names), "H5Lvisit", where);
  return names;
}

json dataset_json(hid_t file, const std::string& path, const std::string& name, std::vector<std::string>* skipped) {
  const H5Where where{path, name};
  H5Handle ds = detail::h5_own(H5Dopen2(file, name.c_str(), H5P_DEFAULT), H5Kind::dataset, "H5Dopen", where);
  H5Handle type = detail::h5_own(H5Dget_type(ds.get()), H5Kind::datatype, "H5Dget_type", where);
  H5Handle space = detail::h5_own(H5Dget_space(ds.get()), H5Kind::dataspace, "H5Dget_space", where);
  H5Handle dcpl = detail::h5_own(H5Dget_create_plist(ds.get()), H5Kind::plist, "H5Dget_create_plist", where);
  const int ndims = std::max(0, H5Sget_simple_extent_ndims(space.get()));
  std::vector<hsize_t> dims(std::size_t(ndims) + 1), chunk(std::size_t(ndims) + 1);
  H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  json j;
  j["name"] = "/" + name;
  j["shape"] = std::vector<hsize_t>(dims.begin(), dims.begin() + ndims);
  j["dtype"] = detail::h5_type_text(type.get());
  j["chunks"] = nullptr;
  if (H5Pget_layout(dcpl.get()) == H5D_CHUNKED) {
    const int n = H5Pget_chunk(dcpl.get(), ndims, chunk.data());
    j["chunks"] = std::vector<hsize_t>(chunk.begin(), chunk.begin() + std::max(n, 0));
  }
  j["storage_bytes"] = std::int64_t(H5Dget_storage_size(ds.get()));
  std::vector<std::string> skipped_here;
  j["attributes"] = attributes_json(detail::read_attributes(ds.get(), path, where, &skipped_here));
  for (const auto& s : skipped_here) skipped->push_back("/" + name + ": " + s);
  return j;
}

std::string text_of(const json& j) {
  std::ostringstream os;
  os << j["path"].get<std::string>() << "\n";
  if (!j["format"].is_null()) {
    os << "  format: " << j["format"].get<std::string>() << " v" << j["format_version"].get<std::int64_t>()
       << "\n  complete: " << (j["complete"].get<bool>() ? "yes" : "no") << " ("
       << j["chunks_done"].get<std::int64_t>() << "/" << j["chunks_total"].get<std::int64_t>()
       << " row-chunks written)\n";
  } else {
    os << "  format: not a fathom cache\n";
  }
  os << "  size: " << human_bytes(j["disk_bytes"].get<double>()) << " on disk, file "
     << human_bytes(j["file_bytes"].get<double>()) << "\n";
  os << "  datasets:\n";
  std::size_t name_w = 4, shape_w = 5, type_w = 5;
  for (const auto& d : j["datasets"]) {
    name_w = std::max(name_w, d["name"].get<std::string>().size());
    shape_w = std::max(shape_w, dims_text(d["shape"]).size());
    type_w = std::max(type_w, d["dtype"].get<std::string>().size());
  }
  for (const auto& d : j["datasets"]) {
    char line[512];
    const std::string layout = d["chunks"].is_null() ? "contiguous" : "chunks " + dims_text(d["chunks"]);
    std::snprintf(line, sizeof line, "    %-*s  %-*s  %-*s  %s, %s\n", int(name_w),
                  d["name"].get<std::string>().c_str(), int(shape_w), dims_text(d["shape"]).c_str(), int(type_w),
                  d["dtype"].get<std::string>().c_str(), layout.c_str(),
                  human_bytes(d["storage_bytes"].get<double>()).c_str());
    os << line;
    for (const auto& [name, value] : d["attributes"].items()) os << "      @" << name << " = " << value.dump() << "\n";
  }
  os << "  attributes:\n";
  for (const auto& [name, value] : j["attributes"].items())
    os << "    " << name << " = " << (value.is_string() ? value.get<std::string>() : value.dump()) << "\n";
  for (const auto& s : j["skipped_attributes"]) os << "    (not shown: " << s.get<std::string>() << ")\n";
  return os.str();
}

}  // namespace

FileSummary describe(const std::string& path) {
  H5Handle file = detail::open_readonly(path);
  const H5Where where{path, ""};
  json j;
  j["path"] = path;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw InputError(path, "cannot stat");
  j["file_bytes"] = std::int64_t(st.st_size);
  j["disk_bytes"] = std::int64_t(st.st_blocks) * 512;  // sparse: only what was written

  std::vector<std::string> skipped;
  const Attributes attrs = detail::read_attributes(file.get(), path, where, &skipped);
  j["attributes"] = attributes_json(attrs);
  j["datasets"] = json::array();
  for (const auto& name : all_links(file.get(), where))
    if (detail::is_dataset(file.get(), name, where))
      j["datasets"].push_back(dataset_json(file.get(), path, name, &skipped));
  j["skipped_attributes"] = skipped;

  j["format"] = nullptr;
  j["format_version"] = nullptr;
  j["complete"] = nullptr;
  j["chunks_done"] = nullptr;
  j["chunks_total"] = nullptr;
  if (detail::is_cache_format(attrs)) {
    j["format"] = cache_names::kCacheFormat;
    j["format_version"] = attrs.get_int(cache_names::attr::kFormatVersion);
    j["complete"] = detail::is_finalized(attrs);
    const auto flags = detail::read_complete_flags(file.get(), path);
    std::int64_t done = 0;
    for (auto f : flags) done += f ? 1 : 0;
    j["chunks_done"] = done;
    j["chunks_total"] = std::int64_t(flags.size());
  }
  return {text_of(j), j.dump(2)};
}

}  // namespace fathom::store
