#pragma once
// Creating and reopening the HDF5 file behind a CacheWriter. In MPI-IO mode
// every function here is COLLECTIVE (HDF5 metadata operations are).
#include <string>
#include <vector>

#include "fathom/store/schema.h"
#include "h5_handle.h"

namespace fathom::store::detail {

struct WriterFile {
  // Declared first so it is closed last: HDF5 refuses to close a file with
  // open objects under MPI-IO.
  H5Handle file;
  std::vector<H5Handle> datasets;  // schema.datasets order
  H5Handle complete;               // /complete
};

// `mpi_comm`: pointer to an MPI_Comm for MPI-IO, nullptr for sequential.
// Creates every dataset fully allocated, /complete zeroed, all attributes,
// then flushes so the file is valid from here on whatever happens to the
// writer. `schema` must be resolved.
WriterFile create_writer_file(const std::string& path, const CacheSchema& schema, void* mpi_comm,
                              const std::string& created_at);

// Opens an existing cache read-write (its schema already checked).
WriterFile open_writer_file(const std::string& path, const CacheSchema& schema, void* mpi_comm);

// Writes `value` to the root attribute `name` (COLLECTIVE in MPI-IO mode,
// identical values on every rank).
void set_root_attribute(const WriterFile& f, const std::string& path, const std::string& name,
                        const AttrValue& value);

}  // namespace fathom::store::detail
