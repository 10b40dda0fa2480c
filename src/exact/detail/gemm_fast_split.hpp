// Internal to src/exact: error-free slicing of one matrix row for the fast exact contraction
// (gemm_fast.cpp). The argument for every step is in docs/exact-fast.md, "Fast path".
#pragma once

#ifndef ROUNDOFF_EXACT_INTERNAL
#error "roundoff/src/exact/detail headers are internal to the exact layer"
#endif

#include <bit>
#include <cstdint>

namespace roundoff::exact::detail {

/// 2^e as a double, for -1074 <= e <= 1023 (exact, subnormal below -1022).
inline double pow2(int e) noexcept {
  if (e >= -1022) return std::bit_cast<double>(static_cast<std::uint64_t>(e + 1023) << 52);
  return std::bit_cast<double>(std::uint64_t{1} << (e + 1074));
}

/// Rows whose largest |x| reaches 2^row_exp_limit go to the simple path: below it every slice
/// constant, scale factor and combined exponent used by the fast path is a finite double
/// (docs/exact-fast.md, "Range").
inline constexpr int row_exp_limit = 960;

/// What the fast path needs to know about one row: |x| < 2^e for every x in it (e = -1074 for
/// an all-zero row), or bad = some x is Inf/NaN or |x| >= 2^row_exp_limit.
struct row_info {
  int e = -1074;
  int u = -1074;  ///< exponent of the lowest slice bit: max(e - total slice bits, -1074)
  bool bad = false;
};

namespace split_kernels {
/// max over k of the bit pattern of |x[k]| (vectorized; see analyze_row).
std::uint64_t max_abs_bits(const double* x, std::int64_t n) noexcept;
}  // namespace split_kernels

/// Scans a row once: the largest magnitude via the integer order of |x|'s bit patterns (which
/// is the numeric order for finite doubles and puts Inf/NaN above every finite value).
inline row_info analyze_row(const double* x, std::int64_t n) noexcept {
  const std::uint64_t mx = split_kernels::max_abs_bits(x, n);
  row_info r;
  const int biased = static_cast<int>(mx >> 52);
  if (biased == 0x7ff) {
    r.bad = true;
  } else if (biased == 0) {
    // Subnormal or zero: value = mx * 2^-1074 < 2^(bitlen(mx) - 1074).
    r.e = mx == 0 ? -1074 : static_cast<int>(std::bit_width(mx)) - 1074;
  } else {
    r.e = biased - 1022;  // 2^(biased-1023) <= |x| < 2^(biased-1022)
  }
  if (r.e >= row_exp_limit) r.bad = true;
  return r;
}

/// Bit pattern of 2^e (-1074 <= e <= 1023): |x| < 2^e iff (bits of |x|) < exp_bound_bits(e).
inline std::uint64_t exp_bound_bits(int e) noexcept {
  return std::bit_cast<std::uint64_t>(pow2(e));
}

/// Exponent of the lowest set bit of a finite nonzero x.
inline int lowbit_exp(double x) noexcept {
  const std::uint64_t b = std::bit_cast<std::uint64_t>(x);
  const int biased = static_cast<int>((b >> 52) & 0x7ff);
  std::uint64_t m = b & 0xfffffffffffffULL;
  int e = -1074;
  if (biased != 0) {
    m |= std::uint64_t{1} << 52;
    e = biased - 1075;
  }
  return e + std::countr_zero(m);
}

/// Constants for cutting a row into s slices of w bits each, lowest slice unit 2^u. Slice a
/// (a = 0 lowest) is RN(x' / 2^(u + a w)) * 2^(u + a w), taken top-down from the running
/// residual x' with the (x' + c) - c trick, c = 1.5 * 2^(52 + u + a w); its integer value
/// (what DGEMM sees) is that times 2^-(u + a w), formed by two exact power-of-two products.
struct slicer {
  static constexpr int max_slices = 8;
  int s = 0;
  double c[max_slices];
  double f1[max_slices], f2[max_slices];

  slicer() = default;
  slicer(int u, int slices, int w) noexcept : s(slices) {
    for (int a = 0; a < s; ++a) {
      const int q = u + a * w;  // -1074 <= q <= row_exp_limit - w
      c[a] = 1.5 * pow2(52 + q);
      const int neg = -q;  // 2^-q = 2^n1 * 2^n2 with both factors normal doubles
      const int n1 = neg > 1023 ? 1023 : neg;
      f1[a] = pow2(n1);
      f2[a] = pow2(neg - n1);
    }
  }

