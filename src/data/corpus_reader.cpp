// CorpusReader: row range, the checks every format shares (UTF-8, empty text,
// labels, duplicate ids) and the fail/skip policy. Formats only split and
// extract fields (corpus_jsonl/tsv/csv.cpp).
#include <unordered_set>

#include "corpus_internal.h"
#include "fathom/core/error.h"
#include "fathom/data/utf8.h"

namespace fathom::data {

struct CorpusReader::Impl {
  std::string path, format;
  CorpusOptions opt;
  Range rows;
  std::unique_ptr<corpus_detail::RecordSource> src;
  corpus_detail::RawRecord raw;
  std::unordered_set<std::string> labels;
  corpus_detail::IdIndex ids;  // for duplicate detection
  std::int64_t index = 0;  // number of the next record in the file
  std::int64_t read = 0, skipped = 0;
  std::vector<std::int64_t> skipped_lines;
  std::vector<std::string> skip_messages;
  bool done = false;

  void check_utf8(const std::string& field, const std::string& value, std::int64_t line) const {
    std::size_t bad = 0;
    if (!corpus_detail::utf8_valid_fast(value) && !valid_utf8(value, &bad)) {
      throw InputError(path, line, field,
                       "invalid UTF-8 at byte " + std::to_string(bad + 1) +
                           " of the value; expected UTF-8 text");
    }
  }

  std::string expected_labels() const {
    std::string s;
    std::size_t shown = 0;
    for (const auto& l : opt.label_set) {
      if (shown == 5) break;
      s += (shown++ ? ", '" : "'") + l + "'";
    }
    if (opt.label_set.size() > shown) {
      s += " (and " + std::to_string(opt.label_set.size() - shown) + " more)";
    }
    return s;
  }

  // Validates `raw` (current record, number `i`) and moves it into `ex`.
  void build(std::int64_t i, Example& ex) {
    const std::int64_t line = src->line();
    const bool utf8 = !src->validates_utf8();
    if (opt.id_field.empty()) {
      ex.id = std::to_string(i);
    } else {
      if (!raw.has_id) {
        throw InputError(path, line, opt.id_field,
                         "missing; expected a string or integer id (or set id_field to \"\" to "
                         "number records)");
      }
      if (raw.id.empty()) throw InputError(path, line, opt.id_field, "empty; expected a non-empty id");
      if (utf8) check_utf8(opt.id_field, raw.id, line);
      ex.id.swap(raw.id);
    }
    if (!raw.has_text) throw InputError(path, line, opt.text_field, "missing; expected a string");
    if (raw.text.empty() && !opt.allow_empty_text) {
      throw InputError(path, line, opt.text_field,
                       "empty; expected non-empty text (allow_empty_text accepts it)");
    }
    if (utf8) check_utf8(opt.text_field, raw.text, line);
    ex.text.swap(raw.text);

    if (raw.has_pair) {
      if (raw.pair.empty() && !opt.allow_empty_text) {
        throw InputError(path, line, opt.pair_field,
                         "empty; expected non-empty text or no such field (allow_empty_text "
                         "accepts it)");
      }
      if (utf8) check_utf8(opt.pair_field, raw.pair, line);
      if (ex.text_pair) ex.text_pair->swap(raw.pair);
      else ex.text_pair.emplace(std::move(raw.pair));
    } else {
      ex.text_pair.reset();
    }

    if (raw.has_label) {
      if (raw.label.empty()) {
        throw InputError(path, line, opt.label_field, "empty; expected a label or no such field");
      }
      if (utf8) check_utf8(opt.label_field, raw.label, line);
      if (!labels.empty() && !labels.count(raw.label)) {
        throw InputError(path, line, opt.label_field,
                         "unknown label '" + raw.label + "'; expected one of " + expected_labels());
      }
      if (ex.label) ex.label->swap(raw.label);
      else ex.label.emplace(std::move(raw.label));
    } else {
      if (opt.require_label) {
        throw InputError(path, line, opt.label_field,
                         "missing; expected a label (require_label is set)");
      }
      ex.label.reset();
    }
    ex.line = line;

    // Last, so a record rejected above does not claim its id.
    if (!opt.id_field.empty()) {
      if (std::int64_t first = ids.insert(ex.id, line)) {
        throw InputError(path, line, opt.id_field,
                         "duplicate id '" + ex.id + "' (first seen on line " +
                             std::to_string(first) + "); expected unique ids");
      }
    }
  }

  void record_skip(const InputError& e) {
    ++skipped;
    if (static_cast<std::int64_t>(skipped_lines.size()) < opt.max_reported) {
      skipped_lines.push_back(e.line());
      skip_messages.push_back(e.what());
    }
  }

  [[noreturn]] void throw_too_many_ids() const {
    throw InputError(path, src->line(), opt.id_field,
                     "more than " + std::to_string(ids.capacity()) +
                         " records with ids, the most duplicate-id detection holds; expected fewer "
                         "records per reader (more ranks), or id_field \"\" to number records");
  }

  // The range is exhausted; a file with no records at all is still an error.
  bool finish() {
    done = true;
    if (index == 0 && !src->advance()) corpus_detail::throw_no_records(path, format);
    return false;
  }
};

CorpusReader::CorpusReader(const std::string& path, const CorpusOptions& options, Range rows)
    : impl_(std::make_unique<Impl>()) {
  if (rows.begin < 0 || (rows.end >= 0 && rows.end < rows.begin) || rows.end < -1) {
    throw InputError(path, 0, "rows",
                     "bad row range [" + std::to_string(rows.begin) + ", " + std::to_string(rows.end) +
                         "); expected 0 <= begin <= end, or end == -1 for the rest of the file");
  }
  Impl& m = *impl_;
  m.path = path;
  m.opt = options;
  m.rows = rows;
  m.format = corpus_detail::resolve_format(path, options);
  m.labels.insert(options.label_set.begin(), options.label_set.end());
  m.src = corpus_detail::open_source(path, m.format, options);
}

CorpusReader::~CorpusReader() = default;
CorpusReader::CorpusReader(CorpusReader&&) noexcept = default;
CorpusReader& CorpusReader::operator=(CorpusReader&&) noexcept = default;

bool CorpusReader::next(Example& out) {
  Impl& m = *impl_;
  if (m.done) return false;
  for (;;) {
    if (m.rows.end >= 0 && m.index >= m.rows.end) return m.finish();
    if (!m.src->advance()) {
      if (m.index == 0) corpus_detail::throw_no_records(m.path, m.format);
      m.done = true;
      return false;
    }
    const std::int64_t i = m.index++;
    if (i < m.rows.begin) continue;  // before the range: split only, never parsed
    ++m.read;
    // Outside the try below: a full id table is fatal even with OnError::skip.
    if (!m.opt.id_field.empty() && m.ids.full()) m.throw_too_many_ids();
    try {
      m.src->parse(m.raw);
      m.build(i, out);
      return true;
    } catch (const InputError& e) {
      if (m.opt.on_error == CorpusOptions::OnError::fail) throw;
      m.record_skip(e);
    }
  }
}

std::int64_t CorpusReader::records_read() const { return impl_->read; }
std::int64_t CorpusReader::skipped() const { return impl_->skipped; }
const std::vector<std::int64_t>& CorpusReader::skipped_lines() const { return impl_->skipped_lines; }
const std::vector<std::string>& CorpusReader::skip_messages() const { return impl_->skip_messages; }
const std::string& CorpusReader::path() const { return impl_->path; }
const std::string& CorpusReader::format() const { return impl_->format; }

}  // namespace fathom::data
