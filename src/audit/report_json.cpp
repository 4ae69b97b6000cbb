// report.json: the statistics' highlights, ranked likely artifacts and
// likely mislabels with their evidence, the cross-references and (with a
// planted truth) how well the audit found what was planted.
#include <algorithm>
#include <cstdio>
#include <numeric>

#include "fathom/core/build_info.h"
#include "fathom/core/clock.h"
#include "fathom/data/utf8.h"
#include "report_internal.h"

namespace fathom::audit::detail {
namespace {

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

// The first `chars` code points of s (0 = all).
std::string snippet(const std::string& s, std::int64_t chars) {
  if (chars <= 0) return s;
  std::size_t at = 0;
  for (std::int64_t c = 0; c < chars && at < s.size(); ++c) {
    ++at;
    while (at < s.size() && (static_cast<unsigned char>(s[at]) & 0xC0) == 0x80) ++at;
  }
  return at < s.size() ? s.substr(0, at) + "…" : s;
}

class Builder {
 public:
  Builder(const ReportInputs& in)
      : in_(in), o_(*in.options), c_(*in.counts), s_(*in.stats), L_(int(c_.labels().size())) {
    stat_of_.assign(c_.tokens(), -1);
    for (std::size_t i = 0; i < s_.ids.size(); ++i) stat_of_[s_.ids[i]] = std::int64_t(i);
  }

  ojson build(std::vector<ScatterPoint>& scatter) {
    ojson r;
    r["format"] = "fathom.audit";
    r["format_version"] = 1;
    r["fathom_version"] = FATHOM_VERSION_STRING;
    r["created_at"] = utc_timestamp();
    r["corpus"] = {{"path", o_.corpus},       {"records", in_.records}, {"examples", c_.examples()},
                   {"skipped", in_.skipped},  {"field", o_.field}};
    r["tokenization"] = {{"tokenizer", in_.tokenization}, {"lowercase", o_.model.empty() ? ojson(o_.lowercase) : ojson()},
                         {"ngrams", o_.ngrams}, {"tokens_counted", std::int64_t(c_.tokens())}};
    ojson labels = ojson::array();
    for (int y = 0; y < L_; ++y)
      labels.push_back({{"label", c_.labels()[std::size_t(y)]},
                        {"examples", c_.label_examples(y)},
                        {"share", double(c_.label_examples(y)) / double(c_.examples())}});
    r["labels"] = labels;
    r["method"] = {{"smoothing", o_.statistics.smoothing},
                   {"alpha", o_.statistics.alpha},
                   {"min_count", o_.statistics.min_count},
                   {"p0", 1.0 / L_},
                   {"tests", s_.tests},
                   {"z_threshold", s_.z_threshold},
                   {"z", "z*(w,y) = (c_wy/n_w - p0) / sqrt(p0 (1 - p0) / n_w), one-sided, Bonferroni over the tokens tested"},
                   {"pmi", "PMI(w,y) = ln[(c_wy + k) T / ((n_w + kL)(S_y + kV))], natural log"}};
    ojson significant;
    for (int y = 0; y < L_; ++y) {
      std::int64_t n = 0;
      for (std::size_t i = 0; i < s_.ids.size(); ++i) n += s_.z_at(i, y) > s_.z_threshold;
      significant[label(y)] = n;
    }
    r["significant"] = significant;
    ojson top;
    for (int y = 0; y < L_; ++y) {
      ojson list = ojson::array();
      for (std::size_t i : top_by_z(y, std::size_t(o_.top))) list.push_back(token_json(i, y));
      top[label(y)] = list;
    }
    r["top_tokens"] = top;
    r["artifacts"] = artifacts();
    r["mislabels"] = mislabels_cache();
    r["cross_references"] = cross_references();
    if (in_.truth) r["planted"] = planted(r["mislabels"]);
    r["timing"] = in_.timing;
    r["memory"] = in_.memory;
    r["outputs"] = {{"report_json", "report.json"}, {"report_html", "report.html"}, {"tokens_tsv", "tokens.tsv"}};
    scatter = scatter_points();
    return r;
  }

 private:
  const std::string& label(int y) const { return c_.labels()[std::size_t(y)]; }

