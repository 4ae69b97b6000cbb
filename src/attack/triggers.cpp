// Universal trigger search and its held-out evaluation (triggers.h).
#include "fathom/attack/triggers.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <set>

#include "attack_internal.h"
#include "fathom/attrib/embedding_gradients.h"
#include "fathom/comm/communicator.h"
#include "fathom/core/error.h"
#include "fathom/model/batching.h"
#include "fathom/model/train.h"
#include "trigger_inputs.h"

namespace fathom::attack {
namespace {

using Clock = std::chrono::steady_clock;
using Ids = std::vector<std::int64_t>;

constexpr std::int64_t kMaxTriggerLength = 10;
constexpr std::int64_t kGradientUnit = 16;  // examples per gradient unit
// Candidate units per beam step: divisible by 1, 2, 3, 4 and 6 ranks.
constexpr std::int64_t kCandidateUnits = 12;

void check_config(const TriggerConfig& c, const model::Bundle& bundle) {
  if (c.length < 1 || c.length > kMaxTriggerLength)
    throw UsageError("triggers: --length must be in 1.." + std::to_string(kMaxTriggerLength) + ", got " +
                     std::to_string(c.length));
  auto at_least_one = [](std::int64_t v, const char* name) {
    if (v < 1) throw UsageError(std::string("triggers: ") + name + " must be >= 1, got " + std::to_string(v));
  };
  at_least_one(c.beam, "--beam");
  at_least_one(c.candidates, "--candidates");
  at_least_one(c.batch, "--batch");
  at_least_one(c.iterations, "--iterations");
  at_least_one(c.pass_rows, "pass_rows");
  if (bundle.info.max_length > 0 && bundle.info.max_length - c.length < 4)
    throw UsageError("triggers: a trigger of " + std::to_string(c.length) + " tokens leaves no room in the model's " +
                     "max_length " + std::to_string(bundle.info.max_length));
}

// The initial trigger: config.init tokenized, or "the" × length, or the first
// allowed token that re-tokenises when repeated.
Ids initial_trigger(const model::Bundle& bundle, const TriggerConfig& c, const torch::Tensor& allowed) {
  const data::Tokenizer& tok = *bundle.tokenizer;
  const auto* ok = allowed.data_ptr<bool>();
  if (!c.init.empty()) {
    const data::Encoding enc = tok.encode(c.init, std::nullopt, 0);
    Ids ids(enc.ids.begin() + 1, enc.ids.end() - 1);
    if (std::int64_t(ids.size()) != c.length)
      throw UsageError("triggers: --init '" + c.init + "' is " + std::to_string(ids.size()) +
                       " tokens for the model's tokenizer, --length is " + std::to_string(c.length));
    for (std::int64_t id : ids)
      if (!ok[id])
        throw UsageError("triggers: --init '" + c.init + "': token '" + tok.id_to_token(id) +
                         "' may not be written (special, unknown or removed by --vocab-filter)");
    if (!retokenizes(tok, ids))
      throw UsageError("triggers: --init '" + c.init + "' does not tokenize back to the same tokens");
    return ids;
  }
  const std::int64_t the = tok.token_to_id("the");
  if (the != tok.unk_id() && ok[the] && retokenizes(tok, Ids(std::size_t(c.length), the)))
    return Ids(std::size_t(c.length), the);
  for (std::int64_t id = 0; id < allowed.size(0); ++id)
    if (ok[id] && retokenizes(tok, Ids(std::size_t(c.length), id))) return Ids(std::size_t(c.length), id);
  throw InputError(bundle.dir + "/vocab.txt", "no token of the vocabulary can form a trigger");
}

// Per position, the `k` allowed tokens other than the current one with the
// smallest first-order score (largest predicted decrease), ties by id.
std::vector<Ids> top_candidates(const torch::Tensor& scores, const Ids& trigger, const torch::Tensor& allowed,
                                std::int64_t k) {
  const torch::Tensor s = scores.contiguous();
  const auto* ps = s.data_ptr<double>();
  const auto* ok = allowed.data_ptr<bool>();
  const std::int64_t v = s.size(1);
  std::vector<Ids> out(trigger.size());
  std::vector<std::pair<double, std::int64_t>> row;
  for (std::size_t p = 0; p < trigger.size(); ++p) {
    row.clear();
    for (std::int64_t w = 0; w < v; ++w)
      if (ok[w] && w != trigger[p]) row.emplace_back(ps[std::int64_t(p) * v + w], w);
    const auto keep = std::min<std::size_t>(std::size_t(k), row.size());
    std::partial_sort(row.begin(), row.begin() + std::ptrdiff_t(keep), row.end());
    for (std::size_t i = 0; i < keep; ++i) out[p].push_back(row[i].second);
  }
  return out;
}

struct Entry {
  Ids ids;
  double loss;
};

class Search {
 public:
  Search(model::Bundle& bundle, const TriggerConfig& config, comm::Communicator& comm)
      : bundle_(bundle), model_(*bundle.model), c_(config), comm_(comm) {}

