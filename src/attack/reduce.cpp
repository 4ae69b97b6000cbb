// Input reduction per instance and per batch, and `fathom reduce` over a file (reduce.h).
#include "fathom/attack/reduce.h"

#include <algorithm>
#include <map>
#include <set>

#include "attack_internal.h"
#include "fathom/attrib/embedding_gradients.h"
#include "fathom/core/error.h"

namespace fathom::attack {
namespace {

using Ids = std::vector<std::int64_t>;

// One partial reduction: the tokens left, where each came from, and how it got there.
struct Entry {
  Ids ids, types, origin;  // origin: position in the original encoding
  std::vector<Removal> path;
  double confidence = 0;
  std::int64_t removable() const;
  std::vector<std::uint8_t> special;
};

std::int64_t Entry::removable() const {
  return std::int64_t(std::count(special.begin(), special.end(), std::uint8_t(0)));
}

struct State {
  const data::Example* example = nullptr;
  data::Encoding original;
  std::int64_t label = 0;
  double confidence_before = 0;
  std::vector<Entry> beam;
  bool done = false;
  ReduceResult result;
};

Entry without(const Entry& e, std::size_t t, double saliency, const data::Tokenizer& tok) {
  Entry c = e;
  Removal r;
  r.position = e.origin[t];
  r.token = tok.id_to_token(e.ids[t]);
  r.saliency = saliency;
  c.ids.erase(c.ids.begin() + std::ptrdiff_t(t));
  c.types.erase(c.types.begin() + std::ptrdiff_t(t));
  c.origin.erase(c.origin.begin() + std::ptrdiff_t(t));
  c.special.erase(c.special.begin() + std::ptrdiff_t(t));
  c.path.push_back(r);
  return c;
}

// The tokens of `e` in segment `segment`, spelt as in the original text: a
// wordpiece continuation right after its kept predecessor is glued on.
std::optional<std::string> kept_text(const State& s, const Entry& e, std::int64_t segment, const data::Tokenizer& tok) {
  if (segment == 1 && !s.example->text_pair) return std::nullopt;
  const std::string& source = detail::segment_text(*s.example, segment);
  std::string out;
  std::int64_t previous = -2;
  for (std::size_t i = 0; i < e.ids.size(); ++i) {
    if (e.special[i] || e.types[i] != segment) continue;
    const auto o = std::size_t(e.origin[i]);
    const std::int32_t b = s.original.begin[o], end = s.original.end[o];
    const bool glue = tok.id_to_token(e.ids[i]).compare(0, 2, "##") == 0 && e.origin[i] == previous + 1;
    if (!out.empty() && !glue) out += ' ';
    out += source.substr(std::size_t(b), std::size_t(end - b));
    previous = e.origin[i];
  }
  return out;
}

class Reduction {
 public:
  Reduction(model::Bundle& bundle, const ReduceConfig& config) : bundle_(bundle), c_(config) {
    if (c_.beam < 1) throw UsageError("reduce: --beam must be >= 1, got " + std::to_string(c_.beam));
    if (c_.min_tokens < 1) throw UsageError("reduce: --min-tokens must be >= 1, got " + std::to_string(c_.min_tokens));
  }