  ojson token_json(std::size_t i, int y) const {
    const std::int64_t c = c_.count(s_.ids[i], y);
    return {{"token", std::string(c_.token(s_.ids[i]))},
            {"n", s_.n[i]},
            {"count", c},
            {"p_hat", double(c) / double(s_.n[i])},
            {"z", s_.z_at(i, y)},
            {"pmi", number_or_null(s_.pmi_at(i, y))},
            {"significant", s_.z_at(i, y) > s_.z_threshold}};
  }

  // The label with the largest z* for token i.
  int best_label(std::size_t i) const {
    int best = 0;
    for (int y = 1; y < L_; ++y)
      if (s_.z_at(i, y) > s_.z_at(i, best)) best = y;
    return best;
  }

  // Tested tokens by z* for label y, largest first (ties by bytes: the
  // statistics are in byte order and the sort is stable).
  std::vector<std::size_t> top_by_z(int y, std::size_t k) const {
    std::vector<std::size_t> idx(s_.ids.size());
    std::iota(idx.begin(), idx.end(), 0);
    k = std::min(k, idx.size());
    std::partial_sort(idx.begin(), idx.begin() + std::ptrdiff_t(k), idx.end(), [&](std::size_t a, std::size_t b) {
      return s_.z_at(a, y) > s_.z_at(b, y) || (s_.z_at(a, y) == s_.z_at(b, y) && a < b);
    });
    idx.resize(k);
    return idx;
  }

  // 1-based rank of token i by z* among the tested tokens of label y.
  std::int64_t rank_by_z(std::size_t i, int y) const {
    std::int64_t r = 1;
    for (std::size_t j = 0; j < s_.ids.size(); ++j)
      r += s_.z_at(j, y) > s_.z_at(i, y) || (s_.z_at(j, y) == s_.z_at(i, y) && j < i);
    return r;
  }

  // The statistics index of a token string, or -1 if it was not tested.
  std::int64_t stat_index(std::string_view token) const {
    const std::int64_t id = c_.find(token);
    return id < 0 ? -1 : stat_of_[std::size_t(id)];
  }

  // A trigger token as the audit spells tokens: wordpiece continuations
  // without "##", lowercased when the word tokenizer lowercases.
  std::string normalize(const std::string& token) const {
    std::string t = token.rfind("##", 0) == 0 && o_.model.empty() ? token.substr(2) : token;
    if (o_.model.empty() && o_.lowercase) {
      const auto words = in_.tokenize(t);
      if (words.size() == 1) t = words[0];
    }
    return t;
  }

  struct TriggerHit {
    std::size_t trigger;
    std::string token;
  };
  std::vector<TriggerHit> trigger_hits() const {
    std::vector<TriggerHit> hits;
    if (!in_.triggers) return hits;
    for (std::size_t t = 0; t < in_.triggers->triggers.size(); ++t)
      for (const auto& tok : in_.triggers->triggers[t].tokens) hits.push_back({t, normalize(tok)});
    return hits;
  }

  std::string trigger_evidence(std::size_t t) const {
    const Trigger& tr = in_.triggers->triggers[t];
    std::string e = "in trigger #" + std::to_string(t + 1) + " \"";
    for (std::size_t k = 0; k < tr.tokens.size(); ++k) e += (k ? " " : "") + tr.tokens[k];
    e += "\"";
    if (tr.target) e += " (target " + *tr.target + ")";
    if (tr.flip_rate) e += ", flip rate " + fmt("%.3f", *tr.flip_rate);
    return e;
  }

