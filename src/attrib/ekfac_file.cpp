// EK-FAC factors files: one LibTorch archive with a JSON "meta" entry (format,
// fingerprint, block layout) and the float64 tensors (contract in ekfac.h).
#include <nlohmann/json.hpp>

#include <filesystem>

#include "ekfac_internal.h"
#include "fathom/attrib/ekfac.h"
#include "fathom/core/atomic_file.h"
#include "fathom/core/error.h"

namespace fathom::attrib {
namespace {

const char* const kTensorNames[] = {"a_cov", "s_cov", "q_a", "eig_a", "q_s", "eig_s", "lambda"};

std::vector<torch::Tensor*> block_tensors(EkfacBlock& b) {
  return {&b.a_cov, &b.s_cov, &b.q_a, &b.eig_a, &b.q_s, &b.eig_s, &b.lambda};
}

std::string key(std::size_t block, const char* what) { return "block" + std::to_string(block) + "." + what; }

// The archive and its parsed meta; InputError naming the file otherwise.
nlohmann::json open_archive(const std::string& path, torch::serialize::InputArchive& archive) {
  if (!std::filesystem::exists(path)) throw InputError(path, "no such EK-FAC factors file");
  try {
    archive.load_from(path);
    c10::IValue meta;
    archive.read("meta", meta);
    nlohmann::json j = nlohmann::json::parse(meta.toStringRef());
    if (j.value("format", "") != ekfac_detail::kFormat)
      throw InputError(path, 0, "format", "expected " + std::string(ekfac_detail::kFormat) + ", found '" +
                                              j.value("format", "") + "'");
    return j;
  } catch (const fathom::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw InputError(path, std::string("not a readable EK-FAC factors file: ") + e.what());
  }
}

std::string shorten(const std::string& s) { return s.size() <= 160 ? s : s.substr(0, 157) + "..."; }

}  // namespace

void save_ekfac_factors(const std::string& path, const EkfacFactors& factors) {
  nlohmann::json meta;
  meta["format"] = ekfac_detail::kFormat;
  meta["fingerprint"] = factors.fingerprint;
  meta["rows"] = factors.rows;
  meta["samples"] = factors.samples;
  meta["diagonal"] = factors.diagonal;
  meta["blocks"] = nlohmann::json::array();
  torch::serialize::OutputArchive archive;
  for (std::size_t k = 0; k < factors.blocks.size(); ++k) {
    EkfacBlock b = factors.blocks[k];
    meta["blocks"].push_back({{"name", b.name}, {"weight", b.weight}, {"bias", b.bias}, {"out", b.out}, {"in", b.in}});
    auto tensors = block_tensors(b);
    for (std::size_t i = 0; i < tensors.size(); ++i) archive.write(key(k, kTensorNames[i]), tensors[i]->contiguous());
  }
  archive.write("diagonal_values", factors.diagonal_values.contiguous());
  archive.write("meta", c10::IValue(meta.dump()));
  AtomicFile out(path);
  archive.save_to(out.stream());
  out.commit();
}

EkfacFactors load_ekfac_factors(const std::string& path) {
  torch::serialize::InputArchive archive;
  nlohmann::json meta = open_archive(path, archive);
  EkfacFactors f;
  try {
    f.fingerprint = meta.at("fingerprint").get<std::map<std::string, std::string>>();
    f.rows = meta.at("rows").get<std::int64_t>();
    f.samples = meta.at("samples").get<std::int64_t>();
    f.diagonal = meta.at("diagonal").get<std::vector<int>>();
    for (const auto& jb : meta.at("blocks")) {
      EkfacBlock b;
      b.name = jb.at("name").get<std::string>();
      b.weight = jb.at("weight").get<int>();
      b.bias = jb.at("bias").get<int>();
      b.out = jb.at("out").get<std::int64_t>();
      b.in = jb.at("in").get<std::int64_t>();
      auto tensors = block_tensors(b);
      for (std::size_t i = 0; i < tensors.size(); ++i) archive.read(key(f.blocks.size(), kTensorNames[i]), *tensors[i]);
      f.blocks.push_back(std::move(b));
    }
    archive.read("diagonal_values", f.diagonal_values);
  } catch (const std::exception& e) {
    throw InputError(path, std::string("incomplete EK-FAC factors file: ") + e.what());
  }
  return f;
}

std::map<std::string, std::string> read_ekfac_fingerprint(const std::string& path) {
  torch::serialize::InputArchive archive;
  try {
    return open_archive(path, archive).at("fingerprint").get<std::map<std::string, std::string>>();
  } catch (const nlohmann::json::exception& e) {
    throw InputError(path, 0, "fingerprint", e.what());
  }
}

std::string fingerprint_difference(const std::map<std::string, std::string>& file,
                                   const std::map<std::string, std::string>& run) {
  for (const auto& [field, value] : run) {
    auto it = file.find(field);
    const std::string theirs = it == file.end() ? "(none)" : it->second;
    if (theirs != value) return field + ": the file has '" + shorten(theirs) + "', this run has '" + shorten(value) + "'";
  }
  for (const auto& [field, value] : file)
    if (!run.count(field)) return field + ": the file has '" + shorten(value) + "', this run has none";
  return "";
}

}  // namespace fathom::attrib