  std::vector<ReduceResult> run(const std::vector<data::Example>& examples) {
    std::vector<State> states(examples.size());
    std::vector<const Entry*> rows;
    for (std::size_t i = 0; i < examples.size(); ++i) {
      State& s = states[i];
      s.example = &examples[i];
      s.original = detail::encode(bundle_, examples[i]);
      Entry e{s.original.ids, s.original.type_ids, {}, {}, 0.0, s.original.special};
      for (std::size_t t = 0; t < e.ids.size(); ++t) e.origin.push_back(std::int64_t(t));
      s.beam.push_back(std::move(e));
      rows.push_back(&s.beam.back());
    }
    if (examples.empty()) return {};
    // y0 and p(y0) on the whole inputs.
    const torch::Tensor first = forward(rows);
    for (std::size_t i = 0; i < states.size(); ++i) {
      const std::vector<double> p = detail::row_probs(first, std::int64_t(i));
      states[i].label = std::int64_t(std::max_element(p.begin(), p.end()) - p.begin());
      states[i].confidence_before = p[std::size_t(states[i].label)];
      states[i].beam.front().confidence = states[i].confidence_before;
    }
    for (;;) {
      // Saliency of every token of every beam entry that can still lose one.
      std::vector<std::pair<State*, const Entry*>> parents;
      for (State& s : states) {
        if (s.done) continue;
        for (const Entry& e : s.beam)
          if (e.removable() > c_.min_tokens) parents.emplace_back(&s, &e);
      }
      if (parents.empty()) break;
      rows.clear();
      std::vector<std::int64_t> labels;
      for (const auto& [s, e] : parents) {
        rows.push_back(e);
        labels.push_back(s->label);
      }
      const model::Batch b = batch_of(rows);
      torch::Tensor emb;
      {
        torch::NoGradGuard no_grad;
        emb = bundle_.model->embed(b.ids);
      }
      const attrib::EmbeddingGradients g = attrib::embedding_gradients(
          *bundle_.model, emb, b.mask, b.type_ids, torch::tensor(labels, torch::kLong), attrib::Objective::loss);
      const torch::Tensor norms = g.gradients.to(torch::kDouble).norm(2, 2).contiguous();  // [R,T]
      // Children: each parent without one of its `beam` least salient tokens.
      std::vector<std::pair<State*, Entry>> children;
      for (std::size_t r = 0; r < parents.size(); ++r) {
        const Entry& e = *parents[r].second;
        const auto* pn = norms[std::int64_t(r)].data_ptr<double>();
        std::vector<std::pair<double, std::size_t>> order;
        for (std::size_t t = 0; t < e.ids.size(); ++t)
          if (!e.special[t]) order.emplace_back(pn[t], t);
        const auto keep = std::min<std::size_t>(order.size(), std::size_t(c_.beam));
        std::partial_sort(order.begin(), order.begin() + std::ptrdiff_t(keep), order.end());
        for (std::size_t k = 0; k < keep; ++k)
          children.emplace_back(parents[r].first, without(e, order[k].second, order[k].first, *bundle_.tokenizer));
      }
      // Duplicates (the same tokens left, reached through another path) are dropped.
      std::set<std::pair<const State*, Ids>> seen;
      std::vector<std::pair<State*, Entry>> unique;
      for (auto& [s, e] : children)
        if (seen.insert({s, e.origin}).second) unique.emplace_back(s, std::move(e));
      rows.clear();
      for (const auto& [s, e] : unique) rows.push_back(&e);
      const torch::Tensor logits = forward(rows);
      // Next beams: children that keep y0, most confident first.
      std::map<State*, std::vector<Entry>> kept;
      for (std::size_t r = 0; r < unique.size(); ++r) {
        State* s = unique[r].first;
        const std::vector<double> p = detail::row_probs(logits, std::int64_t(r));
        if (std::max_element(p.begin(), p.end()) - p.begin() != s->label) continue;
        Entry e = std::move(unique[r].second);
        e.confidence = p[std::size_t(s->label)];
        e.path.back().confidence = e.confidence;
        kept[s].push_back(std::move(e));
      }
      // Once per example (parents lists each example's beam entries
      // together): a beam of B entries is B parents of ONE example, and its
      // next beam is chosen once from all their children.
      State* previous = nullptr;
      for (const auto& parent : parents) {
        State* s = parent.first;
        if (s == previous) continue;
        previous = s;
        auto it = kept.find(s);
        if (it == kept.end()) {
          s->done = true;  // no removal from any beam entry keeps the prediction: the current beam is final
          continue;
        }
        std::vector<Entry>& next = it->second;
        std::stable_sort(next.begin(), next.end(),
                         [](const Entry& a, const Entry& b) { return a.confidence > b.confidence; });
        next.resize(std::min<std::size_t>(next.size(), std::size_t(c_.beam)));
        s->beam = std::move(next);  // invalidates the Entry pointers in parents: not used below
      }
    }
    std::vector<ReduceResult> out;
    for (State& s : states) out.push_back(result_of(s));
    return out;
  }

 private:
  model::Batch batch_of(const std::vector<const Entry*>& rows) const {
    std::vector<Ids> ids, types;
    for (const Entry* e : rows) {
      ids.push_back(e->ids);
      types.push_back(e->types);
    }
    return detail::pad_rows(ids, types, bundle_.tokenizer->pad_id());
  }

