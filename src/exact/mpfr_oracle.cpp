// MPFR oracle: each output is bias + sum a[k]*b[k] by mpfr_fma at a fixed precision, with the
// ternary value of every operation recorded (MPFR's habit of never rounding silently).
// Precision rule and special values: docs/exact.md ("The oracle").
#include "roundoff/exact/mpfr_oracle.hpp"
#include "roundoff/error.hpp"

#include <mpfr.h>

#include <algorithm>
#include <bit>
#include <boost/multiprecision/mpfr.hpp>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace roundoff::exact {

namespace mp = boost::multiprecision;

struct mpfr_value::impl {
  mp::mpfr_float v;
  bool exact = true;
  long precision = 0;
};

namespace {

mpfr_rnd_t to_mpfr(rounding r) {
  switch (r) {
    case rounding::nearest_even:
      return MPFR_RNDN;
    case rounding::upward:
      return MPFR_RNDU;
    case rounding::downward:
      return MPFR_RNDD;
    case rounding::toward_zero:
      return MPFR_RNDZ;
  }
  return MPFR_RNDN;
}

// Restores MPFR's (thread-local) exponent range on scope exit.
class exponent_range {
 public:
  exponent_range(mpfr_exp_t emin, mpfr_exp_t emax)
      : old_min_(mpfr_get_emin()), old_max_(mpfr_get_emax()) {
    mpfr_set_emin(emin);
    mpfr_set_emax(emax);
  }
  ~exponent_range() {
    mpfr_set_emin(old_min_);
    mpfr_set_emax(old_max_);
  }
  exponent_range(const exponent_range&) = delete;
  exponent_range& operator=(const exponent_range&) = delete;

 private:
  mpfr_exp_t old_min_, old_max_;
};

// x (any precision, default exponent range) rounded once to a binary format with precision p,
// smallest normal exponent emin and largest exponent emax, IEEE-style, as a double. MPFR's
// recipe: round to p bits in the wide range, then mpfr_check_range and mpfr_subnormalize with the
// format's range (MPFR exponents are one larger: 1.m*2^e = 0.1m*2^(e+1)), passing the ternary
// value along so there is no double rounding. A result above max_finite (e4m3: 480 > 448)
// overflows as IEEE would.
double round_mpfr(mpfr_srcptr x, const format_traits& f, mpfr_rnd_t rnd, underflow_mode u) {
  if (mpfr_nan_p(x)) return std::numeric_limits<double>::quiet_NaN();
  if (mpfr_inf_p(x))
    return mpfr_signbit(x) ? -std::numeric_limits<double>::infinity()
                           : std::numeric_limits<double>::infinity();
  if (mpfr_zero_p(x)) return 0.0;  // an exact zero is +0 (docs/exact.md)
  const bool neg = mpfr_signbit(x) != 0;
  mp::mpfr_float tv;
  mpfr_ptr t = tv.backend().data();
  mpfr_set_prec(t, f.precision);
  int tern = mpfr_set(t, x, rnd);
  if (u == underflow_mode::flush_to_zero) {
    // Tininess after rounding (docs/formats.md): p bits with an unbounded exponent, below the
    // smallest normal -> zero of the value's sign.
    if (mpfr_get_exp(t) - 1 < f.emin) return neg ? -0.0 : 0.0;
  }
  double d;
  {
    exponent_range range(f.emin - f.precision + 2, f.emax + 1);
    tern = mpfr_check_range(t, tern, rnd);
    tern = mpfr_subnormalize(t, tern, rnd);
    d = mpfr_get_d(t, MPFR_RNDN);  // exact: t is a value of the format
  }
  if (std::isinf(d) && !f.has_infinity) return std::numeric_limits<double>::quiet_NaN();
  if (std::isfinite(d) && std::fabs(d) > f.max_finite) {
    const bool to_inf = rnd == MPFR_RNDN || (rnd == MPFR_RNDU && !neg) || (rnd == MPFR_RNDD && neg);
    if (to_inf)
      d = f.has_infinity ? std::numeric_limits<double>::infinity()
                         : std::numeric_limits<double>::quiet_NaN();
    else
      d = f.max_finite;
    d = neg ? -d : d;
  }
  return d;
}

// Exponent e of the leading bit (|x| in [2^e, 2^(e+1))) and of the trailing set bit of a finite
// nonzero double.
void exponents(double x, int& lead, int& trail) {
  const auto bits = std::bit_cast<std::uint64_t>(x);
  const int ex = static_cast<int>((bits >> 52) & 0x7ff);
  std::uint64_t m = bits & ((std::uint64_t{1} << 52) - 1);
  int e = -1074;
  if (ex) {
    m |= std::uint64_t{1} << 52;
    e = ex - 1075;
  }
  trail = e + std::countr_zero(m);
  lead = e + 63 - std::countl_zero(m);
}

// bias + sum a[k]*b[k] at precision prec into v; returns whether every operation was exact.
bool mpfr_dot(mpfr_ptr s, std::int64_t k, const double* a, const double* b, const double* bias,
              long prec) {
  mpfr_set_prec(s, prec);
  bool exact = true;
  if (bias)
    exact &= mpfr_set_d(s, *bias, MPFR_RNDN) == 0;
  else
    mpfr_set_zero(s, 1);
  mp::mpfr_float av, bv;
  mpfr_ptr ap = av.backend().data(), bp = bv.backend().data();
  mpfr_set_prec(ap, 53);
  mpfr_set_prec(bp, 53);
  for (std::int64_t t = 0; t < k; ++t) {
    mpfr_set_d(ap, a[t], MPFR_RNDN);  // exact: 53 bits hold any double
    mpfr_set_d(bp, b[t], MPFR_RNDN);
    // One rounding of a*b + s (MPFR's fma is correctly rounded): ternary 0 iff exact.
    exact &= mpfr_fma(s, ap, bp, s, MPFR_RNDN) == 0;
  }
  return exact;
}

}  // namespace

