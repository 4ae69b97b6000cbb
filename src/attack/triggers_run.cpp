// `fathom triggers`: corpora in, the trigger document out (triggers.h find_trigger).
#include <chrono>

#include <nlohmann/json.hpp>

#include "attack_internal.h"
#include "fathom/attack/triggers.h"
#include "fathom/comm/collective_check.h"
#include "fathom/comm/communicator.h"
#include "fathom/core/atomic_file.h"
#include "fathom/core/error.h"
#include "fathom/core/log.h"
#include "fathom/core/progress.h"

namespace fathom::attack {
namespace {

using json = nlohmann::ordered_json;

json trigger_json(const data::Tokenizer& tok, const std::vector<std::int64_t>& ids) {
  json tokens = json::array();
  for (std::int64_t id : ids) tokens.push_back(tok.id_to_token(id));
  return json{{"ids", ids}, {"tokens", tokens}, {"text", tok.decode(ids)}};
}

json optional_text(const std::optional<std::string>& s) { return s ? json(*s) : json(); }

json eval_json(const TriggerEval& e, const std::string& corpus) {
  json per = json::array();
  for (const auto& c : e.per_class)
    per.push_back({{"label", c.label},
                   {"n", c.n},
                   {"accuracy_before", c.accuracy_before},
                   {"accuracy_after", c.accuracy_after},
                   {"target_rate_before", c.target_rate_before},
                   {"target_rate_after", c.target_rate_after}});
  return {{"corpus", corpus},
          {"n", e.n},
          {"accuracy_before", e.accuracy_before},
          {"accuracy_after", e.accuracy_after},
          {"flip_rate", e.flip_rate ? json(*e.flip_rate) : json()},
          {"flip_base", e.flip_base},
          {"per_class", per}};
}

}  // namespace

TriggerResult find_trigger(const TriggerOptions& o, comm::Communicator& comm) {
  const auto t0 = std::chrono::steady_clock::now();
  if (o.out.empty()) throw UsageError("triggers: no output given (--out)");
  model::configure_threads(o.threads);
  model::Bundle bundle = detail::load_model(o.model_dir, comm);
  const std::vector<data::Example> examples = detail::read_all(o.corpus, o.corpus_options, comm);
  std::vector<data::Example> held_out;
  if (!o.eval.empty()) held_out = detail::read_all(o.eval, o.corpus_options, comm);
  const TriggerConfig& c = o.config;

  TriggerResult r;
  {
    Progress progress("triggers", c.iterations, "it", o.progress_period_s);
    const data::Tokenizer& tok = *bundle.tokenizer;
    r.search = with_context("searching a trigger on " + o.corpus, [&] {
      return search_trigger(bundle, examples, c, comm, [&](const TriggerIteration& it) {
        progress.advance();
        if (comm.is_root())
          spdlog::info("triggers: iteration {}: batch loss {:.6g} -> {:.6g}, trigger '{}'", it.iteration,
                       it.loss_before, it.loss, tok.decode(it.ids));
      });
    });
    progress.finish();
  }
  if (!o.eval.empty())
    r.eval = with_context("evaluating the trigger on " + o.eval,
                          [&] { return evaluate_trigger(bundle, held_out, r.search.ids, c, comm); });

  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  comm::on_root(comm, "writing " + o.out, [&] {
    const data::Tokenizer& tok = *bundle.tokenizer;
    json iterations = json::array();
    for (const auto& it : r.search.iterations) {
      json t = trigger_json(tok, it.ids);
      iterations.push_back({{"iteration", it.iteration},
                            {"loss_before", it.loss_before},
                            {"loss", it.loss},
                            {"ids", t["ids"]},
                            {"tokens", t["tokens"]},
                            {"evaluated", it.evaluated},
                            {"rejected", it.rejected}});
    }
    json doc = {{"format", "fathom-triggers"},
                {"format_version", 1},
                {"model_dir", o.model_dir},
                {"corpus", o.corpus},
                {"mode", c.target ? "targeted" : "untargeted"},
                {"target", optional_text(c.target)},
                {"from_label", optional_text(c.from_label)},
                {"position", trigger_position_name(c.position)},
                {"length", c.length},
                {"beam", c.beam},
                {"candidates", c.candidates},
                {"batch", c.batch},
                {"iterations_max", c.iterations},
                {"seed", c.seed},
                {"reference", c.reference},
                {"vocab_filter", vocab_filter_spec(c.vocab_filter)},
                {"init", trigger_json(tok, r.search.init_ids)},
                {"trigger", trigger_json(tok, r.search.ids)},
                {"iterations", iterations},
                {"stopped", r.search.stopped},
                {"examples", r.search.examples},
                {"forward_passes", r.search.forward_passes},
                {"forward_rows", r.search.forward_rows},
                {"search_seconds", r.search.seconds},
                {"eval", r.eval ? eval_json(*r.eval, o.eval) : json()},
                {"seconds", seconds},
                {"ranks", comm.size()}};
    detail::make_parent_dir(o.out);
    write_file_atomic(o.out, doc.dump(2) + "\n");
  });
  return r;
}

}  // namespace fathom::attack
