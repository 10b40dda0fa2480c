// `roundoff version`: the version, the optional parts compiled in, and the kernel of the fast
// exact path on this CPU (docs/exact-fast.md).
#include <fmt/format.h>

#include "command.hpp"
#include "roundoff/exact/gemm.hpp"
#include "roundoff_build_info.hpp"

namespace roundoff::cli {

command add_version_command(CLI::App& root) {
  command c;
  c.app = root.add_subcommand("version", "print the version and the optional parts compiled in");
  c.run = [] {
    fmt::print("roundoff {} ({} build)\n", build::version, build::build_type);
    fmt::print("LibTorch: {}\n", build::have_torch ? build::torch_version : "absent");
    fmt::print("CUDA: {}\n", build::have_cuda ? build::cuda_version : "absent");
    fmt::print("exact kernel: {}\n", exact::gemm_exact_kernel());
    return static_cast<int>(exit_ok);
  };
  return c;
}

}  // namespace roundoff::cli