long sufficient_precision(std::int64_t k, const double* a, const double* b, const double* bias) {
  // Every partial sum is an integer multiple of 2^lo (lo = smallest trailing-bit exponent of a
  // term) of magnitude < count * 2^(hi+1) (hi = largest leading exponent of a term), so it has
  // at most hi + 1 + ceil(log2(count)) - lo significant bits.
  int hi = std::numeric_limits<int>::min(), lo = std::numeric_limits<int>::max();
  std::int64_t count = 0;
  auto note = [&](int lead, int trail) {
    hi = std::max(hi, lead);
    lo = std::min(lo, trail);
    ++count;
  };
  for (std::int64_t t = 0; t < k; ++t) {
    if (!std::isfinite(a[t]) || !std::isfinite(b[t]) || a[t] == 0 || b[t] == 0) continue;
    int la, ta, lb, tb;
    exponents(a[t], la, ta);
    exponents(b[t], lb, tb);
    note(la + lb + 1, ta + tb);  // |a*b| < 2^(la+1) * 2^(lb+1)
  }
  if (bias && std::isfinite(*bias) && *bias != 0) {
    int l, tr;
    exponents(*bias, l, tr);
    note(l, tr);
  }
  if (count == 0) return 2;
  const long log2count = 64 - std::countl_zero(static_cast<std::uint64_t>(count));
  return std::max<long>(2, static_cast<long>(hi) + 1 + log2count - lo + 1);
}

mpfr_value::mpfr_value() : p_(std::make_unique<impl>()) {}
mpfr_value::~mpfr_value() = default;
mpfr_value::mpfr_value(mpfr_value&&) noexcept = default;
mpfr_value& mpfr_value::operator=(mpfr_value&&) noexcept = default;

bool mpfr_value::exact() const noexcept {
  return p_->exact;
}
long mpfr_value::precision() const noexcept {
  return p_->precision;
}

value_kind mpfr_value::kind() const noexcept {
  mpfr_srcptr x = p_->v.backend().data();
  if (mpfr_nan_p(x)) return value_kind::nan;
  if (mpfr_inf_p(x)) return mpfr_signbit(x) ? value_kind::neg_inf : value_kind::pos_inf;
  return value_kind::finite;
}

int mpfr_value::sign() const noexcept {
  mpfr_srcptr x = p_->v.backend().data();
  if (mpfr_nan_p(x)) return 0;
  return mpfr_sgn(x);
}

double mpfr_value::round(rounding r) const {
  return round_mpfr(p_->v.backend().data(), traits(format_id::f64), to_mpfr(r),
                    underflow_mode::gradual);
}

double mpfr_value::round_to(format_id f, underflow_mode u) const {
  return round_mpfr(p_->v.backend().data(), traits(f), MPFR_RNDN, u);
}

