// `fathom cache` and `fathom inspect` through the real binary: one small
// synthetic corpus and two tiny boe models, built once for the suite; caches
// built, inspected, refused (bad input leaves an existing file untouched),
// resumed when complete, rebuilt with --overwrite, and read back from h5py
// with the classifier gradients recomputed independently in numpy.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/fathom_process.h"
#include "fathom/store/cache_reader.h"
#include "store/python_util.h"

namespace fs = std::filesystem;

namespace {

using fathom::cli::testing::Result;
Result run(const std::string& args, bool stdout_only = false) {
  return fathom::cli::testing::run_fathom(args, stdout_only);
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// Every dataset of a cache, as raw bytes (strings joined with '\n'; f16 as
// its binary16 bits), read through the library's reader.
std::map<std::string, std::string> dataset_bytes(const fs::path& path) {
  using fathom::store::ElementType;
  auto reader = fathom::store::CacheReader::open(path.string());
  std::map<std::string, std::string> out;
  const std::int64_t n = reader.rows();
  for (const auto& d : reader.schema().datasets) {
    const std::size_t values = std::size_t(n * d.values_per_row());
    std::string& bytes = out[d.name];
    if (d.type == ElementType::str) {
      for (const auto& s : reader.read_strings(d.name, 0, n)) bytes += s + "\n";
    } else if (d.type == ElementType::i64) {
      std::vector<std::int64_t> v(values);
      reader.read_rows(d.name, 0, n, v.data());
      bytes.assign(reinterpret_cast<const char*>(v.data()), v.size() * sizeof v[0]);
    } else if (d.type == ElementType::f16) {
      std::vector<std::uint16_t> v(values);
      reader.read_half_bits(d.name, 0, n, v.data());
      bytes.assign(reinterpret_cast<const char*>(v.data()), v.size() * sizeof v[0]);
    } else {
      std::vector<float> v(values);
      reader.read_rows(d.name, 0, n, v.data());
      bytes.assign(reinterpret_cast<const char*>(v.data()), v.size() * sizeof v[0]);
    }
  }
  return out;
}

constexpr const char* kDatasets[] = {"ids",    "labels", "targets",  "predictions",
                                     "losses", "logits", "features", "gradients"};

class CacheCli : public ::testing::Test {
 protected:
  static inline fs::path dir_;
  static inline std::string setup_error_;
  static inline fs::path corpus_, unlabelled_, model_a_, model_b_, good_;
  static inline std::string good_args_;  // the command that built good_ (without --out)

  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("fathom-cache-test-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    auto step = [](const std::string& args) {
      if (!setup_error_.empty()) return;
      Result r = run(args);
      if (r.code != 0) setup_error_ = "setup: fathom " + args + " -> exit " + std::to_string(r.code) + "\n" + r.output;
    };
    step("synth --task sentiment --n 600 --seed 3 --out " + (dir_ / "data").string());
    corpus_ = dir_ / "data" / "train.jsonl";
    step("train --corpus " + corpus_.string() + " --arch boe --epochs 1 --seed 1 --out " + (dir_ / "model_a").string());
    model_a_ = dir_ / "model_a";
    model_b_ = dir_ / "model_b";
    if (setup_error_.empty()) {
      // The same corpus without labels (--target gold must refuse it).
      unlabelled_ = dir_ / "unlabelled.jsonl";
      std::ifstream in(corpus_);
      std::ofstream out(unlabelled_);
      std::string line;
      while (std::getline(in, line)) {
        auto j = nlohmann::json::parse(line);
        j.erase("label");
        out << j.dump() << "\n";
      }
    }
    good_args_ = "cache --model " + model_a_.string() + " --corpus " + corpus_.string() + " --batch 16";
    good_ = dir_ / "good.h5";
    step(good_args_ + " --out " + good_.string());
  }

  static void TearDownTestSuite() {
    if (!dir_.empty() && !std::getenv("FATHOM_KEEP_TEST_DIR")) fs::remove_all(dir_);
  }

  void SetUp() override {
    if (!setup_error_.empty()) FAIL() << setup_error_;
  }

  // A second model (another seed), trained on first use: under ctest each
  // test runs in its own process, so only the tests that need it pay for it.
  static const fs::path& model_b() {
    if (!fs::exists(model_b_ / "weights.pt")) {
      Result r = run("train --corpus " + corpus_.string() + " --arch boe --epochs 1 --seed 7 --out " +
                     model_b_.string());
      EXPECT_EQ(r.code, 0) << r.output;
    }
    return model_b_;
  }

  // A private copy of the good cache.
  static fs::path copy_of_good(const std::string& name) {
    fs::path p = dir_ / name;
    fs::remove(p);
    fs::copy_file(good_, p);
    return p;
  }
};

TEST_F(CacheCli, BuildsAndInspects) {
  Result text = run("inspect " + good_.string());
  ASSERT_EQ(text.code, 0) << text.output;
  for (const char* d : kDatasets) EXPECT_TRUE(contains(text.output, std::string("/") + d)) << d << "\n" << text.output;
  EXPECT_TRUE(contains(text.output, "complete: yes")) << text.output;
  EXPECT_TRUE(contains(text.output, "model_sha256")) << text.output;

  Result json = run("inspect --json " + good_.string(), /*stdout_only=*/true);
  ASSERT_EQ(json.code, 0) << json.output;
  nlohmann::json j;
  ASSERT_NO_THROW(j = nlohmann::json::parse(json.output)) << json.output;
  EXPECT_EQ(j["complete"], true) << json.output;
  EXPECT_EQ(j["chunks_done"], j["chunks_total"]) << json.output;
  EXPECT_EQ(j["attributes"]["kind"], "gradients");
  EXPECT_EQ(j["attributes"]["corpus_records"], 600);
  EXPECT_EQ(j["attributes"]["params"], nlohmann::json({"classifier.weight", "classifier.bias"}));
  EXPECT_EQ(j["attributes"]["target"], "gold");
  EXPECT_EQ(j["attributes"]["dtype"], "f32");
  EXPECT_EQ(j["attributes"]["projection"], "none");
  std::vector<std::string> names;
  for (auto& d : j["datasets"]) names.push_back(d["name"].get<std::string>());
  for (const char* d : kDatasets) {
    bool found = false;
    for (auto& n : names) found = found || n == d || n == std::string("/") + d;
    EXPECT_TRUE(found) << d << " not in " << j["datasets"].dump();
  }

  Result same = run("inspect --check-model " + model_a_.string() + " " + good_.string());
  EXPECT_EQ(same.code, 0) << same.output;
  EXPECT_TRUE(contains(same.output, "matches")) << same.output;

  Result other = run("inspect --check-model " + model_b().string() + " " + good_.string());
  EXPECT_EQ(other.code, 1) << other.output;  // a mismatch is a failure, not a usage error
  EXPECT_TRUE(contains(other.output, "was not built from the model")) << other.output;
  EXPECT_TRUE(contains(other.output, "model_sha256")) << other.output;

  Result not_a_file = run("inspect " + (dir_ / "no-such.h5").string());
  EXPECT_EQ(not_a_file.code, 2) << not_a_file.output;  // input error
  EXPECT_TRUE(contains(not_a_file.output, "no-such.h5: no such file")) << not_a_file.output;
}

// Each bad input: exit 2, a message naming the problem, an existing good
// file at --out byte-for-byte untouched, and (for the checks that come
// late: projection, labels) no new file created at a fresh --out path.
TEST_F(CacheCli, BadInputsLeaveFilesUntouched) {
  const fs::path victim = copy_of_good("victim.h5");
  const std::string before = slurp(victim);
  const fs::path fresh = dir_ / "fresh" / "never.h5";
  const std::string model = " --model " + model_a_.string();
  const std::string corpus = " --corpus " + corpus_.string();
  struct Case {
    std::string args;
    std::vector<std::string> message;  // every one must appear
    bool also_fresh = false;           // also try a new --out path (must not be created)
  };
  const std::vector<Case> cases = {
      {model + " --corpus " + (dir_ / "missing.jsonl").string(), {"missing.jsonl", "not found"}},
      {model + corpus + " --params 'zzz_nothing.*'", {"zzz_nothing.*", "matches no parameter"}},
      {model + corpus + " --project gaussian:100000:1", {"gaussian:100000:1", "130"}, true},
      {model + " --corpus " + unlabelled_.string() + " --target gold", {"label", "--target"}, true},
      {model + corpus + " --batch 32 --rows-per-chunk -5", {"--rows-per-chunk", "-5"}},
      {model + corpus + " --dtype f64", {"--dtype", "f64"}},
      {" --model " + (dir_ / "no-model").string() + corpus, {"no-model"}},
  };
  for (const auto& c : cases) {
    for (const fs::path& out : {victim, fresh}) {
      if (out == fresh && !c.also_fresh) continue;
      Result r = run("cache" + c.args + " --out " + out.string());
      EXPECT_EQ(r.code, 2) << c.args << "\n" << r.output;
      for (const auto& m : c.message) EXPECT_TRUE(contains(r.output, m)) << "no '" << m << "' in:\n" << r.output;
    }
    EXPECT_TRUE(slurp(victim) == before) << "--out file modified by: cache" << c.args;
    EXPECT_FALSE(fs::exists(fresh)) << "--out file created by: cache" << c.args;
  }
}

// --target predicted is the way to cache a corpus without labels.
TEST_F(CacheCli, PredictedTargetWithoutLabels) {
  const fs::path out = dir_ / "predicted.h5";
  Result r = run("cache --model " + model_a_.string() + " --corpus " + unlabelled_.string() +
                 " --target predicted --batch 16 --out " + out.string());
  ASSERT_EQ(r.code, 0) << r.output;
  auto bytes = dataset_bytes(out);
  EXPECT_EQ(bytes["targets"], bytes["predictions"]);
  std::vector<std::int64_t> labels(bytes["labels"].size() / 8);
  std::memcpy(labels.data(), bytes["labels"].data(), bytes["labels"].size());
  ASSERT_EQ(labels.size(), 600u);
  for (auto l : labels) ASSERT_EQ(l, -1);
  // Same model, records and batches: features equal those of the labelled cache.
  EXPECT_EQ(bytes["features"], dataset_bytes(good_)["features"]);
}

TEST_F(CacheCli, OtherModelIsRefusedAndFileUntouched) {
  const fs::path out = copy_of_good("model_a.h5");
  const std::string before = slurp(out);
  Result r = run("cache --model " + model_b().string() + " --corpus " + corpus_.string() + " --batch 16 --out " +
                 out.string());
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "cannot resume")) << r.output;
  // model_dir differs too, but paths are not compared: the weights are.
  EXPECT_TRUE(contains(r.output, "model_sha256")) << r.output;
  EXPECT_FALSE(contains(r.output, "model_dir:")) << r.output;
  EXPECT_TRUE(slurp(out) == before) << "refused resume modified " << out;

  // Same bundle path, other weights: only model_sha256 differs.
  const fs::path swap = dir_ / "model_swap";
  fs::remove_all(swap);
  fs::copy(model_a_, swap, fs::copy_options::recursive);
  const fs::path swapped = dir_ / "swapped.h5";
  const std::string args = "cache --model " + swap.string() + " --corpus " + corpus_.string() + " --batch 16 --out " +
                           swapped.string();
  Result built = run(args);
  ASSERT_EQ(built.code, 0) << built.output;
  fs::remove_all(swap);
  fs::copy(model_b(), swap, fs::copy_options::recursive);
  const std::string swapped_before = slurp(swapped);
  Result refused = run(args);
  EXPECT_EQ(refused.code, 2) << refused.output;
  EXPECT_TRUE(contains(refused.output, "model_sha256")) << refused.output;
  EXPECT_TRUE(slurp(swapped) == swapped_before) << "refused resume modified " << swapped;
}

