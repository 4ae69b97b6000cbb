#pragma once
// fathom element types <-> HDF5 datatypes, and typed attribute I/O.
#include <string>

#include "fathom/store/schema.h"
#include "h5_handle.h"

namespace fathom::store::detail {

// IEEE binary16, little-endian: a real 16-bit float type (h5py: float16).
H5Handle h5_half_type();
// Fixed-length, null-padded UTF-8 string of `width` bytes.
H5Handle h5_fixed_string_type(std::int64_t width);
// Variable-length UTF-8 string (attributes only).
H5Handle h5_vlen_string_type();

// The file type for a dataset element (little-endian, portable).
H5Handle h5_file_type(const DatasetSpec& spec);
// The memory type our buffers use: float for f32, binary16 bits for f16
// (we convert ourselves), int64, fixed strings.
H5Handle h5_memory_type(const DatasetSpec& spec);

// The fathom element type of an HDF5 type, or false if it has none (e.g. uint8).
// For strings, width = string size in bytes (variable-length: false).
bool element_type_of_h5_type(hid_t type, ElementType* type_out, std::int64_t* str_width);

// "f32", "f16", "int64", "uint8", "string[12]", "vlen string", "compound"...
std::string h5_type_text(hid_t type);

// Attributes of an object (file root, group, dataset).
void write_attribute(hid_t obj, const std::string& name, const AttrValue& value, const H5Where& where);
// All attributes of `obj` that map to an AttrValue (others are skipped and,
// if `skipped` is given, named there with their type).
Attributes read_attributes(hid_t obj, const std::string& source, const H5Where& where,
                           std::vector<std::string>* skipped = nullptr);

}  // namespace fathom::store::detail
