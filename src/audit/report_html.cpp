// report.html: one self-contained page (inline CSS and SVG; no scripts, no
// external assets), readable offline and printable.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "report_internal.h"

namespace fathom::audit::detail {
namespace {

const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e",
                         "#17becf", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22"};
const char* color(int label) { return kColors[label % 10]; }

std::string esc(const std::string& s) {
  std::string o;
  o.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      case '\'': o += "&#39;"; break;
      default: o += c;
    }
  }
  return o;
}

std::string num(double v, const char* f = "%.3g") {
  if (!std::isfinite(v)) return "–";
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string str(const ojson& j) {
  if (j.is_string()) return j.get<std::string>();
  if (j.is_null()) return "";
  if (j.is_number_float()) return num(j.get<double>(), "%.4g");
  return j.dump();
}

double dbl(const ojson& j) { return j.is_number() ? j.get<double>() : NAN; }

// Round tick steps (1, 2, 5 × 10^k) covering [lo, hi].
std::vector<double> ticks(double lo, double hi, int want = 6) {
  std::vector<double> t;
  if (!(hi > lo)) return {lo};
  const double raw = (hi - lo) / want;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * mag >= raw) {
      step = m * mag;
      break;
    }
  for (double v = std::ceil(lo / step) * step; v <= hi + 1e-9 * step; v += step) t.push_back(v);
  return t;
}

class Page {
 public:
  Page(const ojson& r, const std::vector<ScatterPoint>& pts) : r_(r), pts_(pts) {
    for (const auto& l : r["labels"]) labels_.push_back(l["label"].get<std::string>());
  }

  std::string render() {
    head();
    summary();
    scatter();
    top_tokens();
    artifacts();
    triggers();
    self_influence();
    mislabels();
    planted();
    footer();
    return o_.str();
  }

 private:
  int label_index(const std::string& l) const {
    auto it = std::find(labels_.begin(), labels_.end(), l);
    return it == labels_.end() ? 0 : int(it - labels_.begin());
  }

  void head() {
    o_ << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>fathom audit: "
       << esc(str(r_["corpus"]["path"])) << "</title>\n<style>\n"
       << "body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px auto;max-width:1100px;"
          "color:#222;padding:0 16px}\n"
       << "h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd;padding-bottom:4px}\n"
       << "table{border-collapse:collapse;font-size:13px;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 6px;"
          "vertical-align:top;text-align:left}th{background:#f4f4f4}td.n{text-align:right;font-variant-numeric:tabular-nums}\n"
       << ".muted{color:#777;font-size:13px}.ev{margin:0;padding-left:16px;font-size:12px}.flex{display:flex;gap:16px;"
          "flex-wrap:wrap}.sw{display:inline-block;width:10px;height:10px;margin:0 4px 0 10px}\n"
       << "svg text{font-size:11px;font-family:inherit}.txt{max-width:420px}\n</style></head><body>\n";
  }

  void summary() {
    const auto& c = r_["corpus"];
    const auto& m = r_["method"];
    o_ << "<h1>Dataset audit: " << esc(str(c["path"])) << "</h1>\n<p>" << str(c["examples"])
       << " labelled examples";
    if (c["skipped"].get<std::int64_t>() > 0) o_ << " (" << str(c["skipped"]) << " bad records skipped)";
    o_ << ", field <b>" << esc(str(c["field"])) << "</b>, tokens: " << esc(str(r_["tokenization"]["tokenizer"]))
       << ", n-grams up to " << str(r_["tokenization"]["ngrams"]) << "; " << str(m["tests"])
       << " tokens tested.</p>\n<p>Labels:";
    for (const auto& l : r_["labels"]) {
      o_ << "<span class=\"sw\" style=\"background:" << color(label_index(l["label"])) << "\"></span>"
         << esc(str(l["label"])) << " (" << str(l["examples"]) << ", " << num(100 * dbl(l["share"]), "%.1f") << "%)";
    }
    o_ << "</p>\n<p class=\"muted\">z* = (p̂ − p₀)/√(p₀(1 − p₀)/n) against the uniform-label null p₀ = "
       << num(dbl(m["p0"]), "%.3g") << " (Gardner et al. 2021); significant above z<sub>c</sub> = "
       << num(dbl(m["z_threshold"]), "%.3f") << ", the one-sided Bonferroni threshold at α = " << num(dbl(m["alpha"]))
       << " over " << str(m["tests"]) << " tokens. PMI with add-" << num(dbl(m["smoothing"]))
       << " smoothing (Gururangan et al. 2018), natural log. Each token counts once per example.</p>\n";
  }