  /// The residual x - (sum of its slices): exactly the part of x below the lowest slice
  /// (nonzero only when x has bits below 2^u). Same operations, in the same order, as split().
  double residual(double x) const noexcept {
    for (int a = s - 1; a >= 0; --a) {
      const double h = (x + c[a]) - c[a];
      x -= h;
    }
    return x;
  }

  /// Writes the s integer slices of x[0..n) to out[a][0..n) (and, for karatsuba, the sum of
  /// slices 0 and 1 to out[2]) and the residuals to res[0..n). Returns whether any residual
  /// is nonzero. One fused pass per row (the slices are written once, never re-read here).
  /// Also returns max |x| as bits, so that a row split under a guessed exponent can be
  /// checked afterwards (the slices are only valid if every |x| < 2^e).
  struct result {
    bool residual = false;      ///< some residual is nonzero
    std::uint64_t max_abs = 0;  ///< max over the row of |x|'s bit pattern
  };
  result split(const double* x, std::int64_t n, double* const* out, double* res,
               bool karatsuba) const noexcept;
};

namespace split_kernels {

template <int S, bool Kara>
[[gnu::always_inline]] inline slicer::result body(const slicer& sl, const double* __restrict x,
                                                  std::int64_t n, double* const* out,
                                                  double* __restrict res) noexcept {
  double c[S], g1[S], g2[S];
  double* __restrict o[S];
  for (int a = 0; a < S; ++a) c[a] = sl.c[a], g1[a] = sl.f1[a], g2[a] = sl.f2[a], o[a] = out[a];
  double* __restrict o2 = Kara ? out[2] : nullptr;
  int any = 0;
  std::int64_t mx = 0;  // signed compare is the integer order: sign bits are cleared
  for (std::int64_t k = 0; k < n; ++k) {
    double r = x[k];
    const auto bits =
        static_cast<std::int64_t>(std::bit_cast<std::uint64_t>(r) & 0x7fffffffffffffffULL);
    mx = bits > mx ? bits : mx;
    double h[S];
    for (int a = S - 1; a >= 0; --a) {
      h[a] = (r + c[a]) - c[a];
      r -= h[a];
    }
    double v[S];
    for (int a = 0; a < S; ++a) o[a][k] = v[a] = (h[a] * g1[a]) * g2[a];
    if constexpr (Kara) o2[k] = v[0] + v[1];
    res[k] = r;
    any |= r != 0.0;
  }
  return {any != 0, static_cast<std::uint64_t>(mx)};
}

// Defined in gemm_slicing.cpp, where each is compiled twice (AVX2 and baseline x86-64) and
// picked at load time.
slicer::result split1(const slicer& sl, const double* x, std::int64_t n, double* const* out,
                      double* res);
slicer::result split2(const slicer& sl, const double* x, std::int64_t n, double* const* out,
                      double* res);
slicer::result split2k(const slicer& sl, const double* x, std::int64_t n, double* const* out,
                       double* res);
slicer::result split3(const slicer& sl, const double* x, std::int64_t n, double* const* out,
                      double* res);
slicer::result split4(const slicer& sl, const double* x, std::int64_t n, double* const* out,
                      double* res);

}  // namespace split_kernels

inline slicer::result slicer::split(const double* x, std::int64_t n, double* const* out,
                                    double* res, bool karatsuba) const noexcept {
  switch (karatsuba ? -2 : s) {
    case 1:
      return split_kernels::split1(*this, x, n, out, res);
    case 2:
      return split_kernels::split2(*this, x, n, out, res);
    case -2:
      return split_kernels::split2k(*this, x, n, out, res);
    case 3:
      return split_kernels::split3(*this, x, n, out, res);
    case 4:
      return split_kernels::split4(*this, x, n, out, res);
    default:
      break;
  }
  // Wider plans (rare): the same steps, slice by slice.
  int any = 0;
  for (std::int64_t k = 0; k < n; ++k) res[k] = x[k];
  for (int a = s - 1; a >= 0; --a) {
    const double ca = c[a], ga = f1[a], gb = f2[a];
    double* o = out[a];
    for (std::int64_t k = 0; k < n; ++k) {
      const double h = (res[k] + ca) - ca;
      res[k] -= h;
      o[k] = (h * ga) * gb;
    }
  }
  for (std::int64_t k = 0; k < n; ++k) any |= res[k] != 0.0;
  return {any != 0, split_kernels::max_abs_bits(x, n)};
}

}  // namespace roundoff::exact::detail
