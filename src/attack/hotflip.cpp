// HotFlip per instance and per batch, and `fathom hotflip` over a file (hotflip.h).
#include "fathom/attack/hotflip.h"

#include <algorithm>
#include <cmath>

#include "attack_internal.h"
#include "fathom/attrib/embedding_gradients.h"
#include "fathom/core/error.h"

namespace fathom::attack {
namespace {

using Ids = std::vector<std::int64_t>;

struct State {
  const data::Example* example = nullptr;
  data::Encoding enc;                   // of the current (flipped) texts
  std::string text;
  std::optional<std::string> pair;
  std::vector<bool> flipped;
  std::int64_t objective_label = 0;     // y0 (untargeted) or y* (targeted)
  bool done = false;
  HotFlipResult result;
};

// `text` with bytes [begin, end) replaced by `token` (its "##" dropped).
std::string spliced(const std::string& text, std::int32_t begin, std::int32_t end, const std::string& token) {
  const std::string word = token.compare(0, 2, "##") == 0 ? token.substr(2) : token;
  return text.substr(0, std::size_t(begin)) + word + text.substr(std::size_t(end));
}

class Attack {
 public:
  Attack(model::Bundle& bundle, const HotFlipConfig& config) : bundle_(bundle), c_(config) {
    if (c_.max_flips < 1) throw UsageError("hotflip: --max-flips must be >= 1, got " + std::to_string(c_.max_flips));
    if (c_.max_candidates < 1)
      throw UsageError("hotflip: max_candidates must be >= 1, got " + std::to_string(c_.max_candidates));
    if (c_.target) target_ = detail::label_index(bundle, *c_.target, "hotflip --target");
    allowed_ = allowed_tokens(*bundle.tokenizer, c_.vocab_filter);
    if (!allowed_.any().item<bool>())
      throw InputError(bundle.dir + "/vocab.txt",
                       "the vocabulary has no token an attack may write (only special tokens, or none left after "
                       "--vocab-filter " + vocab_filter_spec(c_.vocab_filter) + ")");
    torch::NoGradGuard no_grad;
    table_ = bundle.model->embedding_matrix().detach().to(torch::kDouble).contiguous();
  }

  std::vector<HotFlipResult> run(const std::vector<data::Example>& examples) {
    std::vector<State> states(examples.size());
    for (std::size_t i = 0; i < examples.size(); ++i) {
      State& s = states[i];
      s.example = &examples[i];
      s.text = examples[i].text;
      s.pair = examples[i].text_pair;
      s.enc = detail::encode(bundle_, examples[i]);
      s.flipped.assign(s.enc.ids.size(), false);
      s.result.id = examples[i].id;
      s.result.text = s.text;
      s.result.text_pair = s.pair;
      s.result.ids_before = s.enc.ids;
      s.result.gold = detail::known_gold(bundle_, examples[i]);
    }
    for (bool first = true;; first = false) {
      std::vector<State*> active;
      for (State& s : states)
        if (!s.done) active.push_back(&s);
      if (active.empty()) break;
      std::vector<Ids> ids, types;
      for (State* s : active) {
        ids.push_back(s->enc.ids);
        types.push_back(s->enc.type_ids);
      }
      const model::Batch b = detail::pad_rows(ids, types, bundle_.tokenizer->pad_id());
      torch::Tensor emb;
      {
        torch::NoGradGuard no_grad;
        emb = bundle_.model->embed(b.ids);
      }
      if (first) {  // y0 and the label the objective is taken at
        torch::NoGradGuard no_grad;
        const torch::Tensor pred = bundle_.model->forward_from_embeddings(emb, b.mask, b.type_ids).logits.argmax(1);
        for (std::size_t r = 0; r < active.size(); ++r) {
          active[r]->result.label_before = pred[std::int64_t(r)].item<std::int64_t>();
          active[r]->objective_label = target_ != data::kNoLabel ? target_ : active[r]->result.label_before;
        }
      }
      std::vector<std::int64_t> labels;
      for (State* s : active) labels.push_back(s->objective_label);
      const attrib::EmbeddingGradients g = attrib::embedding_gradients(
          *bundle_.model, emb, b.mask, b.type_ids, torch::tensor(labels, torch::kLong), attrib::Objective::loss);
      const torch::Tensor grads = g.gradients.to(torch::kDouble).contiguous();
      const torch::Tensor embs = emb.to(torch::kDouble).contiguous();
      for (std::size_t r = 0; r < active.size(); ++r) step(*active[r], g.logits, grads[std::int64_t(r)], embs[std::int64_t(r)], std::int64_t(r));
    }
    std::vector<HotFlipResult> out;
    for (State& s : states) out.push_back(std::move(s.result));
    return out;
  }

