#include "h5_rows.h"

namespace fathom::store::detail {

RowSelection select_rows(hid_t dataset, const DatasetSpec& spec, std::int64_t begin, std::int64_t count,
                         const H5Where& where) {
  RowSelection s;
  s.file = h5_own(H5Dget_space(dataset), H5Kind::dataspace, "H5Dget_space", where);
  const int rank = spec.type != ElementType::str && spec.width > 0 ? 2 : 1;
  const hsize_t start[2] = {hsize_t(begin), 0};
  const hsize_t shape[2] = {hsize_t(count), hsize_t(spec.width)};
  h5_check(H5Sselect_hyperslab(s.file.get(), H5S_SELECT_SET, start, nullptr, shape, nullptr), "H5Sselect_hyperslab",
           where);
  s.memory = h5_own(H5Screate_simple(rank, shape, nullptr), H5Kind::dataspace, "H5Screate_simple", where);
  return s;
}

}  // namespace fathom::store::detail
