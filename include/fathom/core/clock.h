#pragma once
// Wall-clock time as fathom writes it into files (manifests, cache attributes,
// run records). Any thread.
#include <string>

namespace fathom {

// Now, in UTC, ISO 8601 to the second: "2026-11-29T12:00:00Z".
std::string utc_timestamp();

}  // namespace fathom
