// The score matrix file: round trip, and the reader's checks of kind,
// version and shape (InputError naming the file).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "fathom/attrib/score_matrix.h"
#include "fathom/core/error.h"
#include "fathom/store/matrix_file.h"

namespace {

namespace fs = std::filesystem;
using fathom::attrib::ScoreMatrix;

fs::path scratch(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("fathom-score-matrix-" + std::to_string(::getpid()));
  fs::create_directories(d);
  return d / name;
}

ScoreMatrix sample() {
  ScoreMatrix m;
  m.method = "influence:cg";
  m.sign = "score = predicted loss increase when removed";
  m.query_ids = {"q0", "q1"};
  m.train_ids = {"a", "b", "c"};
  m.scores = {0.5f, -1.25f, 3.0f, 1e-7f, 0.0f, -2.5e6f};
  return m;
}

fathom::store::MatrixFile valid_file() {
  fathom::store::MatrixFile f;
  f.attributes.set("kind", "fathom-scores");
  f.attributes.set("format_version", 1);
  f.matrices["scores"] = {2, 3, std::vector<float>(6, 1.0f)};
  f.strings["query_ids"] = {"q0", "q1"};
  f.strings["train_ids"] = {"a", "b", "c"};
  return f;
}

void expect_input_error(const std::string& path, const std::string& needle) {
  try {
    fathom::attrib::read_score_matrix(path);
    ADD_FAILURE() << "no error for " << path;
  } catch (const fathom::InputError& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(ScoreMatrix, RoundTrip) {
  const std::string path = scratch("round.h5").string();
  const ScoreMatrix m = sample();
  fathom::attrib::write_score_matrix(path, m);
  const ScoreMatrix r = fathom::attrib::read_score_matrix(path);
  EXPECT_EQ(r.method, m.method);
  EXPECT_EQ(r.sign, m.sign);
  EXPECT_EQ(r.query_ids, m.query_ids);
  EXPECT_EQ(r.train_ids, m.train_ids);
  EXPECT_EQ(r.scores, m.scores);  // float32 exactly
  EXPECT_EQ(r.at(1, 2), -2.5e6f);
  EXPECT_FALSE(fs::exists(path + ".tmp." + std::to_string(::getpid())));
  // Root attributes as the contract lists them.
  const auto f = fathom::store::read_matrix_file(path);
  EXPECT_EQ(f.attributes.get_string("kind"), "fathom-scores");
  EXPECT_EQ(f.attributes.get_int("format_version"), 1);
  EXPECT_FALSE(f.attributes.get_string("created_at").empty());
}

TEST(ScoreMatrix, ShapeMismatchOnWriteIsUsageError) {
  ScoreMatrix m = sample();
  m.scores.pop_back();
  EXPECT_THROW(fathom::attrib::write_score_matrix(scratch("bad.h5").string(), m), fathom::UsageError);
  EXPECT_FALSE(fs::exists(scratch("bad.h5")));
}

TEST(ScoreMatrix, WrongKindVersionOrShapeIsInputError) {
  auto f = valid_file();
  const std::string ok = scratch("ok.h5").string();
  fathom::store::write_matrix_file(ok, f);
  EXPECT_NO_THROW(fathom::attrib::read_score_matrix(ok));

  f.attributes.set("kind", "fathom-cache");
  const std::string kind = scratch("kind.h5").string();
  fathom::store::write_matrix_file(kind, f);
  expect_input_error(kind, "kind");

  f = valid_file();
  f.attributes.set("format_version", 2);
  const std::string version = scratch("version.h5").string();
  fathom::store::write_matrix_file(version, f);
  expect_input_error(version, "format_version");

  f = valid_file();
  f.attributes.erase("kind");
  const std::string none = scratch("none.h5").string();
  fathom::store::write_matrix_file(none, f);
  expect_input_error(none, "kind");

  f = valid_file();
  f.strings["train_ids"].push_back("d");
  const std::string shape = scratch("shape.h5").string();
  fathom::store::write_matrix_file(shape, f);
  expect_input_error(shape, "shape");

  f = valid_file();
  f.strings.erase("query_ids");
  const std::string missing = scratch("missing.h5").string();
  fathom::store::write_matrix_file(missing, f);
  expect_input_error(missing, "query_ids");

  f = valid_file();
  f.matrices["scores"].values[4] = std::nanf("");
  const std::string nan = scratch("nan.h5").string();
  fathom::store::write_matrix_file(nan, f);
  expect_input_error(nan, "non-finite");

  expect_input_error(scratch("absent.h5").string(), "no such file");
  const std::string text = scratch("text.h5").string();
  { std::ofstream(text) << "not hdf5\n"; }
  expect_input_error(text, "HDF5");
}

TEST(MatrixFile, RejectsBadNames) {
  fathom::store::MatrixFile f;
  f.matrices["a/b"] = {1, 1, {1.0f}};
  EXPECT_THROW(fathom::store::write_matrix_file(scratch("names.h5").string(), f), fathom::UsageError);
  fathom::store::MatrixFile g;
  g.matrices["x"] = {1, 1, {1.0f}};
  g.strings["x"] = {"a"};
  EXPECT_THROW(fathom::store::write_matrix_file(scratch("twice.h5").string(), g), fathom::UsageError);
}

}  // namespace
