// Influence benchmarks that need the engine's insides (not a test: run by hand
// and by `tools/bench influence`). Two modes, each printing a table to stderr
// and, last on stdout, one JSON line of figures.
//
//   influence_bench scan --dir DIR [--rows 1000000] [--dim 4096] [--dtype f16|f32]
//                        [--queries 32] [--batches 3] [--budget-mib 256] [--keep]
//     Writes (rank 0) a plain cache DIR/scan-<rows>x<dim>-<dtype>.h5 holding
//     one "gradients" dataset of synthetic values (uniform in [-1, 1), a cheap
//     xorshift stream: only the bytes matter), reads the whole file once to
//     warm the page cache, reports how much of it is resident (mincore), times
//     a plain sequential read of the file (fread, 8 MiB blocks) and then
//     `batches` full scans of `queries` s_test rows by detail::scan_all (the
//     code behind `fathom influence --candidates all`: HDF5 row blocks of
//     budget-mib, one GEMM per block, top 20 both ways). Effective GB/s =
//     file bytes / scan seconds. The file is deleted unless --keep.
//
//   influence_bench pairs --model M --cache C --queries Q.jsonl [--solver ekfac]
//                         [--ekfac-file F] [--depth 1000] [--pair-queries 2]
//                         [--pair-rows 1000]
//     The per-pair protocol of the PyTorch ports of Koh & Liang: for each
//     query, its gradient (predicted label) and s_test = (H + λI)⁻¹ g by the
//     same solver `fathom influence` uses (setup once, apply to ONE vector),
//     then for every training row a fresh forward + backward with plain
//     autograd (gold label, batch of one) and a dot product. Times s_test over
//     pair-queries queries and the per-row loop over the first pair-rows rows
//     (float64, like `fathom influence --dtype float64`); the caller
//     extrapolates: setup + Q (s_test + N row).
#include <sys/mman.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include "../../src/attrib/influence_internal.h"
#include "fathom/attrib/training_hessian.h"
#include "fathom/comm/communicator.h"
#include "fathom/core/log.h"
#include "fathom/grads/cache_info.h"
#include "fathom/model/batching.h"
#include "fathom/store/cache_reader.h"
#include "fathom/store/cache_writer.h"

namespace {

namespace fs = std::filesystem;
using namespace fathom;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

struct Args {
  std::string mode;
  // scan
  std::int64_t rows = 1000000, dim = 4096, queries = 32, batches = 3, budget_mib = 256;
  std::string dtype = "f32", dir;
  bool keep = false;
  // pairs
  std::string model, cache, query_file, solver = "ekfac", ekfac_file;
  std::int64_t depth = 1000, pair_queries = 2, pair_rows = 1000;
};

Args parse(int argc, char** argv) {
  Args a;
  if (argc < 2) throw std::runtime_error("usage: influence_bench scan|pairs [flags]");
  a.mode = argv[1];
  for (int i = 2; i < argc; ++i) {
    const std::string flag = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error(flag + " needs a value");
      return argv[++i];
    };
    if (flag == "--rows") a.rows = std::stoll(value());
    else if (flag == "--dim") a.dim = std::stoll(value());
    else if (flag == "--queries" && a.mode == "scan") a.queries = std::stoll(value());
    else if (flag == "--batches") a.batches = std::stoll(value());
    else if (flag == "--budget-mib") a.budget_mib = std::stoll(value());
    else if (flag == "--dtype") a.dtype = value();
    else if (flag == "--dir") a.dir = value();
    else if (flag == "--keep") a.keep = true;
    else if (flag == "--model") a.model = value();
    else if (flag == "--cache") a.cache = value();
    else if (flag == "--queries") a.query_file = value();
    else if (flag == "--solver") a.solver = value();
    else if (flag == "--ekfac-file") a.ekfac_file = value();
    else if (flag == "--depth") a.depth = std::stoll(value());
    else if (flag == "--pair-queries") a.pair_queries = std::stoll(value());
    else if (flag == "--pair-rows") a.pair_rows = std::stoll(value());
    else throw std::runtime_error("unknown flag " + flag);
  }
  if (a.mode != "scan" && a.mode != "pairs") throw std::runtime_error("mode must be scan or pairs, not " + a.mode);
  if (a.dtype != "f32" && a.dtype != "f16") throw std::runtime_error("--dtype must be f32 or f16");
  return a;
}