TEST_F(CacheCli, RerunOfCompleteFileAndOverwrite) {
  const fs::path out = copy_of_good("rerun.h5");
  const auto before = dataset_bytes(out);
  const auto file_before = slurp(out);
  Result again = run(good_args_ + " --out " + out.string());
  ASSERT_EQ(again.code, 0) << again.output;
  EXPECT_TRUE(contains(again.output, "already complete")) << again.output;
  EXPECT_TRUE(dataset_bytes(out) == before) << "datasets changed by a rerun of a complete cache";
  EXPECT_TRUE(slurp(out) == file_before) << "a rerun of a complete cache must not even open it for writing";

  Result rebuilt = run(good_args_ + " --overwrite --out " + out.string());
  ASSERT_EQ(rebuilt.code, 0) << rebuilt.output;
  EXPECT_FALSE(contains(rebuilt.output, "already complete")) << rebuilt.output;
  EXPECT_FALSE(contains(rebuilt.output, "(resumed)")) << rebuilt.output;
  const auto chunks = fathom::store::CacheReader::open(out.string()).num_chunks();
  EXPECT_TRUE(contains(rebuilt.output, std::to_string(chunks) + " of " + std::to_string(chunks) + " chunks computed"))
      << rebuilt.output;
  EXPECT_TRUE(dataset_bytes(out) == before) << "an --overwrite rebuild is not deterministic";

  // --overwrite also replaces a cache built with other settings.
  Result other = run("cache --model " + model_b().string() + " --corpus " + corpus_.string() +
                     " --batch 16 --overwrite --out " + out.string());
  ASSERT_EQ(other.code, 0) << other.output;
  Result check = run("inspect --check-model " + model_b().string() + " " + out.string());
  EXPECT_EQ(check.code, 0) << check.output;
}

