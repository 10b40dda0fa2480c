// Per-element error bounds. Every formula is derived in docs/bounds.md; the comments name the
// theorem each function implements. All arithmetic rounds upward (detail::*_up), so a computed
// bound is never below the real-number bound it represents.
#include "roundoff/bounds/bounds.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "bound_plan.hpp"
#include "directed.hpp"

namespace roundoff::bounds {

namespace detail {

// The inline helpers of directed.hpp (§3.5), exported for tests and other layers.
double add_up(double a, double b) noexcept {
  return directed::add_up(a, b);
}
double sub_down(double a, double b) noexcept {
  return directed::sub_down(a, b);
}
double mul_up(double a, double b) noexcept {
  return directed::mul_up(a, b);
}
double div_up(double a, double b) noexcept {
  return directed::div_up(a, b);
}

}  // namespace detail

using detail::directed::add_up;
using detail::directed::div_up;
using detail::directed::mul_up;
using detail::directed::sub_down;

namespace {

constexpr double inf = std::numeric_limits<double>::infinity();

// n as a double, rounded upward (exact below 2^53).
double count_up(std::int64_t n) noexcept {
  double d = static_cast<double>(n);
  if (static_cast<std::int64_t>(d) < n) d = std::nextafter(d, inf);
  return d;
}

// Libm's exp/log/sqrt/expm1 are not correctly rounded; glibc documents errors of at most a few
// ulps. Inflating by 2^-40 relative (about 2^13 ulps) plus one step covers that with room.
double inflate(double x) noexcept {
  if (std::isinf(x)) return x;
  return std::nextafter(mul_up(x, 1 + 0x1p-40), inf);
}

// Largest absolute error of one underflowing rounding in format f (docs/bounds.md, B3).
// Gradual: half the smallest subnormal. For f64 that is 2^-1075, which is not a double (it
// rounds to 0), so the smallest subnormal 2^-1074 stands in as an upper bound: dividing by two
// here once made the f64 underflow term vanish (regression: soundness seed 1795931032681836387).
double eta(format_id f, underflow_mode u) noexcept {
  const auto& t = traits(f);
  if (u != underflow_mode::gradual) return t.min_normal;
  const double half = t.min_subnormal / 2;
  return half * 2 == t.min_subnormal ? half : t.min_subnormal;
}
bool all_nearest(const arithmetic_model& m) noexcept {
  return m.accumulation == accumulation_rounding::nearest && m.alignment_precision == 0 &&
         m.reduction == format_id::f64;
}

// The largest absolute underflow error of one accumulation step (docs/bounds.md, B3 and §3.8):
// a faithful rounding errs by less than one subnormal spacing (or min_normal when flushed), a
// reduction's rounding by its format's eta.
double eta_acc(const arithmetic_model& m) noexcept {
  double e = eta(m.accumulator, m.underflow);
  if (m.accumulation == accumulation_rounding::faithful) {
    const auto& t = traits(m.accumulator);
    e = m.underflow == underflow_mode::gradual ? t.min_subnormal : t.min_normal;
  }
  if (m.reduction != format_id::f64) e = std::max(e, eta(m.reduction, m.underflow));
  return e;
}
double eta_out(const arithmetic_model& m) noexcept {
  return eta(m.output, m.underflow);
}

// Number of roundings that can contribute an absolute underflow error (docs/bounds.md, B3):
// with gradual underflow and rounding to nearest only products/FMAs (an addition whose result
// is subnormal is exact); otherwise every operation.
double underflow_count(const arithmetic_model& m, std::int64_t n, std::int64_t summands) noexcept {
  if (m.underflow == underflow_mode::gradual && all_nearest(m)) return count_up(n);
  return add_up(count_up(n), count_up(summands));
}

// The relative bound on one accumulation step's rounding (docs/bounds.md, §3.8): u for rounding
// to nearest, 2u for a faithful one, and the reduction format's u when partial sums may be
// rounded there.
double step_unit(const arithmetic_model& m) noexcept {
  const double ua = unit_roundoff(m.accumulator);
  double e = m.accumulation == accumulation_rounding::faithful ? 2 * ua : ua;
  if (m.reduction != format_id::f64) e = std::max(e, unit_roundoff(m.reduction));
  return e;
}

// eta_align = 2^(1 - p_a): the relative error one dropped addend costs the largest addend of a
// block FMA (docs/bounds.md, §3.8); 0 without alignment.
double align_unit(const arithmetic_model& m) noexcept {
  return m.alignment_precision > 0 ? std::ldexp(1.0, 1 - m.alignment_precision) : 0.0;
}

// s / (1 - s) rounded upward, +Inf when s >= 1 (Lemma R, docs/bounds.md §3.8).
double theta_of(double s) noexcept {
  if (!(s < 1)) return inf;
  return div_up(s, sub_down(1.0, s));
}

// Lemma R's S: l * per_step + (summands - 1) * eta_align (the alignment term only with
// alignment), rounded upward.
double path_sum(const arithmetic_model& m, std::int64_t l, std::int64_t summands,
                double per_step) noexcept {
  double s = mul_up(count_up(l), per_step);
  if (m.alignment_precision > 0 && summands > 1)
    s = add_up(s, mul_up(count_up(summands - 1), align_unit(m)));
  return s;
}

// The deterministic relative constant for depth l and `summands` summands: theta of
// l * step_unit + (summands - 1) * eta_align (Theorem B, Lemma R).
double rel_deterministic(const arithmetic_model& m, std::int64_t l,
                         std::int64_t summands) noexcept {
  if (l <= 0 && summands <= 1) return 0.0;
  return all_nearest(m) ? gamma(l, unit_roundoff(m.accumulator))
                        : theta_of(path_sum(m, l, summands, step_unit(m)));
}

// The probabilistic relative constant (Theorem P, and P' for mixed models in §3.8): gamma~ over
// the roundings to nearest, times the deterministic factor of the truncating ones.
double rel_probabilistic(const arithmetic_model& m, std::int64_t l, std::int64_t summands,
                         double lambda) noexcept {
  if (!has_probabilistic_bound(m)) return inf;
  const double up = probabilistic_unit_roundoff(m);
  const double gt = gamma_tilde(l, up, lambda);
  if (all_nearest(m)) return gt;
  const double truncating =
      m.accumulation == accumulation_rounding::faithful ? 2 * unit_roundoff(m.accumulator) : 0.0;
  const double td = theta_of(path_sum(m, l, summands, truncating));
  if (std::isinf(td) || std::isinf(gt)) return inf;
  return add_up(add_up(td, gt), mul_up(td, gt));
}

bool coarser_output(const arithmetic_model& m) noexcept {
  return !at_least_as_fine(m.output, m.accumulator);
}

// The factor by which later roundings can grow an underflow error introduced on a path of depth
// l: prod (1 + eps_k) <= min(1 + theta, exp(sum eps_k)), finite even where n u >= 1
// (docs/bounds.md, Theorem B, step 2).
double growth(const arithmetic_model& m, std::int64_t l, std::int64_t summands) noexcept {
  return std::min(add_up(1.0, rel_deterministic(m, l, summands)),
                  inflate(std::exp(path_sum(m, l, summands, step_unit(m)))));
}

// The plan (bound_plan.hpp) of Theorem B's bound for n = terms: the element-independent constants
// of steps 1-2 (relative constant rel(l, summands), the underflow term with its growth factor
// grow(l, summands)) for both bias placements; evaluate() does steps 4-5 per element.
template <class RelConstant, class Growth>
detail::bound_plan make_plan(const arithmetic_model& m, summation_order order, std::int64_t terms,
                             bool has_bias, RelConstant rel, Growth grow) noexcept {
  detail::bound_plan p;
  p.uo = unit_roundoff(m.output);
  p.coarse = coarser_output(m);
  p.eta_out = eta_out(m);
  // Bias as a summand of the accumulation (any position), or no bias.
  const std::int64_t summands = terms + (has_bias ? 1 : 0);
  const std::int64_t l_in = rounding_depth(m, order, terms, has_bias);
  p.g_in = rel(l_in, summands);
  p.uf_in = mul_up(mul_up(grow(l_in, summands), underflow_count(m, terms, summands)), eta_acc(m));
  p.bias = m.bias;
  p.after = has_bias && p.coarse && m.bias != bias_handling::in_accumulator;
  if (!p.after) return p;
  // Bias added after a first output rounding: y = fl_out(fl_out(s) + b).
  const std::int64_t l_af = rounding_depth(m, order, terms, false);
  p.g_af = rel(l_af, terms);
  p.uf_af = mul_up(mul_up(grow(l_af, terms), underflow_count(m, terms, terms)), eta_acc(m));
  p.one_minus_uo_down = sub_down(1.0, p.uo);
  p.one_plus_uo_up = add_up(1.0, p.uo);
  return p;
}

}  // namespace

// docs/bounds.md, B1.
double gamma(std::int64_t n, double u) noexcept {
  if (n <= 0) return 0.0;
  double q = mul_up(count_up(n), u);
  if (q >= 1) return inf;
  return div_up(q, sub_down(1.0, q));
}

// docs/bounds.md, P1.
double gamma_tilde(std::int64_t n, double u, double lambda) noexcept {
  if (n <= 0) return 0.0;
  double g = gamma(n, u);
  double nd = count_up(n);
  double sq = std::nextafter(std::sqrt(nd), inf);  // sqrt is correctly rounded
  double t1 = mul_up(mul_up(lambda, sq), u);
  double t2 = div_up(mul_up(mul_up(nd, u), u), sub_down(1.0, u));
  double a = add_up(t1, t2);
  double gt = inflate(std::expm1(a));
  return std::min(gt, g);
}

// docs/bounds.md, P2: 2 c exp(-lambda^2 (1-u)^2 / 2) <= alpha.
double lambda_for(double count, double u, double alpha) noexcept {
  double r = 2 * count / alpha;
  if (!(r > 1)) return 0.0;
  double l = std::sqrt(2 * std::log(r)) / (1 - u);
  return inflate(l);
}

// docs/bounds.md, B2.
std::int64_t rounding_depth(const arithmetic_model& m, summation_order order, std::int64_t terms,
                            bool bias_summand) noexcept {
  const std::int64_t s = terms + (bias_summand ? 1 : 0);
  if (s <= 0) return 0;
  // A product's own rounding (a separate multiply, or the FMA that adds it) unless exact.
  const std::int64_t pi = (terms > 0 && !m.exact_products) ? 1 : 0;
  using k = summation_order::kind;
  switch (order.k) {
    case k::any:
    case k::sequential:
      return (s - 1) + pi;
    case k::pairwise: {
      std::int64_t d = 0;
      while ((std::int64_t{1} << d) < s) ++d;
      return d + pi;
    }
    case k::blocked: {
      if (order.block <= 0) return (s - 1) + pi;
      std::int64_t b = std::min(order.block, s);
      std::int64_t nb = (s + order.block - 1) / order.block;
      return (b - 1) + (nb - 1) + pi;
    }
    case k::block_fma: {
      if (order.block <= 0) return (s - 1) + pi;
      std::int64_t nb = (terms + order.block - 1) / order.block;
      return nb + (bias_summand ? 1 : 0) + pi;
    }
  }
  return (s - 1) + pi;
}

// docs/bounds.md, Theorem B.
double dot_bound_any_order(const arithmetic_model& m, const element_input& e) noexcept {
  return dot_bound(m, summation_order::any(), e);
}

namespace detail {

bound_plan plan_deterministic(const arithmetic_model& m, summation_order order, std::int64_t terms,
                              bool has_bias) noexcept {
  return make_plan(
      m, order, terms, has_bias,
      [&](std::int64_t l, std::int64_t summands) { return rel_deterministic(m, l, summands); },
      [&](std::int64_t l, std::int64_t summands) { return growth(m, l, summands); });
}

bound_plan plan_probabilistic(const arithmetic_model& m, summation_order order, std::int64_t terms,
                              bool has_bias, double lambda) noexcept {
  if (!has_probabilistic_bound(m)) {
    bound_plan p;
    p.none = true;
    return p;
  }
  // An underflow error's growth is a product over part of a path: on its own event of the same
  // probability it is at most 1 + the probabilistic constant (lambda covers those events too).
  return make_plan(
      m, order, terms, has_bias,
      [&](std::int64_t l, std::int64_t summands) {
        return std::min(rel_probabilistic(m, l, summands, lambda),
                        rel_deterministic(m, l, summands));
      },
      [&](std::int64_t l, std::int64_t summands) {
        return std::min(growth(m, l, summands),
                        add_up(1.0, rel_probabilistic(m, l, summands, lambda)));
      });
}

}  // namespace detail

double dot_bound(const arithmetic_model& m, summation_order order,
                 const element_input& e) noexcept {
  return detail::evaluate(detail::plan_deterministic(m, order, e.terms, e.has_bias), e.magnitude,
                          e.abs_observed, e.abs_bias);
}

// docs/bounds.md, Theorem P (and P' for mixed models, §3.8). +Inf when the model has none.
double dot_bound_probabilistic(const arithmetic_model& m, summation_order order,
                               const element_input& e, double lambda) noexcept {
  return detail::evaluate(detail::plan_probabilistic(m, order, e.terms, e.has_bias, lambda),
                          e.magnitude, e.abs_observed, e.abs_bias);
}

double probabilistic_unit_roundoff(const arithmetic_model& m) noexcept {
  double u = m.accumulation == accumulation_rounding::nearest ? unit_roundoff(m.accumulator) : 0.0;
  if (m.reduction != format_id::f64) u = std::max(u, unit_roundoff(m.reduction));
  return u;
}

// docs/bounds.md, Theorem S.
first_order_terms first_order(const arithmetic_model& m, const element_input& e,
                              double lambda) noexcept {
  if (!all_nearest(m)) return {inf, inf};  // truncation: errors are not mean-zero
  const double ua = unit_roundoff(m.accumulator);
  const double uo = unit_roundoff(m.output);
  const std::int64_t summands = e.terms + (e.has_bias ? 1 : 0);
  const std::int64_t l = rounding_depth(m, summation_order::any(), e.terms, e.has_bias);
  const double g = gamma(l, ua);
  if (std::isinf(g)) return {inf, inf};
  // Sum of squared coefficients of the accumulator roundings, over T^2: the additions' (or
  // FMAs') coefficients are partial sums S_k with sum_k S_k^2 <= max_k |S_k| sum_k |S_k| <= T * L
  // T; separate product roundings add sum_j p_j^2 <= T^2 (Theorem S, step 2).
  std::int64_t k = l + (m.exact_products || m.fma ? 0 : 1);
  const bool coarse = coarser_output(m);
  int r_out = coarse ? ((e.has_bias && m.bias != bias_handling::in_accumulator) ? 2 : 1) : 0;

  first_order_terms f;
  double t2 = mul_up(e.magnitude, e.magnitude);
  f.variance = mul_up(mul_up(mul_up(ua, ua), count_up(k)), t2);
  if (r_out > 0) {
    // The final rounding's coefficient is the exact result y~ (|y~| <= T); with the bias added
    // after a first output rounding, that first one's coefficient is y~ - b (|.| <= T).
    double c = e.abs_exact >= 0 ? std::min(e.abs_exact, e.magnitude) : e.magnitude;
    double c2 = mul_up(c, c);
    if (r_out == 2) {
      // First rounding's coefficient: y~ - b, |.| <= min(T, |y~| + |b|).
      double c1 = e.magnitude;
      if (e.abs_exact >= 0 && e.abs_bias >= 0) c1 = std::min(c1, add_up(e.abs_exact, e.abs_bias));
      c2 = add_up(c2, mul_up(c1, c1));
    }
    f.variance = add_up(f.variance, mul_up(mul_up(uo, uo), c2));
  }

  // R_acc = (gamma_L - L u) T + underflow terms; gamma_L - L u = L^2 u^2 / (1 - L u).
  double lu = mul_up(count_up(l), ua);
  double second = div_up(mul_up(lu, lu), sub_down(1.0, lu));
  if (lambda > 0) {
    // With |sum of a path's deltas| <= lambda sqrt(L) u (Hoeffding, each path), the remainder
    // per unit of |p_j| is <= a^2 e^a / 2 + L u^2/(1-u), a = lambda sqrt(L) u + L u^2/(1-u)
    // (Theorem S, step 3).
    double c = div_up(mul_up(mul_up(count_up(l), ua), ua), sub_down(1.0, ua));
    double sq = std::nextafter(std::sqrt(count_up(l)), inf);
    double a = add_up(mul_up(mul_up(lambda, sq), ua), c);
    double ea = inflate(std::exp(a));
    double pr = add_up(div_up(mul_up(mul_up(a, a), ea), 2.0), c);
    second = std::min(second, pr);
  }
  double uf = mul_up(mul_up(add_up(1.0, g), underflow_count(m, e.terms, summands)), eta_acc(m));
  double r_acc = add_up(mul_up(second, e.magnitude), uf);
  double acc_err = add_up(mul_up(g, e.magnitude), uf);
  f.remainder = r_acc;
  if (r_out > 0) {
    double per = add_up(mul_up(uo, acc_err), eta_out(m));
    f.remainder = add_up(f.remainder, mul_up(per, r_out));
    if (r_out == 2)
      f.remainder = add_up(f.remainder, mul_up(mul_up(uo, uo), add_up(e.magnitude, acc_err)));
  }
  return f;
}

}  // namespace roundoff::bounds