 private:
  // One step of one example: record the probabilities of its current input;
  // stop at success or at the cap; else flip one token.
  void step(State& s, const torch::Tensor& logits, const torch::Tensor& grads, const torch::Tensor& embs,
            std::int64_t row) {
    HotFlipResult& r = s.result;
    const std::vector<double> probs = detail::row_probs(logits, row);
    const auto pred = std::int64_t(std::max_element(probs.begin(), probs.end()) - probs.begin());
    if (r.flips.empty() && r.probs_before.empty()) r.probs_before = probs;
    else r.flips.back().probs = probs;
    r.probs_after = probs;
    r.label_after = pred;
    r.ids_after = s.enc.ids;
    r.adversarial_text = s.text;
    r.adversarial_text_pair = s.pair;
    r.success = target_ != data::kNoLabel ? pred == target_ : pred != r.label_before;
    if (r.success || std::int64_t(r.flips.size()) >= c_.max_flips || !flip(s, grads, embs)) s.done = true;
  }

  // Flips one token of `s` (see hotflip.h); false when no position has a
  // replacement that re-tokenises.
  bool flip(State& s, const torch::Tensor& grads, const torch::Tensor& embs) {
    const auto T = std::int64_t(s.enc.ids.size());
    const torch::Tensor norms = grads.slice(0, 0, T).norm(2, 1).contiguous();
    const auto* pn = norms.data_ptr<double>();
    std::vector<std::pair<double, std::int64_t>> positions;
    for (std::int64_t t = 0; t < T; ++t)
      if (!s.enc.special[std::size_t(t)] && !s.flipped[std::size_t(t)]) positions.emplace_back(-pn[t], t);
    std::sort(positions.begin(), positions.end());  // largest norm first, ties by position
    const bool lower = target_ != data::kNoLabel;
    const auto* ok = allowed_.data_ptr<bool>();
    const data::Tokenizer& tok = *bundle_.tokenizer;
    for (const auto& [neg_norm, t] : positions) {
      const torch::Tensor gt = grads[t];
      // (e_w − e_t)·g_t for every w (first_order_scores, one position).
      const torch::Tensor scores =
          first_order_scores(gt.unsqueeze(0), embs[t].unsqueeze(0), table_).squeeze(0).contiguous();
      const auto* ps = scores.data_ptr<double>();
      const std::int64_t old_id = s.enc.ids[std::size_t(t)];
      std::vector<std::pair<double, std::int64_t>> order;
      for (std::int64_t w = 0; w < scores.size(0); ++w)
        if (ok[w] && w != old_id) order.emplace_back(lower ? ps[w] : -ps[w], w);
      const auto keep = std::min<std::size_t>(order.size(), std::size_t(c_.max_candidates));
      std::partial_sort(order.begin(), order.begin() + std::ptrdiff_t(keep), order.end());
      for (std::size_t k = 0; k < keep; ++k) {
        const std::int64_t w = order[k].second;
        if (try_flip(s, t, w, ps[w], tok)) return true;
      }
    }
    return false;
  }

