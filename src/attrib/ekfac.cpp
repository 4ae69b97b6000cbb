// EK-FAC factors: structure, the two passes over the training rows, the
// solve (contract in ekfac.h).
#include "fathom/attrib/ekfac.h"

#include <chrono>
#include <set>

#include "ekfac_internal.h"
#include "solvers.h"
#include "fathom/core/error.h"
#include "fathom/core/hash.h"
#include "fathom/core/log.h"
#include "fathom/core/progress.h"
#include "fathom/data/shard.h"
#include "fathom/grads/layer_stream.h"
#include "fathom/grads/per_example.h"

namespace fathom::attrib {
namespace {

using Clock = std::chrono::steady_clock;
using detail::seconds_since;

std::string strip_suffix(const std::string& name, const std::string& suffix) {
  if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
    return name.substr(0, name.size() - suffix.size());
  return name;
}

int block_of(const EkfacFactors& f, int weight, int bias) {
  for (std::size_t k = 0; k < f.blocks.size(); ++k)
    if (f.blocks[k].weight == weight && f.blocks[k].bias == bias) return int(k);
  return -1;
}

// Each block's rows of one stream: a [B,T,in] (bias column = 1 on real rows,
// 0 on padding) and δ [B,T,out], float64, the block's calls concatenated
// along T.
struct BlockRows {
  torch::Tensor a, delta;
};

std::vector<BlockRows> block_rows(const EkfacFactors& f, const grads::LayerStream& s) {
  std::vector<std::vector<torch::Tensor>> as(f.blocks.size()), ds(f.blocks.size());
  for (const auto& r : s.records) {
    if (r.kind != model::TapKind::linear) continue;
    const int k = block_of(f, r.weight, r.bias);
    if (k < 0) continue;
    std::vector<torch::Tensor> pieces;
    if (r.weight >= 0) pieces.push_back(r.a);
    if (r.bias >= 0) pieces.push_back(r.valid.unsqueeze(-1).to(r.delta.scalar_type()));
    as[std::size_t(k)].push_back(pieces.size() == 1 ? pieces[0] : torch::cat(pieces, -1));
    ds[std::size_t(k)].push_back(r.delta);
  }
  std::vector<BlockRows> out(f.blocks.size());
  for (std::size_t k = 0; k < f.blocks.size(); ++k) {
    if (as[k].empty()) continue;  // the layer was not called for this batch
    out[k].a = torch::cat(as[k], 1).to(torch::kCPU, torch::kDouble);
    out[k].delta = torch::cat(ds[k], 1).to(torch::kCPU, torch::kDouble);
  }
  return out;
}

// This rank's training rows in batches of at most `batch_rows`.
std::vector<std::vector<std::int64_t>> my_batches(std::int64_t rows, const comm::Communicator& comm,
                                                  std::int64_t batch_rows) {
  const data::Range mine = data::shard_range(rows, comm.rank(), comm.size());
  std::vector<std::vector<std::int64_t>> batches;
  for (std::int64_t b = mine.begin; b < mine.end; b += batch_rows) {
    batches.emplace_back();
    for (std::int64_t i = b; i < std::min(mine.end, b + batch_rows); ++i) batches.back().push_back(i);
  }
  return batches;
}

// One stream per (batch, sample) of this rank's shard, with Fisher labels.
template <class Visit>
void for_each_stream(model::Model& model, const grads::ParamLayout& layout, const TrainingRows& data,
                     comm::Communicator& comm, const EkfacSettings& settings, const std::string& label, Visit visit) {
  const auto batches = my_batches(data.rows, comm, settings.batch_rows);
  std::int64_t mine = 0;
  for (const auto& b : batches) mine += std::int64_t(b.size());
  Progress progress(label, mine * settings.samples, "ex");
  for (const auto& rows : batches) {
    model::Batch batch = data.make_batch(rows);
    const std::vector<std::int64_t>& ids = std::int64_t(batch.rows.size()) == batch.size() ? batch.rows : rows;
    for (std::int64_t s = 0; s < settings.samples; ++s) {
      grads::LayerStream stream = grads::layer_stream(model, layout, batch, [&](const torch::Tensor& logits) {
        return sample_fisher_labels(logits, ids, settings.seed, s);
      });
      visit(batch, stream);
      progress.advance(batch.size());
    }
  }
  progress.finish();
}

// The per-example-gradient path for the diagonal parameters (a layout of
// their own, same flat order as `diagonal` in the main layout).
grads::ParamLayout diagonal_layout(model::Model& model, const grads::ParamLayout& layout, const std::vector<int>& diag) {
  std::string filter;
  for (int i : diag) filter += (filter.empty() ? "" : ",") + layout.params()[std::size_t(i)].name;
  return grads::ParamLayout::select(model, filter);
}

void log_structure(const EkfacFactors& f, const grads::ParamLayout& layout) {
  spdlog::info("ekfac: {} linear block(s), {} parameter(s) on the diagonal fallback", f.blocks.size(), f.diagonal.size());
  if (f.diagonal.empty()) return;
  std::string names;
  for (int i : f.diagonal) names += (names.empty() ? "" : ", ") + layout.params()[std::size_t(i)].name;
  spdlog::warn("ekfac: not linear-layer weights/biases (or a transposed matmul weight), so a diagonal E[g^2] (not Kronecker-factored) is used for: {}",
               names);
}

}  // namespace

namespace ekfac_detail {
namespace {

// The float64 tensors as one buffer for `collective`, then written back.
template <class Collective>
void on_one_buffer(const std::vector<torch::Tensor*>& tensors, Collective collective) {
  std::vector<torch::Tensor> flat;
  for (auto* t : tensors) flat.push_back(t->reshape({-1}));
  if (flat.empty()) return;
  torch::Tensor all = torch::cat(flat).contiguous();
  collective(all.data_ptr<double>(), all.numel());
  std::int64_t at = 0;
  for (auto* t : tensors) {
    *t = all.narrow(0, at, t->numel()).view(t->sizes()).clone();
    at += t->numel();
  }
}

}  // namespace

void reduce_and_agree(comm::Communicator& comm, const std::vector<torch::Tensor*>& tensors) {
  on_one_buffer(tensors, [&](double* data, std::int64_t n) {
    comm.all_reduce(data, n, comm::DType::f64, comm::ReduceOp::sum);
    comm.broadcast(data, n, comm::DType::f64, 0);
  });
}

void broadcast_from_root(comm::Communicator& comm, const std::vector<torch::Tensor*>& tensors) {
  on_one_buffer(tensors, [&](double* data, std::int64_t n) { comm.broadcast(data, n, comm::DType::f64, 0); });
}

std::string structure_text(const EkfacFactors& f, const grads::ParamLayout& layout) {
  std::string s;
  for (const auto& b : f.blocks)
    s += b.name + " [" + std::to_string(b.out) + "x" + std::to_string(b.in) + (b.bias >= 0 ? " +bias" : "") + "]; ";
  s += "diagonal:";
  for (int i : f.diagonal) s += " " + layout.params()[std::size_t(i)].name;
  return s;
}

}  // namespace ekfac_detail

torch::Tensor sample_fisher_labels(const torch::Tensor& logits, const std::vector<std::int64_t>& rows,
                                   std::uint64_t seed, std::int64_t sample) {
  const std::int64_t B = logits.size(0), C = logits.size(1);
  if (std::int64_t(rows.size()) != B)
    throw Error("sample_fisher_labels: " + std::to_string(rows.size()) + " rows for " + std::to_string(B) + " logits");
  torch::Tensor cdf = torch::softmax(logits.detach().to(torch::kCPU, torch::kDouble), 1).cumsum(1).contiguous();
  auto P = cdf.accessor<double, 2>();
  torch::Tensor labels = torch::empty({B}, torch::kLong);
  auto L = labels.accessor<std::int64_t, 1>();
  for (std::int64_t b = 0; b < B; ++b) {
    // A counter-based draw: splitmix64 of (seed, row, sample), so the label
    // does not depend on batching or the rank count.
    const double u = ekfac_detail::uniform01(seed, std::uint64_t(rows[std::size_t(b)]), std::uint64_t(sample)) *
                     P[b][C - 1];
    std::int64_t c = 0;
    while (c < C - 1 && P[b][c] <= u) ++c;
    L[b] = c;
  }
  return labels.to(logits.device());
}

EkfacFactors ekfac_structure(model::Model& model, const grads::ParamLayout& layout, const TrainingRows& data) {
  if (data.rows < 1) throw UsageError("ekfac: the training corpus has no rows");
  model::Batch probe = data.make_batch({0});
  grads::LayerStream s =
      grads::layer_stream(model, layout, probe, [](const torch::Tensor& logits) { return logits.argmax(1); });
  EkfacFactors f;
  std::map<int, int> uses;  // layout index -> distinct (weight, bias) pairs it appears in
  for (const auto& r : s.records) {
    // A transposed weight (a bundle's matmul(x, W)) keeps the diagonal:
    // its block's [out,in] flattening would not be the layout's.
    if (r.kind != model::TapKind::linear || r.weight_transposed || block_of(f, r.weight, r.bias) >= 0) continue;
    EkfacBlock b;
    b.weight = r.weight;
    b.bias = r.bias;
    b.name = r.weight >= 0 ? strip_suffix(layout.params()[std::size_t(r.weight)].name, ".weight")
                           : strip_suffix(layout.params()[std::size_t(r.bias)].name, ".bias");
    b.out = r.delta.size(-1);
    b.in = (r.weight >= 0 ? r.a.size(-1) : 0) + (r.bias >= 0 ? 1 : 0);
    for (int i : {r.weight, r.bias})
      if (i >= 0) ++uses[i];
    f.blocks.push_back(b);
  }
  // A parameter shared by two different linear calls (tied weights) cannot
  // be one Kronecker block: those blocks go to the diagonal.
  std::vector<EkfacBlock> kept;
  for (auto& b : f.blocks)
    if ((b.weight < 0 || uses[b.weight] == 1) && (b.bias < 0 || uses[b.bias] == 1)) kept.push_back(b);
  f.blocks = std::move(kept);
  std::set<int> in_blocks;
  for (const auto& b : f.blocks)
    for (int i : {b.weight, b.bias})
      if (i >= 0) in_blocks.insert(i);
  for (int i = 0; i < int(layout.size()); ++i)
    if (!in_blocks.count(i)) f.diagonal.push_back(i);
  f.rows = data.rows;
  return f;
}

std::map<std::string, std::string> ekfac_fingerprint(model::Model& model, const grads::ParamLayout& layout,
                                                     const EkfacFactors& structure, const EkfacSettings& settings,
                                                     std::int64_t rows) {
  Sha256 sha;
  for (auto& [name, t] : model.named_parameters()) {
    torch::Tensor c = t.detach().to(torch::kCPU).contiguous();
    const std::string head = name + " " + std::string(c.dtype().name()) + " " + std::to_string(c.numel()) + "\n";
    sha.update(head);
    sha.update(c.data_ptr(), std::size_t(c.numel()) * c.element_size());
  }
  return {{"format", ekfac_detail::kFormat},
          {"caller", settings.fingerprint},
          {"parameters", layout.describe()},
          {"model_sha256", sha.hex_digest()},
          {"structure", ekfac_detail::structure_text(structure, layout)},
          {"rows", std::to_string(rows)},
          {"samples", std::to_string(settings.samples)},
          {"seed", std::to_string(settings.seed)}};
}

EkfacFactors compute_ekfac_factors(model::Model& model, const grads::ParamLayout& layout, const TrainingRows& data,
                                   comm::Communicator& comm, const EkfacSettings& settings) {
  if (settings.samples < 1) throw UsageError("ekfac: samples must be >= 1, got " + std::to_string(settings.samples));
  if (settings.batch_rows < 1) throw UsageError("ekfac: batch_rows must be >= 1");
  model.train(false);
  EkfacFactors f = ekfac_structure(model, layout, data);
  f.samples = settings.samples;
  f.fingerprint = ekfac_fingerprint(model, layout, f, settings, data.rows);
  if (comm.is_root()) log_structure(f, layout);
  const double N = double(data.rows) * double(settings.samples);
  const auto f64 = torch::kDouble;

  // Pass 1: Σ a aᵀ and Σ δ δᵀ per block.
  auto t = Clock::now();
  for (auto& b : f.blocks) {
    b.a_cov = torch::zeros({b.in, b.in}, f64);
    b.s_cov = torch::zeros({b.out, b.out}, f64);
  }
  if (!f.blocks.empty())
    for_each_stream(model, layout, data, comm, settings, "ekfac covariances",
                    [&](const model::Batch&, const grads::LayerStream& s) {
                      torch::NoGradGuard no_grad;
                      auto rows = block_rows(f, s);
                      for (std::size_t k = 0; k < f.blocks.size(); ++k) {
                        if (!rows[k].a.defined()) continue;
                        auto a = rows[k].a.reshape({-1, f.blocks[k].in});
                        auto d = rows[k].delta.reshape({-1, f.blocks[k].out});
                        f.blocks[k].a_cov.add_(a.t().mm(a));
                        f.blocks[k].s_cov.add_(d.t().mm(d));
                      }
                    });
  std::vector<torch::Tensor*> sums;
  for (auto& b : f.blocks) sums.insert(sums.end(), {&b.a_cov, &b.s_cov});
  ekfac_detail::reduce_and_agree(comm, sums);
  f.seconds["covariances"] = seconds_since(t);

  // Eigendecompositions on rank 0, broadcast (every rank the same bits).
  t = Clock::now();
  std::vector<torch::Tensor*> eig;
  for (auto& b : f.blocks) {
    b.a_cov.div_(N);
    b.s_cov.div_(N);
    if (comm.is_root()) {
      std::tie(b.eig_a, b.q_a) = torch::linalg_eigh(b.a_cov);
      std::tie(b.eig_s, b.q_s) = torch::linalg_eigh(b.s_cov);
    } else {
      b.eig_a = torch::empty({b.in}, f64);
      b.q_a = torch::empty({b.in, b.in}, f64);
      b.eig_s = torch::empty({b.out}, f64);
      b.q_s = torch::empty({b.out, b.out}, f64);
    }
    eig.insert(eig.end(), {&b.eig_a, &b.q_a, &b.eig_s, &b.q_s});
  }
  ekfac_detail::broadcast_from_root(comm, eig);
  f.seconds["eigen"] = seconds_since(t);

  // Pass 2: Λ* = E[(Q_Sᵀ G Q_A)²] per block; E[g²] for the diagonal.
  t = Clock::now();
  std::int64_t diag_dim = 0;
  for (int i : f.diagonal) diag_dim += layout.params()[std::size_t(i)].numel;
  f.diagonal_values = torch::zeros({diag_dim}, f64);
  for (auto& b : f.blocks) b.lambda = torch::zeros({b.out, b.in}, f64);
  std::unique_ptr<grads::PerExampleGradients> diag_grads;
  if (!f.diagonal.empty())
    diag_grads = std::make_unique<grads::PerExampleGradients>(model, diagonal_layout(model, layout, f.diagonal));
  for_each_stream(
      model, layout, data, comm, settings, "ekfac eigenvalue correction",
      [&](const model::Batch& batch, const grads::LayerStream& s) {
        if (diag_grads) {
          model::Batch labelled = batch;
          labelled.labels = s.targets;
          torch::Tensor g = diag_grads->compute(labelled, grads::LossTarget::gold).gradients;
          torch::NoGradGuard no_grad;
          f.diagonal_values.add_(g.to(torch::kCPU, f64).pow(2).sum(0));
        }
        torch::NoGradGuard no_grad;
        auto rows = block_rows(f, s);
        for (std::size_t k = 0; k < f.blocks.size(); ++k) {
          if (!rows[k].a.defined()) continue;
          auto& b = f.blocks[k];
          torch::Tensor dq = torch::matmul(rows[k].delta, b.q_s), aq = torch::matmul(rows[k].a, b.q_a);
          // Rotated per-example gradients Σ_t (Q_Sᵀδ_t)(Q_Aᵀa_t)ᵀ, a few
          // examples at a time so [chunk, out, in] stays small.
          const std::int64_t B = dq.size(0), chunk = std::max<std::int64_t>(1, (std::int64_t(1) << 24) / (b.out * b.in));
          for (std::int64_t i = 0; i < B; i += chunk) {
            const std::int64_t n = std::min(chunk, B - i);
            b.lambda.add_(torch::bmm(dq.narrow(0, i, n).transpose(1, 2), aq.narrow(0, i, n)).pow(2).sum(0));
          }
        }
      });
  std::vector<torch::Tensor*> second;
  for (auto& b : f.blocks) second.push_back(&b.lambda);
  second.push_back(&f.diagonal_values);
  ekfac_detail::reduce_and_agree(comm, second);
  for (auto* x : second) x->div_(N);
  f.seconds["correction"] = seconds_since(t);
  return f;
}

torch::Tensor ekfac_solve(const EkfacFactors& f, const grads::ParamLayout& layout, const torch::Tensor& v,
                          double damping) {
  if (v.dim() != 2 || v.size(1) != layout.dim() || v.scalar_type() != torch::kDouble)
    throw UsageError("ekfac: expected vectors [m, " + std::to_string(layout.dim()) + "] float64");
  if (!(damping > 0)) throw UsageError("ekfac: the damping must be > 0 (--damping)");
  torch::NoGradGuard no_grad;
  const std::int64_t m = v.size(0);
  torch::Tensor out = torch::empty_like(v);
  const auto& params = layout.params();
  for (const auto& b : f.blocks) {
    const std::int64_t in_w = b.in - (b.bias >= 0 ? 1 : 0);
    std::vector<torch::Tensor> pieces;
    if (b.weight >= 0) pieces.push_back(v.narrow(1, params[std::size_t(b.weight)].offset, b.out * in_w).view({m, b.out, in_w}));
    if (b.bias >= 0) pieces.push_back(v.narrow(1, params[std::size_t(b.bias)].offset, b.out).view({m, b.out, 1}));
    torch::Tensor x = pieces.size() == 1 ? pieces[0] : torch::cat(pieces, -1);
    torch::Tensor rot = torch::matmul(torch::matmul(b.q_s.t(), x), b.q_a) / (b.lambda + damping);
    torch::Tensor back = torch::matmul(torch::matmul(b.q_s, rot), b.q_a.t());  // [m,out,in]
    if (b.weight >= 0)
      out.narrow(1, params[std::size_t(b.weight)].offset, b.out * in_w)
          .copy_(back.narrow(2, 0, in_w).reshape({m, -1}));
    if (b.bias >= 0) out.narrow(1, params[std::size_t(b.bias)].offset, b.out).copy_(back.select(2, in_w));
  }
  std::int64_t at = 0;
  for (int i : f.diagonal) {
    const auto& p = params[std::size_t(i)];
    out.narrow(1, p.offset, p.numel).copy_(v.narrow(1, p.offset, p.numel) / (f.diagonal_values.narrow(0, at, p.numel) + damping));
    at += p.numel;
  }
  return out;
}

}  // namespace fathom::attrib
