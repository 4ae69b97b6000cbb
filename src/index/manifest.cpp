// The index manifest: JSON in and out, validation that names the field, and
// the identity of the cache an index belongs to (manifest.h).
#include "fathom/index/manifest.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "fathom/core/atomic_file.h"
#include "fathom/core/error.h"
#include "fathom/core/hash.h"
#include "fathom/store/cache_names.h"
#include "fathom/store/cache_reader.h"

namespace fathom::index {
namespace {

using nlohmann::json;
namespace attr = store::cache_names::attr;

// The provenance attributes that make two caches of the same rows the same
// cache for an index (manifest.h).
constexpr const char* kIdentityAttributes[] = {attr::kModelSha256, attr::kCorpusSha256, attr::kParams,
                                               attr::kProjection,  attr::kDtype,        attr::kTarget};

// Typed, named access to one JSON object: every error says file and field.
class Fields {
 public:
  Fields(const json& object, std::string source, std::string prefix)
      : object_(object), source_(std::move(source)), prefix_(std::move(prefix)) {}

  const json& at(const std::string& key) const {
    const auto it = object_.find(key);
    if (it == object_.end()) fail(key, "missing");
    return *it;
  }
  std::string text(const std::string& key, bool non_empty = true) const {
    const json& v = at(key);
    if (!v.is_string()) fail(key, "expected a string, got " + std::string(v.type_name()));
    std::string s = v.get<std::string>();
    if (non_empty && s.empty()) fail(key, "must not be empty");
    return s;
  }
  std::int64_t integer(const std::string& key, std::int64_t least) const {
    const json& v = at(key);
    if (!v.is_number_integer()) fail(key, "expected an integer, got " + std::string(v.type_name()));
    if (v.is_number_unsigned() && v.get<std::uint64_t>() > std::uint64_t(INT64_MAX)) fail(key, "out of range");
    const std::int64_t n = v.get<std::int64_t>();
    if (n < least) fail(key, "must be >= " + std::to_string(least) + ", got " + std::to_string(n));
    return n;
  }
  std::uint64_t unsigned_integer(const std::string& key) const {
    const json& v = at(key);
    if (!v.is_number_integer() || (!v.is_number_unsigned() && v.get<std::int64_t>() < 0))
      fail(key, "expected a non-negative integer, got " + v.dump());
    return v.get<std::uint64_t>();
  }
  bool boolean(const std::string& key) const {
    const json& v = at(key);
    if (!v.is_boolean()) fail(key, "expected true or false, got " + std::string(v.type_name()));
    return v.get<bool>();
  }
  [[noreturn]] void fail(const std::string& key, const std::string& problem) const {
    throw InputError(source_, 0, prefix_ + key, problem);
  }
  const std::string& source() const { return source_; }
  std::string name(const std::string& key) const { return prefix_ + key; }

