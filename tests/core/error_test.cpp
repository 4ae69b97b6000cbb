#include <gtest/gtest.h>

#include "fathom/core/error.h"
#include "fathom/core/hash.h"

namespace {

TEST(Error, InputErrorNamesFileLineField) {
  fathom::InputError e("corpus.jsonl", 7, "label", "expected a string, got number");
  EXPECT_STREQ(e.what(), "corpus.jsonl:7: field 'label': expected a string, got number");
  EXPECT_EQ(fathom::exit_code_for(e), 2);
}

TEST(Error, CauseChainKeepsKindAndAllMessages) {
  try {
    fathom::with_context("step 'stats'", [] { throw fathom::InputError("a.tsv", "file is empty"); });
    FAIL() << "no throw";
  } catch (const std::exception& e) {
    std::string d = fathom::describe(e);
    EXPECT_NE(d.find("step 'stats'"), std::string::npos) << d;
    EXPECT_NE(d.find("caused by: a.tsv: file is empty"), std::string::npos) << d;
    EXPECT_EQ(fathom::exit_code_for(e), 2);
  }
}

TEST(Error, InternalErrorsExitOne) {
  std::runtime_error e("boom");
  EXPECT_EQ(fathom::exit_code_for(e), 1);
  fathom::CommError c("all_reduce", 3, "MPI_ERR_TRUNCATE");
  EXPECT_EQ(fathom::exit_code_for(c), 1);
  EXPECT_NE(std::string(c.what()).find("rank 3"), std::string::npos);
}

// Known-answer vectors from FIPS 180-2 (independent of the implementation).
TEST(Sha256, KnownAnswers) {
  EXPECT_EQ(fathom::sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(fathom::sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(fathom::sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  std::string million(1000000, 'a');
  EXPECT_EQ(fathom::sha256_hex(million), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

}  // namespace