  ojson artifacts() const {
    struct Cand {
      std::size_t i;
      int y;
      bool trigger;
      std::vector<std::size_t> triggers;
    };
    std::vector<Cand> cands;
    std::unordered_map<std::size_t, std::vector<std::size_t>> triggers_of;  // stat index -> triggers
    for (const auto& h : trigger_hits()) {
      const std::int64_t i = stat_index(h.token);
      if (i < 0) continue;
      // A token repeated in one trigger ("cnet cnet cnet") is one piece of evidence.
      std::vector<std::size_t>& list = triggers_of[std::size_t(i)];
      if (std::find(list.begin(), list.end(), h.trigger) == list.end()) list.push_back(h.trigger);
    }
    for (std::size_t i = 0; i < s_.ids.size(); ++i) {
      auto t = triggers_of.find(i);
      for (int y = 0; y < L_; ++y) {
        if (s_.z_at(i, y) > s_.z_threshold)
          cands.push_back({i, y, t != triggers_of.end(), t != triggers_of.end() ? t->second : std::vector<std::size_t>{}});
      }
      // A trigger token that is not significant for any label is listed too
      // (after the significant ones), at its best label.
      if (t != triggers_of.end()) {
        const int y = best_label(i);
        if (!(s_.z_at(i, y) > s_.z_threshold)) cands.push_back({i, y, true, t->second});
      }
    }
    // Significant and a trigger token first (two independent lines of
    // evidence), then significant by z*, then trigger tokens alone.
    auto tier = [&](const Cand& c) {
      const bool sig = s_.z_at(c.i, c.y) > s_.z_threshold;
      return sig && c.trigger ? 0 : sig ? 1 : 2;
    };
    std::stable_sort(cands.begin(), cands.end(), [&](const Cand& a, const Cand& b) {
      if (tier(a) != tier(b)) return tier(a) < tier(b);
      return s_.z_at(a.i, a.y) > s_.z_at(b.i, b.y);
    });
    ojson out = ojson::array();
    for (std::size_t r = 0; r < cands.size() && std::int64_t(r) < o_.artifacts; ++r) {
      const Cand& c = cands[r];
      ojson a = {{"rank", std::int64_t(r + 1)}, {"label", label(c.y)}};
      a.update(token_json(c.i, c.y));
      ojson ev = ojson::array();
      const double z = s_.z_at(c.i, c.y);
      const std::int64_t cnt = c_.count(s_.ids[c.i], c.y);
      ev.push_back("z* = " + fmt("%.2f", z) + (z > s_.z_threshold ? " > " : " <= ") + fmt("%.2f", s_.z_threshold) +
                   " (Bonferroni, alpha " + fmt("%g", o_.statistics.alpha) + " over " + std::to_string(s_.tests) +
                   " tokens)");
      ev.push_back(std::to_string(cnt) + " of its " + std::to_string(s_.n[c.i]) + " examples (" +
                   fmt("%.1f", 100.0 * double(cnt) / double(s_.n[c.i])) + "%) are '" + label(c.y) + "', chance " +
                   fmt("%.1f", 100.0 / L_) + "%");
      ev.push_back("PMI " + fmt("%.3f", s_.pmi_at(c.i, c.y)) + " (add-" + fmt("%g", o_.statistics.smoothing) + ")");
      for (std::size_t t : c.triggers) ev.push_back(trigger_evidence(t));
      a["evidence"] = ev;
      out.push_back(std::move(a));
    }
    return out;
  }

  const RankedSource* source(const char* name) const {
    for (const auto& s : in_.sources)
      if (s.name == name) return &s;
    return nullptr;
  }

  // Significant tokens of other labels in an example's text: evidence that
  // its label may be wrong.
  std::vector<std::string> foreign_artifacts(const KeptExample& k) const {
    TokenLabelCounts one;
    one.begin_example(one.label_index("x"));
    std::string scratch;
    if (o_.field != "text_pair") add_ngrams(one, in_.tokenize(k.text), o_.ngrams, scratch);
    if (o_.field != "text" && !k.text_pair.empty()) add_ngrams(one, in_.tokenize(k.text_pair), o_.ngrams, scratch);
    struct Hit {
      double z;
      std::string text;
    };
    std::vector<Hit> hits;
    for (std::uint32_t t = 0; t < one.tokens(); ++t) {
      const std::int64_t i = stat_index(one.token(t));
      if (i < 0) continue;
      for (int y = 0; y < L_; ++y) {
        const double z = s_.z_at(std::size_t(i), y);
        if (label(y) != k.label && z > s_.z_threshold)
          hits.push_back({z, "contains '" + std::string(one.token(t)) + "', an artifact of '" + label(y) + "' (z* " +
                                 fmt("%.2f", z) + ")"});
      }
    }
    std::sort(hits.begin(), hits.end(), [](const Hit& a, const Hit& b) { return a.z > b.z || (a.z == b.z && a.text < b.text); });
    std::vector<std::string> out;
    for (std::size_t h = 0; h < hits.size() && h < 3; ++h) out.push_back(hits[h].text);
    return out;
  }