// The file from the other side: h5py names, shapes, dtypes, attributes, and
// the classifier gradient recomputed in numpy from /logits and /features.
constexpr const char* kCheckCache = R"PY(
import sys
import h5py, numpy as np
path, n_rows = sys.argv[1], int(sys.argv[2])
with h5py.File(path, 'r') as f:
    names = sorted(f.keys())
    assert names == sorted(['ids', 'labels', 'targets', 'predictions', 'losses', 'logits', 'features',
                            'gradients', 'complete']), names
    a = f.attrs
    C, H = len(a['labels']), 64
    D = C * H + C
    want = {'ids': ((n_rows,), 'S'), 'labels': ((n_rows,), np.int64), 'targets': ((n_rows,), np.int64),
            'predictions': ((n_rows,), np.int64), 'losses': ((n_rows,), np.float32),
            'logits': ((n_rows, C), np.float32), 'features': ((n_rows, H), np.float32),
            'gradients': ((n_rows, D), np.float32)}
    for k, (shape, dt) in want.items():
        d = f[k]
        assert d.shape == shape, (k, d.shape, shape)
        if dt == 'S':
            assert d.dtype.kind == 'S', (k, d.dtype)
        else:
            assert d.dtype == dt, (k, d.dtype, dt)
    assert list(a['params']) == ['classifier.weight', 'classifier.bias'], a['params']
    assert list(a['param_shapes']) == ['%dx%d' % (C, H), '%d' % C], a['param_shapes']
    assert list(a['param_counts']) == [C * H, C], a['param_counts']
    assert a['projection'] == 'none' and a['projection_kind'] == 'none', (a['projection'], a['projection_kind'])
    assert a['dtype'] == 'f32' and a['target'] == 'gold', (a['dtype'], a['target'])
    assert a['gradient_dim'] == D and a['stored_dim'] == D
    assert a['kind'] == 'gradients' and a['complete'] == 1 and a['format'] == 'fathom.cache'
    assert len(a['model_sha256']) == 64
    assert (f['complete'][:] == 1).all()
    ids = [s.decode() for s in f['ids'][:]]
    assert ids[0] == 'train-000001' and len(set(ids)) == n_rows, ids[:3]

    labels = f['labels'][:]
    logits = f['logits'][:].astype(np.float64)
    feats = f['features'][:].astype(np.float64)
    g = f['gradients'][:].astype(np.float64)
    assert ((labels >= 0) & (labels < C)).all()
    assert (f['targets'][:] == labels).all()
    assert (f['predictions'][:] == logits.argmax(1)).all()
    z = logits - logits.max(1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    y = np.eye(C)[labels]
    r = p - y
    ref = np.concatenate([(r[:, :, None] * feats[:, None, :]).reshape(n_rows, C * H), r], axis=1)
    err = np.abs(g - ref)
    scale = np.abs(ref).max(1, keepdims=True)
    worst = (err / np.maximum(scale, 1e-30)).max()
    assert worst <= 1e-5, ('gradient rows differ from numpy', worst, np.unravel_index((err / scale).argmax(), err.shape))
    assert np.allclose(g, ref, rtol=1e-5, atol=1e-5 * scale.max())
    loss = -np.log(p[np.arange(n_rows), labels])
    assert np.allclose(f['losses'][:], loss, rtol=1e-5, atol=1e-6), np.abs(f['losses'][:] - loss).max()
print('ok rows', n_rows, 'worst relative error', worst)
)PY";

