// TSV source: header line, then one record per non-empty line, cells split on
// '\t' with no quoting (so splitting a record is just memchr).
#include <cstring>
#include <optional>

#include "corpus_internal.h"
#include "fathom/core/error.h"

namespace fathom::data::corpus_detail {
namespace {

void split_tabs(std::string_view line, std::vector<std::string_view>& cells) {
  cells.clear();
  for (;;) {
    auto* tab = static_cast<const char*>(std::memchr(line.data(), '\t', line.size()));
    if (!tab) break;
    std::size_t n = static_cast<std::size_t>(tab - line.data());
    cells.push_back(line.substr(0, n));
    line.remove_prefix(n + 1);
  }
  cells.push_back(line);
}

class TsvSource final : public RecordSource {
 public:
  TsvSource(const std::string& path, const CorpusOptions& o) : lines_(path) {
    if (!advance()) throw InputError(path, "file is empty; expected a tab-separated header line");
    split_tabs(line_, cells_);
    std::vector<std::string> names(cells_.begin(), cells_.end());
    columns_.emplace(path, lines_.line_number(), names, o, "tab-separated");
  }

  bool advance() override {
    while (lines_.next(line_)) {
      if (!line_.empty()) return true;  // empty lines are not records
    }
    return false;
  }
  std::int64_t line() const override { return lines_.line_number(); }
  bool validates_utf8() const override { return false; }

  void parse(RawRecord& out) override {
    split_tabs(line_, cells_);
    columns_->assign(cells_, line(), out);
  }

 private:
  LineReader lines_;
  std::string_view line_;
  std::vector<std::string_view> cells_;
  std::optional<Columns> columns_;  // set once the header is read
};

}  // namespace

std::unique_ptr<RecordSource> open_tsv(const std::string& path, const CorpusOptions& options) {
  return std::make_unique<TsvSource>(path, options);
}

}  // namespace fathom::data::corpus_detail
