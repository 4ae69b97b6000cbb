// Training-row texts, snippets and printed numbers shared by kNN and
// representer points (training_texts.h).
#include "training_texts.h"

#include <cstdio>
#include <cstdlib>

#include "fathom/core/error.h"

namespace fathom::attrib::detail {
namespace {

std::string record_text(const data::Example& e) {
  return e.text_pair ? e.text + " [SEP] " + *e.text_pair : e.text;
}

}  // namespace

double round6(double p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", p);
  return std::strtod(buf, nullptr);
}

std::string snippet(const std::string& text, std::int64_t chars) {
  if (chars <= 0) return text;
  std::int64_t seen = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const bool starts_code_point = (static_cast<unsigned char>(text[i]) & 0xC0) != 0x80;
    if (starts_code_point && seen++ == chars) return text.substr(0, i) + "...";
  }
  return text;
}

std::vector<std::string> read_training_texts(const std::string& corpus, const data::CorpusOptions& options,
                                             const std::vector<std::string>& ids, std::int64_t snippet_chars) {
  std::vector<std::string> texts;
  texts.reserve(ids.size());
  data::CorpusReader reader(corpus, options);
  data::Example e;
  while (reader.next(e)) {
    const std::int64_t record = reader.records_read() - 1;
    if (reader.skipped() > 0 || record != std::int64_t(texts.size()))
      throw InputError(corpus, "record " + std::to_string(texts.size()) +
                                     " was skipped: cache rows are corpus records, so every record must be read "
                                     "(drop --on-error skip)");
    if (record >= std::int64_t(ids.size()))
      throw InputError(corpus, e.line, "id",
                       "the corpus has more records than the cache has rows (" + std::to_string(ids.size()) +
                           "): it is not the corpus the cache was built from");
    if (e.id != ids[std::size_t(record)])
      throw InputError(corpus, e.line, "id",
                       "record " + std::to_string(record) + " has id '" + e.id + "', but row " +
                           std::to_string(record) + " of the cache has id '" + ids[std::size_t(record)] +
                           "' (the first mismatch): it is not the corpus the cache was built from");
    texts.push_back(snippet(record_text(e), snippet_chars));
  }
  if (texts.size() != ids.size())
    throw InputError(corpus, "the corpus has " + std::to_string(texts.size()) + " records, the cache " +
                                   std::to_string(ids.size()) + " rows: it is not the corpus the cache was built from");
  return texts;
}

}  // namespace fathom::attrib::detail
