#pragma once
// Corpus statistics that can be computed per shard and merged
// (compute_stats.h gathers the shards of a group of ranks): examples, label distribution, text length
// (Unicode code points) and token-count distributions, vocabulary, duplicate
// texts.
//
// Memory: O(distinct lengths + distinct tokens + 8 bytes per example) — the
// per-example cost is a 64-bit hash of each text, for exact duplicate counts.
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "fathom/data/example.h"

namespace fathom::data {

class CorpusStats {
 public:
  using Tokenize = std::function<std::vector<std::string>(std::string_view)>;

  // tokenize may be empty: then no token statistics are kept.
  explicit CorpusStats(Tokenize tokenize = {});

  void add(const Example& e);
  void merge(const CorpusStats& other);

  // Compact serialisation for gathering shards (JSON text). deserialize
  // throws fathom::Error if `text` is not what serialize wrote; the result
  // has no tokenizer (merge it into a CorpusStats that has one).
  std::string serialize() const;
  static CorpusStats deserialize(const std::string& text);

  std::int64_t examples() const { return examples_; }
  std::int64_t with_pair() const { return with_pair_; }
  const std::map<std::string, std::int64_t>& label_counts() const { return labels_; }
  std::int64_t unlabeled() const { return unlabeled_; }
  std::int64_t vocabulary_size() const { return std::int64_t(vocab_.size()); }
  std::int64_t unk_tokens() const { return unk_; }
  std::int64_t tokens() const { return tokens_; }
  // Number of examples whose text (and pair) equals an earlier example's.
  std::int64_t duplicate_texts() const;

  struct Summary {
    std::int64_t min = 0, max = 0, p50 = 0, p95 = 0;
    double mean = 0;
    // Histogram with power-of-two bucket edges: [0,1),[1,2),[2,4),[4,8)...
    std::vector<std::pair<std::int64_t, std::int64_t>> buckets;  // (lower edge, count)
  };
  Summary text_length() const { return summarize(text_len_); }
  Summary token_count() const { return summarize(token_len_); }

  // Full report as pretty JSON (format_version 1).
  std::string to_json() const;
  // Human-readable report with histograms drawn as bars.
  std::string to_text() const;

  std::string unk_token = "[UNK]";  // counted as unknown when the tokenizer emits it

 private:
  static Summary summarize(const std::map<std::int64_t, std::int64_t>& counts);
  Tokenize tokenize_;
  std::int64_t examples_ = 0, with_pair_ = 0, unlabeled_ = 0, tokens_ = 0, unk_ = 0;
  std::map<std::string, std::int64_t> labels_;
  std::map<std::int64_t, std::int64_t> text_len_, token_len_;
  std::set<std::string> vocab_;
  std::vector<std::uint64_t> text_hashes_;
};

}  // namespace fathom::data
