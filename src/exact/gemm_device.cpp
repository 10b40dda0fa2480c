// The device side of the fast exact contraction: tiles sized to a device's memory, the CPU
// (OpenBLAS) implementation of the slice products, and the loader of the CUDA one
// (roundoff_exact_cuda.so, built from src/exact/cuda/ when nvcc is found). docs/exact-gpu.md.
#include <cblas.h>
#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "roundoff/error.hpp"
#include "roundoff/exact/gemm.hpp"

#define ROUNDOFF_EXACT_INTERNAL 1
#include "detail/gemm_plan.hpp"
#include "detail/slice_products.hpp"

namespace roundoff::exact {
namespace detail {
namespace {

using i64 = std::int64_t;

/// A's slices over all of K per host thread (the OpenBLAS tile executor keeps them per tile).
constexpr i64 device_a_slice_cap = i64{1} << 25;  // 256 MiB

class blas_slice_products final : public slice_products {
 public:
  explicit blas_slice_products(std::size_t memory) : memory_(memory) {}
  const char* name() const noexcept override { return "openblas"; }
  std::size_t memory_bytes() const noexcept override { return memory_; }
  void multiply(i64 rows_a, i64 rows_b, i64 kn, const double* a, const double* b,
                double* c) override {
    const std::size_t need =
        8 * static_cast<std::size_t>(rows_a * kn + rows_b * kn + rows_a * rows_b);
    if (need > memory_)
      throw internal_error("blas_slice_products: a call of " + std::to_string(need) +
                           " bytes over the budget of " + std::to_string(memory_));
    const auto ik = static_cast<blasint>(kn);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<blasint>(rows_a),
                static_cast<blasint>(rows_b), ik, 1.0, a, ik, b, ik, 0.0, c,
                static_cast<blasint>(rows_b));
  }

 private:
  std::size_t memory_;
};

#if defined(ROUNDOFF_EXACT_CUDA_BUILD_PATH)
constexpr const char* cuda_library = "roundoff_exact_cuda.so";

std::string directory_of(const std::string& file) {
  const auto slash = file.rfind('/');
  return slash == std::string::npos ? std::string{} : file.substr(0, slash);
}

/// Where roundoff_exact_cuda.so may be, in order: ROUNDOFF_EXACT_CUDA (a file), beside the
/// executable, <bindir>/../<libdir>/roundoff, beside the shared object holding this code (the
/// Python extension), and this build's output.
std::vector<std::string> cuda_candidates() {
  std::vector<std::string> c;
  if (const char* env = std::getenv("ROUNDOFF_EXACT_CUDA"); env && *env) c.emplace_back(env);
  std::string exe(4096, '\0');
  const ssize_t n = readlink("/proc/self/exe", exe.data(), exe.size() - 1);
  if (n > 0) {
    exe.resize(static_cast<std::size_t>(n));
    const std::string d = directory_of(exe);
    c.push_back(d + "/" + cuda_library);
    c.push_back(d + "/../" ROUNDOFF_INSTALL_LIBDIR "/roundoff/" + cuda_library);
  }
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&cuda_candidates), &info) != 0 && info.dli_fname)
    c.push_back(directory_of(info.dli_fname) + "/" + cuda_library);
  c.emplace_back(ROUNDOFF_EXACT_CUDA_BUILD_PATH);
  return c;
}

struct cuda_library_entry {
  roundoff_exact_cuda_make_fn make = nullptr;
  std::string reason;  ///< why it did not load, when make is null
};

const cuda_library_entry& cuda_entry() {
  static const cuda_library_entry entry = [] {
    cuda_library_entry r;
    std::string tried;
    for (const std::string& path : cuda_candidates()) {
      if (access(path.c_str(), R_OK) != 0) continue;
      void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);  // never closed
      if (!h) {
        const char* e = dlerror();
        tried += (tried.empty() ? "" : "; ") + std::string(e ? e : path);
        continue;
      }
      auto abi = reinterpret_cast<roundoff_exact_cuda_abi_fn>(dlsym(h, "roundoff_exact_cuda_abi"));
      auto make =
          reinterpret_cast<roundoff_exact_cuda_make_fn>(dlsym(h, "roundoff_exact_cuda_make"));
      if (!abi || !make || std::string(abi()) != ROUNDOFF_EXACT_CUDA_ABI) {
        tried += (tried.empty() ? "" : "; ") + path + ": not this build's CUDA engine";
        continue;
      }
      r.make = make;
      return r;
    }
    r.reason =
        std::string(cuda_library) + " did not load (" +
        (tried.empty() ? "not found beside the executable, in <prefix>/" ROUNDOFF_INSTALL_LIBDIR
                         "/roundoff, or at ROUNDOFF_EXACT_CUDA"
                       : tried) +
        ")";
    return r;
  }();
  return entry;
}
#endif

}  // namespace

