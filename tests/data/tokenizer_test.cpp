// Word and WordPiece tokenizers on hand-checked cases. Expected outputs follow
// BERT's documented algorithm (HF BertTokenizer, slow): clean, split CJK,
// whitespace split, lowercase + strip accents, punctuation split, then greedy
// longest-match-first WordPiece.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <unistd.h>
#include <vector>

#include "fathom/core/error.h"
#include "fathom/data/tokenizer_factory.h"
#include "fathom/data/unicode.h"
#include "fathom/data/vocab.h"
#include "fathom/data/word_tokenizer.h"
#include "fathom/data/wordpiece_tokenizer.h"
#include "data/temp_dir_fixture.h"

namespace {
namespace fs = std::filesystem;
using fathom::InputError;
using fathom::UsageError;
using fathom::data::Encoding;
using fathom::data::TokenCounts;
using fathom::data::TokenizerOptions;
using fathom::data::Vocab;
using fathom::data::WordpieceTokenizer;
using fathom::data::WordTokenizer;
using Strings = std::vector<std::string>;

// Vocabulary with the five specials as ids 0..4 followed by `tokens`.
Vocab vocab_of(const Strings& tokens) {
  Strings all = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
  all.insert(all.end(), tokens.begin(), tokens.end());
  return Vocab::from_tokens(all);
}

TokenizerOptions opts(bool lowercase, std::optional<bool> strip = std::nullopt) {
  TokenizerOptions o;
  o.lowercase = lowercase;
  o.strip_accents = strip;
  return o;
}

// The basic tokenizer's words for `text`: a word tokenizer built on the text
// itself knows every word, so tokenize() shows them unmapped.
Strings words(const std::string& text, TokenizerOptions o = {}) {
  WordTokenizer::BuildOptions b;
  b.text = o;
  return WordTokenizer::build({text}, b).tokenize(text);
}

// The original bytes each non-special token points at.
Strings slices(const Encoding& e, std::string_view text) {
  Strings out;
  for (std::size_t i = 0; i < e.ids.size(); ++i) {
    if (!e.special[i]) out.emplace_back(text.substr(e.begin[i], e.end[i] - e.begin[i]));
  }
  return out;
}

// ---- Vocab ------------------------------------------------------------------

using VocabFile = fathom::test::TempDirTest;

TEST_F(VocabFile, LoadSaveRoundTrip) {
  std::string p = write("vocab.txt", "[PAD]\r\n[UNK]\r\n[CLS]\r\n[SEP]\r\n[MASK]\r\nhello\r\n##lo\r\n");
  Vocab v = Vocab::load(p);
  ASSERT_EQ(v.size(), 7);
  EXPECT_EQ(v.find("hello"), 5);
  EXPECT_EQ(v.find("##lo"), 6);
  EXPECT_EQ(v.find("nope"), -1);
  EXPECT_EQ(v.id("nope"), v.unk_id());
  EXPECT_EQ(v.token(6), "##lo");
  std::string q = (dir_ / "out.txt").string();
  v.save(q);
  EXPECT_EQ(Vocab::load(q).tokens(), v.tokens());
  std::ifstream in(q, std::ios::binary);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\n##lo\n");
}

TEST_F(VocabFile, SpecialsKeepTheirBertIds) {
  // BERT's vocab.txt: [PAD]=0, [unused*], [UNK]=100, [CLS]=101, [SEP]=102, [MASK]=103.
  Strings t = {"[PAD]"};
  for (int i = 0; i < 99; ++i) t.push_back("[unused" + std::to_string(i) + "]");
  for (const char* s : {"[UNK]", "[CLS]", "[SEP]", "[MASK]", "the"}) t.emplace_back(s);
  WordpieceTokenizer tok(Vocab::from_tokens(t));
  EXPECT_EQ(tok.pad_id(), 0);
  EXPECT_EQ(tok.unk_id(), 100);
  EXPECT_EQ(tok.cls_id(), 101);
  EXPECT_EQ(tok.sep_id(), 102);
  EXPECT_EQ(tok.mask_id(), 103);
  EXPECT_EQ(tok.encode("the xyz", std::nullopt, 0).ids, (std::vector<std::int64_t>{101, 104, 100, 102}));
}

// The InputError that loading `path` throws; it must name the file and map
// to exit code 2.
std::optional<InputError> load_error(const std::string& path) {
  try {
    Vocab::load(path);
  } catch (const InputError& e) {
    EXPECT_EQ(e.file(), path) << e.what();
    EXPECT_EQ(fathom::exit_code_for(e), 2);
    return e;
  }
  ADD_FAILURE() << "no error loading " << path;
  return std::nullopt;
}

bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

TEST_F(VocabFile, MissingFile) { EXPECT_TRUE(load_error((dir_ / "absent.txt").string())); }

TEST_F(VocabFile, DuplicateNamesBothLines) {
  auto e = load_error(write("vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nfoo\nbar\nfoo\n"));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->line(), 8);
  EXPECT_TRUE(has(e->problem(), "'foo'") && has(e->problem(), "line 6")) << e->what();
}

