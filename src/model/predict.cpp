// Batch prediction (format in predict.h).
#include "fathom/model/predict.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "fathom/core/atomic_file.h"
#include "fathom/core/error.h"
#include "fathom/core/log.h"
#include "fathom/model/batching.h"
#include "fathom/model/bundle.h"
#include "train_internal.h"

namespace fathom::model {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// 6 significant digits: enough for any use of a probability, and it hides
// last-bit differences between thread counts and kernels.
double round6(double p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", p);
  return std::strtod(buf, nullptr);
}

struct Tally {
  std::int64_t n = 0, n_gold = 0, correct = 0, skipped = 0;
};

// Predicts one batch and appends its JSONL lines to `out`.
void predict_batch(Bundle& bundle, std::vector<data::Example>& chunk, std::vector<std::optional<std::string>>& gold,
                   std::vector<std::int64_t>& rows, std::string& out, Tally& tally) {
  if (chunk.empty()) return;
  const auto& labels = bundle.info.labels;
  Batch x = make_batch(chunk, *bundle.tokenizer, bundle.info.max_length, labels, rows);
  torch::Tensor logits = bundle.model->forward(x).logits;
  torch::Tensor probs = torch::softmax(logits.to(torch::kDouble), 1).contiguous();
  torch::Tensor pred = logits.argmax(1).contiguous();
  auto P = probs.accessor<double, 2>();
  auto Y = pred.accessor<std::int64_t, 1>();
  for (std::size_t i = 0; i < chunk.size(); ++i) {
    nlohmann::ordered_json line;
    line["id"] = chunk[i].id;
    const std::string& label = labels[std::size_t(Y[std::int64_t(i)])];
    line["label"] = label;
    nlohmann::ordered_json p = nlohmann::ordered_json::object();
    for (std::size_t c = 0; c < labels.size(); ++c) p[labels[c]] = round6(P[std::int64_t(i)][std::int64_t(c)]);
    line["probs"] = std::move(p);
    line["gold"] = nullptr;  // every line has the same keys
    if (gold[i]) {
      line["gold"] = *gold[i];
      ++tally.n_gold;
      tally.correct += *gold[i] == label ? 1 : 0;
    }
    (out += line.dump()) += '\n';
  }
  tally.n += std::int64_t(chunk.size());
  chunk.clear();
  gold.clear();
  rows.clear();
}

// This rank's lines: records [first, last) of the corpus, batched in runs of
// `batch` aligned to multiples of `batch` (so batches do not depend on the
// number of ranks).
std::string predict_rows(const PredictOptions& o, Bundle& bundle, data::Range range, Tally& tally) {
  std::string out;
  bundle.model->train(false);
  torch::NoGradGuard no_grad;
  data::CorpusReader reader(o.corpus, o.corpus_options, range);
  std::vector<data::Example> chunk;
  std::vector<std::optional<std::string>> gold;
  std::vector<std::int64_t> rows;
  data::Example ex;
  std::int64_t current = -1;
  while (reader.next(ex)) {
    const std::int64_t row = range.begin + reader.records_read() - 1;
    if (row / o.batch != current) predict_batch(bundle, chunk, gold, rows, out, tally);
    current = row / o.batch;
    // Gold labels are compared as strings, never handed to make_batch: a
    // label the model does not know is a wrong prediction, not an error.
    gold.push_back(std::move(ex.label));
    ex.label.reset();
    chunk.push_back(ex);
    rows.push_back(row);
  }
  predict_batch(bundle, chunk, gold, rows, out, tally);
  tally.skipped = reader.skipped();
  for (std::size_t i = 0; i < reader.skip_messages().size(); ++i)
    spdlog::warn("predict: skipped record: {}", reader.skip_messages()[i]);
  return out;
}

void write_outputs(const PredictOptions& o, const Bundle& bundle, const std::vector<std::uint8_t>& text,
                   const Tally& total, const PredictResult& r, double seconds, int ranks) {
  const fs::path parent = fs::path(o.out).parent_path();
  if (!parent.empty()) fs::create_directories(parent);
  AtomicFile preds(o.out);
  preds.stream().write(reinterpret_cast<const char*>(text.data()), std::streamsize(text.size()));
  preds.commit();
  nlohmann::ordered_json s{{"format", "fathom-predict-summary"},
                           {"format_version", 1},
                           {"model_dir", o.model_dir},
                           {"corpus", o.corpus},
                           {"n", total.n},
                           {"n_gold", total.n_gold},
                           {"accuracy", r.accuracy ? nlohmann::ordered_json(*r.accuracy) : nlohmann::ordered_json()},
                           {"skipped", total.skipped},
                           {"examples_per_s", r.examples_per_s},
                           {"seconds", seconds},
                           {"ranks", ranks},
                           {"labels", bundle.info.labels}};
  write_file_atomic(o.out + ".summary.json", s.dump(2) + "\n");
}

}  // namespace

PredictResult predict(const PredictOptions& o, comm::Communicator& comm) {
  if (o.model_dir.empty()) throw UsageError("predict: no model bundle given (--model)");
  if (o.corpus.empty()) throw UsageError("predict: no corpus given (--corpus)");
  if (o.out.empty()) throw UsageError("predict: no output file given (--out)");
  if (o.batch < 1) throw UsageError("predict: --batch must be >= 1, got " + std::to_string(o.batch));
  configure_threads(o.threads);

  Bundle bundle;
  collective_check(comm, "loading the model bundle " + o.model_dir, [&] { bundle = load_bundle(o.model_dir); });
  std::int64_t records = 0;
  collective_check(comm, "counting records of " + o.corpus,
                   [&] { records = data::count_records(o.corpus, o.corpus_options); });

  const auto t0 = Clock::now();
  const std::int64_t batches = (records + o.batch - 1) / o.batch;
  const data::Range mine = data::shard_range(batches, comm.rank(), comm.size());
  const data::Range range{std::min(records, mine.begin * o.batch), std::min(records, mine.end * o.batch)};
  Tally tally;
  std::string text;
  collective_check(comm, "predicting " + o.corpus, [&] { text = predict_rows(o, bundle, range, tally); });

  // Rank order == record order, so the concatenation is the file. Only rank
  // 0 writes it, so only rank 0 holds it (empty elsewhere).
  std::vector<std::uint8_t> all = comm.gatherv(text.data(), std::int64_t(text.size()), comm::DType::u8, 0);
  std::int64_t sums[4] = {tally.n, tally.n_gold, tally.correct, tally.skipped};
  comm.all_reduce(sums, 4, comm::DType::i64, comm::ReduceOp::sum);
  const Tally total{sums[0], sums[1], sums[2], sums[3]};
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();

  PredictResult r;
  r.n = total.n;
  r.n_gold = total.n_gold;
  if (total.n_gold > 0) r.accuracy = double(total.correct) / double(total.n_gold);
  r.examples_per_s = double(total.n) / std::max(seconds, 1e-9);
  if (comm.is_root() && total.skipped > 0)
    spdlog::warn("predict: {} bad records of {} were skipped", total.skipped, o.corpus);
  on_root(comm, "writing " + o.out, [&] { write_outputs(o, bundle, all, total, r, seconds, comm.size()); });
  return r;
}

}  // namespace fathom::model
