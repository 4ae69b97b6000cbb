// Request validation and error bodies (serve_internal.h).
#include <algorithm>
#include <cmath>

#include "serve_internal.h"

namespace fathom::serve {

ApiResponse error_response(int status, const std::string& field, const std::string& message, int retry_after_s,
                           const std::string& body) {
  ApiResponse r;
  r.status = status;
  r.retry_after_s = retry_after_s;
  if (!body.empty()) {
    r.body = body;
    return r;
  }
  nlohmann::ordered_json e;
  e["status"] = status;
  e["field"] = field.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(field);
  e["message"] = message;
  r.body = nlohmann::ordered_json{{"error", e}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return r;
}

bool Fields::has(const std::string& name) {
  if (std::find(seen_.begin(), seen_.end(), name) == seen_.end()) seen_.push_back(name);
  return j_.contains(name) && !j_.at(name).is_null();
}

const nlohmann::json& Fields::get(const std::string& name) {
  has(name);
  return j_.at(name);
}

std::string Fields::string(const std::string& name, bool required, std::int64_t max_bytes) {
  if (!has(name)) {
    if (required) throw ApiError(422, name, "is required");
    return "";
  }
  const nlohmann::json& v = j_.at(name);
  if (!v.is_string()) throw ApiError(422, name, std::string("must be a string, got ") + v.type_name());
  const std::string& s = v.get_ref<const std::string&>();
  if (std::int64_t(s.size()) > max_bytes)
    throw ApiError(422, name, "has " + std::to_string(s.size()) + " bytes, at most " + std::to_string(max_bytes) +
                                  " are allowed");
  return s;
}

std::optional<std::int64_t> Fields::integer(const std::string& name, std::int64_t lo, std::int64_t hi) {
  if (!has(name)) return std::nullopt;
  const nlohmann::json& v = j_.at(name);
  const std::string range = "an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
  if (!v.is_number_integer()) throw ApiError(422, name, "must be " + range + ", got " + v.dump());
  std::int64_t x = 0;
  if (v.is_number_unsigned()) {
    const std::uint64_t u = v.get<std::uint64_t>();
    if (u > std::uint64_t(hi)) throw ApiError(422, name, "must be " + range + ", got " + v.dump());
    x = std::int64_t(u);
  } else {
    x = v.get<std::int64_t>();
  }
  if (x < lo || x > hi) throw ApiError(422, name, "must be " + range + ", got " + v.dump());
  return x;
}

std::optional<double> Fields::number(const std::string& name, double lo, double hi) {
  if (!has(name)) return std::nullopt;
  const nlohmann::json& v = j_.at(name);
  if (!v.is_number()) throw ApiError(422, name, std::string("must be a number, got ") + v.type_name());
  const double x = v.get<double>();
  if (!std::isfinite(x) || x < lo || x > hi)
    throw ApiError(422, name, "must be a number in [" + nlohmann::json(lo).dump() + ", " + nlohmann::json(hi).dump() +
                                  "], got " + v.dump());
  return x;
}

void Fields::finish() const {
  for (auto it = j_.begin(); it != j_.end(); ++it)
    if (std::find(seen_.begin(), seen_.end(), it.key()) == seen_.end())
      throw ApiError(422, it.key(), "unknown field");
}

const std::vector<Route>& routes() {
  static const std::vector<Route> r = {
      {"/", "GET"},
      {"/healthz", "GET"},
      {"/v1/model", "GET"},
      {"/v1/predict", "POST"},
      {"/v1/saliency", "POST"},
      {"/v1/attack/hotflip", "POST"},
      {"/v1/attack/reduce", "POST"},
      {"/v1/knn", "POST"},
      {"/v1/influence", "POST"},
  };
  return r;
}

const Route* find_route(const std::string& path) {
  for (const Route& r : routes())
    if (path == r.path) return &r;
  return nullptr;
}

}  // namespace fathom::serve