  torch::Tensor forward(const std::vector<const Entry*>& rows) {
    torch::NoGradGuard no_grad;
    return bundle_.model->forward(batch_of(rows)).logits;
  }

  ReduceResult result_of(const State& s) const {
    const data::Tokenizer& tok = *bundle_.tokenizer;
    const Entry& best = s.beam.front();  // beams are sorted, most confident first
    ReduceResult r;
    r.id = s.example->id;
    r.text = s.example->text;
    r.text_pair = s.example->text_pair;
    r.label = s.label;
    r.gold = detail::known_gold(bundle_, *s.example);
    r.ids_before = s.original.ids;
    r.ids_after = best.ids;
    for (std::size_t i = 0; i < best.ids.size(); ++i)
      if (!best.special[i]) r.reduced_tokens.push_back(tok.id_to_token(best.ids[i]));
    r.reduced_text = *kept_text(s, best, 0, tok);
    r.reduced_text_pair = kept_text(s, best, 1, tok);
    r.removed = best.path;
    r.confidence_before = s.confidence_before;
    return r;
  }

  model::Bundle& bundle_;
  const ReduceConfig& c_;
};

nlohmann::ordered_json reduce_line(const model::Bundle& bundle, const ReduceResult& r) {
  const auto& labels = bundle.info.labels;
  nlohmann::ordered_json line;
  line["id"] = r.id;
  line["text"] = r.text;
  if (r.text_pair) line["text_pair"] = *r.text_pair;
  line["label"] = labels[std::size_t(r.label)];
  line["gold"] = r.gold ? nlohmann::ordered_json(labels[std::size_t(*r.gold)]) : nlohmann::ordered_json();
  line["confidence_before"] = detail::round6(r.confidence_before);
  line["reduced_text"] = r.reduced_text;
  if (r.reduced_text_pair) line["reduced_text_pair"] = *r.reduced_text_pair;
  line["reduced_tokens"] = r.reduced_tokens;
  line["original_length"] = r.reduced_tokens.size() + r.removed.size();
  line["reduced_length"] = r.reduced_tokens.size();
  nlohmann::ordered_json removed = nlohmann::ordered_json::array();
  for (const Removal& m : r.removed)
    removed.push_back({{"position", m.position},
                       {"token", m.token},
                       {"saliency", detail::round6(m.saliency)},
                       {"confidence", detail::round6(m.confidence)}});
  line["removed"] = std::move(removed);
  return line;
}

}  // namespace

std::vector<ReduceResult> reduce(model::Bundle& bundle, const std::vector<data::Example>& examples,
                                 const ReduceConfig& config) {
  Reduction reduction(bundle, config);
  return reduction.run(examples);
}

ReduceResult reduce(model::Bundle& bundle, const data::Example& example, const ReduceConfig& config) {
  return std::move(reduce(bundle, std::vector<data::Example>{example}, config).front());
}

}  // namespace fathom::attack

namespace fathom::attack {

InstanceFileResult reduce_file(const ReduceFileOptions& o, comm::Communicator& comm) {
  return detail::run_instance_file(
      o, "reduce", comm,
      [&o](model::Bundle& bundle, const std::vector<data::Example>& examples) {
        std::vector<std::string> lines;
        for (const ReduceResult& r : reduce(bundle, examples, o.config)) lines.push_back(reduce_line(bundle, r).dump());
        return lines;
      },
      [](const nlohmann::json& line, detail::InstanceTally& t) {
        const auto removed = line["removed"].size();
        t.successes += removed > 0;
        t.steps += double(removed);
        t.original_length += line["original_length"].get<double>();
        t.reduced_length += line["reduced_length"].get<double>();
      },
      [&o](nlohmann::ordered_json& m, const detail::InstanceTally& t) {
        m["beam"] = o.config.beam;
        m["min_tokens"] = o.config.min_tokens;
        const double n = std::max<double>(1.0, double(t.n));
        m["mean_removed"] = t.steps / n;
        m["mean_original_length"] = t.original_length / n;
        m["mean_reduced_length"] = t.reduced_length / n;
      });
}

}  // namespace fathom::attack
