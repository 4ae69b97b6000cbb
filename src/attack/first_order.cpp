// HotFlip first-order scores, the attack vocabulary and the re-tokenisation check (first_order.h).
#include "fathom/attack/first_order.h"

#include <algorithm>
#include <cctype>
#include <sstream>
#include <unordered_set>

#include "fathom/core/error.h"

namespace fathom::attack {
namespace {

const std::unordered_set<std::string>& stop_words() {
  static const std::unordered_set<std::string> words = {
      "a", "about", "above", "after", "again", "against", "all", "am", "an", "and", "any", "are", "as", "at",
      "be", "because", "been", "before", "being", "below", "between", "both", "but", "by", "can", "could",
      "did", "do", "does", "doing", "down", "during", "each", "few", "for", "from", "further", "had", "has",
      "have", "having", "he", "her", "here", "hers", "herself", "him", "himself", "his", "how", "i", "if", "in",
      "into", "is", "it", "its", "itself", "just", "me", "more", "most", "my", "myself", "no", "nor", "not",
      "now", "of", "off", "on", "once", "only", "or", "other", "our", "ours", "ourselves", "out", "over", "own",
      "same", "she", "should", "so", "some", "such", "than", "that", "the", "their", "theirs", "them",
      "themselves", "then", "there", "these", "they", "this", "those", "through", "to", "too", "under",
      "until", "up", "very", "was", "we", "were", "what", "when", "where", "which", "while", "who", "whom",
      "why", "will", "with", "would", "you", "your", "yours", "yourself", "yourselves", "also", "may",
      "might", "must", "shall", "us", "let", "s", "t", "d", "ll", "m", "re", "ve", "o", "y", "ain", "isn",
      "wasn", "aren", "weren", "don", "doesn", "didn", "won", "wouldn", "couldn", "shouldn"};
  return words;
}

bool bracketed(const std::string& token) {
  return token.size() >= 2 && token.front() == '[' && token.back() == ']';
}

bool alphabetic(const std::string& token) {
  const std::size_t start = token.compare(0, 2, "##") == 0 ? 2 : 0;
  if (start >= token.size()) return false;
  for (std::size_t i = start; i < token.size(); ++i) {
    const auto c = static_cast<unsigned char>(token[i]);
    if (c < 0x80 && !std::isalpha(c)) return false;
  }
  return true;
}

}  // namespace

torch::Tensor first_order_scores(const torch::Tensor& gradients, const torch::Tensor& embeddings,
                                 const torch::Tensor& embedding_matrix) {
  if (gradients.sizes() != embeddings.sizes() || (gradients.dim() != 2 && gradients.dim() != 3) ||
      embedding_matrix.dim() != 2 || embedding_matrix.size(1) != gradients.size(-1))
    throw UsageError("first_order_scores: gradients and embeddings must be [T,E] or [B,T,E] alike and the "
                     "embedding matrix [V,E]");
  const torch::Tensor g = gradients.detach().to(torch::kDouble);
  const torch::Tensor e = embeddings.detach().to(torch::kDouble);
  const torch::Tensor table = embedding_matrix.detach().to(torch::kDouble);
  // g · Eᵀ − (e_t · g_t), broadcast over the vocabulary.
  return torch::matmul(g, table.t()) - (e * g).sum(-1, /*keepdim=*/true);
}

VocabFilter parse_vocab_filter(const std::string& spec) {
  VocabFilter f;
  if (spec.empty() || spec == "none") return f;
  std::stringstream in(spec);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (item == "alpha") f.alphabetic_only = true;
    else if (item == "stopwords") f.no_stop_words = true;
    else if (item == "words") f.whole_words_only = true;
    else
      throw UsageError("--vocab-filter: unknown item '" + item +
                       "' (expected none, or a comma-separated list of alpha, stopwords, words)");
  }
  return f;
}

std::string vocab_filter_spec(const VocabFilter& f) {
  std::string s;
  auto add = [&s](const char* item) { s += (s.empty() ? "" : ",") + std::string(item); };
  if (f.alphabetic_only) add("alpha");
  if (f.no_stop_words) add("stopwords");
  if (f.whole_words_only) add("words");
  return s.empty() ? "none" : s;
}

bool is_stop_word(const std::string& token) { return stop_words().count(token) != 0; }

torch::Tensor allowed_tokens(const data::Tokenizer& tokenizer, const VocabFilter& f) {
  const std::int64_t v = tokenizer.vocab_size();
  torch::Tensor allowed = torch::zeros({v}, torch::kBool);
  auto* out = allowed.data_ptr<bool>();
  const std::int64_t specials[] = {tokenizer.pad_id(), tokenizer.unk_id(), tokenizer.cls_id(), tokenizer.sep_id(),
                                   tokenizer.mask_id()};
  for (std::int64_t id = 0; id < v; ++id) {
    const std::string& token = tokenizer.id_to_token(id);
    bool ok = !token.empty() && !bracketed(token) &&
              std::find(std::begin(specials), std::end(specials), id) == std::end(specials);
    if (ok && f.alphabetic_only) ok = alphabetic(token);
    if (ok && f.no_stop_words) ok = !is_stop_word(token);
    if (ok && f.whole_words_only) ok = token.compare(0, 2, "##") != 0;
    out[id] = ok;
  }
  return allowed;
}

bool retokenizes(const data::Tokenizer& tokenizer, const std::vector<std::int64_t>& ids) {
  if (ids.empty()) return true;
  const data::Encoding enc = tokenizer.encode(tokenizer.decode(ids, /*skip_special=*/false), std::nullopt, 0);
  // [CLS] ids... [SEP]
  if (enc.ids.size() != ids.size() + 2) return false;
  return std::equal(ids.begin(), ids.end(), enc.ids.begin() + 1);
}

}  // namespace fathom::attack
