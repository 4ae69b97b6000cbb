"""Writes a fathom "torchscript" bundle (see include/fathom/model/bundle.h):
fathom.json, model.pt (torch.jit.save), vocab.txt, labels.txt and, on
request, expected.json (fixed inputs with the model's outputs, for parity
checks of the C++ side). Files go to temporaries first; fathom.json last."""
import json
import os

import torch

from .tokenizer import SPECIALS
from .train import make_batch

# Texts checked by tests/model/parity_test.cpp. The first BATCH_TEXTS form
# the model batch (padding + a pair); the rest exercise the tokenizer only
# (accents, punctuation, unseen characters, CJK, truncation).
EXPECTED_TEXTS = [
    ("The movie was wonderful!", None),
    ("Was it good?", "Yes, really quite good -- I'd say 10/10."),
    ("Our naïve hero wasn't boring... (mostly)", None),
    ("CAFÉ Crème: Résumé\tof the\nplot", "Déjà vu; ÜBER-long!"),
    ("unseen ✨ emoji, 漢字 and ½ x²", None),
    ("  spaces   everywhere  ", "   "),
    (" ".join(["wonderful"] * 49) + " end", "short pair " * 20),
]
BATCH_TEXTS = 4


def _write(path, data, binary=False):
    tmp = path + ".tmp"
    with open(tmp, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as f:
        f.write(data)
    os.replace(tmp, path)


def _lines(items):
    return "".join(item + "\n" for item in items)


def write_bundle(out, scripted, tokenizer, labels, architecture, max_length, extra=None, groups=None):
    """groups: more parameter_groups ({name: [parameter names]}), e.g. "head"."""
    os.makedirs(out, exist_ok=True)
    tmp = os.path.join(out, "model.pt.tmp")
    torch.jit.save(scripted, tmp)
    os.replace(tmp, os.path.join(out, "model.pt"))
    _write(os.path.join(out, "vocab.txt"), _lines(tokenizer.vocab))
    _write(os.path.join(out, "labels.txt"), _lines(labels))
    matrix = scripted.embedding_matrix()
    features = scripted.classifier.weight.shape[1]
    meta = {
        "format": "fathom-bundle",
        "format_version": 1,
        "kind": "torchscript",
        "architecture": architecture,
        "tokenizer": tokenizer.options(),
        "max_length": max_length,
        "special_tokens": {t: tokenizer.index[t] for t in SPECIALS if t in tokenizer.index},
        "labels": list(labels),
        "vocab_size": int(matrix.shape[0]),
        "embedding_dim": int(matrix.shape[1]),
        "hidden_dim": int(features),
        "num_labels": len(labels),
        "parameter_groups": {"classifier": ["classifier.weight", "classifier.bias"],
                             "embeddings": ["embeddings.weight"], **(groups or {})},
        "weights": "model.pt",
    }
    if extra:
        meta["export"] = extra
    _write(os.path.join(out, "fathom.json"), json.dumps(meta, indent=2, ensure_ascii=False) + "\n")
    return meta


@torch.no_grad()
def write_expected(out, scripted, tokenizer, max_length, architecture, texts=EXPECTED_TEXTS):
    scripted.eval()
    entries, encoded = [], []
    for text, pair in texts:
        ids, type_ids, truncated = tokenizer.encode(text, pair, max_length)
        entries.append({"text": text, "text_pair": pair, "tokens": [tokenizer.vocab[i] for i in ids],
                        "ids": ids, "type_ids": type_ids, "truncated": truncated})
        encoded.append((ids, type_ids))
    ids, mask, type_ids = make_batch(encoded, list(range(BATCH_TEXTS)), tokenizer.pad_id)
    emb = scripted.embed(ids)
    logits, features = scripted.forward_from_embeddings(emb, mask, type_ids)
    doc = {
        "format": "fathom-expected",
        "format_version": 1,
        "architecture": architecture,
        "max_length": max_length,
        "tolerance": 1e-5,
        "texts": entries,
        "batch": {"texts": list(range(BATCH_TEXTS)), "ids": ids.tolist(), "mask": mask.tolist(),
                  "type_ids": type_ids.tolist()},
        "logits": logits.double().tolist(),
        "features": features.double().tolist(),
        "embed": emb.double().tolist(),
        "forward": scripted(ids, mask, type_ids).double().tolist(),
    }
    _write(os.path.join(out, "expected.json"), json.dumps(doc, ensure_ascii=False) + "\n")
    return doc