double mpfr_value::abs_diff(double observed, rounding r) const {
  mpfr_srcptr x = p_->v.backend().data();
  if (mpfr_nan_p(x) || std::isnan(observed)) return std::numeric_limits<double>::quiet_NaN();
  if (mpfr_inf_p(x) || std::isinf(observed)) {
    const bool same =
        mpfr_inf_p(x) && std::isinf(observed) && (mpfr_signbit(x) != 0) == std::signbit(observed);
    return same ? 0.0 : std::numeric_limits<double>::infinity();
  }
  mp::mpfr_float ov, dv;
  mpfr_ptr o = ov.backend().data(), d = dv.backend().data();
  mpfr_set_prec(o, 53);
  mpfr_set_d(o, observed, MPFR_RNDN);
  // |x - o| correctly rounded to 53 bits in the wide exponent range (one rounding: MPFR's sub
  // is correctly rounded), then brought into double's range by round_mpfr without a second
  // rounding (mpfr_set of a 53-bit value to 53 bits is exact).
  mpfr_set_prec(d, 53);
  const mpfr_rnd_t rnd = to_mpfr(r);
  int tern = mpfr_cmp(x, o) >= 0 ? mpfr_sub(d, x, o, rnd) : mpfr_sub(d, o, x, rnd);
  if (mpfr_zero_p(d)) return 0.0;
  const format_traits& f = traits(format_id::f64);
  exponent_range range(f.emin - f.precision + 2, f.emax + 1);
  tern = mpfr_check_range(d, tern, rnd);
  tern = mpfr_subnormalize(d, tern, rnd);
  return mpfr_get_d(d, MPFR_RNDN);
}

mpfr_value dot_mpfr_value(std::int64_t k, const double* a, const double* b, const double* bias,
                          const mpfr_options& opt) {
  if (opt.precision_bits < MPFR_PREC_MIN || opt.precision_bits > MPFR_PREC_MAX)
    throw internal_error("mpfr oracle: precision " + std::to_string(opt.precision_bits) +
                         " bits is outside MPFR's range");
  mpfr_value out;
  mpfr_ptr s = out.p_->v.backend().data();
  out.p_->precision = opt.precision_bits;
  out.p_->exact = mpfr_dot(s, k, a, b, bias, opt.precision_bits);
  if (!out.p_->exact && opt.auto_raise) {
    const long need = sufficient_precision(k, a, b, bias);
    const long prec = std::max(need, opt.precision_bits);
    out.p_->precision = prec;
    out.p_->exact = mpfr_dot(s, k, a, b, bias, prec);
    if (!out.p_->exact)
      throw internal_error("mpfr oracle: inexact at the sufficient precision " +
                           std::to_string(prec) + " (bug in sufficient_precision)");
  }
  return out;
}

double dot_mpfr(std::int64_t k, const double* a, const double* b, const double* bias,
                long precision_bits, bool* exact) {
  mpfr_options opt;
  opt.precision_bits = precision_bits;
  const mpfr_value v = dot_mpfr_value(k, a, b, bias, opt);
  if (exact) *exact = v.exact();
  return v.round();
}

bool mpfr_result::all_exact() const noexcept {
  return std::all_of(exact.begin(), exact.end(), [](std::uint8_t e) { return e != 0; });
}

mpfr_result gemm_mpfr(const gemm_problem& p, const mpfr_options& opt) {
  if (p.batch < 0 || p.m < 0 || p.n < 0 || p.k < 0)
    throw internal_error("gemm_mpfr: negative dimension");
  mpfr_result r;
  const auto total = static_cast<std::size_t>(p.batch * p.m * p.n);
  r.rounded.resize(total);
  r.exact.resize(total);
  std::size_t idx = 0;
  for (std::int64_t bb = 0; bb < p.batch; ++bb)
    for (std::int64_t i = 0; i < p.m; ++i)
      for (std::int64_t j = 0; j < p.n; ++j, ++idx) {
        const double* arow = p.a ? p.a + bb * p.a_batch_stride + i * p.lda : nullptr;
        const double* brow = p.b ? p.b + bb * p.b_batch_stride + j * p.ldb : nullptr;
        const double* bias = p.bias ? p.bias + bb * p.bias_batch_stride + i * p.bias_row_stride +
                                          j * p.bias_col_stride
                                    : nullptr;
        const mpfr_value v = dot_mpfr_value(p.k, arow, brow, bias, opt);
        r.rounded[idx] = v.round();
        r.exact[idx] = v.exact() ? 1 : 0;
        r.max_precision_used = std::max(r.max_precision_used, v.precision());
      }
  return r;
}

}  // namespace roundoff::exact
