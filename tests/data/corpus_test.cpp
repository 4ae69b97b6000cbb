// Corpus readers: formats, every error case (file + line + field in the
// message), skip mode, ranges and record counting.
#include "fathom/data/corpus.h"

#include <gtest/gtest.h>
#include <functional>
#include <string>
#include <vector>

#include "fathom/core/error.h"
#include "fathom/data/utf8.h"
#include "data/temp_dir_fixture.h"

using fathom::InputError;
using fathom::data::CorpusOptions;
using fathom::data::CorpusReader;
using fathom::data::Example;
using fathom::data::Range;

namespace {

class CorpusTest : public fathom::test::TempDirTest {
 protected:
  // Runs f, expecting an InputError whose message names the file, the line
  // (as ":<line>:") and the field (as "field '<field>'"); returns the message.
  static std::string expect_input_error(const std::function<void()>& f, const std::string& path,
                                        std::int64_t line, const std::string& field) {
    try {
      f();
    } catch (const InputError& e) {
      std::string m = e.what();
      EXPECT_NE(m.find(path), std::string::npos) << m;
      if (line > 0) {
        EXPECT_NE(m.find(":" + std::to_string(line) + ":"), std::string::npos) << m;
        EXPECT_EQ(e.line(), line) << m;
      }
      if (!field.empty()) {
        EXPECT_NE(m.find("field '" + field + "'"), std::string::npos) << m;
        EXPECT_EQ(e.field(), field) << m;
      }
      EXPECT_EQ(fathom::exit_code_for(e), 2);
      return m;
    }
    ADD_FAILURE() << "expected InputError";
    return "";
  }

  // Reads `content` written as `name` and expects an error at line/field.
  std::string read_error(const std::string& name, const std::string& content, std::int64_t line,
                         const std::string& field, const CorpusOptions& o = CorpusOptions{}) {
    std::string p = write(name, content);
    return expect_input_error([&] { fathom::data::read_corpus(p, o); }, p, line, field);
  }
};

bool has(const std::string& s, const std::string& sub) { return s.find(sub) != std::string::npos; }

// ---------------------------------------------------------------- JSONL ----

TEST_F(CorpusTest, JsonlReadsFieldsIntegerIdsAndLabels) {
  auto p = write("a.jsonl",
                 "{\"id\": \"x1\", \"text\": \"hello\", \"label\": \"pos\"}\n"
                 "\n"
                 "   \n"
                 "{\"id\": 7, \"text\": \"caf\\u00e9\", \"text_pair\": \"b\", \"label\": 3, "
                 "\"extra\": {\"nested\": [1, {\"text\": 5}]}}\n"
                 "{\"text\": \"t\", \"id\": -2, \"label\": null, \"text_pair\": null}");
  auto v = fathom::data::read_corpus(p, {});
  ASSERT_EQ(v.size(), 3u);
  EXPECT_EQ(v[0].id, "x1");
  EXPECT_EQ(v[0].text, "hello");
  EXPECT_FALSE(v[0].text_pair);
  EXPECT_EQ(v[0].label.value(), "pos");
  EXPECT_EQ(v[0].line, 1);
  EXPECT_EQ(v[1].id, "7");
  EXPECT_EQ(v[1].text, "caf\xC3\xA9");
  EXPECT_EQ(v[1].text_pair.value(), "b");
  EXPECT_EQ(v[1].label.value(), "3");
  EXPECT_EQ(v[1].line, 4);  // blank lines count as lines, not as records
  EXPECT_EQ(v[2].id, "-2");
  EXPECT_FALSE(v[2].label);
  EXPECT_FALSE(v[2].text_pair);
  EXPECT_EQ(v[2].line, 5);
  EXPECT_EQ(fathom::data::count_records(p, {}), 3);
}

TEST_F(CorpusTest, JsonlCustomFieldsCrlfAndBom) {
  auto p = write("b.json", "\xEF\xBB\xBF{\"k\": 1, \"s\": \"a\", \"y\": \"l\"}\r\n{\"k\": 2, \"s\": \"b\"}\r\n");
  CorpusOptions o;
  o.id_field = "k";
  o.text_field = "s";
  o.label_field = "y";
  auto v = fathom::data::read_corpus(p, o);
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0].id, "1");
  EXPECT_EQ(v[0].label.value(), "l");
  EXPECT_EQ(v[1].text, "b");
  EXPECT_FALSE(v[1].label);
}

