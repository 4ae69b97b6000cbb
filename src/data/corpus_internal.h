#pragma once
// Private to the corpus_*.cpp files: the line reader and the per-format record
// sources that CorpusReader and count_records share, so that record splitting
// (and therefore record numbering) is the same code in both.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fathom/data/corpus.h"

namespace fathom::data::corpus_detail {

// valid_utf8 (utf8.h) with ASCII skipped 8 bytes at a time
// (corpus_utf8.cpp): every text value is checked, so this is on the hot path.
// Same verdict as valid_utf8; call that for the offset of a bad byte.
bool utf8_valid_fast(std::string_view s);

// Buffered line splitter over a file: fixed 1 MiB buffer, memchr for '\n'.
// Lines are returned without '\n' and without one trailing '\r'; a UTF-8 BOM
// at the start of the file is dropped.
class LineReader {
 public:
  static constexpr std::size_t kBufferSize = 1 << 20;
  explicit LineReader(const std::string& path);  // InputError if not readable
  ~LineReader();
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  // The view stays valid until the next call.
  bool next(std::string_view& line);
  // 1-based number of the line last returned.
  std::int64_t line_number() const { return line_no_; }
  const std::string& path() const { return path_; }

 private:
  bool fill();
  std::string path_;
  int fd_ = -1;
  std::vector<char> buf_;
  std::size_t pos_ = 0, end_ = 0;
  std::string carry_;  // a line that straddles two buffer fills
  bool carry_returned_ = false;
  bool eof_ = false;
  std::int64_t line_no_ = 0;
};

// Raw field values of one record, before the checks every format shares.
// has_* = the field is present (jsonl key present and not null for optional
// fields; tsv/csv: column exists, and for pair/label the cell is non-empty).
struct RawRecord {
  std::string id, text, pair, label;
  bool has_id = false, has_text = false, has_pair = false, has_label = false;
};

// One format's record splitter + parser.
class RecordSource {
 public:
  virtual ~RecordSource() = default;
  // Moves to the next record without parsing it; false at end of file. Throws
  // InputError only for fatal problems (I/O, unterminated CSV quote).
  virtual bool advance() = 0;
  // 1-based line where the current record starts.
  virtual std::int64_t line() const = 0;
  // Parses the current record; throws InputError for a bad record.
  virtual void parse(RawRecord& out) = 0;
  // Whether parse() already guarantees valid UTF-8 (the JSON lexer does).
  virtual bool validates_utf8() const = 0;
};

// Fast path for one JSONL line (corpus_jsonl_scan.cpp): a strict JSON object
// scanner that fills the wanted top-level fields. Returns true only for a
// well-formed object whose wanted fields have accepted types and whose values
// nlohmann would produce identically; on false the caller re-parses with
// nlohmann, which either accepts the line or explains the error.
class JsonFieldScanner {
 public:
  explicit JsonFieldScanner(const CorpusOptions& options);
  bool scan(std::string_view line, RawRecord& out);

 private:
  void ws();
  bool eat(char c);
  bool read_u4(std::uint32_t& v);
  bool string(std::string_view& out, std::string& buf);
  bool number(bool& integer);  // sets number_
  bool literal(const char* word);
  bool skip_value(int depth);
  bool wanted_value(int role, RawRecord& out);

  std::string names_[4];  // id, text, pair, label ("" = not read)
  const char* p_ = nullptr;
  const char* end_ = nullptr;
  std::string key_buf_, scratch_;  // decoded strings that contain escapes
  std::string_view number_;
};

// Set of ids seen so far with the line of each (corpus_ids.cpp).
class IdIndex {
 public:
  // Entry indices are 32-bit inside the slots.
  static constexpr std::uint64_t kMaxIds = 0xFFFFFFFFULL;
  explicit IdIndex(std::uint64_t capacity = kMaxIds) : capacity_(capacity < kMaxIds ? capacity : kMaxIds) {}

  // True once `capacity` ids are recorded: the caller must stop before
  // inserting another (the reader turns this into an InputError).
  bool full() const { return entries_.size() >= capacity_; }
  std::uint64_t capacity() const { return capacity_; }
  // 0 if `id` is new (it is recorded with `line`, which must be >= 1);
  // otherwise the line where it was first seen. Throws fathom::Error if a new
  // id arrives when full().
  std::int64_t insert(std::string_view id, std::int64_t line);

 private:
  struct Entry {
    std::uint64_t hash;
    std::size_t offset;  // the id is arena_[offset, offset + len)
    std::int64_t line;
    std::size_t len;
  };
  void grow();
  std::uint64_t capacity_;
  std::vector<Entry> entries_;       // in insertion order
  std::vector<std::uint64_t> slots_;  // high 32 bits: hash tag; low: entry index + 1; 0 = empty
  std::string arena_;                // all ids, back to back
};

// Resolves "auto" and checks the options; throws UsageError.
std::string resolve_format(const std::string& path, const CorpusOptions& options);
// Opens the source for a resolved format (reads the tsv/csv header).
std::unique_ptr<RecordSource> open_source(const std::string& path, const std::string& format,
                                          const CorpusOptions& options);

std::unique_ptr<RecordSource> open_jsonl(const std::string& path, const CorpusOptions& options);
std::unique_ptr<RecordSource> open_tsv(const std::string& path, const CorpusOptions& options);
std::unique_ptr<RecordSource> open_csv(const std::string& path, const CorpusOptions& options);

// "no records" error shared by the reader and count_records.
[[noreturn]] void throw_no_records(const std::string& path, const std::string& format);

// Maps tsv/csv header names to the fields we read and fills RawRecord from the
// cells of one record.
class Columns {
 public:
  // `kind` names the separator in messages ("tab-separated"/"comma-separated").
  Columns(const std::string& path, std::int64_t header_line, const std::vector<std::string>& names,
          const CorpusOptions& options, const char* kind);
  std::size_t size() const { return names_.size(); }
  // Throws InputError if the cell count is wrong; otherwise fills `out`.
  void assign(const std::vector<std::string_view>& cells, std::int64_t line, RawRecord& out) const;

 private:
  std::string path_;
  std::vector<std::string> names_;
  const char* kind_;
  // Column index of each field, or -1 if not read.
  long id_ = -1, text_ = -1, pair_ = -1, label_ = -1;
};

}  // namespace fathom::data::corpus_detail
