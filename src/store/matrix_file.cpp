// Whole-array HDF5 files (matrix_file.h).
#include "fathom/store/matrix_file.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <set>

#include "cache_format.h"
#include "fathom/core/atomic_file.h"
#include "fathom/core/error.h"
#include "h5_types.h"

namespace fathom::store {
namespace {

using detail::h5_check;
using detail::h5_own;
using detail::H5Handle;
using detail::H5Kind;
using detail::H5Where;

void check_name(const std::string& path, const std::string& name, std::set<std::string>& seen) {
  if (name.empty() || name.find('/') != std::string::npos)
    throw UsageError(path + ": dataset name '" + name + "' must be non-empty and contain no '/'");
  if (!seen.insert(name).second) throw UsageError(path + ": dataset name '" + name + "' is used twice");
}

H5Handle simple_space(int ndims, const hsize_t* dims, const H5Where& where) {
  return h5_own(H5Screate_simple(ndims, dims, nullptr), H5Kind::dataspace, "H5Screate_simple", where);
}

void write_matrix(hid_t file, const std::string& path, const std::string& name, const FloatMatrix& m) {
  const H5Where where{path, name};
  const hsize_t dims[2] = {hsize_t(m.rows), hsize_t(m.cols)};
  H5Handle space = simple_space(2, dims, where);
  H5Handle ds = h5_own(H5Dcreate2(file, name.c_str(), H5T_IEEE_F32LE, space.get(), H5P_DEFAULT, H5P_DEFAULT,
                                  H5P_DEFAULT),
                       H5Kind::dataset, "H5Dcreate", where);
  if (!m.values.empty())
    h5_check(H5Dwrite(ds.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, m.values.data()), "H5Dwrite", where);
}

void write_strings(hid_t file, const std::string& path, const std::string& name, const std::vector<std::string>& s) {
  const H5Where where{path, name};
  const hsize_t dims[1] = {hsize_t(s.size())};
  H5Handle space = simple_space(1, dims, where);
  H5Handle type = detail::h5_vlen_string_type();
  H5Handle ds = h5_own(H5Dcreate2(file, name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                       H5Kind::dataset, "H5Dcreate", where);
  std::vector<const char*> ptrs;
  ptrs.reserve(s.size());
  for (const auto& x : s) ptrs.push_back(x.c_str());
  if (!ptrs.empty())
    h5_check(H5Dwrite(ds.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()), "H5Dwrite", where);
}

// Dimensions of a dataset's simple extent (ndims 0..2), false for more.
bool extent(hid_t ds, int* ndims, hsize_t dims[2], const H5Where& where) {
  H5Handle space = h5_own(H5Dget_space(ds), H5Kind::dataspace, "H5Dget_space", where);
  *ndims = H5Sget_simple_extent_ndims(space.get());
  h5_check(*ndims, "H5Sget_simple_extent_ndims", where);
  if (*ndims > 2) return false;
  dims[0] = dims[1] = 0;
  H5Sget_simple_extent_dims(space.get(), dims, nullptr);
  return true;
}

std::vector<std::string> read_string_dataset(hid_t ds, hid_t file_type, std::size_t n, const H5Where& where) {
  std::vector<std::string> out;
  out.reserve(n);
  if (n == 0) return out;
  const htri_t vlen = H5Tis_variable_str(file_type);
  h5_check(vlen, "H5Tis_variable_str", where);
  if (vlen > 0) {
    H5Handle mem = detail::h5_vlen_string_type();
    h5_check(H5Tset_cset(mem.get(), H5Tget_cset(file_type)), "H5Tset_cset", where);
    std::vector<char*> ptrs(n, nullptr);
    h5_check(H5Dread(ds, mem.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()), "H5Dread", where);
    for (char* p : ptrs) out.emplace_back(p ? p : "");
    H5Handle space = h5_own(H5Dget_space(ds), H5Kind::dataspace, "H5Dget_space", where);
    H5Dvlen_reclaim(mem.get(), space.get(), H5P_DEFAULT, ptrs.data());
    return out;
  }
  const std::size_t size = H5Tget_size(file_type);
  std::vector<char> buf(size * n + 1, '\0');
  h5_check(H5Dread(ds, file_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data()), "H5Dread", where);
  for (std::size_t i = 0; i < n; ++i) {
    const char* p = buf.data() + i * size;
    out.emplace_back(p, strnlen(p, size));
  }
  return out;
}

}  // namespace

void write_matrix_file(const std::string& path, const MatrixFile& file) {
  std::set<std::string> seen;
  for (const auto& [name, m] : file.matrices) {
    check_name(path, name, seen);
    if (m.rows < 0 || m.cols < 0 || std::int64_t(m.values.size()) != m.rows * m.cols)
      throw UsageError(path + ": matrix '" + name + "' has " + std::to_string(m.values.size()) + " values for [" +
                       std::to_string(m.rows) + ", " + std::to_string(m.cols) + "]");
  }
  for (const auto& [name, s] : file.strings) check_name(path, name, seen);

  detail::h5_silence();
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const H5Where where{tmp, ""};
  try {
    H5Handle fcpl = h5_own(H5Pcreate(H5P_FILE_CREATE), H5Kind::plist, "H5Pcreate", where);
    h5_check(H5Pset_link_creation_order(fcpl.get(), H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED),
             "H5Pset_link_creation_order", where);
    H5Handle f = h5_own(H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, fcpl.get(), H5P_DEFAULT), H5Kind::file, "H5Fcreate",
                        where);
    for (const auto& [name, m] : file.matrices) write_matrix(f.get(), tmp, name, m);
    for (const auto& [name, s] : file.strings) write_strings(f.get(), tmp, name, s);
    for (const auto& [name, value] : file.attributes.values()) detail::write_attribute(f.get(), name, value, where);
    detail::h5_close(f, where);
    fsync_file(tmp);
  } catch (...) {
    std::remove(tmp.c_str());
    throw;
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    std::remove(tmp.c_str());
    throw Error("cannot rename '" + tmp + "' to '" + path + "': " + why);
  }
}

MatrixFile read_matrix_file(const std::string& path) {
  H5Handle f = detail::open_readonly(path);
  const H5Where where{path, ""};
  MatrixFile out;
  out.attributes = detail::read_attributes(f.get(), path, where);
  for (const std::string& name : detail::root_links(f.get(), where)) {
    if (!detail::is_dataset(f.get(), name, where)) continue;
    const H5Where w{path, name};
    H5Handle ds = h5_own(H5Dopen2(f.get(), name.c_str(), H5P_DEFAULT), H5Kind::dataset, "H5Dopen", w);
    H5Handle type = h5_own(H5Dget_type(ds.get()), H5Kind::datatype, "H5Dget_type", w);
    int ndims = 0;
    hsize_t dims[2];
    if (!extent(ds.get(), &ndims, dims, w)) continue;
    const H5T_class_t cls = H5Tget_class(type.get());
    if (cls == H5T_FLOAT && ndims == 2) {
      FloatMatrix m;
      m.rows = std::int64_t(dims[0]);
      m.cols = std::int64_t(dims[1]);
      m.values.resize(std::size_t(m.rows * m.cols));
      // HDF5 converts f16/f64 to float on read.
      if (!m.values.empty())
        h5_check(H5Dread(ds.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, m.values.data()), "H5Dread", w);
      out.matrices.emplace(name, std::move(m));
    } else if (cls == H5T_STRING && ndims == 1) {
      out.strings.emplace(name, read_string_dataset(ds.get(), type.get(), std::size_t(dims[0]), w));
    }
  }
  return out;
}

}  // namespace fathom::store