TEST_F(CorpusTest, EmptyIdFieldNumbersRecords) {
  auto p = write("c.jsonl", "{\"text\": \"a\"}\n\n{\"text\": \"b\"}\n{\"text\": \"c\"}\n");
  CorpusOptions o;
  o.id_field = "";
  auto v = fathom::data::read_corpus(p, o);
  ASSERT_EQ(v.size(), 3u);
  EXPECT_EQ(v[0].id, "0");
  EXPECT_EQ(v[2].id, "2");
  // Numbering is by record, so a range gives the same ids.
  CorpusReader r(p, o, Range{1, 3});
  Example ex;
  ASSERT_TRUE(r.next(ex));
  EXPECT_EQ(ex.id, "1");
  EXPECT_EQ(ex.line, 3);
}

TEST_F(CorpusTest, LongLinesAcrossBufferBoundaries) {
  // Lines of varying size, several larger than the 1 MiB read buffer.
  std::string content;
  std::vector<std::string> texts;
  for (int i = 0; i < 40; ++i) {
    std::size_t len = (i % 7 == 3) ? (1u << 20) + 17 * i : 1000 + 37 * i * i;
    texts.push_back(std::string(len, static_cast<char>('a' + i % 26)));
    content += "{\"id\": " + std::to_string(i) + ", \"text\": \"" + texts.back() + "\"}\n";
  }
  auto p = write("long.jsonl", content);
  auto v = fathom::data::read_corpus(p, {});
  ASSERT_EQ(v.size(), texts.size());
  for (std::size_t i = 0; i < v.size(); ++i) {
    EXPECT_EQ(v[i].text, texts[i]) << i;
    EXPECT_EQ(v[i].line, static_cast<std::int64_t>(i + 1));
  }
  EXPECT_EQ(fathom::data::count_records(p, {}), 40);
}

TEST_F(CorpusTest, MissingAndEmptyFiles) {
  std::string missing = (dir_ / "nope.jsonl").string();
  auto m = expect_input_error([&] { fathom::data::read_corpus(missing, {}); }, missing, 0, "");
  EXPECT_TRUE(has(m, "cannot open")) << m;
  expect_input_error([&] { fathom::data::count_records(missing, {}); }, missing, 0, "");
  std::string d = (dir_ / "dir.jsonl").string();
  std::filesystem::create_directory(d);
  expect_input_error([&] { fathom::data::read_corpus(d, {}); }, d, 0, "");

  m = read_error("empty.jsonl", "", 0, "");
  EXPECT_TRUE(has(m, "no records")) << m;
  m = read_error("blank.jsonl", "\n  \n\t\n", 0, "");
  EXPECT_TRUE(has(m, "no records")) << m;
  m = read_error("empty.tsv", "", 0, "");
  EXPECT_TRUE(has(m, "empty")) << m;
  m = read_error("header.tsv", "id\ttext\n\n", 0, "");
  EXPECT_TRUE(has(m, "no records")) << m;
  m = read_error("header.csv", "id,text\n", 0, "");
  EXPECT_TRUE(has(m, "no records")) << m;

  // Even a reader with an empty range reports an empty file.
  auto p = write("empty2.jsonl", "");
  CorpusReader r(p, {}, Range{0, 0});
  Example ex;
  EXPECT_THROW(r.next(ex), InputError);
  EXPECT_THROW(fathom::data::count_records(p, {}), InputError);
}

// Malformed lines, non-objects and missing fields: file, line, field and
// what was wrong.
TEST_F(CorpusTest, JsonlBadRecords) {
  const std::string ok = "{\"id\": \"a\", \"text\": \"x\"}\n";
  struct Case {
    std::string content;
    std::int64_t line;
    std::string field, says;
  } cases[] = {
      {ok + "{\"id\": \"b\", \"text\": tru}\n", 2, "text", "malformed JSON at byte column"},
      {ok + "{\"id\": \"b\", \"text\": tru}\n", 2, "text", "invalid literal"},  // nlohmann's own words
      {"{\"id\": \"a\", \"text\": \"x\"} trailing\n", 1, "text", "malformed JSON"},
      {"{\"id\": \"a\", \"text\": \"unterminated\n", 1, "text", "malformed JSON"},
      {ok + "[1, 2]\n", 2, "", "expected a JSON object per line, got array"},
      {"\"just a string\"\n", 1, "", "got string"},
      {"42\n", 1, "", "got integer"},
      {"{\"id\": \"a\", \"txt\": \"x\"}\n", 1, "text", "missing"},
      {ok + "{\"text\": \"y\"}\n", 2, "id", "missing"},
  };
  int i = 0;
  for (const auto& c : cases) {
    auto m = read_error("bad" + std::to_string(i++) + ".jsonl", c.content, c.line, c.field);
    EXPECT_TRUE(has(m, c.says)) << m;
  }
  CorpusOptions o;
  o.require_label = true;
  auto m = read_error("f3.jsonl", "{\"id\": \"a\", \"text\": \"x\", \"label\": null}\n", 1, "label", o);
  EXPECT_TRUE(has(m, "require_label")) << m;
}

