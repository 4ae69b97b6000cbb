// One FAISS index in memory (vector_index.h): factory string in, ids as an
// offset, cosine as inner product over L2-normalised copies.
#include "fathom/index/vector_index.h"

#include <faiss/IVFlib.h>
#include <faiss/Index.h>
#include <faiss/IndexIVF.h>
#include <faiss/impl/io.h>
#include <faiss/index_factory.h>
#include <faiss/index_io.h>
#include <faiss/utils/distances.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <string>
#include <utility>

#include "faiss_glue.h"
#include "fathom/comm/communicator.h"
#include "fathom/core/atomic_file.h"
#include "fathom/core/error.h"

namespace fathom::index {
namespace {

faiss::MetricType faiss_metric(Metric metric) {
  return metric == Metric::l2 ? faiss::METRIC_L2 : faiss::METRIC_INNER_PRODUCT;
}

const char* faiss_metric_name(faiss::MetricType m) {
  return m == faiss::METRIC_L2 ? "l2" : m == faiss::METRIC_INNER_PRODUCT ? "inner product" : "another metric";
}

// A normalised copy for cosine; nullptr-free view otherwise.
struct Prepared {
  const float* data = nullptr;
  std::vector<float> copy;
};

Prepared prepare(const float* x, std::int64_t n, std::int64_t dim, Metric metric) {
  Prepared p;
  p.data = x;
  if (metric == Metric::cosine && n > 0) {
    p.copy.assign(x, x + n * dim);
    faiss::fvec_renorm_L2(std::size_t(dim), std::size_t(n), p.copy.data());
    p.data = p.copy.data();
  }
  return p;
}

}  // namespace

struct VectorIndex::Impl {
  std::unique_ptr<faiss::Index> index;
  Metric metric = Metric::l2;
  std::int64_t dim = 0;
  std::int64_t first_row = 0;
};

VectorIndex::VectorIndex(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

VectorIndex::VectorIndex(const std::string& spec, Metric metric, std::int64_t dim) {
  if (dim < 1) throw UsageError("index: dimension must be >= 1, got " + std::to_string(dim));
  if (dim > std::numeric_limits<int>::max()) throw UsageError("index: dimension " + std::to_string(dim) + " is too large for FAISS");
  impl_ = std::make_unique<Impl>();
  impl_->metric = metric;
  impl_->dim = dim;
  try {
    impl_->index.reset(faiss::index_factory(int(dim), spec.c_str(), faiss_metric(metric)));
  } catch (const faiss::FaissException& e) {
    throw UsageError("index spec '" + spec + "' (dimension " + std::to_string(dim) + ", metric " +
                     metric_name(metric) + ") was rejected by FAISS: " + detail::faiss_message(e) + "; " +
                     detail::kAcceptedSpecs);
  }
  if (!impl_->index)
    throw UsageError("index spec '" + spec + "' was rejected by FAISS (no index); " + detail::kAcceptedSpecs);
}

VectorIndex::~VectorIndex() = default;
VectorIndex::VectorIndex(VectorIndex&&) noexcept = default;
VectorIndex& VectorIndex::operator=(VectorIndex&&) noexcept = default;

Metric VectorIndex::metric() const { return impl_->metric; }
std::int64_t VectorIndex::dim() const { return impl_->dim; }
std::int64_t VectorIndex::size() const { return std::int64_t(impl_->index->ntotal); }
bool VectorIndex::needs_training() const { return !impl_->index->is_trained; }

void VectorIndex::train(const float* x, std::int64_t n) {
  if (n < 1) throw UsageError("index: training needs at least one row");
  const Prepared p = prepare(x, n, impl_->dim, impl_->metric);
  detail::usage_on_faiss_error("index: training on " + std::to_string(n) + " rows", [&] {
    impl_->index->train(faiss::Index::idx_t(n), p.data);
  });
}

void VectorIndex::add(const float* x, std::int64_t n, std::int64_t first_row) {
  if (n < 0) throw UsageError("index: cannot add " + std::to_string(n) + " rows");
  if (needs_training()) throw UsageError("index: rows added before the index was trained");
  if (size() == 0) {
    impl_->first_row = first_row;
  } else if (first_row != impl_->first_row + size()) {
    throw UsageError("index: rows must be added in contiguous id order: expected first row " +
                     std::to_string(impl_->first_row + size()) + ", got " + std::to_string(first_row));
  }
  if (n == 0) return;
  const Prepared p = prepare(x, n, impl_->dim, impl_->metric);
  detail::usage_on_faiss_error("index: adding " + std::to_string(n) + " rows", [&] {
    impl_->index->add(faiss::Index::idx_t(n), p.data);
  });
}

void VectorIndex::set_nprobe(std::int64_t nprobe) {
  if (nprobe < 1) throw UsageError("index: nprobe must be >= 1, got " + std::to_string(nprobe));
  if (faiss::IndexIVF* ivf = faiss::ivflib::try_extract_index_ivf(impl_->index.get()))
    ivf->nprobe = std::size_t(nprobe);
}

std::int64_t VectorIndex::nlist() const {
  const faiss::IndexIVF* ivf = faiss::ivflib::try_extract_index_ivf(impl_->index.get());
  return ivf ? std::int64_t(ivf->nlist) : 0;
}

std::int64_t VectorIndex::nprobe() const {
  const faiss::IndexIVF* ivf = faiss::ivflib::try_extract_index_ivf(impl_->index.get());
  return ivf ? std::int64_t(ivf->nprobe) : 0;
}

Neighbors VectorIndex::search(const float* queries, std::int64_t n, std::int64_t k) const {
  if (k < 1) throw UsageError("index: k must be >= 1, got " + std::to_string(k));
  if (n < 0) throw UsageError("index: cannot search " + std::to_string(n) + " queries");
  Neighbors out(n, k, impl_->metric);
  if (n == 0 || size() == 0) return out;
  const Prepared p = prepare(queries, n, impl_->dim, impl_->metric);
  std::vector<faiss::Index::idx_t> labels(std::size_t(n * k), -1);
  detail::usage_on_faiss_error("index: searching " + std::to_string(n) + " queries for k = " + std::to_string(k),
                               [&] { impl_->index->search(faiss::Index::idx_t(n), p.data, faiss::Index::idx_t(k),
                                                          out.distances.data(), labels.data()); });
  // FAISS marks missing entries with label -1 (distances vary by index type);
  // fathom's are row -1 with the metric's worst distance (top_k.h).
  const Neighbors missing(1, 1, impl_->metric);
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] < 0) {
      out.rows[i] = -1;
      out.distances[i] = missing.distances[0];
    } else {
      out.rows[i] = impl_->first_row + std::int64_t(labels[i]);
    }
  }
  sort_lists(out, impl_->metric);  // equal distances by row, the one order
  return out;
}

