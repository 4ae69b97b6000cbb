#!/usr/bin/python3
"""Independent reference for `fathom audit --cache C --index I`: reads the
cache with h5py and computes, with numpy only,
  * each labelled row's kNN label disagreement: its k nearest other rows by
    squared Euclidean distance of /features (brute force), share of them with
    another label;
  * each labelled row's gold-label loss (/losses).
Prints one JSON object {id: {"disagreement": d, "loss": l}}.
usage: reference_crossrefs.py CACHE K"""
import json
import sys

import h5py
import numpy as np

cache, k = sys.argv[1], int(sys.argv[2])
with h5py.File(cache, "r") as f:
    ids = [x.decode() if isinstance(x, bytes) else str(x) for x in f["ids"][:]]
    labels = f["labels"][:]
    losses = f["losses"][:]
    feats = f["features"][:].astype(np.float64)
sq = (feats * feats).sum(1)
d = sq[:, None] + sq[None, :] - 2.0 * feats @ feats.T
np.fill_diagonal(d, np.inf)
out = {}
for i in range(len(ids)):
    if labels[i] < 0:
        continue
    nn = np.argsort(d[i], kind="stable")[:k]
    out[ids[i]] = {"disagreement": float((labels[nn] != labels[i]).mean()), "loss": float(losses[i])}
json.dump(out, sys.stdout)
