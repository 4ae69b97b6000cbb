#include "h5_handle.h"

#include "fathom/core/error.h"

namespace fathom::store::detail {

std::string H5Where::text() const {
  std::string s = "file '" + file + "'";
  if (!object.empty()) s += ", object '" + object + "'";
  return s;
}

H5Handle& H5Handle::operator=(H5Handle&& o) noexcept {
  if (this != &o) {
    reset();
    id_ = o.id_;
    kind_ = o.kind_;
    o.id_ = H5I_INVALID_HID;
  }
  return *this;
}

herr_t H5Handle::close_id() noexcept {
  switch (kind_) {
    case H5Kind::file: return H5Fclose(id_);
    case H5Kind::group: return H5Gclose(id_);
    case H5Kind::dataset: return H5Dclose(id_);
    case H5Kind::dataspace: return H5Sclose(id_);
    case H5Kind::datatype: return H5Tclose(id_);
    case H5Kind::attribute: return H5Aclose(id_);
    case H5Kind::plist: return H5Pclose(id_);
  }
  return -1;
}

void H5Handle::reset() noexcept {
  if (id_ >= 0) close_id();
  id_ = H5I_INVALID_HID;
}

void H5Handle::close(const H5Where& where) {
  if (id_ < 0) return;
  const herr_t rc = close_id();
  id_ = H5I_INVALID_HID;
  h5_check(rc, "close", where);
}

void h5_silence() {
  // Per thread in thread-safe builds; the library may also have been
  // re-initialised (H5close at MPI_Finalize), so this is not a call_once.
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
}

namespace {
herr_t collect(unsigned n, const H5E_error2_t* err, void* out) {
  auto& s = *static_cast<std::string*>(out);
  if (n > 0) s += "; ";
  s += err->func_name ? err->func_name : "?";
  s += ": ";
  // Some descriptions embed ctime() output with its newline; keep one line.
  std::string desc = err->desc ? err->desc : "(no description)";
  for (char& c : desc)
    if (c == '\n') c = ' ';
  while (!desc.empty() && desc.back() == ' ') desc.pop_back();
  s += desc;
  return 0;
}
}  // namespace

std::string h5_error_stack() {
  std::string s;
  // Upward = innermost (the actual cause) first.
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, collect, &s);
  return s.empty() ? "no HDF5 error stack" : s;
}

void h5_fail(const std::string& what, const H5Where& where) {
  const std::string stack = h5_error_stack();
  H5Eclear2(H5E_DEFAULT);
  throw Error("HDF5 " + what + " failed (" + where.text() + "): " + stack);
}

H5Handle h5_own(hid_t id, H5Kind kind, const char* what, const H5Where& where) {
  if (id < 0) h5_fail(what, where);
  return H5Handle(id, kind);
}

}  // namespace fathom::store::detail
