#pragma once
// Private to the serve module: request validation, error bodies, routes, the
// page.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "fathom/serve/server.h"

namespace fathom::serve {

// A client error naming the request field at fault ("" = none).
class ApiError : public std::runtime_error {
 public:
  ApiError(int status, std::string field, const std::string& message)
      : std::runtime_error(message), status(status), field(std::move(field)) {}
  int status;
  std::string field;
};

// {"error": {"status", "field" (null if ""), "message"}}, or `body` as given.
ApiResponse error_response(int status, const std::string& field, const std::string& message, int retry_after_s,
                           const std::string& body = "");

// Typed access to a request object's fields; every accessor records the name,
// finish() refuses the fields nobody asked for. ApiError(422, name, ...) for a
// wrong type or a value out of range.
class Fields {
 public:
  explicit Fields(const nlohmann::json& object) : j_(object) {}
  bool has(const std::string& name);
  const nlohmann::json& get(const std::string& name);
  // A string of at most max_bytes bytes; required: missing is an error.
  std::string string(const std::string& name, bool required, std::int64_t max_bytes);
  // An integer in [lo, hi] (a float with an integral value is refused too:
  // JSON numbers like 1e3 are ambiguous); nullopt when absent.
  std::optional<std::int64_t> integer(const std::string& name, std::int64_t lo, std::int64_t hi);
  std::optional<double> number(const std::string& name, double lo, double hi);
  void finish() const;

 private:
  const nlohmann::json& j_;
  std::vector<std::string> seen_;
};

struct Route {
  const char* path;
  const char* method;  // "GET" | "POST"
};
const std::vector<Route>& routes();
const Route* find_route(const std::string& path);

// The web page (HTML with inline CSS, JS and SVG).
const std::string& page_html();

}  // namespace fathom::serve
