#include <iostream>

#include "command.h"
#include "fathom/core/error.h"
#include "fathom/grads/cache_info.h"
#include "fathom/store/cache_reader.h"
#include "fathom/store/describe.h"

namespace fathom::cli {

Registered register_inspect(CLI::App& app, Context&) {
  struct Opts {
    std::string file, check_model;
    bool json = false;
  };
  auto o = std::make_shared<Opts>();
  auto* sub = app.add_subcommand("inspect", "Summarise any fathom HDF5 file; check a cache against a model bundle");
  sub->add_option("FILE", o->file, "HDF5 file (a fathom cache or any other)")->required();
  sub->add_option("--check-model", o->check_model,
                  "model bundle directory: verify the cache was built from it (weights sha256, labels, "
                  "parameter names and shapes); exit 1 with the differences if not");
  sub->add_flag("--json", o->json, "print one JSON object instead of text");
  sub->footer("Output (text): datasets with shape, dtype, chunking and bytes on disk; root attributes;\n"
              "for caches: row-chunks complete / total and whether it was finalised.\n"
              "Runs on one process (read-only; works while a writer has the file open).");
  return {sub, [o] {
            store::FileSummary s = store::describe(o->file);
            std::cout << (o->json ? s.json + "\n" : s.text);
            if (o->check_model.empty()) return 0;
            grads::CacheInfo info = grads::read_cache_info(store::CacheReader::open(o->file));
            std::vector<std::string> problems = grads::check_cache_model(info, o->check_model);
            if (!problems.empty()) {
              std::string msg = o->file + " was not built from the model " + o->check_model + ":";
              for (const auto& p : problems) msg += "\n  " + p;
              throw Error(msg);
            }
            if (!o->json)
              std::cout << "check-model: " << o->file << " matches " << o->check_model << " (weights sha256 "
                        << info.model_sha256.substr(0, 12) << "…, " << info.params.size() << " parameter(s))\n";
            return 0;
          }};
}

}  // namespace fathom::cli
