#include "corpus_options.h"

#include "fathom/core/log.h"

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

void report_skipped(const data::CorpusReader& reader, comm::Communicator& comm) {
  std::int64_t mine = reader.skipped();
  if (mine > 0) {
    std::string lines;
    for (std::size_t i = 0; i < reader.skipped_lines().size(); ++i)
      lines += "\n  line " + std::to_string(reader.skipped_lines()[i]) + ": " + reader.skip_messages()[i];
    spdlog::warn("{}: skipped {} bad record(s) in this rank's shard; first ones:{}", reader.path(), mine, lines);
  }
  std::int64_t total = comm.all_reduce_value<std::int64_t>(mine);
  if (total > 0 && comm.is_root()) spdlog::warn("{}: {} bad record(s) skipped in total (--on-error skip)", reader.path(), total);
}

}  // namespace fathom::cli
