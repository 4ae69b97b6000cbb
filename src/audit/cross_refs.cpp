#include "fathom/audit/cross_refs.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <queue>
#include <sstream>

#include "fathom/core/atomic_file.h"
#include "fathom/core/error.h"
#include "fathom/store/cache_names.h"
#include "fathom/store/cache_reader.h"

namespace fathom::audit {
namespace {

using nlohmann::json;

// An id or label may be a string or an integer (like corpus records).
std::optional<std::string> scalar_text(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return std::to_string(v.get<std::int64_t>());
  if (v.is_number_unsigned()) return std::to_string(v.get<std::uint64_t>());
  return std::nullopt;
}

std::optional<double> number(const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_number()) return std::nullopt;
  return it->get<double>();
}

// "key" directly, or obj[outer][inner].
std::optional<double> number_in(const json& obj, const char* outer, const char* inner) {
  auto it = obj.find(outer);
  if (it == obj.end() || !it->is_object()) return std::nullopt;
  return number(*it, inner);
}

json parse_json_file(const std::string& path) {
  const std::string text = read_file(path);
  try {
    return json::parse(text);
  } catch (const json::parse_error& e) {
    // nlohmann reports a byte offset; turn it into a line for the message.
    const std::size_t at = std::min<std::size_t>(e.byte, text.size());
    const auto line = 1 + std::count(text.begin(), text.begin() + std::ptrdiff_t(at ? at - 1 : 0), '\n');
    throw InputError(path, line, "", std::string("malformed JSON: ") + e.what());
  }
}

}  // namespace

double RankedSource::percentile(double v) const {
  if (rows == 0) return 0.0;
  return 1.0 - double(rank(v) - 1) / double(rows);
}

std::int64_t RankedSource::rank(double v) const {
  // values_desc is sorted largest first: count the values > v.
  auto it = std::lower_bound(values_desc.begin(), values_desc.end(), v, std::greater<double>());
  return 1 + std::int64_t(it - values_desc.begin());
}

namespace {

// Builds a RankedSource from rows given one at a time, in file (or cache)
// order: every value for the percentiles, the `top` strongest rows, and the
// rows whose ids are in `lookup`.
class SourceCollector {
 public:
  SourceCollector(const std::string& name, const std::string& path, const std::string& value_field,
                  std::int64_t top, const std::unordered_set<std::string>* lookup)
      : top_(top), lookup_(lookup), heap_(stronger) {
    s_.name = name;
    s_.path = path;
    s_.value_field = value_field;
  }

  void add(RankedRow r) {
    s_.values_desc.push_back(r.value);
    ++s_.rows;
    if (lookup_ && lookup_->count(r.id)) {
      if (s_.looked_up.count(r.id))
        throw InputError(s_.path, r.line, "id", "duplicate id '" + r.id + "' (first on line " +
                                                    std::to_string(s_.looked_up[r.id].line) +
                                                    "); expected one row per example");
      s_.looked_up.emplace(r.id, r);
    }
    if (top_ <= 0) return;
    if (std::int64_t(heap_.size()) < top_) {
      heap_.push(std::move(r));
    } else if (stronger(r, heap_.top())) {
      heap_.pop();
      heap_.push(std::move(r));
    }
  }

  RankedSource finish() {
    std::sort(s_.values_desc.begin(), s_.values_desc.end(), std::greater<double>());
    s_.top.reserve(heap_.size());
    while (!heap_.empty()) {
      s_.top.push_back(heap_.top());
      heap_.pop();
    }
    std::reverse(s_.top.begin(), s_.top.end());
    // Duplicate ids are looked for among the kept and looked-up rows only: a
    // full check would cost memory per row.
    std::unordered_set<std::string> seen;
    for (const auto& r : s_.top) {
      if (!seen.insert(r.id).second)
        throw InputError(s_.path, r.line, "id", "duplicate id '" + r.id + "'; expected one row per example");
    }
    return std::move(s_);
  }

 private:
  // Larger value, then earlier line. As the heap's "less", the heap's top is
  // the weakest row kept.
  static bool stronger(const RankedRow& a, const RankedRow& b) {
    return a.value > b.value || (a.value == b.value && a.line < b.line);
  }

  RankedSource s_;
  std::int64_t top_;
  const std::unordered_set<std::string>* lookup_;
  std::priority_queue<RankedRow, std::vector<RankedRow>, bool (*)(const RankedRow&, const RankedRow&)> heap_;
};

}  // namespace