TEST_F(CorpusTest, JsonlWrongTypes) {
  struct Case {
    std::string line, field, got;
  } cases[] = {
      {"{\"id\": \"a\", \"text\": 5}", "text", "expected a string, got integer"},
      {"{\"id\": \"a\", \"text\": null}", "text", "got null"},
      {"{\"id\": \"a\", \"text\": {\"a\": 1}}", "text", "got object"},
      {"{\"id\": \"a\", \"text\": \"x\", \"text_pair\": [\"b\"]}", "text_pair", "got array"},
      {"{\"id\": \"a\", \"text\": \"x\", \"label\": 1.5}", "label",
       "expected a string or an integer, got a non-integer number"},
      {"{\"id\": \"a\", \"text\": \"x\", \"label\": true}", "label", "got boolean"},
      {"{\"id\": null, \"text\": \"x\"}", "id", "got null"},
      {"{\"id\": 2.0, \"text\": \"x\"}", "id", "non-integer"},
      {"{\"id\": \"a\", \"text\": \"x\", \"text\": \"y\"}", "text", "appears twice"},
  };
  int i = 0;
  for (const auto& c : cases) {
    std::string content = "{\"id\": \"ok\", \"text\": \"fine\"}\n\n" + c.line + "\n";
    auto m = read_error("t" + std::to_string(i++) + ".jsonl", content, 3, c.field);
    EXPECT_TRUE(has(m, c.got)) << m;
  }
}

TEST_F(CorpusTest, EmptyValues) {
  auto m = read_error("e.jsonl", "{\"id\": \"a\", \"text\": \"\"}\n", 1, "text");
  EXPECT_TRUE(has(m, "empty")) << m;
  read_error("e2.jsonl", "{\"id\": \"a\", \"text\": \"x\", \"text_pair\": \"\"}\n", 1, "text_pair");
  read_error("e3.jsonl", "{\"id\": \"\", \"text\": \"x\"}\n", 1, "id");
  read_error("e4.jsonl", "{\"id\": \"a\", \"text\": \"x\", \"label\": \"\"}\n", 1, "label");
  CorpusOptions o;
  o.allow_empty_text = true;
  auto p = write("e5.jsonl", "{\"id\": \"a\", \"text\": \"\", \"text_pair\": \"\"}\n");
  auto v = fathom::data::read_corpus(p, o);
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].text, "");
  EXPECT_EQ(v[0].text_pair.value(), "");
}

TEST_F(CorpusTest, UnknownLabelListsExpected) {
  CorpusOptions o;
  o.label_set = {"neg", "pos", "0", "1", "2", "3", "4"};
  auto p = write("l.jsonl",
                 "{\"id\": 1, \"text\": \"a\", \"label\": \"pos\"}\n"
                 "{\"id\": 2, \"text\": \"b\", \"label\": 1}\n"
                 "{\"id\": 3, \"text\": \"c\"}\n");
  EXPECT_EQ(fathom::data::read_corpus(p, o).size(), 3u);  // labels optional by default
  auto m = read_error("l2.jsonl", "{\"id\": 1, \"text\": \"a\", \"label\": \"meh\"}\n", 1, "label", o);
  EXPECT_TRUE(has(m, "unknown label 'meh'")) << m;
  EXPECT_TRUE(has(m, "'neg', 'pos'")) << m;
  EXPECT_TRUE(has(m, "(and 2 more)")) << m;
  m = read_error("l3.jsonl", "{\"id\": 1, \"text\": \"a\", \"label\": 9}\n", 1, "label", o);
  EXPECT_TRUE(has(m, "unknown label '9'")) << m;
}

TEST_F(CorpusTest, InvalidUtf8) {
  auto m = read_error("u.jsonl", "{\"id\": \"a\", \"text\": \"ok\"}\n{\"id\": \"b\", \"text\": \"ab\xFF\"}\n",
                      2, "text");
  EXPECT_TRUE(has(m, "invalid UTF-8 at byte column 24")) << m;
  m = read_error("u.tsv", "id\ttext\n1\tgood\n2\tab\xC3\x28\n", 3, "text");
  EXPECT_TRUE(has(m, "invalid UTF-8 at byte 3")) << m;
  m = read_error("u.csv", "id,text,label\n1,\"x\ny\",\xED\xA0\x80\n", 2, "label");  // surrogate
  EXPECT_TRUE(has(m, "invalid UTF-8")) << m;
}

