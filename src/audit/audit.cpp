// The audit pipeline: options, tokenization, the counting pass over this
// rank's shard, the merge on rank 0, and the outputs.
#include "fathom/audit/audit.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>

#include "fathom/comm/collective_check.h"
#include "fathom/core/atomic_file.h"
#include "fathom/core/error.h"
#include "fathom/core/memory.h"
#include "fathom/core/progress.h"
#include "fathom/data/shard.h"
#include "fathom/data/tokenizer_factory.h"
#include "fathom/data/words.h"
#include "report_internal.h"

namespace fathom::audit {
namespace {

namespace fs = std::filesystem;
using detail::ojson;

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}


// The mislabel candidates: each source's top rows (a pool several times the
// list, so the combined ranking rarely misses an example that is high in
// only one source).
std::int64_t pool_size(const AuditOptions& o) { return std::max<std::int64_t>(20 * o.suspects, 200); }

// Ids as one string for a broadcast: each as "<length>:<bytes>" (an id may
// hold any character).
std::string pack_strings(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) {
    out += std::to_string(s.size());
    out += ':';
    out += s;
  }
  return out;
}

std::vector<std::string> unpack_strings(const std::string& packed) {
  std::vector<std::string> v;
  std::size_t at = 0;
  while (at < packed.size()) {
    const std::size_t colon = packed.find(':', at);
    const std::size_t len = std::stoull(packed.substr(at, colon - at));
    v.push_back(packed.substr(colon + 1, len));
    at = colon + 1 + len;
  }
  return v;
}

// COLLECTIVE: bytes of every rank, on rank 0 (split per rank); empty elsewhere.
std::vector<std::string> gather_strings(const std::string& mine, comm::Communicator& comm) {
  std::vector<std::int64_t> sizes;
  std::vector<std::uint8_t> all = comm.gatherv(mine.data(), std::int64_t(mine.size()), comm::DType::u8, 0, &sizes);
  std::vector<std::string> parts;
  if (!comm.is_root()) return parts;
  std::size_t at = 0;
  for (std::int64_t s : sizes) {
    parts.emplace_back(reinterpret_cast<const char*>(all.data()) + at, std::size_t(s));
    at += std::size_t(s);
  }
  return parts;
}

std::string kept_to_json(const std::unordered_map<std::string, KeptExample>& kept) {
  ojson j = ojson::array();
  for (const auto& [id, k] : kept)
    j.push_back({{"id", id}, {"label", k.label}, {"text", k.text}, {"text_pair", k.text_pair}, {"line", k.line}});
  return j.dump();
}

}  // namespace

void check_audit_options(const AuditOptions& o) {
  if (o.corpus.empty()) throw UsageError("audit: --corpus is required");
  if (o.out.empty()) throw UsageError("audit: --out is required (a directory)");
  if (o.field != "text" && o.field != "text_pair" && o.field != "both")
    throw UsageError("audit: --field '" + o.field + "': expected text, text_pair or both");
  if (o.ngrams < 1 || o.ngrams > 3)
    throw UsageError("audit: --ngrams " + std::to_string(o.ngrams) + ": expected 1, 2 or 3 (n-grams of up to 3 words)");
  if (o.field != "text" && o.corpus_options.pair_field.empty())
    throw UsageError("audit: --field " + o.field + " needs a --pair-field");
  if (o.top < 1 || o.suspects < 1 || o.artifacts < 1)
    throw UsageError("audit: --top, --artifacts and --suspects must be >= 1");
  if (o.snippet < 0) throw UsageError("audit: --snippet must be >= 0");
  // Checks the statistics options with an empty two-label table (no corpus needed).
  TokenLabelCounts probe({"a", "b"});
  compute_statistics(probe, o.statistics);
}

