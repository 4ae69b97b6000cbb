#pragma once
// Logging: spdlog's default logger, with "rank r/n" in every line.
// Call init() once per process as soon as the rank is known (before that the
// pattern says "rank ?"). Use spdlog::info/warn/error directly afterwards.
#include <spdlog/spdlog.h>

#include <string>

namespace fathom::log {

// rank < 0: not known yet (the pattern shows "rank ?").
// level: trace|debug|info|warn|error|off. Logs go to stderr so stdout stays
// clean for machine-readable output.
void init(int rank, int size, const std::string& level = "info");

// The rank set by init (0 before init). Progress printing uses it.
int rank();
int size();
bool is_root();

}  // namespace fathom::log