TEST_F(CorpusTest, DuplicateIdsNameBothLines) {
  auto m = read_error("d.jsonl",
                      "{\"id\": 5, \"text\": \"a\"}\n{\"id\": \"6\", \"text\": \"b\"}\n\n"
                      "{\"id\": \"5\", \"text\": \"c\"}\n",
                      4, "id");
  EXPECT_TRUE(has(m, "duplicate id '5' (first seen on line 1)")) << m;
  m = read_error("d.csv", "id,text\n\"a\",\"multi\nline\"\nb,x\na,y\n", 5, "id");
  EXPECT_TRUE(has(m, "first seen on line 2")) << m;
}

// ---------------------------------------------------------------- skip ----

TEST_F(CorpusTest, SkipModeCountsAndReports) {
  auto p = write("s.jsonl",
                 "{\"id\": 1, \"text\": \"good\"}\n"    // 1 ok
                 "not json\n"                           // 2 bad
                 "{\"id\": 2, \"text\": 3}\n"          // 3 bad
                 "\n"                                   // 4 blank
                 "{\"id\": 1, \"text\": \"dup\"}\n"     // 5 bad (duplicate)
                 "{\"id\": 3, \"text\": \"good\"}\n"    // 6 ok
                 "{\"id\": 4, \"text\": \"\"}\n"        // 7 bad
                 "{\"id\": 5, \"text\": \"\xFF\"}\n"    // 8 bad
                 "{\"id\": 6, \"text\": \"good\"}\n");  // 9 ok
  CorpusOptions o;
  o.on_error = CorpusOptions::OnError::skip;
  o.max_reported = 3;
  CorpusReader r(p, o);
  std::vector<std::string> ids;
  Example ex;
  while (r.next(ex)) ids.push_back(ex.id);
  EXPECT_FALSE(r.next(ex));  // stays exhausted
  EXPECT_EQ(ids, (std::vector<std::string>{"1", "3", "6"}));
  EXPECT_EQ(r.skipped(), 5);
  EXPECT_EQ(r.records_read(), 8);
  EXPECT_EQ(r.skipped_lines(), (std::vector<std::int64_t>{2, 3, 5}));
  ASSERT_EQ(r.skip_messages().size(), 3u);
  EXPECT_TRUE(has(r.skip_messages()[0], p + ":2:")) << r.skip_messages()[0];
  EXPECT_TRUE(has(r.skip_messages()[1], "field 'text'")) << r.skip_messages()[1];
  EXPECT_TRUE(has(r.skip_messages()[2], "duplicate id")) << r.skip_messages()[2];
  // Counting does not parse: bad records are records too.
  EXPECT_EQ(fathom::data::count_records(p, o), 8);
  EXPECT_EQ(fathom::data::read_corpus(p, o).size(), 3u);

  o.max_reported = 0;
  CorpusReader r2(p, o);
  while (r2.next(ex)) {
  }
  EXPECT_EQ(r2.skipped(), 5);
  EXPECT_TRUE(r2.skipped_lines().empty());
}

TEST_F(CorpusTest, SkipModeKeepsFileLevelErrorsFatal) {
  CorpusOptions o;
  o.on_error = CorpusOptions::OnError::skip;
  read_error("sk.jsonl", "\n\n", 0, "", o);
  read_error("sk.tsv", "id\ttxt\n1\ta\n", 1, "text", o);  // header lacks the text column
  auto m = read_error("sk.csv", "id,text\n1,a\n2,\"never closed\n3,b\n", 3, "text", o);
  EXPECT_TRUE(has(m, "unterminated")) << m;
}

// ----------------------------------------------------------------- TSV ----

// Every field of a record on one line: id|text|text_pair|label|line, "-" for absent.
std::string fields(const Example& e) {
  return e.id + "|" + e.text + "|" + e.text_pair.value_or("-") + "|" + e.label.value_or("-") + "|" +
         std::to_string(e.line);
}

TEST_F(CorpusTest, TsvReadsWithHeaderAndOptionalColumns) {
  // Columns in any order, an ignored extra column, no text_pair column, an
  // empty label cell (= absent), a blank line and a CRLF line end.
  const std::string tsv = "label\tid\ttext\textra\npos\t1\thello world\tz\n\n\t2\tsecond\t\nneg\t3\tthird\t\r\n";
  auto p = write("a.tsv", tsv);
  std::vector<std::string> got;
  for (const Example& e : fathom::data::read_corpus(p, {})) got.push_back(fields(e));
  EXPECT_EQ(got, (std::vector<std::string>{"1|hello world|-|pos|2", "2|second|-|-|4", "3|third|-|neg|5"}));
  EXPECT_EQ(fathom::data::count_records(p, {}), 3);
}

