// Token saliency scores of one padded batch (saliency.h).
#include "fathom/attrib/saliency.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>

#include "fathom/core/error.h"

namespace fathom::attrib {
namespace {

const std::vector<std::string> kMethods = {"vanilla", "grad-input", "ig", "smoothgrad", "loo"};
const std::vector<std::string> kRules = {"gauss-legendre", "riemann-left", "riemann-right", "riemann-middle",
                                         "riemann-trapezoid"};

std::string joined(const std::vector<std::string>& names) {
  std::string s;
  for (const auto& n : names) s += (s.empty() ? "" : ", ") + n;
  return s;
}

// Nodes (ascending) and weights of the m-point Gauss–Legendre rule on [-1,1]:
// Newton's method on P_m from the usual cosine guesses, P_m and P_m' by the
// three-term recurrence.
void gauss_legendre(std::int64_t m, std::vector<double>& x, std::vector<double>& w) {
  x.assign(std::size_t(m), 0.0);
  w.assign(std::size_t(m), 0.0);
  const double pi = std::acos(-1.0);
  for (std::int64_t i = 0; i < (m + 1) / 2; ++i) {
    double z = std::cos(pi * (double(i) + 0.75) / (double(m) + 0.5));
    double dp = 0;
    for (int it = 0; it < 10; ++it) {  // Newton from the asymptotic guess: a handful suffice
      double p0 = 1, p1 = z;
      for (std::int64_t k = 2; k <= m; ++k) {
        const double p2 = ((2.0 * double(k) - 1.0) * z * p1 - (double(k) - 1.0) * p0) / double(k);
        p0 = p1;
        p1 = p2;
      }
      if (m == 1) p0 = 1, p1 = z;
      dp = double(m) * (z * p1 - p0) / (z * z - 1.0);
      if (m == 1) dp = 1;
      const double dz = p1 / dp;
      z -= dz;
      if (std::abs(dz) < 1e-14) break;
    }
    // Recompute the derivative at the converged node for the weight.
    double p0 = 1, p1 = z;
    for (std::int64_t k = 2; k <= m; ++k) {
      const double p2 = ((2.0 * double(k) - 1.0) * z * p1 - (double(k) - 1.0) * p0) / double(k);
      p0 = p1;
      p1 = p2;
    }
    dp = m == 1 ? 1.0 : double(m) * (z * p1 - p0) / (z * z - 1.0);
    const double weight = 2.0 / ((1.0 - z * z) * dp * dp);
    x[std::size_t(m - 1 - i)] = z;   // z > 0 here: the upper half
    x[std::size_t(i)] = -z;
    w[std::size_t(i)] = w[std::size_t(m - 1 - i)] = weight;
  }
  if (m % 2 == 1) x[std::size_t(m / 2)] = 0.0;
}

// Rows (example b, point/copy k) of one batched pass.
struct Pass {
  std::vector<std::int64_t> rows, points;
};

std::vector<Pass> passes(std::int64_t B, std::int64_t per_example, std::int64_t rows_per_pass) {
  std::vector<Pass> out;
  Pass cur;
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t k = 0; k < per_example; ++k) {
      cur.rows.push_back(b);
      cur.points.push_back(k);
      if (std::int64_t(cur.rows.size()) == rows_per_pass) out.push_back(std::move(cur)), cur = Pass{};
    }
  if (!cur.rows.empty()) out.push_back(std::move(cur));
  return out;
}

torch::Tensor index_tensor(const std::vector<std::int64_t>& v, const torch::Device& d) {
  return torch::tensor(v, torch::kLong).to(d);
}

void call(const SaliencySettings& s) {
  if (s.checkpoint) s.checkpoint();
}

// Σ_k w_k ∂F/∂e at the points `make_rows` builds, [B,T,E]; one pass per
// chunk of rows.
template <class MakeRows>
torch::Tensor accumulated_gradient(model::Model& model, const model::Batch& batch, const torch::Tensor& emb,
                                   const torch::Tensor& targets, const SaliencySettings& s, std::int64_t per_example,
                                   const std::vector<double>& weights, MakeRows make_rows) {
  const auto dev = emb.device();
  torch::Tensor total = torch::zeros_like(emb);
  for (const Pass& p : passes(emb.size(0), per_example, s.rows_per_pass)) {
    call(s);
    torch::Tensor rows = index_tensor(p.rows, dev);
    torch::Tensor x = make_rows(rows, p);
    torch::Tensor type_ids = batch.type_ids.defined() ? batch.type_ids.index_select(0, rows) : batch.type_ids;
    EmbeddingGradients g = embedding_gradients(model, x, batch.mask.index_select(0, rows), type_ids,
                                               targets.index_select(0, rows), s.objective);
    std::vector<double> w(p.points.size());
    for (std::size_t i = 0; i < w.size(); ++i) w[i] = weights[std::size_t(p.points[i])];
    torch::Tensor wt = torch::tensor(w, torch::kDouble).to(dev, emb.scalar_type()).view({-1, 1, 1});
    total.index_add_(0, rows, g.gradients * wt);
  }
  return total;
}

torch::Tensor loo_scores(model::Model& model, const model::Batch& batch, const torch::Tensor& targets,
                         const torch::Tensor& special, const torch::Tensor& p_input, const SaliencySettings& s) {
  const std::int64_t B = batch.ids.size(0), T = batch.ids.size(1);
  torch::Tensor ids = batch.ids.to(torch::kCPU).contiguous(), mask = batch.mask.to(torch::kCPU).contiguous();
  torch::Tensor types = batch.type_ids.defined() ? batch.type_ids.to(torch::kCPU).contiguous()
                                                 : torch::zeros_like(ids);
  torch::Tensor spec = special.defined() ? special.to(torch::kCPU).to(torch::kBool).contiguous()
                                         : torch::zeros({B, T}, torch::kBool);
  auto I = ids.accessor<std::int64_t, 2>();
  auto M = mask.accessor<std::int64_t, 2>();
  auto Y = types.accessor<std::int64_t, 2>();
  auto S = spec.accessor<bool, 2>();
  // Every deletion (b, t) of a real, non-special position.
  std::vector<std::int64_t> del_b, del_t;
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t t = 0; t < T; ++t)
      if (M[b][t] != 0 && !S[b][t]) del_b.push_back(b), del_t.push_back(t);
  torch::Tensor scores = torch::zeros({B, T}, torch::kDouble);
  const auto dev = batch.ids.device();
  torch::Tensor p_in = p_input.to(torch::kCPU);
  for (std::size_t d0 = 0; d0 < del_b.size(); d0 += std::size_t(s.rows_per_pass)) {
    call(s);
    const std::size_t d1 = std::min(del_b.size(), d0 + std::size_t(s.rows_per_pass));
    const std::int64_t R = std::int64_t(d1 - d0);
    const std::int64_t width = std::max<std::int64_t>(T - 1, 1);
    torch::Tensor rid = torch::zeros({R, width}, torch::kLong), rmask = torch::zeros({R, width}, torch::kLong),
                  rtype = torch::zeros({R, width}, torch::kLong);
    auto RI = rid.accessor<std::int64_t, 2>();
    auto RM = rmask.accessor<std::int64_t, 2>();
    auto RY = rtype.accessor<std::int64_t, 2>();
    for (std::int64_t r = 0; r < R; ++r) {
      const std::int64_t b = del_b[d0 + std::size_t(r)], skip = del_t[d0 + std::size_t(r)];
      std::int64_t j = 0;
      for (std::int64_t t = 0; t < T; ++t) {
        if (t == skip) continue;
        if (j < width) RI[r][j] = I[b][t], RM[r][j] = M[b][t], RY[r][j] = Y[b][t];
        ++j;
      }
      // Masked slots hold the example's first id: any valid id does.
      for (std::int64_t k = 0; k < width; ++k)
        if (RM[r][k] == 0) RI[r][k] = I[b][0];
    }
    torch::Tensor tg = targets.to(torch::kCPU).index_select(0, torch::tensor(std::vector<std::int64_t>(
                                                                    del_b.begin() + std::ptrdiff_t(d0),
                                                                    del_b.begin() + std::ptrdiff_t(d1))));
    torch::NoGradGuard no_grad;
    torch::Tensor x = model.embed(rid.to(dev));
    torch::Tensor type_arg = batch.type_ids.defined() ? rtype.to(dev) : torch::Tensor();
    EmbeddingGradients e = evaluate_objective(model, x, rmask.to(dev), type_arg, tg.to(dev), Objective::logit);
    torch::Tensor p = torch::softmax(e.logits.to(torch::kCPU, torch::kDouble), 1).gather(1, tg.view({-1, 1})).squeeze(1);
    auto P = p.accessor<double, 1>();
    auto PI = p_in.accessor<double, 1>();
    auto SC = scores.accessor<double, 2>();
    for (std::int64_t r = 0; r < R; ++r) {
      const std::int64_t b = del_b[d0 + std::size_t(r)], t = del_t[d0 + std::size_t(r)];
      SC[b][t] = PI[b] - P[r];
    }
  }
  return scores.to(dev);
}

}  // namespace