  // The batch losses of `candidates` on `batch`.
  std::vector<double> losses(const detail::TriggerBatch& batch, const std::vector<Ids>& candidates) {
    const auto n = std::int64_t(candidates.size());
    if (n == 0) return {};
    const std::int64_t rows = batch.size();
    result_.forward_rows += n * rows;
    if (c_.reference) {
      // The authors' code: one candidate per forward pass (every rank alike).
      std::vector<double> out(static_cast<std::size_t>(n));
      for (std::int64_t i = 0; i < n; ++i) detail::candidate_losses(model_, batch, candidates, i, i + 1, &out[std::size_t(i)]);
      result_.forward_passes += n;
      return out;
    }
    // Units of consecutive candidates, sized by n and the batch only.
    const std::int64_t most = std::max<std::int64_t>(1, c_.pass_rows / std::max<std::int64_t>(rows, 1));
    const std::int64_t per_unit = std::clamp<std::int64_t>((n + kCandidateUnits - 1) / kCandidateUnits, 1, most);
    const std::int64_t units = (n + per_unit - 1) / per_unit;
    result_.forward_passes += units;
    std::vector<double> per = detail::map_units(
        units, per_unit,
        [&](std::int64_t u, double* out) {
          const std::int64_t c0 = u * per_unit, c1 = std::min(n, c0 + per_unit);
          std::fill(out, out + per_unit, 0.0);
          detail::candidate_losses(model_, batch, candidates, c0, c1, out);
        },
        comm_);
    per.resize(std::size_t(n));
    return per;
  }

  // Mean over the batch of ∂F/∂e at the trigger positions, [L,E] float64,
  // summed in units of kGradientUnit examples in unit order.
  torch::Tensor mean_gradient(const detail::TriggerBatch& batch) {
    const std::int64_t rows = batch.size(), L = c_.length, E = model_.embedding_dim();
    const std::int64_t units = (rows + kGradientUnit - 1) / kGradientUnit;
    const std::vector<double> sums = detail::map_units(
        units, L * E,
        [&](std::int64_t u, double* out) {
          detail::trigger_gradient_sum(model_, batch, u * kGradientUnit, std::min(rows, (u + 1) * kGradientUnit), out);
        },
        comm_);
    torch::Tensor g = torch::zeros({L, E}, torch::kDouble);
    auto* pg = g.data_ptr<double>();
    for (std::int64_t u = 0; u < units; ++u)
      for (std::int64_t i = 0; i < L * E; ++i) pg[i] += sums[std::size_t(u * L * E + i)];
    return g / double(rows);
  }

