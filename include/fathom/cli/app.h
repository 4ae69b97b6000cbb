#pragma once
// The `fathom` command: subcommand table and the process-level failure policy.

namespace fathom::cli {

// Parses argv, runs one subcommand, returns the exit code:
// 0 success, 2 usage/input error, 1 other failure. Under MPI with more than
// one rank, an exception on any rank is logged with its rank and aborts the
// whole job (no rank is left waiting in a collective).
int main(int argc, char** argv);

}  // namespace fathom::cli