std::vector<std::uint8_t> VectorIndex::to_bytes() const {
  faiss::VectorIOWriter writer;
  detail::usage_on_faiss_error("index: serialising", [&] { faiss::write_index(impl_->index.get(), &writer); });
  return std::move(writer.data);
}

namespace {

std::unique_ptr<faiss::Index> checked_metric(faiss::Index* raw, Metric metric, const std::string& source) {
  std::unique_ptr<faiss::Index> index(raw);
  if (index->metric_type != faiss_metric(metric))
    throw InputError(source, 0, "metric",
                     std::string("the FAISS index uses ") + faiss_metric_name(index->metric_type) +
                         ", not the metric " + metric_name(metric) + " it was opened with");
  return index;
}

}  // namespace

VectorIndex VectorIndex::adopt(std::unique_ptr<faiss::Index> index, Metric metric, std::int64_t first_row) {
  auto impl = std::make_unique<Impl>();
  impl->index = std::move(index);
  impl->metric = metric;
  impl->dim = impl->index->d;
  impl->first_row = first_row;
  return VectorIndex(std::move(impl));
}

VectorIndex VectorIndex::from_bytes(const std::vector<std::uint8_t>& bytes, Metric metric, std::int64_t first_row) {
  faiss::VectorIOReader reader;
  reader.data = bytes;
  faiss::Index* raw = detail::input_on_faiss_error("<index bytes>", "reading a serialised index",
                                                   [&] { return faiss::read_index(&reader); });
  return adopt(checked_metric(raw, metric, "<index bytes>"), metric, first_row);
}