  void scatter() {
    const double W = 960, H = 440, ml = 56, mr = 16, mt = 16, mb = 44;
    double xmax = 1, zmin = 0, zmax = dbl(r_["method"]["z_threshold"]);
    for (const auto& p : pts_) {
      xmax = std::max(xmax, std::log10(double(std::max<std::int64_t>(p.n, 1))));
      zmin = std::min(zmin, p.z);
      zmax = std::max(zmax, p.z);
    }
    xmax = std::max(1.0, std::ceil(xmax - 1e-9));
    zmax = zmax + 0.05 * (zmax - zmin + 1);
    auto X = [&](double n) { return ml + (W - ml - mr) * std::log10(std::max(n, 1.0)) / xmax; };
    auto Y = [&](double z) { return mt + (H - mt - mb) * (zmax - z) / (zmax - zmin); };
    o_ << "<h2>z* against token frequency</h2>\n<p class=\"muted\">Each point is a token at the label where z* is "
          "largest (colour); " << pts_.size() << " of " << str(r_["method"]["tests"])
       << " tokens drawn: the 1500 largest z* and an even sample of the rest. Hover a point for its token.</p>\n";
    o_ << "<svg id=\"scatter\" width=\"" << W << "\" height=\"" << H << "\" viewBox=\"0 0 " << W << ' ' << H
       << "\" xmlns=\"http://www.w3.org/2000/svg\">\n";
    axes(W, H, ml, mr, mt, mb);
    for (int e = 0; e <= int(xmax); ++e) {
      const double x = X(std::pow(10.0, e));
      o_ << "<line x1=\"" << x << "\" y1=\"" << H - mb << "\" x2=\"" << x << "\" y2=\"" << H - mb + 4
         << "\" stroke=\"#333\"/><text x=\"" << x << "\" y=\"" << H - mb + 16 << "\" text-anchor=\"middle\">10"
         << "<tspan dy=\"-5\" font-size=\"8\">" << e << "</tspan></text>\n";
    }
    for (double z : ticks(zmin, zmax)) {
      o_ << "<line x1=\"" << ml - 4 << "\" y1=\"" << Y(z) << "\" x2=\"" << ml << "\" y2=\"" << Y(z)
         << "\" stroke=\"#333\"/><text x=\"" << ml - 6 << "\" y=\"" << Y(z) + 4 << "\" text-anchor=\"end\">" << num(z, "%g")
         << "</text>\n";
    }
    o_ << "<text x=\"" << (W + ml) / 2 << "\" y=\"" << H - 8 << "\" text-anchor=\"middle\">examples containing the token (n, log scale)</text>\n"
       << "<text transform=\"translate(14," << (H - mb) / 2 << ") rotate(-90)\" text-anchor=\"middle\">z*</text>\n";
    const double zc = dbl(r_["method"]["z_threshold"]);
    o_ << "<line class=\"bonferroni\" x1=\"" << ml << "\" y1=\"" << Y(zc) << "\" x2=\"" << W - mr << "\" y2=\"" << Y(zc)
       << "\" stroke=\"#c00\" stroke-dasharray=\"6 4\"/><text x=\"" << W - mr - 4 << "\" y=\"" << Y(zc) - 5
       << "\" text-anchor=\"end\" fill=\"#c00\">Bonferroni z_c = " << num(zc, "%.2f") << "</text>\n";
    for (const auto& p : pts_) {
      o_ << "<circle class=\"pt\" cx=\"" << num(X(double(p.n)), "%.1f") << "\" cy=\"" << num(Y(p.z), "%.1f")
         << "\" r=\"" << (p.significant ? 3 : 2) << "\" fill=\"" << color(p.label) << "\" fill-opacity=\""
         << (p.significant ? "0.9" : "0.35") << "\"><title>" << esc(p.token) << " — n " << p.n << ", z* "
         << num(p.z, "%.2f") << " for " << esc(labels_[std::size_t(p.label)]) << "</title></circle>\n";
    }
    // Outlier names: each placed at the first vertical offset where its box
    // overlaps no name placed before (largest z* first), with a leader line
    // when moved.
    struct Box {
      double x0, y0, x1, y1;
    };
    std::vector<Box> placed;
    std::vector<const ScatterPoint*> named;
    for (const auto& p : pts_)
      if (p.labelled) named.push_back(&p);
    std::stable_sort(named.begin(), named.end(), [](auto* a, auto* b) { return a->z > b->z; });
    for (const ScatterPoint* p : named) {
      const double px = X(double(p->n)), py = Y(p->z);
      const double w = 6.2 * double(p->token.size()) + 4, h = 12;
      double x = px + 5, y = py - 4;
      if (x + w > W - mr) x = px - 5 - w;
      for (int k = 0; k < 40; ++k) {
        const double dy = (k % 2 ? 1 : -1) * 13.0 * double((k + 1) / 2);
        const double ty = std::clamp(py - 4 + dy, mt + h, H - mb - 2);
        const Box b{x, ty - h + 2, x + w, ty + 2};
        bool clash = false;
        for (const Box& q : placed) clash |= b.x0 < q.x1 && q.x0 < b.x1 && b.y0 < q.y1 && q.y0 < b.y1;
        if (!clash) {
          y = ty;
          placed.push_back(b);
          break;
        }
      }
      if (std::fabs(y - (py - 4)) > 1)
        o_ << "<line x1=\"" << num(px, "%.1f") << "\" y1=\"" << num(py, "%.1f") << "\" x2=\"" << num(x < px ? x + w : x, "%.1f")
           << "\" y2=\"" << num(y - 4, "%.1f") << "\" stroke=\"" << color(p->label) << "\" stroke-width=\"0.5\"/>";
      o_ << "<text class=\"outlier\" x=\"" << num(x, "%.1f") << "\" y=\"" << num(y, "%.1f") << "\" fill=\"" << color(p->label)
         << "\">" << esc(p->token) << "</text>\n";
    }
    o_ << "</svg>\n";
  }