  ojson mislabels() const {
    ojson out = ojson::array();
    if (in_.sources.empty()) return out;
    std::unordered_set<std::string> pool;
    for (const auto& s : in_.sources)
      for (const auto& r : s.top) pool.insert(r.id);
    struct Cand {
      std::string id;
      double score;
    };
    std::vector<Cand> cands;
    for (const auto& id : pool) {
      double sum = 0;
      for (const auto& s : in_.sources) {
        auto it = s.looked_up.find(id);
        if (it != s.looked_up.end()) sum += s.percentile(it->second.value);
      }
      cands.push_back({id, sum / double(in_.sources.size())});
    }
    std::sort(cands.begin(), cands.end(),
              [](const Cand& a, const Cand& b) { return a.score > b.score || (a.score == b.score && a.id < b.id); });
    for (std::size_t r = 0; r < cands.size() && std::int64_t(r) < o_.suspects; ++r) {
      const Cand& c = cands[r];
      ojson m = {{"rank", std::int64_t(r + 1)}, {"id", c.id}, {"score", c.score}};
      ojson ev = ojson::array();
      std::optional<std::string> lab;
      for (const auto& s : in_.sources) {
        auto it = s.looked_up.find(c.id);
        if (it == s.looked_up.end()) {
          m[s.name] = nullptr;
          ev.push_back(s.name + ": not listed in " + s.path);
          continue;
        }
        const RankedRow& row = it->second;
        if (!lab) lab = row.label;
        m[s.name] = {{s.value_field, row.value}, {"rank", s.rank(row.value)}, {"of", s.rows},
                     {"percentile", s.percentile(row.value)}};
        if (s.name == "knn")
          ev.push_back("kNN: " + fmt("%.0f", 100 * row.value) + "% of its neighbours have another label (rank " +
                       std::to_string(s.rank(row.value)) + " of " + std::to_string(s.rows) + ")");
        else if (s.name == "loss")
          ev.push_back("training loss " + fmt("%.4g", row.value) + " at its label (rank " +
                       std::to_string(s.rank(row.value)) + " of " + std::to_string(s.rows) + ")");
        else
          ev.push_back("self-influence " + fmt("%.4g", row.value) + " (rank " + std::to_string(s.rank(row.value)) +
                       " of " + std::to_string(s.rows) + ")");
      }
      auto k = in_.kept.find(c.id);
      if (k != in_.kept.end()) {
        m["label"] = k->second.label;
        m["line"] = k->second.line;
        m["text"] = snippet(k->second.text, o_.snippet);
        if (!k->second.text_pair.empty()) m["text_pair"] = snippet(k->second.text_pair, o_.snippet);
        for (auto& e : foreign_artifacts(k->second)) ev.push_back(std::move(e));
      } else {
        m["label"] = lab ? ojson(*lab) : ojson();
        m["text"] = nullptr;
        ev.push_back("not found in the corpus (another corpus, or --on-error skip dropped it)");
      }
      if (in_.truth) m["planted_flip"] = in_.truth->flipped.count(c.id) > 0;
      m["evidence"] = ev;
      out.push_back(std::move(m));
    }
    return out;
  }

  ojson histogram(const RankedSource& s, const ojson& mislabels) const {
    const double lo = s.values_desc.back(), hi = s.values_desc.front();
    const int bins = 40;
    const double width = hi > lo ? (hi - lo) / bins : 1.0;
    auto bin = [&](double v) { return std::clamp(int((v - lo) / width), 0, bins - 1); };
    std::vector<std::int64_t> all(bins, 0), flipped(bins, 0);
    for (double v : s.values_desc) ++all[std::size_t(bin(v))];
    if (in_.truth)
      for (const auto& [id, row] : s.looked_up)
        if (in_.truth->flipped.count(id)) ++flipped[std::size_t(bin(row.value))];
    ojson edges = ojson::array();
    for (int b = 0; b <= bins; ++b) edges.push_back(lo + width * b);
    ojson suspects = ojson::array();
    for (const auto& m : mislabels)
      if (m.contains(s.name) && !m[s.name].is_null()) suspects.push_back(m[s.name][s.value_field]);
    ojson h = {{"edges", edges}, {"counts", all}, {"suspects", suspects}};
    if (in_.truth) h["planted_flips"] = flipped;
    return h;
  }