Tokenize audit_tokenizer(const AuditOptions& o) {
  if (o.model.empty()) {
    data::TokenizerOptions text;
    text.lowercase = o.lowercase;
    return [text](std::string_view t) { return data::basic_words(t, text); };
  }
  const std::string manifest = (fs::path(o.model) / "fathom.json").string();
  nlohmann::json bundle;
  try {
    bundle = nlohmann::json::parse(read_file(manifest));
  } catch (const nlohmann::json::parse_error& e) {
    throw InputError(manifest, 0, "", std::string("malformed JSON: ") + e.what());
  }
  auto it = bundle.find("tokenizer");
  if (it == bundle.end() || !it->is_object() || !it->contains("kind") || !(*it)["kind"].is_string())
    throw InputError(manifest, 0, "tokenizer", "missing; expected an object with a \"kind\" (word or wordpiece)");
  const std::string kind = (*it)["kind"].get<std::string>();
  const std::string vocab = (fs::path(o.model) / "vocab.txt").string();
  if (!fs::exists(vocab)) throw InputError(vocab, "missing; a bundle holds its vocabulary in vocab.txt");
  std::shared_ptr<data::Tokenizer> tok;
  try {
    tok = data::load_tokenizer(kind, vocab, it->dump());
  } catch (const UsageError& e) {
    throw InputError(manifest, 0, "tokenizer", e.what());
  }
  return [tok](std::string_view t) { return tok->tokenize(t); };
}

TokenLabelCounts count_shard(const AuditOptions& o, data::Range rows, const Tokenize& tokenize,
                             const std::unordered_set<std::string>& wanted,
                             std::unordered_map<std::string, KeptExample>& kept,
                             const std::function<void(std::int64_t)>& on_records, std::int64_t& skipped) {
  data::CorpusOptions co = o.corpus_options;
  co.require_label = true;
  if (wanted.empty()) co.id_field = "";  // ids unused: no per-record id table
  const bool fail = co.on_error == data::CorpusOptions::OnError::fail;
  const bool use_text = o.field != "text_pair", use_pair = o.field != "text";
  TokenLabelCounts counts(o.corpus_options.label_set);
  data::CorpusReader reader(o.corpus, co, rows);
  data::Example e;
  std::string scratch;
  std::int64_t reported = 0, own_skips = 0;
  while (reader.next(e)) {
    if (o.field == "text_pair" && !e.text_pair) {
      InputError err(o.corpus, e.line, co.pair_field,
                     "missing; --field text_pair audits the second segment, expected it on every record");
      if (fail) throw err;
      if (own_skips++ < 5) spdlog::warn("skipped: {}", err.what());
      continue;
    }
    const int label = counts.label_index(*e.label);  // the reader enforces --labels
    counts.begin_example(label);
    if (use_text) add_ngrams(counts, tokenize(e.text), o.ngrams, scratch);
    if (use_pair && e.text_pair) add_ngrams(counts, tokenize(*e.text_pair), o.ngrams, scratch);
    if (!wanted.empty() && wanted.count(e.id))
      kept[e.id] = KeptExample{*e.label, e.text, e.text_pair.value_or(""), e.line};
    const std::int64_t looked = reader.records_read();
    if (looked - reported >= 4096) {
      on_records(looked - reported);
      reported = looked;
    }
  }
  on_records(reader.records_read() - reported);
  skipped = reader.skipped() + own_skips;
  if (reader.skipped() > 0) {
    std::string lines;
    for (std::size_t i = 0; i < reader.skipped_lines().size(); ++i)
      lines += "\n  line " + std::to_string(reader.skipped_lines()[i]) + ": " + reader.skip_messages()[i];
    spdlog::warn("{}: skipped {} bad record(s) in this rank's shard; first ones:{}", o.corpus, reader.skipped(), lines);
  }
  return counts;
}

TokenLabelCounts merge_counts(TokenLabelCounts&& mine, const std::vector<std::string>& label_set,
                              comm::Communicator& comm) {
  std::string bytes = mine.serialize();
  mine = TokenLabelCounts();  // free the shard's table before the gathered copies arrive
  std::vector<std::string> parts = gather_strings(bytes, comm);
  bytes.clear();
  bytes.shrink_to_fit();
  if (!comm.is_root()) return TokenLabelCounts(label_set);
  std::vector<std::string> names = label_set;
  if (names.empty()) {
    for (const auto& p : parts)
      for (auto& n : TokenLabelCounts::serialized_labels(p))
        if (std::find(names.begin(), names.end(), n) == names.end()) names.push_back(std::move(n));
    std::sort(names.begin(), names.end());
  }
  TokenLabelCounts merged(names);
  for (auto& p : parts) {
    merged.merge_serialized(p);
    std::string().swap(p);
  }
  return merged;
}

