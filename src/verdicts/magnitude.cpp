// docs/bounds.md §3.5 ("The magnitude"); the bound itself is docs/ops.md §3.2's.
#include "magnitude.hpp"

#include <cblas.h>
#include <xmmintrin.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <limits>

#include "directed.hpp"
#include "roundoff/exact/gemm.hpp"

namespace roundoff::verdicts::detail {

namespace directed = bounds::detail::directed;

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

std::int64_t magnitude_block_rows(std::int64_t k) noexcept {
  return std::max<std::int64_t>(64, (std::int64_t{1} << 19) / std::max<std::int64_t>(k, 1));
}

std::optional<std::vector<double>> magnitude_by_blocks(const ops::op_spec& op, const tensor_view& x,
                                                       const tensor_view& w, const tensor_view* b,
                                                       int threads, std::int64_t block_rows) {
  if (!magnitude_by_blocks_applies(op, x, w, b)) return std::nullopt;
  const bool lin = op.kind == ops::op_kind::linear;
  const std::int64_t k = x.shape.back();
  const std::int64_t n = lin ? w.shape[0] : w.shape[1];
  const std::int64_t rows = x.numel() / k;

  std::vector<double> wabs(static_cast<std::size_t>(w.numel()));
  w.read(0, w.numel(), wabs.data());
  for (double& v : wabs) v = std::fabs(v);
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

  std::vector<double> t(static_cast<std::size_t>(rows * n));
  const std::int64_t block = block_rows > 0 ? block_rows : magnitude_block_rows(k);
  std::vector<double> xabs(static_cast<std::size_t>(std::min(block, rows) * k));
  const int saved = openblas_get_num_threads();
  openblas_set_num_threads(exact::engine_threads(threads));
  for (std::int64_t r0 = 0; r0 < rows; r0 += block) {
    const std::int64_t m = std::min(block, rows - r0);
    x.read(r0 * k, m * k, xabs.data());
    for (std::int64_t i = 0; i < m * k; ++i)
      xabs[static_cast<std::size_t>(i)] = std::fabs(xabs[static_cast<std::size_t>(i)]);
    double* c = t.data() + r0 * n;
    for (std::int64_t i = 0; i < m; ++i) std::copy(babs.begin(), babs.end(), c + i * n);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, lin ? CblasTrans : CblasNoTrans, static_cast<int>(m),
                static_cast<int>(n), static_cast<int>(k), 1.0, xabs.data(), static_cast<int>(k),
                wabs.data(), static_cast<int>(lin ? k : n), 1.0, c, static_cast<int>(n));
    for (std::int64_t i = 0; i < m * n; ++i) c[i] = bound(c[i]);
  }
  openblas_set_num_threads(saved);
  return t;
}

}  // namespace roundoff::verdicts::detail
