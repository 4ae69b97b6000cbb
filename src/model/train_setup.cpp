// Training inputs: option checks, corpora, label set, tokenizer.
#include <algorithm>
#include <set>
#include <sstream>

#include "fathom/core/error.h"
#include "fathom/data/corpus.h"
#include "fathom/data/tokenizer_factory.h"
#include "fathom/data/word_tokenizer.h"
#include "fathom/data/wordpiece_tokenizer.h"
#include "train_internal.h"

namespace fathom::model {
namespace {

void require(bool ok, const std::string& message) {
  if (!ok) throw UsageError(message);
}

// Label list: the fixed one, or the sorted distinct labels of the corpus.
std::vector<std::string> resolve_labels(const TrainOptions& o, const std::vector<data::Example>& train) {
  if (!o.labels.empty()) return o.labels;
  std::set<std::string> seen;
  for (const auto& ex : train) seen.insert(*ex.label);
  std::vector<std::string> labels(seen.begin(), seen.end());
  if (labels.size() < 2)
    throw InputError(o.corpus, 0, o.corpus_options.label_field,
                     "a classifier needs at least 2 distinct labels, the corpus has " +
                         std::to_string(labels.size()) + (labels.empty() ? "" : " ('" + labels[0] + "')"));
  return labels;
}

// Rank 0: the vocabulary tokens, read from options.vocab or learnt from the
// training texts (pairs included).
std::vector<std::string> vocabulary_tokens(const TrainOptions& o, const std::vector<data::Example>& train) {
  if (!o.vocab.empty()) return data::Vocab::load(o.vocab).tokens();
  data::TokenizerOptions text;
  text.lowercase = o.lowercase;
  auto feed = [&](auto& builder) {
    for (const auto& ex : train) {
      builder.add(ex.text);
      if (ex.text_pair) builder.add(*ex.text_pair);
    }
    return builder.finish().vocab().tokens();
  };
  if (o.tokenizer == "word") {
    data::WordTokenizer::BuildOptions b;
    b.text = text;
    b.min_count = o.min_count;
    b.max_size = o.max_vocab;
    data::WordTokenizer::Builder builder(b);
    return feed(builder);
  }
  data::WordpieceTokenizer::BuildOptions b;
  b.text = text;
  b.max_size = o.max_vocab;
  b.min_word_count = o.min_count;  // whole-word threshold
  data::WordpieceTokenizer::Builder builder(b);
  return feed(builder);
}

std::string join_lines(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& t : v) (s += t) += '\n';
  return s;
}

std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> v;
  std::size_t start = 0;
  for (std::size_t nl; (nl = s.find('\n', start)) != std::string::npos; start = nl + 1)
    v.push_back(s.substr(start, nl - start));
  return v;
}

}  // namespace

void validate_train_options(const TrainOptions& o) {
  require(!o.corpus.empty(), "train: no training corpus given (--corpus)");
  require(!o.out_dir.empty(), "train: no output directory given (--out)");
  const auto& kinds = data::tokenizer_kinds();
  require(std::find(kinds.begin(), kinds.end(), o.tokenizer) != kinds.end(),
          "train: unknown tokenizer '" + o.tokenizer + "' (word or wordpiece)");
  require(o.optimizer == "adam" || o.optimizer == "sgd",
          "train: unknown optimizer '" + o.optimizer + "' (adam or sgd)");
  require(o.epochs >= 1, "train: --epochs must be >= 1, got " + std::to_string(o.epochs));
  require(o.batch >= 1, "train: --batch must be >= 1, got " + std::to_string(o.batch));
  require(o.lr > 0, "train: --lr must be > 0");
  require(o.weight_decay >= 0, "train: --weight-decay must be >= 0");
  require(o.l2_last >= 0, "train: --l2-last must be >= 0");
  require(o.dropout >= 0 && o.dropout < 1, "train: --dropout must be in [0, 1)");
  require(o.min_count >= 1, "train: --min-count must be >= 1");
  require(o.max_vocab == 0 || o.max_vocab > 5, "train: --max-vocab must be 0 (no limit) or > 5 (the specials)");
  require(o.max_length >= 3, "train: --max-length must be >= 3 ([CLS] token [SEP])");
  std::set<std::string> unique(o.labels.begin(), o.labels.end());
  require(unique.size() == o.labels.size(), "train: --labels lists a label twice");
  require(o.labels.empty() || o.labels.size() >= 2, "train: --labels needs at least 2 labels");
  // Architecture and size checks live in make_builtin (UsageError there).
}

TrainData load_train_data(const TrainOptions& o, comm::Communicator& comm) {
  TrainData d;
  data::CorpusOptions copts = o.corpus_options;
  copts.require_label = true;  // a training/dev example without a label is an input error
  if (!o.labels.empty()) copts.label_set = o.labels;
  collective_check(comm, "reading the training corpus", [&] {
    d.train = data::read_corpus(o.corpus, copts);
    d.labels = resolve_labels(o, d.train);
  });
  if (!o.dev.empty()) {
    copts.label_set = d.labels;  // a dev label the model cannot predict is an error (file:line)
    collective_check(comm, "reading the dev corpus", [&] { d.dev = data::read_corpus(o.dev, copts); });
  }

  std::string tokens;
  on_root(comm, "building the vocabulary", [&] { tokens = join_lines(vocabulary_tokens(o, d.train)); });
  comm.broadcast(tokens, 0);
  data::TokenizerOptions text;
  text.lowercase = o.lowercase;
  d.tokenizer = data::make_tokenizer(o.tokenizer,
                                     data::Vocab::from_tokens(split_lines(tokens), o.vocab.empty() ? "<built vocab>" : o.vocab),
                                     text);
  return d;
}

}  // namespace fathom::model
