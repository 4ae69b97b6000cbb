#pragma once
// The other methods' outputs an audit cross-references, read leniently (each
// reader says what it accepts) and with errors that name the file, line and
// field (fathom::InputError, exit code 2).
//
//  * kNN mislabel suspects: `fathom knn --audit` JSONL, one row per example:
//    {"id", "label", "disagreement", ...}; value = disagreement.
//  * Self-influence: JSONL rows {"id", "score", "label" (optional), ...}
//    (`fathom self-influence`); value = score. Row order does not matter: the
//    reader ranks by value itself, largest first, ties by file order.
//  * Training loss at the gold label: a gradient cache (`fathom cache
//    --target gold`), its /ids, /labels and /losses; value = loss. Rows
//    without a label are skipped; "line" is the cache row + 1.
//  * Triggers (`fathom triggers` JSON): one trigger object, or {"triggers":
//    [objects]}. A trigger object gives its tokens as "trigger_tokens" (array
//    of strings), "tokens" (array) or "trigger" (a text, split on whitespace,
//    an array, or an object with "tokens" or "text" — fathom triggers'
//    format); optionally "target" / "target_label" (string or integer),
//    "flip_rate" (or "eval": {"flip_rate"}, "after": {"flip_rate"},
//    "flip_rate_after"), and "accuracy_before" / "accuracy_after" (or in
//    "eval", or "before"/"after": {"accuracy"}).
//  * Planted truth: `fathom synth`'s truth.json ("artifacts": [{"token",
//    "label"}], "flipped": [{"id"}]).
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace fathom::audit {

struct RankedRow {
  std::string id;
  std::optional<std::string> label;
  double value = 0;
  std::int64_t line = 0;  // 1-based line in the file
};

// One ranked list of mislabel evidence (kNN disagreement, self-influence or
// the training loss).
// Memory: 8 bytes per row (the values, for percentiles and the histogram)
// plus the `top` rows and the looked-up rows.
struct RankedSource {
  std::string name;                 // "knn" | "self_influence" | "loss"
  std::string path;
  std::string value_field;          // "disagreement" | "score"
  std::int64_t rows = 0;
  std::vector<double> values_desc;  // every row's value, largest first
  std::vector<RankedRow> top;       // the `top` largest rows, largest first (ties by line)
  std::unordered_map<std::string, RankedRow> looked_up;  // rows of the ids asked for (lookup)

  // Share of the rows whose value is not larger than v: 1 for the largest
  // value, ties share the best rank (so a block of equal disagreements is not
  // ordered by chance). 0 when the source has no rows.
  double percentile(double v) const;
  // 1-based rank of value v: 1 + rows with a strictly larger value.
  std::int64_t rank(double v) const;
};

// Reads a ranked JSONL source: every row needs a string (or integer) "id" and
// a finite number in `value_field`; "label" is optional. Keeps the `top`
// largest rows, and the rows whose ids are in `lookup` (if given). A duplicate
// id, a missing field or a malformed line is an InputError naming the line
// and field; an empty file too.
RankedSource read_ranked_source(const std::string& name, const std::string& path, const std::string& value_field,
                                std::int64_t top, const std::unordered_set<std::string>* lookup = nullptr);

// Reads the loss source from a complete gradient cache whose losses are at
// the gold labels (attribute target = "gold"); InputError otherwise, naming
// the cache and what is wrong. Same `top` / `lookup` as read_ranked_source.
RankedSource read_loss_source(const std::string& cache_path, std::int64_t top,
                              const std::unordered_set<std::string>* lookup = nullptr);

// The mislabel sources an audit knows, in report order.
inline constexpr const char* kMislabelSources[] = {"knn", "self_influence", "loss"};

struct Trigger {
  std::vector<std::string> tokens;
  std::optional<std::string> target;
  std::optional<double> flip_rate, accuracy_before, accuracy_after;
};

struct TriggerFile {
  std::string path;
  std::vector<Trigger> triggers;
};

TriggerFile read_triggers(const std::string& path);

struct PlantedTruth {
  struct Artifact {
    std::string token, label;
  };
  std::string path;
  std::vector<Artifact> artifacts;
  std::unordered_set<std::string> flipped;  // ids of examples whose label was flipped
};

PlantedTruth read_truth(const std::string& path);

}  // namespace fathom::audit