TEST_F(CacheCli, H5pyReadsAndGradientsMatchNumpy) {
  if (!fathom::store::testing::python_has("h5py, numpy")) GTEST_SKIP() << "/usr/bin/python3 with h5py not available";
  auto r = fathom::store::testing::run_python((dir_ / "check_cache.py").string(), kCheckCache, good_.string() + " 600");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "ok rows 600")) << r.output;
}

constexpr const char* kCheckF16 = R"PY(
import sys
import h5py, numpy as np
f32, f16 = h5py.File(sys.argv[1], 'r'), h5py.File(sys.argv[2], 'r')
assert f16.attrs['dtype'] == 'f16' and f32.attrs['dtype'] == 'f32'
for k in ('features', 'gradients'):
    a, b = f32[k][:], f16[k][:]
    assert f16[k].dtype == np.float16, (k, f16[k].dtype)
    assert a.shape == b.shape, (k, a.shape, b.shape)
    # binary16: relative error <= 2^-11 for normal values, absolute <= 2^-25 below.
    err = np.abs(b.astype(np.float32) - a)
    assert (err <= np.abs(a) * 2.0 ** -11 + 2.0 ** -25).all(), (k, err.max())
    # Round to nearest even, like numpy's own conversion.
    assert (b.view(np.uint16) == a.astype(np.float16).view(np.uint16)).all(), k
