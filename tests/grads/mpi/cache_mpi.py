#!/usr/bin/python3
"""`fathom cache` under a real mpirun, checked with h5py.

  cache_mpi.py ranks       FATHOM KILLER WORKDIR MPIRUN [MPIRUN FLAGS...]
  cache_mpi.py kill_resume FATHOM KILLER WORKDIR MPIRUN [MPIRUN FLAGS...]

KILLER is tests/grads/mpi/cache_killer: `fathom cache` with the test-only
fault hook (CacheOptions::after_batch) that SIGKILLs one rank after N batches.

ranks:       -np 1, 2 and 3 (uneven shards at 3), one thread per rank, write
             bitwise identical datasets and the same attributes (created_at
             aside); 2 threads on one rank agree to float rounding.
kill_resume: KILLER SIGKILLs a rank mid-chunk (the only rank of 1; rank 1,
             then rank 0, of 2); the file is left with some but not all
             chunks complete; `fathom cache` with the same options resumes
             it (recomputing only the missing chunks) and the result is
             bitwise identical to an uninterrupted run. Also: killed at 3
             ranks, resumed at 2.

Exit 77 (ctest SKIP_RETURN_CODE) when h5py is missing.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import time

try:
    import h5py
    import numpy as np
except ImportError as e:  # pragma: no cover
    print(f"SKIP: h5py/numpy not available for {sys.executable}: {e}")
    sys.exit(77)

RUN_TIMEOUT = 120  # seconds per fathom/mpirun call; the ctest registration adds a hard limit on the whole script

mode, FATHOM, KILLER, WORK = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
MPIRUN = sys.argv[5:]
if not MPIRUN:
    sys.exit("usage: cache_mpi.py ranks|kill_resume FATHOM KILLER WORKDIR MPIRUN [FLAGS...]")

failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
        print("FAIL:", msg, flush=True)
    return cond


def run(args, np_=None, expect_ok=True, program=None):
    """Runs fathom, or `program` (under mpirun -np np_ if given); returns (rc, output)."""
    cmd = ([*MPIRUN, "-np", str(np_)] if np_ else []) + [program or FATHOM, *args]
    env = dict(os.environ)
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=RUN_TIMEOUT)
        rc, out = p.returncode, p.stdout
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        rc, out = 124, out + f"\n[timed out after {RUN_TIMEOUT}s]"
    label = " ".join(([f"np{np_}"] if np_ else []) + args[:1])
    print(f"$ {' '.join(cmd)}\n  -> rc {rc} in {time.monotonic() - t0:.1f}s", flush=True)
    if expect_ok and rc != 0:
        print(out)
        sys.exit(f"FAILED: {label} exited {rc}")
    return rc, out


def inspect_json(path):
    p = subprocess.run([FATHOM, "inspect", "--json", path], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=RUN_TIMEOUT)
    if p.returncode != 0:
        sys.exit(f"FAILED: fathom inspect --json {path} exited {p.returncode}:\n{p.stderr}")
    return json.loads(p.stdout)


def same_file_contents(ref_path, path):
    """Every dataset bitwise equal (dtype, shape, bytes); attributes equal but created_at."""
    ok = True
    with h5py.File(ref_path, "r") as a, h5py.File(path, "r") as b:
        ok &= check(sorted(a.keys()) == sorted(b.keys()), f"{path}: datasets {sorted(b.keys())} != {sorted(a.keys())}")
        for k in a.keys():
            if k not in b:
                continue
            x, y = a[k][()], b[k][()]
            if not check(x.dtype == y.dtype and x.shape == y.shape,
                         f"{path}:/{k} is {y.dtype}{y.shape}, {ref_path} has {x.dtype}{x.shape}"):
                ok = False
                continue
            if x.tobytes() != y.tobytes():
                flat_x, flat_y = x.reshape(len(x), -1), y.reshape(len(y), -1)
                rows = [i for i in range(len(x)) if flat_x[i].tobytes() != flat_y[i].tobytes()]
                ok &= check(False, f"{path}:/{k} differs from {ref_path} in {len(rows)} rows, first {rows[:10]}")
        keys = set(a.attrs.keys()) | set(b.attrs.keys())
        for k in sorted(keys - {"created_at"}):
            va, vb = a.attrs.get(k), b.attrs.get(k)
            ok &= check(np.array_equal(np.asarray(va), np.asarray(vb)) if va is not None and vb is not None else False,
                        f"{path}: attribute {k} = {vb!r}, {ref_path} has {va!r}")
    return ok


def setup():
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    data, model = os.path.join(WORK, "data"), os.path.join(WORK, "model")
    run(["synth", "--task", "sentiment", "--n", "2000", "--seed", "3", "--out", data])
    corpus = os.path.join(data, "train.jsonl")
    run(["train", "--corpus", corpus, "--arch", "boe", "--epochs", "1", "--out", model])
    return corpus, model


def ranks():
    corpus, model = setup()
    # One thread per rank in every run: with a multithreaded BLAS the last
    # bits of a product can depend on the thread count (not on the ranks),
    # which the default-threads run below checks with a tolerance.
    args = ["--threads", "1", "cache", "--model", model, "--corpus", corpus, "--params", "all", "--project",
            "logra:8:3", "--rows-per-chunk", "64", "--batch", "32"]
    files = {}
    for n in (1, 2, 3):
        files[n] = os.path.join(WORK, f"np{n}.h5")
        rc, out = run(args + ["--out", files[n]], np_=n)
        check("32 of 32 chunks computed" in out, f"np{n}: expected '32 of 32 chunks computed' in:\n{out}")
        info = inspect_json(files[n])
        check(info["complete"] is True and info["chunks_done"] == info["chunks_total"] == 32,
              f"np{n}: inspect says complete={info['complete']} {info['chunks_done']}/{info['chunks_total']}")
    with h5py.File(files[1], "r") as f:
        check(f["gradients"].shape == (2000, 154) and f["features"].shape == (2000, 64),
              f"np1: gradients {f['gradients'].shape}, features {f['features'].shape}")
        check(bool(np.isfinite(f["gradients"][()]).all()) and float(np.abs(f["gradients"][()]).max()) > 0,
              "np1: gradients not finite or all zero")
        check((f["complete"][()] == 1).all(), "np1: /complete not all 1")
    for n in (2, 3):
        check(same_file_contents(files[1], files[n]), f"np{n} differs from np1")
    # Default threads (2 on one rank): equal up to float rounding.
    threaded = os.path.join(WORK, "np1-threads2.h5")
    run(["--threads", "2"] + args[2:] + ["--out", threaded], np_=1)
    with h5py.File(files[1], "r") as a, h5py.File(threaded, "r") as b:
        for name in ("losses", "logits", "features", "gradients"):
            x, y = a[name][()].astype(np.float64), b[name][()].astype(np.float64)
            err = float(np.abs(x - y).max()) / max(float(np.abs(x).max()), 1e-30)
            check(err <= 1e-5, f"{name}: 2 threads vs 1 thread differ by {err:.3g} (relative to the largest value)")
        for name in ("ids", "labels", "targets", "predictions"):
            check(np.array_equal(a[name][()], b[name][()]), f"{name}: 2 threads vs 1 thread differ")


CHUNKS_RE = re.compile(r"(\d+) of (\d+) chunks computed")


def kill_then_resume(args, ref, name, np_kill, kill_rank, np_resume):
    path = os.path.join(WORK, name + ".h5")
    at = args.index("cache")  # global options (--threads) before it, cache options after
    killer_args = ["--kill-rank", str(kill_rank), "--kill-after-batches", "5"] + args[:at] + args[at + 1:] + ["--out", path]
    rc, out = run(killer_args, np_=np_kill, expect_ok=False, program=KILLER)
    check(rc != 0 and rc != 124, f"{name}: the killed run exited {rc} (expected non-zero, not a timeout):\n{out}")
    if not check(os.path.exists(path), f"{name}: no file after the killed run"):
        return
    info = inspect_json(path)
    done, total = info["chunks_done"], info["chunks_total"]
    print(f"  {name}: after the kill {done}/{total} chunks complete, complete={info['complete']}")
    check(info["complete"] is False, f"{name}: inspect says complete after a kill")
    check(0 < done < total, f"{name}: {done}/{total} chunks complete after the kill; expected some but not all")
    text = subprocess.run([FATHOM, "inspect", path], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=RUN_TIMEOUT).stdout
    check("complete: no" in text, f"{name}: inspect text lacks 'complete: no':\n{text}")

    rc, out = run(args + ["--out", path], np_=np_resume)
    check("resum" in out, f"{name}: the rerun does not report resuming:\n{out}")
    m = CHUNKS_RE.search(out)
    if check(m is not None, f"{name}: no 'N of M chunks computed' in:\n{out}"):
        check(int(m.group(1)) == total - done and int(m.group(2)) == total,
              f"{name}: resumed run computed {m.group(0)}; expected {total - done} of {total}")
    info = inspect_json(path)
    check(info["complete"] is True and info["chunks_done"] == total,
          f"{name}: after resuming complete={info['complete']} {info['chunks_done']}/{total}")
    check(same_file_contents(ref, path), f"{name}: resumed file differs from the uninterrupted run")


def kill_resume():
    corpus, model = setup()
    # One thread per rank, so 1, 2 and 3 ranks compute bitwise the same rows
    # (see ranks()) and every run can be compared with one reference.
    args = ["--threads", "1", "cache", "--model", model, "--corpus", corpus, "--params", "all", "--project",
            "logra:8:3", "--rows-per-chunk", "64", "--batch", "16"]
    ref = os.path.join(WORK, "reference.h5")
    run(args + ["--out", ref], np_=2)
    kill_then_resume(args, ref, "kill_np1", np_kill=1, kill_rank=0, np_resume=1)
    kill_then_resume(args, ref, "kill_rank1_np2", np_kill=2, kill_rank=1, np_resume=2)
    kill_then_resume(args, ref, "kill_rank0_np2", np_kill=2, kill_rank=0, np_resume=2)
    # Resumed with another number of ranks (the chunk layout does not depend on it).
    kill_then_resume(args, ref, "kill_rank2_np3_resume_np2", np_kill=3, kill_rank=2, np_resume=2)


t0 = time.monotonic()
{"ranks": ranks, "kill_resume": kill_resume}[mode]()
print(f"{mode}: {len(failures)} failure(s) in {time.monotonic() - t0:.1f}s")
if failures:
    sys.exit(1)
shutil.rmtree(WORK, ignore_errors=True)
