#pragma once
// One labelled (or unlabelled) text example as read from a corpus file.
#include <cstdint>
#include <optional>
#include <string>

namespace fathom::data {

// The one "no label" marker for label indices everywhere (batches, the
// cache's /labels and /targets, bundle lookups). -1 is never a class index;
// losses pass it as torch's ignore_index, so unlabelled rows add no loss.
inline constexpr std::int64_t kNoLabel = -1;

struct Example {
  // Unique within what one reader returned. An integer id in JSONL becomes its
  // decimal string; with CorpusOptions::id_field == "" it is the 0-based
  // record index (so it is stable under sharding).
  std::string id;
  std::string text;                       // valid UTF-8; non-empty unless allowed
  std::optional<std::string> text_pair;   // second segment, if the record has one
  std::optional<std::string> label;       // integer labels become decimal strings
  std::int64_t line = 0;                  // 1-based source line where the record starts
};

}  // namespace fathom::data
