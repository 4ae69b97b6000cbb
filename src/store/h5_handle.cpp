#include "h5_handle.h"

#include "fathom/core/error.h"

namespace fathom::store::detail {

std::string H5Where::text() const {
  std::string s = "file '" + file + "'";
  if (!object.empty()) s += ", object '" + object + "'";
  return s;
}

herr_t H5Closer::operator()(hid_t id) const noexcept {
  switch (kind) {
    case H5Kind::file: return H5Fclose(id);
    case H5Kind::group: return H5Gclose(id);
    case H5Kind::dataset: return H5Dclose(id);
    case H5Kind::dataspace: return H5Sclose(id);
    case H5Kind::datatype: return H5Tclose(id);
    case H5Kind::attribute: return H5Aclose(id);
    case H5Kind::plist: return H5Pclose(id);
  }
  return -1;
}

void h5_close(H5Handle& handle, const H5Where& where) {
  if (!handle) return;
  const herr_t rc = handle.get_deleter()(handle.release());
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
