// The one per-element judging kernel of the verdicts layer, shared by check(), compare() and
// run_sweep(): exact references per converted input set, special values, and the category of one
// element against the best of a model's references (docs/verdicts.md, §1 "Special values" and
// §2). Internal: not installed.
#pragma once

#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <exception>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "bound_plan.hpp"
#include "element_data.hpp"
#include "magnitude.hpp"
#include "roundoff/bounds/bounds.hpp"
#include "roundoff/bounds/models.hpp"
#include "roundoff/exact/accumulator.hpp"
#include "roundoff/exact/exact_tensor.hpp"
#include "roundoff/exact/gemm.hpp"
#include "roundoff/formats/convert.hpp"
#include "roundoff/ops/op.hpp"
#include "roundoff/tensor_view.hpp"
#include "roundoff/verdicts/check.hpp"
#include "roundoff/verdicts/verdict.hpp"

namespace roundoff::verdicts::detail {

// The formulas this kernel evaluates (the bounds layer; bound_plan.hpp is its internal header).
using bounds::arithmetic_model;
using bounds::conversion_bit;
using bounds::dot_bound;
using bounds::dot_bound_probabilistic;
using bounds::element_input;
using bounds::first_order;
using bounds::first_order_terms;
using bounds::has_probabilistic_bound;
using bounds::lambda_for;
using bounds::probabilistic_unit_roundoff;
using bounds::summation_order;
using bounds::detail::add_up;
using bounds::detail::evaluate;
using bounds::detail::model_plans;
using bounds::detail::mul_up;

constexpr double inf = std::numeric_limits<double>::infinity();

// Runs f(begin, end) over [0, n) cut into up to `threads` contiguous ranges (at least
// min_per_range elements each), on the caller's thread and the engine's workers. f must write only
// what belongs to its range (or its own partial result), so that the outcome does not depend on the
// cut. The first exception is rethrown after all ranges are done.
template <class F>
void for_ranges(int threads, std::int64_t n, std::int64_t min_per_range, F f) {
  const std::int64_t parts = std::max<std::int64_t>(
      1, std::min<std::int64_t>(threads, n / std::max<std::int64_t>(min_per_range, 1)));
  if (parts <= 1) {
    f(std::int64_t{0}, n);
    return;
  }
  std::vector<std::exception_ptr> errors(static_cast<std::size_t>(parts));
  auto run = [&](std::int64_t q) {
    try {
      f(n * q / parts, n * (q + 1) / parts);
    } catch (...) {
      errors[static_cast<std::size_t>(q)] = std::current_exception();
    }
  };
  // On the exact engine's persistent workers (no thread started per call; a nested or
  // concurrent call gets its own threads there).
  exact::run_on_engine_workers(static_cast<int>(parts), parts,
                               [&](std::atomic<std::int64_t>& next, std::int64_t count) {
                                 for (std::int64_t q; (q = next.fetch_add(1)) < count;) run(q);
                               });
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

// A hash of a tensor's values (as doubles, row-major): the sum over elements of a 64-bit mix of
// each value's bits and its index, so that ranges can be hashed apart and added (value_hash over
// [offset, offset + count)).
inline std::uint64_t value_hash(const double* p, std::int64_t count, std::int64_t offset) noexcept {
  // Two sums that vectorize (a collision only costs an exact comparison): of the bits, and of
  // the bits rotated and keyed by the index; mixed once at the end.
  std::uint64_t s1 = 0, s2 = 0;
  for (std::int64_t i = 0; i < count; ++i) {
    std::uint64_t z;
    std::memcpy(&z, &p[i], sizeof z);
    s1 += z;
    s2 += ((z << 17) | (z >> 47)) ^ static_cast<std::uint64_t>(offset + i);
  }
  return s1 * 0x9E3779B97F4A7C15ULL + s2;
}

/// convert_tensor(t, f, c, u) (round_tensor for c = nearest_even), over ranges of elements on
/// `threads` threads, with value_hash of the result in *hash.
/// `reuse`'s storage is written over (no new pages when it has the size already).
tensor convert_tensor_hashed(const tensor_view& t, format_id f, conversion c, underflow_mode u,
                             int threads, std::uint64_t* hash, tensor reuse = {});

constexpr conversion conversion_list[] = {conversion::nearest_even, conversion::nearest_away,
                                          conversion::toward_zero};

// Exact references, one per distinct converted input set (models sharing inputs share one).
// Entries keep no copy of their inputs (for a large layer each copy is as big as x): a hash of
// the converted inputs finds candidates, and a candidate's inputs are derived again from its
// rule and compared exactly before it is shared.
class reference_cache {
 public:
  reference_cache(ops::problem p, const ops::reference_options& ro) : p_(std::move(p)), ro_(ro) {}

  // Exact op on the inputs as given.
  const ops::op_result& original() {
    if (original_ == none) original_ = find_or_add(std::nullopt, p_.x, p_.w, p_.b.get(), true);
    return *entries_[original_].r;
  }

  // Exact op on x, w converted to f by rule c and b rounded to nearest in bias_format.
  const ops::op_result& converted(format_id f, conversion c, format_id bias_format,
                                  underflow_mode u) {
    return converted(key{f, c, bias_format, u}, true);
  }
  // As converted(), but the magnitude may be left unformed (empty) where only the exact values
  // are read (identification's nearest-input distances): the DGEMM for T is paid only by the
  // references that are judged. A later converted() of the same entry forms it.
  const ops::op_result& converted_values(format_id f, conversion c, format_id bias_format,
                                         underflow_mode u) {
    return converted(key{f, c, bias_format, u}, false);
  }

  // A model's references: one per allowed conversion (distinct ones), then the inputs as given
  // when they differ from all of those (an implementation may keep the inputs exact).
  struct model_refs {
    std::vector<const ops::op_result*> all;
    std::size_t own = 0;         // all[0, own): the model's conversions
    bool rounds_inputs = false;  // some conversion changes the inputs
  };
  double seconds = 0;  ///< time spent in ops::evaluate
  /// Frees the conversions' scratch buffers (check() does at its end, so that a set held for
  /// more outputs keeps no converted copy of the inputs between them).
  void release_scratch() {
    scratch_[0] = operands{};
    scratch_[1] = operands{};
  }
  /// Threads for the judging loops over elements: the exact engine's.
  int threads() const noexcept { return exact::engine_threads(ro_.threads); }
  /// The magnitude DGEMM's layout: `whole_rows` (> 0) stands for x's rows in choosing its
  /// panels, `rows` (> 0) for its rows per call (magnitude_by_blocks). A cache of a block of
  /// rows (check.cpp's blocked judging) takes the whole problem's, so that its T are those of
  /// the whole problem's DGEMM calls.
  void set_magnitude_layout(std::int64_t whole_rows, std::int64_t rows) noexcept {
    magnitude_whole_rows_ = whole_rows;
    magnitude_rows_ = rows;
  }
  /// Whether some reference's magnitude was formed again exactly (exact_magnitude_where_tiny):
  /// a decision over all of that reference's elements.
  bool exact_magnitude_used() const noexcept { return exact_magnitude_used_; }

  // The signature test's per-element terms that do not depend on the observed output (docs/
  // bounds.md, Theorem S), formed once per set for every output and candidate that needs them:
  // Delta_i = RN(y~_a - y~_c) per pair of references (NaN where either rounded value is not
  // finite), and model c's first-order terms per reference and lambda.
  const std::vector<double>& difference(const ops::op_result& ra, const ops::op_result& rc) {
    for (const auto& d : differences_)
      if (d->a == &ra && d->c == &rc) return d->delta;
    auto d = std::make_unique<difference_entry>();
    d->a = &ra;
    d->c = &rc;
    const std::int64_t n = rc.exact.size();
    d->delta.resize(static_cast<std::size_t>(n));
    for_ranges(threads(), n, 4096, [&](std::int64_t begin, std::int64_t end) {
      exact::accumulator acc, tmp;
      for (std::int64_t i = begin; i < end; ++i) {
        double& out = d->delta[static_cast<std::size_t>(i)];
        if (!std::isfinite(rc.exact.rounded(i)) || !std::isfinite(ra.exact.rounded(i))) {
          out = std::numeric_limits<double>::quiet_NaN();
          continue;
        }
        ra.exact.load(i, acc);
        rc.exact.load(i, tmp);
        tmp.negate();
        acc.add(tmp);
        out = acc.round();
      }
    });
    differences_.push_back(std::move(d));
    return differences_.back()->delta;
  }
  // first_order(m, input_of(r, i, 0, bmax) with abs_exact = |y~_i| rounded up, lambda) per
  // element (input_of's observed value does not enter first_order): all of them formed once (on
  // the engine's threads) when element 0's are finite; else none kept, each formed when asked
  // (a model without first-order terms has none at any element, and the signature test stops
  // asking after the first).
  class first_order_values {
   public:
    first_order_values(const arithmetic_model& m, const ops::op_result& r, double lambda,
                       double bmax, int threads)
        : m_(m), r_(&r), lambda_(lambda), bmax_(bmax) {
      const std::int64_t n = r.exact.size();
      if (n == 0) return;
      exact::accumulator acc;
      const first_order_terms t0 = form(0, acc);
      if (!std::isfinite(t0.variance) || !std::isfinite(t0.remainder)) return;
      variance_.resize(static_cast<std::size_t>(n));
      remainder_.resize(static_cast<std::size_t>(n));
      for_ranges(threads, n, 4096, [&](std::int64_t begin, std::int64_t end) {
        exact::accumulator a;
        for (std::int64_t i = begin; i < end; ++i) {
          const first_order_terms t = form(i, a);
          variance_[static_cast<std::size_t>(i)] = t.variance;
          remainder_[static_cast<std::size_t>(i)] = t.remainder;
        }
      });
    }
    first_order_terms at(std::int64_t i) const {
      if (variance_.empty()) {
        exact::accumulator acc;
        return form(i, acc);
      }
      const auto k = static_cast<std::size_t>(i);
      return {variance_[k], remainder_[k]};
    }

   private:
    first_order_terms form(std::int64_t i, exact::accumulator& acc) const {
      element_input in = input_of(*r_, i, 0.0, bmax_);
      r_->exact.load(i, acc);
      in.abs_exact = acc.abs_diff(0.0, exact::rounding::upward);
      return first_order(m_, in, lambda_);
    }
    arithmetic_model m_;
    const ops::op_result* r_;
    double lambda_, bmax_;
    std::vector<double> variance_, remainder_;  // empty: formed when asked
  };
  first_order_values& first_orders(const arithmetic_model& m, const ops::op_result& r,
                                   double lambda, double bmax) {
    for (const auto& f : first_orders_)
      if (f->model == m.name && f->r == &r && f->lambda == lambda && f->bmax == bmax)
        return f->values;
    first_orders_.push_back(std::unique_ptr<first_order_entry>(
        new first_order_entry{m.name, &r, lambda, bmax, {m, r, lambda, bmax, threads()}}));
    return first_orders_.back()->values;
  }

  // A conversion rule: converted(f, c, bias, u)'s arguments.
  struct key {
    format_id f;
    conversion c;
    format_id bias;
    underflow_mode u;
    bool operator==(const key& o) const {
      return f == o.f && c == o.c && bias == o.bias && u == o.u;
    }
  };
  // Which entry converted() gives each of `rules` over this cache's inputs, as numbers: 0 for
  // the inputs as given, equal numbers exactly where it gives one entry (the same rule twice;
  // or inputs converted to the same values bit for bit, none NaN: find_or_add's test, a hash
  // and ==). From the inputs alone, a chunk at a time: no exact result, no converted copy.
  std::vector<std::size_t> entry_classes(const std::vector<key>& rules) {
    std::vector<std::size_t> classes;
    std::vector<std::size_t> first;  // first[c - 1]: the first rule of class c
    for (std::size_t r = 0; r < rules.size(); ++r) {
      const key& k = rules[r];
      std::size_t c = none;
      for (std::size_t q = 0; q < r && c == none; ++q)
        if (rules[q] == k) c = classes[q];
      if (c == none && unchanged(p_.x, k.f, k.u) && unchanged(p_.w, k.f, k.u) &&
          (!p_.b || unchanged(*p_.b, k.bias, k.u)))
        c = 0;
      for (std::size_t q = 0; q < first.size() && c == none; ++q)
        if (converted_alike(rules[first[q]], k)) c = q + 1;
      if (c == none) {
        first.push_back(r);
        c = first.size();
      }
      classes.push_back(c);
    }
    return classes;
  }

  model_refs of(const arithmetic_model& m) {
    model_refs r;
    for (conversion c : conversion_list) {
      if (!(m.conversions & conversion_bit(c))) continue;
      const ops::op_result* p = &converted(m.input, c, m.bias_format, m.underflow);
      if (std::find(r.all.begin(), r.all.end(), p) == r.all.end()) r.all.push_back(p);
    }
    r.own = r.all.size();
    const ops::op_result* o = &original();
    for (const auto* p : r.all) r.rounds_inputs = r.rounds_inputs || p != o;
    if (std::find(r.all.begin(), r.all.end(), o) == r.all.end()) r.all.push_back(o);
    return r;
  }

 private:
  // Whether rules a and b convert x, w and b (as inputs() does) to the same values, bit for bit
  // and none NaN.
  bool converted_alike(const key& a, const key& b) const {
    auto alike = [](const tensor_view& t, const key& ka, const key& kb, bool bias) {
      const format_id fa = bias ? ka.bias : ka.f, fb = bias ? kb.bias : kb.f;
      const conversion ca = bias ? conversion::nearest_even : ka.c;
      const conversion cb = bias ? conversion::nearest_even : kb.c;
      constexpr std::int64_t chunk = 4096;
      double buf[chunk];
      for (std::int64_t i = 0, n = t.numel(); i < n; i += chunk) {
        const std::int64_t count = std::min(chunk, n - i);
        t.read(i, count, buf);
        for (std::int64_t j = 0; j < count; ++j) {
          const double va = convert(fa, buf[j], ca, ka.u), vb = convert(fb, buf[j], cb, kb.u);
          if (std::isnan(va) ||
              std::bit_cast<std::uint64_t>(va) != std::bit_cast<std::uint64_t>(vb))
            return false;
        }
      }
      return true;
    };
    return alike(p_.x, a, b, false) && alike(p_.w, a, b, false) &&
           (!p_.b || alike(*p_.b, a, b, true));
  }
  struct operands {
    tensor x, w;
    std::optional<tensor> b;
    std::uint64_t hash_x = 0, hash_w = 0, hash_b = 0;  // value_hash of each
  };
  struct tensor_hashes {
    std::uint64_t x = 0, w = 0, b = 0;  // value_hash of each input
  };
  struct entry {
    std::optional<key> rule;  // none: the inputs as given
    std::uint64_t hash = 0;
    std::unique_ptr<ops::op_result> r;
    bool has_magnitude = false;
    tensor_hashes parts;
  };

  const ops::op_result& converted(const key& k, bool with_magnitude) {
    return *entries_[converted_index(k, with_magnitude)].r;
  }
  std::size_t converted_index(const key& k, bool with_magnitude) {
    for (const auto& [kk, index] : by_rule_)
      if (kk == k) {
        entry& e = entries_[index];
        if (with_magnitude && !e.has_magnitude) {
          // Its inputs derived again from its rule (entries keep no copy).
          if (!e.rule) {
            add_magnitude(e, p_.x, p_.w, p_.b.get());
          } else {
            const operands& in = inputs(*e.rule, 1);
            const tensor_view ib = in.b ? tensor_view(*in.b) : tensor_view();
            add_magnitude(e, in.x, in.w, in.b ? &ib : nullptr);
            release(1);
          }
        }
        return index;
      }
    // Inputs that every rule leaves as they are (all values representable in f): the reference
    // is the original one, found without converting and hashing copies of the inputs. The test
    // is the one find_or_add applies (element-wise ==, so a NaN counts as changed).
    if (unchanged(p_.x, k.f, k.u) && unchanged(p_.w, k.f, k.u) &&
        (!p_.b || unchanged(*p_.b, k.bias, k.u))) {
      (void)original();
      by_rule_.emplace_back(k, original_);
      return original_;
    }
    if (k.c == conversion::nearest_away)
      if (const auto index = nearest_away_from_ties(k, with_magnitude)) {
        by_rule_.emplace_back(k, *index);
        return *index;
      }
    const operands& in = inputs(k, 0);
    const tensor_view ib = in.b ? tensor_view(*in.b) : tensor_view();
    const std::size_t index = find_or_add(k, in.x, in.w, in.b ? &ib : nullptr, with_magnitude,
                                          tensor_hashes{in.hash_x, in.hash_w, in.hash_b});
    release(0);
    by_rule_.emplace_back(k, index);
    return index;
  }

  // linear only: the reference on inputs converted to nearest, ties away (rule k), from the one
  // ties to even: the two conversions differ only where a value is a tie that ties-to-even
  // rounds down, and there by one unit dx of the format, so y_away = y_even + sum over those x
  // values of dx w_away + sum over those w values of x_even dw (x_away w_away - x_even w_even =
  // dx w_away + x_even dw), each product added exactly to the exact value. Its value hashes
  // follow from the ties-to-even entry's (value_hash is a sum over elements), so that it is
  // shared exactly as before when its inputs equal another entry's. nullopt where this does
  // not apply (another op, the exact values not kept, non-finite inputs, many ties, a hash
  // that some entry already has): the caller converts in full.
  std::optional<std::size_t> nearest_away_from_ties(const key& k, bool with_magnitude) {
    const tensor_view &x = p_.x, &w = p_.w;
    if (p_.op.kind != ops::op_kind::linear || ro_.how == ops::method::mpfr || !ro_.want_magnitude ||
        ro_.magnitude_how != ops::magnitude_method::blas_bound ||
        !magnitude_by_blocks_applies(p_.op, x, w, p_.b.get()))
      return std::nullopt;
    const auto& t = traits(k.f);
    if (t.precision >= 53) return std::nullopt;
    const std::int64_t K = w.shape[1], N = w.shape[0], M = x.numel() / K;
    // Positions where the two conversions differ, with both values.
    struct tie {
      std::int64_t index;
      double even, away;
    };
    const int drop = 53 - t.precision;
    const std::uint64_t low = (std::uint64_t{1} << drop) - 1, half = std::uint64_t{1} << (drop - 1);
    const std::int64_t budget = std::max<std::int64_t>(1, M * N * K / 256);  // products
    auto ties_of = [&](const tensor_view& v, std::int64_t fan_out, std::vector<tie>& out) {
      constexpr std::int64_t chunk = 4096;
      double buf[chunk];
      for (std::int64_t i = 0, n = v.numel(); i < n; i += chunk) {
        const std::int64_t count = std::min(chunk, n - i);
        v.read(i, count, buf);
        for (std::int64_t j = 0; j < count; ++j) {
          const double a = buf[j], ax = std::fabs(a);
          if (!std::isfinite(a)) return false;
          // In f's normal range only a tie (the dropped bits exactly half a unit) can differ.
          if (ax >= t.min_normal && ax <= t.max_finite &&
              (std::bit_cast<std::uint64_t>(a) & low) != half)
            continue;
          const double e = convert(k.f, a, conversion::nearest_even, k.u);
          const double y = convert(k.f, a, conversion::nearest_away, k.u);
          if (e == y) continue;
          if (!std::isfinite(y) || !std::isfinite(e)) return false;
          out.push_back({i + j, e, y});
          if (static_cast<std::int64_t>(out.size()) * fan_out > budget) return false;
        }
      }
      return true;
    };
    std::vector<tie> tx, tw;
    if (!ties_of(x, N, tx) || !ties_of(w, M, tw)) return std::nullopt;
    if (p_.b)
      for (std::int64_t i = 0, n = p_.b->numel(); i < n; ++i)
        if (!std::isfinite(p_.b->at(i))) return std::nullopt;
    const key even_rule{k.f, conversion::nearest_even, k.bias, k.u};
    if (tx.empty() && tw.empty())
      return converted_index(even_rule, with_magnitude);  // the same inputs: the same entry
    const std::size_t even = converted_index(even_rule, false);
    tensor_hashes parts = entries_[even].parts;
    for (const auto& q : tx)
      parts.x += detail::value_hash(&q.away, 1, q.index) - detail::value_hash(&q.even, 1, q.index);
    for (const auto& q : tw)
      parts.w += detail::value_hash(&q.away, 1, q.index) - detail::value_hash(&q.even, 1, q.index);
    const std::uint64_t h = combine(x, parts.x, w, parts.w, p_.b.get(), parts.b);
    for (const auto& e : entries_)
      if (e.hash == h) return std::nullopt;  // maybe the same inputs: compared in full
    // (output index, a, b): the products to add.
    struct product {
      std::int64_t out;
      double a, b;
    };
    std::vector<product> add;
    add.reserve(tx.size() * static_cast<std::size_t>(N) + tw.size() * static_cast<std::size_t>(M));
    for (const auto& q : tx) {
      const std::int64_t m = q.index / K, kk = q.index % K;
      const double dx = q.away - q.even;  // one unit of f: a power of two, exact
      for (std::int64_t n = 0; n < N; ++n)
        add.push_back(
            {m * N + n, dx, convert(k.f, w.at(n * K + kk), conversion::nearest_away, k.u)});
    }
    for (const auto& q : tw) {
      const std::int64_t n = q.index / K, kk = q.index % K;
      const double dw = q.away - q.even;
      for (std::int64_t m = 0; m < M; ++m)
        add.push_back(
            {m * N + n, convert(k.f, x.at(m * K + kk), conversion::nearest_even, k.u), dw});
    }
    std::sort(add.begin(), add.end(),
              [](const product& a, const product& b) { return a.out < b.out; });
    const auto t0 = std::chrono::steady_clock::now();
    auto r = std::make_unique<ops::op_result>(*entries_[even].r);
    r->magnitude.clear();  // formed on demand, from the inputs derived again
    exact::accumulator acc;
    for (std::size_t q = 0; q < add.size();) {
      const std::int64_t out = add[q].out;
      r->exact.load(out, acc);
      for (; q < add.size() && add[q].out == out; ++q) acc.add_product(add[q].a, add[q].b);
      r->exact.store(out, acc);
    }
    entries_.push_back({k, h, std::move(r), false, parts});
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const std::size_t index = entries_.size() - 1;
    if (with_magnitude) {
      const operands& in = inputs(k, 0);
      const tensor_view ib = in.b ? tensor_view(*in.b) : tensor_view();
      add_magnitude(entries_[index], in.x, in.w, in.b ? &ib : nullptr);
      release(0);
    }
    return index;
  }

  // Whether every value of t equals its conversion to f under u (by any rule: a value that is
  // representable in f is kept by all of them, one that is not is changed by all), cached.
  bool unchanged(const tensor_view& t, format_id f, underflow_mode u) {
    for (const auto& q : unchanged_)
      if (q.t == &t && q.f == f && q.u == u) return q.result;
    // Chunk by chunk, stopping at the first changed value.
    bool same_values = true;
    constexpr std::int64_t chunk = 4096;
    double in[chunk], buf[chunk];
    const bool dense = t.is_dense_f64();
    for (std::int64_t i = 0, total = t.numel(); i < total && same_values; i += chunk) {
      const std::int64_t count = std::min(chunk, total - i);
      const auto n = static_cast<std::size_t>(count);
      const double* p = in;
      if (dense)
        p = static_cast<const double*>(t.data) + i;
      else
        t.read(i, count, in);
      round_to(f, std::span<const double>(p, n), std::span<double>(buf, n), u);
      for (std::size_t j = 0; j < n; ++j) same_values = same_values && buf[j] == p[j];
    }
    unchanged_.push_back({&t, f, u, same_values});
    return same_values;
  }
  struct unchanged_entry {
    const tensor_view* t;
    format_id f;
    underflow_mode u;
    bool result;
  };
  std::vector<unchanged_entry> unchanged_;

  // Rule k's inputs, converted into scratch slot `slot` (0, or 1 while slot 0 is in use): the
  // conversions of one set reuse the same storage (its pages are touched once, not once per
  // conversion) unless it is large; release(slot) after use.
  const operands& inputs(const key& k, int slot) {
    operands& in = scratch_[slot];
    in.x = convert_tensor_hashed(p_.x, k.f, k.c, k.u, threads(), &in.hash_x, std::move(in.x));
    in.w = convert_tensor_hashed(p_.w, k.f, k.c, k.u, threads(), &in.hash_w, std::move(in.w));
    if (p_.b)
      in.b = convert_tensor_hashed(*p_.b, k.bias, conversion::nearest_even, k.u, 1, &in.hash_b,
                                   in.b ? std::move(*in.b) : tensor{});
    return in;
  }
  void release(int slot) {
    operands& in = scratch_[slot];
    const std::size_t values = in.x.data.size() + in.w.data.size() + (in.b ? in.b->data.size() : 0);
    if (values * sizeof(double) > (std::size_t{64} << 20)) in = operands{};
  }
  operands scratch_[2];
  // Calls f(chunk, count) over the view's values in row-major order (in place when dense f64).
  template <class F>
  static void for_chunks(const tensor_view& v, F f) {
    const std::int64_t n = v.numel();
    if (v.is_dense_f64()) {
      f(static_cast<const double*>(v.data), n);
      return;
    }
    constexpr std::int64_t chunk = 4096;
    double buf[chunk];
    for (std::int64_t i = 0; i < n; i += chunk) {
      const std::int64_t c = std::min(chunk, n - i);
      v.read(i, c, buf);
      f(buf, c);
    }
  }
  static std::uint64_t value_hash(const tensor_view& v) {
    std::uint64_t h = 0;
    std::int64_t offset = 0;
    for_chunks(v, [&](const double* p, std::int64_t c) {
      h += detail::value_hash(p, c, offset);
      offset += c;
    });
    return h;
  }
  // The three tensors' value hashes and sizes, FNV-1a over 64-bit words.
  static std::uint64_t combine(const tensor_view& x, std::uint64_t hx, const tensor_view& w,
                               std::uint64_t hw, const tensor_view* b, std::uint64_t hb) {
    std::uint64_t h = 0xcbf29ce484222325ULL;
    auto mix = [&](std::uint64_t v) { h = (h ^ v) * 0x100000001b3ULL; };
    mix(hx);
    mix(static_cast<std::uint64_t>(x.numel()));
    mix(hw);
    mix(static_cast<std::uint64_t>(w.numel()));
    if (b) {
      mix(hb);
      mix(static_cast<std::uint64_t>(b->numel()));
    }
    return h;
  }
  // Element-wise == (as std::vector's ==: NaN differs from itself).
  static bool same_values(const tensor_view& a, const tensor_view& b) {
    const std::int64_t n = a.numel();
    if (n != b.numel()) return false;
    if (a.is_dense_f64() && b.is_dense_f64()) {
      const auto* pa = static_cast<const double*>(a.data);
      const auto* pb = static_cast<const double*>(b.data);
      for (std::int64_t i = 0; i < n; ++i)
        if (!(pa[i] == pb[i])) return false;
      return true;
    }
    constexpr std::int64_t chunk = 4096;
    std::vector<double> ba(chunk), bb(chunk);
    for (std::int64_t i = 0; i < n; i += chunk) {
      const std::int64_t c = std::min(chunk, n - i);
      a.read(i, c, ba.data());
      b.read(i, c, bb.data());
      for (std::int64_t j = 0; j < c; ++j)
        if (!(ba[static_cast<std::size_t>(j)] == bb[static_cast<std::size_t>(j)])) return false;
    }
    return true;
  }
  static bool same(const tensor_view& x, const tensor_view& w, const tensor_view* b,
                   const tensor_view& x2, const tensor_view& w2, const tensor_view* b2) {
    return same_values(x, x2) && same_values(w, w2) && (b == nullptr) == (b2 == nullptr) &&
           (!b || same_values(*b, *b2));
  }
  // The index of the entry whose inputs equal (x, w, b) (its inputs derived again from its
  // rule), or of a new one; with its magnitude formed when with_magnitude.
  std::size_t find_or_add(std::optional<key> rule, const tensor_view& x, const tensor_view& w,
                          const tensor_view* b, bool with_magnitude,
                          std::optional<tensor_hashes> known = std::nullopt) {
    const tensor_hashes parts =
        known ? *known
              : tensor_hashes{value_hash(x), value_hash(w), b ? value_hash(*b) : std::uint64_t{0}};
    const std::uint64_t h = combine(x, parts.x, w, parts.w, b, parts.b);
    for (std::size_t index = 0; index < entries_.size(); ++index) {
      entry& e = entries_[index];
      if (e.hash != h) continue;
      if (!e.rule) {
        if (!same(x, w, b, p_.x, p_.w, p_.b.get())) continue;
      } else {
        const operands& in = inputs(*e.rule, 1);
        const tensor_view ib = in.b ? tensor_view(*in.b) : tensor_view();
        const bool equal = same(x, w, b, in.x, in.w, in.b ? &ib : nullptr);
        release(1);
        if (!equal) continue;
      }
      if (with_magnitude && !e.has_magnitude) add_magnitude(e, x, w, b);
      return index;
    }
    const auto t0 = std::chrono::steady_clock::now();
    // T by DGEMM over blocks of |x| rows where that applies (no copy of |x|), else by ops; after
    // the exact result, so that the two are never in memory at once with ops' temporaries.
    const bool blocks = ro_.want_magnitude &&
                        ro_.magnitude_how == ops::magnitude_method::blas_bound &&
                        magnitude_by_blocks_applies(p_.op, x, w, b);
    ops::reference_options ro = ro_;
    if (blocks) ro.want_magnitude = false;
    entries_.push_back({rule, h,
                        std::make_unique<ops::op_result>(ops::evaluate({p_.op, x, w, b}, ro)),
                        !blocks, parts});
    if (!blocks) exact_magnitude_where_tiny(*entries_.back().r, x, w, b);
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (blocks && with_magnitude) add_magnitude(entries_.back(), x, w, b);
    return entries_.size() - 1;
  }
  // Forms e's magnitude from its inputs (x, w, b) as ro_ asks: by DGEMM over blocks of |x|
  // rows where that applies, else by ops.
  void add_magnitude(entry& e, const tensor_view& x, const tensor_view& w, const tensor_view* b) {
    const auto t0 = std::chrono::steady_clock::now();
    ops::op_result& r = *e.r;
    // Any thread count gives the same T (the calls depend on the layout alone).
    if (auto t = magnitude_by_blocks(p_.op, x, w, b, ro_.threads, magnitude_rows_,
                                     magnitude_whole_rows_))
      r.magnitude = std::move(*t);
    else
      r.magnitude = ops::evaluate({p_.op, x, w, b}, ro_).magnitude;
    exact_magnitude_where_tiny(r, x, w, b);
    e.has_magnitude = true;
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }

  // The DGEMM magnitude bound is never 0 (it adds L 2^-1074 for underflow), but T = 0 exactly
  // is what lets a bound be 0 where no relative bound exists (n u >= 1: docs/bounds.md,
  // Theorem B, step 1). Where some element's bound is tiny (an all-zero row or window, or
  // underflowing data), the magnitude is computed again exactly (RU of the exact sum), as before
  // the DGEMM bound; other data never pays for it (docs/bounds.md §3.5, "The magnitude").
  void exact_magnitude_where_tiny(ops::op_result& r, const tensor_view& x, const tensor_view& w,
                                  const tensor_view* b) {
    if (ro_.magnitude_how != ops::magnitude_method::blas_bound) return;
    const bool tiny =
        std::any_of(r.magnitude.begin(), r.magnitude.end(), [](double t) { return t < 0x1p-1000; });
    if (!tiny) return;
    exact_magnitude_used_ = true;
    ops::reference_options exact = ro_;
    exact.magnitude_how = ops::magnitude_method::exact;
    r.magnitude = ops::evaluate({p_.op, x, w, b}, exact).magnitude;
  }

  struct difference_entry {
    const ops::op_result *a = nullptr, *c = nullptr;
    std::vector<double> delta;
  };
  struct first_order_entry {
    std::string model;
    const ops::op_result* r = nullptr;
    double lambda = 0, bmax = 0;
    first_order_values values;
  };
  std::vector<std::unique_ptr<difference_entry>> differences_;
  std::vector<std::unique_ptr<first_order_entry>> first_orders_;

  std::vector<std::pair<key, std::size_t>> by_rule_;  // index into entries_
  static constexpr std::size_t none = std::numeric_limits<std::size_t>::max();
  std::size_t original_ = none;  // index into entries_
  ops::problem p_;
  ops::reference_options ro_;
  std::vector<entry> entries_;
  std::int64_t magnitude_whole_rows_ = 0;  // set_magnitude_layout; 0: x's rows
  std::int64_t magnitude_rows_ = 0;        // 0: magnitude_by_blocks' default
  bool exact_magnitude_used_ = false;
};

// An observed output as the judging loops read it: contiguous f64 and f32 in place, anything
// else (strided, f16, bf16) copied once (counted by input_bytes_copied()).
class observed_values {
 public:
  explicit observed_values(const tensor_view& v)
      : shape(v.shape), type(v.type), view_(v), size_(v.numel()) {
    if (v.is_contiguous() && (v.storage == storage_type::f64 || v.storage == storage_type::f32)) {
      data_ = v.data;
      f32_ = v.storage == storage_type::f32;
    } else {
      owned_ = v.to_tensor().data;
      data_ = owned_.data();
    }
  }
  double operator[](std::int64_t i) const noexcept {
    return f32_ ? static_cast<double>(static_cast<const float*>(data_)[i])
                : static_cast<const double*>(data_)[i];
  }
  std::int64_t size() const noexcept { return size_; }
  /// The output as given.
  const tensor_view& view() const noexcept { return view_; }
  std::vector<std::int64_t> shape;
  format_id type;

 private:
  tensor_view view_;
  const void* data_ = nullptr;
  bool f32_ = false;
  std::int64_t size_ = 0;
  std::vector<double> owned_;
};

enum class exact_class : std::uint8_t { finite, nan, pos_inf, neg_inf };

inline exact_class classify(const ops::op_result& r, std::int64_t i, exact::accumulator& acc) {
  double v = r.exact.rounded(i);
  if (std::isnan(v)) return exact_class::nan;
  if (!std::isinf(v)) return exact_class::finite;
  r.exact.load(i, acc);  // +-Inf: an infinite exact value, or a finite one beyond double
  switch (acc.kind()) {
    case exact::value_kind::pos_inf:
      return exact_class::pos_inf;
    case exact::value_kind::neg_inf:
      return exact_class::neg_inf;
    case exact::value_kind::nan:
      return exact_class::nan;
    default:
      return exact_class::finite;
  }
}

constexpr int category_count = 5;

// How bad a category is, for choosing an element's best reference (docs/verdicts.md, §2).
inline int severity(element_category c) {
  switch (c) {
    case element_category::consistent:
      return 0;
    case element_category::no_bound:
      return 1;
    case element_category::beyond_probabilistic:
      return 2;
    case element_category::beyond_deterministic:
      return 3;
    case element_category::special_mismatch:
      return 4;
  }
  return 4;
}

// Per-element judgement of one model (docs/verdicts.md, §2).
struct judged {
  std::int64_t elements = 0;
  std::vector<element_report> worst;  // the worst elements, worst first (judge_all's worst_k)
  std::int64_t n_cat[category_count] = {0, 0, 0, 0, 0};
  std::int64_t n_no_det = 0, n_no_prob = 0;
  double max_det = 0, max_prob = 0;
  bool any_det = false, any_prob = false;  // some element has that (finite) bound
  // Elements with a finite deterministic bound (special mismatches aside), and those among them
  // whose error / bound is below 1/10: the median of those ratios is >= 1/10 exactly when
  // n_ratio > 0 and n_ratio_below_tenth <= n_ratio / 2 (it is the sorted ratios' element
  // n_ratio / 2), so check() needs no per-element list for it.
  std::int64_t n_ratio = 0, n_ratio_below_tenth = 0;
};

// One element against one reference: error, deterministic and probabilistic bounds (+Inf when
// the model gives none).
struct one {
  double err = 0, det = 0, prob = 0, exact = 0;
  element_category cat = element_category::consistent;
};

/// A model's bounds for one judging pass (model, order, lambda fixed): the element-independent
/// constants computed once per n_i (bound_plan.hpp), the same doubles as dot_bound and
/// dot_bound_probabilistic give.
struct model_judge {
  model_judge(const arithmetic_model& model, summation_order o, double lambda)
      : m(model),
        order(o),
        has_prob(has_probabilistic_bound(model)),
        det(model, o, lambda, false),
        prob(model, o, lambda, true) {}
  arithmetic_model m;
  summation_order order;
  bool has_prob;
  model_plans det, prob;
  double deterministic(const element_input& e) {
    return evaluate(det.get(e.terms, e.has_bias), e.magnitude, e.abs_observed, e.abs_bias);
  }
  double probabilistic(const element_input& e) {
    return evaluate(prob.get(e.terms, e.has_bias), e.magnitude, e.abs_observed, e.abs_bias);
  }
};

inline one judge_element(model_judge& mj, const ops::op_result& r, std::int64_t i, double obs,
                         double bmax, exact::accumulator& acc) {
  one o;
  o.exact = r.exact.rounded(i);
  // A finite rounded value is a finite exact value: only +-Inf and NaN need the exact kind.
  exact_class k = std::isfinite(o.exact) ? exact_class::finite : classify(r, i, acc);
  element_input e = input_of(r, i, obs, bmax);
  if (k == exact_class::nan) {
    if (!std::isnan(obs)) o.cat = element_category::special_mismatch;
    o.err = std::isnan(obs) ? 0 : inf;
    return o;
  }
  if (k == exact_class::pos_inf || k == exact_class::neg_inf) {
    double want = k == exact_class::pos_inf ? inf : -inf;
    if (obs != want) o.cat = element_category::special_mismatch;
    o.err = obs == want ? 0 : inf;
    return o;
  }
  if (std::isnan(obs)) {
    o.cat = element_category::special_mismatch;
    o.err = inf;
    return o;
  }
  if (std::isinf(obs)) {
    // Overflow is a legitimate outcome only if the exact value, moved by the bound, reaches the
    // output format's overflow threshold with the observed sign (docs/verdicts.md).
    const auto& t = traits(mj.m.output);
    element_input e2 = e;
    e2.abs_observed = t.max_finite;
    double d = mj.deterministic(e2);
    bool same_sign = (obs > 0) == (o.exact > 0) || o.exact == 0;
    double reach = add_up(std::fabs(o.exact), d);
    o.det = d;
    o.err = inf;
    o.cat = (same_sign && reach >= t.max_finite) ? element_category::consistent
                                                 : element_category::special_mismatch;
    if (o.cat == element_category::consistent) o.err = 0;
    return o;
  }
  o.err = r.exact.abs_diff(i, obs, exact::rounding::downward);
  o.det = mj.deterministic(e);
  o.prob = mj.has_prob ? std::min(o.det, mj.probabilistic(e)) : inf;
  if (std::isinf(o.det) && std::isinf(o.prob))
    o.cat = element_category::no_bound;
  else if (o.err > o.det)
    o.cat = element_category::beyond_deterministic;
  else if (o.err > o.prob)
    o.cat = element_category::beyond_probabilistic;
  return o;
}

/// Element i against each of `refs` (a model's references) in turn, keeping the best category: an
/// implementation converts its inputs in one of the model's ways, or keeps them. `which` (when
/// given) receives the index of the reference that gave it.
inline one judge_best(model_judge& mj, const std::vector<const ops::op_result*>& refs,
                      std::int64_t i, double obs, double bmax, exact::accumulator& acc,
                      std::size_t* which = nullptr) {
  one a = judge_element(mj, *refs.front(), i, obs, bmax, acc);
  std::size_t best = 0;
  for (std::size_t r = 1; r < refs.size() && a.cat != element_category::consistent; ++r) {
    one b = judge_element(mj, *refs[r], i, obs, bmax, acc);
    if (severity(b.cat) < severity(a.cat)) a = b, best = r;
  }
  if (which) *which = best;
  return a;
}

/// lambda for a model's probabilistic bounds over a tensor of `events` probabilistic events
/// (probabilistic_events; 0 when the model has none).
inline double lambda_of(const arithmetic_model& m, double events, double alpha) {
  return has_probabilistic_bound(m) ? lambda_for(events, probabilistic_unit_roundoff(m), alpha)
                                    : 0.0;
}
/// lambda for a model's probabilistic bounds over the tensor of r (0 when it has none).
inline double lambda_of(const arithmetic_model& m, const ops::op_result& r, double alpha) {
  return lambda_of(m, probabilistic_events(r), alpha);
}

/// judge()'s error statistics of an output y against the exact result: max |y - exact| (the
/// exact difference rounded once, nearest) and max |y - exact| / |exact| over elements whose
/// exact result is nonzero (an element with exact == 0 and y != 0 gives +Inf; a non-finite y
/// against a finite exact result gives +Inf). Both are maxima of values that are never NaN, so
/// ranges of elements may be added in any order.
struct error_stats {
  double max_abs = 0, max_rel = 0;
  /// Elements [offset, offset + exact.size()) of y, whose exact values `exact` holds from 0.
  void add(const exact::exact_tensor& exact, const tensor_view& y, std::int64_t offset) {
    for (std::int64_t i = 0; i < exact.size(); ++i) {
      const double yi = y.at(offset + i);
      double e = exact.abs_diff(i, yi);
      if (std::isnan(e)) e = std::isnan(yi) && std::isnan(exact.rounded(i)) ? 0.0 : inf;
      max_abs = std::max(max_abs, e);
      const double ref = std::fabs(exact.rounded(i));
      const double rel = ref > 0 ? e / ref : (e > 0 ? inf : 0.0);
      max_rel = std::max(max_rel, rel);
    }
  }
};

/// check(set, observed, declared, opt) with the output's error_stats in *errors (when given),
/// formed in the same pass over the exact values.
verdict check_with_errors(reference_set& set, const tensor_view& observed,
                          const arithmetic_model& declared, const check_options& opt,
                          error_stats* errors);

/// judge()'s work: each output checked against its declared model, with its error_stats, and each
/// pair (indices into outputs) compared: the verdicts, statistics and comparisons of
/// check_with_errors per output and compare(set, ...) per pair, field for field. Where check()
/// judges one output by blocks of rows (docs/verdicts.md §2), one pass over the blocks serves
/// every output and pair (each block's references formed once; neither the whole references
/// nor anything per element is held; what a pair shares numbered from the whole set); else the
/// whole references, formed once for all. Every output is validated before any is judged.
struct checked_outputs {
  std::vector<verdict> verdicts;
  std::vector<error_stats> errors;
  std::vector<comparison> comparisons;
};
checked_outputs check_and_compare(reference_set& set, const std::vector<tensor_view>& outputs,
                                  const std::vector<arithmetic_model>& declared,
                                  const std::vector<std::pair<std::size_t, std::size_t>>& pairs,
                                  const check_options& opt);

/// Judge the declared model over blocks of `judge_rows` output rows wherever the op allows it
/// (0: never), whatever the size, and form every magnitude by DGEMM calls of `magnitude_rows`
/// rows of |x| (0: the default). The verdicts do not depend on judge_rows. Tests force small
/// blocks (check_and_compare's joint pass included).
void set_blocking(reference_set& set, std::int64_t judge_rows, std::int64_t magnitude_rows);
/// For tests: the checks of `set` whose declared pass ran blocked, and the blocks formed (those
/// of a blocked pass that fell back to the whole tensor included).
struct blocking_counts {
  std::int64_t checks = 0, blocks = 0;
};
blocking_counts blocking_counts_of(reference_set& set);

}  // namespace roundoff::verdicts::detail