  // One beam search over the positions; returns the best entry.
  Entry beam_search(const detail::TriggerBatch& batch, const Ids& trigger, const std::vector<Ids>& candidates,
                    TriggerIteration& it) {
    std::vector<Entry> beams;
    for (std::size_t p = 0; p < trigger.size(); ++p) {
      std::vector<Ids> fresh;
      std::set<Ids> seen;
      if (p == 0) {
        fresh.push_back(trigger);  // the unchanged trigger is scored with the first position's candidates
        seen.insert(trigger);
      }
      for (const Entry& e : beams) seen.insert(e.ids);
      const std::vector<Entry> parents = p == 0 ? std::vector<Entry>{{trigger, 0.0}} : beams;
      for (const Entry& parent : parents)
        for (std::int64_t w : candidates[p]) {
          Ids t = parent.ids;
          t[p] = w;
          if (!seen.insert(t).second) continue;
          if (!retokenizes(*bundle_.tokenizer, t)) {
            ++it.rejected;
            continue;
          }
          fresh.push_back(std::move(t));
        }
      const std::vector<double> l = losses(batch, fresh);
      it.evaluated += std::int64_t(fresh.size());
      std::vector<Entry> pool = p == 0 ? std::vector<Entry>{} : beams;
      for (std::size_t i = 0; i < fresh.size(); ++i) pool.push_back({fresh[i], l[i]});
      if (p == 0) it.loss_before = l[0];
      // Lowest loss first; ties keep the order of generation (the unchanged trigger first).
      std::stable_sort(pool.begin(), pool.end(), [](const Entry& a, const Entry& b) { return a.loss < b.loss; });
      pool.resize(std::min<std::size_t>(pool.size(), std::size_t(c_.beam)));
      beams = std::move(pool);
    }
    return beams.front();
  }

  TriggerSearch run(const std::vector<data::Example>& examples,
                    const std::function<void(const TriggerIteration&)>& on_iteration) {
    const auto t0 = Clock::now();
    check_config(c_, bundle_);
    const data::Tokenizer& tok = *bundle_.tokenizer;
    const torch::Tensor allowed = allowed_tokens(tok, c_.vocab_filter);
    if (!allowed.any().item<bool>())
      throw InputError(bundle_.dir + "/vocab.txt",
                       "the vocabulary has no token an attack may write (only special tokens, or none left after "
                       "--vocab-filter " + vocab_filter_spec(c_.vocab_filter) + ")");
    const detail::AttackTargets targets = detail::select_examples(bundle_, examples, c_);
    torch::NoGradGuard no_grad;
    const torch::Tensor table = model_.embedding_matrix().detach();

    Ids trigger = initial_trigger(bundle_, c_, allowed);
    result_.init_ids = trigger;
    result_.examples = std::int64_t(targets.examples.size());
    const auto n = std::int64_t(targets.examples.size());
    const std::int64_t per_batch = std::min(n, c_.batch);
    const std::int64_t batches_per_pass = std::max<std::int64_t>(1, n / per_batch);
    result_.stopped = "budget";
    std::vector<std::int64_t> order;
    for (std::int64_t i = 0; i < c_.iterations; ++i) {
      const std::int64_t pass = i / batches_per_pass, k = i % batches_per_pass;
      if (k == 0) order = model::epoch_permutation(n, c_.seed, pass + 1);
      std::vector<std::int64_t> rows(order.begin() + k * per_batch, order.begin() + (k + 1) * per_batch);
      const detail::TriggerBatch batch = detail::make_trigger_batch(bundle_, targets, rows, trigger, c_);

      TriggerIteration it;
      it.iteration = i + 1;
      const torch::Tensor g = mean_gradient(batch);
      const torch::Tensor current =
          model_.embed(torch::tensor(trigger, torch::kLong).unsqueeze(0)).squeeze(0).detach();
      const torch::Tensor scores = first_order_scores(g, current, table);
      const std::vector<Ids> candidates = top_candidates(scores, trigger, allowed, c_.candidates);
      const Entry best = beam_search(batch, trigger, candidates, it);
      it.loss = best.loss;
      it.ids = best.ids;
      result_.iterations.push_back(it);
      if (on_iteration) on_iteration(it);
      if (best.ids == trigger) {
        result_.stopped = "converged";
        break;
      }
      trigger = best.ids;
    }
    result_.ids = trigger;
    for (std::int64_t id : trigger) result_.tokens.push_back(tok.id_to_token(id));
    result_.text = tok.decode(trigger);
    result_.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    return result_;
  }

