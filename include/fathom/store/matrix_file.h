#pragma once
// A small HDF5 file of whole named arrays: 2-D float32 matrices and 1-D
// string lists, plus typed root attributes. For outputs that are not
// row-chunked caches (the query x train influence score matrix, whose
// datasets have different row counts): written in one go by one process,
// read whole.
//
// Layout: /<name> float32 [rows, cols] for each matrix, /<name> variable-
// length UTF-8 strings [n] for each string list (h5py: bytes objects; read
// with .asstr()), root attributes as in schema.h (Attributes). Datasets are
// listed in creation order (matrices first, then string lists, each in name
// order).
//
// Who calls what: write_matrix_file is ONE PROCESS (not collective; the
// caller gathers the data first); read_matrix_file is ANY RANK, independent.
// Not thread-safe (HDF5 is built without thread safety).
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "fathom/store/schema.h"

namespace fathom::store {

struct FloatMatrix {
  std::int64_t rows = 0;
  std::int64_t cols = 0;
  std::vector<float> values;  // row-major [rows * cols]
};

struct MatrixFile {
  Attributes attributes;
  std::map<std::string, FloatMatrix> matrices;
  std::map<std::string, std::vector<std::string>> strings;
};

// Writes `file` to "<path>.tmp.<pid>", fsyncs and renames it over `path`
// (a reader never sees a half-written file). UsageError for a matrix whose
// values do not hold rows * cols numbers, a name that is empty or contains
// '/', or a name used twice; Error (with the HDF5 error stack) on I/O failure.
void write_matrix_file(const std::string& path, const MatrixFile& file);

// Reads every 2-D float dataset (f32 or f16, converted to float) into
// `matrices`, every 1-D string dataset (fixed or variable length) into
// `strings`, and the root attributes (source = path). Other datasets are
// skipped. InputError when the file is missing or not HDF5.
MatrixFile read_matrix_file(const std::string& path);

}  // namespace fathom::store