std::unique_ptr<slice_products> make_blas_slice_products(std::size_t memory_bytes) {
  return std::make_unique<blas_slice_products>(memory_bytes);
}

std::size_t tile_product_bytes(const plan& pl, i64 rows, i64 columns) {
  const i64 kc = pl.chunk_length;
  const i64 ra = pl.karatsuba ? rows : pl.blocks_a() * rows;
  const i64 rb = pl.karatsuba ? columns : pl.blocks_b() * columns;
  return 8 * static_cast<std::size_t>(ra * kc + rb * kc + ra * rb);
}

tile_shape choose_device_tiles(const gemm_problem& p, const plan& pl, int threads,
                               std::size_t memory_bytes) {
  tile_shape t;
  t.rows = std::clamp<i64>(device_a_slice_cap / (pl.blocks_a() * std::max<i64>(p.k, 1)), 1, p.m);
  t.columns = p.n;
  // Halve the longer side until one tile's product fits the device.
  while (tile_product_bytes(pl, t.rows, t.columns) > memory_bytes && t.rows * t.columns > 1) {
    if (t.columns >= t.rows)
      t.columns = (t.columns + 1) / 2;
    else
      t.rows = (t.rows + 1) / 2;
  }
  if (tile_product_bytes(pl, t.rows, t.columns) > memory_bytes)
    throw resource_error("gemm_exact: a 1 x 1 tile's slice product needs " +
                         std::to_string(tile_product_bytes(pl, 1, 1)) +
                         " bytes of device memory; " + std::to_string(memory_bytes) +
                         " are available");
  t.row_tiles = (p.m + t.rows - 1) / t.rows;
  // Enough tiles for the host threads that slice and combine while the device multiplies.
  const i64 want = (threads + p.batch * t.row_tiles - 1) / (p.batch * t.row_tiles);
  if (want > 1) t.columns = std::max<i64>(1, std::min(t.columns, (p.n + want - 1) / want));
  t.column_tiles = (p.n + t.columns - 1) / t.columns;
  t.columns = (p.n + t.column_tiles - 1) / t.column_tiles;  // balanced: no sliver at the end
  t.rows = (p.m + t.row_tiles - 1) / t.row_tiles;
  t.count = p.batch * t.row_tiles * t.column_tiles;
  return t;
}

slice_products* cuda_slice_products(std::size_t memory_bytes, std::string* reason) {
#if defined(ROUNDOFF_EXACT_CUDA_BUILD_PATH)
  static std::mutex mu;
  static std::map<std::size_t, std::unique_ptr<slice_products>> made;
  static std::string failed;  // the first failure to make one (no device: it will not appear)
  const std::lock_guard<std::mutex> lk(mu);
  if (auto it = made.find(memory_bytes); it != made.end()) return it->second.get();
  if (failed.empty()) {
    const cuda_library_entry& e = cuda_entry();
    if (!e.make) {
      failed = e.reason;
    } else {
      char error[512] = {};
      std::unique_ptr<slice_products> p(e.make(memory_bytes, error, sizeof error));
      if (p) return (made[memory_bytes] = std::move(p)).get();
      failed = error[0] ? error : "roundoff_exact_cuda_make failed";
    }
  }
  if (reason) *reason = failed;
  return nullptr;
#else
  (void)memory_bytes;
  if (reason) *reason = "roundoff was built without CUDA (nvcc was not found at configure time)";
  return nullptr;
#endif
}

}  // namespace detail

const char* device_name(device_kind d) noexcept {
  return d == device_kind::cuda ? "cuda" : "cpu";
}

bool device_available(device_kind d, std::string* reason) {
  if (d == device_kind::cpu) return true;
  std::string why;
  if (detail::cuda_slice_products(0, &why)) return true;
  if (reason) *reason = "no CUDA device available (" + why + ")";
  return false;
}

}  // namespace roundoff::exact
