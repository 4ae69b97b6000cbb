// synthesize(): options, the per-example plan (label, flip, artifact) and the
// output files. The grammars live in synth_sentiment.cpp / synth_nli.cpp.
//
// Per example i of a split (each draw from its own stream, synth_rng.h):
//   Text stream:     true label = below(classes), then the grammar's words.
//   Flip stream:     train only; selection sampling (Knuth's Algorithm S:
//                    pick i if below(n_train - i) < flips still needed) gives
//                    EXACTLY round(flip_rate * n_train) flips, uniformly
//                    placed, in one pass without storing indices; the new label
//                    is uniform over the other classes.
//   Artifact stream: train and dev, not flipped, observed label == artifact
//                    label: with probability artifact_rate (so the count is
//                    binomial; truth.json records it) the token is inserted
//                    before a uniformly chosen word (never after the final ".").
#include "fathom/data/synth.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>

#include "fathom/core/error.h"
#include "fathom/core/progress.h"
#include "synth_grammar.h"
#include "synth_io.h"
#include "synth_rng.h"

namespace fathom::data {
namespace {

using nlohmann::ordered_json;
using synth::Purpose;
using synth::Rng;
using synth::Split;

constexpr std::int64_t kMaxN = 1000000000000LL;

std::string fmt_double(double v) {
  return ordered_json(v).dump();
}

void check_unit(const char* name, double v) {
  if (!(v >= 0.0 && v <= 1.0))  // also rejects NaN
    throw UsageError(std::string("synth: option '") + name + "' must be in [0, 1] (got " + fmt_double(v) + ")");
}

std::string make_id(const char* split, std::int64_t index, int width) {
  std::string num = std::to_string(index + 1);
  if (static_cast<int>(num.size()) < width) num.insert(0, width - num.size(), '0');
  return std::string(split) + "-" + num;
}

// Everything decided before the first example is written.
struct Plan {
  SynthOptions opt;
  std::vector<std::string> labels;
  int classes = 0;
  bool nli = false;
  int artifact_label = 0;
  std::string artifact_token;
  std::int64_t flips = 0;  // exact number of train flips
};

// Writes one split; train also records flips in the truth file.
class SplitWriter {
 public:
  SplitWriter(const Plan& plan, SynthSplit& out, synth::TruthWriter& truth, Progress& progress)
      : plan_(plan), out_(out), truth_(truth), progress_(progress) {}

  // Returns the SHA-256 of the written file; counts go to `out_` / the arguments.
  std::string run(Split split, const char* name, std::int64_t count, std::vector<std::int64_t>& original,
                  std::int64_t& artifacts) {
    const int width = std::max<int>(6, static_cast<int>(std::to_string(count).size()));
    const bool plant = split != Split::Test && plan_.opt.artifact_rate > 0.0;
    out_.examples = count;
    out_.label_counts.assign(plan_.classes, 0);
    original.assign(plan_.classes, 0);
    synth::LineWriter writer(out_.path);
    synth::Words text, pair;
    std::int64_t selected = 0, pending = 0;
    for (std::int64_t i = 0; i < count; ++i) {
      const std::uint64_t index = static_cast<std::uint64_t>(i);
      Rng rng = Rng::stream(plan_.opt.seed, split, index, Purpose::Text);
      const int label = static_cast<int>(rng.below(plan_.classes));
      if (plan_.nli)
        synth::nli_pair(rng, label, text, pair);
      else
        synth::sentiment_text(rng, label, plan_.classes, text);
      const std::string id = make_id(name, i, width);

      int observed = label;
      if (split == Split::Train && selected < plan_.flips) {
        Rng flip = Rng::stream(plan_.opt.seed, split, index, Purpose::Flip);
        if (flip.below(static_cast<std::uint64_t>(count - i)) < static_cast<std::uint64_t>(plan_.flips - selected)) {
          ++selected;
          observed = (label + 1 + static_cast<int>(flip.below(plan_.classes - 1))) % plan_.classes;
          truth_.flipped(id, plan_.labels[label], plan_.labels[observed]);
        }
      }
      if (plant && observed == label && observed == plan_.artifact_label) {
        Rng art = Rng::stream(plan_.opt.seed, split, index, Purpose::Artifact);
        if (art.chance(plan_.opt.artifact_rate)) {
          synth::Words& w = plan_.nli ? pair : text;
          w.insert(w.begin() + static_cast<std::ptrdiff_t>(art.below(w.size())), plan_.artifact_token);
          ++artifacts;
        }
      }

      ordered_json line;
      line["id"] = id;
      line["text"] = synth::join_words(text);
      if (plan_.nli) line["text_pair"] = synth::join_words(pair);
      line["label"] = plan_.labels[observed];
      writer.write(line);
      ++out_.label_counts[observed];
      ++original[label];
      if (++pending == 4096) {
        progress_.advance(pending);
        pending = 0;
      }
    }
    progress_.advance(pending);
    return writer.commit();
  }