for k in ('ids', 'labels', 'targets', 'predictions', 'losses', 'logits'):
    assert f16[k].dtype == f32[k].dtype, (k, f16[k].dtype)
    assert (f16[k][:] == f32[k][:]).all(), k
print('ok f16')
)PY";

TEST_F(CacheCli, F16CloseToF32) {
  const fs::path out = dir_ / "f16.h5";
  Result r = run(good_args_ + " --dtype f16 --out " + out.string());
  ASSERT_EQ(r.code, 0) << r.output;
  // Through the library reader: f16 datasets, values within binary16 rounding.
  auto f16 = fathom::store::CacheReader::open(out.string());
  auto f32 = fathom::store::CacheReader::open(good_.string());
  for (const char* name : {"features", "gradients"}) {
    EXPECT_EQ(f16.dataset(name).type, fathom::store::ElementType::f16) << name;
    const auto width = f32.dataset(name).values_per_row();
    std::vector<float> a(std::size_t(600 * width)), b(a.size());
    f32.read_rows(name, 0, 600, a.data());
    f16.read_rows(name, 0, 600, b.data());
    std::size_t bad = 0;
    for (std::size_t i = 0; i < a.size(); ++i)
      if (std::abs(a[i] - b[i]) > std::abs(a[i]) * (1.0 / 2048) + 3e-8) ++bad;
    EXPECT_EQ(bad, 0u) << name;
  }
  if (!fathom::store::testing::python_has("h5py, numpy")) GTEST_SKIP() << "/usr/bin/python3 with h5py not available";
  auto py = fathom::store::testing::run_python((dir_ / "check_f16.py").string(), kCheckF16,
                                               good_.string() + " " + out.string());
  EXPECT_EQ(py.exit_code, 0) << py.output;
  EXPECT_TRUE(contains(py.output, "ok f16")) << py.output;
}

}  // namespace
