// Fast exact contraction: Ozaki-style error-free splitting over exact DGEMMs of integer slices.
//
// Each row of A and of B is cut into integer slices (a power-of-two unit per row) so narrow
// that every DGEMM over the slices is exact whatever its summation order; bits below the
// slices go to a sparse remainder handled term by term; rows holding Inf/NaN or huge values go
// to the simple path. Proofs: docs/exact-fast.md, "Fast path". This file is the entry point; the
// work is done by the planner (gemm_plan.cpp: slicing and tiles), the scheduler
// (gemm_scheduler.cpp: worker threads) and the tile executors (gemm_tiles.cpp, with the native
// kernels of gemm_kernel.cpp and the slicing of gemm_slicing.cpp).
#include <cblas.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "roundoff/error.hpp"
#include "roundoff/exact/gemm.hpp"

#define ROUNDOFF_EXACT_INTERNAL 1
#include "detail/gemm_kernel.hpp"
#include "detail/gemm_plan.hpp"
#include "detail/gemm_scheduler.hpp"
#include "detail/gemm_tiles.hpp"
#include "detail/slice_products.hpp"

namespace roundoff::exact {
namespace {

using i64 = std::int64_t;
using detail::run_workers;

void gemm_simple_parallel(const gemm_problem& p, exact_tensor& dest, int threads) {
  // One accumulator per output, outputs spread over threads (rows of the flattened batch*m).
  run_workers(threads, p.batch * p.m, [&](std::atomic<i64>& next, i64 rows) {
    accumulator acc;
    for (i64 r; (r = next.fetch_add(1)) < rows;) {
      const i64 bt = r / p.m, i = r % p.m;
      for (i64 j = 0; j < p.n; ++j) {
        const double* bs = p.bias ? p.bias + bt * p.bias_batch_stride + i * p.bias_row_stride +
                                        j * p.bias_col_stride
                                  : nullptr;
        dot_exact(p.k, p.a ? p.a + bt * p.a_batch_stride + i * p.lda : nullptr,
                  p.b ? p.b + bt * p.b_batch_stride + j * p.ldb : nullptr, bs, acc);
        const i64 c = p.c_offset + bt * p.c_batch_stride + i * p.c_row_stride + j * p.c_col_stride;
        if (c < 0 || c >= dest.size())
          throw internal_error("gemm_exact: output index " + std::to_string(c) +
                               " outside dest of size " + std::to_string(dest.size()));
        dest.store(c, acc);
      }
    }
  });
}

/// Runs every tile of `tiles` on `threads` threads, each with a workspace of the pool.
void run_tiles(const gemm_problem& p, const detail::tile_shape& tiles, int threads,
               const detail::tile_executor& executor) {
  const i64 per_batch = tiles.row_tiles * tiles.column_tiles;
  run_workers(threads, tiles.count, [&](std::atomic<i64>& next, i64 count) {
    detail::workspace_lease lease;
    detail::workspace& ws = lease.get();
    for (i64 t; (t = next.fetch_add(1)) < count;) {
      const i64 batch = t / per_batch, rest = t % per_batch;
      const i64 i0 = (rest / tiles.column_tiles) * tiles.rows;
      const i64 j0 = (rest % tiles.column_tiles) * tiles.columns;
      executor.run_tile(ws, batch, i0, std::min(p.m, i0 + tiles.rows), j0,
                        std::min(p.n, j0 + tiles.columns));
    }
  });
}

}  // namespace

const char* gemm_exact_kernel() noexcept {
  const detail::native::micro_kernel* k = detail::native::chosen();
  return k != nullptr ? k->name : "openblas";
}

namespace detail {

void gemm_exact_with(const gemm_problem& p, exact_tensor& dest, int threads,
                     slice_products& products) {
  if (p.batch < 0 || p.m < 0 || p.n < 0 || p.k < 0)
    throw internal_error("gemm_exact: negative dimension");
  if (p.batch == 0 || p.m == 0 || p.n == 0) return;
  threads = engine_threads(threads);
  const plan pl = choose_plan(p);
  if (pl.path == plan::path_kind::simple) return gemm_simple_parallel(p, dest, threads);
  const tile_shape tiles = choose_device_tiles(p, pl, threads, products.memory_bytes());
  // The OpenBLAS implementation runs single-threaded, as the OpenBLAS tile path does: the
  // parallelism is over tiles (and OpenBLAS's own threads synchronize invisibly to TSan).
  std::optional<single_threaded_blas> blas1;
  if (std::string_view(products.name()) == "openblas") blas1.emplace();
  const tile_executor executor(p, dest, pl, nullptr, &products);
  run_tiles(p, tiles, static_cast<int>(std::min<i64>(threads, tiles.count)), executor);
}

}  // namespace detail

void gemm_exact(const gemm_problem& p, exact_tensor& dest, const engine_options& opt) {
  if (opt.device == device_kind::cuda) {
    std::string reason;
    detail::slice_products* products = detail::cuda_slice_products(opt.device_memory, &reason);
    // A valid request this machine cannot serve (no device, no driver, or a build without
    // CUDA): unsupported_error. The front ends check device_available() first and report it
    // as a usage error (exit 2, ValueError).
    if (!products) throw unsupported_error("no CUDA device available (" + reason + ")");
    return detail::gemm_exact_with(p, dest, opt.threads, *products);
  }
  if (p.batch < 0 || p.m < 0 || p.n < 0 || p.k < 0)
    throw internal_error("gemm_exact: negative dimension");
  if (p.batch == 0 || p.m == 0 || p.n == 0) return;
  const int threads = engine_threads(opt.threads);
  const detail::plan pl = detail::choose_plan(p);
  if (pl.path == detail::plan::path_kind::simple) return gemm_simple_parallel(p, dest, threads);

  const detail::native::micro_kernel* native =
      detail::native_serves(pl) ? detail::native::chosen() : nullptr;
  const detail::tile_shape tiles =
      detail::choose_cpu_tiles(p, pl, threads, native ? native->nr : 0);

  // Only the OpenBLAS path calls BLAS. Setting OpenBLAS's thread count wakes its idle workers,
  // which then spin for ~0.1 s: the native path leaves it alone.
  std::optional<single_threaded_blas> blas1;
  if (!native) blas1.emplace();
  const detail::tile_executor executor(p, dest, pl, native);
  run_tiles(p, tiles, static_cast<int>(std::min<i64>(threads, tiles.count)), executor);
}

single_threaded_blas::single_threaded_blas() : saved_(openblas_get_num_threads()) {
  openblas_set_num_threads(1);
}

single_threaded_blas::~single_threaded_blas() {
  openblas_set_num_threads(saved_);
}

}  // namespace roundoff::exact
