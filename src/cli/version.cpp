// `roundoff version`: the version, the optional parts compiled in, and the kernel of the fast
// exact path on this CPU (docs/exact-fast.md).
#include <fmt/format.h>

#include "command.hpp"
#include "roundoff/backends/backend.hpp"
#include "roundoff/exact/gemm.hpp"
#include "roundoff_build_info.hpp"

namespace roundoff::cli {

command add_version_command(CLI::App& root) {
  command c;
  c.app = root.add_subcommand("version", "print the version and the optional parts compiled in");
  c.run = [] {
    fmt::print("roundoff {} ({} build)\n", build::version, build::build_type);
    // LibTorch and CUDA are in a plugin loaded when one of their backends runs: report what was
    // built and whether the plugin is there, without loading it (`roundoff backends` loads it).
    const std::string plugin = backends::backends_plugin_path();
    const std::string where = plugin.empty()
                                  ? " (plugin roundoff_backends_torch.so not found: unavailable)"
                                  : fmt::format(" (plugin {}, loaded on first use)", plugin);
    fmt::print("LibTorch: {}{}\n", build::have_torch ? build::torch_version : "absent",
               build::have_torch ? where : "");
    fmt::print("CUDA: {}{}\n", build::have_cuda ? build::cuda_version : "absent",
               build::have_cuda ? where : "");
    fmt::print("exact kernel: {}\n", exact::gemm_exact_kernel());
    return static_cast<int>(exit_ok);
  };
  return c;
}

}  // namespace roundoff::cli
