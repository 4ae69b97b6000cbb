// The query x train score matrix file (score_matrix.h), through the store's
// whole-array files (attrib does not touch HDF5 itself).
#include "fathom/attrib/score_matrix.h"

#include <cmath>

#include "fathom/core/clock.h"
#include "fathom/core/error.h"
#include "fathom/store/matrix_file.h"

namespace fathom::attrib {
namespace {

constexpr const char* kKind = "fathom-scores";
constexpr std::int64_t kVersion = 1;

const store::AttrValue* require(const store::Attributes& a, const std::string& path, const char* name) {
  const store::AttrValue* v = a.find(name);
  if (!v) throw InputError(path, 0, name, "missing root attribute (not a fathom score matrix?)");
  return v;
}

}  // namespace

void write_score_matrix(const std::string& path, const ScoreMatrix& m) {
  const std::int64_t q = std::int64_t(m.query_ids.size()), n = std::int64_t(m.train_ids.size());
  if (std::int64_t(m.scores.size()) != q * n)
    throw UsageError("score matrix " + path + ": " + std::to_string(m.scores.size()) + " scores for " +
                     std::to_string(q) + " queries x " + std::to_string(n) + " training rows");
  store::MatrixFile f;
  f.attributes.set("kind", kKind);
  f.attributes.set("format_version", kVersion);
  f.attributes.set("method", m.method);
  f.attributes.set("sign", m.sign);
  f.attributes.set("created_at", utc_timestamp());
  f.matrices["scores"] = store::FloatMatrix{q, n, m.scores};
  f.strings["query_ids"] = m.query_ids;
  f.strings["train_ids"] = m.train_ids;
  store::write_matrix_file(path, f);
}

ScoreMatrix read_score_matrix(const std::string& path) {
  store::MatrixFile f = store::read_matrix_file(path);
  const store::Attributes& a = f.attributes;
  const store::AttrValue* kind = require(a, path, "kind");
  if (!std::holds_alternative<std::string>(*kind) || std::get<std::string>(*kind) != kKind)
    throw InputError(path, 0, "kind", "expected \"" + std::string(kKind) + "\", found " + store::attr_to_text(*kind) +
                                          " (not a score matrix written by `fathom influence --scores-out`)");
  const store::AttrValue* version = require(a, path, "format_version");
  if (!std::holds_alternative<std::int64_t>(*version) || std::get<std::int64_t>(*version) != kVersion)
    throw InputError(path, 0, "format_version",
                     "expected " + std::to_string(kVersion) + ", found " + store::attr_to_text(*version) +
                         " (written by another fathom version)");
  ScoreMatrix m;
  if (a.has("method")) m.method = a.get_string("method");
  if (a.has("sign")) m.sign = a.get_string("sign");
  auto strings = [&](const char* name) {
    auto it = f.strings.find(name);
    if (it == f.strings.end()) throw InputError(path, 0, name, "missing dataset /" + std::string(name) + " (strings)");
    return std::move(it->second);
  };
  m.query_ids = strings("query_ids");
  m.train_ids = strings("train_ids");
  auto it = f.matrices.find("scores");
  if (it == f.matrices.end()) throw InputError(path, 0, "scores", "missing dataset /scores (float32 [Q, N])");
  const store::FloatMatrix& s = it->second;
  if (s.rows != std::int64_t(m.query_ids.size()) || s.cols != std::int64_t(m.train_ids.size()))
    throw InputError(path, 0, "scores",
                     "shape [" + std::to_string(s.rows) + ", " + std::to_string(s.cols) + "] does not match " +
                         std::to_string(m.query_ids.size()) + " query_ids x " + std::to_string(m.train_ids.size()) +
                         " train_ids");
  for (std::size_t k = 0; k < s.values.size(); ++k)
    if (!std::isfinite(s.values[k]))
      throw InputError(path, 0, "scores",
                       "non-finite score at query " + std::to_string(std::int64_t(k) / s.cols) + ", train row " +
                           std::to_string(std::int64_t(k) % s.cols));
  m.scores = std::move(it->second.values);
  return m;
}

}  // namespace fathom::attrib
