#!/bin/sh
# Usage: demo_matches_one_rank.sh FATHOM PYTHON OUT
# OUT holds the demo job as run by 3 ranks (cli_demo_np3). Checks its
# run.json (3 ranks, mpi, every step done with non-empty outputs) and that
# one rank computes the same stats and predictions from the same inputs.
set -eu
fathom=$1 python=$2 out=$3
one=$(mktemp -d)
trap 'rm -rf "$one"' EXIT
"$python" - "$out/run.json" <<'PY'
import json, os, sys
run = json.load(open(sys.argv[1]))
assert run["ranks"] == 3 and run["backend"] == "mpi", (run["ranks"], run["backend"])
names = [s["name"] for s in run["steps"]]
assert names == ["synth", "stats", "train", "predict", "cache"], names
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
echo "PASS: 3-rank stats and predictions equal one rank's"