  void axes(double W, double H, double ml, double mr, double mt, double mb) {
    o_ << "<line x1=\"" << ml << "\" y1=\"" << H - mb << "\" x2=\"" << W - mr << "\" y2=\"" << H - mb
       << "\" stroke=\"#333\"/><line x1=\"" << ml << "\" y1=\"" << mt << "\" x2=\"" << ml << "\" y2=\"" << H - mb
       << "\" stroke=\"#333\"/>\n";
  }

  void token_row(const ojson& t, double zmax) {
    const double z = dbl(t["z"]);
    const double w = zmax > 0 ? std::max(0.0, 80.0 * z / zmax) : 0;
    o_ << "<tr><td>" << esc(str(t["token"])) << "</td><td class=\"n\">" << str(t["n"]) << "</td><td class=\"n\">"
       << num(100 * dbl(t["p_hat"]), "%.1f") << "%</td><td class=\"n\">" << num(z, "%.2f")
       << " <svg width=\"82\" height=\"9\"><rect width=\"" << num(w, "%.1f") << "\" height=\"9\" fill=\""
       << (t["significant"].get<bool>() ? "#c00" : "#bbb") << "\"/></svg></td><td class=\"n\">" << num(dbl(t["pmi"]), "%.3f")
       << "</td></tr>\n";
  }

  void top_tokens() {
    o_ << "<h2>Top tokens per label</h2>\n<p class=\"muted\">By z*; red bars are above the Bonferroni threshold. "
          "p̂ = share of the token's examples that have the label.</p>\n<div class=\"flex\">\n";
    for (const auto& [label, list] : r_["top_tokens"].items()) {
      double zmax = 0;
      for (const auto& t : list) zmax = std::max(zmax, dbl(t["z"]));
      o_ << "<div><b style=\"color:" << color(label_index(label)) << "\">" << esc(label) << "</b> ("
         << str(r_["significant"][label]) << " significant)\n<table class=\"top\"><tr><th>token</th><th>n</th><th>p̂</th>"
         << "<th>z*</th><th>PMI</th></tr>\n";
      for (const auto& t : list) token_row(t, zmax);
      o_ << "</table></div>\n";
    }
    o_ << "</div>\n";
  }