TEST_F(CorpusTest, TsvErrors) {
  auto m = read_error("h.tsv", "id\tbody\n1\tx\n", 1, "text");
  EXPECT_TRUE(has(m, "columns are: id, body")) << m;
  CorpusOptions o;
  o.require_label = true;
  read_error("h2.tsv", "id\ttext\n1\tx\n", 1, "label", o);
  read_error("h3.tsv", "id\ttext\tid\n1\tx\t2\n", 1, "id");
  m = read_error("c.tsv", "id\ttext\tlabel\n1\tx\ty\n2\tonly\n", 3, "label");
  EXPECT_TRUE(has(m, "expected 3 tab-separated columns (id, text, label), got 2")) << m;
  m = read_error("c2.tsv", "id\ttext\n1\tx\n2\ty\tz\n", 3, "");
  EXPECT_TRUE(has(m, "got 3")) << m;
  read_error("c3.tsv", "id\ttext\n1\t\n", 2, "text");
  read_error("c4.tsv", "id\ttext\n\tx\n", 2, "id");
  // A header without the id column is fine when records are numbered.
  o = {};
  o.id_field = "";
  auto p = write("noid.tsv", "text\nA\nB\n");
  auto v = fathom::data::read_corpus(p, o);
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[1].id, "1");
}

// ----------------------------------------------------------------- CSV ----

TEST_F(CorpusTest, CsvQuoting) {
  auto p = write("q.csv",
                 "id,text,text_pair,label\r\n"
                 "1,plain,,pos\r\n"
                 "2,\"with, comma\",\"say \"\"hi\"\"\",neg\r\n"
                 "3,\"multi\r\nline\r\n\r\nfield\",b,\r\n"
                 "\r\n"
                 "4,5\" screen,\"\",\"pos\"\r\n"
                 "\"5\",\"\"\"\",x,neg");  // no final newline
  auto v = fathom::data::read_corpus(p, {});
  ASSERT_EQ(v.size(), 5u);
  EXPECT_EQ(v[0].text, "plain");
  EXPECT_FALSE(v[0].text_pair);
  EXPECT_EQ(v[0].line, 2);
  EXPECT_EQ(v[1].text, "with, comma");
  EXPECT_EQ(v[1].text_pair.value(), "say \"hi\"");
  EXPECT_EQ(v[1].line, 3);
  EXPECT_EQ(v[2].text, "multi\nline\n\nfield");
  EXPECT_FALSE(v[2].label);
  EXPECT_EQ(v[2].line, 4);
  EXPECT_EQ(v[3].text, "5\" screen");  // quote inside an unquoted field is literal
  EXPECT_FALSE(v[3].text_pair);       // "" = empty = absent
  EXPECT_EQ(v[3].label.value(), "pos");
  EXPECT_EQ(v[3].line, 9);  // line where the record starts
  EXPECT_EQ(v[4].id, "5");
  EXPECT_EQ(v[4].text, "\"");
  EXPECT_EQ(v[4].line, 10);
  EXPECT_EQ(fathom::data::count_records(p, {}), 5);
}

TEST_F(CorpusTest, CsvErrors) {
  auto m = read_error("b.csv", "id,text\n1,\"closed\"x\n", 2, "text");
  EXPECT_TRUE(has(m, "after a closing quote")) << m;
  m = read_error("b2.csv", "id,text\n1,\"a\nb\"\n2,x,y\n", 4, "");
  EXPECT_TRUE(has(m, "expected 2 comma-separated columns (id, text), got 3")) << m;
  m = read_error("b3.csv", "id,text,label\n1,\"two\nlines\"\n", 2, "label");
  EXPECT_TRUE(has(m, "got 2")) << m;
  read_error("b4.csv", "id,\"te\nxt\"\n1,x\n", 1, "text");  // header names are exact
}

// ---------------------------------------------------------- options etc ----

TEST_F(CorpusTest, FormatAndOptionErrors) {
  auto p = write("x.txt", "{}\n");
  EXPECT_THROW(fathom::data::read_corpus(p, {}), fathom::UsageError);
  CorpusOptions o;
  o.format = "jsonl";
  auto p2 = write("x2.txt", "{\"id\": 1, \"text\": \"a\"}\n");
  EXPECT_EQ(fathom::data::read_corpus(p2, o).size(), 1u);
  o.format = "parquet";
  EXPECT_THROW(fathom::data::read_corpus(p2, o), fathom::UsageError);
  o = {};
  o.text_field = "";
  EXPECT_THROW(fathom::data::read_corpus(write("y.jsonl", "{}\n"), o), fathom::UsageError);
  o = {};
  o.pair_field = "text";
  EXPECT_THROW(fathom::data::read_corpus(write("y2.jsonl", "{}\n"), o), fathom::UsageError);
  auto p3 = write("upper.TSV", "id\ttext\n1\ta\n");
  EXPECT_EQ(fathom::data::read_corpus(p3, {}).size(), 1u);
}

