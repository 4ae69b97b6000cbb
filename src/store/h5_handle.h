#pragma once
// RAII for HDF5 identifiers and HDF5 errors as fathom::Error (private to
// fathom_store: hdf5.h stays out of public headers).
// Parallel hdf5.h includes mpi.h; only its C API is used (OMPI_SKIP_MPICXX is
// set project-wide).
#include <hdf5.h>

#include <string>

#include "fathom/core/unique_handle.h"

namespace fathom::store::detail {

// Which H5*close releases an identifier.
enum class H5Kind { file, group, dataset, dataspace, datatype, attribute, plist };

// Where an HDF5 call failed, for messages: "file '/x.h5', dataset 'losses'".
struct H5Where {
  std::string file;
  std::string object;  // dataset/attribute name, may be empty
  std::string text() const;
};

// Closes an hid_t with the H5*close function of its kind; returns its status.
struct H5Closer {
  H5Kind kind = H5Kind::plist;
  H5Closer() = default;
  H5Closer(H5Kind k) : kind(k) {}  // implicit: H5Handle(id, H5Kind::file)
  herr_t operator()(hid_t id) const noexcept;
};

// Move-only owner of one hid_t; the destructor closes it silently.
using H5Handle = UniqueHandle<hid_t, H5Closer, NullValue<hid_t(H5I_INVALID_HID)>>;

// Closes now and reports failure (closing a file flushes it, so its errors
// matter). The handle is empty afterwards, even when closing failed.
void h5_close(H5Handle& handle, const H5Where& where);

// Turns off HDF5's printing of error stacks to stderr for this thread (we
// throw them instead). Call at every public entry point before HDF5 calls.
void h5_silence();

// The current HDF5 error stack, innermost first: "H5Dwrite: can't ...; ...".
std::string h5_error_stack();

// Throws Error("HDF5 <what> failed (<where>): <stack>").
[[noreturn]] void h5_fail(const std::string& what, const H5Where& where);

// rc < 0 -> h5_fail.
inline void h5_check(herr_t rc, const char* what, const H5Where& where) {
  if (rc < 0) h5_fail(what, where);
}

// Takes ownership of id, or h5_fail when id < 0.
H5Handle h5_own(hid_t id, H5Kind kind, const char* what, const H5Where& where);

}  // namespace fathom::store::detail
