#pragma once
// Streaming writers for synthetic corpora. Private to src/data/synth*.
// Both write "<path>.tmp.<pid>" through AtomicFile and rename on commit, so a
// killed run never leaves a complete-looking file.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "fathom/core/atomic_file.h"
#include "fathom/core/hash.h"

namespace fathom::data::synth {

// Lines are gathered into ~1 MiB chunks before they reach the stream (fewer,
// larger writes) and hashed on the way, for the provenance record.
class LineWriter {
 public:
  explicit LineWriter(const std::string& path) : file_(path) {}
  void write(const nlohmann::ordered_json& object);
  std::string commit();  // returns the SHA-256 (hex) of the file

 private:
  void flush();
  AtomicFile file_;
  std::string buf_;
  Sha256 sha_;
};

// truth.json written top to bottom: header fields, then the (possibly huge)
// "flipped" array one entry per line as flips happen, then the fields known
// only at the end. Nothing proportional to n is kept in memory.
class TruthWriter {
 public:
  explicit TruthWriter(const std::string& path);
  void field(const std::string& key, const nlohmann::ordered_json& value);  // before begin_flipped()
  void begin_flipped();
  void flipped(const std::string& id, const std::string& original, const std::string& flipped_to);
  void end_flipped();
  // After end_flipped(): `last` marks the final field. Then commit().
  void tail_field(const std::string& key, const nlohmann::ordered_json& value, bool last);
  void commit();

 private:
  AtomicFile file_;
  std::string buf_;
  bool any_flipped_ = false;
};

}  // namespace fathom::data::synth
