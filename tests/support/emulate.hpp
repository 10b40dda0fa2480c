// Emulated implementations of a dot product y = sum x_j w_j (+ b) in an arithmetic model, for the
// bounds and verdicts tests: every operation is rounded to the model's formats with
// formats::round_to (or, for FMA and block FMA, formed exactly by the exact accumulator and
// rounded once).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "roundoff/bounds/models.hpp"
#include "roundoff/exact/accumulator.hpp"
#include "roundoff/formats/convert.hpp"
#include "roundoff/formats/format.hpp"

namespace roundoff::test {

enum class algo : std::uint8_t {
  sequential,
  reversed,
  random_order,
  pairwise,
  blocked,
  split_k,
  kahan,
  fma,
  wider,
  block_fma,
  matrix_unit,  ///< NVIDIA-style block FMA: aligned, truncated addends, faithful rounding
  count
};

inline const char* algo_name(algo a) {
  static const char* n[] = {"sequential", "reversed",  "random_order", "pairwise",
                            "blocked",    "split_k",   "kahan",        "fma",
                            "wider",      "block_fma", "matrix_unit"};
  return n[static_cast<int>(a)];
}

enum class bias_at : std::uint8_t { first, last, after_output };

/// How a matrix unit's roundings go (each a way real hardware may do it; the model covers all).
enum class unit_rounding : std::uint8_t { toward_zero, nearest, downward };

struct emulator {
  bounds::arithmetic_model m;
  algo alg = algo::sequential;
  std::int64_t block = 4;
  bias_at bias = bias_at::last;
  conversion conv = conversion::nearest_even;  ///< how inputs are converted (one of m's)
  // matrix_unit only: alignment drops bits toward zero (or toward -Inf), the block's sum is
  // rounded per `final`, and with a reduction format split-K partials are rounded to it.
  bool align_floor = false;
  unit_rounding final = unit_rounding::toward_zero;
  std::int64_t splits = 1;

  double convert_input(double v) const { return convert(m.input, v, conv, m.underflow); }

  // One block FMA: c + sum x_k w_k with every addend aligned to the largest exponent keeping
  // m.alignment_precision bits, summed exactly, then rounded to the accumulator per `final`.
  double unit_block(double c, const double* x, const double* w, std::size_t k) const {
    std::vector<double> a{c};
    for (std::size_t j = 0; j < k; ++j) a.push_back(x[j] * w[j]);  // exact: p_in <= 12
    int e = std::numeric_limits<int>::min();
    for (double v : a)
      if (v != 0) e = std::max(e, std::ilogb(v));
    exact::accumulator t;
    const int pa = m.alignment_precision > 0 ? m.alignment_precision : 1000;
    for (double v : a) {
      if (v == 0 || e == std::numeric_limits<int>::min()) continue;
      const int q = e - pa + 1;  // the grid kept: 2^q
      if (q < -1074) {
        t.add(v);
        continue;
      }
      const double s = std::ldexp(v, -q);
      const double kept = align_floor ? std::floor(s) : std::trunc(s);
      t.add(std::ldexp(kept, q));
    }
    const double near = t.round();
    double r;
    switch (final) {
      case unit_rounding::nearest:
        r = t.round_to(m.accumulator, m.underflow);
        break;
      case unit_rounding::downward: {
        // Toward -Inf: RD_p(RD_53(x)) = RD_p(x); a negative double not on the grid moves one
        // spacing of the format away from zero after truncation.
        const double d = t.round(exact::rounding::downward);
        r = convert(m.accumulator, d, conversion::toward_zero);
        if (d < 0 && r != d) {
          const auto& tr = traits(m.accumulator);
          const int ex = r == 0 ? tr.emin : std::max(std::ilogb(r), tr.emin);
          r -= std::ldexp(1.0, ex - tr.precision + 1);
        }
        break;
      }
      default: {
        const double d =
            near >= 0 ? t.round(exact::rounding::downward) : t.round(exact::rounding::upward);
        r = convert(m.accumulator, d, conversion::toward_zero);
        break;
      }
    }
    if (m.underflow == underflow_mode::flush_to_zero &&
        std::fabs(r) < traits(m.accumulator).min_normal)
      r = std::copysign(0.0, r);
    return r;
  }