AuditSummary run_audit(const AuditOptions& o, comm::Communicator& comm) {
  const double t0 = now_s();
  check_audit_options(o);
  const Tokenize tokenize = audit_tokenizer(o);
  const bool root = comm.is_root();

  // Cross-references first (rank 0): a bad file fails before the long pass.
  detail::ReportInputs in;
  in.options = &o;
  in.tokenize = tokenize;
  in.tokenization = o.model.empty() ? "words" : "bundle " + o.model;
  std::vector<std::string> pool;
  comm::on_root(comm, "audit: reading the cross-references", [&] {
    std::unordered_set<std::string> pool_set;
    // The loss comes from the cache, the others from JSONL files.
    auto read_source = [&](const std::string& name, const std::string& path, const std::string& field,
                           const std::unordered_set<std::string>* lookup) {
      return name == "loss" ? read_loss_source(path, pool_size(o), lookup)
                            : read_ranked_source(name, path, field, pool_size(o), lookup);
    };
    auto add_source = [&](const char* name, const std::string& path, const char* field) {
      if (path.empty()) return;
      in.sources.push_back(read_source(name, path, field, nullptr));
      for (const auto& r : in.sources.back().top) pool_set.insert(r.id);
    };
    add_source("knn", o.knn_suspects, "disagreement");
    add_source("self_influence", o.self_influence, "score");
    add_source("loss", o.cache, "loss");
    if (!o.triggers.empty()) in.triggers = read_triggers(o.triggers);
    if (!o.truth.empty()) in.truth = read_truth(o.truth);
    // Second pass over each source: the values of every pool example (and of
    // the planted flips, for the histogram and the recall figures).
    std::unordered_set<std::string> lookup = pool_set;
    if (in.truth) lookup.insert(in.truth->flipped.begin(), in.truth->flipped.end());
    for (auto& s : in.sources) s = read_source(s.name, s.path, s.value_field, &lookup);
    pool.assign(pool_set.begin(), pool_set.end());
    std::sort(pool.begin(), pool.end());
  });
  std::string packed = pack_strings(pool);
  comm.broadcast(packed, 0);
  const std::vector<std::string> wanted_ids = unpack_strings(packed);
  const std::unordered_set<std::string> wanted(wanted_ids.begin(), wanted_ids.end());
  const double t_refs = now_s();

  // The counting pass over this rank's shard.
  // A bad record fails one rank's shard: collective_check makes every rank
  // throw, so none is left waiting in the merge.
  std::int64_t records = 0;
  std::unordered_map<std::string, KeptExample> kept;
  std::int64_t skipped = 0;
  TokenLabelCounts mine;
  comm::collective_check(comm, "audit: counting " + o.corpus, [&] {
    records = data::count_records(o.corpus, o.corpus_options);
    const data::Range rows = data::shard_range(records, comm.rank(), comm.size());
    std::optional<Progress> progress;
    if (o.progress) progress.emplace("audit " + o.corpus, records, "ex");
    const std::int64_t ranks = comm.size();
    mine = count_shard(o, rows, tokenize, wanted, kept, [&](std::int64_t n) {
      if (progress) progress->advance(n * ranks);  // rank 0's share times the ranks: the group-wide estimate
    }, skipped);
    if (progress) progress->finish();
  });
  const double t_count = now_s();
  const std::int64_t shard_examples = mine.examples();
  const std::int64_t shard_tokens = std::int64_t(mine.tokens());
  const std::int64_t shard_table_bytes = std::int64_t(mine.bytes());
  const std::int64_t examples = comm.all_reduce_value(shard_examples);
  skipped = comm.all_reduce_value(skipped);
  const std::int64_t max_shard_tokens = comm.all_reduce_value(shard_tokens, comm::ReduceOp::max);
  const std::int64_t max_table_bytes = comm.all_reduce_value(shard_table_bytes, comm::ReduceOp::max);
  if (skipped > 0 && root) spdlog::warn("{}: {} bad record(s) skipped in total (--on-error skip)", o.corpus, skipped);

  TokenLabelCounts counts = merge_counts(std::move(mine), o.corpus_options.label_set, comm);
  std::vector<std::string> kept_parts = gather_strings(wanted.empty() ? std::string() : kept_to_json(kept), comm);
  const double t_merge = now_s();
  const std::int64_t peak = comm.all_reduce_value(peak_rss_bytes(), comm::ReduceOp::max);

  AuditSummary sum;
  sum.examples = examples;
  sum.skipped = skipped;
  sum.peak_rss_bytes = peak;
  if (!root) sum.seconds = now_s() - t0;
  comm::on_root(comm, "audit: statistics and report", [&] {
    if (counts.examples() == 0) throw InputError(o.corpus, "no labelled examples to audit");
    if (counts.labels().size() < 2) {
      throw InputError(o.corpus, 0, o.corpus_options.label_field,
                       "only one label ('" + counts.labels()[0] +
                           "') in the corpus; the audit compares labels, expected at least two (or --labels)");
    }
    for (const auto& part : kept_parts) {
      if (part.empty()) continue;
      for (const auto& k : ojson::parse(part))
        in.kept[k["id"].get<std::string>()] = KeptExample{k["label"], k["text"], k["text_pair"], k["line"]};
    }
    const TokenStatistics stats = compute_statistics(counts, o.statistics);
    const double t_stats = now_s();
    in.counts = &counts;
    in.stats = &stats;
    in.records = records;
    in.skipped = skipped;
    in.timing = {{"cross_references_s", t_refs - t0}, {"count_s", t_count - t_refs}, {"merge_s", t_merge - t_count},
                 {"statistics_s", t_stats - t_merge}};
    in.memory = {{"ranks", comm.size()},
                 {"peak_rss_bytes", peak},
                 {"largest_shard_table_bytes", max_table_bytes},
                 {"largest_shard_tokens", max_shard_tokens},
                 {"merged_table_bytes", std::int64_t(counts.bytes())}};

    std::vector<detail::ScatterPoint> scatter;
    ojson report = detail::build_report(in, scatter);

    std::error_code ec;
    fs::create_directories(o.out, ec);
    if (ec || !fs::is_directory(o.out))
      throw InputError(o.out, "cannot create the output directory: " + (ec ? ec.message() : std::string("not a directory")));
    sum.tokens_tsv = (fs::path(o.out) / "tokens.tsv").string();
    {
      AtomicFile f(sum.tokens_tsv);
      auto& s = f.stream();
      const auto& labels = counts.labels();
      s << "token\tn";
      for (const char* what : {"count", "z", "pmi"})
        for (const auto& l : labels) s << '\t' << what << ':' << l;
      s << '\n';
      s.precision(10);
      for (std::size_t i = 0; i < stats.ids.size(); ++i) {
        s << counts.token(stats.ids[i]) << '\t' << stats.n[i];
        for (int y = 0; y < int(labels.size()); ++y) s << '\t' << counts.count(stats.ids[i], y);
        for (int y = 0; y < int(labels.size()); ++y) s << '\t' << stats.z_at(i, y);
        for (int y = 0; y < int(labels.size()); ++y) s << '\t' << stats.pmi_at(i, y);
        s << '\n';
      }
      f.commit();
    }
    sum.seconds = now_s() - t0;
    report["timing"]["total_s"] = sum.seconds;
    report["timing"]["examples_per_s"] = sum.seconds > 0 ? double(examples) / (t_count - t_refs) : 0.0;
    sum.report_json = (fs::path(o.out) / "report.json").string();
    sum.report_html = (fs::path(o.out) / "report.html").string();
    write_file_atomic(sum.report_html, detail::render_html(report, scatter));
    write_file_atomic(sum.report_json, report.dump(2) + "\n");

    sum.tokens = std::int64_t(counts.tokens());
    sum.tests = stats.tests;
    sum.z_threshold = stats.z_threshold;
    sum.labels = counts.labels();
    for (const auto& l : counts.labels()) {
      sum.significant += report["significant"].value(l, std::int64_t(0));
      const auto& top = report["top_tokens"][l];
      sum.top_token.push_back(top.empty() ? std::string() : top[0]["token"].get<std::string>());
    }
    sum.mislabels = std::int64_t(report["mislabels"].size());
  });
  return sum;
}

}  // namespace fathom::audit