TEST_F(VocabFile, EmptyLine) {
  auto e = load_error(write("vocab.txt", "[PAD]\n[UNK]\n\n[CLS]\n[SEP]\n[MASK]\n"));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->line(), 3);
  EXPECT_TRUE(has(e->problem(), "empty line")) << e->what();
}

TEST_F(VocabFile, MissingSpecialsAreNamed) {
  auto e = load_error(write("vocab.txt", "[PAD]\n[UNK]\n[SEP]\nword\n"));
  ASSERT_TRUE(e);
  std::string m = e->what();
  EXPECT_TRUE(has(m, "[CLS]") && has(m, "[MASK]")) << m;
  EXPECT_FALSE(has(m, "[PAD]")) << m;
  EXPECT_TRUE(load_error(write("empty.txt", "")));
  auto bad = load_error(write("bad.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n\xff\n"));
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->line(), 6);
  EXPECT_TRUE(has(bad->problem(), "invalid UTF-8")) << bad->what();
}

TEST(Vocab, BuildOrdersByCountThenToken) {
  TokenCounts counts = {{"b", 5}, {"a", 5}, {"c", 9}, {"rare", 1}, {"[UNK]", 100}, {"d", 2}};
  Vocab v = Vocab::build(counts, {/*min_count=*/2, /*max_size=*/0});
  EXPECT_EQ(v.tokens(), (Strings{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "c", "a", "b", "d"}));
  Vocab capped = Vocab::build(counts, {1, 7});
  EXPECT_EQ(capped.tokens(), (Strings{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "c", "a"}));
  EXPECT_THROW(Vocab::build(counts, {1, 3}), UsageError);
}

TEST(Vocab, OutOfRangeIdThrows) {
  Vocab v = vocab_of({"x"});
  EXPECT_THROW(v.token(6), UsageError);
  EXPECT_THROW(v.token(-1), UsageError);
  EXPECT_THROW(Vocab::from_tokens({"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a\nb"}), InputError);
}

// ---- basic tokenization (through the word tokenizer) --------------------------

TEST(BasicTokenizer, LowercaseStripsAccentsWithOriginalOffsets) {
  std::string text = "Héllo Wörld";
  WordTokenizer tok(vocab_of({"hello", "world"}), opts(true));
  EXPECT_EQ(tok.tokenize(text), (Strings{"hello", "world"}));
  Encoding e = tok.encode(text, std::nullopt, 0);
  EXPECT_EQ(e.ids, (std::vector<std::int64_t>{2, 5, 6, 3}));
  EXPECT_EQ(e.begin, (std::vector<std::int32_t>{0, 0, 7, 0}));
  EXPECT_EQ(e.end, (std::vector<std::int32_t>{0, 6, 13, 0}));  // é and ö are 2 bytes each
  EXPECT_EQ(slices(e, text), (Strings{"Héllo", "Wörld"}));
}

TEST(BasicTokenizer, AccentOptions) {
  EXPECT_EQ(words("Héllo Wörld", opts(false)), (Strings{"Héllo", "Wörld"}));
  EXPECT_EQ(words("Héllo Wörld", opts(false, true)), (Strings{"Hello", "World"}));
  EXPECT_EQ(words("Héllo Wörld", opts(true, false)), (Strings{"héllo", "wörld"}));
  EXPECT_EQ(words("e\u0301t\u00E9", opts(true)), (Strings{"ete"}));  // decomposed input too
}

