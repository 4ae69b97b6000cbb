#pragma once
// Job-wide failure policy: one rank failing must end every rank, with the
// exit code the error asks for (see fathom::exit_code_for), instead of
// leaving the others blocked in their next collective.
#include <exception>
#include <functional>

namespace fathom::comm {

class Communicator;

// Logs describe(e) (error level; the log pattern carries the rank), flushes,
// then ends the job: comm->abort(code) when comm has several ranks, else
// std::exit(code). Not collective: any single rank may call it.
[[noreturn]] void fail_job(const std::exception& e, Communicator* comm);

// Returns body()'s exit code; if body throws, applies fail_job (a non-std
// exception is reported as an internal error, exit code 1).
int run_guarded(Communicator* comm, const std::function<int()>& body);
// The same, for a communicator that body creates on first use (the CLI):
// current_comm() is asked only when body throws, and may return nullptr.
int run_guarded(const std::function<Communicator*()>& current_comm, const std::function<int()>& body);

}  // namespace fathom::comm