  // Writes token w at position t into the text; keeps it when the new text
  // tokenizes to the old ids with w at t.
  bool try_flip(State& s, std::int64_t t, std::int64_t w, double score, const data::Tokenizer& tok) {
    const auto ut = std::size_t(t);
    const bool second = s.enc.type_ids[ut] == 1 && s.pair;
    std::string text = s.text;
    std::optional<std::string> pair = s.pair;
    std::string& seg = second ? *pair : text;
    seg = spliced(seg, s.enc.begin[ut], s.enc.end[ut], tok.id_to_token(w));
    std::optional<std::string_view> pv;
    if (pair) pv = *pair;
    data::Encoding enc = tok.encode(text, pv, bundle_.info.max_length);
    Ids expected = s.enc.ids;
    expected[ut] = w;
    if (enc.ids != expected) return false;
    Flip f;
    f.position = t;
    f.old_id = s.enc.ids[ut];
    f.new_id = w;
    f.old_token = tok.id_to_token(f.old_id);
    f.new_token = tok.id_to_token(w);
    f.score = score;
    s.result.flips.push_back(std::move(f));
    s.flipped[ut] = true;
    s.enc = std::move(enc);
    s.text = std::move(text);
    s.pair = std::move(pair);
    return true;
  }

  model::Bundle& bundle_;
  const HotFlipConfig& c_;
  std::int64_t target_ = data::kNoLabel;
  torch::Tensor allowed_;
  torch::Tensor table_;  // [V,E] float64
};

nlohmann::ordered_json flip_line(const model::Bundle& bundle, const HotFlipResult& r) {
  const auto& labels = bundle.info.labels;
  nlohmann::ordered_json line;
  line["id"] = r.id;
  line["text"] = r.text;
  if (r.text_pair) line["text_pair"] = *r.text_pair;
  line["adversarial_text"] = r.adversarial_text;
  if (r.adversarial_text_pair) line["adversarial_text_pair"] = *r.adversarial_text_pair;
  line["label_before"] = labels[std::size_t(r.label_before)];
  line["label_after"] = labels[std::size_t(r.label_after)];
  line["probs_before"] = detail::probs_json(bundle, r.probs_before);
  line["probs_after"] = detail::probs_json(bundle, r.probs_after);
  line["gold"] = r.gold ? nlohmann::ordered_json(labels[std::size_t(*r.gold)]) : nlohmann::ordered_json();
  line["success"] = r.success;
  nlohmann::ordered_json flips = nlohmann::ordered_json::array();
  for (const Flip& f : r.flips)
    flips.push_back({{"position", f.position},
                     {"old", f.old_token},
                     {"new", f.new_token},
                     {"score", detail::round6(f.score)},
                     {"probs", detail::probs_json(bundle, f.probs)}});
  line["flips"] = std::move(flips);
  return line;
}

}  // namespace

std::vector<HotFlipResult> hotflip(model::Bundle& bundle, const std::vector<data::Example>& examples,
                                   const HotFlipConfig& config) {
  Attack attack(bundle, config);
  return attack.run(examples);
}

HotFlipResult hotflip(model::Bundle& bundle, const data::Example& example, const HotFlipConfig& config) {
  return std::move(hotflip(bundle, std::vector<data::Example>{example}, config).front());
}

InstanceFileResult hotflip_file(const HotFlipFileOptions& o, comm::Communicator& comm) {
  return detail::run_instance_file(
      o, "hotflip", comm,
      [&o](model::Bundle& bundle, const std::vector<data::Example>& examples) {
        std::vector<std::string> lines;
        for (const HotFlipResult& r : hotflip(bundle, examples, o.config)) lines.push_back(flip_line(bundle, r).dump());
        return lines;
      },
      [](const nlohmann::json& line, detail::InstanceTally& t) {
        const bool success = line["success"].get<bool>();
        t.successes += success;
        if (success) t.steps += double(line["flips"].size());
        if (!line["gold"].is_null() && line["gold"] == line["label_before"]) {
          ++t.correct;
          t.correct_successes += success;
        }
      },
      [&o](nlohmann::ordered_json& m, const detail::InstanceTally& t) {
        m["target"] = o.config.target ? nlohmann::ordered_json(*o.config.target) : nlohmann::ordered_json();
        m["max_flips"] = o.config.max_flips;
        m["vocab_filter"] = vocab_filter_spec(o.config.vocab_filter);
        m["mean_flips"] = t.successes > 0 ? t.steps / double(t.successes) : 0.0;
        m["correct"] = t.correct;
        m["success_rate_correct"] = t.correct > 0 ? nlohmann::ordered_json(double(t.correct_successes) / double(t.correct))
                                                  : nlohmann::ordered_json();
      });
}

}  // namespace fathom::attack
