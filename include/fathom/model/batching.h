#pragma once
// Examples -> padded tensors. Pads to the longest sequence in the batch
// (not to max_length) so short corpora run fast.
#include <vector>

#include "fathom/data/example.h"
#include "fathom/data/tokenizer.h"
#include "fathom/model/model.h"

namespace fathom::model {

// labels: the bundle's label list; an example label not in it throws
// InputError (file unknown here, so the example id and line are named).
// Examples without labels give an undefined Batch::labels only if none has
// one; otherwise unlabelled rows hold data::kNoLabel (losses ignore them).
// rows: corpus index of each example; empty = 0..n-1. Ids are CPU tensors;
// pairs are encoded as [CLS] a [SEP] b [SEP] with type ids 0/1.
Batch make_batch(const std::vector<data::Example>& examples, const data::Tokenizer& tokenizer,
                 std::int64_t max_length, const std::vector<std::string>& labels,
                 const std::vector<std::int64_t>& rows = {});

}  // namespace fathom::model
