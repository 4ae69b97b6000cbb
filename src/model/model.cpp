// Model-independent helpers of the contract: moving batches, the parameter
// filter (globs + groups) and per-rank thread counts.
#include "fathom/model/model.h"

#include <algorithm>
#include <set>
#include <sstream>

#include "fathom/core/error.h"
#include "fathom/core/threads.h"

namespace fathom::model {

Batch Batch::to(const torch::Device& d) const {
  Batch out;
  // Undefined tensors (e.g. labels of an unlabelled corpus) stay undefined.
  auto move = [&](const torch::Tensor& t) { return t.defined() ? t.to(d) : t; };
  out.ids = move(ids);
  out.mask = move(mask);
  out.type_ids = move(type_ids);
  out.labels = move(labels);
  out.rows = rows;
  return out;
}

bool glob_match(const std::string& pattern, const std::string& name) {
  // Iterative wildcard matching: on a mismatch, backtrack to the last '*' and
  // let it swallow one more character. Linear in practice, no recursion.
  std::size_t p = 0, n = 0;
  std::size_t star = std::string::npos, star_n = 0;
  while (n < name.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == name[n])) {
      ++p;
      ++n;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      star_n = n;
    } else if (star != std::string::npos) {
      p = star + 1;
      n = ++star_n;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

namespace {

std::string trim(const std::string& s) {
  auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return {};
  auto e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

std::string available_names(const std::vector<NamedParameter>& params,
                            const std::map<std::string, std::vector<std::string>>& groups) {
  std::ostringstream os;
  os << "groups: all";
  for (const auto& [group, members] : groups) os << ", " << group;
  os << "; parameters:";
  for (const auto& [name, tensor] : params) os << " " << name;
  return os.str();
}

}  // namespace

std::vector<NamedParameter> select_parameters(Model& model, const std::string& filter) {
  auto params = model.named_parameters();
  auto groups = model.parameter_groups();

  std::set<std::string> chosen;
  bool any_term = false;
  std::stringstream terms(filter);
  std::string term;
  while (std::getline(terms, term, ',')) {
    term = trim(term);
    if (term.empty()) continue;
    any_term = true;
    bool matched = false;
    if (term == "all") {
      for (const auto& p : params) chosen.insert(p.first);
      matched = !params.empty();
    } else if (auto g = groups.find(term); g != groups.end()) {
      chosen.insert(g->second.begin(), g->second.end());
      matched = !g->second.empty();
    } else {
      for (const auto& p : params) {
        if (glob_match(term, p.first)) {
          chosen.insert(p.first);
          matched = true;
        }
      }
    }
    if (!matched) {
      throw UsageError("parameter filter '" + term + "' matches no parameter of the " + model.architecture() +
                       " model (" + available_names(params, groups) + ")");
    }
  }
  if (!any_term) throw UsageError("empty parameter filter (use 'classifier', 'all', a group or globs)");

  // Keep the model's order: caches and projections depend on it.
  std::vector<NamedParameter> out;
  for (const auto& p : params)
    if (chosen.count(p.first)) out.push_back(p);
  return out;
}

int configure_threads(int requested) {
  // cores (affinity mask) / ranks on this node, so co-located ranks don't oversubscribe.
  int threads = threads_per_rank(requested);
  torch::set_num_threads(threads);
  return threads;
}

}  // namespace fathom::model