// Uniform values in [-1, 1) from a xorshift64 stream seeded by the row.
void fill_rows(std::int64_t first, std::int64_t n, std::int64_t dim, float* out) {
  for (std::int64_t i = 0; i < n; ++i) {
    std::uint64_t x = 0x9e3779b97f4a7c15ull * std::uint64_t(first + i + 1);
    for (std::int64_t d = 0; d < dim; ++d) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      out[i * dim + d] = float(std::int64_t(x >> 40) - (std::int64_t(1) << 23)) / float(1 << 23);
    }
  }
}

void write_cache(const std::string& path, const Args& a) {
  store::CacheSchema s;
  s.rows = a.rows;
  s.datasets = {{"gradients", a.dim, a.dtype == "f16" ? store::ElementType::f16 : store::ElementType::f32}};
  s.attributes.set("kind", "bench");
  auto local = comm::make_communicator("local");
  store::CacheWriter w = store::CacheWriter::create(path, s, *local);
  const std::int64_t block = std::max<std::int64_t>(1, (std::int64_t(64) << 20) / (a.dim * 4));
  std::vector<float> buf(std::size_t(block * a.dim));
  for (std::int64_t r = 0; r < a.rows; r += block) {
    const std::int64_t n = std::min(block, a.rows - r);
    fill_rows(r, n, a.dim, buf.data());
    w.write_rows("gradients", r, n, buf.data());
  }
  w.finalize();
}

// Seconds to read the whole file sequentially (fread, 8 MiB blocks).
double read_file(const std::string& path) {
  const auto t = Clock::now();
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw std::runtime_error("cannot open " + path);
  std::vector<char> buf(std::size_t(8) << 20);
  volatile char sink = 0;
  std::size_t got;
  while ((got = std::fread(buf.data(), 1, buf.size(), f)) > 0) sink = sink + buf[got - 1];
  std::fclose(f);
  return seconds_since(t);
}

// Fraction of the file's pages in the page cache.
double resident_fraction(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return -1;
  struct stat st {};
  ::fstat(fd, &st);
  void* p = ::mmap(nullptr, std::size_t(st.st_size), PROT_READ, MAP_SHARED, fd, 0);
  double frac = -1;
  if (p != MAP_FAILED) {
    const long page = ::sysconf(_SC_PAGESIZE);
    const std::size_t pages = (std::size_t(st.st_size) + std::size_t(page) - 1) / std::size_t(page);
    std::vector<unsigned char> v(pages);
    if (::mincore(p, std::size_t(st.st_size), v.data()) == 0)
      frac = double(std::count_if(v.begin(), v.end(), [](unsigned char c) { return c & 1; })) / double(pages);
    ::munmap(p, std::size_t(st.st_size));
  }
  ::close(fd);
  return frac;
}

