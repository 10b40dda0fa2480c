// The LibTorch and cuBLAS backends live in a plugin, roundoff_backends_torch.so, loaded with
// dlopen the first time one of them is asked whether it is available or to run. Commands that
// never touch them (version, reference, check) start without loading LibTorch or CUDA.
#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "detail.hpp"
#include "roundoff/backends/backend.hpp"

namespace roundoff::backends {
namespace detail {
namespace {

#if defined(ROUNDOFF_BACKENDS_PLUGIN)
constexpr const char* plugin_file = "roundoff_backends_torch.so";

/// Entry point of the plugin (plugin_entry.cpp): a new backend for d of family 0 (LibTorch) or
/// 1 (cuBLAS), or null when the plugin has no such family.
using make_fn = backend* (*)(const descriptor& d, int family);
using abi_fn = const char* (*)();

std::string exe_dir() {
  std::string buf(4096, '\0');
  const ssize_t n = readlink("/proc/self/exe", buf.data(), buf.size() - 1);
  if (n <= 0) return {};
  buf.resize(static_cast<std::size_t>(n));
  const auto slash = buf.rfind('/');
  return slash == std::string::npos ? std::string{} : buf.substr(0, slash);
}

/// Where the plugin may be, in order: ROUNDOFF_BACKENDS_PLUGIN (a file), beside the executable,
/// the install tree's <libdir>/roundoff beside <bindir>, and this build's output.
std::vector<std::string> candidates() {
  std::vector<std::string> c;
  if (const char* env = std::getenv("ROUNDOFF_BACKENDS_PLUGIN"); env && *env) c.emplace_back(env);
  if (const std::string d = exe_dir(); !d.empty()) {
    c.push_back(d + "/" + plugin_file);
    c.push_back(d + "/../" ROUNDOFF_INSTALL_LIBDIR "/roundoff/" + plugin_file);
  }
  c.emplace_back(ROUNDOFF_BACKENDS_PLUGIN_BUILD_PATH);
  return c;
}

struct loaded_plugin {
  make_fn make = nullptr;
  std::string reason;  ///< why it did not load, when make is null
};

const loaded_plugin& plugin() {
  static const loaded_plugin p = [] {
    loaded_plugin r;
    std::string tried;
    for (const std::string& path : candidates()) {
      if (access(path.c_str(), R_OK) != 0) continue;
      // Never closed: its backends live as long as the registry.
      void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (!h) {
        const char* e = dlerror();
        tried += (tried.empty() ? "" : "; ") + std::string(e ? e : path);
        continue;
      }
      auto abi = reinterpret_cast<abi_fn>(dlsym(h, "roundoff_backends_plugin_abi"));
      auto make = reinterpret_cast<make_fn>(dlsym(h, "roundoff_backends_plugin_make"));
      if (!abi || !make || std::string(abi()) != ROUNDOFF_BACKENDS_PLUGIN_ABI) {
        tried += (tried.empty() ? "" : "; ") + path + ": not this build's plugin";
        continue;
      }
      r.make = make;
      return r;
    }
    r.reason =
        std::string("the LibTorch/CUDA plugin ") + plugin_file + " did not load (" +
        (tried.empty() ? "not found beside the executable, in <prefix>/" ROUNDOFF_INSTALL_LIBDIR
                         "/roundoff, or at ROUNDOFF_BACKENDS_PLUGIN"
                       : tried) +
        ")";
    return r;
  }();
  return p;
}

/// Stands for a plugin backend until it is first needed, then forwards to it.
class plugin_backend final : public backend {
 public:
  plugin_backend(const descriptor& d, int family)
      : backend(parse_backend_name(d.name), d.model, d.storage, d.ops), d_(d), family_(family) {}

  availability available() const override {
    const backend* b = real();
    return b ? b->available() : availability{false, reason_};
  }

 protected:
  void do_run(const ops::op_spec& op, const tensor& x, const tensor& w, const tensor* b,
              const std::vector<std::int64_t>&, const run_options& opt,
              run_result& result) const override {
    // The inputs are already in storage format: the plugin's front end changes nothing more.
    run_info outer = std::move(result.info);
    result = real()->run(op, x, w, b, opt);
    result.info.backend = std::move(outer.backend);
    result.info.inputs_rounded = outer.inputs_rounded;
  }

 private:
  const backend* real() const {
    std::call_once(once_, [this] {
      const loaded_plugin& p = plugin();
      if (!p.make) {
        reason_ = p.reason;
        return;
      }
      real_.reset(p.make(d_, family_));
      if (!real_) reason_ = "the LibTorch/CUDA plugin has no backend " + d_.name;
    });
    return real_.get();
  }

  descriptor d_;
  int family_;
  mutable std::once_flag once_;
  mutable std::unique_ptr<backend> real_;
  mutable std::string reason_;
};
#endif

}  // namespace

std::unique_ptr<backend> make_torch_family(const descriptor& d) {
#if defined(ROUNDOFF_BACKENDS_PLUGIN) && defined(ROUNDOFF_BACKENDS_TORCH)
  return std::make_unique<plugin_backend>(d, 0);
#else
  return make_unavailable(d, "built without LibTorch");
#endif
}

std::unique_ptr<backend> make_cublas_family(const descriptor& d) {
#if defined(ROUNDOFF_BACKENDS_PLUGIN) && defined(ROUNDOFF_BACKENDS_CUDA)
  return std::make_unique<plugin_backend>(d, 1);
#else
  return make_unavailable(d, "built without CUDA (nvcc was not found at configure time)");
#endif
}

}  // namespace detail

std::string backends_plugin_path() {
#if defined(ROUNDOFF_BACKENDS_PLUGIN)
  for (const std::string& path : detail::candidates())
    if (access(path.c_str(), R_OK) == 0) return path;
#endif
  return {};
}

}  // namespace roundoff::backends
