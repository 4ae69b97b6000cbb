#include <iostream>

#include "command.h"

namespace fathom::cli {

Registered register_version(CLI::App& app, Context&) {
  auto json = std::make_shared<bool>(false);
  auto* sub = app.add_subcommand("version", "Print fathom's version and the versions of its libraries");
  sub->add_flag("--json", *json, "print one JSON object instead of text");
  sub->footer("Output: text lines 'name: version' (or JSON with --json) on stdout.");
  return {sub, [json] {
            VersionInfo v = version_info();
            if (*json) {
              std::cout << version_json(v).dump(2) << "\n";
              return 0;
            }
            std::string backends;
            for (auto& b : v.backends) backends += (backends.empty() ? "" : ",") + b;
            std::cout << "fathom:    " << v.fathom << " (" << v.build_type << ", " << v.compiler << ")\n"
                      << "libtorch:  " << v.torch << (v.torch_cuda ? " (CUDA available)" : " (CPU)") << "\n"
                      << "faiss:     " << v.faiss << " (index module)\n"
                      << "hdf5:      " << v.hdf5 << "\n"
                      << "mpi:       " << v.mpi << "\n"
                      << "nccl:      " << (v.nccl.empty() ? "not built in" : v.nccl + " (built in)") << "\n"
                      << "cuda:      " << (v.torch_cuda ? "available" : "not available to libtorch") << "\n"
                      << "backends:  " << backends << "\n";
            return 0;
          }};
}

}  // namespace fathom::cli
