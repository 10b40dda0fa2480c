// Internal to the backends layer: backend descriptors, factories of each adapter family, and the
// common base of the adapters that run an op through its GEMM lowering. Not a public header.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "lowering.hpp"
#include "roundoff/backends/backend.hpp"

namespace roundoff::backends::detail {

/// Everything a backend declares, before it is built.
struct descriptor {
  std::string name;
  std::string model;
  format_id storage = format_id::f32;
  std::vector<ops::op_kind> ops;
};

/// A backend that exists by name but cannot run here (library not compiled in).
std::unique_ptr<backend> make_unavailable(const descriptor& d, std::string reason);

/// Adapter families. Each returns null for a descriptor it does not know.
std::unique_ptr<backend> make_cpu_backend(const descriptor& d);     // naive, eigen, blas
std::unique_ptr<backend> make_torch_backend(const descriptor& d);   // torch_backends.cpp, plugin
std::unique_ptr<backend> make_cublas_backend(const descriptor& d);  // cublas_backends.cpp, plugin
/// What the registry lists for the LibTorch and cuBLAS families (plugin.cpp): stand-ins that
/// load the plugin when first asked, or unavailable backends in a build without the library.
std::unique_ptr<backend> make_torch_family(const descriptor& d);
std::unique_ptr<backend> make_cublas_family(const descriptor& d);
std::unique_ptr<backend> make_planted_backend(const descriptor& d);  // planted_backends.cpp
/// The sm_90 tensor-core emulations (tc_backends.cpp) and what the registry lists of them.
std::unique_ptr<backend> make_tc_backend(const descriptor& d);
std::vector<descriptor> tc_descriptors();

/// Whether ROUNDOFF_TEST_PLANTED_BACKENDS=1: then the built-in registry also lists the test-only
/// backends that are wrong on purpose (planted_backends.cpp).
bool planted_backends_enabled();

/// Base of the adapters that run every op as the batched NT GEMM of lower_to_gemm.
class gemm_backend : public backend {
 protected:
  using backend::backend;
  void do_run(const ops::op_spec& op, const tensor& x, const tensor& w, const tensor* b,
              const std::vector<std::int64_t>& out_shape, const run_options& opt,
              run_result& result) const final;
  /// Computes out[L.out_index[...]] = (A_p B_p^T)(i, j) (+ L.bias[...] when non-empty), in the
  /// backend's arithmetic, into out (sized numel(out_shape), zero-filled). Fills the info fields.
  virtual void run_gemm(const gemm_lowering& L, const run_options& opt, std::vector<double>& out,
                        run_info& info) const = 0;
};

/// Seconds since t0.
inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace roundoff::backends::detail
