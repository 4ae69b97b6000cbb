#include "synth_io.h"

#include "fathom/core/error.h"

namespace fathom::data::synth {
namespace {
constexpr std::size_t kChunk = 1 << 20;

void drain(AtomicFile& file, std::string& buf) {
  file.stream().write(buf.data(), static_cast<std::streamsize>(buf.size()));
  if (!file.stream()) throw Error("write to '" + file.path() + "' failed (disk full?)");
  buf.clear();
}
}  // namespace

void LineWriter::write(const nlohmann::ordered_json& object) {
  buf_ += object.dump();
  buf_ += '\n';
  if (buf_.size() >= kChunk) flush();
}

void LineWriter::flush() {
  sha_.update(buf_);
  drain(file_, buf_);
}

std::string LineWriter::commit() {
  flush();
  file_.commit();
  return sha_.hex_digest();
}

TruthWriter::TruthWriter(const std::string& path) : file_(path) {
  buf_ = "{\n";
}

void TruthWriter::field(const std::string& key, const nlohmann::ordered_json& value) {
  buf_ += "  " + nlohmann::json(key).dump() + ": " + value.dump() + ",\n";
}

void TruthWriter::begin_flipped() {
  buf_ += "  \"flipped\": [";
}

void TruthWriter::flipped(const std::string& id, const std::string& original, const std::string& flipped_to) {
  nlohmann::ordered_json e;
  e["id"] = id;
  e["original"] = original;
  e["flipped_to"] = flipped_to;
  buf_ += any_flipped_ ? ",\n    " : "\n    ";
  buf_ += e.dump();
  any_flipped_ = true;
  if (buf_.size() >= kChunk) drain(file_, buf_);
}

void TruthWriter::end_flipped() {
  buf_ += any_flipped_ ? "\n  ],\n" : "],\n";
}

void TruthWriter::tail_field(const std::string& key, const nlohmann::ordered_json& value, bool last) {
  buf_ += "  " + nlohmann::json(key).dump() + ": " + value.dump() + (last ? "\n}\n" : ",\n");
}

void TruthWriter::commit() {
  drain(file_, buf_);
  file_.commit();
}

}  // namespace fathom::data::synth
