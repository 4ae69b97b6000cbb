#pragma once
// RAII for HDF5 identifiers and HDF5 errors as fathom::Error (private to
// fathom_store: hdf5.h stays out of public headers).
// Parallel hdf5.h includes mpi.h; only its C API (the C++ bindings need
// libmpi_cxx, which MPI::MPI_C does not link).
#ifndef OMPI_SKIP_MPICXX
#define OMPI_SKIP_MPICXX 1
#endif
#ifndef MPICH_SKIP_MPICXX
#define MPICH_SKIP_MPICXX 1
#endif
#include <hdf5.h>

#include <string>

namespace fathom::store::detail {

// Which H5*close releases an identifier.
enum class H5Kind { file, group, dataset, dataspace, datatype, attribute, plist };

// Where an HDF5 call failed, for messages: "file '/x.h5', dataset 'losses'".
struct H5Where {
  std::string file;
  std::string object;  // dataset/attribute name, may be empty
  std::string text() const;
};

// Move-only owner of one hid_t; closes it with the close function of its kind.
class H5Handle {
 public:
  H5Handle() = default;
  H5Handle(hid_t id, H5Kind kind) : id_(id), kind_(kind) {}
  ~H5Handle() { reset(); }
  H5Handle(H5Handle&& o) noexcept : id_(o.id_), kind_(o.kind_) { o.id_ = H5I_INVALID_HID; }
  H5Handle& operator=(H5Handle&& o) noexcept;
  H5Handle(const H5Handle&) = delete;
  H5Handle& operator=(const H5Handle&) = delete;

  hid_t get() const { return id_; }
  explicit operator bool() const { return id_ >= 0; }
  // Closes now and reports failure (closing a file flushes it, so its errors
  // matter); the destructor closes silently.
  void close(const H5Where& where);

 private:
  herr_t close_id() noexcept;
  void reset() noexcept;
  hid_t id_ = H5I_INVALID_HID;
  H5Kind kind_ = H5Kind::plist;
};

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
