#pragma once
// Small text helpers every module's messages use.
#include <string>
#include <vector>

namespace fathom {

// "a, b, c" (or with another separator); "" for an empty list.
inline std::string join(const std::vector<std::string>& parts, const std::string& separator = ", ") {
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) out += (i ? separator : std::string()) + parts[i];
  return out;
}

}  // namespace fathom
