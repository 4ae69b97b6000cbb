// Format resolution and option checks: the one place that decides which
// RecordSource reads a file, shared by CorpusReader and count_records.
#include <algorithm>
#include <cctype>

#include "corpus_internal.h"
#include "fathom/core/error.h"

namespace fathom::data::corpus_detail {
namespace {

std::string lower_extension(const std::string& path) {
  auto slash = path.find_last_of('/');
  auto dot = path.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return "";
  std::string ext = path.substr(dot + 1);
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext;
}

void check_options(const CorpusOptions& o) {
  if (o.text_field.empty()) throw UsageError("corpus: text_field must not be empty");
  if (o.require_label && o.label_field.empty()) {
    throw UsageError("corpus: require_label is set but label_field is empty");
  }
  const std::string* f[] = {&o.id_field, &o.text_field, &o.pair_field, &o.label_field};
  const char* role[] = {"id_field", "text_field", "pair_field", "label_field"};
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < i; ++j) {
      if (!f[i]->empty() && *f[i] == *f[j]) {
        throw UsageError(std::string("corpus: ") + role[j] + " and " + role[i] +
                         " both name the field '" + *f[i] + "'");
      }
    }
  }
}

}  // namespace

std::string resolve_format(const std::string& path, const CorpusOptions& o) {
  check_options(o);
  std::string f = o.format;
  if (f == "auto") {
    std::string ext = lower_extension(path);
    if (ext == "jsonl" || ext == "json") return "jsonl";
    if (ext == "tsv" || ext == "csv") return ext;
    throw UsageError("corpus: cannot tell the format of '" + path + "' from its extension '" + ext +
                     "'; expected .jsonl, .json, .tsv or .csv, or set the format explicitly");
  }
  if (f == "jsonl" || f == "tsv" || f == "csv") return f;
  throw UsageError("corpus: unknown format '" + f + "'; expected auto, jsonl, tsv or csv");
}

std::unique_ptr<RecordSource> open_source(const std::string& path, const std::string& format,
                                          const CorpusOptions& options) {
  if (format == "jsonl") return open_jsonl(path, options);
  if (format == "tsv") return open_tsv(path, options);
  return open_csv(path, options);
}

void throw_no_records(const std::string& path, const std::string& format) {
  if (format == "jsonl") {
    throw InputError(path, "no records: the file is empty or has only blank lines; expected one "
                           "JSON object per line");
  }
  throw InputError(path, "no records: the file has a header but no data rows");
}

}  // namespace fathom::data::corpus_detail
