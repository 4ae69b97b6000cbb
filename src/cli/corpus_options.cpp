#include "corpus_options.h"


namespace fathom::cli {

void add_corpus_flags(CLI::App& sub, CorpusFlags& f) {
  sub.add_option("--format", f.format, "auto (by extension) | jsonl | tsv | csv")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "jsonl", "tsv", "csv"}));
  sub.add_option("--id-field", f.id_field, "id field/column (empty: the record number)")->capture_default_str();
  sub.add_option("--text-field", f.text_field, "text field/column")->capture_default_str();
  sub.add_option("--pair-field", f.pair_field, "second text (NLI hypothesis) field/column")->capture_default_str();
  sub.add_option("--label-field", f.label_field, "label field/column")->capture_default_str();
  sub.add_option("--labels", f.labels, "allowed labels (comma-separated); others are errors")->delimiter(',');
  sub.add_option("--on-error", f.on_error, "bad records: fail (default) | skip (counted and reported)")
      ->capture_default_str()
      ->check(CLI::IsMember({"fail", "skip"}));
  sub.add_flag("--allow-empty-text", f.allow_empty_text, "accept empty texts");
}

data::CorpusOptions corpus_options(const CorpusFlags& f) {
  data::CorpusOptions o;
  o.format = f.format;
  o.id_field = f.id_field;
  o.text_field = f.text_field;
  o.pair_field = f.pair_field;
  o.label_field = f.label_field;
  o.label_set = f.labels;
  o.on_error = f.on_error == "skip" ? data::CorpusOptions::OnError::skip : data::CorpusOptions::OnError::fail;
  o.allow_empty_text = f.allow_empty_text;
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
