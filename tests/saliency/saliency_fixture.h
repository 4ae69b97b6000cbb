#pragma once
// Data the saliency tests share (tests/attrib/saliency_*_test.cpp, the
// multi-rank program and the server tests): small trained bundles (boe with
// the word tokenizer, transformer with wordpiece) on a separable sentiment
// corpus, and independent references written against the model contract with
// plain torch autograd / finite differences, never through attrib.
#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "fathom/comm/communicator.h"
#include "fathom/model/builtin.h"
#include "fathom/model/train.h"
#include "model/train_helpers.h"

namespace fathom::saliency_testing {

namespace fs = std::filesystem;

struct SaliencyData {
  fs::path dir;
  std::string boe, transformer, bilstm;  // trained bundles
  std::string queries;                   // 23 records, some pairs-free texts
};

// COLLECTIVE (every rank passes the same dir). Rank 0 writes the corpora.
inline SaliencyData build_saliency_data(const fs::path& dir, comm::Communicator& comm, bool all_archs = true) {
  SaliencyData d;
  d.dir = dir;
  if (comm.is_root()) {
    fs::remove_all(dir);
    fs::create_directories(dir);
    testing::write_sentiment_corpus((dir / "train.jsonl").string(), 240, 1);
    testing::write_sentiment_corpus((dir / "dev.jsonl").string(), 60, 2);
    testing::write_sentiment_corpus((dir / "queries.jsonl").string(), 23, 3);
  }
  comm.barrier();
  d.queries = (dir / "queries.jsonl").string();
  auto train = [&](const std::string& arch, const std::string& tokenizer, const std::string& name) {
    model::TrainOptions o;
    o.corpus = (dir / "train.jsonl").string();
    o.dev = (dir / "dev.jsonl").string();
    o.out_dir = (dir / name).string();
    o.arch = arch;
    o.tokenizer = tokenizer;
    o.embedding_dim = 16;
    o.hidden_dim = 16;
    o.ff_dim = 32;
    o.heads = 2;
    o.lr = 0.02;
    o.batch = 16;
    o.epochs = 3;
    o.threads = 1;
    o.dropout = 0.0;
    model::train_model(o, comm);
    return o.out_dir;
  };
  d.boe = train("boe", "word", "boe");
  if (all_archs) {
    d.transformer = train("transformer", "wordpiece", "transformer");
    d.bilstm = train("bilstm", "word", "bilstm");
  }
  return d;
}

// A random untrained float64 model of `arch` (vocab 30, E = 6) in eval mode.
inline std::shared_ptr<model::Model> tiny_double_model(const std::string& arch, std::uint64_t seed = 3) {
  model::BuiltinConfig c;
  c.architecture = arch;
  c.vocab_size = 30;
  c.num_labels = 3;
  c.embedding_dim = 6;
  c.hidden_dim = 5;
  c.heads = 2;
  c.ff_dim = 8;
  c.max_length = 16;
  c.dropout = 0.0;
  c.seed = seed;
  auto m = model::make_builtin(c);
  m->to(torch::kCPU, torch::kDouble);
  m->train(false);
  return m;
}

// A padded batch of id rows (pad id 0, [CLS]=2-style specials not needed here).
inline model::Batch id_batch(const std::vector<std::vector<std::int64_t>>& rows) {
  std::int64_t T = 0;
  for (const auto& r : rows) T = std::max<std::int64_t>(T, std::int64_t(r.size()));
  model::Batch b;
  const std::int64_t B = std::int64_t(rows.size());
  b.ids = torch::zeros({B, T}, torch::kLong);
  b.mask = torch::zeros({B, T}, torch::kLong);
  b.type_ids = torch::zeros({B, T}, torch::kLong);
  for (std::int64_t i = 0; i < B; ++i)
    for (std::size_t t = 0; t < rows[std::size_t(i)].size(); ++t) {
      b.ids[i][std::int64_t(t)] = rows[std::size_t(i)][t];
      b.mask[i][std::int64_t(t)] = 1;
    }
  return b;
}

// F = logit of `target` for one example's embeddings [1,T,E] (no attrib code).
inline double logit_of(model::Model& m, const torch::Tensor& emb, const torch::Tensor& mask,
                       const torch::Tensor& types, std::int64_t target) {
  torch::NoGradGuard no_grad;
  return m.forward_from_embeddings(emb, mask, types).logits[0][target].item<double>();
}

}  // namespace fathom::saliency_testing
