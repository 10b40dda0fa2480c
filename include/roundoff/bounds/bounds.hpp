// Per-element rounding-error bounds for contractions y_i = sum_j x_j w_j + b_i computed in an
// arithmetic_model. Every function returns a value rounded upward (never below the real number
// it bounds); each cites its derivation in docs/bounds.md.
#pragma once

#include <cstdint>

#include "roundoff/bounds/models.hpp"

namespace roundoff::bounds {

/// gamma_n = n u / (1 - n u), rounded upward; +Inf when n u >= 1 (docs/bounds.md, B1).
double gamma(std::int64_t n, double u) noexcept;

/// Higham & Mary's probabilistic constant exp(lambda sqrt(n) u + n u^2 / (1 - u)) - 1, rounded
/// upward (docs/bounds.md, P1). Returns min(gamma~, gamma) since the deterministic one holds too.
double gamma_tilde(std::int64_t n, double u, double lambda) noexcept;

/// The smallest lambda (rounded upward) with 2 * count * exp(-lambda^2 (1-u)^2 / 2) <= alpha:
/// the bound of every one of `count` terms then holds simultaneously with probability
/// >= 1 - alpha (union bound, docs/bounds.md, P2). alpha in (0, 1).
double lambda_for(double count, double u, double alpha) noexcept;

/// What one output element's bound depends on.
struct element_input {
  std::int64_t terms = 0;  ///< n_i: products feeding the element
  double magnitude = 0;    ///< T_i = sum |x||w| + |b| on the model's rounded inputs, rounded up
  bool has_bias = false;
  double abs_observed = 0;  ///< |y^_i|, the observed output (for the output-rounding term)
  /// |y~_i| rounded up, when known (first_order uses it for the output rounding's coefficient);
  /// negative = unknown (then magnitude is used).
  double abs_exact = -1;
  /// An upper bound on |b_i| (e.g. max |b| over the bias tensor); negative = unknown. Sharpens
  /// the bias-after-output term (docs/bounds.md, Theorem B, step 5).
  double abs_bias = -1;
};

/// L: the largest number of accumulator roundings any one summand goes through, for the model's
/// products and the given order and summand count (docs/bounds.md, B2). `bias_summand` says
/// whether the bias is one of the summands.
std::int64_t rounding_depth(const arithmetic_model& m, summation_order order, std::int64_t terms,
                            bool bias_summand) noexcept;

/// |y^_i - y~_i| <= this for EVERY summation order (y~_i: exact op on the model's rounded inputs),
/// including underflow, output rounding and both bias placements the model allows
/// (docs/bounds.md, Theorem B). The default for verdicts.
double dot_bound_any_order(const arithmetic_model& m, const element_input& e) noexcept;

/// As dot_bound_any_order, sharper for a known order (pairwise, blocked, block_fma). With
/// order == any it equals dot_bound_any_order.
double dot_bound(const arithmetic_model& m, summation_order order, const element_input& e) noexcept;

/// Probabilistic bound (Higham & Mary 2019, docs/bounds.md, Theorem P): holds for one element
/// with probability >= 1 - 2 m_i exp(-lambda^2 (1-u)^2/2) (m_i summands, u =
/// probabilistic_unit_roundoff(m)) when the roundings to nearest are independent and mean-zero;
/// choose lambda with lambda_for over the whole tensor. +Inf when the model has no probabilistic
/// bound (has_probabilistic_bound: truncating matrix units alone).
double dot_bound_probabilistic(const arithmetic_model& m, summation_order order,
                               const element_input& e, double lambda) noexcept;

/// The unit roundoff of the model's roundings to nearest, the u of Theorem P's probability and
/// of lambda_for (the accumulator's, or a reduction format's when coarser); 0 when there are none.
double probabilistic_unit_roundoff(const arithmetic_model& m) noexcept;

/// Terms of the signature test (docs/bounds.md, Theorem S): under the model, the error is
/// sum_k delta_k c_k + R with independent mean-zero |delta_k| <= 1, fixed c_k with
/// sum c_k^2 <= variance, and |R| <= remainder.
struct first_order_terms {
  double variance = 0;   ///< upper bound on sum_k c_k^2 (rounded up)
  double remainder = 0;  ///< deterministic bound on |R| (rounded up)
};
/// With lambda > 0 the remainder bound also assumes every path's rounding errors satisfy
/// |sum delta| <= lambda sqrt(L) u (probability >= 1 - 2 exp(-lambda^2/2) per summand).
/// {+Inf, +Inf} (no information) unless every rounding is to nearest without alignment.
first_order_terms first_order(const arithmetic_model& m, const element_input& e,
                              double lambda = 0) noexcept;

namespace detail {
// Upward-rounded arithmetic by one ulp step after a round-to-nearest operation (docs/bounds.md,
// "Computing bounds upward"): RN(a op b) is within half an ulp, so the next double up is >= the
// exact result. Arguments must be >= 0 (or +Inf); NaN never occurs in bound arithmetic.
double add_up(double a, double b) noexcept;
double mul_up(double a, double b) noexcept;
double div_up(double a, double b) noexcept;    // b > 0
double sub_down(double a, double b) noexcept;  // result rounded downward
}  // namespace detail

}  // namespace roundoff::bounds
