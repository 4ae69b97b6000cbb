#!/bin/sh
# Usage: demo_matches_one_rank.sh FATHOM PYTHON OUT
# OUT holds the demo job as run by 3 ranks (cli_demo_np3). Checks its
# run.json (3 ranks, mpi, every step done with non-empty outputs) and that
# one rank computes the same stats, predictions, neighbours, representer points
# and mislabel ranking from the same inputs (the 3-rank index, searched by 1).
set -eu
fathom=$1 python=$2 out=$3
one=$(mktemp -d)
trap 'rm -rf "$one"' EXIT
"$python" - "$out/run.json" <<'PY'
import json, os, sys
run = json.load(open(sys.argv[1]))
assert run["ranks"] == 3 and run["backend"] == "mpi", (run["ranks"], run["backend"])
names = [s["name"] for s in run["steps"]]
assert names == ["synth", "stats", "train", "predict", "cache", "index", "knn", "representer", "influence",
                 "influence-scores", "self-influence", "tracin", "lds", "saliency", "triggers", "hotflip", "reduce", "mislabels", "audit"], names
for s in run["steps"]:
    assert s["status"] == "done", s
    assert s["outputs"], s
    for o in s["outputs"]:
        assert o["bytes"] > 0 and os.path.getsize(o["path"]) == o["bytes"], o
print("run.json ok")
PY
"$fathom" --backend local stats --corpus "$out/data/train.jsonl" --out "$one/stats.json" >/dev/null
cmp "$out/stats.json" "$one/stats.json"
"$fathom" --backend local predict --model "$out/model" --corpus "$out/data/test.jsonl" \
  --out "$one/test-predictions.jsonl" >/dev/null
cmp "$out/test-predictions.jsonl" "$one/test-predictions.jsonl"
"$fathom" --backend local knn --model "$out/model" --index "$out/features.faiss" --queries "$out/data/test.jsonl" \
  --corpus "$out/data/train.jsonl" --k 10 --out "$one/knn.jsonl" >/dev/null
cmp "$out/knn.jsonl" "$one/knn.jsonl"
"$fathom" --backend local representer --model "$out/model" --cache "$out/train-cache.h5" \
  --queries "$out/data/test.jsonl" --corpus "$out/data/train.jsonl" --top 5 --out "$one/representer.jsonl" >/dev/null
cmp "$out/representer.jsonl" "$one/representer.jsonl"
"$fathom" --backend local knn --audit --model "$out/model" --index "$out/features.faiss" \
  --corpus "$out/data/train.jsonl" --k 10 --out "$one/suspects.jsonl" >/dev/null
cmp "$out/suspects.jsonl" "$one/suspects.jsonl"
"$fathom" --backend local influence --model "$out/model" --cache "$out/train-cache.h5" \
  --queries "$out/data/test.jsonl" --corpus "$out/data/train.jsonl" --solver exact --candidates knn:1000 \
  --index "$out/features.faiss" --top 5 --out "$one/influence.jsonl" >/dev/null
# Influence sums HVPs in another order at 3 ranks: same lists, scores equal to rounding.
"$python" - "$out/influence.jsonl" "$one/influence.jsonl" <<'PY'
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
b = [json.loads(l) for l in open(sys.argv[2])]
assert len(a) == len(b) > 0, (len(a), len(b))
for x, y in zip(a, b):
    assert x["id"] == y["id"] and x["prediction"] == y["prediction"], (x["id"], y["id"])
    for key in ("proponents", "opponents"):
        assert [e["id"] for e in x[key]] == [e["id"] for e in y[key]], (x["id"], key)
        scale = max(abs(e["score"]) for e in y[key]) or 1.0
        for e, f in zip(x[key], y[key]):
            assert abs(e["score"] - f["score"]) <= 1e-5 * scale, (x["id"], key, e, f)
print("influence ok")
PY
echo "PASS: 3-rank stats, predictions, knn, representer points, influence and mislabel ranking equal one rank's"
