// Random projections of gradient rows (projection.h).
#include "fathom/grads/projection.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <mutex>

#include "fathom/core/error.h"

namespace fathom::grads {
namespace {

constexpr std::int64_t kBlockColumns = 4096;

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// One generator per (seed, stream): blocks and factors are independent of
// each other and of the order in which they are generated.
std::uint64_t stream_seed(std::uint64_t seed, std::uint64_t stream) { return splitmix64(splitmix64(seed) ^ stream); }

// [rows, cols] float64 on the CPU, scaled by 1/√rows.
torch::Tensor random_matrix(const std::string& kind, std::int64_t rows, std::int64_t cols, std::uint64_t seed) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  torch::Tensor m;
  if (kind == "rademacher") {
    m = torch::randint(0, 2, {rows, cols}, gen, torch::kDouble).mul_(2.0).sub_(1.0);
  } else {
    m = torch::randn({rows, cols}, gen, torch::kDouble);
  }
  return m.div_(std::sqrt(double(rows)));
}

class DenseProjector final : public Projector {
 public:
  DenseProjector(const ProjectionSpec& spec, std::int64_t input_dim, std::size_t budget) : budget_(budget) {
    spec_ = spec;
    input_dim_ = input_dim;
    output_dim_ = spec.dim;
  }

  torch::Tensor project(const torch::Tensor& g) const override {
    if (g.dim() != 2 || g.size(1) != input_dim_)
      throw UsageError("projection " + spec_.text() + ": expected rows of " + std::to_string(input_dim_) +
                       " values, got shape " + shape_text(g));
    std::lock_guard<std::mutex> lock(mutex_);
    torch::Tensor out = torch::zeros({g.size(0), output_dim_}, g.options());
    const std::int64_t blocks = (input_dim_ + kBlockColumns - 1) / kBlockColumns;
    prepare_cache(g);
    for (std::int64_t b = 0; b < blocks; ++b) {
      torch::Tensor p = b < std::int64_t(cached_.size()) ? cached_[std::size_t(b)] : block(b, g);
      const std::int64_t c0 = b * kBlockColumns;
      out.addmm_(g.narrow(1, c0, p.size(1)), p.t());
    }
    return out;
  }

 private:
  static std::string shape_text(const torch::Tensor& t) {
    std::string s = "[";
    for (std::int64_t i = 0; i < t.dim(); ++i) s += (i ? "," : "") + std::to_string(t.size(i));
    return s + "]";
  }

  torch::Tensor block(std::int64_t b, const torch::Tensor& like) const {
    const std::int64_t c0 = b * kBlockColumns, width = std::min(kBlockColumns, input_dim_ - c0);
    return random_matrix(spec_.kind, output_dim_, width, stream_seed(spec_.seed, std::uint64_t(b)))
        .to(like.device(), like.scalar_type());
  }

  // Keeps as many leading blocks as the budget allows, in the dtype and on
  // the device of the latest call.
  void prepare_cache(const torch::Tensor& like) const {
    if (!cached_.empty() && cached_dtype_ == like.scalar_type() && cached_device_ == like.device()) return;
    cached_.clear();
    cached_dtype_ = like.scalar_type();
    cached_device_ = like.device();
    const std::int64_t blocks = (input_dim_ + kBlockColumns - 1) / kBlockColumns;
    std::size_t used = 0;
    for (std::int64_t b = 0; b < blocks; ++b) {
      const std::size_t bytes = std::size_t(output_dim_) * std::size_t(kBlockColumns) * like.element_size();
      if (used + bytes > budget_) break;
      cached_.push_back(block(b, like));
      used += bytes;
    }
  }

  std::size_t budget_;
  mutable std::mutex mutex_;
  mutable std::vector<torch::Tensor> cached_;
  mutable torch::ScalarType cached_dtype_ = torch::kFloat;
  mutable torch::Device cached_device_ = torch::kCPU;
};

class LograProjector final : public FactorisedProjector {
 public:
  LograProjector(const ProjectionSpec& spec, const ParamLayout& layout) {
    spec_ = spec;
    input_dim_ = layout.dim();
    const std::int64_t K = spec.dim;
    for (std::size_t i = 0; i < layout.size(); ++i) {
      const auto& p = layout.params()[i];
      Entry e;
      e.offset_in = p.offset;
      e.numel = p.numel;
      e.matrix = p.shape.size() >= 2;
      e.rows = e.matrix ? p.shape[0] : p.numel;
      e.cols = e.matrix ? p.numel / p.shape[0] : 1;
      const std::uint64_t s = spec.seed;
      if (e.rows > K) e.row_factor = random_matrix("gaussian", K, e.rows, stream_seed(s, 2 * i));
      if (e.matrix && e.cols > K) e.col_factor = random_matrix("gaussian", K, e.cols, stream_seed(s, 2 * i + 1));
      e.k_rows = std::min(K, e.rows);
      e.k_cols = e.matrix ? std::min(K, e.cols) : 1;
      e.offset_out = output_dim_;
      output_dim_ += e.k_rows * e.k_cols;
      entries_.push_back(std::move(e));
    }
  }

