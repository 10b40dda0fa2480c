// Test oracle: rounding to a format with GNU MPFR, independent of src/formats.
// IEEE emulation as in the MPFR manual: precision p, emin/emax shifted to MPFR's convention
// (significand in [1/2, 1), so an IEEE exponent e is MPFR exponent e + 1, and the smallest
// subnormal 2^(emin-p+1) has MPFR exponent emin - p + 2), then mpfr_check_range and
// mpfr_subnormalize with the ternary value, which avoid double rounding.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>

#include <mpfr.h>

#include "roundoff/formats/format.hpp"

namespace roundoff::test {

/// The format's parameters as the oracle sees them: written out here, not read from traits(),
/// so that a wrong traits table cannot make the oracle agree with it.
struct oracle_format {
  int p, emin, emax;
  double max_finite;  // e4m3: 448 (the p=4 grid value 480 is its NaN encoding)
  bool has_inf;
};
inline oracle_format oracle_params(format_id f) {
  switch (f) {
    case format_id::f64:
      return {53, -1022, 1023, std::numeric_limits<double>::max(), true};
    case format_id::f32:
      return {24, -126, 127, 0x1.fffffep127, true};
    case format_id::tf32:
      return {11, -126, 127, 0x1.ffcp127, true};
    case format_id::bf16:
      return {8, -126, 127, 0x1.fep127, true};
    case format_id::f16:
      return {11, -14, 15, 65504.0, true};
    case format_id::e4m3:
      return {4, -6, 8, 448.0, false};
    case format_id::e5m2:
      return {3, -14, 15, 57344.0, true};
  }
  throw std::logic_error("bad format");
}

/// RAII: MPFR exponent range set to format f's, restored on destruction.
class mpfr_range {
 public:
  explicit mpfr_range(const oracle_format& f) : emin_(mpfr_get_emin()), emax_(mpfr_get_emax()) {
    mpfr_set_emin(f.emin - f.p + 2);
    mpfr_set_emax(f.emax + 1);
  }
  ~mpfr_range() {
    mpfr_set_emin(emin_);
    mpfr_set_emax(emax_);
  }
  mpfr_range(const mpfr_range&) = delete;
  mpfr_range& operator=(const mpfr_range&) = delete;

 private:
  mpfr_exp_t emin_, emax_;
};

/// Oracle for round_to / round_significand. Holds its MPFR variables to avoid reallocation.
class mpfr_rounder {
 public:
  explicit mpfr_rounder(format_id f) : f_(oracle_params(f)) {
    mpfr_init2(y_, f_.p);
    mpfr_init2(w_, f_.p);
    mpfr_init2(d_, 53);
  }
  ~mpfr_rounder() {
    mpfr_clear(y_);
    mpfr_clear(w_);
    mpfr_clear(d_);
  }
  mpfr_rounder(const mpfr_rounder&) = delete;
  mpfr_rounder& operator=(const mpfr_rounder&) = delete;

  const oracle_format& format() const { return f_; }

  /// Gradual underflow: a double input, rounded in the format's exponent range directly.
  double round_double(double x) {
    if (std::isnan(x)) return x;
    double r;
    {
      mpfr_range range(f_);
      int t = mpfr_set_d(y_, x, MPFR_RNDN);
      t = mpfr_subnormalize(y_, t, MPFR_RNDN);
      r = mpfr_get_d(y_, MPFR_RNDN);
    }
    return fix_e4m3(r);
  }

  /// Gradual underflow, any exact MPFR value v (given in the default, wide exponent range):
  /// round to p bits in the wide range, then narrow the range, check it and subnormalize.
  double round_exact(const mpfr_t v) {
    if (mpfr_nan_p(v)) return std::numeric_limits<double>::quiet_NaN();
    int t = mpfr_set(y_, v, MPFR_RNDN);
    double r;
    {
      mpfr_range range(f_);
      t = mpfr_check_range(y_, t, MPFR_RNDN);
      t = mpfr_subnormalize(y_, t, MPFR_RNDN);
      r = mpfr_get_d(y_, MPFR_RNDN);
    }
    return fix_e4m3(r);
  }

  /// Flush-to-zero (tininess after rounding): zero when v rounded to p bits with the wide
  /// exponent range is below 2^emin in magnitude, else the gradual result.
  double round_exact_ftz(const mpfr_t v) {
    if (mpfr_nan_p(v) || mpfr_inf_p(v) || mpfr_zero_p(v)) return round_exact(v);
    mpfr_set(w_, v, MPFR_RNDN);
    if (mpfr_get_exp(w_) - 1 < f_.emin) return mpfr_signbit(v) ? -0.0 : 0.0;
    return round_exact(v);
  }
  double round_double_ftz(double x) {
    if (std::isnan(x)) return x;
    mpfr_set_d(d_, x, MPFR_RNDN);  // exact: d_ has 53 bits
    return round_exact_ftz(d_);
  }

 private:
  double fix_e4m3(double r) const {
    // e4m3 is the p=4, emax=8 grid without its top code 480 (S.1111.111 is NaN) and without Inf.
    if (!f_.has_inf && !(std::fabs(r) <= f_.max_finite)) {
      return std::copysign(std::numeric_limits<double>::quiet_NaN(), r);
    }
    return r;
  }

  oracle_format f_;
  mpfr_t y_, w_, d_;
};

}  // namespace roundoff::test
