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

// Replaces every occurrence of `key` in `s` by `value` (left to right; the
// replacement text is not searched again).
inline std::string replace_all(std::string s, const std::string& key, const std::string& value) {
  if (key.empty()) return s;
  for (std::size_t p = s.find(key); p != std::string::npos; p = s.find(key, p + value.size())) s.replace(p, key.size(), value);
  return s;
}

}  // namespace fathom