RankedSource read_ranked_source(const std::string& name, const std::string& path, const std::string& value_field,
                                std::int64_t top, const std::unordered_set<std::string>* lookup) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path, "cannot open file (" + name + " cross-reference)");
  SourceCollector collector(name, path, value_field, top, lookup);
  std::string text;
  std::int64_t line = 0;
  std::int64_t rows = 0;
  while (std::getline(in, text)) {
    ++line;
    if (!text.empty() && text.back() == '\r') text.pop_back();
    if (text.find_first_not_of(" \t") == std::string::npos) continue;
    json row;
    try {
      row = json::parse(text);
    } catch (const json::parse_error& e) {
      throw InputError(path, line, "", std::string("malformed JSON: ") + e.what());
    }
    if (!row.is_object()) throw InputError(path, line, "", "expected a JSON object per line");
    auto id_it = row.find("id");
    std::optional<std::string> id = id_it == row.end() ? std::nullopt : scalar_text(*id_it);
    if (!id) throw InputError(path, line, "id", "missing or not a string/integer; expected the example id");
    auto v_it = row.find(value_field);
    if (v_it == row.end() || !v_it->is_number() || !std::isfinite(v_it->get<double>()))
      throw InputError(path, line, value_field, "missing or not a finite number");
    RankedRow r;
    r.id = std::move(*id);
    r.value = v_it->get<double>();
    r.line = line;
    if (auto l = row.find("label"); l != row.end() && !l->is_null()) r.label = scalar_text(*l);
    collector.add(std::move(r));
    ++rows;
  }
  if (rows == 0) throw InputError(path, "no rows; expected JSONL rows {\"id\", \"" + value_field + "\", ...}");
  return collector.finish();
}

RankedSource read_loss_source(const std::string& cache_path, std::int64_t top,
                              const std::unordered_set<std::string>* lookup) {
  namespace ds = store::cache_names::dataset;
  namespace attr = store::cache_names::attr;
  if (!std::filesystem::exists(cache_path)) throw InputError(cache_path, "cache not found (--cache)");
  const store::CacheReader reader = store::CacheReader::open(cache_path);
  if (!reader.is_complete())
    throw InputError(cache_path, "the cache is incomplete (resume it with fathom cache first)");
  const store::Attributes& a = reader.attributes();
  if (!a.has(attr::kTarget) || a.get_string(attr::kTarget) != "gold")
    throw InputError(cache_path, 0, attr::kTarget,
                     "the cache's losses are not at the gold labels (target '" +
                         (a.has(attr::kTarget) ? a.get_string(attr::kTarget) : std::string("?")) +
                         "'); build it with fathom cache --target gold for the loss cross-reference");
  const std::vector<std::string> names =
      a.has(attr::kLabels) ? a.get_strings(attr::kLabels) : std::vector<std::string>{};
  SourceCollector collector("loss", cache_path, "loss", top, lookup);
  constexpr std::int64_t kBlock = 1 << 16;
  std::vector<float> losses;
  std::vector<std::int64_t> labels;
  for (std::int64_t begin = 0; begin < reader.rows(); begin += kBlock) {
    const std::int64_t n = std::min(kBlock, reader.rows() - begin);
    losses.resize(std::size_t(n));
    labels.resize(std::size_t(n));
    reader.read_rows(ds::kLosses, begin, n, losses.data());
    reader.read_rows(ds::kLabels, begin, n, labels.data());
    std::vector<std::string> ids = reader.read_strings(ds::kIds, begin, n);
    for (std::int64_t i = 0; i < n; ++i) {
      const std::int64_t y = labels[std::size_t(i)];
      if (y < 0) continue;  // unlabelled: no loss at a gold label
      RankedRow r;
      r.id = std::move(ids[std::size_t(i)]);
      r.value = double(losses[std::size_t(i)]);
      r.line = begin + i + 1;
      if (!std::isfinite(r.value))
        throw InputError(cache_path, r.line, "losses", "not a finite number (row " + std::to_string(begin + i) + ")");
      if (y < std::int64_t(names.size())) r.label = names[std::size_t(y)];
      collector.add(std::move(r));
    }
  }
  RankedSource s = collector.finish();
  if (s.rows == 0) throw InputError(cache_path, "no labelled rows: the loss cross-reference needs gold labels");
  return s;
}

