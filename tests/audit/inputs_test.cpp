// Bad input is refused with the file, line and field; the cross-reference
// readers accept what they document.
#include <gtest/gtest.h>

#include <fstream>

#include "fathom/audit/audit.h"
#include "fathom/audit/cross_refs.h"
#include "fathom/comm/communicator.h"
#include "fathom/core/error.h"
#include "temp_dir.h"

namespace {

namespace audit = fathom::audit;
using fathom::testing::TempDir;

std::string write(const TempDir& dir, const std::string& name, const std::string& text) {
  const std::string path = dir / name;
  std::ofstream(path) << text;
  return path;
}

audit::AuditOptions options(const std::string& corpus, const TempDir& dir) {
  audit::AuditOptions o;
  o.corpus = corpus;
  o.out = dir / "out";
  o.progress = false;
  return o;
}

// Runs the audit in one process; returns the InputError (or fails the test).
fathom::InputError input_error(const audit::AuditOptions& o) {
  auto comm = fathom::comm::make_communicator("local");
  try {
    audit::run_audit(o, *comm);
  } catch (const fathom::InputError& e) {
    return e;
  }
  ADD_FAILURE() << "expected an InputError";
  return fathom::InputError("", "");
}

TEST(AuditInputs, RecordWithoutLabelNamesLineAndField) {
  TempDir dir("audit_nolabel");
  const std::string c = write(dir, "c.jsonl", "{\"id\":1,\"text\":\"a b\",\"label\":\"x\"}\n{\"id\":2,\"text\":\"c d\"}\n");
  const fathom::InputError e = input_error(options(c, dir));
  EXPECT_EQ(e.file(), c);
  EXPECT_EQ(e.line(), 2);
  EXPECT_EQ(e.field(), "label");
}

TEST(AuditInputs, MissingTextPairNamesLineAndField) {
  TempDir dir("audit_nopair");
  const std::string c = write(dir, "c.jsonl",
                              "{\"id\":1,\"text\":\"a\",\"text_pair\":\"b\",\"label\":\"x\"}\n"
                              "{\"id\":2,\"text\":\"a\",\"text_pair\":\"b\",\"label\":\"y\"}\n"
                              "{\"id\":3,\"text\":\"c d\",\"label\":\"y\"}\n");
  audit::AuditOptions o = options(c, dir);
  o.field = "text_pair";
  const fathom::InputError e = input_error(o);
  EXPECT_EQ(e.line(), 3);
  EXPECT_EQ(e.field(), "text_pair");
  EXPECT_NE(std::string(e.what()).find("--field text_pair"), std::string::npos) << e.what();
}

TEST(AuditInputs, EmptyTextAndSingleLabelAreRefused) {
  TempDir dir("audit_empty");
  const std::string c = write(dir, "c.jsonl", "{\"id\":1,\"text\":\"a\",\"label\":\"x\"}\n{\"id\":2,\"text\":\"\",\"label\":\"x\"}\n");
  fathom::InputError e = input_error(options(c, dir));
  EXPECT_EQ(e.line(), 2);
  EXPECT_EQ(e.field(), "text");
  const std::string one = write(dir, "one.jsonl", "{\"id\":1,\"text\":\"a\",\"label\":\"x\"}\n{\"id\":2,\"text\":\"b\",\"label\":\"x\"}\n");
  e = input_error(options(one, dir));
  EXPECT_EQ(e.field(), "label");
  EXPECT_NE(std::string(e.what()).find("at least two"), std::string::npos) << e.what();
  EXPECT_FALSE(std::filesystem::exists(dir / "out/report.json"));
}

TEST(AuditInputs, BadOptionsAreUsageErrors) {
  TempDir dir("audit_usage");
  audit::AuditOptions o = options(dir / "c.jsonl", dir);
  for (int n : {0, 4, -1}) {
    o.ngrams = n;
    EXPECT_THROW(audit::check_audit_options(o), fathom::UsageError) << n;
  }
  o.ngrams = 1;
  o.field = "hypothesis";
  EXPECT_THROW(audit::check_audit_options(o), fathom::UsageError);
  o.field = "both";
  o.statistics.alpha = 1.5;
  EXPECT_THROW(audit::check_audit_options(o), fathom::UsageError);
  o.statistics.alpha = 0.01;
  o.statistics.smoothing = -1;
  EXPECT_THROW(audit::check_audit_options(o), fathom::UsageError);
  o.statistics.smoothing = 100;
  EXPECT_NO_THROW(audit::check_audit_options(o));
}

TEST(AuditInputs, RankedSourceRanksByValueWithTies) {
  TempDir dir("audit_ranked");
  const std::string p = write(dir, "s.jsonl",
                              "{\"id\":\"a\",\"score\":0.5}\n{\"id\":\"b\",\"score\":2.0,\"label\":\"x\"}\n\n"
                              "{\"id\":7,\"score\":0.5,\"extra\":[1]}\n{\"id\":\"d\",\"score\":-1}\n");
  const std::unordered_set<std::string> want = {"7", "d"};
  const audit::RankedSource s = audit::read_ranked_source("self_influence", p, "score", 2, &want);
  EXPECT_EQ(s.rows, 4);
  ASSERT_EQ(s.top.size(), 2u);
  EXPECT_EQ(s.top[0].id, "b");
  EXPECT_EQ(*s.top[0].label, "x");
  EXPECT_EQ(s.top[1].id, "a") << "ties by line";
  EXPECT_EQ(s.rank(2.0), 1);
  EXPECT_EQ(s.rank(0.5), 2);
  EXPECT_EQ(s.rank(-1), 4);
  EXPECT_DOUBLE_EQ(s.percentile(2.0), 1.0);
  EXPECT_DOUBLE_EQ(s.percentile(0.5), 0.75);
  EXPECT_DOUBLE_EQ(s.percentile(-1), 0.25);
  ASSERT_EQ(s.looked_up.size(), 2u);
  EXPECT_EQ(s.looked_up.at("7").line, 4);

  const std::string bad = write(dir, "bad.jsonl", "{\"id\":\"a\",\"score\":1}\n{\"id\":\"b\"}\n");
  try {
    audit::read_ranked_source("self_influence", bad, "score", 2);
    ADD_FAILURE() << "expected an InputError";
  } catch (const fathom::InputError& e) {
    EXPECT_EQ(e.line(), 2);
    EXPECT_EQ(e.field(), "score");
  }
}

TEST(AuditInputs, TriggersAreReadLeniently) {
  TempDir dir("audit_triggers");
  auto one = audit::read_triggers(write(dir, "a.json", "{\"trigger_tokens\":[\"Nobody\",\"never\"],\"flip_rate\":0.9}"));
  ASSERT_EQ(one.triggers.size(), 1u);
  EXPECT_EQ(one.triggers[0].tokens, (std::vector<std::string>{"Nobody", "never"}));
  EXPECT_DOUBLE_EQ(*one.triggers[0].flip_rate, 0.9);
  auto text = audit::read_triggers(write(dir, "b.json",
                                         "{\"trigger\":\"zoning tapping fiennes\",\"target\":1,"
                                         "\"before\":{\"accuracy\":0.9},\"after\":{\"accuracy\":0.2,\"flip_rate\":0.7}}"));
  EXPECT_EQ(text.triggers[0].tokens.size(), 3u);
  EXPECT_EQ(*text.triggers[0].target, "1");
  EXPECT_DOUBLE_EQ(*text.triggers[0].accuracy_before, 0.9);
  EXPECT_DOUBLE_EQ(*text.triggers[0].accuracy_after, 0.2);
  EXPECT_DOUBLE_EQ(*text.triggers[0].flip_rate, 0.7);
  // fathom triggers' own output (include/fathom/attack/triggers.h).
  auto own = audit::read_triggers(write(dir, "own.json",
                                        "{\"format\":\"fathom-triggers\",\"target\":\"contradiction\","
                                        "\"init\":{\"tokens\":[\"the\",\"the\"]},"
                                        "\"trigger\":{\"ids\":[7,9],\"tokens\":[\"nobody\",\"sleeping\"],\"text\":\"nobody sleeping\"},"
                                        "\"eval\":{\"n\":100,\"accuracy_before\":0.8,\"accuracy_after\":0.3,\"flip_rate\":0.6}}"));
  ASSERT_EQ(own.triggers.size(), 1u);
  EXPECT_EQ(own.triggers[0].tokens, (std::vector<std::string>{"nobody", "sleeping"}));
  EXPECT_EQ(*own.triggers[0].target, "contradiction");
  EXPECT_DOUBLE_EQ(*own.triggers[0].flip_rate, 0.6);
  EXPECT_DOUBLE_EQ(*own.triggers[0].accuracy_before, 0.8);
  EXPECT_DOUBLE_EQ(*own.triggers[0].accuracy_after, 0.3);
  auto many = audit::read_triggers(write(dir, "c.json", "{\"triggers\":[{\"tokens\":[\"a\"]},{\"trigger\":[\"b\",\"c\"]}]}"));
  EXPECT_EQ(many.triggers.size(), 2u);
  EXPECT_FALSE(many.triggers[0].flip_rate);
  try {
    audit::read_triggers(write(dir, "d.json", "{\"triggers\":[{\"tokens\":[\"a\"]},{\"loss\":1}]}"));
    ADD_FAILURE() << "expected an InputError";
  } catch (const fathom::InputError& e) {
    EXPECT_EQ(e.field(), "triggers[1].trigger_tokens");
  }
  try {
    audit::read_triggers(write(dir, "e.json", "{\n\"trigger\": [\n}"));
    ADD_FAILURE() << "expected an InputError";
  } catch (const fathom::InputError& e) {
    EXPECT_EQ(e.line(), 3);
  }
}

}  // namespace

namespace {

TEST(AuditInputs, BundleTokenizerIsReadWithoutTheModel) {
  TempDir dir("audit_bundle");
  std::filesystem::create_directories(dir / "m");
  write(dir, "m/fathom.json",
        "{\"format\":\"fathom-bundle\",\"tokenizer\":{\"kind\":\"wordpiece\",\"lowercase\":true,"
        "\"strip_accents\":null,\"split_cjk\":true,\"max_input_chars_per_word\":100}}");
  write(dir, "m/vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nplay\n##ing\n##ed\ngood\n");
  audit::AuditOptions o;
  o.model = dir / "m";
  const audit::Tokenize tok = audit::audit_tokenizer(o);
  EXPECT_EQ(tok("Playing good zzz played"),
            (std::vector<std::string>{"play", "##ing", "good", "[UNK]", "play", "##ed"}));

  write(dir, "m/fathom.json", "{\"format\":\"fathom-bundle\"}");
  try {
    audit::audit_tokenizer(o);
    ADD_FAILURE() << "expected an InputError";
  } catch (const fathom::InputError& e) {
    EXPECT_EQ(e.field(), "tokenizer");
    EXPECT_NE(e.file().find("fathom.json"), std::string::npos);
  }
}

}  // namespace