TEST(BasicTokenizer, PunctuationSplits) {
  std::string text = "don't stop!";
  WordTokenizer tok(vocab_of({"don", "'", "t", "stop", "!"}));
  EXPECT_EQ(tok.tokenize(text), (Strings{"don", "'", "t", "stop", "!"}));
  Encoding e = tok.encode(text, std::nullopt, 0);
  EXPECT_EQ(slices(e, text), (Strings{"don", "'", "t", "stop", "!"}));
  EXPECT_EQ(words("a.b,c$d-e  (f)"), (Strings{"a", ".", "b", ",", "c", "$", "d", "-", "e", "(", "f", ")"}));
  EXPECT_EQ(words("¿Qué? «sí»"), (Strings{"¿", "que", "?", "«", "si", "»"}));
  // Judged after accent stripping: "≠" decomposes to "=" + U+0338.
  EXPECT_EQ(words("a≠b"), (Strings{"a", "=", "b"}));
}

TEST(BasicTokenizer, CleaningDropsControlsWithoutSplitting) {
  // NUL, zero-width space (Cf), U+FFFD and an invalid byte vanish; tab,
  // newline, NBSP and ideographic space separate words.
  const char raw[] = "ab\0c\u200Bd\xEF\xBF\xBD" "e\xFF" "f\tg\nh\u00A0i\u3000j";
  std::string text(raw, sizeof(raw) - 1);
  EXPECT_EQ(words(text), (Strings{"abcdef", "g", "h", "i", "j"}));
  WordTokenizer tok(vocab_of({"abcdef"}));
  Encoding e = tok.encode(text, std::nullopt, 0);
  EXPECT_EQ(e.begin[1], 0);
  EXPECT_EQ(e.end[1], 14);  // spans the dropped bytes inside the word
  EXPECT_TRUE(words(" \t\n\u00AD ").empty());
}

TEST(BasicTokenizer, CjkCharactersAreWords) {
  std::string text = "我爱NLP中文!";
  WordTokenizer tok(vocab_of({"我", "爱", "nlp", "中", "文", "!"}));
  EXPECT_EQ(tok.tokenize(text), (Strings{"我", "爱", "nlp", "中", "文", "!"}));
  Encoding e = tok.encode(text, std::nullopt, 0);
  EXPECT_EQ(e.begin, (std::vector<std::int32_t>{0, 0, 3, 6, 9, 12, 15, 0}));
  EXPECT_EQ(e.end, (std::vector<std::int32_t>{0, 3, 6, 9, 12, 15, 16, 0}));
  // Kana and Hangul are not split per character. Accent stripping (NFD)
  // drops the dakuten of が and, as in BERT, decomposes Hangul into jamo.
  EXPECT_EQ(words("ひらがな 한국어"),
            (Strings{"ひらかな", "\u1112\u1161\u11AB\u1100\u116E\u11A8\u110B\u1165"}));
  EXPECT_EQ(words("한국어", opts(false)), (Strings{"한국어"}));
  TokenizerOptions no_split;
  no_split.split_cjk = false;
  EXPECT_EQ(words("我爱NLP", no_split), (Strings{"我爱nlp"}));
}

TEST(BasicTokenizer, PythonLowercaseRules) {
  // str.lower(): final sigma at the end of a word, even before punctuation.
  EXPECT_EQ(words("ΟΔΟΣ ΣΑΣ."), (Strings{"οδος", "σας", "."}));
  EXPECT_EQ(words("ΟΔΟΣ", opts(true, false)), (Strings{"οδος"}));
  EXPECT_EQ(words("Σ"), (Strings{"σ"}));  // no cased letter before it
  // U+0130 lowercases to "i" + combining dot above, which accent stripping drops.
  EXPECT_EQ(words("İstanbul", opts(true, false)), (Strings{"i\u0307stanbul"}));
  EXPECT_EQ(words("İstanbul"), (Strings{"istanbul"}));
}