TEST_F(CorpusTest, BadRowRangeIsAnInputErrorNamingTheFile) {
  auto p = write("rows.tsv", "id\ttext\n1\ta\n");
  for (Range bad : {Range{-1, 2}, Range{3, 2}, Range{0, -2}}) {
    auto m = expect_input_error([&] { (void)CorpusReader(p, {}, bad); }, p, 0, "rows");
    std::string range = "[" + std::to_string(bad.begin) + ", " + std::to_string(bad.end) + ")";
    EXPECT_TRUE(has(m, "bad row range " + range)) << m;
  }
  EXPECT_NO_THROW((void)CorpusReader(p, {}, Range{2, 2}));
  EXPECT_NO_THROW((void)CorpusReader(p, {}, Range{5, -1}));
}

TEST_F(CorpusTest, RangesReadOnlyTheirRecords) {
  std::string content = "{\"id\": 0, \"text\": \"t0\"}\n\n";
  for (int i = 1; i < 10; ++i) content += "{\"id\": " + std::to_string(i) + ", \"text\": \"t\"}\n";
  content += "this line is never parsed by a range that ends before it\n";
  auto p = write("r.jsonl", content);
  CorpusReader r(p, {}, Range{3, 6});
  Example ex;
  std::vector<std::string> ids;
  while (r.next(ex)) ids.push_back(ex.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"3", "4", "5"}));
  EXPECT_EQ(r.records_read(), 3);
  // Records before the range are split but not parsed, so the bad last line
  // (record 10) only matters to readers whose range includes it.
  CorpusReader past(p, {}, Range{11, -1});
  EXPECT_FALSE(past.next(ex));
  EXPECT_THROW(fathom::data::read_corpus(p, {}), InputError);
  EXPECT_EQ(fathom::data::count_records(p, {}), 11);
  CorpusReader empty(p, {}, Range{4, 4});
  EXPECT_FALSE(empty.next(ex));
  EXPECT_EQ(empty.records_read(), 0);
}

TEST_F(CorpusTest, CountsEqualFullReads) {
  const std::string files[][2] = {
      {"k.jsonl", "{\"id\":1,\"text\":\"a\"}\n \n{\"id\":2,\"text\":\"b\"}\r\n\r\n{\"id\":3,\"text\":\"c\"}"},
      {"k.tsv", "\n\nid\ttext\n1\ta\n\n2\tb\n3\tc"},
      {"k.csv", "id,text\n1,\"a\n\n,\"\"\n\"\n\n2,b\n3,\"c\"\n\n"},
  };
  for (const auto& f : files) {
    auto p = write(f[0], f[1]);
    CorpusReader r(p, {});
    Example ex;
    std::int64_t n = 0;
    while (r.next(ex)) ++n;
    EXPECT_EQ(n, 3) << f[0];
    EXPECT_EQ(r.records_read(), 3) << f[0];
    EXPECT_EQ(fathom::data::count_records(p, {}), 3) << f[0];
  }
}

}  // namespace

// ------------------------------------------------ JSONL fast-path scanner ----
// White-box: the scanner may decline any line (nlohmann then decides), but it
// must never accept a line nlohmann rejects or extract different values.

#include <nlohmann/json.hpp>

#include <random>

#include "../../src/data/corpus_internal.h"

