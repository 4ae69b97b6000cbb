#!/bin/sh
# Usage: expect_job_failure.sh SECONDS EXIT_CODE PATTERN COMMAND [ARGS...]
# Passes when COMMAND fails by itself within SECONDS with exactly EXIT_CODE
# (README's table: 1 failure, 2 usage/input, 3 collective timeout) and its
# output contains PATTERN. Exit 0, another code, or a hang (timeout's
# 124/137) fail the test, which WILL_FAIL could not tell apart.
limit=$1
want=$2
pattern=$3
shift 3
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
if [ "$rc" -ne "$want" ]; then
  echo "FAIL: the job exited $rc, expected $want"; exit 1
fi
if ! grep -q -- "$pattern" "$log"; then
  echo "FAIL: output does not contain: $pattern"; exit 1
fi
echo "PASS: failed as expected"
