#include "fathom/core/error.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

namespace {

using fathom::CommError;
using fathom::Error;
using fathom::ErrorKind;
using fathom::InputError;
using fathom::UsageError;

// Runs f, which must throw; returns describe() and exit_code_for() of what it threw.
template <class F>
std::pair<std::string, int> outcome(F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return {fathom::describe(e), fathom::exit_code_for(e)};
  }
  ADD_FAILURE() << "no throw";
  return {"", -1};
}

TEST(Error, InputErrorNamesFileLineField) {
  InputError e("corpus.jsonl", 7, "label", "expected a string, got number");
  EXPECT_STREQ(e.what(), "corpus.jsonl:7: field 'label': expected a string, got number");
  EXPECT_EQ(e.file(), "corpus.jsonl");
  EXPECT_EQ(e.line(), 7);
  EXPECT_EQ(e.field(), "label");
  EXPECT_EQ(e.problem(), "expected a string, got number");
  EXPECT_EQ(e.kind(), ErrorKind::Input);
  EXPECT_EQ(fathom::exit_code_for(e), 2);
}

TEST(Error, InputErrorWithoutLineOrField) {
  InputError whole_file("a.tsv", "file is empty");
  EXPECT_STREQ(whole_file.what(), "a.tsv: file is empty");
  EXPECT_EQ(whole_file.line(), 0);
  EXPECT_EQ(whole_file.field(), "");
  InputError line_only("a.tsv", 3, "", "2 columns, expected 3");
  EXPECT_STREQ(line_only.what(), "a.tsv:3: 2 columns, expected 3");
}

TEST(Error, CommErrorCarriesOperationAndRank) {
  CommError c("all_reduce", 3, "MPI_ERR_TRUNCATE");
  EXPECT_EQ(c.op(), "all_reduce");
  EXPECT_EQ(c.rank(), 3);
  EXPECT_EQ(c.kind(), ErrorKind::Comm);
  EXPECT_STREQ(c.what(), "rank 3: all_reduce failed: MPI_ERR_TRUNCATE");
}

// The exit-code table: user mistakes exit 2, everything else 1.
TEST(Error, ExitCodeForEveryKind) {
  EXPECT_EQ(fathom::exit_code_for(Error("bug")), 1);
  EXPECT_EQ(fathom::exit_code_for(Error("bug", ErrorKind::Internal)), 1);
  EXPECT_EQ(fathom::exit_code_for(Error("bad file", ErrorKind::Input)), 2);
  EXPECT_EQ(fathom::exit_code_for(Error("bad flag", ErrorKind::Usage)), 2);
  EXPECT_EQ(fathom::exit_code_for(Error("timeout", ErrorKind::Comm)), 1);
  EXPECT_EQ(fathom::exit_code_for(InputError("x", "y")), 2);
  EXPECT_EQ(fathom::exit_code_for(UsageError("--n must be positive")), 2);
  EXPECT_EQ(fathom::exit_code_for(CommError("barrier", 0, "timed out")), 1);
  EXPECT_EQ(fathom::exit_code_for(std::runtime_error("boom")), 1);
  EXPECT_EQ(fathom::exit_code_for(std::invalid_argument("bad")), 1);
  EXPECT_EQ(UsageError("u").kind(), ErrorKind::Usage);
}

TEST(Error, CauseChainListsEveryLevelOutermostFirst) {
  const auto [text, code] = outcome([] {
    fathom::with_context("job 'demo'", [] {
      fathom::with_context("step 'stats'", [] { throw InputError("a.tsv", 4, "text", "empty"); });
    });
  });
  EXPECT_EQ(text,
            "job 'demo'\n"
            "  caused by: step 'stats'\n"
            "  caused by: a.tsv:4: field 'text': empty");
  EXPECT_EQ(code, 2);
}

TEST(Error, ContextKeepsTheInnerKind) {
  try {
    fathom::with_context("outer", [] {
      fathom::with_context("inner", [] { throw UsageError("--top-k must be > 0"); });
    });
    FAIL() << "no throw";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "outer");
    EXPECT_EQ(e.kind(), ErrorKind::Usage);
  }
  try {
    fathom::with_context("outer", [] { throw CommError("broadcast", 1, "timed out"); });
    FAIL() << "no throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Comm);
    EXPECT_EQ(fathom::exit_code_for(e), 1);
  }
}

TEST(Error, ForeignExceptionsBecomeInternal) {
  const auto [text, code] = outcome([] { fathom::with_context("load", [] { throw std::out_of_range("idx 9"); }); });
  EXPECT_EQ(text, "load\n  caused by: idx 9");
  EXPECT_EQ(code, 1);
}

// A user error anywhere in the chain decides the exit code, even under a
// context that is not a fathom::Error.
TEST(Error, UserErrorDeepInTheChainStillExitsTwo) {
  const auto [text, code] = outcome([] {
    try {
      throw InputError("c.jsonl", 2, "label", "missing");
    } catch (...) {
      std::throw_with_nested(std::runtime_error("while reading"));
    }
  });
  EXPECT_EQ(text, "while reading\n  caused by: c.jsonl:2: field 'label': missing");
  EXPECT_EQ(code, 2);
}

TEST(Error, NonStandardCauseIsNamedUnknown) {
  const auto [text, code] = outcome([] {
    try {
      throw 42;
    } catch (...) {
      std::throw_with_nested(Error("outer"));
    }
  });
  EXPECT_EQ(text, "outer\n  caused by: unknown exception");
  EXPECT_EQ(code, 1);
}

TEST(Error, WithContextReturnsTheValueWhenNothingThrows) {
  EXPECT_EQ(fathom::with_context("sum", [] { return 41 + 1; }), 42);
  int calls = 0;
  fathom::with_context("void", [&] { ++calls; });
  EXPECT_EQ(calls, 1);
}

}  // namespace
