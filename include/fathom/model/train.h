#pragma once
// Training a built-in classifier, data-parallel over a Communicator.
//
// What train_model does (COLLECTIVE: every rank calls it with the same options):
//  * Reads the whole training corpus on every rank (memory: the corpus text
//    once per rank; tokenisation happens lazily per batch, so no token arrays
//    are kept). Labels: TrainOptions::labels, else the sorted distinct labels
//    of the training corpus. Vocabulary: TrainOptions::vocab (a vocab.txt),
//    else built from the training corpus on rank 0 and broadcast.
//  * Epoch e visits the training set in the order epoch_permutation(n, seed, e)
//    (same on every rank). Each global batch of `batch` examples is split into
//    contiguous per-rank slices (data::shard_range); every rank back-propagates
//    the SUM of its examples' cross-entropy losses, the gradients are summed
//    over ranks in one flat all-reduce and divided by the global batch size.
//    So an update equals the single-process update on the same global batch
//    up to float summation order. Ranks with an empty slice still join the
//    all-reduce with zeros.
//  * Objective per batch: mean cross-entropy + l2_last * ||classifier.weight||^2
//    (the penalty representer points need, METHODS.md §1.3; its gradient is
//    added once, after the all-reduce). weight_decay is the optimizer's own
//    (coupled) L2 on every parameter.
//  * Dropout masks come from torch's global generator, reseeded from
//    (seed, epoch) at the start of every epoch, so a resumed run equals an
//    uninterrupted one. They depend on how examples are split over ranks:
//    with dropout > 0, runs with different rank counts agree only
//    statistically; with dropout 0 they agree to float tolerance.
//  * After every epoch: dev loss/accuracy (dev sharded across ranks, sums
//    all-reduced), a line in out_dir/metrics.jsonl, and a checkpoint
//    out_dir/checkpoints/epoch-K/ (see checkpoint.h) written by rank 0.
//  * At the end: the model bundle (bundle.h) in out_dir itself.
//  * Resume (resume == true): when out_dir holds checkpoints of the same
//    configuration (train_config_json without the options that do not change
//    the weights: epochs, dev, out_dir, threads, resume), training continues
//    after the newest complete checkpoint with epoch <= epochs. Checkpoints of
//    another configuration throw UsageError naming the differing option.
//    resume == false deletes out_dir/checkpoints and metrics.jsonl and starts
//    over (the CLI's --no-resume).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "fathom/comm/communicator.h"
#include "fathom/data/corpus.h"

namespace fathom::model {

struct TrainOptions {
  std::string corpus;   // training corpus (jsonl/tsv/csv); every record needs a label
  std::string dev;      // optional dev corpus ("" = no dev evaluation)
  std::string out_dir;  // bundle, metrics.jsonl, checkpoints/
  std::string arch = "boe";         // boe | bilstm | transformer
  std::string tokenizer = "word";   // word | wordpiece
  // Existing vocab.txt; "" = build one from the training corpus (texts and
  // pairs) with min_count / max_vocab; for wordpiece, min_count is the
  // whole-word threshold of its builder.
  std::string vocab;
  bool lowercase = true;
  std::int64_t min_count = 1;       // vocabulary building
  std::int64_t max_vocab = 30000;   // vocabulary building, specials included
  std::int64_t max_length = 128;    // tokens per example, [CLS]/[SEP] included
  std::int64_t embedding_dim = 64;
  std::int64_t hidden_dim = 64;
  std::int64_t layers = 1;
  std::int64_t heads = 4;
  std::int64_t ff_dim = 128;
  double dropout = 0.1;
  std::string optimizer = "adam";   // adam | sgd
  double lr = 1e-3;
  double weight_decay = 0.0;        // optimizer L2 on all parameters
  double l2_last = 0.0;             // lambda of lambda*||classifier.weight||^2
  std::int64_t batch = 32;          // GLOBAL batch size (summed over ranks)
  std::int64_t epochs = 3;
  std::uint64_t seed = 1;           // initialisation, shuffling, dropout
  int threads = 0;                  // torch threads per rank; 0 = cores / local ranks
  // Fixed label order; empty = sorted distinct labels of the training corpus.
  std::vector<std::string> labels;
  data::CorpusOptions corpus_options;  // used for the training and dev corpora
  bool resume = true;
};

struct EpochMetrics {
  std::int64_t epoch = 0;             // 1-based
  double train_loss = 0;              // mean cross-entropy over the epoch (penalty excluded)
  std::optional<double> dev_loss;     // mean cross-entropy on dev
  std::optional<double> dev_accuracy;
  double lr = 0;                      // learning rate used during the epoch
  double examples_per_s = 0;          // training examples / training seconds (all ranks together)
  double seconds = 0;                 // wall time of the epoch, dev evaluation included
};

struct TrainResult {
  std::vector<EpochMetrics> epochs;    // every epoch 1..E, resumed ones from their checkpoints
  std::optional<double> dev_accuracy;  // of the final model
  double examples_per_s = 0;           // training throughput of the epochs run in this call
  std::int64_t resumed_from = 0;       // epoch of the checkpoint training resumed from (0 = none)
  std::int64_t train_examples = 0;
  std::string bundle_dir;              // == out_dir
};

// One metrics.jsonl line (no newline): {"epoch", "train_loss", "dev_loss",
// "dev_accuracy", "lr", "examples_per_s", "seconds"}; dev fields are null
// without a dev corpus. The reader throws InputError naming `source` and the field.
std::string epoch_metrics_json(const EpochMetrics& m);
EpochMetrics epoch_metrics_from_json(const std::string& json_text, const std::string& source);

// COLLECTIVE. Throws UsageError for bad options or a configuration mismatch
// with existing checkpoints, InputError for bad corpora.
TrainResult train_model(const TrainOptions& options, comm::Communicator& comm);

// The options that determine the trained weights, as canonical JSON (sorted
// keys; the training corpus is identified by its path and SHA-256). Epochs,
// dev, out_dir, threads and resume are left out. Reads the corpus (and vocab)
// files to hash them.
std::string train_config_json(const TrainOptions& options);

// The order of examples in epoch `epoch` (1-based): a Fisher-Yates shuffle of
// 0..n-1 driven by SplitMix64 seeded with seed and epoch, drawing bounded
// integers by rejection (no modulo bias). Platform-independent.
std::vector<std::int64_t> epoch_permutation(std::int64_t n, std::uint64_t seed, std::int64_t epoch);

}  // namespace fathom::model