 private:
  const json& object_;
  std::string source_;
  std::string prefix_;
};

bool is_hex_sha256(const std::string& s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// 1-based line of byte offset `at` in `text`.
std::int64_t line_of(const std::string& text, std::size_t at) {
  at = std::min(at, text.size());
  return 1 + std::int64_t(std::count(text.begin(), text.begin() + std::ptrdiff_t(at), '\n'));
}

}  // namespace

const char* metric_name(Metric metric) {
  switch (metric) {
    case Metric::l2: return "l2";
    case Metric::ip: return "ip";
    case Metric::cosine: return "cosine";
  }
  return "?";
}

Metric metric_from_name(const std::string& name) {
  if (name == "l2") return Metric::l2;
  if (name == "ip") return Metric::ip;
  if (name == "cosine") return Metric::cosine;
  throw UsageError("unknown metric '" + name + "': accepted l2 (squared Euclidean), ip (inner product), cosine");
}

bool larger_is_nearer(Metric metric) { return metric != Metric::l2; }

std::string Manifest::to_json() const {
  json shard_list = json::array();
  for (const auto& s : shards)
    shard_list.push_back({{"file", s.file}, {"row_begin", s.row_begin}, {"row_end", s.row_end}, {"bytes", s.bytes}});
  json provenance = json::object();
  for (const auto& [name, value] : cache_provenance) provenance[name] = value;
  json j = {{"format", kIndexFormat},
            {"format_version", kIndexFormatVersion},
            {"spec", spec},
            {"metric", metric_name(metric)},
            {"normalized", normalized},
            {"nprobe", nprobe},
            {"field", field},
            {"dim", dim},
            {"rows", rows},
            {"train_rows", train_rows},
            {"seed", seed},
            {"cache", {{"path", cache_path}, {"identity", cache_identity}, {"provenance", provenance}}},
            {"shards", shard_list},
            {"fathom_version", fathom_version},
            {"created_at", created_at}};
  return j.dump(2) + "\n";
}

Manifest Manifest::from_json(const std::string& text, const std::string& source) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    throw InputError(source, line_of(text, e.byte), "", std::string("not a valid JSON index manifest: ") + e.what());
  }
  if (!j.is_object()) throw InputError(source, "not an index manifest: expected a JSON object");
  const Fields top(j, source, "");
  const std::string format = top.text("format");
  if (format != kIndexFormat)
    top.fail("format", "expected \"" + std::string(kIndexFormat) + "\" (a `fathom index` manifest), got \"" + format + "\"");
  const std::int64_t version = top.integer("format_version", 1);
  if (version > kIndexFormatVersion)
    top.fail("format_version", "written by a newer fathom (format_version " + std::to_string(version) +
                                   "; this build reads up to " + std::to_string(kIndexFormatVersion) + ")");
  Manifest m;
  m.spec = top.text("spec");
  const std::string metric = top.text("metric");
  if (metric != "l2" && metric != "ip" && metric != "cosine")
    top.fail("metric", "expected l2, ip or cosine, got \"" + metric + "\"");
  m.metric = metric_from_name(metric);
  m.normalized = top.boolean("normalized");
  if (m.normalized != (m.metric == Metric::cosine))
    top.fail("normalized", std::string("must be ") + (m.metric == Metric::cosine ? "true" : "false") +
                               " for metric " + metric + " (cosine indexes hold L2-normalised vectors)");
  m.nprobe = top.integer("nprobe", 0);
  m.field = top.text("field");
  if (m.field != "features" && m.field != "gradients")
    top.fail("field", "expected features or gradients, got \"" + m.field + "\"");
  m.dim = top.integer("dim", 1);
  m.rows = top.integer("rows", 1);
  m.train_rows = top.integer("train_rows", 0);
  if (m.train_rows > m.rows)
    top.fail("train_rows", std::to_string(m.train_rows) + " exceeds rows " + std::to_string(m.rows));
  m.seed = top.unsigned_integer("seed");

  const json& cache = top.at("cache");
  if (!cache.is_object()) top.fail("cache", "expected an object with path, identity, provenance");
  const Fields c(cache, source, "cache.");
  m.cache_path = c.text("path");
  m.cache_identity = c.text("identity");
  if (!is_hex_sha256(m.cache_identity)) c.fail("identity", "expected 64 lowercase hex digits (sha256)");
  const json& provenance = c.at("provenance");
  if (!provenance.is_object()) c.fail("provenance", "expected an object of strings");
  for (const auto& [name, value] : provenance.items()) {
    if (!value.is_string()) c.fail("provenance." + name, "expected a string, got " + std::string(value.type_name()));
    m.cache_provenance[name] = value.get<std::string>();
  }

  const json& shards = top.at("shards");
  if (!shards.is_array() || shards.empty()) top.fail("shards", "expected a non-empty array of shard entries");
  std::int64_t next_row = 0;
  for (std::size_t i = 0; i < shards.size(); ++i) {
    const std::string prefix = "shards[" + std::to_string(i) + "].";
    if (!shards[i].is_object()) top.fail("shards[" + std::to_string(i) + "]", "expected an object");
    const Fields s(shards[i], source, prefix);
    ShardEntry e;
    e.file = s.text("file");
    if (e.file.find('/') != std::string::npos || e.file == "." || e.file == "..")
      s.fail("file", "expected a file name beside the manifest, got \"" + e.file + "\"");
    e.row_begin = s.integer("row_begin", 0);
    e.row_end = s.integer("row_end", 0);
    e.bytes = s.integer("bytes", 0);
    if (e.row_begin != next_row)
      s.fail("row_begin", "shards must tile [0, rows) in order: expected " + std::to_string(next_row) + ", got " +
                              std::to_string(e.row_begin));
    if (e.row_end < e.row_begin)
      s.fail("row_end", std::to_string(e.row_end) + " is before row_begin " + std::to_string(e.row_begin));
    if (e.row_end > m.rows)
      s.fail("row_end", std::to_string(e.row_end) + " is past rows " + std::to_string(m.rows));
    next_row = e.row_end;
    m.shards.push_back(e);
  }
  if (next_row != m.rows)
    top.fail("shards", "cover rows [0, " + std::to_string(next_row) + "), not all " + std::to_string(m.rows) + " rows");
  m.fathom_version = top.text("fathom_version");
  m.created_at = top.text("created_at");
  return m;
}