int run_scan(const Args& a, comm::Communicator& comm) {
  std::string dir = a.dir.empty() ? (fs::temp_directory_path() / "fathom-bench-influence").string() : a.dir;
  const std::string path =
      dir + "/scan-" + std::to_string(a.rows) + "x" + std::to_string(a.dim) + "-" + a.dtype + ".h5";
  double write_s = 0;
  if (comm.is_root()) {
    fs::create_directories(dir);
    const auto t = Clock::now();
    write_cache(path, a);
    write_s = seconds_since(t);
  }
  comm.barrier();
  const double file_bytes = double(fs::file_size(path));
  double warm_s = 0, read_s = 0, resident = 0;
  if (comm.is_root()) {
    warm_s = read_file(path);  // brings the file into the page cache
    resident = resident_fraction(path);
    read_s = read_file(path);
  }
  comm.barrier();
  torch::manual_seed(1);
  const torch::Tensor s = torch::randn({a.queries, a.dim}, torch::kFloat);
  std::vector<double> scan_s;
  for (std::int64_t b = 0; b < a.batches; ++b) {
    comm.barrier();
    const auto t = Clock::now();
    attrib::detail::scan_all(path, s, 20, std::size_t(a.budget_mib) << 20, comm, nullptr);
    comm.barrier();
    scan_s.push_back(seconds_since(t));
  }
  // Where the time goes, on this rank's share: the HDF5 row blocks alone
  // (read + f16 conversion) and the GEMM + top-k alone on one block in memory.
  double blocks_s = 0, gemm_s = 0;
  {
    const store::CacheReader reader = store::CacheReader::open(path);
    auto t = Clock::now();
    store::RowBlocks blocks =
        grads::rank_blocks(reader, "gradients", comm.rank(), comm.size(), std::size_t(a.budget_mib) << 20);
    std::int64_t my_rows = 0, block_rows = 0;
    torch::Tensor block;
    while (blocks.next()) {
      if (!block.defined())
        block = torch::from_blob(const_cast<float*>(blocks.data()), {blocks.count(), a.dim}, torch::kFloat).clone();
      my_rows += blocks.count();
    }
    blocks_s = seconds_since(t);
    block_rows = block.size(0);
    t = Clock::now();
    const torch::Tensor sc = s.matmul(block.t());
    torch::topk(sc, 20, 1);
    torch::topk(sc.neg(), 20, 1);
    gemm_s = seconds_since(t) * double(my_rows) / double(block_rows);  // scaled to this rank's rows
  }
  const double resident_after = comm.is_root() ? resident_fraction(path) : 0;
  if (comm.is_root() && !a.keep) fs::remove(path);
  if (!comm.is_root()) return 0;
  std::vector<double> sorted = scan_s;
  std::sort(sorted.begin(), sorted.end());
  const double median = sorted[sorted.size() / 2], best = sorted.front();
  const double gb = file_bytes / 1e9, read_gbs = gb / read_s, scan_gbs = gb / median;
  std::fprintf(stderr,
               "scan %lld x %lld %s (%.2f GB), %lld queries, %d rank(s): write %.1f s, warm read %.2f s, "
               "resident %.3f, read %.2f s (%.2f GB/s), scan median %.3f s (best %.3f) = %.2f GB/s, %.3f of read; "
               "row blocks alone %.3f s, GEMM + top-k alone %.3f s\n",
               (long long)a.rows, (long long)a.dim, a.dtype.c_str(), gb, (long long)a.queries, comm.size(), write_s,
               warm_s, resident, read_s, read_gbs, median, best, scan_gbs, scan_gbs / read_gbs, blocks_s, gemm_s);
  std::ostringstream j;
  j << "{\"rows\": " << a.rows << ", \"dim\": " << a.dim << ", \"dtype\": \"" << a.dtype
    << "\", \"queries\": " << a.queries << ", \"ranks\": " << comm.size() << ", \"file_bytes\": " << file_bytes
    << ", \"write_s\": " << write_s << ", \"warm_read_s\": " << warm_s << ", \"resident_before\": " << resident
    << ", \"resident_after\": " << resident_after << ", \"read_s\": " << read_s << ", \"read_gbs\": " << read_gbs
    << ", \"scan_s\": [";
  for (std::size_t i = 0; i < scan_s.size(); ++i) j << (i ? ", " : "") << scan_s[i];
  j << "], \"scan_median_s\": " << median << ", \"scan_gbs\": " << scan_gbs
    << ", \"fraction_of_read\": " << scan_gbs / read_gbs << ", \"row_blocks_s\": " << blocks_s
    << ", \"gemm_topk_s\": " << gemm_s << "}";
  std::cout << j.str() << std::endl;
  return 0;
}

// Flat gradient of `loss` with respect to the layout's parameters, [P] f64.
torch::Tensor flat_grad(const torch::Tensor& loss, const grads::ParamLayout& layout) {
  std::vector<torch::Tensor> params;
  for (const auto& p : layout.params()) params.push_back(p.tensor);
  const auto g = torch::autograd::grad({loss}, params);
  std::vector<torch::Tensor> flat;
  for (const auto& t : g) flat.push_back(t.reshape({-1}).to(torch::kDouble));
  return torch::cat(flat);
}

