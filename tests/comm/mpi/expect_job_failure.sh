#!/bin/sh
# Usage: expect_job_failure.sh SECONDS PATTERN COMMAND [ARGS...]
# Passes when COMMAND fails by itself within SECONDS (exit code non-zero and
# not timeout's 124/137, which mean it hung) and its output contains PATTERN.
limit=$1
pattern=$2
shift 2
log=$(mktemp)
trap 'rm -f "$log"' EXIT
start=$(date +%s)
timeout -k 5 "$limit" "$@" >"$log" 2>&1
rc=$?
elapsed=$(( $(date +%s) - start ))
cat "$log"
echo "--- exit code $rc after ${elapsed}s"
if [ "$rc" -eq 0 ]; then
  echo "FAIL: the job exited 0 but should have failed"; exit 1
fi
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
  echo "FAIL: the job hung and was killed after ${limit}s"; exit 1
fi
if ! grep -q -- "$pattern" "$log"; then
  echo "FAIL: output does not contain: $pattern"; exit 1
fi
echo "PASS: failed as expected"
