// Job file parsing and validation (TOML via toml++).
#include <toml++/toml.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "fathom/cli/job.h"
#include "fathom/core/error.h"
#include "fathom/core/hash.h"
#include "fathom/core/strings.h"

namespace fathom::cli {
namespace {

std::int64_t line_of(const toml::node& n) { return std::int64_t(n.source().begin.line); }

std::string substitute(std::string s, const Job& job, const std::string& job_dir) {
  std::vector<std::pair<std::string, std::string>> vars = {
      {"{out}", job.out_dir}, {"{seed}", std::to_string(job.seed)}, {"{job_dir}", job_dir}};
  for (auto& [name, value] : job.vars) vars.emplace_back("{" + name + "}", value);
  for (auto& [key, value] : vars) s = replace_all(std::move(s), key, value);
  return s;
}

// One TOML value -> the text of a command-line value.
std::string scalar_text(const toml::node& v, const std::string& file, const std::string& field) {
  if (auto s = v.as_string()) return s->get();
  if (auto i = v.as_integer()) return std::to_string(i->get());
  if (auto f = v.as_floating_point()) {
    std::ostringstream os;
    os.precision(17);
    os << f->get();
    return os.str();
  }
  throw InputError(file, line_of(v), field, "expected a string, number, boolean or array of those");
}

std::string get_string(const toml::table& t, const char* key, const std::string& file, const std::string& where,
                       bool required, std::int64_t line) {
  const toml::node* n = t.get(key);
  if (!n) {
    if (required) throw InputError(file, line, where + "." + key, "missing (expected a string)");
    return "";
  }
  auto s = n->as_string();
  if (!s) throw InputError(file, line_of(*n), where + "." + key, "expected a string");
  return s->get();
}

// A non-negative integer at t[key], if present.
std::optional<std::int64_t> get_count(const toml::table& t, const char* key, const std::string& file,
                                      const std::string& where) {
  const toml::node* n = t.get(key);
  if (!n) return std::nullopt;
  auto i = n->as_integer();
  if (!i || i->get() < 0) throw InputError(file, line_of(*n), where + "." + key, "expected a non-negative integer");
  return i->get();
}

void reject_unknown_keys(const toml::table& t, const std::vector<std::string>& known, const std::string& file,
                         const std::string& where) {
  for (auto&& [k, v] : t) {
    if (std::find(known.begin(), known.end(), k.str()) != known.end()) continue;
    throw InputError(file, line_of(v), where + "." + std::string(k.str()), "unknown key (expected " + join(known) + ")");
  }
}

toml::table parse_toml(const std::string& path) {
  if (!std::filesystem::exists(path)) throw InputError(path, "job file not found");
  try {
    return toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    throw InputError(path, std::int64_t(e.source().begin.line), "",
                     "TOML syntax error at column " + std::to_string(e.source().begin.column) + ": " +
                         std::string(e.description()));
  }
}

// [job.vars]: name -> text of a string or number, then the --set overrides.
std::map<std::string, std::string> read_vars(const toml::table& jt, const std::string& path,
                                             const std::vector<std::string>& sets) {
  std::map<std::string, std::string> vars;
  if (const toml::node* n = jt.get("vars")) {
    const toml::table* vt = n->as_table();
    if (!vt) throw InputError(path, line_of(*n), "job.vars", "expected a table of name = value");
    for (auto&& [k, v] : *vt) {
      const std::string name(k.str());
      if (name == "out" || name == "seed" || name == "job_dir")
        throw InputError(path, line_of(v), "job.vars." + name, "reserved name (set it in [job] instead)");
      if (v.is_boolean() || v.is_array() || v.is_table())
        throw InputError(path, line_of(v), "job.vars." + name, "expected a string or a number");
      vars[name] = scalar_text(v, path, "job.vars." + name);
    }
  }
  for (const auto& set : sets) {
    const auto eq = set.find('=');
    if (eq == std::string::npos || eq == 0)
      throw UsageError("--set '" + set + "': expected name=value");
    const std::string name = set.substr(0, eq);
    auto it = vars.find(name);
    if (it == vars.end()) {
      std::vector<std::string> names;
      for (auto& [k, v] : vars) names.push_back(k);
      const std::string known = join(names);
      throw UsageError("--set " + name + ": " + path + " has no [job.vars] entry '" + name + "' (it has: " +
                       (known.empty() ? "none" : known) + ")");
    }
    it->second = set.substr(eq + 1);
  }
  return vars;
}

// [job]: name, out, seed, ranks, vars (steps are read separately).
Job read_job_table(const toml::table& root, const std::string& path, const std::string& out_override,
                   const std::vector<std::string>& sets) {
  const toml::table* jt = root["job"].as_table();
  if (!jt) throw InputError(path, 0, "job", "missing [job] table (expected name, out, seed, ranks)");
  reject_unknown_keys(*jt, {"name", "out", "seed", "ranks", "vars"}, path, "job");
  const std::int64_t line = line_of(*jt);
  Job job;
  job.path = path;
  job.name = get_string(*jt, "name", path, "job", false, line);
  if (job.name.empty()) job.name = std::filesystem::path(path).stem().string();
  job.out_dir = out_override.empty() ? get_string(*jt, "out", path, "job", true, line) : out_override;
  if (auto seed = get_count(*jt, "seed", path, "job")) job.seed = std::uint64_t(*seed);
  if (auto ranks = get_count(*jt, "ranks", path, "job")) job.ranks = int(*ranks);
  job.vars = read_vars(*jt, path, sets);
  // [job].out may name a variable (e.g. out = "out/scale-{n}").
  for (auto& [name, value] : job.vars) job.out_dir = replace_all(std::move(job.out_dir), "{" + name + "}", value);
  return job;
}

// Reads one [[step]] table into a JobStep (without its hash).
class StepReader {
 public:
  StepReader(const Job& job, const std::vector<std::string>& known_commands)
      : job_(job),
        job_dir_(std::filesystem::absolute(job.path).parent_path().string()),
        known_commands_(known_commands) {}

