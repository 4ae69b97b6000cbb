// SHA-256 against published vectors (FIPS 180-2 examples) and digests made
// by Python's hashlib, so nothing here is computed by the code under test.
#include "fathom/core/hash.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>

#include "fathom/core/error.h"

namespace {

std::string pattern(std::size_t n, unsigned mul, unsigned add, unsigned mod) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = char((i * mul + add) % mod);
  return s;
}

TEST(Sha256, KnownAnswers) {
  EXPECT_EQ(fathom::sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(fathom::sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // 56 bytes: the padding does not fit, a second block is needed.
  EXPECT_EQ(fathom::sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  // 112 bytes: a message longer than one block.
  EXPECT_EQ(fathom::sha256_hex("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmn"
                               "opqrsmnopqrstnopqrstu"),
            "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
  EXPECT_EQ(fathom::sha256_hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

// Message lengths around the padding boundary (55 fits the length in the
// same block, 56 does not, 64 is exactly one block).
TEST(Sha256, PaddingBoundaries) {
  EXPECT_EQ(fathom::sha256_hex(std::string(55, 'a')), "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
  EXPECT_EQ(fathom::sha256_hex(std::string(56, 'a')), "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a");
  EXPECT_EQ(fathom::sha256_hex(std::string(64, 'a')), "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb");
}

// Pieces that start and end at every offset within a block give the same
// digest as one update (and as hashlib).
TEST(Sha256, StreamingInPiecesEqualsOneShot) {
  const std::string data = pattern(1000, 31, 7, 251);
  const std::string expected = "008549d94fa71e7a0a483d84380d05a923a4b18e79ba1f8a8ddac923956d32ef";
  ASSERT_EQ(fathom::sha256_hex(data), expected);
  for (std::size_t piece : {std::size_t(1), std::size_t(3), std::size_t(63), std::size_t(64), std::size_t(65),
                            std::size_t(127), std::size_t(999)}) {
    fathom::Sha256 h;
    for (std::size_t at = 0; at < data.size(); at += piece)
      h.update(std::string_view(data).substr(at, piece));
    EXPECT_EQ(h.hex_digest(), expected) << "pieces of " << piece;
  }
  fathom::Sha256 with_empty;
  with_empty.update("", 0);
  with_empty.update(data);
  with_empty.update(nullptr, 0);
  EXPECT_EQ(with_empty.hex_digest(), expected);
}

TEST(Sha256, DigestBytesMatchHex) {
  fathom::Sha256 h;
  h.update("abc");
  const auto d = h.digest();
  EXPECT_EQ(d[0], 0xba);
  EXPECT_EQ(d[1], 0x78);
  EXPECT_EQ(d[31], 0xad);
}

class Sha256File : public ::testing::Test {
 protected:
  void TearDown() override { std::remove(path_.c_str()); }
  std::string path_ = ::testing::TempDir() + "fathom_sha256_" + std::to_string(::getpid()) + ".bin";
};

// 3 MiB + 5 bytes: more than the 1 MiB read buffer, and a partial last read.
TEST_F(Sha256File, HashesAFileReadInSeveralBuffers) {
  const std::string data = pattern(3 * 1024 * 1024 + 5, 131, 17, 256);
  { std::ofstream(path_, std::ios::binary) << data; }
  EXPECT_EQ(fathom::sha256_file(path_), "1050bd1713fed7e0a6e859c8567a9d820b023b023c65297b9484348283b90e72");
}

TEST_F(Sha256File, EmptyFile) {
  { std::ofstream(path_, std::ios::binary); }
  EXPECT_EQ(fathom::sha256_file(path_), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST_F(Sha256File, MissingFileIsAnInputErrorNamingThePath) {
  try {
    fathom::sha256_file(path_ + ".missing");
    FAIL() << "no throw";
  } catch (const fathom::InputError& e) {
    EXPECT_EQ(e.file(), path_ + ".missing");
    EXPECT_NE(std::string(e.what()).find(path_ + ".missing"), std::string::npos) << e.what();
    EXPECT_EQ(fathom::exit_code_for(e), 2);
  }
}

}  // namespace