  void evidence(const ojson& ev) {
    o_ << "<ul class=\"ev\">";
    for (const auto& e : ev) o_ << "<li>" << esc(str(e)) << "</li>";
    o_ << "</ul>";
  }

  void artifacts() {
    const auto& a = r_["artifacts"];
    o_ << "<h2>Likely artifacts</h2>\n";
    if (a.empty()) {
      o_ << "<p>No token is above the Bonferroni threshold.</p>\n";
      return;
    }
    o_ << "<p class=\"muted\">Significant tokens that are also trigger tokens first, then by z*; trigger tokens "
          "that are not significant last.</p>\n<table id=\"artifacts\"><tr><th>#</th><th>token</th><th>label</th>"
          "<th>n</th><th>p̂</th><th>z*</th><th>PMI</th><th>other evidence</th></tr>\n";
    for (const auto& t : a) {
      o_ << "<tr><td class=\"n\">" << str(t["rank"]) << "</td><td><b>" << esc(str(t["token"])) << "</b></td><td style=\"color:"
         << color(label_index(str(t["label"]))) << "\">" << esc(str(t["label"])) << "</td><td class=\"n\">" << str(t["n"])
         << "</td><td class=\"n\">" << num(100 * dbl(t["p_hat"]), "%.1f") << "%</td><td class=\"n\">"
         << num(dbl(t["z"]), "%.2f") << "</td><td class=\"n\">" << num(dbl(t["pmi"]), "%.3f") << "</td><td>";
      // The statistics are in the columns; the page lists the other methods' evidence.
      ojson other = ojson::array();
      for (const auto& e : t["evidence"])
        if (str(e).rfind("in trigger", 0) == 0) other.push_back(e);
      evidence(other);
      o_ << "</td></tr>\n";
    }
    o_ << "</table>\n";
  }

  void triggers() {
    const auto& x = r_["cross_references"];
    if (!x.contains("triggers")) return;
    const auto& list = x["triggers"]["triggers"];
    o_ << "<h2>Universal triggers</h2>\n<p class=\"muted\">From " << esc(str(x["triggers"]["path"]))
       << ": flip rate of each trigger and the audit's z* of its tokens.</p>\n";
    const double W = 520, row = 22;
    o_ << "<svg id=\"triggers\" width=\"" << W << "\" height=\"" << row * double(list.size()) + 24
       << "\" xmlns=\"http://www.w3.org/2000/svg\">\n";
    for (std::size_t i = 0; i < list.size(); ++i) {
      const auto& t = list[i];
      std::string name;
      for (const auto& tok : t["tokens"]) name += (name.empty() ? "" : " ") + str(tok["token"]);
      const double fr = dbl(t["flip_rate"]);
      const double y = 4 + row * double(i);
      o_ << "<text x=\"0\" y=\"" << y + 13 << "\">" << esc(name.size() > 28 ? name.substr(0, 28) + "…" : name) << "</text>";
      if (std::isfinite(fr)) {
        o_ << "<rect x=\"190\" y=\"" << y << "\" width=\"" << num(260 * std::clamp(fr, 0.0, 1.0), "%.1f")
           << "\" height=\"16\" fill=\"#d62728\"/><text x=\"" << 196 + 260 * std::clamp(fr, 0.0, 1.0) << "\" y=\""
           << y + 13 << "\">" << num(100 * fr, "%.1f") << "%</text>";
      } else {
        o_ << "<text x=\"190\" y=\"" << y + 13 << "\" fill=\"#777\">no flip rate given</text>";
      }
      o_ << "\n";
    }
    o_ << "</svg>\n<table><tr><th>#</th><th>target</th><th>flip rate</th><th>accuracy before → after</th>"
          "<th>tokens (audit z*, label)</th></tr>\n";
    for (std::size_t i = 0; i < list.size(); ++i) {
      const auto& t = list[i];
      o_ << "<tr><td class=\"n\">" << i + 1 << "</td><td>" << esc(str(t["target"])) << "</td><td class=\"n\">"
         << num(dbl(t["flip_rate"]), "%.3f") << "</td><td class=\"n\">" << num(dbl(t["accuracy_before"]), "%.3f")
         << " → " << num(dbl(t["accuracy_after"]), "%.3f") << "</td><td>";
      for (const auto& tok : t["tokens"]) {
        o_ << "<b>" << esc(str(tok["token"])) << "</b> ";
        if (tok.contains("z"))
          o_ << "(" << num(dbl(tok["z"]), "%.2f") << (tok["significant"].get<bool>() ? "*" : "") << ", "
             << esc(str(tok["label"])) << ") ";
        else
          o_ << "(not in corpus) ";
      }
      o_ << "</td></tr>\n";
    }
    o_ << "</table>\n";
  }

