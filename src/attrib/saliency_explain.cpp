// Saliency of whole examples: encode, score, map back to text (saliency_explain.h).
#include "fathom/attrib/saliency_explain.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>

#include "fathom/core/error.h"
#include "training_texts.h"

namespace fathom::attrib {
namespace {

struct Encoded {
  data::Encoding enc;
  const data::Example* example = nullptr;
};

// Pads a run of encodings to its longest (ids with the tokenizer's pad id).
model::Batch pad_batch(const std::vector<Encoded>& encs, std::int64_t pad_id, torch::Tensor& special) {
  const std::int64_t B = std::int64_t(encs.size());
  std::int64_t T = 1;
  for (const auto& e : encs) T = std::max<std::int64_t>(T, std::int64_t(e.enc.ids.size()));
  model::Batch b;
  b.ids = torch::full({B, T}, pad_id, torch::kLong);
  b.mask = torch::zeros({B, T}, torch::kLong);
  b.type_ids = torch::zeros({B, T}, torch::kLong);
  special = torch::zeros({B, T}, torch::kBool);
  auto I = b.ids.accessor<std::int64_t, 2>();
  auto M = b.mask.accessor<std::int64_t, 2>();
  auto Y = b.type_ids.accessor<std::int64_t, 2>();
  auto S = special.accessor<bool, 2>();
  for (std::int64_t r = 0; r < B; ++r) {
    const data::Encoding& e = encs[std::size_t(r)].enc;
    for (std::size_t t = 0; t < e.ids.size(); ++t) {
      I[r][std::int64_t(t)] = e.ids[t];
      M[r][std::int64_t(t)] = 1;
      Y[r][std::int64_t(t)] = e.type_ids[t];
      S[r][std::int64_t(t)] = e.special[t] != 0;
    }
  }
  return b;
}

std::int64_t resolve_target(const SaliencyTarget& target, const model::Bundle& bundle, const data::Example& e,
                            std::int64_t prediction, const std::string& source) {
  switch (target.kind) {
    case SaliencyTarget::Kind::predicted:
      return prediction;
    case SaliencyTarget::Kind::gold: {
      if (!e.label)
        throw InputError(source, e.line, "label", "--target gold needs a label; example '" + e.id + "' has none");
      const std::int64_t y = bundle.label_index(*e.label);
      if (y == data::kNoLabel)
        throw InputError(source, e.line, "label",
                         "label '" + *e.label + "' of example '" + e.id + "' is not one of the model's labels");
      return y;
    }
    case SaliencyTarget::Kind::label:
      return bundle.label_index(target.label);
  }
  return prediction;
}

ExampleSaliency to_example(const Encoded& x, const model::Bundle& bundle, const SaliencyScores& s, std::int64_t row,
                           std::int64_t target) {
  const data::Example& src = *x.example;
  const data::Encoding& enc = x.enc;
  ExampleSaliency out;
  out.id = src.id;
  out.truncated = enc.truncated;
  out.target = target;
  torch::Tensor logits = s.logits[row];
  out.prediction = logits.argmax().item<std::int64_t>();
  torch::Tensor p = torch::softmax(logits, 0).contiguous();
  out.probs.assign(p.data_ptr<double>(), p.data_ptr<double>() + p.numel());
  out.objective = s.objective[row].item<double>();
  if (s.baseline_objective.defined()) {
    out.baseline_objective = s.baseline_objective[row].item<double>();
    out.completeness_gap = s.completeness_gap[row].item<double>();
  }
  torch::Tensor scores = s.scores[row].to(torch::kCPU).contiguous();
  const double* sc = scores.data_ptr<double>();
  double total = 0;
  for (std::size_t t = 0; t < enc.ids.size(); ++t) total += std::abs(sc[t]);
  for (std::size_t t = 0; t < enc.ids.size(); ++t) {
    TokenScore ts;
    ts.token = bundle.tokenizer->id_to_token(enc.ids[t]);
    ts.special = enc.special[t] != 0;
    ts.segment = enc.type_ids[t];
    ts.begin = enc.begin[t];
    ts.end = enc.end[t];
    const std::string& text = ts.segment == 1 && src.text_pair ? *src.text_pair : src.text;
    ts.text = ts.special ? ts.token
                         : text.substr(std::size_t(std::max(0, ts.begin)),
                                       std::size_t(std::max(0, ts.end - ts.begin)));
    ts.score = sc[t];
    ts.normalized = total > 0 ? std::abs(sc[t]) / total : 0.0;
    out.tokens.push_back(std::move(ts));
  }
  if (bundle.tokenizer->kind() == "wordpiece") {
    for (std::size_t t = 0; t < out.tokens.size(); ++t) {
      const TokenScore& tok = out.tokens[t];
      if (tok.special) continue;
      const bool continues = !out.words.empty() && tok.token.rfind("##", 0) == 0 &&
                             out.words.back().last_token == std::int64_t(t) - 1 &&
                             out.words.back().segment == tok.segment;
      if (!continues) {
        WordScore w;
        w.begin = tok.begin;
        w.segment = tok.segment;
        w.first_token = std::int64_t(t);
        out.words.push_back(w);
      }
      WordScore& w = out.words.back();
      w.end = tok.end;
      w.last_token = std::int64_t(t);
      w.score += tok.score;
      w.normalized += tok.normalized;
    }
    for (WordScore& w : out.words) {
      const std::string& text = w.segment == 1 && src.text_pair ? *src.text_pair : src.text;
      w.text = text.substr(std::size_t(std::max(0, w.begin)), std::size_t(std::max(0, w.end - w.begin)));
    }
  }
  return out;
}

}  // namespace

SaliencyTarget SaliencyTarget::parse(const std::string& text) {
  SaliencyTarget t;
  if (text == "predicted") t.kind = Kind::predicted;
  else if (text == "gold") t.kind = Kind::gold;
  else t.kind = Kind::label, t.label = text;
  return t;
}

std::string SaliencyTarget::name() const {
  return kind == Kind::predicted ? "predicted" : kind == Kind::gold ? "gold" : label;
}

std::vector<ExampleSaliency> explain_saliency(model::Bundle& bundle, const std::vector<data::Example>& examples,
                                              const SaliencySettings& settings, const SaliencyTarget& target,
                                              std::int64_t batch, const std::string& source,
                                              const std::vector<std::int64_t>& fixed_targets) {
  check_settings(settings);
  if (!fixed_targets.empty() && fixed_targets.size() != examples.size())
    throw UsageError("saliency: " + std::to_string(fixed_targets.size()) + " fixed targets for " +
                     std::to_string(examples.size()) + " examples");
  if (batch < 1) throw UsageError("saliency: --batch must be >= 1, got " + std::to_string(batch));
  if (target.kind == SaliencyTarget::Kind::label && bundle.label_index(target.label) == data::kNoLabel) {
    std::string known;
    for (const auto& l : bundle.info.labels) known += (known.empty() ? "" : ", ") + l;
    throw UsageError("saliency: target label '" + target.label + "' is not one of the model's labels (" + known +
                     "; or predicted, gold)");
  }
  model::Model& model = *bundle.model;
  model.train(false);
  const std::int64_t pad_id = bundle.tokenizer->pad_id();
  std::vector<ExampleSaliency> out;
  out.reserve(examples.size());
  for (std::size_t b0 = 0; b0 < examples.size(); b0 += std::size_t(batch)) {
    const std::size_t b1 = std::min(examples.size(), b0 + std::size_t(batch));
    std::vector<Encoded> encs;
    for (std::size_t i = b0; i < b1; ++i) {
      const data::Example& e = examples[i];
      Encoded x;
      x.example = &e;
      x.enc = bundle.tokenizer->encode(e.text, e.text_pair ? std::optional<std::string_view>(*e.text_pair)
                                                           : std::optional<std::string_view>(),
                                       bundle.info.max_length);
      encs.push_back(std::move(x));
    }
    torch::Tensor special;
    model::Batch x = pad_batch(encs, pad_id, special).to(model.device());
    // The prediction decides the target: one plain forward first.
    torch::Tensor predictions;
    {
      torch::NoGradGuard no_grad;
      predictions = model.forward(x).logits.argmax(1).to(torch::kCPU);
    }
    std::vector<std::int64_t> targets(encs.size());
    for (std::size_t i = 0; i < encs.size(); ++i)
      targets[i] = !fixed_targets.empty() ? fixed_targets[b0 + i] : resolve_target(target, bundle, *encs[i].example, predictions[std::int64_t(i)].item<std::int64_t>(),
                                  source);
    SaliencyScores s = saliency_scores(model, x, torch::tensor(targets, torch::kLong).to(model.device()),
                                       special.to(model.device()), settings);
    s.logits = s.logits.to(torch::kCPU);
    s.objective = s.objective.to(torch::kCPU);
    if (s.baseline_objective.defined()) {
      s.baseline_objective = s.baseline_objective.to(torch::kCPU);
      s.completeness_gap = s.completeness_gap.to(torch::kCPU);
    }
    for (std::size_t i = 0; i < encs.size(); ++i)
      out.push_back(to_example(encs[i], bundle, s, std::int64_t(i), targets[i]));
  }
  return out;
}

std::string saliency_json(const ExampleSaliency& e, const model::Bundle& bundle, const SaliencySettings& settings,
                          const SaliencyTarget& target) {
  using nlohmann::ordered_json;
  const auto& labels = bundle.info.labels;
  ordered_json j;
  j["id"] = e.id;
  j["prediction"] = labels[std::size_t(e.prediction)];
  ordered_json probs = ordered_json::object();
  for (std::size_t c = 0; c < labels.size() && c < e.probs.size(); ++c) probs[labels[c]] = detail::round6(e.probs[c]);
  j["probs"] = std::move(probs);
  j["target"] = labels[std::size_t(e.target)];
  j["method"] = method_name(settings.method);
  ordered_json st;
  st["of"] = objective_name(settings.objective);
  st["target"] = target.name();
  if (settings.method == SaliencyMethod::integrated_gradients) {
    st["steps"] = settings.steps;
    st["rule"] = rule_name(settings.rule);
    st["baseline"] = "zero";
  } else if (settings.method == SaliencyMethod::smoothgrad) {
    st["samples"] = settings.samples;
    st["noise"] = settings.noise;
    st["seed"] = settings.seed;
  }
  j["settings"] = std::move(st);
  j["objective"] = e.objective;
  if (e.completeness_gap) {
    j["baseline_objective"] = *e.baseline_objective;
    j["completeness_gap"] = *e.completeness_gap;
  }
  ordered_json tokens = ordered_json::array();
  for (const TokenScore& t : e.tokens)
    tokens.push_back(ordered_json{{"token", t.token},     {"text", t.text},       {"begin", t.begin},
                                  {"end", t.end},         {"segment", t.segment}, {"special", t.special},
                                  {"score", t.score},     {"normalized", t.normalized}});
  j["tokens"] = std::move(tokens);
  if (bundle.tokenizer->kind() == "wordpiece") {
    ordered_json words = ordered_json::array();
    for (const WordScore& w : e.words)
      words.push_back(ordered_json{{"text", w.text},
                                   {"begin", w.begin},
                                   {"end", w.end},
                                   {"segment", w.segment},
                                   {"tokens", ordered_json::array({w.first_token, w.last_token})},
                                   {"score", w.score},
                                   {"normalized", w.normalized}});
    j["words"] = std::move(words);
  }
  j["truncated"] = e.truncated;
  // Invalid UTF-8 cannot reach here (readers validate), but a byte range
  // could cut a code point of an unusual tokenizer: replace, never throw.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace fathom::attrib
