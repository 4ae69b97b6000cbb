#include "writer_file.h"

#include "cache_format.h"
#include "fathom/core/build_info.h"
#include "h5_types.h"

namespace fathom::store::detail {
namespace {

namespace attr = cache_names::attr;
using cache_names::dataset::kComplete;

H5Handle plist(hid_t cls, const H5Where& where) {
  return h5_own(H5Pcreate(cls), H5Kind::plist, "H5Pcreate", where);
}

H5Handle file_access(void* mpi_comm, const H5Where& where) {
  H5Handle fapl = plist(H5P_FILE_ACCESS, where);
  if (mpi_comm) {
    // HDF5 duplicates the communicator, so its traffic never mixes with ours.
    h5_check(H5Pset_fapl_mpio(fapl.get(), *static_cast<MPI_Comm*>(mpi_comm), MPI_INFO_NULL), "H5Pset_fapl_mpio",
             where);
  } else {
    // Lock against a second local writer, but do not fail on file systems
    // without flock (Lustre, some NFS).
    h5_check(H5Pset_file_locking(fapl.get(), true, true), "H5Pset_file_locking", where);
  }
  return fapl;
}

// No chunk cache: a write goes straight to the file (and so survives a
// killed process once H5Dwrite returns), and a chunk is never read back for
// a partial write. MPI-IO bypasses the cache anyway.
H5Handle dataset_access(const H5Where& where) {
  H5Handle dapl = plist(H5P_DATASET_ACCESS, where);
  h5_check(H5Pset_chunk_cache(dapl.get(), H5D_CHUNK_CACHE_NSLOTS_DEFAULT, 0, H5D_CHUNK_CACHE_W0_DEFAULT),
           "H5Pset_chunk_cache", where);
  return dapl;
}

H5Handle create_dataset(hid_t file, const std::string& path, const DatasetSpec& spec, const CacheSchema& schema) {
  const H5Where where{path, spec.name};
  const bool two_d = spec.type != ElementType::str && spec.width > 0;
  const int rank = two_d ? 2 : 1;
  const hsize_t dims[2] = {hsize_t(schema.rows), hsize_t(spec.width)};
  const hsize_t chunk[2] = {hsize_t(schema.rows_per_chunk), hsize_t(spec.width)};
  H5Handle space = h5_own(H5Screate_simple(rank, dims, nullptr), H5Kind::dataspace, "H5Screate_simple", where);
  H5Handle dcpl = plist(H5P_DATASET_CREATE, where);
  h5_check(H5Pset_chunk(dcpl.get(), rank, chunk), "H5Pset_chunk", where);
  // Early allocation: independent MPI-IO writes cannot allocate chunks, and
  // a file whose chunk index is complete at create needs no metadata
  // updates later (crash safety). Never filling: /complete says what is valid,
  // and writing fill values would double the cost of a large cache.
  h5_check(H5Pset_alloc_time(dcpl.get(), H5D_ALLOC_TIME_EARLY), "H5Pset_alloc_time", where);
  h5_check(H5Pset_fill_time(dcpl.get(), H5D_FILL_TIME_NEVER), "H5Pset_fill_time", where);
  // Timestamps would make two writes of the same data differ.
  h5_check(H5Pset_obj_track_times(dcpl.get(), false), "H5Pset_obj_track_times", where);
  H5Handle type = h5_file_type(spec);
  H5Handle dapl = dataset_access(where);
  return h5_own(H5Dcreate2(file, spec.name.c_str(), type.get(), space.get(), H5P_DEFAULT, dcpl.get(), dapl.get()),
                H5Kind::dataset, "H5Dcreate", where);
}

H5Handle create_complete(hid_t file, const std::string& path, const CacheSchema& schema) {
  const H5Where where{path, kComplete};
  const hsize_t dims[1] = {hsize_t(num_chunks(schema.rows, schema.rows_per_chunk))};
  H5Handle space = h5_own(H5Screate_simple(1, dims, nullptr), H5Kind::dataspace, "H5Screate_simple", where);
  H5Handle dcpl = plist(H5P_DATASET_CREATE, where);
  // Contiguous, allocated and zero-filled now: each flag is one byte at a
  // fixed offset, so ranks setting different flags never share a write.
  const std::uint8_t zero = 0;
  h5_check(H5Pset_layout(dcpl.get(), H5D_CONTIGUOUS), "H5Pset_layout", where);
  h5_check(H5Pset_alloc_time(dcpl.get(), H5D_ALLOC_TIME_EARLY), "H5Pset_alloc_time", where);
  h5_check(H5Pset_fill_value(dcpl.get(), H5T_NATIVE_UINT8, &zero), "H5Pset_fill_value", where);
  h5_check(H5Pset_fill_time(dcpl.get(), H5D_FILL_TIME_ALLOC), "H5Pset_fill_time", where);
  h5_check(H5Pset_obj_track_times(dcpl.get(), false), "H5Pset_obj_track_times", where);
  return h5_own(H5Dcreate2(file, kComplete, H5T_STD_U8LE, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
                H5Kind::dataset, "H5Dcreate", where);
}

}  // namespace

WriterFile create_writer_file(const std::string& path, const CacheSchema& schema, void* mpi_comm,
                              const std::string& created_at) {
  const H5Where where{path, ""};
  H5Handle fcpl = plist(H5P_FILE_CREATE, where);
  // Datasets list in schema order (h5py and describe show that order).
  h5_check(H5Pset_link_creation_order(fcpl.get(), H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED),
           "H5Pset_link_creation_order", where);
  H5Handle fapl = file_access(mpi_comm, where);
  WriterFile f;
  f.file = h5_own(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, fcpl.get(), fapl.get()), H5Kind::file, "H5Fcreate", where);
  for (const auto& spec : schema.datasets) f.datasets.push_back(create_dataset(f.file.get(), path, spec, schema));
  f.complete = create_complete(f.file.get(), path, schema);

