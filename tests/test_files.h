#pragma once
// Reading what a test's command or library call wrote: whole files, JSON
// documents and JSON-lines files. Header-only, for every test target.
#include <nlohmann/json.hpp>

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace fathom::testing {

// The file's bytes ("" when it cannot be opened).
inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// One JSON document (throws nlohmann's parse_error when it is not one).
inline nlohmann::json read_json(const std::string& path) { return nlohmann::json::parse(slurp(path)); }

// One JSON value per non-empty line.
inline std::vector<nlohmann::json> read_jsonl(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  return out;
}

}  // namespace fathom::testing