const std::vector<std::string>& saliency_method_names() { return kMethods; }

std::string method_name(SaliencyMethod m) { return kMethods[std::size_t(m)]; }

SaliencyMethod parse_saliency_method(const std::string& name) {
  for (std::size_t i = 0; i < kMethods.size(); ++i)
    if (kMethods[i] == name) return SaliencyMethod(i);
  throw UsageError("unknown saliency method '" + name + "' (expected one of: " + joined(kMethods) + ")");
}

std::string rule_name(QuadratureRule r) { return kRules[std::size_t(r)]; }

QuadratureRule parse_quadrature_rule(const std::string& name) {
  for (std::size_t i = 0; i < kRules.size(); ++i)
    if (kRules[i] == name) return QuadratureRule(i);
  throw UsageError("unknown integration rule '" + name + "' (expected one of: " + joined(kRules) + ")");
}

std::string objective_name(Objective o) { return o == Objective::logit ? "logit" : "loss"; }

Objective parse_objective(const std::string& name) {
  if (name == "logit") return Objective::logit;
  if (name == "loss") return Objective::loss;
  throw UsageError("unknown objective '" + name + "' (expected logit or loss)");
}

Quadrature quadrature(QuadratureRule rule, std::int64_t m) {
  if (m < 1) throw UsageError("integrated gradients: steps must be >= 1, got " + std::to_string(m));
  Quadrature q;
  const double dm = double(m);
  switch (rule) {
    case QuadratureRule::gauss_legendre: {
      gauss_legendre(m, q.alphas, q.weights);
      for (std::size_t k = 0; k < q.alphas.size(); ++k) q.alphas[k] = 0.5 * (q.alphas[k] + 1.0), q.weights[k] *= 0.5;
      return q;
    }
    case QuadratureRule::riemann_left:
    case QuadratureRule::riemann_right:
    case QuadratureRule::riemann_middle: {
      const double shift = rule == QuadratureRule::riemann_left ? 0.0 : rule == QuadratureRule::riemann_right ? 1.0 : 0.5;
      for (std::int64_t k = 0; k < m; ++k) q.alphas.push_back((double(k) + shift) / dm), q.weights.push_back(1.0 / dm);
      return q;
    }
    case QuadratureRule::riemann_trapezoid: {
      if (m < 2) throw UsageError("integrated gradients: riemann-trapezoid needs steps >= 2, got " + std::to_string(m));
      for (std::int64_t k = 0; k < m; ++k) {
        q.alphas.push_back(double(k) / (dm - 1.0));
        q.weights.push_back((k == 0 || k == m - 1 ? 0.5 : 1.0) / (dm - 1.0));
      }
      return q;
    }
  }
  throw UsageError("unknown integration rule");
}

