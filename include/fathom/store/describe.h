#pragma once
// A summary of any HDF5 file, with fathom caches recognised (for `fathom
// inspect`): datasets (path, shape, dtype, chunking, bytes stored), root and
// dataset attributes, completeness of a cache (row-chunks done / total,
// finalized or not) and the size on disk.
// ANY RANK; read-only, sequential HDF5, works while a writer has the file open.
#include <string>

namespace fathom::store {

struct FileSummary {
  std::string text;  // for people, several lines, ends with '\n'
  // One JSON object: {"path", "file_bytes", "disk_bytes", "format"
  // ("fathom.cache" or null), "format_version", "complete", "chunks_done",
  // "chunks_total", "datasets": [{"name", "shape", "dtype", "chunks" (null =
  // contiguous), "storage_bytes", "attributes"}], "attributes": {...},
  // "skipped_attributes": [...]}. Cache-only keys are null for other files.
  std::string json;
};

// Throws InputError if `path` is missing or not an HDF5 file.
FileSummary describe(const std::string& path);

}  // namespace fathom::store
