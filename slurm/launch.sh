#!/bin/bash
# Shared by slurm/*.sbatch (sourced): starts `fathom run JOB.toml` on every
# task of the allocation, requeues the job before its time limit, and keeps
# the requeue count bounded. Not meant to be run by hand.
#
# Launcher (FATHOM_LAUNCHER):
#   auto    srun --mpi=pmix when this SLURM offers PMIx (srun --mpi=list),
#           else mpirun (Open MPI reads the allocation itself)
#   srun    srun --mpi=${FATHOM_SRUN_MPI:-pmix}; needs Open MPI built with PMIx
#           (or SLURM's PMI-2: FATHOM_SRUN_MPI=pmi2) — a rank that cannot
#           reach the PMI server starts as a lone rank 0/1: every task then
#           prints "rank 0/1", which is the sign to switch to mpirun
#   mpirun  mpirun -np $SLURM_NTASKS, mapped and bound like srun would
#
# Resume: `fathom run` skips every step whose recorded outputs are complete
# (run.json in the job's out directory) and reruns the step that was cut off;
# long steps resume inside themselves (cache row-chunks, train epochs). So a
# requeued job only needs the same command line, which is all this does.

fathom_launch() {
  local job=$1
  shift
  local bin=${FATHOM_BIN:-./build/bin/fathom}
  local cpus=${SLURM_CPUS_PER_TASK:-1}
  local ntasks=${SLURM_NTASKS:-1}
  local launcher=${FATHOM_LAUNCHER:-auto}
  export FATHOM_COLLECTIVE_TIMEOUT=${FATHOM_COLLECTIVE_TIMEOUT:-600}
  # One BLAS/OpenMP pool per rank, sized to its cores (fathom sizes its own
  # pools from the binding; this keeps OpenBLAS from starting one per core).
  export OMP_NUM_THREADS=$cpus OPENBLAS_NUM_THREADS=$cpus
  # HDF5 file locking is often unsupported on parallel file systems (Lustre
  # without flock, NFS); fathom's writers coordinate through MPI-IO instead.
  export HDF5_USE_FILE_LOCKING=${HDF5_USE_FILE_LOCKING:-FALSE}

  if [[ $launcher == auto ]]; then
    if srun --mpi=list 2>&1 | grep -qi pmix; then launcher=srun; else launcher=mpirun; fi
  fi
  local -a cmd
  case $launcher in
    srun)
      cmd=(srun --mpi="${FATHOM_SRUN_MPI:-pmix}" --kill-on-bad-exit=1 --cpu-bind=cores
           --cpus-per-task="$cpus" "$bin" run "$job" "$@")
      ;;
    mpirun)
      # SLURM_NTASKS_PER_NODE may read "4(x2)": the leading count is per node.
      local map="slot:PE=$cpus"
      [[ -n ${SLURM_NTASKS_PER_NODE:-} ]] && map="ppr:${SLURM_NTASKS_PER_NODE%%(*}:node:PE=$cpus"
      cmd=(mpirun -np "$ntasks" --map-by "$map" --bind-to core "$bin" run "$job" "$@")
      ;;
    *)
      echo "FATHOM_LAUNCHER=$launcher: expected auto, srun or mpirun" >&2
      return 2
      ;;
  esac

  echo "fathom: job $SLURM_JOB_ID (restart ${SLURM_RESTART_COUNT:-0}) on $SLURM_NNODES node(s)," \
       "$ntasks task(s) x $cpus core(s), launcher $launcher"
  echo "fathom: ${cmd[*]}"

  # Requeue shortly before the time limit: sbatch --signal=B:USR1@<s> sends
  # USR1 to this shell, which asks SLURM to requeue the job; the steps that
  # were running are killed and the next start resumes them. Preemption with
  # PreemptMode=REQUEUE needs nothing from here (the job has --requeue).
  local max=${FATHOM_MAX_REQUEUES:-5}
  trap '
    if (( ${SLURM_RESTART_COUNT:-0} < max )); then
      echo "fathom: time limit near, requeueing job $SLURM_JOB_ID"; scontrol requeue "$SLURM_JOB_ID"
    else
      echo "fathom: time limit near and $max requeues used (FATHOM_MAX_REQUEUES); not requeueing" >&2
    fi' USR1
  # The launcher runs in the background so the trap can fire while it runs.
  "${cmd[@]}" &
  local pid=$! rc
  while true; do
    wait "$pid"
    rc=$?
    # wait returns > 128 when a trapped signal interrupted it; the launcher
    # itself is still running (or being killed by the requeue): wait again.
    if (( rc > 128 )) && kill -0 "$pid" 2>/dev/null; then continue; fi
    break
  done
  # Exit codes of `fathom run`: 0 done, 1 failure, 2 bad input/usage (do not
  # resubmit: it fails the same way), 3 collective timeout (a hung rank).
  echo "fathom: launcher exited with $rc"
  return "$rc"
}
