// Per-example gradient throughput, side by side on the same batches (not a
// test: run by hand and by `tools/bench cache`).
//   grads_bench --model DIR --corpus FILE [--params classifier] [--project none]
//               [--batch 32] [--batches 20] [--loop-batches 20] [--seconds 0]
//               [--rounds 3] [--threads 1] [--target gold] [--order length|corpus]
//               [--window 1024]
// Prints one JSON line (logs go to stderr) with rows/s of
//   vectorised  PerExampleGradients, GradientMethod::vectorised (what
//               `fathom cache` uses by default)
//   loop        PerExampleGradients, GradientMethod::loop: one forward and
//               backward per example, alone and unpadded (the naive baseline)
//   train       a plain training step without the optimizer: one batched
//               forward, mean cross-entropy, loss.backward() over ALL
//               parameters. The model stays in eval mode (no dropout), so it
//               runs the very forward the other two run.
// Batches are built once up front (model::make_batch from data::read_corpus
// records and the bundle's tokenizer, cycling through the corpus), so
// tokenisation is not timed. Every method runs the same set of batches:
// --seconds S > 0 sizes the set so that the loop (the slowest) takes about S
// seconds (at least --loop-batches, at most --batches batches) and the
// faster methods repeat the set to take about S seconds too; --seconds 0
// runs all --batches once. After one untimed pass of each, the methods
// alternate for --rounds rounds (forward, vectorised, train, loop) and the
// median of each method's per-round rate is reported: on a shared machine a
// slow spell then hits every method, not just one.
//   forward     inference forward alone under NoGradGuard: the floor every
//               method that needs the model's outputs pays.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "fathom/core/allocator.h"
#include "fathom/core/log.h"
#include "fathom/data/corpus.h"
#include "fathom/grads/param_layout.h"
#include "fathom/grads/per_example.h"
#include "fathom/grads/projection.h"
#include "fathom/model/batching.h"
#include "fathom/model/bundle.h"
#include "fathom/model/model.h"