  torch::Tensor project(const torch::Tensor& g) const override {
    if (g.dim() != 2 || g.size(1) != input_dim_)
      throw UsageError("projection " + spec_.text() + ": expected rows of " + std::to_string(input_dim_) + " values");
    const std::int64_t B = g.size(0);
    std::vector<torch::Tensor> parts;
    for (std::size_t i = 0; i < entries_.size(); ++i) {
      const Entry& e = entries_[i];
      auto [pr, pc] = factors(int(i), g.scalar_type(), g.device());
      torch::Tensor m = g.narrow(1, e.offset_in, e.numel).reshape({B, e.rows, e.cols});
      if (pr.defined()) m = torch::matmul(pr, m);                  // [B,k_r,c]
      if (pc.defined()) m = torch::matmul(m, pc.t());              // [B,k_r,k_c]
      parts.push_back(m.reshape({B, e.k_rows * e.k_cols}));
    }
    return torch::cat(parts, 1);
  }

  std::int64_t output_offset(int param) const override { return entries_.at(std::size_t(param)).offset_out; }
  std::int64_t output_width(int param) const override {
    const Entry& e = entries_.at(std::size_t(param));
    return e.k_rows * e.k_cols;
  }
  bool is_matrix(int param) const override { return entries_.at(std::size_t(param)).matrix; }
  std::pair<torch::Tensor, torch::Tensor> factors(int param, torch::ScalarType dtype,
                                                  const torch::Device& device) const override {
    const Entry& e = entries_.at(std::size_t(param));
    auto cast = [&](const torch::Tensor& t) { return t.defined() ? t.to(device, dtype) : t; };
    return {cast(e.row_factor), cast(e.col_factor)};
  }

 private:
  struct Entry {
    std::int64_t offset_in = 0, numel = 0, rows = 0, cols = 1, k_rows = 0, k_cols = 1, offset_out = 0;
    bool matrix = false;
    torch::Tensor row_factor, col_factor;  // float64 CPU; undefined = identity
  };
  std::vector<Entry> entries_;
};

}  // namespace

std::string ProjectionSpec::text() const {
  if (kind == "none") return "none";
  return kind + ":" + std::to_string(dim) + ":" + std::to_string(seed);
}

ProjectionSpec parse_projection_spec(const std::string& spec) {
  const std::string expected = "expected none or KIND:DIM:SEED with KIND gaussian|rademacher|logra, e.g. gaussian:1024:0";
  ProjectionSpec p;
  if (spec == "none" || spec.empty()) return p;
  const auto a = spec.find(':');
  const auto b = a == std::string::npos ? std::string::npos : spec.find(':', a + 1);
  if (b == std::string::npos) throw UsageError("--project '" + spec + "': " + expected);
  p.kind = spec.substr(0, a);
  if (p.kind != "gaussian" && p.kind != "rademacher" && p.kind != "logra")
    throw UsageError("--project '" + spec + "': unknown kind '" + p.kind + "'; " + expected);
  auto number = [&](const std::string& text, const char* what) -> std::uint64_t {
    if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos || text.size() > 19)
      throw UsageError("--project '" + spec + "': " + what + " '" + text + "' is not a non-negative integer; " +
                       expected);
    return std::stoull(text);
  };
  p.dim = std::int64_t(number(spec.substr(a + 1, b - a - 1), "DIM"));
  p.seed = number(spec.substr(b + 1), "SEED");
  if (p.dim < 1) throw UsageError("--project '" + spec + "': DIM must be >= 1");
  return p;
}

std::unique_ptr<Projector> make_projector(const ProjectionSpec& spec, const ParamLayout& layout,
                                          std::size_t memory_budget_bytes) {
  if (spec.kind == "none") return nullptr;
  const std::int64_t D = layout.dim();
  std::unique_ptr<Projector> p;
  if (spec.kind == "gaussian" || spec.kind == "rademacher") {
    if (spec.dim < 1) throw UsageError("projection " + spec.text() + ": DIM must be >= 1");
    p = std::make_unique<DenseProjector>(spec, D, memory_budget_bytes);
  } else if (spec.kind == "logra") {
    if (spec.dim < 1) throw UsageError("projection " + spec.text() + ": DIM must be >= 1");
    p = std::make_unique<LograProjector>(spec, layout);
  } else {
    throw UsageError("projection: unknown kind '" + spec.kind + "' (gaussian, rademacher, logra or none)");
  }
  if (p->output_dim() >= D)
    throw UsageError("projection " + spec.text() + " gives " + std::to_string(p->output_dim()) +
                     " dimensions, not fewer than the " + std::to_string(D) +
                     " of the selected parameters (" + layout.describe() +
                     "): use a smaller DIM or --project none");
  return p;
}

}  // namespace fathom::grads