TEST(BasicTokenizer, OffsetsSliceToTheSurfaceForm) {
  std::string text = "Ça va?  Übermäßig GROẞ—naïve (Zoë) 東京!";
  WordTokenizer tok = WordTokenizer::build({text});
  Encoding e = tok.encode(text, std::nullopt, 0);
  Strings toks = tok.tokenize(text);
  Strings s = slices(e, text);
  ASSERT_EQ(s.size(), toks.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    namespace u = fathom::data::unicode;
    EXPECT_EQ(u::strip_accents(u::to_lower(s[i])), toks[i]) << i;
  }
}

// ---- word tokenizer ---------------------------------------------------------

TEST(WordTokenizer, UnknownWordsMapToUnk) {
  std::string text = "the zebra sat";
  WordTokenizer tok(vocab_of({"the", "sat"}));
  EXPECT_EQ(tok.tokenize(text), (Strings{"the", "[UNK]", "sat"}));
  Encoding e = tok.encode(text, std::nullopt, 0);
  EXPECT_EQ(e.ids, (std::vector<std::int64_t>{2, 5, 1, 6, 3}));
  EXPECT_EQ(slices(e, text), (Strings{"the", "zebra", "sat"}));
  EXPECT_EQ(e.special, (std::vector<std::uint8_t>{1, 0, 0, 0, 1}));
  EXPECT_EQ(tok.decode(e.ids), "the [UNK] sat");
  EXPECT_EQ(tok.decode(e.ids, false), "[CLS] the [UNK] sat [SEP]");
}

TEST(WordTokenizer, BuildCountsWordsDeterministically) {
  std::vector<std::string_view> corpus = {"The cat sat.", "the dog sat", "A cat!"};
  WordTokenizer::BuildOptions o;
  o.min_count = 2;
  WordTokenizer tok = WordTokenizer::build(corpus, o);
  // the, cat, sat: 2 each (ties by token); ".", "dog", "a", "!": 1.
  EXPECT_EQ(tok.vocab().tokens(), (Strings{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "cat", "sat", "the"}));
  EXPECT_EQ(tok.tokenize("THE CAT RAN"), (Strings{"the", "cat", "[UNK]"}));

  WordTokenizer::Builder b(o);
  for (std::string_view t : corpus) b.add(t);
  EXPECT_EQ(b.texts(), 3);
  EXPECT_EQ(b.counts().at("sat"), 2);
  EXPECT_EQ(b.finish().vocab().tokens(), tok.vocab().tokens());

  o.min_count = 1;
  o.max_size = 7;
  EXPECT_EQ(WordTokenizer::build(corpus, o).vocab().tokens(),
            (Strings{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "cat", "sat"}));
}

TEST(WordTokenizer, CasedOptionKeepsCase) {
  WordTokenizer::BuildOptions o;
  o.text.lowercase = false;
  WordTokenizer tok = WordTokenizer::build({"Paris paris"}, o);
  EXPECT_EQ(tok.tokenize("Paris PARIS"), (Strings{"Paris", "[UNK]"}));
}

// ---- wordpiece --------------------------------------------------------------

TEST(Wordpiece, GreedyLongestMatchFirst) {
  WordpieceTokenizer tok(vocab_of({"un", "##aff", "##able"}));
  EXPECT_EQ(tok.tokenize("unaffable"), (Strings{"un", "##aff", "##able"}));
  Encoding e = tok.encode("unaffable", std::nullopt, 0);
  EXPECT_EQ(e.begin, (std::vector<std::int32_t>{0, 0, 2, 5, 0}));
  EXPECT_EQ(e.end, (std::vector<std::int32_t>{0, 2, 5, 9, 0}));
  // Accents and case are normalized, offsets still cover the original bytes.
  std::string text = "Unaffáble";
  EXPECT_EQ(slices(tok.encode(text, std::nullopt, 0), text), (Strings{"Un", "aff", "áble"}));
}