  JobStep read(const toml::table& st, const std::string& where) const {
    reject_unknown_keys(st, {"name", "command", "args", "outputs"}, job_.path, where);
    JobStep s;
    s.line = line_of(st);
    s.command = command_of(st, where, s.line);
    s.name = get_string(st, "name", job_.path, where, false, s.line);
    if (s.name.empty()) s.name = s.command;
    s.argv.push_back(s.command);
    std::string out_arg = append_args(st, where, s.argv);
    s.outputs = outputs_of(st, where);
    if (!st.get("outputs") && !out_arg.empty()) s.outputs.push_back(out_arg);
    return s;
  }

 private:
  std::string command_of(const toml::table& st, const std::string& where, std::int64_t line) const {
    std::string command = get_string(st, "command", job_.path, where, true, line);
    if (!known_commands_.empty() &&
        std::find(known_commands_.begin(), known_commands_.end(), command) == known_commands_.end()) {
      throw InputError(job_.path, line, where + ".command",
                       "unknown command '" + command + "' (expected one of: " + join(known_commands_) + ")");
    }
    if (command == "run") throw InputError(job_.path, line, where + ".command", "a job cannot run another job");
    return command;
  }

  // [step.args] -> "--key value" pairs (true: bare flag; false: omitted;
  // arrays comma-joined). Returns the value of `out`, if given.
  std::string append_args(const toml::table& st, const std::string& where, std::vector<std::string>& argv) const {
    const toml::node* a = st.get("args");
    if (!a) return "";
    const toml::table* args = a->as_table();
    if (!args) throw InputError(job_.path, line_of(*a), where + ".args", "expected a table of options");
    std::string out_arg;
    for (auto&& [k, v] : *args) {
      const std::string key(k.str());
      const std::string field = where + ".args." + key;
      if (auto b = v.as_boolean()) {
        if (b->get()) argv.push_back("--" + key);
        continue;
      }
      std::string value;
      if (auto arr = v.as_array()) {
        for (auto& e : *arr) value += (value.empty() ? "" : ",") + scalar_text(e, job_.path, field);
      } else {
        value = scalar_text(v, job_.path, field);
      }
      value = substitute(value, job_, job_dir_);
      if (key == "out") out_arg = value;
      argv.push_back("--" + key);
      argv.push_back(value);
    }
    return out_arg;
  }

  std::vector<std::string> outputs_of(const toml::table& st, const std::string& where) const {
    std::vector<std::string> outputs;
    const toml::node* o = st.get("outputs");
    if (!o) return outputs;
    const toml::array* arr = o->as_array();
    if (!arr) throw InputError(job_.path, line_of(*o), where + ".outputs", "expected an array of paths");
    for (auto& e : *arr) {
      auto sv = e.as_string();
      if (!sv) throw InputError(job_.path, line_of(e), where + ".outputs", "expected strings");
      outputs.push_back(substitute(sv->get(), job_, job_dir_));
    }
    return outputs;
  }

  const Job& job_;
  std::string job_dir_;
  const std::vector<std::string>& known_commands_;
};

// sha256 over the previous step's hash and this step's argv (NUL-separated),
// so a change to one step changes the hash of every step after it.
std::string step_hash(const std::string& previous_hash, const std::vector<std::string>& argv) {
  Sha256 h;
  h.update(previous_hash);
  for (auto& a : argv) {
    h.update(a);
    h.update("\0", 1);
  }
  return h.hex_digest();
}

}  // namespace

Job load_job(const std::string& path, const std::string& out_override,
             const std::vector<std::string>& known_commands, const std::vector<std::string>& sets) {
  const toml::table root = parse_toml(path);
  Job job = read_job_table(root, path, out_override, sets);
  const toml::array* steps = root["step"].as_array();
  if (!steps || steps->empty()) throw InputError(path, 0, "step", "no [[step]] entries (a job needs at least one step)");
  const StepReader reader(job, known_commands);
  std::set<std::string> names;
  std::string previous_hash;
  for (std::size_t i = 0; i < steps->size(); ++i) {
    const std::string where = "step[" + std::to_string(i + 1) + "]";
    const toml::table* st = (*steps)[i].as_table();
    if (!st) throw InputError(path, line_of((*steps)[i]), where, "expected a table");
    JobStep s = reader.read(*st, where);
    if (!names.insert(s.name).second)
      throw InputError(path, s.line, where + ".name", "duplicate step name '" + s.name + "' (names must be unique)");
    s.hash = step_hash(previous_hash, s.argv);
    previous_hash = s.hash;
    job.steps.push_back(std::move(s));
  }
  return job;
}

}  // namespace fathom::cli
