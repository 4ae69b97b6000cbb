#include "h5_types.h"

#include <cstring>

#include "fathom/core/error.h"

namespace fathom::store::detail {
namespace {
const H5Where kTypes{"(datatype)", ""};

H5Handle copy_type(hid_t base) { return h5_own(H5Tcopy(base), H5Kind::datatype, "H5Tcopy", kTypes); }

H5Handle scalar_or_list_space(bool list, std::size_t n, const H5Where& where) {
  if (!list) return h5_own(H5Screate(H5S_SCALAR), H5Kind::dataspace, "H5Screate", where);
  const hsize_t dims[1] = {hsize_t(n)};
  return h5_own(H5Screate_simple(1, dims, nullptr), H5Kind::dataspace, "H5Screate_simple", where);
}

// Creates (replacing any previous) attribute `name` and writes buf.
void put(hid_t obj, const std::string& name, hid_t file_type, hid_t mem_type, bool list, std::size_t n,
         const void* buf, const H5Where& where) {
  const htri_t exists = H5Aexists(obj, name.c_str());
  h5_check(exists, "H5Aexists", where);
  if (exists > 0) h5_check(H5Adelete(obj, name.c_str()), "H5Adelete", where);
  H5Handle space = scalar_or_list_space(list, n, where);
  H5Handle attr = h5_own(H5Acreate2(obj, name.c_str(), file_type, space.get(), H5P_DEFAULT, H5P_DEFAULT),
                         H5Kind::attribute, "H5Acreate", where);
  // An empty list has no data (and HDF5 refuses a null buffer).
  if (n > 0) h5_check(H5Awrite(attr.get(), mem_type, buf), "H5Awrite", where);
}

template <class T>
void put_numbers(hid_t obj, const std::string& name, hid_t file_type, hid_t mem_type, bool list,
                 const std::vector<T>& values, const H5Where& where) {
  put(obj, name, file_type, mem_type, list, values.size(), values.data(), where);
}

void put_strings(hid_t obj, const std::string& name, bool list, const std::vector<std::string>& values,
                 const H5Where& where) {
  std::vector<const char*> ptrs;
  for (const auto& s : values) ptrs.push_back(s.c_str());
  H5Handle t = h5_vlen_string_type();
  put(obj, name, t.get(), t.get(), list, ptrs.size(), ptrs.data(), where);
}

// Reads every element of an attribute as strings (variable or fixed length).
std::vector<std::string> get_strings(hid_t attr, hid_t file_type, hid_t space, std::size_t n, const H5Where& where) {
  std::vector<std::string> out;
  const htri_t vlen = H5Tis_variable_str(file_type);
  h5_check(vlen, "H5Tis_variable_str", where);
  if (vlen > 0) {
    H5Handle mem = h5_vlen_string_type();
    h5_check(H5Tset_cset(mem.get(), H5Tget_cset(file_type)), "H5Tset_cset", where);
    std::vector<char*> ptrs(n, nullptr);
    h5_check(H5Aread(attr, mem.get(), ptrs.data()), "H5Aread", where);
    for (char* p : ptrs) out.emplace_back(p ? p : "");
    H5Dvlen_reclaim(mem.get(), space, H5P_DEFAULT, ptrs.data());
    return out;
  }
  const std::size_t size = H5Tget_size(file_type);
  std::vector<char> buf(size * n + 1, '\0');
  h5_check(H5Aread(attr, file_type, buf.data()), "H5Aread", where);
  for (std::size_t i = 0; i < n; ++i) {
    const char* p = buf.data() + i * size;
    out.emplace_back(p, strnlen(p, size));
  }
  return out;
}

}  // namespace

H5Handle h5_half_type() {
  // binary16: sign bit 15, exponent bits 10-14 (bias 15), mantissa bits 0-9.
  // The same recipe h5py uses for numpy float16.
  H5Handle t = copy_type(H5T_IEEE_F32LE);
  h5_check(H5Tset_fields(t.get(), 15, 10, 5, 0, 10), "H5Tset_fields", kTypes);
  h5_check(H5Tset_size(t.get(), 2), "H5Tset_size", kTypes);
  h5_check(H5Tset_ebias(t.get(), 15), "H5Tset_ebias", kTypes);
  return t;
}

H5Handle h5_fixed_string_type(std::int64_t width) {
  H5Handle t = copy_type(H5T_C_S1);
  h5_check(H5Tset_size(t.get(), std::size_t(width)), "H5Tset_size", kTypes);
  h5_check(H5Tset_strpad(t.get(), H5T_STR_NULLPAD), "H5Tset_strpad", kTypes);
  h5_check(H5Tset_cset(t.get(), H5T_CSET_UTF8), "H5Tset_cset", kTypes);
  return t;
}

H5Handle h5_vlen_string_type() {
  H5Handle t = copy_type(H5T_C_S1);
  h5_check(H5Tset_size(t.get(), H5T_VARIABLE), "H5Tset_size", kTypes);
  h5_check(H5Tset_cset(t.get(), H5T_CSET_UTF8), "H5Tset_cset", kTypes);
  return t;
}

H5Handle h5_file_type(const DatasetSpec& spec) {
  switch (spec.type) {
    case ElementType::f32: return copy_type(H5T_IEEE_F32LE);
    case ElementType::f16: return h5_half_type();
    case ElementType::i64: return copy_type(H5T_STD_I64LE);
    case ElementType::str: return h5_fixed_string_type(spec.width);
  }
  throw Error("h5_file_type: bad element type");
}

H5Handle h5_memory_type(const DatasetSpec& spec) {
  switch (spec.type) {
    case ElementType::f32: return copy_type(H5T_NATIVE_FLOAT);
    case ElementType::f16: return h5_half_type();  // buffers hold binary16 bits (x86/ARM are little-endian)
    case ElementType::i64: return copy_type(H5T_NATIVE_INT64);
    case ElementType::str: return h5_fixed_string_type(spec.width);
  }
  throw Error("h5_memory_type: bad element type");
}

bool element_type_of_h5_type(hid_t type, ElementType* type_out, std::int64_t* str_width) {
  const std::size_t size = H5Tget_size(type);
  switch (H5Tget_class(type)) {
    case H5T_FLOAT:
      if (size == 4) *type_out = ElementType::f32;
      else if (size == 2) *type_out = ElementType::f16;
      else return false;
      return true;
    case H5T_INTEGER:
      if (size != 8 || H5Tget_sign(type) != H5T_SGN_2) return false;
      *type_out = ElementType::i64;
      return true;
    case H5T_STRING:
      if (H5Tis_variable_str(type) != 0) return false;
      *type_out = ElementType::str;
      *str_width = std::int64_t(size);
      return true;
    default:
      return false;
  }
}

std::string h5_type_text(hid_t type) {
  const std::size_t size = H5Tget_size(type);
  switch (H5Tget_class(type)) {
    case H5T_INTEGER:
      return std::string(H5Tget_sign(type) == H5T_SGN_NONE ? "uint" : "int") + std::to_string(8 * size);
    case H5T_FLOAT: return "f" + std::to_string(8 * size);
    case H5T_STRING:
      return H5Tis_variable_str(type) > 0 ? "vlen string" : "string[" + std::to_string(size) + "]";
    case H5T_COMPOUND: return "compound";
    case H5T_ENUM: return "enum";
    case H5T_ARRAY: return "array";
    case H5T_VLEN: return "vlen";
    case H5T_OPAQUE: return "opaque";
    case H5T_REFERENCE: return "reference";
    case H5T_BITFIELD: return "bitfield";
    default: return "unknown";
  }
}

void write_attribute(hid_t obj, const std::string& name, const AttrValue& value, const H5Where& where_in) {
  const H5Where where{where_in.file, "attribute " + name};
  struct Visitor {
    hid_t obj;
    const std::string& name;
    const H5Where& where;
    void operator()(std::int64_t v) const {
      put_numbers(obj, name, H5T_STD_I64LE, H5T_NATIVE_INT64, false, std::vector<std::int64_t>{v}, where);
    }
    void operator()(double v) const {
      put_numbers(obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, false, std::vector<double>{v}, where);
    }
    void operator()(const std::string& v) const { put_strings(obj, name, false, {v}, where); }
    void operator()(const std::vector<std::string>& v) const { put_strings(obj, name, true, v, where); }
    void operator()(const std::vector<std::int64_t>& v) const {
      put_numbers(obj, name, H5T_STD_I64LE, H5T_NATIVE_INT64, true, v, where);
    }
    void operator()(const std::vector<double>& v) const {
      put_numbers(obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, true, v, where);
    }
  };
  std::visit(Visitor{obj, name, where}, value);
}

namespace {
struct ReadContext {
  const H5Where* where;
  Attributes* out;
  std::vector<std::string>* skipped;
};

herr_t read_one(hid_t obj, const char* name_c, const H5A_info_t*, void* data) {
  auto& ctx = *static_cast<ReadContext*>(data);
  const std::string name = name_c;
  const H5Where where{ctx.where->file, "attribute " + name};
  H5Handle attr = h5_own(H5Aopen(obj, name_c, H5P_DEFAULT), H5Kind::attribute, "H5Aopen", where);
  H5Handle type = h5_own(H5Aget_type(attr.get()), H5Kind::datatype, "H5Aget_type", where);
  H5Handle space = h5_own(H5Aget_space(attr.get()), H5Kind::dataspace, "H5Aget_space", where);
  const H5S_class_t space_class = H5Sget_simple_extent_type(space.get());
  const hssize_t n = H5Sget_simple_extent_npoints(space.get());
  const bool list = space_class == H5S_SIMPLE;
  const H5T_class_t cls = H5Tget_class(type.get());
  const auto skip = [&] {
    if (ctx.skipped) ctx.skipped->push_back(name + " (" + h5_type_text(type.get()) + ")");
    return 0;
  };
  if (space_class == H5S_NULL || n < 0) return skip();
  const std::size_t count = std::size_t(n);
  if (count == 0 && list && (cls == H5T_INTEGER || cls == H5T_FLOAT || cls == H5T_STRING)) {
    // Nothing to read (HDF5 refuses a null buffer); the class says which list.
    if (cls == H5T_INTEGER) ctx.out->set(name, std::vector<std::int64_t>{});
    if (cls == H5T_FLOAT) ctx.out->set(name, std::vector<double>{});
    if (cls == H5T_STRING) ctx.out->set(name, std::vector<std::string>{});
    return 0;
  }
  if (cls == H5T_INTEGER) {
    std::vector<std::int64_t> v(count);
    if (H5Aread(attr.get(), H5T_NATIVE_INT64, v.data()) < 0) {
      H5Eclear2(H5E_DEFAULT);  // e.g. a uint64 beyond int64: not ours, just skip it
      return skip();
    }
    list ? ctx.out->set(name, v) : ctx.out->set(name, v.at(0));
  } else if (cls == H5T_FLOAT) {
    std::vector<double> v(count);
    h5_check(H5Aread(attr.get(), H5T_NATIVE_DOUBLE, v.data()), "H5Aread", where);
    list ? ctx.out->set(name, v) : ctx.out->set(name, v.at(0));
  } else if (cls == H5T_STRING) {
    std::vector<std::string> v = get_strings(attr.get(), type.get(), space.get(), count, where);
    list ? ctx.out->set(name, AttrValue(std::move(v))) : ctx.out->set(name, AttrValue(v.at(0)));
  } else {
    return skip();
  }
  return 0;
}
}  // namespace

Attributes read_attributes(hid_t obj, const std::string& source, const H5Where& where,
                           std::vector<std::string>* skipped) {
  Attributes out(source);
  ReadContext ctx{&where, &out, skipped};
  hsize_t idx = 0;
  // Exceptions must not cross HDF5's C frames: read_one's errors are caught
  // here by running the iteration over names first.
  std::vector<std::string> names;
  const auto collect = [](hid_t, const char* name, const H5A_info_t*, void* data) -> herr_t {
    static_cast<std::vector<std::string>*>(data)->push_back(name);
    return 0;
  };
  h5_check(H5Aiterate2(obj, H5_INDEX_NAME, H5_ITER_INC, &idx, collect, &names), "H5Aiterate", where);
  for (const auto& name : names) read_one(obj, name.c_str(), nullptr, &ctx);
  return out;
}

}  // namespace fathom::store::detail
