// Per-epoch checkpoints (format in checkpoint.h).
#include "fathom/model/checkpoint.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <system_error>

#include "fathom/core/atomic_file.h"
#include "fathom/core/error.h"
#include "train_internal.h"

namespace fathom::model {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* kPrefix = "epoch-";

fs::path checkpoints_dir(const std::string& out_dir) { return fs::path(out_dir) / "checkpoints"; }

// "epoch-12" -> 12; anything else (temporaries, stray files) -> -1.
std::int64_t epoch_of(const std::string& name) {
  const std::string prefix = kPrefix;
  if (name.rfind(prefix, 0) != 0 || name.size() == prefix.size() || name.size() > prefix.size() + 12)
    return -1;
  std::int64_t k = 0;
  for (std::size_t i = prefix.size(); i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9') return -1;
    k = k * 10 + (name[i] - '0');
  }
  return k;
}

const json& field(const json& j, const char* key, const std::string& file) {
  if (!j.contains(key)) throw InputError(file, 0, key, "missing");
  return j[key];
}

}  // namespace

CheckpointState read_checkpoint_state(const std::string& checkpoint_dir) {
  const std::string file = (fs::path(checkpoint_dir) / "state.json").string();
  json j = json::parse(read_file(file), nullptr, false);
  if (j.is_discarded() || !j.is_object()) throw InputError(file, "not a JSON object");
  if (field(j, "format", file) != "fathom-checkpoint")
    throw InputError(file, 0, "format", "expected \"fathom-checkpoint\"");
  if (field(j, "format_version", file) != kCheckpointFormatVersion)
    throw InputError(file, 0, "format_version",
                     "unsupported version " + j["format_version"].dump() + " (this build reads " +
                         std::to_string(kCheckpointFormatVersion) + ")");
  CheckpointState s;
  try {
    s.epoch = field(j, "epoch", file).get<std::int64_t>();
    s.lr = field(j, "lr", file).get<double>();
    s.seed = field(field(j, "rng", file), "seed", file).get<std::uint64_t>();
    s.config_json = field(j, "config", file).dump();
    for (const json& m : field(j, "metrics", file)) s.metrics.push_back(epoch_metrics_from_json(m.dump(), file));
  } catch (const json::exception& e) {
    throw InputError(file, std::string("malformed checkpoint state: ") + e.what());
  }
  return s;
}

std::vector<CheckpointInfo> list_checkpoints(const std::string& out_dir) {
  std::vector<CheckpointInfo> out;
  std::error_code ec;
  const fs::path dir = checkpoints_dir(out_dir);
  if (!fs::is_directory(dir, ec)) return out;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::int64_t k = epoch_of(entry.path().filename().string());
    // A directory without state.json cannot come from save_checkpoint (which
    // renames whole directories), but a user may have emptied one: skip it.
    if (k < 0 || !fs::exists(entry.path() / "state.json", ec)) continue;
    CheckpointState s = read_checkpoint_state(entry.path().string());
    if (s.epoch != k)
      throw InputError((entry.path() / "state.json").string(), 0, "epoch",
                       "says " + std::to_string(s.epoch) + " but the directory is " +
                           entry.path().filename().string());
    CheckpointInfo info;
    info.path = entry.path().string();
    info.weights = (entry.path() / "weights.pt").string();
    info.epoch = k;
    info.lr = s.lr;
    info.config_hash = config_hash(s.config_json);
    out.push_back(std::move(info));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.epoch < b.epoch; });
  return out;
}

CheckpointInfo save_checkpoint(const std::string& out_dir, const CheckpointState& state, Model& model,
                               torch::optim::Optimizer& optimizer) {
  const fs::path dir = checkpoints_dir(out_dir);
  fs::create_directories(dir);
  const std::string name = kPrefix + std::to_string(state.epoch);
  const fs::path tmp = dir / ("." + name + ".tmp." + std::to_string(::getpid()));
  fs::remove_all(tmp);
  fs::create_directories(tmp);

  model.save_weights((tmp / "weights.pt").string());
  torch::save(optimizer, (tmp / "optimizer.pt").string());
  json metrics = json::array();
  for (const auto& m : state.metrics) metrics.push_back(json::parse(epoch_metrics_json(m)));
  json j{{"format", "fathom-checkpoint"},
         {"format_version", kCheckpointFormatVersion},
         {"epoch", state.epoch},
         {"lr", state.lr},
         {"config_hash", config_hash(state.config_json)},
         {"config", json::parse(state.config_json)},
         {"rng", {{"kind", "splitmix64"}, {"seed", state.seed}, {"next_epoch", state.epoch + 1}}},
         {"metrics", metrics}};
  write_file_atomic((tmp / "state.json").string(), j.dump(2) + "\n");

  // rename() cannot replace a non-empty directory: move the old one aside
  // first. A crash in between leaves no epoch-K, which resume treats as "not
  // done yet" (it redoes that epoch from K-1), never a half-written one.
  const fs::path final_dir = dir / name;
  std::error_code ec;
  if (fs::exists(final_dir, ec)) {
    const fs::path old = dir / ("." + name + ".old." + std::to_string(::getpid()));
    fs::remove_all(old);
    fs::rename(final_dir, old);
    fs::rename(tmp, final_dir);
    fs::remove_all(old);
  } else {
    fs::rename(tmp, final_dir);
  }

  CheckpointInfo info;
  info.path = final_dir.string();
  info.weights = (final_dir / "weights.pt").string();
  info.epoch = state.epoch;
  info.lr = state.lr;
  info.config_hash = config_hash(state.config_json);
  return info;
}

void load_checkpoint(const CheckpointInfo& checkpoint, Model& model, torch::optim::Optimizer* optimizer) {
  with_context("loading checkpoint " + checkpoint.path, [&] {
    model.load_weights(checkpoint.weights);
    if (optimizer) torch::load(*optimizer, (fs::path(checkpoint.path) / "optimizer.pt").string());
  });
}

void remove_checkpoints(const std::string& out_dir) { fs::remove_all(checkpoints_dir(out_dir)); }

void remove_stale_temporaries(const std::string& out_dir) {
  std::error_code ec;
  const fs::path dir = checkpoints_dir(out_dir);
  if (!fs::is_directory(dir, ec)) return;
  std::vector<fs::path> stale;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string n = entry.path().filename().string();
    if (n.rfind(std::string(".") + kPrefix, 0) == 0) stale.push_back(entry.path());
  }
  for (const auto& p : stale) fs::remove_all(p, ec);
}

}  // namespace fathom::model