namespace {

using Clock = std::chrono::steady_clock;
namespace F = torch::nn::functional;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

std::string json_str(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string list(const std::vector<double>& v) {
  std::string out = "[";
  for (std::size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + std::to_string(std::lround(v[i]));
  return out + "]";
}

[[noreturn]] void usage(const std::string& why) {
  std::cerr << "grads_bench: " << why
            << "\nusage: grads_bench --model DIR --corpus FILE [--params classifier] [--project none] [--batch 32]\n"
               "                   [--batches 20] [--loop-batches 20] [--seconds 0] [--rounds 3] [--threads 1]\n"
               "                   [--target gold]\n";
  std::exit(2);
}

template <class F>
double seconds_of(F&& f) {
  const auto t0 = Clock::now();
  f();
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  fathom::retain_freed_memory();  // as the fathom binary does
  std::map<std::string, std::string> opt = {
      {"params", "classifier"}, {"project", "none"}, {"batch", "32"},  {"batches", "20"}, {"loop-batches", "20"},
      {"seconds", "0"},         {"rounds", "3"},     {"threads", "1"}, {"target", "gold"},
      {"order", "length"},      {"window", "1024"}};
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--", 0) != 0 || i + 1 >= argc) usage("bad argument '" + a + "'");
    if (!opt.count(a.substr(2)) && a != "--model" && a != "--corpus") usage("unknown option '" + a + "'");
    opt[a.substr(2)] = argv[++i];
  }
  if (!opt.count("model") || !opt.count("corpus")) usage("--model and --corpus are required");
  const std::int64_t batch_size = std::stoll(opt["batch"]), max_batches = std::stoll(opt["batches"]);
  const std::int64_t max_loop = std::min<std::int64_t>(max_batches, std::stoll(opt["loop-batches"]));
  const double target_s = std::stod(opt["seconds"]);
  const int rounds = std::max(1, std::stoi(opt["rounds"]));
  if (batch_size < 1 || max_batches < 1 || max_loop < 1) usage("--batch, --batches, --loop-batches must be >= 1");

  fathom::log::init(0, 1, "warn");  // stderr; stdout is the JSON line only
  try {
    const int threads = fathom::model::configure_threads(std::stoi(opt["threads"]));
    fathom::model::Bundle bundle = fathom::model::load_bundle(opt["model"]);
    fathom::model::Model& model = *bundle.model;
    model.train(false);

    // Batches, cycling through the corpus when it is shorter than needed.
    const std::vector<fathom::data::Example> corpus =
        fathom::data::read_corpus(opt["corpus"], fathom::data::CorpusOptions{});
    if (corpus.empty()) usage("empty corpus");
    // --order length (default): like `fathom cache`, rows are batched by
    // length within windows of --window rows (a cache chunk), then the batch
    // order is shuffled with a fixed seed so the loop's prefix of batches has
    // representative lengths. --order corpus: consecutive rows.
    const bool by_length = opt["order"] == "length";
    if (!by_length && opt["order"] != "corpus") usage("--order must be length or corpus");
    const std::int64_t window = std::max<std::int64_t>(batch_size, std::stoll(opt["window"]));
    std::vector<std::int64_t> sequence(std::size_t(max_batches * batch_size));
    for (std::size_t i = 0; i < sequence.size(); ++i) sequence[i] = std::int64_t(i) % std::int64_t(corpus.size());
    if (by_length) {
      auto length = [&](std::int64_t r) { return corpus[std::size_t(r)].text.size(); };
      for (std::size_t w = 0; w < sequence.size(); w += std::size_t(window))
        std::stable_sort(sequence.begin() + std::ptrdiff_t(w),
                         sequence.begin() + std::ptrdiff_t(std::min(sequence.size(), w + std::size_t(window))),
                         [&](auto a, auto b) { return length(a) < length(b); });
    }
    std::vector<fathom::model::Batch> data;
    for (std::int64_t b = 0; b < max_batches; ++b) {
      std::vector<fathom::data::Example> ex;
      std::vector<std::int64_t> rows;
      for (std::int64_t i = 0; i < batch_size; ++i) {
        rows.push_back(sequence[std::size_t(b * batch_size + i)]);
        ex.push_back(corpus[std::size_t(rows.back())]);
      }
      data.push_back(fathom::model::make_batch(ex, *bundle.tokenizer, bundle.info.max_length, bundle.info.labels, rows));
    }
    if (by_length) std::shuffle(data.begin(), data.end(), std::mt19937(1));

    fathom::grads::ParamLayout layout = fathom::grads::ParamLayout::select(model, opt["params"]);
    const fathom::grads::ProjectionSpec spec = fathom::grads::parse_projection_spec(opt["project"]);
    std::unique_ptr<fathom::grads::Projector> projector = fathom::grads::make_projector(spec, layout);
    const fathom::grads::LossTarget target = fathom::grads::parse_loss_target(opt["target"]);
    fathom::grads::PerExampleGradients vec(model, layout, projector.get(), fathom::grads::GradientMethod::vectorised);
    fathom::grads::PerExampleGradients loop(model, layout, projector.get(), fathom::grads::GradientMethod::loop);

    // The training step differentiates every parameter.
    std::vector<torch::Tensor> all;
    for (auto& [name, p] : model.named_parameters()) {
      p.requires_grad_(true);
      all.push_back(p);
    }
    double sink = 0;  // keeps every result observed
    auto train_step = [&](const fathom::model::Batch& b) {
      for (auto& p : all) p.mutable_grad() = torch::Tensor();
      torch::Tensor loss = F::cross_entropy(model.forward(b).logits, b.labels);
      loss.backward();
      sink += loss.item<double>();
    };
    // Inference forward alone (no graph): the floor any method that needs the
    // model's outputs pays.
    auto forward_step = [&](const fathom::model::Batch& b) {
      torch::NoGradGuard no_grad;
      sink += model.forward(b).logits.index({0, 0}).item<double>();
    };
    auto vec_step = [&](const fathom::model::Batch& b) {
      sink += vec.compute(b, target).gradients.index({0, 0}).item<double>();
    };
    auto loop_step = [&](const fathom::model::Batch& b) {
      sink += loop.compute(b, target).gradients.index({0, 0}).item<double>();
    };
    // One timed pass over the batch set, repeated `reps` times.
    auto rate = [&](std::int64_t n, std::int64_t reps, auto&& step) {
      const double s = seconds_of([&] {
        for (std::int64_t k = 0; k < reps; ++k)
          for (std::int64_t b = 0; b < n; ++b) step(data[std::size_t(b)]);
      });
      return double(n * reps * batch_size) / s;
    };

    // Every method runs the SAME batch set (a prefix of the shuffled
    // batches), so lengths and padding are identical across columns; the
    // faster methods repeat the set to fill their time. --seconds S sizes
    // the set from the loop (the slowest) to about S seconds, at least
    // --loop-batches batches. Per-batch times come from the untimed first
    // pass below.
    std::int64_t n_set = max_batches;
    if (target_s > 0) {
      const double t_loop = seconds_of([&] { loop_step(data[0]); });
      n_set = std::clamp<std::int64_t>(std::int64_t(std::ceil(target_s / std::max(t_loop, 1e-6))), max_loop,
                                       max_batches);
    }
    std::int64_t tokens = 0;
    for (std::int64_t b = 0; b < n_set; ++b) tokens += data[std::size_t(b)].mask.sum().item<std::int64_t>();

    // One untimed pass first (first-call allocations, projector blocks, the
    // tap report; and the first pass over new batch shapes grows the heap:
    // hundreds of page faults per batch on a VM, 10x the compute for small
    // models, which a long `fathom cache` run amortises and a short timed
    // window must not measure).
    auto reps_for = [&](double rows_per_s) {
      return target_s > 0 ? std::max<std::int64_t>(
                                1, std::int64_t(std::ceil(target_s * rows_per_s / double(n_set * batch_size))))
                          : std::int64_t(1);
    };
    const std::int64_t reps_forward = reps_for(rate(n_set, 1, forward_step));
    const std::int64_t reps_vec = reps_for(rate(n_set, 1, vec_step));
    const std::int64_t reps_train = reps_for(rate(n_set, 1, train_step));
    rate(n_set, 1, loop_step);
    std::vector<double> r_vec, r_loop, r_train, r_forward;
    for (int r = 0; r < rounds; ++r) {
      r_forward.push_back(rate(n_set, reps_forward, forward_step));
      r_vec.push_back(rate(n_set, reps_vec, vec_step));
      r_train.push_back(rate(n_set, reps_train, train_step));
      r_loop.push_back(rate(n_set, 1, loop_step));
    }
    const double v = median(r_vec), l = median(r_loop), t = median(r_train), fw = median(r_forward);

    std::ostringstream loop_params;
    for (std::size_t i = 0; i < vec.loop_parameters().size(); ++i)
      loop_params << (i ? ", " : "") << json_str(vec.loop_parameters()[i]);
    std::printf(
        "{\"arch\": %s, \"params\": %s, \"projection\": %s, \"D\": %lld, \"k\": %lld, \"batch\": %lld, "
        "\"batches\": %lld, \"vectorised_repeats\": %lld, \"rounds\": %d, \"threads\": %d, \"mean_tokens\": %.1f, "
        "\"vectorised_rows_per_s\": %.1f, \"loop_rows_per_s\": %.1f, \"train_rows_per_s\": %.1f, \"forward_rows_per_s\": %.1f, "
        "\"vectorised_vs_loop\": %.3f, \"vectorised_vs_train\": %.3f, \"vectorised_loop_params\": [%s], "
        "\"rounds_rows_per_s\": {\"vectorised\": %s, \"loop\": %s, \"train\": %s, \"forward\": %s}, "
        "\"checksum\": %.6g}\n",
        json_str(model.architecture()).c_str(), json_str(opt["params"]).c_str(), json_str(spec.text()).c_str(),
        (long long)layout.dim(), (long long)vec.output_dim(), (long long)batch_size, (long long)n_set,
        (long long)reps_vec, rounds, threads, double(tokens) / double(n_set * batch_size), v, l, t, fw, v / l, v / t,
        loop_params.str().c_str(), list(r_vec).c_str(), list(r_loop).c_str(), list(r_train).c_str(),
        list(r_forward).c_str(), sink);
  } catch (const std::exception& e) {
    std::cerr << "grads_bench: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