void VectorIndex::write(const std::string& path) const {
  // Write beside, fsync, rename: a shard file that exists is complete.
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  try {
    faiss::write_index(impl_->index.get(), tmp.c_str());
    fsync_file(tmp);
  } catch (const faiss::FaissException& e) {
    std::remove(tmp.c_str());
    throw InputError(path, "cannot write the index: FAISS: " + detail::faiss_message(e));
  } catch (...) {
    std::remove(tmp.c_str());
    throw;
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::remove(tmp.c_str());
    throw InputError(path, "cannot rename the written index into place: " + ec.message());
  }
}

VectorIndex VectorIndex::read(const std::string& path, Metric metric, std::int64_t first_row) {
  if (!std::filesystem::is_regular_file(path)) throw InputError(path, "no such index file");
  faiss::Index* raw =
      detail::input_on_faiss_error(path, "reading the index", [&] { return faiss::read_index(path.c_str()); });
  return adopt(checked_metric(raw, metric, path), metric, first_row);
}

Neighbors merge_across_ranks(const Neighbors& local, std::int64_t k, Metric metric, comm::Communicator& comm) {
  if (k < 1) throw UsageError("merge_across_ranks: k must be >= 1, got " + std::to_string(k));
  if (local.distances.size() != std::size_t(local.queries * local.k) || local.rows.size() != local.distances.size())
    throw UsageError("merge_across_ranks: lists of " + std::to_string(local.queries) + " x " +
                     std::to_string(local.k) + " entries hold " + std::to_string(local.rows.size()) + " rows");
  // Every rank must bring lists for the same queries: agree before gathering.
  const std::int64_t most = comm.all_reduce_value(local.queries, comm::ReduceOp::max);
  const std::int64_t least = comm.all_reduce_value(local.queries, comm::ReduceOp::min);
  if (most != least)
    throw UsageError("merge_across_ranks: ranks hold lists for different numbers of queries (" +
                     std::to_string(least) + " to " + std::to_string(most) + ")");
  const std::int64_t entries = local.queries * local.k;
  std::vector<std::int64_t> counts;
  const std::vector<std::uint8_t> distances =
      comm.gatherv(local.distances.data(), entries, comm::DType::f32, 0, &counts);
  const std::vector<std::uint8_t> rows = comm.gatherv(local.rows.data(), entries, comm::DType::i64, 0);
  Neighbors merged;
  if (comm.is_root()) {
    std::vector<Neighbors> parts(counts.size());
    std::size_t at = 0;
    for (std::size_t r = 0; r < counts.size(); ++r) {
      Neighbors& part = parts[r];
      part.queries = local.queries;
      part.k = local.queries > 0 ? counts[r] / local.queries : 0;
      part.distances.resize(std::size_t(counts[r]));
      part.rows.resize(std::size_t(counts[r]));
      std::memcpy(part.distances.data(), distances.data() + at * sizeof(float), std::size_t(counts[r]) * sizeof(float));
      std::memcpy(part.rows.data(), rows.data() + at * sizeof(std::int64_t),
                  std::size_t(counts[r]) * sizeof(std::int64_t));
      at += std::size_t(counts[r]);
    }
    merged = merge_top_k(parts, k, metric);
  } else {
    merged = Neighbors(local.queries, k, metric);
  }
  comm.broadcast(merged.distances.data(), std::int64_t(merged.distances.size()), comm::DType::f32, 0);
  comm.broadcast(merged.rows.data(), std::int64_t(merged.rows.size()), comm::DType::i64, 0);
  return merged;
}

}  // namespace fathom::index