 private:
  const Plan& plan_;
  SynthSplit& out_;
  synth::TruthWriter& truth_;
  Progress& progress_;
};

ordered_json counts_json(const Plan& plan, const std::vector<std::int64_t>& counts) {
  ordered_json j = ordered_json::object();
  for (int c = 0; c < plan.classes; ++c) j[plan.labels[c]] = counts[c];
  return j;
}

}  // namespace

std::vector<std::string> synth_labels(const std::string& task, int classes) {
  if (task == "nli") {
    if (classes != 0 && classes != 3)
      throw UsageError("synth: option 'classes' must be 3 for task 'nli' (got " + std::to_string(classes) + ")");
    return {"entailment", "neutral", "contradiction"};
  }
  if (task == "sentiment") {
    switch (classes) {
      case 0:
      case 2:
        return {"negative", "positive"};
      case 3:
        return {"negative", "neutral", "positive"};
      case 5:
        return {"very_negative", "negative", "neutral", "positive", "very_positive"};
      default:
        throw UsageError("synth: option 'classes' must be 2, 3 or 5 for task 'sentiment' (got " +
                         std::to_string(classes) + ")");
    }
  }
  throw UsageError("synth: option 'task' must be 'sentiment' or 'nli' (got '" + task + "')");
}

void validate(const SynthOptions& opt) {
  synth_labels(opt.task, opt.classes);
  if (opt.n < 1 || opt.n > kMaxN)
    throw UsageError("synth: option 'n' must be in [1, " + std::to_string(kMaxN) + "] (got " + std::to_string(opt.n) +
                     ")");
  check_unit("artifact_rate", opt.artifact_rate);
  check_unit("flip_rate", opt.flip_rate);
  check_unit("dev_fraction", opt.dev_fraction);
  check_unit("test_fraction", opt.test_fraction);
  if (opt.out_dir.empty()) throw UsageError("synth: option 'out_dir' must name a directory (got an empty string)");
}

namespace {

// What every split writer shares: labels, the planted artifact, the flips.
Plan make_plan(const SynthOptions& opt) {
  Plan plan;
  plan.opt = opt;
  plan.labels = synth_labels(opt.task, opt.classes);
  plan.classes = static_cast<int>(plan.labels.size());
  plan.nli = opt.task == "nli";
  plan.flips = std::llround(opt.flip_rate * static_cast<double>(opt.n));
  if (plan.nli) {
    plan.artifact_label = 2;  // contradiction
    plan.artifact_token = std::string(synth::kNliArtifact);
  } else {
    plan.artifact_label = plan.classes == 5 ? 3 : plan.classes - 1;  // "positive"
    plan.artifact_token = std::string(synth::sentiment_artifact(opt.seed));
  }
  return plan;
}

// The summary before any split is written: paths and the planted artifact.
SynthSummary start_summary(const Plan& plan, const std::filesystem::path& dir) {
  SynthSummary sum;
  sum.task = plan.opt.task;
  sum.classes = plan.classes;
  sum.labels = plan.labels;
  sum.artifact_token = plan.artifact_token;
  sum.artifact_label = plan.labels[plan.artifact_label];
  sum.artifact_field = plan.nli ? "text_pair" : "text";
  sum.train.path = (dir / "train.jsonl").string();
  sum.dev.path = (dir / "dev.jsonl").string();
  sum.test.path = (dir / "test.jsonl").string();
  sum.truth_path = (dir / "truth.json").string();
  return sum;
}

// truth.json's fields known before generation (the flipped list follows).
void write_truth_head(synth::TruthWriter& truth, const Plan& plan) {
  const SynthOptions& opt = plan.opt;
  truth.field("format_version", 1);
  truth.field("generator", "fathom synth");
  truth.field("grammar_version", 1);
  truth.field("prng", "xoshiro256** seeded by splitmix64; streams keyed by (seed, split, index, purpose)");
  truth.field("task", opt.task);
  truth.field("seed", opt.seed);
  truth.field("n", opt.n);
  truth.field("classes", plan.classes);
  truth.field("labels", plan.labels);
  truth.field("artifact_rate", opt.artifact_rate);
  truth.field("flip_rate", opt.flip_rate);
  truth.field("dev_fraction", opt.dev_fraction);
  truth.field("test_fraction", opt.test_fraction);
  truth.field("files", ordered_json{{"train", "train.jsonl"}, {"dev", "dev.jsonl"}, {"test", "test.jsonl"}});
}

// truth.json's fields known after generation: artifact counts, label counts
// (with the train labels before flipping) and the files' sha256.
void write_truth_tail(synth::TruthWriter& truth, const Plan& plan, const SynthSummary& sum,
                      const std::vector<std::int64_t>& train_original, const ordered_json& sha) {
  ordered_json artifacts = ordered_json::array();
  if (plan.opt.artifact_rate > 0.0) {
    artifacts.push_back({{"token", sum.artifact_token},
                         {"label", sum.artifact_label},
                         {"field", sum.artifact_field},
                         {"count", sum.artifact_train},
                         {"counts", {{"train", sum.artifact_train}, {"dev", sum.artifact_dev}, {"test", 0}}}});
  }
  ordered_json counts;
  counts["train"] = counts_json(plan, sum.train.label_counts);
  counts["train_original"] = counts_json(plan, train_original);
  counts["dev"] = counts_json(plan, sum.dev.label_counts);
  counts["test"] = counts_json(plan, sum.test.label_counts);
  truth.tail_field("n_flipped", plan.flips, false);
  truth.tail_field("artifacts", artifacts, false);
  truth.tail_field("counts", counts, false);
  truth.tail_field("sha256", sha, true);
}

}  // namespace

SynthSummary synthesize(const SynthOptions& opt) {
  validate(opt);
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(opt.out_dir, ec);
  if (ec) throw Error("synth: cannot create output directory '" + opt.out_dir + "': " + ec.message());
  const Plan plan = make_plan(opt);
  SynthSummary sum = start_summary(plan, fs::path(opt.out_dir));
  const std::int64_t n_dev = std::llround(opt.dev_fraction * static_cast<double>(opt.n));
  const std::int64_t n_test = std::llround(opt.test_fraction * static_cast<double>(opt.n));

  // A stale truth.json next to new splits would claim a completed run.
  fs::remove(sum.truth_path, ec);
  synth::TruthWriter truth(sum.truth_path);
  write_truth_head(truth, plan);
  truth.begin_flipped();
  Progress progress("synth " + opt.task, opt.n + n_dev + n_test);
  std::vector<std::int64_t> train_orig, dev_orig, test_orig;
  std::int64_t test_artifacts = 0;
  ordered_json sha;
  sha["train"] =
      SplitWriter(plan, sum.train, truth, progress).run(Split::Train, "train", opt.n, train_orig, sum.artifact_train);
  sha["dev"] = SplitWriter(plan, sum.dev, truth, progress).run(Split::Dev, "dev", n_dev, dev_orig, sum.artifact_dev);
  sha["test"] =
      SplitWriter(plan, sum.test, truth, progress).run(Split::Test, "test", n_test, test_orig, test_artifacts);
  progress.finish();
  truth.end_flipped();
  sum.flipped = plan.flips;
  write_truth_tail(truth, plan, sum, train_orig, sha);
  truth.commit();  // last: truth.json present == run complete
  return sum;
}

}  // namespace fathom::data
