// The file contract from the other side: h5py (Debian's python3-h5py)
// reads every dataset and attribute of a cache with the expected numpy
// dtypes and values, float16 included. Skipped when h5py is missing.
#include <gtest/gtest.h>

#include "fathom/comm/communicator.h"
#include "fathom/store/cache_writer.h"
#include "python_util.h"
#include "store_fixtures.h"

namespace fathom::store {
namespace {

// Recomputes the fixture values in numpy and compares.
constexpr const char* kCheck = R"PY(
import sys, math
import h5py, numpy as np
path, rows, nf, ng = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
with h5py.File(path, 'r') as f:
    assert sorted(f.keys()) == ['complete', 'features', 'gradients', 'ids', 'labels', 'losses', 'predictions'], list(f.keys())
    r = np.arange(rows)
    ids = f['ids'][:]
    assert ids.dtype.kind == 'S' and ids.dtype.itemsize == 16, ids.dtype
    assert [s.decode() for s in ids] == ['ex-%d' % i for i in r]
    assert f['labels'].dtype == np.int64 and (f['labels'][:] == r % 3).all()
    pred = (r * 7 + 1) % 3 - np.where(r % 11 == 0, 5, 0)
    assert f['predictions'].dtype == np.int64 and (f['predictions'][:] == pred).all()
    assert f['losses'].dtype == np.float32 and (f['losses'][:] == (r * 0.25 - 3).astype(np.float32)).all()
    feat = f['features']
    assert feat.dtype == np.float32 and feat.shape == (rows, nf) and feat.chunks == (10, nf), (feat.shape, feat.chunks)
    want = (r[:, None] * 0.5 + np.arange(nf)[None, :] * 0.125 - 1).astype(np.float32)
    assert (feat[:] == want).all()
    g = f['gradients']
    assert g.dtype == np.float16, g.dtype
    idx = r[:, None] * ng + np.arange(ng)[None, :]
    gw = (np.sin(idx.astype(np.float64)).astype(np.float32) * (1 + r % 5)[:, None].astype(np.float32))
    gw[(r % 97 == 5), 0] = 1e6
    with np.errstate(over='ignore'):
        gw16 = gw.astype(np.float16)
    got = g[:]
    assert (got.view(np.uint16) == gw16.view(np.uint16)).all(), np.argwhere(got.view(np.uint16) != gw16.view(np.uint16))[:5]
    assert f['complete'].dtype == np.uint8 and (f['complete'][:] == 1).all()
    a = f.attrs
    assert a['format'] == 'fathom.cache' and a['format_version'] == 1 and a['complete'] == 1
    assert a['rows_per_chunk'] == 10
    assert a['model_sha256'] == '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08'
    assert list(a['parameter_names']) == ['encoder.weight', 'classifier.bias'], a['parameter_names']
    assert list(a['parameter_shapes']) == [4, 3, 0, 3] and a['parameter_shapes'].dtype == np.int64
    assert a['projection_kind'] == 'rademacher' and a['projection_dim'] == ng
    assert a['projection_seed'] == 1234567890123
    assert a['learning_rate'] == 2.5e-5 and list(a['layer_scales']) == [0.5, 1.0 / 3.0]
    assert a['corpus_size'] == 550152 and a['corpus_path'] == '/data/snli/train.jsonl'
    assert isinstance(a['created_at'], str) and a['created_at'].endswith('Z')
print('ok')
)PY";

TEST(StoreH5py, ReadsEverything) {
  if (!testing::python_has("h5py, numpy")) GTEST_SKIP() << "/usr/bin/python3 with h5py not available";
  testing::TempDir dir("h5py");
  const std::string path = dir.file("cache.h5");
  const std::int64_t rows = 203;
  {
    auto comm = comm::make_communicator("local");
    CacheWriter w = CacheWriter::create(path, testing::example_schema(rows, 10), *comm);
    testing::write_example_rows(w, 0, rows);
    w.finalize();
  }
  const auto r = testing::run_python(dir.file("check.py"), kCheck,
                                     path + " " + std::to_string(rows) + " " + std::to_string(testing::kFeatures) +
                                         " " + std::to_string(testing::kGradients));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("ok"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace fathom::store