  // The matrix unit over a whole dot: K-blocks in sequence, or split-K chunks whose partials are
  // rounded to the reduction format (when the model has one) and added there.
  double unit_dot(const std::vector<double>& x, const std::vector<double>& w, double c0) const {
    const std::size_t n = x.size(), b = static_cast<std::size_t>(std::max<std::int64_t>(block, 1));
    const bool reduce = m.reduction != format_id::f64 && splits > 1;
    const std::size_t parts = reduce ? static_cast<std::size_t>(splits) : 1;
    const std::size_t len = (n + parts - 1) / parts;
    double total = 0;
    for (std::size_t p = 0; p < parts; ++p) {
      double c = p == 0 ? c0 : 0.0;
      const std::size_t lo = std::min(n, p * len), hi = std::min(n, lo + len);
      for (std::size_t j = lo; j < hi; j += b)
        c = unit_block(c, x.data() + j, w.data() + j, std::min(b, hi - j));
      if (!reduce) return c;
      c = round_to(m.reduction, c, m.underflow);
      total = p == 0 ? c : round_to(m.reduction, total + c, m.underflow);  // exact: p <= 24
    }
    return total;
  }

  double acc_round(double v) const { return round_to(m.accumulator, v, m.underflow); }
  // a + b in the accumulator: the double sum is RN53 of the exact sum, and rounding that to a
  // format of p <= 24 bits equals rounding the exact sum (53 >= 2p + 2, Figueroa 1995).
  double add(double a, double b) const { return acc_round(a + b); }
  double prod(double x, double w) const { return acc_round(x * w); }  // x*w exact for p_in <= 26
  double fma(double x, double w, double c) const {
    if (m.accumulator == format_id::f64) return std::fma(x, w, c);
    exact::accumulator t;
    t.add_product(x, w);
    t.add(c);
    return t.round_to(m.accumulator, m.underflow);
  }

  double sum_seq(const std::vector<double>& t) const {
    if (t.empty()) return 0.0;
    double s = t[0];
    for (std::size_t i = 1; i < t.size(); ++i) s = add(s, t[i]);
    return s;
  }
  double sum_pairwise(const double* t, std::size_t n) const {
    if (n == 0) return 0.0;
    if (n == 1) return t[0];
    std::size_t h = n / 2;
    return add(sum_pairwise(t, h), sum_pairwise(t + h, n - h));
  }