TEST(Wordpiece, BertDocstringExample) {
  // google-research/bert tokenization.py: "unaffable" and "unwanted running".
  WordpieceTokenizer tok(vocab_of({"want", "##want", "##ed", "wa", "un", "runn", "##ing", ","}));
  EXPECT_EQ(tok.tokenize("UNwant\u00E9d,running"), (Strings{"un", "##want", "##ed", ",", "runn", "##ing"}));
  // Longest match wins over an earlier shorter one: "want" not "wa" + ...
  EXPECT_EQ(tok.tokenize("wanted"), (Strings{"want", "##ed"}));
  // A word that cannot be covered is one [UNK] spanning the whole word.
  std::string text = "unwantedX running";
  EXPECT_EQ(tok.tokenize(text), (Strings{"[UNK]", "runn", "##ing"}));
  EXPECT_EQ(slices(tok.encode(text, std::nullopt, 0), text), (Strings{"unwantedX", "runn", "ing"}));
}

TEST(Wordpiece, LongWordsAreUnknown) {
  WordpieceTokenizer tok(vocab_of({"a", "##a"}));
  std::string w100(100, 'a'), w101(101, 'a');
  Strings pieces = tok.tokenize(w100);
  ASSERT_EQ(pieces.size(), 100u);
  EXPECT_EQ(pieces[0], "a");
  EXPECT_EQ(pieces[99], "##a");
  EXPECT_EQ(tok.tokenize(w101), (Strings{"[UNK]"}));
  Encoding e = tok.encode(w101 + " a", std::nullopt, 0);
  EXPECT_EQ(e.end[1], 101);
  // The limit counts characters, not bytes: 60 two-byte "é" (stripped to "e").
  WordpieceTokenizer e_tok(vocab_of({"e", "##e"}));
  std::string accents;
  for (int i = 0; i < 60; ++i) accents += "é";
  EXPECT_EQ(e_tok.tokenize(accents).size(), 60u);
}

TEST(Wordpiece, CjkCharacters) {
  WordpieceTokenizer tok(vocab_of({"中", "文", "##文"}));
  EXPECT_EQ(tok.tokenize("中文字"), (Strings{"中", "文", "[UNK]"}));  // split first, never "##文"
}

TEST(Wordpiece, PairsHaveTypeIdsAndOwnOffsets) {
  WordpieceTokenizer tok(vocab_of({"un", "##aff", "##able", "able", "is"}));
  Encoding e = tok.encode("unaffable is", std::string_view("Able"), 0);
  EXPECT_EQ(tok.tokenize("unaffable is"), (Strings{"un", "##aff", "##able", "is"}));
  EXPECT_EQ(e.ids, (std::vector<std::int64_t>{2, 5, 6, 7, 9, 3, 8, 3}));
  EXPECT_EQ(e.type_ids, (std::vector<std::int64_t>{0, 0, 0, 0, 0, 0, 1, 1}));
  EXPECT_EQ(e.special, (std::vector<std::uint8_t>{1, 0, 0, 0, 0, 1, 0, 1}));
  EXPECT_EQ(e.begin, (std::vector<std::int32_t>{0, 0, 2, 5, 10, 0, 0, 0}));
  EXPECT_EQ(e.end, (std::vector<std::int32_t>{0, 2, 5, 9, 12, 0, 4, 0}));  // "Able" offsets are into text_b
  EXPECT_FALSE(e.truncated);
}

// Lengths of a and b after longest_first truncation, read off type_ids.
std::pair<int, int> kept(const Encoding& e) {
  int a = 0, b = 0;
  for (std::size_t i = 0; i < e.ids.size(); ++i) {
    if (e.special[i]) continue;
    (e.type_ids[i] == 0 ? a : b)++;
  }
  return {a, b};
}

TEST(Wordpiece, TruncationLongestFirst) {
  WordpieceTokenizer tok(vocab_of({"a", "b", "c", "d", "e", "x", "y", "z"}));
  // (5, 2) into room 4: drop from a until it is no longer the longer one.
  Encoding e = tok.encode("a b c d e", std::string_view("x y"), 7);
  EXPECT_EQ(e.ids.size(), 7u);
  EXPECT_EQ(kept(e), std::make_pair(2, 2));
  EXPECT_TRUE(e.truncated);
  EXPECT_EQ(tok.decode(e.ids), "a b x y");
  // Ties drop from b first: (3, 3) into room 5 -> (3, 2); into room 4 -> (2, 2).
  EXPECT_EQ(kept(tok.encode("a b c", std::string_view("x y z"), 8)), std::make_pair(3, 2));
  EXPECT_EQ(kept(tok.encode("a b c", std::string_view("x y z"), 7)), std::make_pair(2, 2));
  // b longer: (1, 4) into room 3 -> (1, 2).
  EXPECT_EQ(kept(tok.encode("a", std::string_view("x y z x"), 6)), std::make_pair(1, 2));
  // Exactly fitting is not truncation; everything dropped still keeps the specials.
  EXPECT_FALSE(tok.encode("a b", std::string_view("x"), 6).truncated);
  EXPECT_EQ(tok.encode("a b", std::string_view("x"), 3).ids, (std::vector<std::int64_t>{2, 3, 3}));
  EXPECT_THROW(tok.encode("a", std::string_view("x"), 2), UsageError);
}