void check_settings(const SaliencySettings& s) {
  if (s.rows_per_pass < 1) throw UsageError("saliency: rows per pass must be >= 1, got " + std::to_string(s.rows_per_pass));
  if (s.method == SaliencyMethod::integrated_gradients) quadrature(s.rule, s.steps);
  if (s.method == SaliencyMethod::smoothgrad) {
    if (s.samples < 1) throw UsageError("smoothgrad: samples must be >= 1, got " + std::to_string(s.samples));
    if (!(s.noise >= 0) || !std::isfinite(s.noise))
      throw UsageError("smoothgrad: noise must be a finite number >= 0, got " + std::to_string(s.noise));
  }
}

std::uint64_t smoothgrad_seed(std::uint64_t seed, const std::int64_t* ids, const std::int64_t* type_ids,
                              std::int64_t length) {
  // FNV-1a over the seed and the example's tokens, then a SplitMix64 finaliser.
  std::uint64_t h = 1469598103934665603ULL;
  auto mix = [&](std::uint64_t v) {
    for (int i = 0; i < 8; ++i) h = (h ^ ((v >> (8 * i)) & 0xFF)) * 1099511628211ULL;
  };
  mix(seed);
  mix(std::uint64_t(length));
  for (std::int64_t t = 0; t < length; ++t) mix(std::uint64_t(ids[t])), mix(type_ids ? std::uint64_t(type_ids[t]) : 0);
  h += 0x9E3779B97F4A7C15ULL;
  h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9ULL;
  h = (h ^ (h >> 27)) * 0x94D049BB133111EBULL;
  return h ^ (h >> 31);
}

