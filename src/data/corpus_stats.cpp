#include "fathom/data/corpus_stats.h"

#include <algorithm>
#include <cstdio>
#include <sstream>

#include <nlohmann/json.hpp>

#include "fathom/core/error.h"
#include "fathom/data/utf8.h"

namespace fathom::data {
using nlohmann::json;

namespace {
// FNV-1a 64: cheap and good enough to count exact duplicates (collisions at
// 2^-64 per pair are negligible for corpus audits).
std::uint64_t fnv1a(std::string_view s, std::uint64_t h = 1469598103934665603ull) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

std::int64_t code_points(std::string_view s) {
  std::int64_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

json map_json(const std::map<std::int64_t, std::int64_t>& m) {
  json a = json::array();
  for (auto& [k, v] : m) a.push_back({k, v});
  return a;
}
std::map<std::int64_t, std::int64_t> map_from(const json& a) {
  std::map<std::int64_t, std::int64_t> m;
  for (auto& kv : a) m[kv[0].get<std::int64_t>()] += kv[1].get<std::int64_t>();
  return m;
}
}  // namespace

CorpusStats::CorpusStats(Tokenize tokenize) : tokenize_(std::move(tokenize)) {}

void CorpusStats::add(const Example& e) {
  ++examples_;
  if (e.text_pair) ++with_pair_;
  if (e.label)
    ++labels_[*e.label];
  else
    ++unlabeled_;
  std::int64_t len = code_points(e.text) + (e.text_pair ? code_points(*e.text_pair) : 0);
  ++text_len_[len];
  std::uint64_t h = fnv1a(e.text);
  if (e.text_pair) h = fnv1a(*e.text_pair, fnv1a(std::string_view("\x1f", 1), h));
  text_hashes_.push_back(h);
  if (tokenize_) {
    std::int64_t n = 0;
    for (const std::string* part : {&e.text, e.text_pair ? &*e.text_pair : nullptr}) {
      if (!part) continue;
      for (auto& t : tokenize_(*part)) {
        ++n;
        if (t == unk_token) ++unk_;
        vocab_.insert(t);
      }
    }
    tokens_ += n;
    ++token_len_[n];
  }
}

void CorpusStats::merge(const CorpusStats& o) {
  examples_ += o.examples_;
  with_pair_ += o.with_pair_;
  unlabeled_ += o.unlabeled_;
  tokens_ += o.tokens_;
  unk_ += o.unk_;
  for (auto& [k, v] : o.labels_) labels_[k] += v;
  for (auto& [k, v] : o.text_len_) text_len_[k] += v;
  for (auto& [k, v] : o.token_len_) token_len_[k] += v;
  vocab_.insert(o.vocab_.begin(), o.vocab_.end());
  text_hashes_.insert(text_hashes_.end(), o.text_hashes_.begin(), o.text_hashes_.end());
}

std::string CorpusStats::serialize() const {
  json j = {{"examples", examples_},  {"with_pair", with_pair_},    {"unlabeled", unlabeled_},
            {"tokens", tokens_},      {"unk", unk_},                {"labels", labels_},
            {"text_len", map_json(text_len_)}, {"token_len", map_json(token_len_)},
            {"vocab", vocab_},        {"hashes", text_hashes_}};
  return j.dump();
}

CorpusStats CorpusStats::deserialize(const std::string& text) try {
  json j = json::parse(text);
  CorpusStats s;
  s.examples_ = j.at("examples");
  s.with_pair_ = j.at("with_pair");
  s.unlabeled_ = j.at("unlabeled");
  s.tokens_ = j.at("tokens");
  s.unk_ = j.at("unk");
  s.labels_ = j.at("labels").get<std::map<std::string, std::int64_t>>();
  s.text_len_ = map_from(j.at("text_len"));
  s.token_len_ = map_from(j.at("token_len"));
  s.vocab_ = j.at("vocab").get<std::set<std::string>>();
  s.text_hashes_ = j.at("hashes").get<std::vector<std::uint64_t>>();
  return s;
} catch (const json::exception& e) {
  throw Error(std::string("corpus stats: a shard's partial statistics are unreadable: ") + e.what());
}

std::int64_t CorpusStats::duplicate_texts() const {
  std::vector<std::uint64_t> h = text_hashes_;
  std::sort(h.begin(), h.end());
  std::int64_t dups = 0;
  for (std::size_t i = 1; i < h.size(); ++i) dups += h[i] == h[i - 1];
  return dups;
}

CorpusStats::Summary CorpusStats::summarize(const std::map<std::int64_t, std::int64_t>& counts) {
  Summary s;
  std::int64_t n = 0;
  double sum = 0;
  for (auto& [k, v] : counts) {
    n += v;
    sum += double(k) * double(v);
  }
  if (n == 0) return s;
  s.min = counts.begin()->first;
  s.max = counts.rbegin()->first;
  s.mean = sum / double(n);
  std::int64_t seen = 0;
  bool p50 = false;
  for (auto& [k, v] : counts) {
    seen += v;
    if (!p50 && 2 * seen >= n) s.p50 = k, p50 = true;
    if (20 * seen >= 19 * n) {
      s.p95 = k;
      break;
    }
  }
  std::map<std::int64_t, std::int64_t> buckets;
  for (auto& [k, v] : counts) {
    std::int64_t edge = 0;
    if (k > 0) {
      edge = 1;
      while (edge * 2 <= k) edge *= 2;
    }
    buckets[edge] += v;
  }
  s.buckets.assign(buckets.begin(), buckets.end());
  return s;
}

std::string CorpusStats::to_json() const {
  auto summary = [](const Summary& s) {
    json b = json::array();
    for (auto& [edge, count] : s.buckets) b.push_back({{"from", edge}, {"to", edge == 0 ? 1 : edge * 2}, {"count", count}});
    return json{{"min", s.min}, {"max", s.max}, {"mean", s.mean}, {"p50", s.p50}, {"p95", s.p95}, {"histogram", b}};
  };
  json j = {{"format_version", 1},
            {"examples", examples_},
            {"with_text_pair", with_pair_},
            {"labels", labels_},
            {"unlabeled", unlabeled_},
            {"duplicate_texts", duplicate_texts()},
            {"text_length_chars", summary(text_length())}};
  if (tokenize_ || tokens_ > 0) {
    j["tokens"] = tokens_;
    j["vocabulary_size"] = vocabulary_size();
    j["unk_tokens"] = unk_;
    j["token_count"] = summary(token_count());
  }
  return j.dump(2);
}

std::string CorpusStats::to_text() const {
  std::ostringstream os;
  char buf[256];
  os << "examples:        " << examples_ << (with_pair_ ? " (" + std::to_string(with_pair_) + " with text_pair)" : "")
     << "\n";
  os << "labels:\n";
  for (auto& [label, n] : labels_) {
    std::snprintf(buf, sizeof buf, "  %-20s %10lld  %5.1f%%\n", label.c_str(), (long long)n,
                  examples_ ? 100.0 * double(n) / double(examples_) : 0.0);
    os << buf;
  }
  if (unlabeled_) os << "  (unlabeled)          " << unlabeled_ << "\n";
  os << "duplicate texts: " << duplicate_texts() << "\n";
  auto hist = [&](const char* title, const Summary& s) {
    std::snprintf(buf, sizeof buf, "%s: min %lld, mean %.1f, p50 %lld, p95 %lld, max %lld\n", title, (long long)s.min,
                  s.mean, (long long)s.p50, (long long)s.p95, (long long)s.max);
    os << buf;
    std::int64_t peak = 1;
    for (auto& b : s.buckets) peak = std::max(peak, b.second);
    for (auto& [edge, count] : s.buckets) {
      int bar = int(40.0 * double(count) / double(peak) + 0.5);
      std::snprintf(buf, sizeof buf, "  [%6lld, %6lld) %10lld %s\n", (long long)edge, (long long)(edge == 0 ? 1 : edge * 2),
                    (long long)count, std::string(std::size_t(bar), '#').c_str());
      os << buf;
    }
  };
  hist("text length (chars)", text_length());
  if (tokenize_ || tokens_ > 0) {
    os << "tokens:          " << tokens_ << " (" << unk_ << " unknown)\n";
    os << "vocabulary size: " << vocabulary_size() << "\n";
    hist("tokens per example", token_count());
  }
  return os.str();
}

}  // namespace fathom::data
