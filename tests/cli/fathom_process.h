#pragma once
// Runs the real `fathom` binary (FATHOM_BINARY) from a test.
#include <sys/wait.h>

#include <cstdio>
#include <string>

namespace fathom::cli::testing {

struct Result {
  int code = -1;       // exit code; 128 if killed by a signal, -1 if it could not start
  std::string output;  // stdout, and stderr unless stdout_only
};

// `args` are appended to the binary's path unquoted (the shell splits them).
inline Result run_fathom(const std::string& args, bool stdout_only = false) {
  const std::string cmd = std::string(FATHOM_BINARY) + " " + args + (stdout_only ? " 2>/dev/null" : " 2>&1");
  Result r;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) r.output.append(buf, n);
  const int status = ::pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
  return r;
}

}  // namespace fathom::cli::testing
