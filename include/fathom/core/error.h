#pragma once
// Errors with a kind (which decides the exit code) and a cause chain.
//
// Contract:
//  * InputError / UsageError: the user gave something wrong -> exit code 2.
//    InputError names file, line (1-based; 0 = not line-specific), field and
//    what was expected, so the message is actionable without a debugger.
//  * CommError: a collective failed; carries the operation and the rank.
//  * Error: anything else -> exit code 1.
//  * Context is added by catching and rethrowing with std::throw_with_nested
//    (see with_context); describe() prints the whole chain, outermost first.
#include <cstdint>
#include <exception>
#include <stdexcept>
#include <string>
#include <utility>

namespace fathom {

enum class ErrorKind { Internal, Input, Usage, Comm };

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what, ErrorKind kind = ErrorKind::Internal)
      : std::runtime_error(what), kind_(kind) {}
  ErrorKind kind() const noexcept { return kind_; }

 private:
  ErrorKind kind_;
};

// Bad input data: "<file>:<line>: field '<field>': <problem>".
class InputError : public Error {
 public:
  InputError(std::string file, std::int64_t line, std::string field, std::string problem);
  // Not tied to a line/field (e.g. "file is empty", "no such file").
  InputError(std::string file, std::string problem);
  const std::string& file() const noexcept { return file_; }
  std::int64_t line() const noexcept { return line_; }
  const std::string& field() const noexcept { return field_; }
  const std::string& problem() const noexcept { return problem_; }

 private:
  std::string file_;
  std::int64_t line_ = 0;
  std::string field_;
  std::string problem_;
};

// Bad command line / option combination.
class UsageError : public Error {
 public:
  explicit UsageError(const std::string& what) : Error(what, ErrorKind::Usage) {}
};

// A communicator operation failed (or timed out) on `rank`.
class CommError : public Error {
 public:
  CommError(std::string op, int rank, const std::string& detail);
  const std::string& op() const noexcept { return op_; }
  int rank() const noexcept { return rank_; }

 private:
  std::string op_;
  int rank_;
};

// Whole cause chain, outermost first, one cause per line ("  caused by: ...").
std::string describe(const std::exception& e);

// Exit code policy: 2 if any error in the chain is Input/Usage, otherwise 1.
int exit_code_for(const std::exception& e);

// Runs f(); if it throws, rethrows with `context` as the outer message, keeping
// the original as the nested cause. The outer error keeps the inner kind so the
// exit code is unchanged.
template <class F>
decltype(auto) with_context(const std::string& context, F&& f) {
  try {
    return std::forward<F>(f)();
  } catch (const Error& e) {
    std::throw_with_nested(Error(context, e.kind()));
  } catch (const std::exception&) {
    std::throw_with_nested(Error(context));
  }
}

}  // namespace fathom
