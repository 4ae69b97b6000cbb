// JSONL source. A line is first tried with the fast scanner
// (corpus_jsonl_scan.cpp); if it declines, nlohmann's SAX parser runs with a
// handler that copies only the wanted fields (no DOM), so type and syntax
// errors name the exact field and carry nlohmann's own explanation.
#include <nlohmann/json.hpp>

#include <string>

#include "corpus_internal.h"
#include "fathom/core/error.h"
#include "fathom/data/utf8.h"

namespace fathom::data::corpus_detail {
namespace {

using json = nlohmann::json;

enum Role { kNone = -1, kId = 0, kText, kPair, kLabel, kRoles };

// Collects the wanted top-level fields of one object. Returning false from an
// event aborts the parse; `problem` then says why (otherwise parse_error ran).
class Handler {
 public:
  explicit Handler(const CorpusOptions& o) : names_{o.id_field, o.text_field, o.pair_field, o.label_field} {}

  void reset(RawRecord* out) {
    out_ = out;
    depth_ = 0;
    role_ = kNone;
    for (bool& s : seen_) s = false;
    last_key_.clear();
    problem_.clear();
    field_.clear();
    parse_failed_ = false;
  }

  // --- nlohmann SAX interface ---
  bool null() { return scalar("null", nullptr, true); }
  bool boolean(bool) { return scalar("boolean", nullptr, false); }
  bool number_integer(json::number_integer_t v) { return integer(v); }
  bool number_unsigned(json::number_unsigned_t v) { return integer(v); }
  bool number_float(json::number_float_t, const std::string&) {
    return scalar("a non-integer number", nullptr, false);
  }
  bool string(std::string& v) { return scalar("string", &v, false); }
  bool binary(json::binary_t&) { return scalar("binary", nullptr, false); }
  bool start_object(std::size_t) { return open("object"); }
  bool start_array(std::size_t) { return open("array"); }
  bool end_object() { return --depth_, true; }
  bool end_array() { return --depth_, true; }
  bool key(std::string& k) {
    if (depth_ != 1) return true;
    last_key_ = k;
    role_ = kNone;
    for (int r = 0; r < kRoles; ++r) {
      if (!names_[r].empty() && k == names_[r]) role_ = static_cast<Role>(r);
    }
    if (role_ != kNone && seen_[role_]) return fail(k, "appears twice in the object; expected it once");
    return true;
  }
  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& e) {
    parse_failed_ = true;
    position_ = position;
    // Drop nlohmann's "[json.exception.parse_error.101] parse error at line 1,
    // column N: " prefix: the line is ours and the column is given separately.
    std::string msg = e.what();
    auto colon = msg.find(": ");
    problem_ = colon == std::string::npos ? msg : msg.substr(colon + 2);
    field_ = last_key_;
    return false;
  }

  bool parse_failed() const { return parse_failed_; }
  std::size_t position() const { return position_; }
  const std::string& problem() const { return problem_; }
  const std::string& field() const { return field_; }

 private:
  bool fail(const std::string& field, std::string problem) {
    field_ = field;
    problem_ = std::move(problem);
    return false;
  }
  bool not_object(const char* type) {
    return fail("", std::string("expected a JSON object per line, got ") + type);
  }
  static const char* expected(Role r) {
    return (r == kId || r == kLabel) ? "a string or an integer" : "a string";
  }
  bool type_error(Role r, const char* type) {
    return fail(names_[r], std::string("expected ") + expected(r) + ", got " + type);
  }
  // Consumes the pending role if this value (at depth 1) is a wanted field.
  bool take_role(Role& r) {
    if (depth_ != 1 || role_ == kNone) return false;
    r = role_;
    role_ = kNone;
    seen_[r] = true;
    return true;
  }

  // A scalar value. `s` is the string value (nullptr for non-strings);
  // `is_null` marks JSON null, which means "absent" for optional fields.
  bool scalar(const char* type, std::string* s, bool is_null) {
    if (depth_ == 0) return not_object(type);
    Role r;
    if (!take_role(r)) return true;
    if (is_null && (r == kPair || r == kLabel)) return true;
    if (!s) return type_error(r, type);
    target(r).assign(*s);
    present(r) = true;
    return true;
  }
  template <class Int>
  bool integer(Int v) {
    if (depth_ == 0) return not_object("integer");
    Role r;
    if (!take_role(r)) return true;
    if (r == kText || r == kPair) return type_error(r, "integer");
    target(r) = std::to_string(v);  // ids and labels: integer -> decimal string
    present(r) = true;
    return true;
  }
  bool open(const char* type) {
    if (depth_ == 0 && type[0] != 'o') return not_object(type);
    Role r;
    if (take_role(r)) return type_error(r, type);
    ++depth_;
    return true;
  }
  std::string& target(Role r) {
    switch (r) {
      case kId: return out_->id;
      case kText: return out_->text;
      case kPair: return out_->pair;
      default: return out_->label;
    }
  }
  bool& present(Role r) {
    switch (r) {
      case kId: return out_->has_id;
      case kText: return out_->has_text;
      case kPair: return out_->has_pair;
      default: return out_->has_label;
    }
  }

  std::string names_[kRoles];
  RawRecord* out_ = nullptr;
  int depth_ = 0;
  Role role_ = kNone;
  bool seen_[kRoles] = {};
  std::string last_key_, problem_, field_;
  bool parse_failed_ = false;
  std::size_t position_ = 0;
};

class JsonlSource final : public RecordSource {
 public:
  JsonlSource(const std::string& path, const CorpusOptions& o)
      : lines_(path), scanner_(o), handler_(o) {}

  bool advance() override {
    while (lines_.next(line_)) {
      // JSON whitespace-only lines are blank: not records.
      if (line_.find_first_not_of(" \t\r") != std::string_view::npos) return true;
    }
    return false;
  }
  std::int64_t line() const override { return lines_.line_number(); }
  bool validates_utf8() const override { return true; }

  void parse(RawRecord& out) override {
    if (scanner_.scan(line_, out)) return;  // fast path: nearly every good line
    // Slow path: nlohmann decides (and words the error).
    out.has_id = out.has_text = out.has_pair = out.has_label = false;
    handler_.reset(&out);
    bool ok = json::sax_parse(line_.begin(), line_.end(), &handler_, json::input_format_t::json,
                              /*strict=*/true);
    if (ok) return;
    const std::string& path = lines_.path();
    if (!handler_.parse_failed()) throw InputError(path, line(), handler_.field(), handler_.problem());
    // The lexer rejects bad UTF-8 inside strings; say so plainly, with the
    // byte column, rather than as a syntax error.
    std::size_t bad = 0;
    if (!valid_utf8(line_, &bad)) {
      throw InputError(path, line(), handler_.field(),
                       "invalid UTF-8 at byte column " + std::to_string(bad + 1) +
                           "; expected UTF-8 text");
    }
    throw InputError(path, line(), handler_.field(),
                     "malformed JSON at byte column " + std::to_string(handler_.position()) + ": " +
                         handler_.problem());
  }

 private:
  LineReader lines_;
  std::string_view line_;
  JsonFieldScanner scanner_;
  Handler handler_;
};

}  // namespace

std::unique_ptr<RecordSource> open_jsonl(const std::string& path, const CorpusOptions& options) {
  return std::make_unique<JsonlSource>(path, options);
}

}  // namespace fathom::data::corpus_detail
