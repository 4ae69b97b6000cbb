// `fathom saliency`: batch mode over a query file and the sanity check (saliency_run.h).
#include "fathom/attrib/saliency_run.h"

#include "fathom/attrib/lds.h"  // spearman

#include <ATen/CPUGeneratorImpl.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <memory>

#include "fathom/comm/collective_check.h"
#include "fathom/comm/communicator.h"
#include "fathom/core/atomic_file.h"
#include "fathom/core/error.h"
#include "fathom/core/log.h"
#include "fathom/core/progress.h"
#include "fathom/data/shard.h"
#include "fathom/model/bundle.h"

namespace fathom::attrib {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using nlohmann::ordered_json;

bool numeric(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string block_of(const std::string& name) {
  std::string key;
  std::size_t start = 0;
  for (;;) {
    const std::size_t dot = name.find('.', start);
    const std::string part = name.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    key += (key.empty() ? "" : ".") + part;
    if (numeric(part)) return key;
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  const std::size_t first = name.find('.');
  return first == std::string::npos ? name : name.substr(0, first);
}

std::uint64_t name_seed(std::uint64_t seed, const std::string& name) {
  std::uint64_t h = 1469598103934665603ULL ^ (seed * 0x9E3779B97F4A7C15ULL);
  for (unsigned char c : name) h = (h ^ c) * 1099511628211ULL;
  return h;
}

// Scores of the non-special tokens.
std::vector<double> plain_scores(const ExampleSaliency& e) {
  std::vector<double> v;
  for (const TokenScore& t : e.tokens)
    if (!t.special) v.push_back(t.score);
  return v;
}

struct Tally {
  double gap_abs_sum = 0, gap_abs_max = 0, with_gap = 0;
  std::vector<double> spearman_sum, spearman_n;
};

ordered_json method_meta(const SaliencyOptions& o) {
  const SaliencySettings& s = o.settings;
  ordered_json m;
  m["method"] = method_name(s.method);
  m["of"] = objective_name(s.objective);
  m["target"] = o.target.name();
  const bool ig = s.method == SaliencyMethod::integrated_gradients, sg = s.method == SaliencyMethod::smoothgrad;
  m["steps"] = ig ? ordered_json(s.steps) : ordered_json();
  m["rule"] = ig ? ordered_json(rule_name(s.rule)) : ordered_json();
  m["samples"] = sg ? ordered_json(s.samples) : ordered_json();
  m["noise"] = sg ? ordered_json(s.noise) : ordered_json();
  m["seed"] = sg ? ordered_json(s.seed) : ordered_json();
  return m;
}

}  // namespace

std::vector<ParameterBlock> cascade_blocks(model::Model& model) {
  std::vector<ParameterBlock> blocks;
  for (const auto& [name, p] : model.named_parameters()) {
    const std::string key = block_of(name);
    auto it = std::find_if(blocks.begin(), blocks.end(), [&](const ParameterBlock& b) { return b.name == key; });
    if (it == blocks.end()) blocks.push_back({key, {name}});
    else it->parameters.push_back(name);
  }
  std::reverse(blocks.begin(), blocks.end());
  return blocks;
}

void randomize_parameters(model::Model& model, const std::vector<std::string>& names, std::uint64_t seed) {
  torch::NoGradGuard no_grad;
  for (auto& [name, p] : model.named_parameters()) {
    if (std::find(names.begin(), names.end(), name) == names.end() || p.numel() < 2) continue;
    const double mean = p.mean().item<double>(), sd = p.std().item<double>();
    if (!(sd > 0)) continue;
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(name_seed(seed, name));
    torch::Tensor draw = at::normal(mean, sd, p.sizes(), gen, torch::TensorOptions().dtype(torch::kDouble));
    p.copy_(draw.to(p.device(), p.scalar_type()));
  }
}

SaliencyRunResult saliency(const SaliencyOptions& o, comm::Communicator& comm) {
  const auto t0 = Clock::now();
  if (o.queries.empty()) throw UsageError("saliency: no queries given (--queries)");
  if (o.out.empty()) throw UsageError("saliency: no output given (--out)");
  if (o.batch < 1) throw UsageError("saliency: --batch must be >= 1, got " + std::to_string(o.batch));
  if (o.block < 1) throw UsageError("saliency: block must be >= 1, got " + std::to_string(o.block));
  check_settings(o.settings);
  model::configure_threads(o.threads);
  model::Bundle bundle;
  comm::collective_check(comm, "loading the model bundle " + o.model_dir, [&] {
    bundle = model::load_bundle(o.model_dir);
    if (o.target.kind == SaliencyTarget::Kind::label && bundle.label_index(o.target.label) == data::kNoLabel) {
      std::string known;
      for (const auto& l : bundle.info.labels) known += (known.empty() ? "" : ", ") + l;
      throw UsageError("saliency: --target '" + o.target.label + "' is not one of the model's labels (" + known +
                       "; or predicted, gold)");
    }
  });
  // Sanity: one model per cumulative stage, randomised identically on every rank.
  std::vector<ParameterBlock> blocks;
  std::vector<model::Bundle> stages;
  if (o.sanity) {
    comm::collective_check(comm, "preparing the randomised models", [&] {
      blocks = cascade_blocks(*bundle.model);
      for (std::size_t s = 0; s < blocks.size(); ++s) {
        model::Bundle b = model::load_bundle(o.model_dir);
        for (std::size_t k = 0; k <= s; ++k) randomize_parameters(*b.model, blocks[k].parameters, o.sanity_seed);
        b.model->train(false);
        stages.push_back(std::move(b));
      }
    });
  }
  std::int64_t total = 0;
  comm::collective_check(comm, "counting records of " + o.queries,
                         [&] { total = data::count_records(o.queries, o.query_options); });
  std::unique_ptr<data::CorpusReader> reader;
  comm::collective_check(comm, "opening " + o.queries,
                         [&] { reader = std::make_unique<data::CorpusReader>(o.queries, o.query_options); });

  std::unique_ptr<AtomicFile> out;
  Progress progress("saliency", total, "examples", o.progress_period_s);
  Tally tally;
  tally.spearman_sum.assign(stages.size(), 0.0);
  tally.spearman_n.assign(stages.size(), 0.0);
  std::int64_t written = 0;
  bool opened = false;
  for (;;) {
    std::vector<data::Example> block;
    comm::collective_check(comm, "reading " + o.queries, [&] { block = data::read_up_to(*reader, o.block); });
    if (block.empty()) break;
    const std::int64_t n = std::int64_t(block.size());
    const std::int64_t batches = (n + o.batch - 1) / o.batch;
    const data::Range mine = data::shard_range(batches, comm.rank(), comm.size());
    const std::int64_t begin = std::min(n, mine.begin * o.batch), end = std::min(n, mine.end * o.batch);
    std::string lines;
    comm::collective_check(comm, "computing saliency", [&] {
      const std::vector<data::Example> own(block.begin() + begin, block.begin() + end);
      const std::vector<ExampleSaliency> res = explain_saliency(bundle, own, o.settings, o.target, o.batch, o.queries);
      for (const ExampleSaliency& e : res) {
        lines += saliency_json(e, bundle, o.settings, o.target);
        lines += '\n';
        if (e.completeness_gap) {
          tally.gap_abs_sum += std::abs(*e.completeness_gap);
          tally.gap_abs_max = std::max(tally.gap_abs_max, std::abs(*e.completeness_gap));
          tally.with_gap += 1;
        }
      }
      // The randomised models explain the same targets (the trained model's).
      std::vector<std::int64_t> targets;
      for (const ExampleSaliency& e : res) targets.push_back(e.target);
      for (std::size_t s = 0; s < stages.size(); ++s) {
        const std::vector<ExampleSaliency> rnd =
            explain_saliency(stages[s], own, o.settings, o.target, o.batch, o.queries, targets);
        for (std::size_t i = 0; i < own.size(); ++i) {
          const std::optional<double> rho = stats::spearman(plain_scores(res[i]), plain_scores(rnd[i]));
          if (rho) tally.spearman_sum[s] += *rho, tally.spearman_n[s] += 1;
        }
      }
    });
    // Rank order == record order.
    std::vector<std::uint8_t> all = comm.gatherv(lines.data(), std::int64_t(lines.size()), comm::DType::u8, 0);
    comm::on_root(comm, "writing " + o.out, [&] {
      if (!opened) {
        const fs::path parent = fs::path(o.out).parent_path();
        if (!parent.empty()) fs::create_directories(parent);
        out = std::make_unique<AtomicFile>(o.out);
        opened = true;
      }
      out->stream().write(reinterpret_cast<const char*>(all.data()), std::streamsize(all.size()));
    });
    written += n;
    progress.advance(n);
  }
  progress.finish();
  if (comm.is_root() && reader->skipped() > 0)
    spdlog::warn("saliency: {} bad query records of {} were skipped", reader->skipped(), o.queries);

  std::vector<double> sums = {tally.gap_abs_sum, tally.with_gap};
  sums.insert(sums.end(), tally.spearman_sum.begin(), tally.spearman_sum.end());
  sums.insert(sums.end(), tally.spearman_n.begin(), tally.spearman_n.end());
  comm.all_reduce(sums, comm::ReduceOp::sum);
  const double gap_max = comm.all_reduce_value(tally.gap_abs_max, comm::ReduceOp::max);
  SaliencyRunResult r;
  r.examples = written;
  if (sums[1] > 0) r.mean_abs_gap = sums[0] / sums[1], r.max_abs_gap = gap_max;
  for (std::size_t s = 0; s < stages.size(); ++s) {
    SanityStage st;
    for (std::size_t k = 0; k <= s; ++k) st.randomized.push_back(blocks[k].name);
    const double cnt = sums[2 + stages.size() + s];
    st.examples = std::int64_t(cnt);
    if (cnt > 0) st.mean_spearman = sums[2 + s] / cnt;
    r.sanity.push_back(std::move(st));
  }
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  comm::on_root(comm, "writing " + o.out, [&] {
    if (!opened) {  // no records at all is refused by the reader; keep the output well-formed anyway
      out = std::make_unique<AtomicFile>(o.out);
    }
    out->commit();
    ordered_json meta;
    meta["format"] = "fathom-saliency-meta";
    meta["format_version"] = 1;
    meta["model_dir"] = o.model_dir;
    meta["queries"] = o.queries;
    const ordered_json method = method_meta(o);
    for (auto& [k, v] : method.items()) meta[k] = v;
    meta["batch"] = o.batch;
    meta["n"] = r.examples;
    meta["completeness_gap"] =
        r.mean_abs_gap ? ordered_json{{"mean_abs", *r.mean_abs_gap}, {"max_abs", *r.max_abs_gap}} : ordered_json();
    if (o.sanity) {
      ordered_json st = ordered_json::array();
      for (const SanityStage& s : r.sanity)
        st.push_back(ordered_json{{"randomized", s.randomized},
                                  {"mean_spearman", s.mean_spearman ? ordered_json(*s.mean_spearman) : ordered_json()},
                                  {"examples", s.examples}});
      meta["sanity"] = ordered_json{{"seed", o.sanity_seed}, {"stages", std::move(st)}};
    } else {
      meta["sanity"] = nullptr;
    }
    meta["seconds"] = r.seconds;
    meta["ranks"] = comm.size();
    write_file_atomic(o.out + ".meta.json", meta.dump(2) + "\n");
  });
  return r;
}

}  // namespace fathom::attrib
