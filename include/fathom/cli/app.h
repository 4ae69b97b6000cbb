#pragma once
// The `fathom` command: subcommand table and the process-level failure policy.

namespace fathom::cli {

// Parses argv, runs one subcommand, returns the exit code: 0 success,
// 1 failure, 2 usage/input error (CLI11 parse errors included), 3 collective
// timeout (the watchdog aborts the job). Failures go through
// comm::run_guarded: an exception on any rank is logged with its rank and,
// under MPI with more than one rank, aborts the whole job (no rank is left
// waiting in a collective).
int main(int argc, char** argv);

}  // namespace fathom::cli
