// Header handling shared by TSV and CSV: which column holds which field, and
// the cell-count check. Header problems are fatal (they affect every record).
#include <string>

#include "corpus_internal.h"
#include "fathom/core/strings.h"
#include "fathom/core/error.h"
#include "fathom/data/utf8.h"

namespace fathom::data::corpus_detail {
namespace {


}  // namespace

Columns::Columns(const std::string& path, std::int64_t header_line,
                 const std::vector<std::string>& names, const CorpusOptions& o, const char* kind)
    : path_(path), names_(names), kind_(kind) {
  for (std::size_t i = 0; i < names_.size(); ++i) {
    std::size_t bad = 0;
    if (!valid_utf8(names_[i], &bad)) {
      throw InputError(path, header_line, "",
                       "header column " + std::to_string(i + 1) + " is not valid UTF-8 (byte " +
                           std::to_string(bad + 1) + ")");
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (names_[i] == names_[j]) {
        throw InputError(path, header_line, names_[i],
                         "header names this column twice (columns " + std::to_string(j + 1) +
                             " and " + std::to_string(i + 1) + "); expected unique names");
      }
    }
  }
  auto find = [&](const std::string& field, bool required, const char* why) -> long {
    if (field.empty()) return -1;
    for (std::size_t i = 0; i < names_.size(); ++i) {
      if (names_[i] == field) return static_cast<long>(i);
    }
    if (required) {
      throw InputError(path, header_line, field,
                       std::string("no such column in the header (") + why + "); columns are: " +
                           join(names_));
    }
    return -1;
  };
  id_ = find(o.id_field, true, "set id_field to \"\" to number records instead");
  text_ = find(o.text_field, true, "text is required");
  pair_ = find(o.pair_field, false, "");
  label_ = find(o.label_field, o.require_label, "require_label is set");
}

void Columns::assign(const std::vector<std::string_view>& cells, std::int64_t line,
                     RawRecord& out) const {
  if (cells.size() != names_.size()) {
    std::string problem = "expected " + std::to_string(names_.size()) + " " + kind_ +
                          " columns (" + join(names_) + "), got " + std::to_string(cells.size());
    // Too few: name the first missing column, which is where the data ended.
    std::string field = cells.size() < names_.size() ? names_[cells.size()] : "";
    throw InputError(path_, line, field, problem);
  }
  // id and text columns are always "present" (an empty cell is reported as
  // empty); an empty pair/label cell means the record has none.
  out.has_id = id_ >= 0;
  if (out.has_id) out.id.assign(cells[id_]);
  out.has_text = true;
  out.text.assign(cells[text_]);
  out.has_pair = pair_ >= 0 && !cells[pair_].empty();
  if (out.has_pair) out.pair.assign(cells[pair_]);
  out.has_label = label_ >= 0 && !cells[label_].empty();
  if (out.has_label) out.label.assign(cells[label_]);
}

}  // namespace fathom::data::corpus_detail
