#include "show_explanations.h"

#include <nlohmann/json.hpp>

#include <fstream>
#include <vector>

#include "fathom/core/error.h"

namespace fathom::cli {
namespace {

using json = nlohmann::json;

std::string label_of(const json& entry) {
  return entry.contains("label") && entry["label"].is_string() ? entry["label"].get<std::string>() : "(none)";
}

void show_list(std::ostream& os, const json& line, const char* key, const char* measure, const char* heading) {
  if (!line.contains(key)) return;
  os << "    " << heading << ":\n";
  for (const json& e : line[key]) {
    os << "      " << e.value("id", std::string("?")) << "  [" << label_of(e) << "]  " << measure << " "
       << e.value(measure, 0.0);
    if (e.contains("text")) os << "  \"" << e["text"].get<std::string>() << "\"";
    os << "\n";
  }
}

}  // namespace

void show_explanations(std::ostream& os, const std::string& output_jsonl, const std::string& queries,
                       const data::CorpusOptions& query_options, std::int64_t n) {
  if (n <= 0) return;
  std::vector<std::string> texts;  // the first n query records, in input order
  data::CorpusReader reader(queries, query_options);
  data::Example e;
  while (std::int64_t(texts.size()) < n && reader.next(e))
    texts.push_back(e.text_pair ? e.text + " [SEP] " + *e.text_pair : e.text);

  std::ifstream in(output_jsonl);
  if (!in) throw InputError(output_jsonl, "cannot open the output to show it");
  std::string text;
  for (std::int64_t i = 0; i < n && std::getline(in, text); ++i) {
    json line = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (line.is_discarded()) throw InputError(output_jsonl, i + 1, "", "not a JSON line");
    os << "  " << line.value("id", std::string("?")) << "  predicted " << line.value("prediction", std::string("?"));
    if (line.contains("conformity") && line["conformity"].is_number())
      os << "  (conformity " << line["conformity"].get<double>() << ")";
    os << "\n";
    if (std::size_t(i) < texts.size()) os << "    \"" << texts[std::size_t(i)] << "\"\n";
    show_list(os, line, "neighbors", "distance", "nearest training examples");
    show_list(os, line, "excitatory", "value", "excitatory (support the prediction)");
    show_list(os, line, "inhibitory", "value", "inhibitory (oppose it)");
    show_list(os, line, "proponents", "score", "proponents (removing them would raise the test loss)");
    show_list(os, line, "opponents", "score", "opponents (removing them would lower it)");
  }
}

}  // namespace fathom::cli
