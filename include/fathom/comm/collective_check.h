#pragma once
// Error propagation for steps that every rank runs: if any rank throws, every
// rank throws, so no rank is left waiting in the next collective.
#include <functional>
#include <string>

namespace fathom::comm {

class Communicator;

// COLLECTIVE. Runs fn() on every rank, then agrees on the outcome: the lowest
// failing rank broadcasts its message and error kind; that rank rethrows its
// own exception and every other rank throws Error("<what> failed on rank r:
// <message>") of the same kind (so all ranks exit with the same code).
void collective_check(Communicator& comm, const std::string& what, const std::function<void()>& fn);
// COLLECTIVE. Runs fn on rank 0 only, with the same error propagation.
void on_root(Communicator& comm, const std::string& what, const std::function<void()>& fn);

}  // namespace fathom::comm
