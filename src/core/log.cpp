#include "fathom/core/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <atomic>

#include "fathom/core/error.h"

namespace fathom::log {
namespace {
std::atomic<int> g_rank{0};
std::atomic<int> g_size{1};
}  // namespace

void init(int rank, int size, const std::string& level) {
  g_rank = rank < 0 ? 0 : rank;
  g_size = size;
  auto logger = std::make_shared<spdlog::logger>("fathom", std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
  logger->set_pattern("[%H:%M:%S.%e] [rank " + (rank < 0 ? std::string("?") : std::to_string(rank) + "/" + std::to_string(size)) +
                      "] [%^%l%$] %v");
  auto lvl = spdlog::level::from_str(level);
  if (lvl == spdlog::level::off && level != "off") throw UsageError("unknown log level '" + level + "' (expected trace|debug|info|warn|error|off)");
  logger->set_level(lvl);
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(logger);
}

int rank() { return g_rank; }
int size() { return g_size; }
bool is_root() { return g_rank == 0; }

}  // namespace fathom::log