 private:
  model::Bundle& bundle_;
  model::Model& model_;
  const TriggerConfig& c_;
  comm::Communicator& comm_;
  TriggerSearch result_;
};

}  // namespace

TriggerPosition parse_trigger_position(const std::string& name) {
  if (name == "prepend") return TriggerPosition::prepend;
  if (name == "append") return TriggerPosition::append;
  if (name == "pair") return TriggerPosition::pair;
  throw UsageError("triggers: --position must be prepend, append or pair, got '" + name + "'");
}

const char* trigger_position_name(TriggerPosition p) {
  switch (p) {
    case TriggerPosition::prepend: return "prepend";
    case TriggerPosition::append: return "append";
    case TriggerPosition::pair: return "pair";
  }
  return "?";
}

TriggerSearch search_trigger(model::Bundle& bundle, const std::vector<data::Example>& examples,
                             const TriggerConfig& config, comm::Communicator& comm,
                             const std::function<void(const TriggerIteration&)>& on_iteration) {
  Search search(bundle, config, comm);
  return search.run(examples, on_iteration);
}

TriggerEval evaluate_trigger(model::Bundle& bundle, const std::vector<data::Example>& examples,
                             const std::vector<std::int64_t>& trigger_ids, const TriggerConfig& config,
                             comm::Communicator& comm) {
  check_config(config, bundle);
  if (std::int64_t(trigger_ids.size()) != config.length)
    throw UsageError("evaluate_trigger: the trigger has " + std::to_string(trigger_ids.size()) + " tokens, length is " +
                     std::to_string(config.length));
  const std::vector<detail::LabelledExample> labelled = detail::labelled_examples(bundle, examples, config.position);
  const auto n = std::int64_t(labelled.size());
  const std::int64_t units = (n + config.batch - 1) / config.batch;
  torch::NoGradGuard no_grad;
  const std::vector<double> preds = detail::map_units(
      units, 2 * config.batch,
      [&](std::int64_t u, double* out) {
        const std::int64_t r0 = u * config.batch, r1 = std::min(n, r0 + config.batch);
        std::fill(out, out + 2 * config.batch, -1.0);
        detail::predict_with_and_without(bundle, labelled, r0, r1, trigger_ids, config, out);
      },
      comm);

  const std::int64_t target =
      config.target ? detail::label_index(bundle, *config.target, "triggers --target") : data::kNoLabel;
  const std::int64_t from =
      config.from_label ? detail::label_index(bundle, *config.from_label, "triggers --from-label") : data::kNoLabel;
  const auto C = std::size_t(bundle.model->num_labels());
  std::vector<std::int64_t> count(C), right_before(C), right_after(C), target_before(C), target_after(C);
  std::int64_t flip_base = 0, flipped = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    const auto gold = std::size_t(labelled[std::size_t(i)].gold);
    const auto u = i / config.batch, j = i % config.batch;
    const auto before = std::int64_t(preds[std::size_t(u * 2 * config.batch + j)]);
    const auto after = std::int64_t(preds[std::size_t(u * 2 * config.batch + config.batch + j)]);
    ++count[gold];
    right_before[gold] += before == std::int64_t(gold);
    right_after[gold] += after == std::int64_t(gold);
    target_before[gold] += before == target;
    target_after[gold] += after == target;
    if (target != data::kNoLabel) {
      if (std::int64_t(gold) == target || (from != data::kNoLabel && std::int64_t(gold) != from)) continue;
      ++flip_base;
      flipped += after == target;
    } else if (before == std::int64_t(gold) && (from == data::kNoLabel || std::int64_t(gold) == from)) {
      ++flip_base;
      flipped += after != before;
    }
  }
  TriggerEval e;
  e.n = n;
  std::int64_t all_before = 0, all_after = 0;
  for (std::size_t c = 0; c < C; ++c) {
    all_before += right_before[c];
    all_after += right_after[c];
    if (count[c] == 0) continue;
    const double m = double(count[c]);
    e.per_class.push_back({bundle.info.labels[c], count[c], right_before[c] / m, right_after[c] / m,
                           target_before[c] / m, target_after[c] / m});
  }
  if (n > 0) {
    e.accuracy_before = double(all_before) / double(n);
    e.accuracy_after = double(all_after) / double(n);
  }
  e.flip_base = flip_base;
  if (flip_base > 0) e.flip_rate = double(flipped) / double(flip_base);
  return e;
}

}  // namespace fathom::attack