  ojson cross_references() const {
    ojson x = ojson::object();
    for (const auto& s : in_.sources) {
      ojson j = {{"path", s.path}, {"rows", s.rows}, {"value", s.value_field},
                 {"max", s.values_desc.front()}, {"min", s.values_desc.back()}};
      if (s.name == "self_influence") j["histogram"] = histogram(s, mislabels_cache());
      x[s.name] = j;
    }
    if (in_.triggers) {
      ojson list = ojson::array();
      for (std::size_t t = 0; t < in_.triggers->triggers.size(); ++t) {
        const Trigger& tr = in_.triggers->triggers[t];
        ojson toks = ojson::array();
        for (const auto& tok : tr.tokens) {
          const std::string norm = normalize(tok);
          const std::int64_t i = stat_index(norm);
          ojson tj = {{"token", tok}, {"audit_token", norm}};
          if (i >= 0) {
            const int y = best_label(std::size_t(i));
            tj["n"] = s_.n[std::size_t(i)];
            tj["label"] = label(y);
            tj["z"] = s_.z_at(std::size_t(i), y);
            tj["significant"] = s_.z_at(std::size_t(i), y) > s_.z_threshold;
          } else {
            tj["n"] = 0;
          }
          toks.push_back(tj);
        }
        ojson tj = {{"tokens", toks}};
        tj["target"] = tr.target ? ojson(*tr.target) : ojson();
        tj["flip_rate"] = tr.flip_rate ? ojson(*tr.flip_rate) : ojson();
        tj["accuracy_before"] = tr.accuracy_before ? ojson(*tr.accuracy_before) : ojson();
        tj["accuracy_after"] = tr.accuracy_after ? ojson(*tr.accuracy_after) : ojson();
        list.push_back(tj);
      }
      x["triggers"] = {{"path", in_.triggers->path}, {"triggers", list}};
    }
    return x;
  }

  const ojson& mislabels_cache() const {
    if (!mislabels_done_) {
      mislabels_ = mislabels();
      mislabels_done_ = true;
    }
    return mislabels_;
  }

  // Flipped examples among a source's rows: recall in its top 10% and the
  // ROC AUC of its ranking. Ties are broken at random in expectation: a
  // block of equal values straddling the cut counts pro rata, and a tie
  // between a flipped and a clean row counts one half in the AUC.
  ojson source_recovery(const RankedSource& s) const {
    std::vector<double> flips;
    for (const auto& [id, row] : s.looked_up)
      if (in_.truth->flipped.count(id)) flips.push_back(row.value);
    std::sort(flips.begin(), flips.end(), std::greater<double>());
    const double F = double(flips.size()), NF = double(s.rows) - F;
    const std::int64_t cut = std::max<std::int64_t>(1, s.rows / 10);
    double in_top = 0;
    double auc_sum = 0;
    for (double v : flips) {
      auto all_eq = std::equal_range(s.values_desc.begin(), s.values_desc.end(), v, std::greater<double>());
      const double lo = double(all_eq.first - s.values_desc.begin()) + 1, hi = double(all_eq.second - s.values_desc.begin());
      in_top += double(cut) >= hi ? 1.0 : double(cut) < lo ? 0.0 : (double(cut) - lo + 1) / (hi - lo + 1);
      // Non-flipped rows below v, and equal to v.
      auto fl_eq = std::equal_range(flips.begin(), flips.end(), v, std::greater<double>());
      const double below = double(s.values_desc.end() - all_eq.second) - double(flips.end() - fl_eq.second);
      const double equal = double(all_eq.second - all_eq.first) - double(fl_eq.second - fl_eq.first);
      auc_sum += below + 0.5 * equal;
    }
    ojson j = {{"flipped_in_source", std::int64_t(flips.size())},
               {"recall_top_10pct", F > 0 ? in_top / F : 0.0}};
    j["roc_auc"] = F > 0 && NF > 0 ? ojson(auc_sum / (F * NF)) : ojson();
    return j;
  }

