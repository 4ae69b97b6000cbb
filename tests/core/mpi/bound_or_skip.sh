#!/bin/sh
# Usage: bound_or_skip.sh SECONDS MPIRUN [MPIRUN ARGS...] -- PROGRAM [ARGS...]
# Runs "MPIRUN ARGS true" first: if mpirun cannot place/bind the ranks as
# asked on this machine (too few cores, no hwloc binding support), the test
# is skipped (exit 77, ctest SKIP_RETURN_CODE). Otherwise runs the program
# under the same mpirun arguments; its exit code is the result. Both runs
# have a hard wall-clock limit.
limit=$1
shift
launcher=""
while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do
  launcher="$launcher '$(printf %s "$1" | sed "s/'/'\\\\''/g")'"
  shift
done
if [ "$#" -eq 0 ]; then echo "usage: $0 SECONDS MPIRUN [ARGS...] -- PROGRAM [ARGS...]"; exit 2; fi
shift
probe=$(eval "timeout -k 10 $limit $launcher true" 2>&1)
rc=$?
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
  echo "$probe"
  echo "FAIL: mpirun hung launching /bin/true (killed after ${limit}s)"
  exit 1
fi
if [ "$rc" -ne 0 ]; then
  echo "$probe"
  echo "SKIPPED: mpirun cannot bind ranks this way on this machine (probe exit $rc)"
  exit 77
fi
eval "timeout -k 10 $limit $launcher"' "$@"'
