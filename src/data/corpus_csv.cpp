// CSV source (RFC 4180). Records are split line by line with a small state
// machine, so a quoted newline continues the record; the same splitter serves
// count_records, which keeps record numbering identical without parsing cells.
#include <optional>

#include "corpus_internal.h"
#include "fathom/core/error.h"

namespace fathom::data::corpus_detail {
namespace {

enum State { kFieldStart, kUnquoted, kQuoted, kQuoteInQuoted };

// Advances the state over one physical line; `field` counts commas seen.
// A record ends at a line end unless the state is kQuoted.
State scan(std::string_view s, State st, std::size_t& field) {
  for (char c : s) {
    switch (st) {
      case kFieldStart:
        if (c == '"') st = kQuoted;
        else if (c == ',') ++field;
        else st = kUnquoted;
        break;
      case kUnquoted:  // a '"' here is literal
        if (c == ',') st = kFieldStart, ++field;
        break;
      case kQuoted:
        if (c == '"') st = kQuoteInQuoted;
        break;
      case kQuoteInQuoted:  // "" is an escaped quote; else the field closed
        if (c == '"') st = kQuoted;
        else if (c == ',') st = kFieldStart, ++field;
        else st = kUnquoted;  // bad, reported by split_cells
        break;
    }
  }
  return st;
}

class CsvSource final : public RecordSource {
 public:
  CsvSource(const std::string& path, const CorpusOptions& o) : lines_(path) {
    if (!advance()) throw InputError(path, "file is empty; expected a comma-separated header line");
    split_cells();
    std::vector<std::string> names(views_.begin(), views_.end());
    columns_.emplace(path, start_line_, names, o, "comma-separated");
    names_ = std::move(names);
  }

  bool advance() override {
    std::string_view l;
    do {
      if (!lines_.next(l)) return false;
    } while (l.empty());  // empty lines between records are not records
    start_line_ = lines_.line_number();
    std::size_t field = 0;
    State st = scan(l, kFieldStart, field);
    if (st != kQuoted) {
      record_ = l;  // common case: no copy
      return true;
    }
    joined_.assign(l);
    while (st == kQuoted) {
      if (!lines_.next(l)) {
        std::string name = field < names_.size() ? names_[field] : "";
        throw InputError(lines_.path(), start_line_, name,
                         "unterminated quoted field: the record starting here never closes its "
                         "quote; expected a closing '\"'");
      }
      joined_ += '\n';  // the quoted newline (CR already stripped)
      joined_.append(l);
      st = scan(l, kQuoted, field);
    }
    record_ = joined_;
    return true;
  }
  std::int64_t line() const override { return start_line_; }
  bool validates_utf8() const override { return false; }

  void parse(RawRecord& out) override {
    split_cells();
    columns_->assign(views_, start_line_, out);
  }

 private:
  // Splits record_ into cells. Unquoted cells are views into record_;
  // quoted ones are unescaped into cells_[n]. advance() guarantees every quote
  // is closed.
  void split_cells() {
    const std::string_view r = record_;
    std::size_t i = 0, n = 0;
    spans_.clear();
    for (;;) {  // one cell per iteration; i is at the start of the cell
      if (i < r.size() && r[i] == '"') {
        if (cells_.size() <= n) cells_.resize(n + 1);
        std::string& c = cells_[n];
        c.clear();
        for (++i;;) {
          std::size_t q = r.find('"', i);
          if (q == std::string_view::npos) q = r.size();  // unreachable, see above
          c.append(r.substr(i, q - i));
          i = q + 1;
          if (i < r.size() && r[i] == '"') {  // "" -> "
            c += '"';
            ++i;
            continue;
          }
          break;
        }
        if (i < r.size() && r[i] != ',') {
          std::string name = n < names_.size() ? names_[n] : "";
          throw InputError(lines_.path(), start_line_, name,
                           std::string("unexpected character '") + r[i] +
                               "' after a closing quote; expected ',' or the end of the record "
                               "(write a quote inside a quoted field as \"\")");
        }
        spans_.push_back({true, 0, 0});
      } else {
        std::size_t comma = r.find(',', i);
        if (comma == std::string_view::npos) comma = r.size();
        spans_.push_back({false, i, comma - i});
        i = comma;
      }
      ++n;
      if (i >= r.size()) break;
      ++i;  // past the ','
    }
    // Views are made last: resizing cells_ above may move its strings.
    views_.clear();
    for (std::size_t k = 0; k < spans_.size(); ++k) {
      views_.push_back(spans_[k].quoted ? std::string_view(cells_[k])
                                        : r.substr(spans_[k].begin, spans_[k].len));
    }
  }

  struct Span {
    bool quoted;
    std::size_t begin, len;
  };
  LineReader lines_;
  std::string_view record_;  // the current record (a line view or joined_)
  std::string joined_;       // a record spanning several lines
  std::int64_t start_line_ = 0;
  std::vector<std::string> cells_;  // unescaped quoted cells, reused
  std::vector<Span> spans_;
  std::vector<std::string_view> views_;
  std::vector<std::string> names_;  // header, for messages
  std::optional<Columns> columns_;
};

}  // namespace

std::unique_ptr<RecordSource> open_csv(const std::string& path, const CorpusOptions& options) {
  return std::make_unique<CsvSource>(path, options);
}

}  // namespace fathom::data::corpus_detail
