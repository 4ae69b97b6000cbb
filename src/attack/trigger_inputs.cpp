// Inputs with a trigger spliced in and the passes of the trigger search (trigger_inputs.h).
#include "trigger_inputs.h"

#include <algorithm>

#include "attack_internal.h"
#include "fathom/attrib/embedding_gradients.h"
#include "fathom/core/error.h"

namespace fathom::attack::detail {
namespace {

using Ids = std::vector<std::int64_t>;

struct Spliced {
  Ids ids, types;
  std::int64_t at = 1;
};

// [CLS] a [SEP] (b [SEP]) with `trigger` inserted at the configured place;
// the text is encoded with max_length − L so the whole row fits.
Spliced splice(const data::Tokenizer& tok, const data::Example& ex, std::int64_t max_length, const Ids& trigger,
               TriggerPosition position) {
  std::optional<std::string_view> pair;
  if (ex.text_pair) pair = *ex.text_pair;
  const auto L = std::int64_t(trigger.size());
  const data::Encoding enc = tok.encode(ex.text, pair, max_length > 0 ? max_length - L : 0);
  Spliced s;
  s.ids = enc.ids;
  s.types = enc.type_ids;
  std::int64_t type = 0;
  if (position != TriggerPosition::prepend) {
    std::size_t sep = 1;
    while (sep < enc.ids.size() && !(enc.special[sep] && enc.ids[sep] == tok.sep_id())) ++sep;
    s.at = std::int64_t(position == TriggerPosition::append ? sep : sep + 1);
    if (position == TriggerPosition::pair) type = 1;
  }
  s.ids.insert(s.ids.begin() + s.at, trigger.begin(), trigger.end());
  s.types.insert(s.types.begin() + s.at, std::size_t(L), type);
  return s;
}

std::int64_t gold_of(const model::Bundle& bundle, const data::Example& ex) {
  const std::int64_t gold = bundle.label_index(*ex.label);
  if (gold != data::kNoLabel) return gold;
  std::string known;
  for (const auto& l : bundle.info.labels) known += (known.empty() ? "" : ", ") + l;
  throw InputError("example '" + ex.id + "'", ex.line, "label",
                   "unknown label '" + *ex.label + "' (the model's labels: " + known + ")");
}

void check_pair(const data::Example& ex, TriggerPosition position) {
  if (position == TriggerPosition::pair && !ex.text_pair)
    throw UsageError("triggers --position pair: example '" + ex.id + "' (line " + std::to_string(ex.line) +
                     ") has no second text (text_pair)");
}

}  // namespace

AttackTargets select_examples(const model::Bundle& bundle, const std::vector<data::Example>& examples,
                              const TriggerConfig& c) {
  AttackTargets t;
  const std::int64_t target = c.target ? label_index(bundle, *c.target, "triggers --target") : data::kNoLabel;
  const std::int64_t from = c.from_label ? label_index(bundle, *c.from_label, "triggers --from-label") : data::kNoLabel;
  if (target != data::kNoLabel && from == target)
    throw UsageError("triggers: --from-label equals --target ('" + *c.target + "'): no example to flip");
  t.sign = target != data::kNoLabel ? 1.0 : -1.0;
  std::int64_t labelled = 0;
  for (const data::Example& ex : examples) {
    if (!ex.label) continue;
    ++labelled;
    const std::int64_t gold = gold_of(bundle, ex);
    if (from != data::kNoLabel && gold != from) continue;
    if (target != data::kNoLabel && gold == target) continue;
    check_pair(ex, c.position);
    t.examples.push_back(&ex);
    t.labels.push_back(target != data::kNoLabel ? target : gold);
  }
  if (t.examples.empty()) {
    std::string why = "every labelled example has the target label '" + (c.target ? *c.target : "") + "'";
    if (labelled == 0) why = "no example has a label";
    else if (from != data::kNoLabel) why = "no example has the label '" + *c.from_label + "' (--from-label)";
    throw InputError("the search corpus", "no example to attack: " + why + " (" + std::to_string(examples.size()) +
                                              " examples read)");
  }
  return t;
}

TriggerBatch make_trigger_batch(const model::Bundle& bundle, const AttackTargets& targets, const Ids& rows,
                                const Ids& trigger, const TriggerConfig& c) {
  std::vector<Ids> ids, types;
  TriggerBatch b;
  std::vector<std::int64_t> labels;
  for (std::int64_t r : rows) {
    Spliced s = splice(*bundle.tokenizer, *targets.examples[std::size_t(r)], bundle.info.max_length, trigger, c.position);
    ids.push_back(std::move(s.ids));
    types.push_back(std::move(s.types));
    b.at.push_back(s.at);
    labels.push_back(targets.labels[std::size_t(r)]);
  }
  b.base = pad_rows(ids, types, bundle.tokenizer->pad_id());
  b.labels = torch::tensor(labels, torch::kLong);
  b.sign = targets.sign;
  b.length = std::int64_t(trigger.size());
  return b;
}

void candidate_losses(model::Model& model, const TriggerBatch& batch, const std::vector<Ids>& candidates,
                      std::int64_t c0, std::int64_t c1, double* out) {
  const std::int64_t g = c1 - c0, rows = batch.size(), steps = batch.base.ids.size(1);
  torch::Tensor ids = batch.base.ids.repeat({g, 1}).contiguous();
  auto* pi = ids.data_ptr<std::int64_t>();
  for (std::int64_t k = 0; k < g; ++k) {
    const Ids& t = candidates[std::size_t(c0 + k)];
    for (std::int64_t r = 0; r < rows; ++r)
      std::copy(t.begin(), t.end(), pi + (k * rows + r) * steps + batch.at[std::size_t(r)]);
  }
  torch::NoGradGuard no_grad;
  const torch::Tensor emb = model.embed(ids);
  const attrib::EmbeddingGradients f =
      attrib::evaluate_objective(model, emb, batch.base.mask.repeat({g, 1}), batch.base.type_ids.repeat({g, 1}),
                                 batch.labels.repeat({g}), attrib::Objective::loss);
  const torch::Tensor values = f.objective.to(torch::kDouble).contiguous();
  const auto* pv = values.data_ptr<double>();
  for (std::int64_t k = 0; k < g; ++k) {
    double sum = 0;
    for (std::int64_t r = 0; r < rows; ++r) sum += pv[k * rows + r];
    out[k] = batch.sign * sum / double(rows);
  }
}

void trigger_gradient_sum(model::Model& model, const TriggerBatch& batch, std::int64_t r0, std::int64_t r1,
                          double* out) {
  const std::int64_t L = batch.length, E = model.embedding_dim();
  std::fill(out, out + L * E, 0.0);
  if (r1 <= r0) return;
  torch::Tensor emb;
  {
    torch::NoGradGuard no_grad;
    emb = model.embed(batch.base.ids.slice(0, r0, r1));
  }
  const attrib::EmbeddingGradients g =
      attrib::embedding_gradients(model, emb, batch.base.mask.slice(0, r0, r1), batch.base.type_ids.slice(0, r0, r1),
                                  batch.labels.slice(0, r0, r1), attrib::Objective::loss);
  const torch::Tensor grads = g.gradients.to(torch::kDouble).contiguous();
  const auto* pg = grads.data_ptr<double>();
  const std::int64_t steps = grads.size(1);
  for (std::int64_t r = r0; r < r1; ++r) {
    const double* row = pg + ((r - r0) * steps + batch.at[std::size_t(r)]) * E;
    for (std::int64_t i = 0; i < L * E; ++i) out[i] += batch.sign * row[i];
  }
}

std::vector<LabelledExample> labelled_examples(const model::Bundle& bundle, const std::vector<data::Example>& examples,
                                               TriggerPosition position) {
  std::vector<LabelledExample> out;
  for (const data::Example& ex : examples) {
    if (!ex.label) continue;
    check_pair(ex, position);
    out.push_back({&ex, gold_of(bundle, ex)});
  }
  return out;
}

void predict_with_and_without(model::Bundle& bundle, const std::vector<LabelledExample>& examples, std::int64_t r0,
                              std::int64_t r1, const Ids& trigger, const TriggerConfig& c, double* out) {
  torch::NoGradGuard no_grad;
  for (int with = 0; with < 2; ++with) {
    std::vector<Ids> ids, types;
    for (std::int64_t r = r0; r < r1; ++r) {
      Spliced s = splice(*bundle.tokenizer, *examples[std::size_t(r)].example, bundle.info.max_length,
                         with ? trigger : Ids{}, c.position);
      ids.push_back(std::move(s.ids));
      types.push_back(std::move(s.types));
    }
    const model::Batch b = pad_rows(ids, types, bundle.tokenizer->pad_id());
    const torch::Tensor pred = bundle.model->forward(b).logits.argmax(1).contiguous();
    const auto* pp = pred.data_ptr<std::int64_t>();
    for (std::int64_t i = 0; i < r1 - r0; ++i) out[with * c.batch + i] = double(pp[i]);
  }
}

}  // namespace fathom::attack::detail
