// docs/bounds.md §3.5 ("The magnitude"); the bound itself is docs/ops.md §3.2's.
#include "magnitude.hpp"

#include <cblas.h>
#include <xmmintrin.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <string_view>

#include "directed.hpp"
#include "roundoff/exact/abs_product.hpp"
#include "roundoff/exact/gemm.hpp"

namespace roundoff::verdicts::detail {

namespace directed = bounds::detail::directed;
// The exact engine's persistent workers, each calling single-threaded OpenBLAS (as the exact
// engine's BLAS path does, src/exact/gemm_fast.cpp).
constexpr auto run_workers = exact::run_on_engine_workers;

bool magnitude_by_blocks_applies(const ops::op_spec& op, const tensor_view& x, const tensor_view& w,
                                 const tensor_view* b) {
  // The bound assumes IEEE gradual underflow in this thread (and OpenBLAS's, which inherit the
  // defaults): with FTZ (MXCSR bit 15) or DAZ (bit 6) set, ops' exact sum is used instead.
  if ((_mm_getcsr() & 0x8040u) != 0) return false;
  const bool lin = op.kind == ops::op_kind::linear && w.dim() == 2;
  const bool mm = op.kind == ops::op_kind::matmul && w.dim() == 2;
  if (!(lin || mm) || x.dim() < 2) return false;
  const std::int64_t k = x.shape.back();
  const std::int64_t n = lin ? w.shape[0] : w.shape[1];
  if ((lin ? w.shape[1] : w.shape[0]) != k || k <= 0 || n <= 0) return false;
  if (b && !(b->dim() == 0 || (b->dim() == 1 && (b->shape[0] == n || b->shape[0] == 1))))
    return false;
  const std::int64_t rows = x.numel() / k;
  if (k > INT_MAX || n > INT_MAX || rows <= 0) return false;
  // The views were validated with the problem (they stay inside their buffers).
  return w.numel() == n * k;
}

magnitude_panel_shape magnitude_panel(std::int64_t n, std::int64_t k, bool one_call) noexcept {
  // At most 256 products deep; with one call, at most 64 Ki values (512 KiB), the columns split
  // evenly in multiples of 8. Many calls: one panel (splitting columns repacks |x| once per
  // panel: 10-15% more time on ViT-B's 341-row calls).
  const std::int64_t depth = std::min<std::int64_t>(k, 256);
  if (!one_call) return {n, depth};
  const std::int64_t most = std::max<std::int64_t>(8, (std::int64_t{1} << 16) / depth);
  const std::int64_t panels = (n + most - 1) / most;
  return {std::min(n, ((n + panels - 1) / panels + 7) / 8 * 8), depth};
}

std::int64_t magnitude_block_rows(std::int64_t k) noexcept {
  return std::max<std::int64_t>(64, (std::int64_t{1} << 19) / std::max<std::int64_t>(k, 1));
}

namespace {

// |v| of the view's elements [first, first + count), in one pass where the storage allows.
void read_abs(const tensor_view& v, std::int64_t first, std::int64_t count, double* out) {
  if (v.is_contiguous() && v.storage == storage_type::f64) {
    const double* src = static_cast<const double*>(v.data) + first;
    for (std::int64_t i = 0; i < count; ++i) out[i] = std::fabs(src[i]);
  } else if (v.is_contiguous() && v.storage == storage_type::f32) {
    const float* src = static_cast<const float*>(v.data) + first;
    for (std::int64_t i = 0; i < count; ++i) out[i] = std::fabs(static_cast<double>(src[i]));
  } else {
    v.read(first, count, out);
    for (std::int64_t i = 0; i < count; ++i) out[i] = std::fabs(out[i]);
  }
}

// The one-call case on the exact engine's own kernels (exact::abs_product_sum: |.| taken while
// packing, one pass over W): x's rows and W's elements read in place when stored as f32 or f64
// with 2-D strides, else |.| of them copied first. False when no native kernel runs.
bool native_abs_product(bool lin, const tensor_view& x, const tensor_view& w, const double* babs,
                        std::int64_t rows, std::int64_t n, std::int64_t k, std::int64_t block,
                        int threads, double* t,
                        const std::function<void(double*, std::int64_t)>& finish) {
  if (std::string_view(exact::gemm_exact_kernel()).substr(0, 7) != "native-") return false;
  auto in_place = [](const tensor_view& v) {
    return v.storage == storage_type::f64 || v.storage == storage_type::f32;
  };
  // B(j, q) = W[j, q] (linear) or W[q, j] (matmul).
  std::vector<double> xcopy, wcopy;
  const std::int64_t ws0 = w.is_contiguous() ? w.shape[1] : w.strides[0];
  const std::int64_t ws1 = w.is_contiguous() ? 1 : w.strides[1];
  exact::abs_operand wa{w.data, w.storage == storage_type::f32, lin ? ws0 : ws1, lin ? ws1 : ws0};
  if (!in_place(w)) {
    wcopy.resize(static_cast<std::size_t>(n * k));
    read_abs(w, 0, n * k, wcopy.data());
    wa = {wcopy.data(), false, lin ? k : 1, lin ? 1 : n};
  }
  const bool x_in_place = in_place(x) && (x.is_contiguous() || x.dim() == 2);
  const std::int64_t xs0 = x.is_contiguous() ? k : x.strides[0];
  const std::int64_t xs1 = x.is_contiguous() ? 1 : x.strides[1];
  // Blocks of rows, one after another (each output's value does not depend on its block).
  for (std::int64_t r0 = 0; r0 < rows; r0 += block) {
    const std::int64_t m = std::min(block, rows - r0);
    exact::abs_operand xa;
    if (x_in_place) {
      const bool f32 = x.storage == storage_type::f32;
      const char* base = static_cast<const char*>(x.data);
      xa = {base + r0 * xs0 * (f32 ? 4 : 8), f32, xs0, xs1};
    } else {
      xcopy.resize(static_cast<std::size_t>(m * k));
      read_abs(x, r0 * k, m * k, xcopy.data());
      xa = {xcopy.data(), false, k, 1};
    }
    if (!exact::abs_product_sum(m, n, k, xa, wa, babs, t + r0 * n, threads, finish)) return false;
  }
  return true;
}

}  // namespace

std::optional<std::vector<double>> magnitude_by_blocks(const ops::op_spec& op, const tensor_view& x,
                                                       const tensor_view& w, const tensor_view* b,
                                                       int threads, std::int64_t block_rows,
                                                       std::int64_t whole_rows) {
  if (!magnitude_by_blocks_applies(op, x, w, b)) return std::nullopt;
  const bool lin = op.kind == ops::op_kind::linear;
  const std::int64_t k = x.shape.back();
  const std::int64_t n = lin ? w.shape[0] : w.shape[1];
  const std::int64_t rows = x.numel() / k;

  std::vector<double> babs(static_cast<std::size_t>(n), 0.0);
  if (b)
    for (std::int64_t j = 0; j < n; ++j)
      babs[static_cast<std::size_t>(j)] = std::fabs(b->at(b->numel() == 1 ? 0 : j));

  // Leaves L = K products (+ the bias); (s^ + L 2^-1074) / (1 - L u), each step rounded upward
  // (the divisor downward), exactly the operations of ops::detail::magnitude_bound.
  const std::int64_t leaves = k + (b ? 1 : 0);
  constexpr double inf = std::numeric_limits<double>::infinity();
  const double tiny = std::ldexp(static_cast<double>(leaves), -1074);
  const double den = directed::step_down(1.0 - std::ldexp(static_cast<double>(leaves), -53));
  auto bound = [&](double s) {
    if (!(s < inf)) return s;  // +Inf, NaN: as they are
    return directed::step_up(directed::step_up(s + tiny) / den);
  };

  // The DGEMM calls: rows [r0, r0 + block) of |x| (the last call fewer) by one panel of |W|
  // (magnitude_panel), its K products in pieces of `depth` added into C in order (beta = 1)
  // after |b|. Which thread makes a call, and where |W| lies in memory, do not change its
  // value; the calls depend on (block, n, k, whole_rows) alone, so that a block of rows
  // (check.cpp) gets the T of the whole pass.
  const std::int64_t block =
      std::min<std::int64_t>(block_rows > 0 ? block_rows : magnitude_block_rows(k), INT_MAX);
  const magnitude_panel_shape panel =
      magnitude_panel(n, k, (whole_rows > 0 ? whole_rows : rows) <= block);
  std::vector<double> t(static_cast<std::size_t>(rows * n));
  const std::int64_t blocks = (rows + block - 1) / block;
  const int nthreads = exact::engine_threads(threads);
  // The native kernels when the problem's rows fit one call (as its blocks then do: the same
  // path for both). Beyond one call (ViT-B: 37 calls of 341 rows) they measured slower than
  // the OpenBLAS calls (idle machine, 2 threads: 1.49-1.52x DGEMM against 1.23-1.31x; equal at
  // 1 thread), so those stay.
  if ((whole_rows > 0 ? whole_rows : rows) <= block &&
      native_abs_product(lin, x, w, b ? babs.data() : nullptr, rows, n, k, block, threads, t.data(),
                         [&](double* out, std::int64_t count) {
                           // The enlargement, on the worker that formed the values.
                           for (std::int64_t e = 0; e < count; ++e) out[e] = bound(out[e]);
                         }))
    return t;
  const std::int64_t panels = (n + panel.columns - 1) / panel.columns;

  // Panel p of the rows [r0, r0 + m) of T. |x|'s rows are read from xabs (m x k, row-major)
  // when given, else each piece's columns copied into xbuf (m x depth); |W|'s pieces from
  // wabs_all (all of |W|, laid out as W) when given, else copied into wabs (columns x depth).
  // The DGEMM calls and the values they see are the same either way: only where |x| and |W|
  // lie in memory differs.
  auto panel_pass = [&](std::int64_t r0, std::int64_t m, std::int64_t p, const double* xabs,
                        double* xbuf, const double* wabs_all, double* wabs) {
    const std::int64_t j0 = p * panel.columns, nb = std::min(panel.columns, n - j0);
    double* c = t.data() + r0 * n + j0;
    for (std::int64_t i = 0; i < m; ++i)
      std::copy(babs.begin() + j0, babs.begin() + j0 + nb, c + i * n);
    for (std::int64_t k0 = 0; k0 < k; k0 += panel.depth) {
      const std::int64_t kb = std::min(panel.depth, k - k0);
      const double* a = xabs ? xabs + k0 : xbuf;
      if (!xabs)
        for (std::int64_t i = 0; i < m; ++i) read_abs(x, (r0 + i) * k + k0, kb, xbuf + i * kb);
      // |W|'s piece: rows j0.. of W, columns k0.. (linear: nb x kb), or rows k0.., columns
      // j0.. (matmul: kb x nb).
      const double* piece = wabs;
      std::int64_t ld = lin ? kb : nb;
      if (wabs_all) {
        piece = wabs_all + (lin ? j0 * k + k0 : k0 * n + j0);
        ld = lin ? k : n;
      } else if (lin) {
        for (std::int64_t j = 0; j < nb; ++j) read_abs(w, (j0 + j) * k + k0, kb, wabs + j * kb);
      } else {
        for (std::int64_t q = 0; q < kb; ++q) read_abs(w, (k0 + q) * n + j0, nb, wabs + q * nb);
      }
      cblas_dgemm(CblasRowMajor, CblasNoTrans, lin ? CblasTrans : CblasNoTrans, static_cast<int>(m),
                  static_cast<int>(nb), static_cast<int>(kb), 1.0, a,
                  static_cast<int>(xabs ? k : kb), piece, static_cast<int>(ld), 1.0, c,
                  static_cast<int>(n));
    }
    for (std::int64_t i = 0; i < m; ++i)
      for (std::int64_t j = 0; j < nb; ++j) c[i * n + j] = bound(c[i * n + j]);
  };
  const auto panel_values = static_cast<std::size_t>(panel.columns * panel.depth);
  // Pieces of at least 64 Ki values a thread for the copies that take |.|.
  auto copy_pieces = [&](std::int64_t values) {
    return std::max<std::int64_t>(1, std::min<std::int64_t>(nthreads, values >> 16));
  };

  const exact::single_threaded_blas blas;
  if (panels == 1) {
    // One panel (ViT-B: 37 calls of 341 rows): |W| copied once, in W's layout; each worker
    // takes whole blocks of rows, their |x| in its buffer.
    std::vector<double> wabs_all(static_cast<std::size_t>(n * k));
    const std::int64_t pieces = copy_pieces(n * k);
    run_workers(static_cast<int>(pieces), pieces,
                [&](std::atomic<std::int64_t>& next, std::int64_t count) {
                  for (std::int64_t q; (q = next.fetch_add(1)) < count;) {
                    const std::int64_t i0 = n * k * q / count, i1 = n * k * (q + 1) / count;
                    read_abs(w, i0, i1 - i0, wabs_all.data() + i0);
                  }
                });
    run_workers(nthreads, blocks, [&](std::atomic<std::int64_t>& next, std::int64_t count) {
      std::vector<double> xabs;
      for (std::int64_t q; (q = next.fetch_add(1)) < count;) {
        const std::int64_t r0 = q * block, m = std::min(block, rows - r0);
        xabs.resize(static_cast<std::size_t>(m * k));
        read_abs(x, r0 * k, m * k, xabs.data());
        panel_pass(r0, m, 0, xabs.data(), nullptr, wabs_all.data(), nullptr);
      }
    });
    return t;
  }
  // Panels (one call of rows, the seed shape's 32): the threads take (block, panel) items,
  // each copying its pieces of |x| and |W| into the thread's buffers (|x| is copied once per
  // panel, and no thread waits for another's copy). Buffers of up to 1 MiB stay with the thread
  // between calls (no new pages per call); larger ones are the call's.
  const auto x_values = static_cast<std::size_t>(std::min(block, rows) * panel.depth);
  run_workers(static_cast<int>(std::min<std::int64_t>(nthreads, blocks * panels)), blocks * panels,
              [&](std::atomic<std::int64_t>& next, std::int64_t count) {
                constexpr std::size_t keep = std::size_t{1} << 17;
                thread_local std::vector<double> kept_x, kept_w;
                std::vector<double> own_x, own_w;
                std::vector<double>& xbuf = x_values <= keep ? kept_x : own_x;
                std::vector<double>& wabs = panel_values <= keep ? kept_w : own_w;
                if (xbuf.size() < x_values) xbuf.resize(x_values);
                if (wabs.size() < panel_values) wabs.resize(panel_values);
                for (std::int64_t q; (q = next.fetch_add(1)) < count;) {
                  const std::int64_t r0 = q / panels * block, m = std::min(block, rows - r0);
                  panel_pass(r0, m, q % panels, nullptr, xbuf.data(), nullptr, wabs.data());
                }
              });
  return t;
}

}  // namespace roundoff::verdicts::detail
