#include "corpus_options.h"

namespace fathom::cli {

void add_corpus_flags(CLI::App& sub, data::CorpusOptions& o) {
  sub.add_option("--format", o.format, "auto (by extension) | jsonl | tsv | csv")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "jsonl", "tsv", "csv"}));
  sub.add_option("--id-field", o.id_field, "id field/column (empty: the record number)")->capture_default_str();
  sub.add_option("--text-field", o.text_field, "text field/column")->capture_default_str();
  sub.add_option("--pair-field", o.pair_field, "second text (NLI hypothesis) field/column")->capture_default_str();
  sub.add_option("--label-field", o.label_field, "label field/column")->capture_default_str();
  sub.add_option("--labels", o.label_set, "allowed labels (comma-separated); others are errors")->delimiter(',');
  sub.add_option_function<std::string>(
         "--on-error",
         [&o](const std::string& policy) {
           o.on_error = policy == "skip" ? data::CorpusOptions::OnError::skip : data::CorpusOptions::OnError::fail;
         },
         "bad records: fail (default) | skip (counted and reported)")
      ->check(CLI::IsMember({"fail", "skip"}))
      ->default_str("fail");
  sub.add_flag("--allow-empty-text", o.allow_empty_text, "accept empty texts");
}

data::CorpusOptions training_corpus_options(const data::CorpusOptions& query_options) {
  data::CorpusOptions o = query_options;
  o.on_error = data::CorpusOptions::OnError::fail;
  o.label_set.clear();
  return o;
}

data::ShardGroup shard_group(comm::Communicator& communicator) {
  data::ShardGroup g;
  g.rank = communicator.rank();
  g.size = communicator.size();
  g.sum = [&communicator](std::int64_t value) { return communicator.all_reduce_value<std::int64_t>(value); };
  g.gather_to_root = [&communicator](const std::string& bytes) {
    std::vector<std::int64_t> counts;
    std::vector<std::uint8_t> all =
        communicator.gatherv(bytes.data(), std::int64_t(bytes.size()), comm::DType::u8, /*root=*/0, &counts);
    std::vector<std::string> parts;
    if (!communicator.is_root()) return parts;
    std::size_t offset = 0;
    for (std::int64_t n : counts) {
      parts.emplace_back(all.begin() + std::ptrdiff_t(offset), all.begin() + std::ptrdiff_t(offset + std::size_t(n)));
      offset += std::size_t(n);
    }
    return parts;
  };
  return g;
}

}  // namespace fathom::cli
