#include "fathom/core/memory.h"

#include <fstream>
#include <string>

namespace fathom {
namespace {

// The value of one "<key>:  <n> kB" line of /proc/self/status, in bytes.
std::int64_t status_kib_field(const char* key) {
  std::ifstream in("/proc/self/status");
  const std::string prefix = std::string(key) + ":";
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(prefix, 0) == 0) return std::int64_t(std::stoll(line.substr(prefix.size()))) * 1024;
  }
  return 0;
}

}  // namespace

std::int64_t peak_rss_bytes() { return status_kib_field("VmHWM"); }

std::int64_t current_rss_bytes() { return status_kib_field("VmRSS"); }

bool reset_peak_rss() {
  std::ofstream out("/proc/self/clear_refs");
  if (!out) return false;
  out << "5";
  out.flush();
  return bool(out);
}

}  // namespace fathom
