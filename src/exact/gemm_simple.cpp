// Simple exact contraction: one accumulator per output element, term by term (Arb's _simple
// version). The reference that the fast path and the oracle are both checked against.
#include <stdexcept>
#include <string>

#include "roundoff/error.hpp"
#include "roundoff/exact/gemm.hpp"

namespace roundoff::exact {

void dot_exact(std::int64_t k, const double* a, const double* b, const double* bias,
               accumulator& out) noexcept {
  out.clear();
  out.add_dot(k, a, b);
  if (bias) out.add(*bias);
}

void gemm_exact_simple(const gemm_problem& p, exact_tensor& dest) {
  if (p.batch < 0 || p.m < 0 || p.n < 0 || p.k < 0)
    throw internal_error("gemm_exact_simple: negative dimension");
  accumulator acc;
  for (std::int64_t bb = 0; bb < p.batch; ++bb) {
    for (std::int64_t i = 0; i < p.m; ++i) {
      const double* arow = p.a ? p.a + bb * p.a_batch_stride + i * p.lda : nullptr;
      for (std::int64_t j = 0; j < p.n; ++j) {
        const double* brow = p.b ? p.b + bb * p.b_batch_stride + j * p.ldb : nullptr;
        const double* bias = p.bias ? p.bias + bb * p.bias_batch_stride + i * p.bias_row_stride +
                                          j * p.bias_col_stride
                                    : nullptr;
        dot_exact(p.k, arow, brow, bias, acc);
        const std::int64_t c =
            p.c_offset + bb * p.c_batch_stride + i * p.c_row_stride + j * p.c_col_stride;
        if (c < 0 || c >= dest.size())
          throw internal_error("gemm_exact_simple: output index " + std::to_string(c) +
                               " outside dest of size " + std::to_string(dest.size()));
        dest.store(c, acc);
      }
    }
  }
}

}  // namespace roundoff::exact
