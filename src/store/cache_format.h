#pragma once
// The on-disk contract of a fathom cache (see schema.h for the layout): its
// read-side helpers shared by the reader, the writer's resume check and
// describe (the names are in cache_names.h).
#include <cstdint>
#include <string>
#include <vector>

#include "fathom/store/cache_names.h"
#include "fathom/store/schema.h"
#include "h5_handle.h"

namespace fathom::store::detail {

// Sequential, read-only open without file locking: readers (and `fathom
// inspect`) must work while a writer holds the file; a cache's metadata is
// fixed once created, so they see a consistent structure. Throws InputError
// for a missing file or one HDF5 cannot open.
H5Handle open_readonly(const std::string& path);

// Names of the root group's links, in creation order when the file tracks
// it (fathom caches do), else in name order.
std::vector<std::string> root_links(hid_t file, const H5Where& where);

// Is this object a dataset?
bool is_dataset(hid_t file, const std::string& name, const H5Where& where);

// True when `attrs` mark a fathom cache (attr::kFormat == kCacheFormat).
bool is_cache_format(const Attributes& attrs);
// True when the root attribute complete is 1 (finalized).
bool is_finalized(const Attributes& attrs);

// The schema of an open cache: rows, rows_per_chunk, datasets (creation
// order) and the caller's (non-reserved) attributes. `all_attributes`, if
// given, receives every root attribute. Throws InputError when the file is
// not a fathom cache or is newer than this reader.
CacheSchema read_cache_schema(hid_t file, const std::string& path, Attributes* all_attributes = nullptr);

// /complete, one byte per row-chunk.
std::vector<std::uint8_t> read_complete_flags(hid_t file, const std::string& path);

// "" if `file` and `run` describe the same cache, else the first difference
// as "<what>: file has X, this run has Y" (attributes in name order).
std::string schema_difference(const CacheSchema& file, const CacheSchema& run);

}  // namespace fathom::store::detail
