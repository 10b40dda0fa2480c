// Entry points of roundoff_backends_torch.so, the plugin that holds the LibTorch and cuBLAS
// backends (plugin.cpp loads it). Only these two symbols are exported.
#include "detail.hpp"

#define ROUNDOFF_PLUGIN_EXPORT extern "C" __attribute__((visibility("default")))

using roundoff::backends::backend;
using roundoff::backends::detail::descriptor;

/// Must equal the loader's ROUNDOFF_BACKENDS_PLUGIN_ABI: a plugin from another build is refused.
ROUNDOFF_PLUGIN_EXPORT const char* roundoff_backends_plugin_abi() {
  return ROUNDOFF_BACKENDS_PLUGIN_ABI;
}

/// A new backend for d: family 0 LibTorch, 1 cuBLAS; null when this plugin lacks the family.
ROUNDOFF_PLUGIN_EXPORT backend* roundoff_backends_plugin_make(const descriptor& d, int family) {
#if defined(ROUNDOFF_BACKENDS_TORCH)
  if (family == 0) return roundoff::backends::detail::make_torch_backend(d).release();
#endif
#if defined(ROUNDOFF_BACKENDS_CUDA)
  if (family == 1) return roundoff::backends::detail::make_cublas_backend(d).release();
#endif
  (void)d, (void)family;
  return nullptr;
}