namespace {

struct Reference {
  bool ok = false;  // parses, is an object, wanted fields have accepted types
  fathom::data::corpus_detail::RawRecord rec;
};

Reference reference(const std::string& line) {
  Reference r;
  auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return r;
  auto get = [&](const char* key, bool allow_int, bool optional, std::string& out, bool& has) {
    has = false;
    auto it = j.find(key);
    if (it == j.end()) return true;
    if (it->is_null()) return optional;
    if (it->is_string()) {
      out = it->get<std::string>();
    } else if (allow_int && it->is_number_integer()) {
      out = it->is_number_unsigned() ? std::to_string(it->get<std::uint64_t>())
                                     : std::to_string(it->get<std::int64_t>());
    } else {
      return false;
    }
    has = true;
    return true;
  };
  auto& x = r.rec;
  r.ok = get("id", true, false, x.id, x.has_id) && get("text", false, false, x.text, x.has_text) &&
         get("text_pair", false, true, x.pair, x.has_pair) &&
         get("label", true, true, x.label, x.has_label);
  return r;
}

std::string random_string(std::mt19937& rng, bool key_like) {
  static const char* pieces[] = {"a", "text", " ", "\\\"", "\\\\", "\\/", "\\n", "\\t", "\\u00e9",
                                 "\\u4e2d", "\\ud83d\\ude00", "\xC3\xA9", "\xE4\xB8\xAD",
                                 "\xF0\x9F\x98\x80", "lorem ipsum dolor sit amet ", "0", "{", ":"};
  if (key_like) {
    static const char* keys[] = {"id", "text", "text_pair", "label", "other", "te\\u0078t", "i\\u0064"};
    return std::string("\"") + keys[rng() % 7] + "\"";
  }
  std::string s = "\"";
  int n = static_cast<int>(rng() % 12);
  for (int i = 0; i < n; ++i) s += pieces[rng() % 18];
  return s + "\"";
}

std::string random_value(std::mt19937& rng, int depth) {
  switch (rng() % (depth > 2 ? 6 : 8)) {
    case 0: case 1: return random_string(rng, false);
    case 2: {
      static const char* nums[] = {"0", "7", "-3", "123456789012345678", "-123456789012345678",
                                   "1.5", "-0", "2e3", "1E-2", "99999999999999999999",
                                   "18446744073709551615", "-9223372036854775808", "0.0"};
      return nums[rng() % 13];
    }
    case 3: return "true";
    case 4: return "false";
    case 5: return "null";
    case 6: {
      std::string s = "[";
      int n = static_cast<int>(rng() % 4);
      for (int i = 0; i < n; ++i) s += (i ? ", " : "") + random_value(rng, depth + 1);
      return s + "]";
    }
    default: {
      std::string s = "{";
      int n = static_cast<int>(rng() % 4);
      for (int i = 0; i < n; ++i) {
        s += (i ? "," : "") + random_string(rng, true) + ":" + random_value(rng, depth + 1);
      }
      return s + "}";
    }
  }
}

std::string random_object(std::mt19937& rng) {
  std::string s = rng() % 4 ? "{" : " \t{ ";
  int n = static_cast<int>(rng() % 6);
  for (int i = 0; i < n; ++i) {
    s += (i ? (rng() % 3 ? "," : " , ") : "") + random_string(rng, true) + (rng() % 2 ? ":" : " : ") +
         random_value(rng, 1);
  }
  return s + (rng() % 4 ? "}" : "} \t");
}

void mutate(std::mt19937& rng, std::string& s) {
  static const char bytes[] = {'"', '\\', '{', '}', '[', ']', ',', ':', 'u', '0', 'e', '-', '.',
                               '\x01', '\x1f', ' ', '\x80', '\xC3', '\xED', '\xF4', '\xFF', 'x'};
  int n = 1 + static_cast<int>(rng() % 3);
  for (int k = 0; k < n && !s.empty(); ++k) {
    std::size_t at = rng() % s.size();
    switch (rng() % 4) {
      case 0: s[at] = bytes[rng() % sizeof(bytes)]; break;
      case 1: s.insert(s.begin() + static_cast<long>(at), bytes[rng() % sizeof(bytes)]); break;
      case 2: s.erase(at, 1); break;
      default: s.resize(at); break;
    }
  }
}

TEST(JsonFieldScanner, AgreesWithNlohmann) {
  CorpusOptions o;
  fathom::data::corpus_detail::JsonFieldScanner scanner(o);
  std::mt19937 rng(12345);
  int accepted = 0, mutated_accepted = 0, nice = 0;
  for (int iter = 0; iter < 60000; ++iter) {
    std::string line = random_object(rng);
    const bool mutated = iter % 2 == 1;
    if (mutated) mutate(rng, line);
    fathom::data::corpus_detail::RawRecord got;
    bool fast = scanner.scan(line, got);
    Reference ref = reference(line);
    if (fast) {
      ++accepted;
      mutated_accepted += mutated;
      ASSERT_TRUE(ref.ok) << "scanner accepted what nlohmann rejects: " << line;
      const auto& want = ref.rec;
      ASSERT_EQ(got.has_id, want.has_id) << line;
      ASSERT_EQ(got.has_text, want.has_text) << line;
      ASSERT_EQ(got.has_pair, want.has_pair) << line;
      ASSERT_EQ(got.has_label, want.has_label) << line;
      if (want.has_id) ASSERT_EQ(got.id, want.id) << line;
      if (want.has_text) ASSERT_EQ(got.text, want.text) << line;
      if (want.has_pair) ASSERT_EQ(got.pair, want.pair) << line;
      if (want.has_label) ASSERT_EQ(got.label, want.label) << line;
    }
    // Unmutated lines whose wanted values are plain must take the fast path,
    // or the speed-up would be an illusion.
    if (!mutated && ref.ok && line.find("-0") == std::string::npos &&
        line.find("99999999999999999999") == std::string::npos &&
        line.find("18446744073709551615") == std::string::npos &&
        line.find("-9223372036854775808") == std::string::npos) {
      // (duplicate wanted keys are declined on purpose; skip those lines)
      auto j = nlohmann::json::parse(line);
      std::size_t keys = 0;
      for (std::string k : {"id", "text", "text_pair", "label"}) {
        std::size_t count = 0;
        for (std::size_t p = line.find('"' + k + '"'); p != std::string::npos;
             p = line.find('"' + k + '"', p + 1)) {
          ++count;
        }
        keys += count > 1;
      }
      if (keys == 0 && line.find("\\u0078") == std::string::npos &&
          line.find("\\u0064") == std::string::npos) {
        ++nice;
        EXPECT_TRUE(fast) << "declined a plain valid line: " << line;
      }
    }
  }
  EXPECT_GT(accepted, 5000);
  EXPECT_GT(mutated_accepted, 100);
  EXPECT_GT(nice, 3000);
}

TEST(Utf8ValidFast, AgreesWithValidUtf8) {
  std::mt19937 rng(7);
  static const char* pieces[] = {"a", "bcdefgh ", "\xC3\xA9", "\xE4\xB8\xAD", "\xF0\x9F\x98\x80",
                                 "\xEF\xBF\xBD", "\x80", "\xC0\xAF", "\xED\xA0\x80", "\xF4\x90\x80\x80",
                                 "\xE4\xB8", "\xFF"};
  for (int iter = 0; iter < 20000; ++iter) {
    std::string s;
    int n = static_cast<int>(rng() % 10);
    for (int i = 0; i < n; ++i) s += pieces[rng() % (iter % 2 ? 6 : 12)];
    ASSERT_EQ(fathom::data::corpus_detail::utf8_valid_fast(s), fathom::data::valid_utf8(s)) << s;
  }
}

// The table of ids behind duplicate detection: it finds repeats, and once at
// capacity refuses new ids (the reader checks full() first and throws an
// InputError) while still finding known ones.
TEST(IdIndex, FindsRepeatsAndStopsAtCapacity) {
  fathom::data::corpus_detail::IdIndex ids(3);
  EXPECT_EQ(ids.insert("a", 1), 0);
  EXPECT_EQ(ids.insert("b", 2), 0);
  EXPECT_EQ(ids.insert("a", 5), 1);
  EXPECT_FALSE(ids.full());
  EXPECT_EQ(ids.insert("c", 6), 0);
  EXPECT_TRUE(ids.full());
  EXPECT_EQ(ids.insert("b", 7), 2);
  EXPECT_THROW(ids.insert("d", 8), fathom::Error);
  // Thousands of ids through several table growths.
  fathom::data::corpus_detail::IdIndex many;
  for (int i = 0; i < 5000; ++i) ASSERT_EQ(many.insert("id" + std::to_string(i), i + 1), 0) << i;
  for (int i = 0; i < 5000; i += 97) ASSERT_EQ(many.insert("id" + std::to_string(i), 9999), i + 1) << i;
  EXPECT_EQ(many.capacity(), fathom::data::corpus_detail::IdIndex::kMaxIds);
}

TEST(JsonFieldScanner, EdgeCases) {
  CorpusOptions o;
  fathom::data::corpus_detail::JsonFieldScanner s(o);
  fathom::data::corpus_detail::RawRecord r;
  ASSERT_TRUE(s.scan(R"({"te\u0078t": "a\u0000b\ud83d\ude00", "id": 12})", r));
  EXPECT_EQ(r.text, std::string("a\0b\xF0\x9F\x98\x80", 7));
  EXPECT_EQ(r.id, "12");
  for (const char* bad : {R"({"text": "\ud800"})", R"({"text": "\udc00x"})", "{\"text\": \"a\tb\"}",
                          R"({"text": "a"} x)", R"({"text": "a",})", R"({"text": 'a'})",
                          "{\"text\": \"\xC0\x80\"}", "{\"text\": \"\xED\xA0\x80\"}",
                          R"({"text": "a", "id": 01})", R"({"text": "a", "x": [1,]})",
                          R"({"text": "a", "text": "b"})", R"([])", R"({"text": "\x"})"}) {
    EXPECT_FALSE(s.scan(bad, r)) << bad;
  }
  // Long plain strings exercise the 8-byte loop at every alignment.
  for (std::size_t n = 0; n < 40; ++n) {
    std::string t(n, 'x');
    if (n > 3) t[n / 2] = '\\', t.insert(n / 2 + 1, "n");
    ASSERT_TRUE(s.scan("{\"id\": 1, \"text\": \"" + t + "\"}", r)) << n;
    EXPECT_EQ(r.text, nlohmann::json::parse("\"" + t + "\"").get<std::string>());
  }
}

}  // namespace
