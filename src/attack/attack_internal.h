#pragma once
// Private to the attack module: work split over ranks in fixed units, padded
// batches from id rows, label lookups and output helpers that triggers,
// HotFlip and input reduction share.
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "fathom/attack/hotflip.h"
#include "fathom/data/corpus.h"
#include "fathom/data/example.h"
#include "fathom/model/bundle.h"

namespace fathom::comm {
class Communicator;
}

namespace fathom::attack::detail {

// COLLECTIVE. Unit u in [0, units) is computed by fn(u, out) on the rank that
// owns it (data::shard_range over the units) and writes `width` doubles; every
// rank returns all units' values in unit order. Since a unit is computed the
// same way wherever it runs, the result does not depend on the rank count.
// An exception in fn on any rank is raised on every rank.
std::vector<double> map_units(std::int64_t units, std::int64_t width,
                              const std::function<void(std::int64_t unit, double* out)>& fn,
                              comm::Communicator& comm);

// COLLECTIVE. Like map_units for text: fn(u) on the owning rank; rank 0
// returns the strings of all units in unit order, the other ranks nothing.
std::vector<std::string> gather_units_on_root(std::int64_t units, const std::function<std::string(std::int64_t)>& fn,
                                              comm::Communicator& comm);

// Rows of ids (and segment ids) padded into a batch: mask 1 on real tokens,
// pad_id and type 0 on padding. Labels undefined.
model::Batch pad_rows(const std::vector<std::vector<std::int64_t>>& ids,
                      const std::vector<std::vector<std::int64_t>>& type_ids, std::int64_t pad_id);

// The bundle's index of `label`; UsageError "<what>: unknown label '<label>'
// (the model's labels: ...)" otherwise.
std::int64_t label_index(const model::Bundle& bundle, const std::string& label, const std::string& what);

// `p` at 6 significant digits (as `fathom predict` prints probs).
double round6(double p);
// {label: p} in bundle label order, 6 significant digits.
nlohmann::ordered_json probs_json(const model::Bundle& bundle, const std::vector<double>& probs);

// COLLECTIVE. Every good record of `path` on every rank.
std::vector<data::Example> read_all(const std::string& path, const data::CorpusOptions& options,
                                    comm::Communicator& comm);

// COLLECTIVE. load_bundle on every rank (CPU, eval mode), errors agreed.
model::Bundle load_model(const std::string& dir, comm::Communicator& comm);

// Creates the parent directory of `path` (rank 0's job before writing).
void make_parent_dir(const std::string& path);

// An example encoded as `fathom predict` encodes it (bundle max_length).
data::Encoding encode(const model::Bundle& bundle, const data::Example& example);
// Softmax of logits[row] in double.
std::vector<double> row_probs(const torch::Tensor& logits, std::int64_t row);
// The example's label index when it has one the model knows.
std::optional<std::int64_t> known_gold(const model::Bundle& bundle, const data::Example& example);
// The text of segment `segment` (0 = text, 1 = text_pair) of `example`.
const std::string& segment_text(const data::Example& example, std::int64_t segment);

// What hotflip_file and reduce_file count over their output lines.
struct InstanceTally {
  std::int64_t n = 0, successes = 0, correct = 0, correct_successes = 0;
  double steps = 0;  // flips / removals summed over successes
  double original_length = 0, reduced_length = 0;  // reduce: token counts summed
};

// The attack of one batch of examples: one JSON line (no newline) per example.
// Called with no examples before anything is read: it must then validate its
// configuration (and throw) without attacking.
using BatchAttack = std::function<std::vector<std::string>(model::Bundle&, const std::vector<data::Example>&)>;

// COLLECTIVE. The common shell of hotflip_file / reduce_file (hotflip.h):
// validation, blocks of batches over ranks, ordered atomic output, progress,
// the tally (`tally` reads each line on rank 0) and "<out>.meta.json" (fields
// from `meta` after the common ones), then the result on every rank.
InstanceFileResult run_instance_file(
    const InstanceFileOptions& options, const std::string& name, comm::Communicator& comm, const BatchAttack& attack,
    const std::function<void(const nlohmann::json& line, InstanceTally& tally)>& tally,
    const std::function<void(nlohmann::ordered_json& meta, const InstanceTally& tally)>& meta);

}  // namespace fathom::attack::detail