  ojson planted(const ojson& mislabels) const {
    ojson arts = ojson::array();
    for (const auto& a : in_.truth->artifacts) {
      ojson j = {{"token", a.token}, {"label", a.label}};
      const auto y = std::find(c_.labels().begin(), c_.labels().end(), a.label) - c_.labels().begin();
      const std::int64_t i = stat_index(a.token);
      if (i < 0 || y >= L_) {
        j["found"] = false;
        j["rank_for_label"] = nullptr;
      } else {
        j["rank_for_label"] = rank_by_z(std::size_t(i), int(y));
        j["z"] = s_.z_at(std::size_t(i), int(y));
        j["significant"] = s_.z_at(std::size_t(i), int(y)) > s_.z_threshold;
        j["found"] = j["rank_for_label"] == 1;
      }
      arts.push_back(j);
    }
    std::int64_t flipped_listed = 0;
    for (const auto& m : mislabels) flipped_listed += m.value("planted_flip", false);
    ojson p = {{"truth", in_.truth->path}, {"artifacts", arts}};
    ojson f = {{"planted", std::int64_t(in_.truth->flipped.size())},
               {"listed", std::int64_t(mislabels.size())},
               {"flipped_among_listed", flipped_listed},
               {"precision_of_list", mislabels.empty() ? 0.0 : double(flipped_listed) / double(mislabels.size())}};
    for (const auto& s : in_.sources) f[s.name] = source_recovery(s);
    p["flipped"] = f;
    return p;
  }

  std::vector<ScatterPoint> scatter_points() const {
    const std::size_t V = s_.ids.size();
    std::vector<std::size_t> order(V);
    std::iota(order.begin(), order.end(), 0);
    std::vector<int> best(V);
    for (std::size_t i = 0; i < V; ++i) best[i] = best_label(i);
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return s_.z_at(a, best[a]) > s_.z_at(b, best[b]); });
    // The 1500 largest z* (significant ones among them), then an even sample
    // of the rest in byte order, 3000 points at most.
    const std::size_t head = std::min<std::size_t>(V, 1500);
    std::vector<std::uint8_t> take(V, 0);
    for (std::size_t k = 0; k < head; ++k) take[order[k]] = 1;
    const std::size_t rest = V - head, want = std::min<std::size_t>(rest, 1500);
    if (want > 0) {
      std::vector<std::size_t> others;
      for (std::size_t k = head; k < V; ++k) others.push_back(order[k]);
      std::sort(others.begin(), others.end());
      for (std::size_t k = 0; k < want; ++k) take[others[k * others.size() / want]] = 1;
    }
    std::vector<ScatterPoint> pts;
    for (std::size_t i = 0; i < V; ++i) {
      if (!take[i]) continue;
      pts.push_back({std::string(c_.token(s_.ids[i])), s_.n[i], s_.z_at(i, best[i]), best[i],
                     s_.z_at(i, best[i]) > s_.z_threshold, false});
    }
    // Outliers with their text: the 3 largest z* of every label, 12 at most.
    std::vector<std::size_t> by_z(pts.size());
    std::iota(by_z.begin(), by_z.end(), 0);
    std::stable_sort(by_z.begin(), by_z.end(), [&](std::size_t a, std::size_t b) { return pts[a].z > pts[b].z; });
    std::vector<int> per_label(std::size_t(L_), 0);
    int labelled = 0;
    for (std::size_t k : by_z) {
      if (labelled >= 12) break;
      if (per_label[std::size_t(pts[k].label)] >= std::max(3, 12 / L_)) continue;
      ++per_label[std::size_t(pts[k].label)];
      pts[k].labelled = true;
      ++labelled;
    }
    return pts;
  }

  const ReportInputs& in_;
  const AuditOptions& o_;
  const TokenLabelCounts& c_;
  const TokenStatistics& s_;
  int L_;
  std::vector<std::int64_t> stat_of_;
  mutable ojson mislabels_;
  mutable bool mislabels_done_ = false;
};

}  // namespace

ojson build_report(const ReportInputs& in, std::vector<ScatterPoint>& scatter) { return Builder(in).build(scatter); }

}  // namespace fathom::audit::detail