TEST(Wordpiece, TruncationSingle) {
  WordpieceTokenizer tok(vocab_of({"un", "##aff", "##able"}));
  Encoding e = tok.encode("unaffable unaffable", std::nullopt, 4);
  EXPECT_EQ(e.ids, (std::vector<std::int64_t>{2, 5, 6, 3}));
  EXPECT_TRUE(e.truncated);
  EXPECT_EQ(tok.encode("unaffable", std::nullopt, 5).ids.size(), 5u);
  EXPECT_FALSE(tok.encode("unaffable", std::nullopt, 5).truncated);
  EXPECT_EQ(tok.encode("unaffable", std::nullopt, 0).ids.size(), 5u);
  EXPECT_THROW(tok.encode("unaffable", std::nullopt, 1), UsageError);
}

TEST(Wordpiece, DecodeGluesContinuations) {
  WordpieceTokenizer tok(vocab_of({"un", "##aff", "##able", "is", "!"}));
  Encoding e = tok.encode("Unaffable is!", std::nullopt, 0);
  EXPECT_EQ(tok.decode(e.ids), "unaffable is !");  // HF: no clean-up of spaces before "!"
  EXPECT_EQ(tok.decode(e.ids, false), "[CLS] unaffable is ! [SEP]");
  EXPECT_EQ(tok.decode({6, 7}), "##affable");  // a leading "##" piece has nothing to glue to
  EXPECT_EQ(tok.decode({}), "");
  EXPECT_THROW(tok.decode({99}), UsageError);
}

TEST(Wordpiece, BuilderCoversCorpusAndLearnsSuffixes) {
  std::vector<std::string_view> corpus = {"the walking dead", "the talking heads", "singing the blues",
                                          "jumping jacks", "the the the"};
  WordpieceTokenizer::BuildOptions o;
  o.min_word_count = 2;
  o.min_piece_count = 2;
  WordpieceTokenizer tok = WordpieceTokenizer::build(corpus, o);
  const Vocab& v = tok.vocab();
  EXPECT_EQ(Strings(v.tokens().begin(), v.tokens().begin() + 5),
            (Strings{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}));
  EXPECT_TRUE(v.contains("the"));      // count 6
  EXPECT_FALSE(v.contains("walking"));  // count 1: split instead
  EXPECT_TRUE(v.contains("##ing"));     // ends 4 rare words
  EXPECT_TRUE(v.contains("##king"));    // walking, talking
  EXPECT_TRUE(v.contains("w"));
  EXPECT_TRUE(v.contains("##w"));
  for (std::string_view t : corpus) {
    for (const std::string& p : tok.tokenize(t)) EXPECT_NE(p, "[UNK]") << t;
  }
  // Suffixes up to 6 characters: "walking" = "w" + "##alking" (shared with "talking").
  EXPECT_EQ(tok.tokenize("walking"), (Strings{"w", "##alking"}));
  std::string text = "The Walking";
  EXPECT_EQ(tok.decode(tok.encode(text, std::nullopt, 0).ids), "the walking");
  // Deterministic, and the size cap holds.
  EXPECT_EQ(WordpieceTokenizer::build(corpus, o).vocab().tokens(), v.tokens());
  o.max_size = 20;
  EXPECT_EQ(WordpieceTokenizer::build(corpus, o).vocab_size(), 20);
}

