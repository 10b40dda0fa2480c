// What every op provides per output element: the exact result, the number of products that
// feed it (n_i), and their magnitude sum |x||w| + |b| rounded upward. See docs/ops.md.
#pragma once

#include <cstdint>
#include <vector>

#include "roundoff/exact/gemm.hpp"
#include "roundoff/exact/value.hpp"
#include "roundoff/tensor.hpp"

namespace roundoff::ops {

/// Which exact engine computes the reference.
enum class method : std::uint8_t { fast, simple, mpfr };

struct reference_options {
  method how = method::fast;
  long precision_bits = 256;  ///< for method::mpfr
  int threads = 1;
};

struct op_result {
  exact::exact_tensor exact;           ///< exact result, shape = the op's output shape
  std::vector<std::int64_t> terms;     ///< n_i: products x*w feeding output i (bias excluded)
  std::vector<double> magnitude;       ///< sum |x||w| + |b| for output i, rounded upward
  bool has_bias = false;
  /// For method::mpfr: 1 where the oracle was exact at the requested precision.
  std::vector<std::uint8_t> oracle_exact;
};

}  // namespace roundoff::ops
