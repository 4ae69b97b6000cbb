#pragma once
// Test helpers shared by train_test, predict_test and the multi-rank
// program: a tiny separable sentiment corpus, bundle comparison, scratch dirs.
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "fathom/model/bundle.h"
#include "fathom/model/train.h"
#include "temp_dir.h"
#include "test_files.h"

namespace fathom::testing {

// n examples "pos"/"neg": filler words plus one sentiment word, so a
// bag-of-embeddings model can reach ~100% accuracy. Deterministic in seed.
// with_labels=false writes no label field; odd_labels gives examples
// 3, 10, 17, ... the label "unknown" (not one the model knows).
inline void write_sentiment_corpus(const std::string& path, int n, std::uint64_t seed, bool with_labels = true,
                                   bool odd_labels = false) {
  static const std::vector<std::string> filler = {"the",  "movie", "was",  "plot", "actor", "and",
                                                  "very", "film",  "story", "it",  "quite", "a"};
  static const std::vector<std::string> pos = {"good", "great", "lovely", "fine"};
  static const std::vector<std::string> neg = {"bad", "awful", "poor", "boring"};
  std::uint64_t s = seed * 2654435761ULL + 1;
  auto draw = [&](std::uint64_t bound) {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (s >> 33) % bound;
  };
  std::ofstream out(path);
  for (int i = 0; i < n; ++i) {
    const bool positive = draw(2) == 1;
    const int words = 3 + int(draw(6));
    const int at = int(draw(std::uint64_t(words)));
    std::string text;
    for (int w = 0; w < words; ++w) {
      if (!text.empty()) text += ' ';
      text += w == at ? (positive ? pos : neg)[draw(4)] : filler[draw(filler.size())];
    }
    out << "{\"id\":\"ex" << i << "\",\"text\":\"" << text << "\"";
    if (with_labels) {
      const char* label = odd_labels && i % 7 == 3 ? "unknown" : positive ? "pos" : "neg";
      out << ",\"label\":\"" << label << "\"";
    }
    out << "}\n";
  }
}

// Largest |a - b| over all parameters of two bundles of the same shape.
inline double max_weight_difference(const std::string& bundle_a, const std::string& bundle_b) {
  auto a = model::load_bundle(bundle_a).model->named_parameters();
  auto b = model::load_bundle(bundle_b).model->named_parameters();
  if (a.size() != b.size()) return 1e30;
  double worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].first != b[i].first || !a[i].second.sizes().equals(b[i].second.sizes())) return 1e30;
    worst = std::max(worst, (a[i].second - b[i].second).abs().max().item<double>());
  }
  return worst;
}


using ScratchDir = TempDir;

// Options for a small, fast boe training run on sentiment corpora written
// into dir (train 240, dev 80 examples), output in dir/out.
inline model::TrainOptions small_train_options(const ScratchDir& dir, const std::string& out) {
  write_sentiment_corpus(dir / "train.jsonl", 240, 1);
  write_sentiment_corpus(dir / "dev.jsonl", 80, 2);
  model::TrainOptions o;
  o.corpus = dir / "train.jsonl";
  o.dev = dir / "dev.jsonl";
  o.out_dir = dir / out;
  o.embedding_dim = 16;
  o.hidden_dim = 16;
  o.lr = 0.02;
  o.batch = 16;
  o.epochs = 3;
  o.threads = 1;
  return o;
}

}  // namespace fathom::testing