SaliencyScores saliency_scores(model::Model& model, const model::Batch& batch, const torch::Tensor& targets,
                               const torch::Tensor& special, const SaliencySettings& s) {
  check_settings(s);
  if (!batch.ids.defined() || batch.ids.dim() != 2 || !batch.mask.defined() ||
      !batch.mask.sizes().equals(batch.ids.sizes()))
    throw UsageError("saliency: ids and mask must be [B,T]");
  if (!targets.defined() || targets.dim() != 1 || targets.size(0) != batch.ids.size(0))
    throw UsageError("saliency: targets must be [B]");
  const std::int64_t B = batch.ids.size(0);
  const torch::Tensor targets_dev = targets.to(batch.ids.device());
  torch::Tensor emb;
  {
    torch::NoGradGuard no_grad;
    emb = model.embed(batch.ids);
  }
  const torch::Tensor maskf = batch.mask.to(emb.scalar_type()).unsqueeze(2);  // [B,T,1]
  SaliencyScores out;
  EmbeddingGradients at_input;
  if (s.method == SaliencyMethod::vanilla || s.method == SaliencyMethod::grad_input) {
    call(s);
    at_input = embedding_gradients(model, emb, batch.mask, batch.type_ids, targets_dev, s.objective);
    torch::Tensor g = at_input.gradients * maskf;
    out.scores = s.method == SaliencyMethod::vanilla ? g.to(torch::kDouble).norm(2, {2})
                                                     : (g.to(torch::kDouble) * emb.to(torch::kDouble)).sum(2);
  } else {
    call(s);
    at_input = evaluate_objective(model, emb, batch.mask, batch.type_ids, targets_dev, s.objective);
  }
  out.logits = at_input.logits.to(torch::kDouble);
  out.objective = at_input.objective.to(torch::kDouble);

  if (s.method == SaliencyMethod::integrated_gradients) {
    const Quadrature q = quadrature(s.rule, s.steps);
    torch::Tensor alphas = torch::tensor(q.alphas, torch::kDouble).to(emb.device(), emb.scalar_type());
    torch::Tensor avg = accumulated_gradient(model, batch, emb, targets_dev, s, s.steps, q.weights,
                                             [&](const torch::Tensor& rows, const Pass& p) {
                                               torch::Tensor a = alphas.index_select(0, index_tensor(p.points, emb.device()));
                                               return emb.index_select(0, rows) * a.view({-1, 1, 1});
                                             });
    out.scores = ((avg * maskf).to(torch::kDouble) * emb.to(torch::kDouble)).sum(2);
    call(s);
    EmbeddingGradients base =
        evaluate_objective(model, torch::zeros_like(emb), batch.mask, batch.type_ids, targets_dev, s.objective);
    out.baseline_objective = base.objective.to(torch::kDouble);
    out.completeness_gap = out.scores.sum(1) - (out.objective - out.baseline_objective);
  } else if (s.method == SaliencyMethod::smoothgrad) {
    // σ per example from its real positions; noise drawn per example at its
    // own length (so padding never changes an example's draws).
    const std::int64_t T = emb.size(1), E = emb.size(2);
    torch::Tensor mask_cpu = batch.mask.to(torch::kCPU).contiguous();
    torch::Tensor ids_cpu = batch.ids.to(torch::kCPU).contiguous();
    torch::Tensor types_cpu = batch.type_ids.defined() ? batch.type_ids.to(torch::kCPU).contiguous() : torch::Tensor();
    torch::Tensor noise = torch::zeros({B, s.samples, T, E}, emb.options());
    for (std::int64_t b = 0; b < B; ++b) {
      const std::int64_t len = mask_cpu[b].sum().item<std::int64_t>();
      if (len == 0) continue;
      torch::Tensor real = emb[b].narrow(0, 0, len);
      const double sigma = s.noise * (real.max() - real.min()).item<double>();
      const std::uint64_t seed = smoothgrad_seed(s.seed, ids_cpu[b].data_ptr<std::int64_t>(),
                                                 types_cpu.defined() ? types_cpu[b].data_ptr<std::int64_t>() : nullptr, len);
      at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
      torch::Tensor eps = at::normal(0.0, 1.0, {s.samples, len, E}, gen, torch::TensorOptions().dtype(torch::kDouble));
      noise[b].narrow(1, 0, len).copy_(eps * sigma);
    }
    std::vector<double> weights(std::size_t(s.samples), 1.0 / double(s.samples));
    torch::Tensor avg = accumulated_gradient(model, batch, emb, targets_dev, s, s.samples, weights,
                                             [&](const torch::Tensor& rows, const Pass& p) {
                                               torch::Tensor k = index_tensor(p.points, emb.device());
                                               return emb.index_select(0, rows) + noise.index({rows, k});
                                             });
    out.scores = (avg * maskf).to(torch::kDouble).norm(2, {2});
  } else if (s.method == SaliencyMethod::loo) {
    torch::Tensor p_in = torch::softmax(out.logits, 1).gather(1, targets_dev.view({-1, 1})).squeeze(1);
    out.scores = loo_scores(model, batch, targets_dev, special, p_in, s);
  }
  out.scores = out.scores * batch.mask.to(torch::kDouble);
  return out;
}

}  // namespace fathom::attrib