Manifest Manifest::load(const std::string& path) {
  if (!std::filesystem::is_regular_file(path))
    throw InputError(path, "no such index manifest (written by `fathom index --out`)");
  return from_json(read_file(path), path);
}

void Manifest::save(const std::string& path) const { write_file_atomic(path, to_json()); }

std::string Manifest::shard_path(const std::string& manifest_path, std::size_t s) const {
  if (s >= shards.size())
    throw UsageError("index: no shard " + std::to_string(s) + " (the manifest has " + std::to_string(shards.size()) + ")");
  return (std::filesystem::path(manifest_path).parent_path() / shards[s].file).string();
}

std::map<std::string, std::string> cache_provenance(const store::CacheReader& cache) {
  std::map<std::string, std::string> out;
  for (const char* name : kIdentityAttributes)
    if (const store::AttrValue* v = cache.attributes().find(name)) out[name] = store::attr_to_text(*v);
  return out;
}

std::string cache_identity(const store::CacheReader& cache) {
  Sha256 h;
  h.update("fathom.index cache identity v1\n");
  h.update("rows=" + std::to_string(cache.rows()) + "\n");
  // Provenance: present attributes by name with their type, absent ones named.
  for (const char* name : kIdentityAttributes) {
    const store::AttrValue* v = cache.attributes().find(name);
    if (v)
      h.update(std::string(name) + ":" + store::attr_type_name(*v) + "=" + store::attr_to_text(*v) + "\n");
    else
      h.update(std::string(name) + " absent\n");
  }
  // Ids in order, length-prefixed, in blocks (a cache may hold millions).
  if (cache.schema().find(store::cache_names::dataset::kIds)) {
    const std::int64_t block = 65536;
    for (std::int64_t begin = 0; begin < cache.rows(); begin += block) {
      const std::int64_t count = std::min(block, cache.rows() - begin);
      for (const std::string& id : cache.read_strings(store::cache_names::dataset::kIds, begin, count)) {
        const std::uint64_t n = id.size();
        h.update(&n, sizeof n);
        h.update(id);
      }
    }
  } else {
    h.update("no ids\n");
  }
  return h.hex_digest();
}

void check_same_cache(const Manifest& manifest, const std::string& manifest_path, const store::CacheReader& cache) {
  const std::string who = "index " + manifest_path + " was built from " + manifest.cache_path + ", but " +
                          cache.path() + " ";
  if (cache.rows() != manifest.rows)
    throw InputError(cache.path(), 0, "rows",
                     who + "has " + std::to_string(cache.rows()) + " rows, not " + std::to_string(manifest.rows));
  const store::DatasetSpec* field = cache.schema().find(manifest.field);
  if (!field)
    throw InputError(cache.path(), 0, manifest.field, who + "has no dataset /" + manifest.field);
  if (field->values_per_row() != manifest.dim)
    throw InputError(cache.path(), 0, manifest.field,
                     who + "has /" + manifest.field + " of width " + std::to_string(field->values_per_row()) +
                         ", not the index's dim " + std::to_string(manifest.dim));
  const std::map<std::string, std::string> provenance = cache_provenance(cache);
  for (const char* name : kIdentityAttributes) {
    const auto in_index = manifest.cache_provenance.find(name);
    const auto in_cache = provenance.find(name);
    const std::string index_value = in_index == manifest.cache_provenance.end() ? "(absent)" : in_index->second;
    const std::string cache_value = in_cache == provenance.end() ? "(absent)" : in_cache->second;
    if (index_value != cache_value)
      throw InputError(cache.path(), 0, name,
                       who + "differs: the index's cache has " + name + " = " + index_value + ", this cache has " +
                           cache_value);
  }
  const std::string identity = cache_identity(cache);
  if (identity != manifest.cache_identity)
    throw InputError(cache.path(), 0, "ids",
                     who + "holds other ids (or another order): cache identity " + identity.substr(0, 12) +
                         "…, the index's " + manifest.cache_identity.substr(0, 12) + "…");
}

}  // namespace fathom::index
