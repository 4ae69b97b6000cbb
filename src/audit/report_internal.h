#pragma once
// Private to src/audit: the report's data model (JSON) and its renderers.
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "fathom/audit/audit.h"
#include "fathom/audit/cross_refs.h"

namespace fathom::audit::detail {

using ojson = nlohmann::ordered_json;

// One point of the z* vs frequency scatter: a token at its most
// over-represented label.
struct ScatterPoint {
  std::string token;
  std::int64_t n = 0;
  double z = 0;
  int label = 0;
  bool significant = false;
  bool labelled = false;  // drawn with its text (an outlier)
};

// Everything rank 0 knows once the counts are merged.
struct ReportInputs {
  const AuditOptions* options = nullptr;
  const TokenLabelCounts* counts = nullptr;
  const TokenStatistics* stats = nullptr;
  Tokenize tokenize;
  std::string tokenization;  // "words" or "bundle (<kind>)"
  std::int64_t records = 0, skipped = 0;
  std::vector<RankedSource> sources;  // knn, self_influence (those given)
  std::optional<TriggerFile> triggers;
  std::optional<PlantedTruth> truth;
  std::unordered_map<std::string, KeptExample> kept;  // texts of the mislabel candidates
  ojson timing, memory;
};

// report.json's object; fills `scatter` with the points the page draws.
ojson build_report(const ReportInputs& in, std::vector<ScatterPoint>& scatter);

// The self-contained HTML page for a report.json object and its scatter.
std::string render_html(const ojson& report, const std::vector<ScatterPoint>& scatter);

// A finite double, or null (JSON has no infinities).
inline ojson number_or_null(double v) { return std::isfinite(v) ? ojson(v) : ojson(nullptr); }

}  // namespace fathom::audit::detail
