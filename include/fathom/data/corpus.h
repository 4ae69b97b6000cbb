#pragma once
// Streaming corpus readers (JSONL, TSV, CSV) with strict, actionable errors.
//
// Formats
//  * jsonl: one JSON object per line. Blank lines (only spaces, tabs, CR) are
//    skipped and are NOT records. Fields: id (string or integer), text
//    (string), text_pair (string, optional), label (string or integer,
//    optional). null for text_pair/label means "absent". Other keys are
//    ignored; a wanted key that appears twice in one object is an error.
//  * tsv: first non-empty line is the header (column names); each later
//    non-empty line is a record with exactly as many tab-separated cells.
//    There is no quoting or escaping: values cannot contain tabs or newlines.
//  * csv: RFC 4180 with a header record. Quoted fields may contain commas,
//    doubled quotes ("") and newlines; Example::line is the line where the
//    record starts. A quote inside an unquoted field is kept literally;
//    anything but a comma or the end of the record after a closing quote is an
//    error. Quoted newlines are returned as "\n" (CRLF is normalised).
//  * In tsv/csv an empty text_pair/label cell means "absent"; the text_pair and
//    label columns may be missing from the header altogether (unless
//    require_label is set). Empty lines between records are skipped.
//  * All formats: a trailing CR is stripped from every line (CRLF files work)
//    and a UTF-8 byte-order mark at the start of the file is ignored. Values
//    must be valid UTF-8.
//
// Record numbering: records are the data records above, numbered from 0 in
// file order (blank lines and the tsv/csv header are not records). A record
// that fails validation still has its number, so numbering does not depend on
// on_error and count_records() + shard_range() work without parsing.
//
// Errors are fathom::InputError ("<file>:<line>: field '<f>': <problem>",
// exit code 2). File-level problems are always fatal: missing/unreadable file,
// no records at all, bad header (required column missing, duplicate column
// names, invalid UTF-8), and an unterminated CSV quote (it swallowed the rest of
// the file). Record-level problems (malformed JSON, not an object, missing
// field, wrong type, empty text, empty or unknown label, missing required
// label, invalid UTF-8, wrong column count, duplicate id) throw with
// OnError::fail; with OnError::skip the record is dropped, counted in
// skipped(), its line and message kept (up to max_reported), and reading goes
// on. For a duplicate id the first occurrence is kept and later ones are the
// bad records. Bad CorpusOptions throw fathom::UsageError.
//
// Duplicate ids are found with a hash table id -> first line, so memory grows
// with the number of records read: roughly 50-100 bytes plus the id's length
// per record, growth slack included (~5-10 GB for 10^8 records). Only records a reader actually reads are compared: ranks that read
// different shards do not see each other's ids.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "fathom/data/example.h"
#include "fathom/data/shard.h"

namespace fathom::data {

struct CorpusOptions {
  // auto | jsonl | tsv | csv. auto picks by extension: .jsonl/.json -> jsonl,
  // .tsv -> tsv, .csv -> csv (case-insensitive); anything else is a UsageError.
  std::string format = "auto";
  // Key (jsonl) or column name (tsv/csv) of each field. text_field is required
  // and must be non-empty. id_field == "" means "no id field": the id is the
  // 0-based record index. pair_field/label_field == "" mean "never read one".
  std::string id_field = "id";
  std::string text_field = "text";
  std::string pair_field = "text_pair";
  std::string label_field = "label";
  // If non-empty, a label not in this set is an error.
  std::vector<std::string> label_set;
  // Every record must have a (non-empty) label.
  bool require_label = false;
  enum class OnError { fail, skip };
  OnError on_error = OnError::fail;
  // How many skipped records keep their line number and message (<= 0: none).
  int max_reported = 5;
  // Accept "" as text / text_pair.
  bool allow_empty_text = false;
};

// Reads the records of one file whose index is in `rows`, one at a time, with
// a fixed 1 MiB read buffer (memory does not grow with the file, apart from the
// duplicate-id map). Records before rows.begin are only split, not parsed or
// validated, and reading stops at rows.end, so a rank pays mostly for its own
// shard.
class CorpusReader {
 public:
  // Throws InputError if the file cannot be opened or (tsv/csv) its header is
  // bad, or for a bad range (begin < 0, or end != -1 and end < begin; field
  // "rows"); UsageError for bad options.
  CorpusReader(const std::string& path, const CorpusOptions& options, Range rows = Range{});
  ~CorpusReader();
  CorpusReader(CorpusReader&&) noexcept;
  CorpusReader& operator=(CorpusReader&&) noexcept;

  // Fills `out` with the next good record in range and returns true; returns
  // false once the range or the file is exhausted (and on every later call;
  // `out` is then unspecified). Throws InputError for a bad record
  // (OnError::fail), for a file with no records at all even when the range
  // is empty, and (whatever on_error says) once the range holds more records
  // with ids than duplicate-id detection can hold (2^32 - 1). Reuses out's string buffers, so reuse one Example in a loop.
  bool next(Example& out);

  // Records of the range looked at so far, good and skipped (after a full read
  // this is the number of records in the range that exist in the file). Right
  // after next() returns true, the example's record number is
  // rows.begin + records_read() - 1.
  std::int64_t records_read() const;
  std::int64_t skipped() const;
  // Line numbers and messages of the first max_reported skipped records.
  const std::vector<std::int64_t>& skipped_lines() const;
  const std::vector<std::string>& skip_messages() const;
  const std::string& path() const;
  // The resolved format: "jsonl", "tsv" or "csv".
  const std::string& format() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Number of records in the file, by a fast pass that splits records without
// parsing them (memchr over 1 MiB buffers; quote-aware for csv). Agrees with
// the numbering the reader uses. Throws InputError like the reader for a
// missing/unreadable file, a bad header, an unterminated CSV quote, or a file
// with no records; so the result is >= 1.
std::int64_t count_records(const std::string& path, const CorpusOptions& options);

// The next good records of `reader`, at most `max` (fewer at the end; empty
// once it is exhausted): how query files are read block by block.
std::vector<Example> read_up_to(CorpusReader& reader, std::int64_t max);

// Reads the whole file. Logs a warning (spdlog) summarising skipped records.
std::vector<Example> read_corpus(const std::string& path, const CorpusOptions& options);

// Reads the records shard_range(count_records(path), rank, size) of the file:
// concatenating the results of ranks 0..size-1 equals read_corpus (when no
// duplicate ids straddle shards). May return an empty vector when there are
// fewer records than ranks.
std::vector<Example> read_shard(const std::string& path, const CorpusOptions& options, int rank,
                                int size);

}  // namespace fathom::data
