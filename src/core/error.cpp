#include "fathom/core/error.h"

#include <sstream>

namespace fathom {

namespace {
std::string format_input(const std::string& file, std::int64_t line, const std::string& field,
                         const std::string& problem) {
  std::ostringstream os;
  os << file;
  if (line > 0) os << ":" << line;
  os << ": ";
  if (!field.empty()) os << "field '" << field << "': ";
  os << problem;
  return os.str();
}

void walk(const std::exception& e, std::ostringstream& os, int depth) {
  if (depth > 0) os << "\n  caused by: ";
  os << e.what();
  try {
    std::rethrow_if_nested(e);
  } catch (const std::exception& inner) {
    walk(inner, os, depth + 1);
  } catch (...) {
    os << "\n  caused by: unknown exception";
  }
}

bool any_user_error(const std::exception& e) {
  if (auto* fe = dynamic_cast<const Error*>(&e)) {
    if (fe->kind() == ErrorKind::Input || fe->kind() == ErrorKind::Usage) return true;
  }
  try {
    std::rethrow_if_nested(e);
  } catch (const std::exception& inner) {
    return any_user_error(inner);
  } catch (...) {
  }
  return false;
}
}  // namespace

InputError::InputError(std::string file, std::int64_t line, std::string field, std::string problem)
    : Error(format_input(file, line, field, problem), ErrorKind::Input),
      file_(std::move(file)),
      line_(line),
      field_(std::move(field)),
      problem_(std::move(problem)) {}

InputError::InputError(std::string file, std::string problem)
    : InputError(std::move(file), 0, "", std::move(problem)) {}

CommError::CommError(std::string op, int rank, const std::string& detail)
    : Error("rank " + std::to_string(rank) + ": " + op + " failed: " + detail, ErrorKind::Comm),
      op_(std::move(op)),
      rank_(rank) {}

std::string describe(const std::exception& e) {
  std::ostringstream os;
  walk(e, os, 0);
  return os.str();
}

int exit_code_for(const std::exception& e) { return any_user_error(e) ? 2 : 1; }

}  // namespace fathom