  Attributes attrs = schema.attributes;
  attrs.set(attr::kFormat, cache_names::kCacheFormat);
  attrs.set(attr::kFormatVersion, cache_names::kCacheFormatVersion);
  attrs.set(attr::kRowsPerChunk, schema.rows_per_chunk);
  attrs.set(attr::kCreatedAt, created_at);
  attrs.set(attr::kFathomVersion, FATHOM_VERSION_STRING);
  attrs.set(attr::kComplete, 0);
  for (const auto& [name, value] : attrs.values()) write_attribute(f.file.get(), name, value, where);
  // From here on the file is a valid, empty cache on disk.
  h5_check(H5Fflush(f.file.get(), H5F_SCOPE_GLOBAL), "H5Fflush", where);
  return f;
}

WriterFile open_writer_file(const std::string& path, const CacheSchema& schema, void* mpi_comm) {
  const H5Where where{path, ""};
  H5Handle fapl = file_access(mpi_comm, where);
  WriterFile f;
  f.file = h5_own(H5Fopen(path.c_str(), H5F_ACC_RDWR, fapl.get()), H5Kind::file, "H5Fopen", where);
  for (const auto& spec : schema.datasets) {
    const H5Where w{path, spec.name};
    H5Handle dapl = dataset_access(w);
    f.datasets.push_back(
        h5_own(H5Dopen2(f.file.get(), spec.name.c_str(), dapl.get()), H5Kind::dataset, "H5Dopen", w));
  }
  f.complete =
      h5_own(H5Dopen2(f.file.get(), kComplete, H5P_DEFAULT), H5Kind::dataset, "H5Dopen", {path, kComplete});
  return f;
}

void set_root_attribute(const WriterFile& f, const std::string& path, const std::string& name,
                        const AttrValue& value) {
  write_attribute(f.file.get(), name, value, {path, ""});
}

}  // namespace fathom::store::detail
