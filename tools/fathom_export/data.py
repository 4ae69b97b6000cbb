"""fathom JSONL corpora (one object per line: id, text, optional text_pair,
label) and a deterministic demo corpus for tests."""
import json
import random


def _label_text(v):
    return v if isinstance(v, str) else json.dumps(v)


def read_jsonl(path):
    examples = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise SystemExit("%s:%d: invalid JSON: %s" % (path, lineno, e))
            if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
                raise SystemExit("%s:%d: field 'text': expected a string" % (path, lineno))
            pair = obj.get("text_pair")
            if pair is not None and not isinstance(pair, str):
                raise SystemExit("%s:%d: field 'text_pair': expected a string or null" % (path, lineno))
            if obj.get("label") is None:
                raise SystemExit("%s:%d: field 'label': missing (training needs labels)" % (path, lineno))
            label = _label_text(obj["label"])
            if not label or "\n" in label or "\r" in label:
                raise SystemExit("%s:%d: field 'label': must be non-empty and one line" % (path, lineno))
            examples.append({"id": obj.get("id", lineno), "text": obj["text"], "text_pair": pair, "label": label})
    if not examples:
        raise SystemExit("%s: no examples" % path)
    return examples


def sort_labels(labels):
    """Numeric labels in numeric order, then the rest alphabetically."""
    def key(s):
        try:
            return (0, float(s), s)
        except ValueError:
            return (1, 0.0, s)
    return sorted(set(labels), key=key)


_SUBJECTS = ["The movie", "This café", "Our naïve hero", "The soundtrack", "Dr. Smith's plot",
             "The CGI", "Her performance", "The ending", "This sequel", "The director's cut"]
_WORDS = {
    "positive": ["wonderful", "brilliant", "charming", "delightful", "top-notch", "moving", "superb"],
    "negative": ["awful", "boring", "dreadful", "clumsy", "over-long", "tedious", "bland"],
    "neutral": ["average", "ordinary", "long", "quiet", "predictable", "fine", "okay"],
}
_ADVERBS = ["", "really ", "quite ", "very ", "SO ", "rather "]
_ENDINGS = ["!", ".", "...", " :)", "?!", ""]
_CONTEXT = ["Seen at the festival.", "Reviewed by a critic.", "I went with friends (twice).",
            "Streaming now, 2 hours.", "Rated PG-13; no spoilers."]


def demo_corpus(n, seed=1):
    """n deterministic three-class review sentences; about a third are pairs."""
    rng = random.Random(seed)
    labels = sorted(_WORDS)
    out = []
    for i in range(n):
        label = labels[rng.randrange(len(labels))]
        text = "%s was %s%s%s" % (rng.choice(_SUBJECTS), rng.choice(_ADVERBS),
                                  rng.choice(_WORDS[label]), rng.choice(_ENDINGS))
        if rng.random() < 0.3:
            text += " And the %s was %s." % (rng.choice(["music", "cast", "pacing"]),
                                             rng.choice(_WORDS[label]))
        pair = rng.choice(_CONTEXT) if rng.random() < 0.35 else None
        ex = {"id": "demo-%d" % i, "text": text, "label": label}
        if pair is not None:
            ex["text_pair"] = pair
        out.append(ex)
    return out


def write_jsonl(path, examples):
    with open(path, "w", encoding="utf-8") as f:
        for ex in examples:
            f.write(json.dumps(ex, ensure_ascii=False) + "\n")