TEST(Wordpiece, DecodeRoundTrip) {
  std::vector<std::string_view> corpus = {"Tokenizers split words into pieces, don't they?",
                                          "Pieces of words: split, joined, and split again."};
  WordpieceTokenizer tok = WordpieceTokenizer::build(corpus, {});
  for (std::string_view t : corpus) {
    // The normalized words, space separated, come back exactly.
    WordTokenizer words_only = WordTokenizer::build({t});
    std::string expected;
    for (const std::string& w : words_only.tokenize(t)) expected += (expected.empty() ? "" : " ") + w;
    EXPECT_EQ(tok.decode(tok.encode(t, std::nullopt, 0).ids), expected);
  }
}

// ---- factory ----------------------------------------------------------------

using Factory = fathom::test::TempDirTest;

TEST_F(Factory, LoadsByKindWithOptions) {
  std::string p = write("vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nHello\nhello\n");
  auto word = fathom::data::load_tokenizer("word", p, R"({"lowercase": false})");
  EXPECT_EQ(word->kind(), "word");
  EXPECT_EQ(word->tokenize("Hello"), (Strings{"Hello"}));
  auto wp = fathom::data::load_tokenizer("wordpiece", p, "");
  EXPECT_EQ(wp->kind(), "wordpiece");
  EXPECT_EQ(wp->tokenize("Hello"), (Strings{"hello"}));
  EXPECT_EQ(wp->vocab_size(), 7);
  // options_json feeds back into load_tokenizer.
  auto again = fathom::data::load_tokenizer("word", p, word->options_json());
  EXPECT_EQ(again->options_json(), word->options_json());
  wp->save_vocab((dir_ / "copy.txt").string());
  EXPECT_EQ(Vocab::load((dir_ / "copy.txt").string()).size(), 7);
}

TEST_F(Factory, RejectsBadKindsAndOptions) {
  std::string p = write("vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n");
  try {
    fathom::data::load_tokenizer("bpe", p, "");
    FAIL() << "no throw";
  } catch (const UsageError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("'bpe'"), std::string::npos) << m;
    EXPECT_NE(m.find("word, wordpiece"), std::string::npos) << m;
  }
  try {
    fathom::data::make_tokenizer_options(R"({"lower_case": true})");
    FAIL() << "no throw";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("lower_case"), std::string::npos) << e.what();
  }
  EXPECT_THROW(fathom::data::make_tokenizer_options(R"({"lowercase": 1})"), UsageError);
  EXPECT_THROW(fathom::data::make_tokenizer_options("{not json"), UsageError);
  EXPECT_THROW(fathom::data::make_tokenizer_options("[]"), UsageError);
  EXPECT_THROW(fathom::data::make_tokenizer_options(R"({"max_input_chars_per_word": 0})"), UsageError);
  EXPECT_THROW(fathom::data::load_tokenizer("word", p, R"({"kind": "wordpiece"})"), UsageError);
  EXPECT_THROW(fathom::data::load_tokenizer("word", (dir_ / "nope.txt").string(), ""), InputError);
}

TEST(TokenizerOptions, JsonRoundTrip) {
  TokenizerOptions o = fathom::data::make_tokenizer_options(
      R"({"kind": "wordpiece", "lowercase": false, "strip_accents": true, "split_cjk": false,
          "max_input_chars_per_word": 50})");
  EXPECT_FALSE(o.lowercase);
  ASSERT_TRUE(o.strip_accents.has_value());
  EXPECT_TRUE(*o.strip_accents);
  EXPECT_FALSE(o.split_cjk);
  EXPECT_EQ(o.max_input_chars_per_word, 50);
  TokenizerOptions back =
      fathom::data::make_tokenizer_options(fathom::data::tokenizer_options_json("wordpiece", o));
  EXPECT_EQ(back.lowercase, o.lowercase);
  EXPECT_EQ(back.strip_accents, o.strip_accents);
  EXPECT_EQ(back.split_cjk, o.split_cjk);
  EXPECT_EQ(back.max_input_chars_per_word, o.max_input_chars_per_word);
  // null = follow lowercase (BERT's default).
  TokenizerOptions d = fathom::data::make_tokenizer_options(R"({"strip_accents": null})");
  EXPECT_FALSE(d.strip_accents.has_value());
  EXPECT_TRUE(d.strips_accents());
  EXPECT_TRUE(fathom::data::make_tokenizer_options("  ").lowercase);
}

}  // namespace