  void self_influence() {
    const auto& x = r_["cross_references"];
    if (!x.contains("self_influence")) return;
    const auto& h = x["self_influence"]["histogram"];
    const auto& edges = h["edges"];
    const auto& counts = h["counts"];
    const bool flips = h.contains("planted_flips");
    const double W = 960, H = 300, ml = 56, mr = 16, mt = 12, mb = 58;
    const std::size_t bins = counts.size();
    double cmax = 1;
    for (const auto& c : counts) cmax = std::max(cmax, double(c.get<std::int64_t>()));
    const double lo = dbl(edges.front()), hi = dbl(edges.back());
    auto X = [&](double v) { return ml + (W - ml - mr) * (hi > lo ? (v - lo) / (hi - lo) : 0.5); };
    auto Y = [&](double c) { return mt + (H - mt - mb) * (1 - c / cmax); };
    o_ << "<h2>Self-influence</h2>\n<p class=\"muted\">Histogram of " << str(x["self_influence"]["rows"])
       << " scores from " << esc(str(x["self_influence"]["path"])) << "; red marks below the axis: the listed "
       << "mislabel candidates" << (flips ? "; orange: examples whose label was flipped (planted truth)" : "")
       << ".</p>\n<svg id=\"self-influence\" width=\"" << W << "\" height=\"" << H << "\" xmlns=\"http://www.w3.org/2000/svg\">\n";
    const double bw = (W - ml - mr) / double(bins);
    for (std::size_t b = 0; b < bins; ++b) {
      const double c = double(counts[b].get<std::int64_t>());
      o_ << "<rect class=\"bin\" x=\"" << num(ml + bw * double(b), "%.1f") << "\" y=\"" << num(Y(c), "%.1f")
         << "\" width=\"" << num(bw - 1, "%.1f") << "\" height=\"" << num(H - mb - Y(c), "%.1f")
         << "\" fill=\"#9ab\"><title>" << num(dbl(edges[b])) << " – " << num(dbl(edges[b + 1])) << ": " << c
         << "</title></rect>";
      if (flips) {
        const double f = double(h["planted_flips"][b].get<std::int64_t>());
        if (f > 0)
          o_ << "<rect class=\"flip\" x=\"" << num(ml + bw * double(b), "%.1f") << "\" y=\"" << num(Y(f), "%.1f")
             << "\" width=\"" << num(bw - 1, "%.1f") << "\" height=\"" << num(H - mb - Y(f), "%.1f")
             << "\" fill=\"#ff7f0e\"><title>flipped: " << f << "</title></rect>";
      }
      o_ << "\n";
    }
    axes(W, H, ml, mr, mt, mb);
    for (double v : ticks(lo, hi))
      o_ << "<text x=\"" << X(v) << "\" y=\"" << H - mb + 28 << "\" text-anchor=\"middle\">" << num(v, "%g") << "</text>";
    for (double c : ticks(0, cmax, 4))
      o_ << "<text x=\"" << ml - 6 << "\" y=\"" << Y(c) + 4 << "\" text-anchor=\"end\">" << num(c, "%g") << "</text>";
    for (const auto& s : h["suspects"])
      o_ << "<line class=\"suspect\" x1=\"" << num(X(dbl(s)), "%.1f") << "\" y1=\"" << H - mb + 3 << "\" x2=\""
         << num(X(dbl(s)), "%.1f") << "\" y2=\"" << H - mb + 14 << "\" stroke=\"#c00\" stroke-width=\"1.5\"/>";
    o_ << "\n<text x=\"" << (W + ml) / 2 << "\" y=\"" << H - 6 << "\" text-anchor=\"middle\">self-influence score</text>"
       << "</svg>\n";
  }

