#pragma once
// Runs Debian's /usr/bin/python3 from a test (numpy/h5py cross-checks).
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <string>

namespace fathom::store::testing {

inline constexpr const char* kPython = "/usr/bin/python3";

struct PythonResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

// Writes `script` to `script_path` and runs it with `args` (already quoted).
inline PythonResult run_python(const std::string& script_path, const std::string& script, const std::string& args) {
  std::ofstream(script_path) << script;
  const std::string cmd = std::string(kPython) + " " + script_path + " " + args + " 2>&1";
  PythonResult r;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  std::size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.output.append(buf.data(), n);
  const int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// True if python3 can import all of `modules` (e.g. "numpy" or "h5py, numpy").
inline bool python_has(const std::string& modules) {
  const std::string cmd = std::string(kPython) + " -c 'import " + modules + "' >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

}  // namespace fathom::store::testing