int run_pairs(const Args& a, comm::Communicator& comm) {
  attrib::InfluenceOptions o;
  o.model_dir = a.model;
  o.cache = a.cache;
  o.queries = a.query_file;
  o.out = "/dev/null";
  o.solver.solver = a.solver;
  o.solver.depth = a.depth;
  o.solver.ekfac_path = a.ekfac_file;
  attrib::detail::check_influence_options(o);
  model::configure_threads(0);
  attrib::detail::InfluenceInputs in = attrib::detail::load_influence_inputs(o, "influence_bench", comm);
  model::Model& model = *in.bundle.model;
  model.to(model.device(), torch::kDouble);
  model.train(false);
  std::string params;
  for (const auto& p : in.cache.params) params += (params.empty() ? "" : ",") + p;
  in.layout = grads::ParamLayout::select(model, params);
  attrib::TrainingHessian hessian(model, in.layout, attrib::detail::training_rows(in), comm, o.hessian_batch);
  attrib::SolverOptions so = o.solver;
  // influence()'s fingerprint, so the factors `fathom influence` saved are reused.
  so.fingerprint = in.cache.model_sha256 + "|" + params + "|" + in.corpus + "|" + std::to_string(in.cache.rows) +
                   "|float64";
  const auto t_setup = Clock::now();
  std::unique_ptr<attrib::InverseHvp> solver = attrib::make_inverse_hvp(so, hessian);
  const double setup_s = seconds_since(t_setup);

  const auto& info = in.bundle.info;
  auto batch_of = [&](const data::Example& e) {
    return model::make_batch({e}, *in.bundle.tokenizer, info.max_length, info.labels).to(model.device());
  };
  const std::int64_t nq = std::min<std::int64_t>(a.pair_queries, std::int64_t(in.queries.size()));
  const std::int64_t nr = std::min<std::int64_t>(a.pair_rows, std::int64_t(in.training.size()));
  double stest_s = 0, rows_s = 0, checksum = 0;
  for (std::int64_t q = 0; q < nq; ++q) {
    auto t = Clock::now();
    model::Batch qb = batch_of(in.queries[std::size_t(q)]);
    const torch::Tensor logits = model.forward(qb).logits;
    const torch::Tensor predicted = logits.argmax(1).detach();
    const torch::Tensor gq = flat_grad(torch::nn::functional::cross_entropy(logits, predicted), in.layout);
    const torch::Tensor s_test = solver->apply(gq.unsqueeze(0)).squeeze(0);
    stest_s += seconds_since(t);
    t = Clock::now();
    for (std::int64_t r = 0; r < nr; ++r) {
      model::Batch tb = batch_of(in.training[std::size_t(r)]);
      const torch::Tensor loss = torch::nn::functional::cross_entropy(model.forward(tb).logits, tb.labels);
      checksum += flat_grad(loss, in.layout).dot(s_test).item<double>() / double(in.cache.rows);
    }
    rows_s += seconds_since(t);
  }
  if (!comm.is_root()) return 0;
  const double per_stest = stest_s / double(nq), per_row = rows_s / double(nq * nr);
  std::fprintf(stderr,
               "pairs (%s, P %lld, N %lld): setup %.2f s, s_test %.4f s/query, %.3f ms per (query, training row) "
               "over %lld x %lld pairs\n",
               a.solver.c_str(), (long long)in.layout.dim(), (long long)in.cache.rows, setup_s, per_stest,
               per_row * 1e3, (long long)nq, (long long)nr);
  std::cout << "{\"solver\": \"" << a.solver << "\", \"params\": " << in.layout.dim() << ", \"rows\": " << in.cache.rows
            << ", \"setup_s\": " << setup_s << ", \"stest_s_per_query\": " << per_stest
            << ", \"pair_s\": " << per_row << ", \"pair_queries\": " << nq << ", \"pair_rows\": " << nr
            << ", \"checksum\": " << checksum << "}" << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  auto comm = comm::make_communicator("auto");
  log::init(comm->rank(), comm->size(), "warn");
  try {
    const Args a = parse(argc, argv);
    return a.mode == "scan" ? run_scan(a, *comm) : run_pairs(a, *comm);
  } catch (const std::exception& e) {
    std::cerr << "influence_bench: " << e.what() << "\n";
    return 2;
  }
}