  void mislabels() {
    const auto& m = r_["mislabels"];
    bool any = false;
    for (const char* s : kMislabelSources) any |= r_["cross_references"].contains(s);
    if (!any) return;
    o_ << "<h2>Likely mislabels</h2>\n<p class=\"muted\">Score = mean over the sources given of the example's "
          "percentile in each (1 = the top); candidates are each source's top rows.</p>\n<table id=\"suspects\">"
          "<tr><th>#</th><th>id</th><th>label</th><th>score</th><th>evidence</th><th>text</th></tr>\n";
    for (const auto& s : m) {
      const bool flip = s.value("planted_flip", false);
      o_ << "<tr class=\"suspect\"><td class=\"n\">" << str(s["rank"]) << "</td><td>" << esc(str(s["id"]))
         << (flip ? " <b style=\"color:#ff7f0e\">flipped</b>" : "") << "</td><td>" << esc(str(s["label"]))
         << "</td><td class=\"n\">" << num(dbl(s["score"]), "%.4f") << "</td><td>";
      evidence(s["evidence"]);
      o_ << "</td><td class=\"txt\">" << esc(str(s["text"]));
      if (s.contains("text_pair")) o_ << "<br><i>" << esc(str(s["text_pair"])) << "</i>";
      o_ << "</td></tr>\n";
    }
    o_ << "</table>\n";
  }

  void planted() {
    if (!r_.contains("planted")) return;
    const auto& p = r_["planted"];
    o_ << "<h2>Planted truth</h2>\n<p class=\"muted\">" << esc(str(p["truth"])) << "</p>\n<table><tr><th>artifact</th>"
          "<th>label</th><th>rank by z* for its label</th><th>z*</th></tr>\n";
    for (const auto& a : p["artifacts"])
      o_ << "<tr><td>" << esc(str(a["token"])) << "</td><td>" << esc(str(a["label"])) << "</td><td class=\"n\">"
         << str(a["rank_for_label"]) << "</td><td class=\"n\">" << num(dbl(a.value("z", ojson())), "%.2f") << "</td></tr>\n";
    const auto& f = p["flipped"];
    o_ << "</table>\n<p>Flipped labels: " << str(f["planted"]) << " planted; " << str(f["flipped_among_listed"])
       << " of the " << str(f["listed"]) << " listed mislabel candidates.";
    for (const char* s : kMislabelSources)
      if (f.contains(s))
        o_ << " " << s << ": recall in its top 10% " << num(100 * dbl(f[s]["recall_top_10pct"]), "%.1f")
           << "%, ROC AUC " << num(dbl(f[s]["roc_auc"]), "%.3f") << ".";
    o_ << "</p>\n";
  }

  void footer() {
    const auto& t = r_["timing"];
    const auto& m = r_["memory"];
    o_ << "<p class=\"muted\" style=\"margin-top:32px\">fathom " << esc(str(r_["fathom_version"])) << ", "
       << esc(str(r_["created_at"])) << "; " << str(m["ranks"]) << " rank(s); counting " << num(dbl(t["count_s"]), "%.1f")
       << " s; peak memory " << num(dbl(m["peak_rss_bytes"]) / 1048576.0, "%.0f") << " MiB per rank (largest).</p>\n"
       << "</body></html>\n";
  }

  const ojson& r_;
  const std::vector<ScatterPoint>& pts_;
  std::vector<std::string> labels_;
  std::ostringstream o_;
};

}  // namespace

std::string render_html(const ojson& report, const std::vector<ScatterPoint>& scatter) {
  return Page(report, scatter).render();
}

}  // namespace fathom::audit::detail
