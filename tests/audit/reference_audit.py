#!/usr/bin/python3
"""Independent reference for `fathom audit`: a plain Python count of the same
statistics, written as tokens.tsv is (token, n, count:<label>..., z:<label>...,
pmi:<label>...).

  reference_audit.py CORPUS.jsonl FIELD NGRAMS K MIN_COUNT > reference.tsv

Tokenization: ASCII letters/digits runs and single other non-space characters,
lowercased (what BERT's basic tokenizer does on ASCII text; the test corpora
are ASCII). Each n-gram counts once per example; labels sorted by name."""
import json
import math
import re
import sys

corpus, field, max_n, k, min_count = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
word = re.compile(r"[A-Za-z0-9]+|[^A-Za-z0-9\s]")

counts = {}  # token -> {label: examples}
labels = set()
with open(corpus, encoding="utf-8") as f:
    for line in f:
        if not line.strip():
            continue
        r = json.loads(line)
        label = str(r["label"])
        labels.add(label)
        segments = []
        if field in ("text", "both"):
            segments.append(r["text"])
        if field in ("text_pair", "both") and r.get("text_pair") is not None:
            segments.append(r["text_pair"])
        seen = set()
        for seg in segments:
            w = [t.lower() for t in word.findall(seg)]
            for i in range(len(w)):
                for n in range(1, max_n + 1):
                    if i + n <= len(w):
                        seen.add(" ".join(w[i:i + n]))
        for g in seen:
            per = counts.setdefault(g, {})
            per[label] = per.get(label, 0) + 1

labels = sorted(labels)
L = len(labels)
tested = sorted(t for t, per in counts.items() if sum(per.values()) >= min_count)
V = len(tested)
S = {y: sum(counts[t].get(y, 0) for t in tested) for y in labels}
T = sum(S.values()) + k * V * L
p0 = 1.0 / L
print("\t".join(["token", "n"] + [f"{w}:{y}" for w in ("count", "z", "pmi") for y in labels]))
for t in tested:
    per = counts[t]
    n = sum(per.values())
    c = [per.get(y, 0) for y in labels]
    z = [(ci / n - p0) / math.sqrt(p0 * (1 - p0) / n) for ci in c]
    pmi = [math.log(((ci + k) / T) / (((n + k * L) / T) * ((S[y] + k * V) / T))) for ci, y in zip(c, labels)]
    print("\t".join([t, str(n)] + [str(x) for x in c] + [repr(x) for x in z] + [repr(x) for x in pmi]))
