"""BERT-compatible tokenizer (basic + wordpiece), as in Google's BERT and
Hugging Face's BertTokenizer with do_lower_case=True, strip_accents=None,
tokenize_chinese_chars=True: the C++ `wordpiece` tokenizer must give the same
ids (tests/model/parity_test.cpp checks it).

Vocabulary built from a corpus (build_vocab):
  ids 0..4   [PAD] [UNK] [CLS] [SEP] [MASK]
  then       every character seen (sorted by code point), then "##" + each of
             those characters, so any word made of seen characters has a
             wordpiece split and [UNK] only comes from unseen characters;
  then       whole words (basic-tokenizer output) by descending frequency
             (ties alphabetical), min_count or more occurrences, until the
             vocabulary holds vocab_size entries.
"""
import collections
import unicodedata

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
MAX_CHARS_PER_WORD = 100


def _is_whitespace(ch):
    if ch in (" ", "\t", "\n", "\r"):
        return True
    return unicodedata.category(ch) == "Zs"


def _is_control(ch):
    if ch in ("\t", "\n", "\r"):
        return False
    return unicodedata.category(ch).startswith("C")


def _is_punctuation(ch):
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_cjk(cp):
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
            or 0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF
            or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


def basic_tokenize(text, lowercase=True, strip_accents=None):
    """Whitespace/punctuation split with BERT's cleaning rules."""
    out = []
    for ch in text:
        cp = ord(ch)
        if cp == 0 or cp == 0xFFFD or _is_control(ch):
            continue
        if _is_whitespace(ch):
            out.append(" ")
        elif _is_cjk(cp):
            out.append(" " + ch + " ")
        else:
            out.append(ch)
    tokens = []
    strip = lowercase if strip_accents is None else strip_accents
    for word in "".join(out).split():
        if lowercase:
            word = word.lower()
        if strip:
            word = "".join(c for c in unicodedata.normalize("NFD", word)
                           if unicodedata.category(c) != "Mn")
        piece = []
        for ch in word:
            if _is_punctuation(ch):
                if piece:
                    tokens.append("".join(piece))
                    piece = []
                tokens.append(ch)
            else:
                piece.append(ch)
        if piece:
            tokens.append("".join(piece))
    return [t for t in " ".join(tokens).split()]


class WordpieceTokenizer:
    def __init__(self, vocab, lowercase=True, strip_accents=None):
        self.vocab = list(vocab)
        self.index = {tok: i for i, tok in enumerate(self.vocab)}
        for tok in SPECIALS[:4]:
            if tok not in self.index:
                raise ValueError("vocabulary has no %s token" % tok)
        self.lowercase = lowercase
        self.strip_accents = strip_accents
        self.pad_id, self.unk_id, self.cls_id, self.sep_id = (self.index[t] for t in SPECIALS[:4])

    @classmethod
    def from_file(cls, path, **kw):
        with open(path, encoding="utf-8") as f:
            return cls([line.rstrip("\r\n") for line in f], **kw)

    def options(self):
        return {"kind": "wordpiece", "lowercase": self.lowercase, "strip_accents": self.strip_accents,
                "split_cjk": True, "max_input_chars_per_word": MAX_CHARS_PER_WORD}

    def wordpiece(self, word):
        if len(word) > MAX_CHARS_PER_WORD:
            return ["[UNK]"]
        pieces, start = [], 0
        while start < len(word):
            end, cur = len(word), None
            while start < end:
                sub = word[start:end] if start == 0 else "##" + word[start:end]
                if sub in self.index:
                    cur = sub
                    break
                end -= 1
            if cur is None:
                return ["[UNK]"]
            pieces.append(cur)
            start = end
        return pieces

    def tokenize(self, text):
        return [p for w in basic_tokenize(text, self.lowercase, self.strip_accents) for p in self.wordpiece(w)]

    def ids(self, tokens):
        return [self.index.get(t, self.unk_id) for t in tokens]

    def encode(self, text_a, text_b=None, max_length=0):
        """[CLS] a [SEP] (b [SEP]); longest-first truncation (ties trim b).
        Returns (ids, type_ids, truncated)."""
        a = self.ids(self.tokenize(text_a))
        b = self.ids(self.tokenize(text_b)) if text_b is not None else None
        truncated = False
        if max_length > 0:
            budget = max_length - (3 if b is not None else 2)
            if budget < 0:
                raise ValueError("max_length %d is too small for the special tokens" % max_length)
            while len(a) + (len(b) if b is not None else 0) > budget:
                truncated = True
                if b is None or len(a) > len(b):
                    a.pop()
                else:
                    b.pop()
        ids = [self.cls_id] + a + [self.sep_id]
        type_ids = [0] * len(ids)
        if b is not None:
            ids += b + [self.sep_id]
            type_ids += [1] * (len(b) + 1)
        return ids, type_ids, truncated


def build_vocab(texts, vocab_size=8000, min_count=2, lowercase=True, strip_accents=None):
    counts = collections.Counter()
    for t in texts:
        counts.update(basic_tokenize(t, lowercase, strip_accents))
    chars = sorted({c for w in counts for c in w})
    vocab = list(SPECIALS) + chars + ["##" + c for c in chars]
    seen = set(vocab)
    for word, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        if len(vocab) >= vocab_size or n < min_count:
            break
        if word not in seen:
            vocab.append(word)
            seen.add(word)
    return vocab