TriggerFile read_triggers(const std::string& path) {
  const json root = parse_json_file(path);
  if (!root.is_object()) throw InputError(path, 1, "", "expected a JSON object (fathom triggers output)");
  TriggerFile f;
  f.path = path;
  std::vector<const json*> objects;
  if (auto it = root.find("triggers"); it != root.end() && it->is_array()) {
    for (const auto& t : *it) {
      if (!t.is_object()) throw InputError(path, 0, "triggers", "expected an array of trigger objects");
      objects.push_back(&t);
    }
  } else {
    objects.push_back(&root);
  }
  for (std::size_t i = 0; i < objects.size(); ++i) {
    const json& o = *objects[i];
    Trigger t;
    // A text (split on whitespace), an array of tokens, or fathom triggers'
    // {"ids", "tokens", "text"} object.
    std::function<void(const json&)> add_tokens = [&](const json& v) {
      if (v.is_string()) {
        std::istringstream words(v.get<std::string>());
        for (std::string w; words >> w;) t.tokens.push_back(w);
      } else if (v.is_array()) {
        for (const auto& w : v)
          if (auto s = scalar_text(w)) t.tokens.push_back(*s);
      } else if (v.is_object()) {
        if (auto it = v.find("tokens"); it != v.end() && it->is_array()) add_tokens(*it);
        else if (auto tx = v.find("text"); tx != v.end() && tx->is_string()) add_tokens(*tx);
      }
    };
    for (const char* key : {"trigger_tokens", "tokens", "trigger"}) {
      if (auto it = o.find(key); it != o.end() && t.tokens.empty()) add_tokens(*it);
    }
    if (t.tokens.empty()) {
      const std::string where = objects.size() > 1 ? "triggers[" + std::to_string(i) + "]." : "";
      throw InputError(path, 0, where + "trigger_tokens",
                       "missing; expected a \"trigger_tokens\" array of strings or a \"trigger\" text");
    }
    for (const char* key : {"target", "target_label"}) {
      if (auto it = o.find(key); it != o.end() && !t.target) t.target = scalar_text(*it);
    }
    t.flip_rate = number(o, "flip_rate");
    if (!t.flip_rate) t.flip_rate = number_in(o, "eval", "flip_rate");
    if (!t.flip_rate) t.flip_rate = number(o, "flip_rate_after");
    if (!t.flip_rate) t.flip_rate = number_in(o, "after", "flip_rate");
    t.accuracy_before = number(o, "accuracy_before");
    if (!t.accuracy_before) t.accuracy_before = number_in(o, "eval", "accuracy_before");
    if (!t.accuracy_before) t.accuracy_before = number_in(o, "before", "accuracy");
    t.accuracy_after = number(o, "accuracy_after");
    if (!t.accuracy_after) t.accuracy_after = number_in(o, "eval", "accuracy_after");
    if (!t.accuracy_after) t.accuracy_after = number_in(o, "after", "accuracy");
    f.triggers.push_back(std::move(t));
  }
  return f;
}

PlantedTruth read_truth(const std::string& path) {
  const json root = parse_json_file(path);
  if (!root.is_object()) throw InputError(path, 1, "", "expected a JSON object (fathom synth truth.json)");
  PlantedTruth t;
  t.path = path;
  if (auto it = root.find("artifacts"); it != root.end()) {
    if (!it->is_array()) throw InputError(path, 0, "artifacts", "expected an array of {\"token\", \"label\"}");
    for (const auto& a : *it) {
      auto tok = a.is_object() && a.contains("token") ? scalar_text(a["token"]) : std::nullopt;
      auto lab = a.is_object() && a.contains("label") ? scalar_text(a["label"]) : std::nullopt;
      if (!tok || !lab) throw InputError(path, 0, "artifacts", "expected objects with \"token\" and \"label\"");
      t.artifacts.push_back({*tok, *lab});
    }
  }
  if (auto it = root.find("flipped"); it != root.end()) {
    if (!it->is_array()) throw InputError(path, 0, "flipped", "expected an array of {\"id\", ...}");
    for (const auto& f : *it) {
      auto id = f.is_object() && f.contains("id") ? scalar_text(f["id"]) : std::nullopt;
      if (!id) throw InputError(path, 0, "flipped", "expected objects with an \"id\"");
      t.flipped.insert(*id);
    }
  }
  return t;
}

}  // namespace fathom::audit