  // x, w already rounded to m.input; b to m.bias_format.
  double run(const std::vector<double>& x, const std::vector<double>& w, std::optional<double> b,
             std::mt19937_64& g) const {
    const std::size_t n = x.size();
    const bool coarse = !bounds::at_least_as_fine(m.output, m.accumulator);
    const bool b_in = b && !(bias == bias_at::after_output && coarse);
    double s;
    if (alg == algo::matrix_unit) {
      s = unit_dot(x, w, b_in && bias == bias_at::first ? *b : 0.0);
      if (b_in && bias != bias_at::first) s = add(s, *b);
    } else if (alg == algo::fma || alg == algo::block_fma) {
      s = 0.0;
      bool started = false;
      if (b_in && bias == bias_at::first) s = *b, started = true;
      if (alg == algo::fma) {
        for (std::size_t j = 0; j < n; ++j) {
          s = started ? fma(x[j], w[j], s) : fma(x[j], w[j], 0.0);
          started = true;
        }
      } else {
        for (std::size_t j = 0; j < n; j += static_cast<std::size_t>(block)) {
          exact::accumulator t;
          t.add(s);
          for (std::size_t k = j; k < std::min(n, j + static_cast<std::size_t>(block)); ++k)
            t.add_product(x[k], w[k]);
          s = t.round_to(m.accumulator, m.underflow);
        }
      }
      if (b_in && bias != bias_at::first) s = add(s, *b);
    } else {
      std::vector<double> t;
      t.reserve(n + 1);
      if (b_in && bias == bias_at::first) t.push_back(*b);
      for (std::size_t j = 0; j < n; ++j) t.push_back(prod(x[j], w[j]));
      if (b_in && bias != bias_at::first) t.push_back(*b);
      switch (alg) {
        case algo::reversed:
          std::reverse(t.begin(), t.end());
          s = sum_seq(t);
          break;
        case algo::random_order:
          std::shuffle(t.begin(), t.end(), g);
          s = sum_seq(t);
          break;
        case algo::pairwise:
          s = sum_pairwise(t.data(), t.size());
          break;
        case algo::blocked: {
          std::vector<double> parts;
          for (std::size_t j = 0; j < t.size(); j += static_cast<std::size_t>(block)) {
            std::vector<double> blk(
                t.begin() + static_cast<std::ptrdiff_t>(j),
                t.begin() + static_cast<std::ptrdiff_t>(std::min(t.size(), j + block)));
            parts.push_back(sum_seq(blk));
          }
          s = sum_seq(parts);
          break;
        }
        case algo::split_k: {
          // Chunks summed sequentially, partial sums combined in a random order (atomics).
          std::size_t chunks = 2 + g() % 7;
          std::size_t len = (t.size() + chunks - 1) / std::max<std::size_t>(chunks, 1);
          std::vector<double> parts;
          for (std::size_t j = 0; len && j < t.size(); j += len) {
            std::vector<double> blk(
                t.begin() + static_cast<std::ptrdiff_t>(j),
                t.begin() + static_cast<std::ptrdiff_t>(std::min(t.size(), j + len)));
            parts.push_back(sum_seq(blk));
          }
          std::shuffle(parts.begin(), parts.end(), g);
          s = sum_seq(parts);
          break;
        }
        case algo::kahan: {
          double sum = 0, c = 0;
          for (double v : t) {
            double y = add(v, -c);
            double tt = add(sum, y);
            c = add(add(tt, -sum), -y);
            sum = tt;
          }
          s = sum;
          break;
        }
        case algo::wider: {
          // f64 accumulation (exact accumulation for an f64 model), rounded to the accumulator.
          if (m.accumulator == format_id::f64) {
            exact::accumulator e;
            for (double v : t) e.add(v);
            s = e.round();
          } else {
            double w64 = 0;
            for (double v : t) w64 += v;
            s = acc_round(w64);
          }
          break;
        }
        default:
          s = sum_seq(t);
          break;
      }
    }
    if (!coarse) return s;
    double y = round_to(m.output, s, m.underflow);
    if (b && !b_in) y = round_to(m.output, y + *b, m.underflow);
    return y;
  }
};

/// Random realization choices of an implementation of e.m: its algorithm, block, bias placement,
/// input conversion (one the model allows) and, for matrix units, alignment and final rounding
/// and split-K count. Models with a truncating matrix unit run it half the time.
inline void randomize(emulator& e, std::mt19937_64& g) {
  e.alg = static_cast<algo>(g() % static_cast<unsigned>(algo::count));
  if (e.m.alignment_precision == 0 && e.alg == algo::matrix_unit) e.alg = algo::block_fma;
  if (e.m.alignment_precision > 0 && g() % 2) e.alg = algo::matrix_unit;
  e.block = 1 + static_cast<std::int64_t>(g() % 64);
  if (e.alg == algo::matrix_unit) e.block = std::int64_t{1} << (g() % 6);  // 1..32 products
  e.bias = static_cast<bias_at>(g() % 3);
  std::vector<conversion> allowed;
  for (conversion c : {conversion::nearest_even, conversion::nearest_away, conversion::toward_zero})
    if (e.m.conversions & bounds::conversion_bit(c)) allowed.push_back(c);
  e.conv = allowed[g() % allowed.size()];
  e.align_floor = g() % 2;
  e.final = static_cast<unit_rounding>(g() % 3);
  e.splits = 1 + static_cast<std::int64_t>(g() % 8);
}

/// Data generators: values before rounding to the model's input format. `misaligned`: positive
/// products with full significands whose exponents differ by up to 30 within a block, the worst
/// case for truncated alignment; `ties`: inputs exactly halfway between two values of the input
/// format (ties to even and ties away differ on every one).
enum class data_kind : std::uint8_t {
  normal,
  positive,
  wide,
  cancellation,
  tiny,
  misaligned,
  ties,
  count
};
inline const char* data_name(data_kind d) {
  static const char* n[] = {"normal", "positive",   "wide", "cancellation",
                            "tiny",   "misaligned", "ties"};
  return n[static_cast<int>(d)];
}

inline void generate(data_kind d, const bounds::arithmetic_model& m, std::size_t n,
                     std::mt19937_64& g, std::vector<double>& x, std::vector<double>& w,
                     double& b) {
  std::normal_distribution<double> nd;
  std::uniform_real_distribution<double> ud(0.0, 1.0);
  x.resize(n);
  w.resize(n);
  // Exponent span keeping products and sums inside the accumulator's and output's range.
  const auto& ti = traits(m.input);
  const auto& to = traits(m.output);
  int span = std::min({ti.emax, to.emax, traits(m.accumulator).emax}) / 3;
  span = std::min(span, 40);
  auto wide = [&] {
    double e = std::floor((ud(g) * 2 - 1) * span);
    return (g() & 1 ? -1.0 : 1.0) * std::ldexp(1 + ud(g), static_cast<int>(e));
  };
  switch (d) {
    case data_kind::normal:
      for (std::size_t j = 0; j < n; ++j) x[j] = nd(g), w[j] = nd(g);
      b = nd(g);
      break;
    case data_kind::positive:
      for (std::size_t j = 0; j < n; ++j) x[j] = ud(g), w[j] = ud(g);
      b = ud(g);
      break;
    case data_kind::wide:
      for (std::size_t j = 0; j < n; ++j) x[j] = wide(), w[j] = wide();
      b = wide();
      break;
    case data_kind::cancellation:
      for (std::size_t j = 0; j < n; ++j) x[j] = nd(g), w[j] = nd(g);
      for (std::size_t j = 0; j + 1 < n; j += 2) {
        x[j + 1] = -x[j] * (1 + 1e-3 * nd(g));
        w[j + 1] = w[j];
      }
      std::shuffle(x.begin(), x.end(), g);  // break the pairing order, keep the values
      b = 1e-3 * nd(g);
      break;
    case data_kind::tiny: {
      // Products near the accumulator's underflow threshold (subnormal partial sums).
      const auto& ta = traits(m.accumulator);
      int e = std::max(ta.emin, ti.emin) / 2;
      for (std::size_t j = 0; j < n; ++j)
        x[j] = std::ldexp(nd(g), e), w[j] = std::ldexp(nd(g), e - 1 - static_cast<int>(g() % 12));
      b = std::ldexp(nd(g), std::max(ta.emin, ti.emin));
      break;
    }
    case data_kind::misaligned: {
      const int p = traits(m.input).precision;
      const double full = 2 - std::ldexp(1.0, 1 - p);  // all significand bits set
      for (std::size_t j = 0; j < n; ++j) {
        x[j] = std::ldexp(full, -static_cast<int>(g() % 16));
        w[j] = std::ldexp(full - std::ldexp(1.0, 2 - p) * static_cast<double>(g() % 4),
                          -static_cast<int>(g() % 16));
      }
      b = full;
      break;
    }
    case data_kind::ties: {
      const int p = traits(m.input).precision;
      for (std::size_t j = 0; j < n; ++j) {
        // 1.xxx with exactly one bit below the input format's last: a tie.
        auto tie = [&] {
          const double k = static_cast<double>(g() % (1u << std::min(p - 1, 20)));
          const double v = 1 + std::ldexp(k, 1 - std::min(p, 21)) + std::ldexp(1.0, -p);
          return (g() & 1 ? -1.0 : 1.0) * std::ldexp(v, static_cast<int>(g() % 8) - 4);
        };
        x[j] = tie();
        w[j] = tie();
      }
      b = nd(g);
      break;
    }
    default:
      break;
  }
}

}  // namespace roundoff::test
