// Test-only: `fathom cache` with a fault injected. Builds a cache exactly as
// `fathom cache` does (grads::build_cache, same defaults), with the test
// hook CacheOptions::after_batch installed so that rank KILL_RANK SIGKILLs
// itself after computing KILL_AFTER batches (mid-chunk when a chunk holds
// several batches). The kill-and-resume tests (cache_mpi.py) run it under
// mpirun, then resume the file with the real `fathom cache`.
//
//   cache_killer --kill-rank R --kill-after-batches N [--threads T]
//                --model DIR --corpus FILE --out FILE
//                [--params P] [--project SPEC] [--rows-per-chunk K] [--batch B]
//                [--dtype f32|f16] [--target gold|predicted] [--method vectorised|loop]
//
// Exit codes as fathom's (run_guarded): 2 for a usage or input error. A run
// that reaches its kill never returns.
#include <signal.h>
#include <unistd.h>

#include <cstdint>
#include <map>
#include <string>

#include "fathom/comm/communicator.h"
#include "fathom/comm/failure.h"
#include "fathom/core/error.h"
#include "fathom/core/log.h"
#include "fathom/grads/cache_build.h"

namespace {

using fathom::UsageError;

std::int64_t to_int(const std::string& flag, const std::string& text) {
  try {
    std::size_t used = 0;
    const long long v = std::stoll(text, &used);
    if (used == text.size()) return v;
  } catch (const std::exception&) {
  }
  throw UsageError("cache_killer: " + flag + " '" + text + "' is not an integer");
}

struct Args {
  int kill_rank = 0;
  std::int64_t kill_after = -1;
  fathom::grads::CacheOptions cache;
};

Args parse(int argc, char** argv) {
  std::map<std::string, std::string> flags;
  for (int i = 1; i < argc; i += 2) {
    if (i + 1 >= argc) throw UsageError(std::string("cache_killer: ") + argv[i] + " needs a value");
    flags[argv[i]] = argv[i + 1];
  }
  Args a;
  auto take = [&](const std::string& flag, auto& into, auto convert) {
    auto it = flags.find(flag);
    if (it == flags.end()) return;
    into = convert(flag, it->second);
    flags.erase(it);
  };
  auto text = [](const std::string&, const std::string& v) { return v; };
  auto integer = [](const std::string& f, const std::string& v) { return to_int(f, v); };
  std::int64_t kill_rank = 0, threads = 0;
  take("--kill-rank", kill_rank, integer);
  take("--kill-after-batches", a.kill_after, integer);
  take("--threads", threads, integer);
  take("--model", a.cache.model_dir, text);
  take("--corpus", a.cache.corpus, text);
  take("--out", a.cache.out, text);
  take("--params", a.cache.params, text);
  take("--project", a.cache.project, text);
  take("--rows-per-chunk", a.cache.rows_per_chunk, integer);
  take("--batch", a.cache.batch, integer);
  take("--dtype", a.cache.dtype, text);
  take("--target", a.cache.target, text);
  take("--method", a.cache.method, text);
  if (!flags.empty()) throw UsageError("cache_killer: unknown option " + flags.begin()->first);
  if (a.kill_after < 1) throw UsageError("cache_killer: --kill-after-batches N (>= 1) is required");
  a.kill_rank = int(kill_rank);
  a.cache.threads = int(threads);
  return a;
}

}  // namespace

int main(int argc, char** argv) {
  fathom::log::init(-1, 0);
  std::unique_ptr<fathom::comm::Communicator> comm;
  return fathom::comm::run_guarded([&] { return comm.get(); }, [&] {
    Args a = parse(argc, argv);
    comm = fathom::comm::make_communicator("auto");
    fathom::log::init(comm->rank(), comm->size(), "info");
    if (comm->rank() == a.kill_rank) {
      const std::int64_t after = a.kill_after;
      a.cache.after_batch = [after](std::int64_t batches) {
        if (batches >= after) ::kill(::getpid(), SIGKILL);
      };
    }
    fathom::grads::build_cache(a.cache, *comm);
    return 0;
  });
}
