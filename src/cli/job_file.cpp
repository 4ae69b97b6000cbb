// Job file parsing and validation (TOML via toml++).
#include <toml++/toml.h>

#include <filesystem>
#include <set>
#include <sstream>

#include "fathom/cli/job.h"
#include "fathom/core/error.h"
#include "fathom/core/hash.h"

namespace fathom::cli {
namespace {

std::int64_t line_of(const toml::node& n) { return std::int64_t(n.source().begin.line); }

std::string substitute(std::string s, const Job& job, const std::string& job_dir) {
  const std::pair<std::string, std::string> vars[] = {
      {"{out}", job.out_dir}, {"{seed}", std::to_string(job.seed)}, {"{job_dir}", job_dir}};
  for (auto& [key, value] : vars) {
    for (std::size_t p = s.find(key); p != std::string::npos; p = s.find(key, p + value.size()))
      s.replace(p, key.size(), value);
  }
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

}  // namespace

Job load_job(const std::string& path, const std::string& out_override,
             const std::vector<std::string>& known_commands) {
  if (!std::filesystem::exists(path)) throw InputError(path, "job file not found");
  toml::table root;
  try {
    root = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    throw InputError(path, std::int64_t(e.source().begin.line), "",
                     "TOML syntax error at column " + std::to_string(e.source().begin.column) + ": " +
                         std::string(e.description()));
  }
  Job job;
  job.path = path;
  const toml::table* jt = root["job"].as_table();
  if (!jt) throw InputError(path, 0, "job", "missing [job] table (expected name, out, seed, ranks)");
  std::int64_t jline = line_of(*jt);
  job.name = get_string(*jt, "name", path, "job", false, jline);
  if (job.name.empty()) job.name = std::filesystem::path(path).stem().string();
  job.out_dir = out_override.empty() ? get_string(*jt, "out", path, "job", true, jline) : out_override;
  if (const toml::node* s = jt->get("seed")) {
    auto i = s->as_integer();
    if (!i || i->get() < 0) throw InputError(path, line_of(*s), "job.seed", "expected a non-negative integer");
    job.seed = std::uint64_t(i->get());
  }
  if (const toml::node* r = jt->get("ranks")) {
    auto i = r->as_integer();
    if (!i || i->get() < 0) throw InputError(path, line_of(*r), "job.ranks", "expected a non-negative integer");
    job.ranks = int(i->get());
  }
  for (auto&& [k, v] : *jt) {
    static const std::set<std::string> known = {"name", "out", "seed", "ranks"};
    if (!known.count(std::string(k.str())))
      throw InputError(path, line_of(v), "job." + std::string(k.str()), "unknown key (expected name, out, seed, ranks)");
  }

  const toml::array* steps = root["step"].as_array();
  if (!steps || steps->empty()) throw InputError(path, 0, "step", "no [[step]] entries (a job needs at least one step)");
  const std::string job_dir = std::filesystem::absolute(path).parent_path().string();
  std::set<std::string> names;
  std::string prev_hash;
  for (std::size_t i = 0; i < steps->size(); ++i) {
    const toml::table* st = (*steps)[i].as_table();
    std::string where = "step[" + std::to_string(i + 1) + "]";
    if (!st) throw InputError(path, line_of((*steps)[i]), where, "expected a table");
    JobStep s;
    s.line = line_of(*st);
    s.command = get_string(*st, "command", path, where, true, s.line);
    s.name = get_string(*st, "name", path, where, false, s.line);
    if (s.name.empty()) s.name = s.command;
    if (!names.insert(s.name).second)
      throw InputError(path, s.line, where + ".name", "duplicate step name '" + s.name + "' (names must be unique)");
    if (!known_commands.empty() &&
        std::find(known_commands.begin(), known_commands.end(), s.command) == known_commands.end()) {
      std::string list;
      for (auto& c : known_commands) list += (list.empty() ? "" : ", ") + c;
      throw InputError(path, s.line, where + ".command", "unknown command '" + s.command + "' (expected one of: " + list + ")");
    }
    if (s.command == "run") throw InputError(path, s.line, where + ".command", "a job cannot run another job");
    s.argv.push_back(s.command);
    std::string out_arg;
    if (const toml::node* a = st->get("args")) {
      const toml::table* args = a->as_table();
      if (!args) throw InputError(path, line_of(*a), where + ".args", "expected a table of options");
      for (auto&& [k, v] : *args) {
        std::string key(k.str());
        std::string field = where + ".args." + key;
        if (auto b = v.as_boolean()) {
          if (b->get()) s.argv.push_back("--" + key);
          continue;
        }
        std::string value;
        if (auto arr = v.as_array()) {
          for (auto& e : *arr) value += (value.empty() ? "" : ",") + scalar_text(e, path, field);
        } else {
          value = scalar_text(v, path, field);
        }
        value = substitute(value, job, job_dir);
        if (key == "out") out_arg = value;
        s.argv.push_back("--" + key);
        s.argv.push_back(value);
      }
    }
    if (const toml::node* o = st->get("outputs")) {
      const toml::array* arr = o->as_array();
      if (!arr) throw InputError(path, line_of(*o), where + ".outputs", "expected an array of paths");
      for (auto& e : *arr) {
        auto sv = e.as_string();
        if (!sv) throw InputError(path, line_of(e), where + ".outputs", "expected strings");
        s.outputs.push_back(substitute(sv->get(), job, job_dir));
      }
    } else if (!out_arg.empty()) {
      s.outputs.push_back(out_arg);
    }
    for (auto&& [k, v] : *st) {
      static const std::set<std::string> known = {"name", "command", "args", "outputs"};
      if (!known.count(std::string(k.str())))
        throw InputError(path, line_of(v), where + "." + std::string(k.str()),
                         "unknown key (expected name, command, args, outputs)");
    }
    Sha256 h;
    h.update(prev_hash);
    for (auto& a : s.argv) {
      h.update(a);
      h.update("\0", 1);
    }
    s.hash = h.hex_digest();
    prev_hash = s.hash;
    job.steps.push_back(std::move(s));
  }
  return job;
}

}  // namespace fathom::cli
