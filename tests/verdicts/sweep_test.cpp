// The dimension sweep (roundoff/verdicts/sweep.hpp): range and --dim parsing, sizes and ties,
// seeded inputs, and the measurement itself against independent oracles: f32/f64 loops written
// here as the implementations, MPFR (ops method::mpfr, checked exact) for the errors, plain
// recomputation for the pairwise sums. A planted fault must be flagged.
#include "roundoff/verdicts/sweep.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>

#include "property.hpp"
#include "roundoff/error.hpp"

namespace {

using namespace roundoff;
using verdicts::vary_values;

// The message as the CLI prints it: an argument_error names its flag (src/cli/op_flags.cpp,
// flag_message), so the assertions below read as the user sees them.
template <class F>
std::string input_error_of(F&& f) {
  try {
    f();
  } catch (const argument_error& e) {
    std::string flag = "--" + e.argument();
    for (char& c : flag)
      if (c == '_') c = '-';
    return flag + (e.value().empty() ? "" : " " + e.value()) + ": " + e.detail();
  } catch (const input_error& e) {
    return e.what();
  }
  return "(no input_error)";
}

TEST(SweepVary, RefusesTooManyPoints) {
  const std::string m = input_error_of([] {
    vary_values(verdicts::vary_range{"in", 1, 20000, 1});
  });
  EXPECT_NE(m.find("20000 points"), std::string::npos) << m;
  EXPECT_NE(m.find("limit of 10000"), std::string::npos) << m;
  EXPECT_EQ(vary_values(verdicts::vary_range{"in", 1, 10000, 1}).size(), 10000u);
  EXPECT_THROW(vary_values(verdicts::vary_range{"in", 1, 11, 1}, 10), input_error);
  EXPECT_EQ(vary_values(verdicts::vary_range{"in", 1, 10, 1}, 10).size(), 10u);
}

verdicts::sweep_spec spec_for(ops::op_kind op, const verdicts::vary_range& vary) {
  verdicts::sweep_spec s(ops::make_op_spec(op, {}));
  s.vary = vary;
  return s;
}

TEST(SweepDims, LinearDefaultsTieOutToIn) {
  auto s = spec_for(ops::op_kind::linear, {"in", 1, 9, 4});
  auto sh = verdicts::sweep_shapes(s);
  ASSERT_EQ(sh.size(), 3u);
  EXPECT_EQ(sh[2].value, 9);
  EXPECT_EQ(sh[2].x, (std::vector<std::int64_t>{32, 9}));
  EXPECT_EQ(sh[2].w, (std::vector<std::int64_t>{9, 9}));
  EXPECT_EQ(sh[2].b, (std::vector<std::int64_t>{9}));
  EXPECT_EQ(sh[2].y, (std::vector<std::int64_t>{32, 9}));
  // Varying out: in keeps its default; a fixed out and a tie of batch to in.
  s = spec_for(ops::op_kind::linear, {"out", 2, 3, 1});
  s.dims["batch"] = {0, "in"};
  s.dims["in"] = {7, {}};
  sh = verdicts::sweep_shapes(s);
  EXPECT_EQ(sh[1].x, (std::vector<std::int64_t>{7, 7}));
  EXPECT_EQ(sh[1].w, (std::vector<std::int64_t>{3, 7}));
  // matmul and bmm lay the weight out as [in, out].
  s = spec_for(ops::op_kind::bmm, {"in", 5, 5, 1});
  s.bias = false;
  s.dims["m"] = {3, {}};
  sh = verdicts::sweep_shapes(s);
  EXPECT_EQ(sh[0].x, (std::vector<std::int64_t>{4, 3, 5}));
  EXPECT_EQ(sh[0].w, (std::vector<std::int64_t>{4, 5, 5}));
  EXPECT_TRUE(sh[0].b.empty());
  EXPECT_EQ(sh[0].y, (std::vector<std::int64_t>{4, 3, 5}));
  // `roundoff run`'s names: in_features / k / in_channels mean in, out_features / n out, ...
  s = spec_for(ops::op_kind::matmul, {"k", 6, 6, 1});
  s.dims["n"] = {2, {}};
  s.dims["m"] = {0, "in_features"};
  sh = verdicts::sweep_shapes(s);
  EXPECT_EQ(sh[0].x, (std::vector<std::int64_t>{6, 6}));
  EXPECT_EQ(sh[0].w, (std::vector<std::int64_t>{6, 2}));
  s = spec_for(ops::op_kind::conv1d, {"kernel_size", 2, 2, 1});
  s.dims["in_channels"] = {4, {}};
  s.dims["size"] = {9, {}};
  sh = verdicts::sweep_shapes(s);
  EXPECT_EQ(sh[0].x, (std::vector<std::int64_t>{1, 4, 9}));
  EXPECT_EQ(sh[0].w, (std::vector<std::int64_t>{4, 4, 2}));
  s = spec_for(ops::op_kind::linear, {"in", 1, 2, 1});
  s.dims["out_features"] = {3, {}};
  s.dims["out"] = {4, {}};
  EXPECT_NE(input_error_of([&] { verdicts::sweep_shapes(s); }).find("given twice"),
            std::string::npos);
}

TEST(SweepDims, ConvShapes) {
  auto s = spec_for(ops::op_kind::conv2d, {"in", 4, 8, 4});
  ops::conv_arguments cf;
  cf.stride = {2};
  cf.groups = 2;
  s.op = ops::make_op_spec(ops::op_kind::conv2d, cf);
  s.dims["out"] = {6, {}};
  auto sh = verdicts::sweep_shapes(s);
  EXPECT_EQ(sh[1].x, (std::vector<std::int64_t>{1, 8, 16, 16}));
  EXPECT_EQ(sh[1].w, (std::vector<std::int64_t>{6, 4, 3, 3}));
  EXPECT_EQ(sh[1].y, (std::vector<std::int64_t>{1, 6, 7, 7}));
  s = spec_for(ops::op_kind::conv_transpose1d, {"length", 3, 4, 1});
  sh = verdicts::sweep_shapes(s);
  EXPECT_EQ(sh[0].w, (std::vector<std::int64_t>{16, 16, 3}));
  EXPECT_EQ(sh[0].y, (std::vector<std::int64_t>{1, 16, 5}));
}

TEST(SweepDims, RefusesUnknownCyclicAndInvalidShapes) {
  auto s = spec_for(ops::op_kind::linear, {"length", 1, 3, 1});
  EXPECT_NE(
      input_error_of([&] { verdicts::sweep_shapes(s); }).find("its dimensions: batch, in, out"),
      std::string::npos);
  s = spec_for(ops::op_kind::linear, {"in", 1, 3, 1});
  s.dims["kernel"] = {3, {}};
  EXPECT_NE(input_error_of([&] { verdicts::sweep_shapes(s); }).find("no dimension 'kernel'"),
            std::string::npos);
  s = spec_for(ops::op_kind::linear, {"in", 1, 3, 1});
  s.dims["in"] = {3, {}};
  EXPECT_NE(input_error_of([&] { verdicts::sweep_shapes(s); }).find("--vary varies"),
            std::string::npos);
  s = spec_for(ops::op_kind::linear, {"in", 1, 3, 1});
  s.dims["out"] = {0, "bogus"};
  EXPECT_NE(input_error_of([&] { verdicts::sweep_shapes(s); }).find("no dimension 'bogus'"),
            std::string::npos);
  s = spec_for(ops::op_kind::linear, {"batch", 1, 3, 1});
  s.dims["in"] = {0, "out"};  // out=in by default: a cycle
  EXPECT_NE(input_error_of([&] { verdicts::sweep_shapes(s); }).find("cycle"), std::string::npos);
  // Kernel longer than the input: PyTorch's error, prefixed by the point.
  s = spec_for(ops::op_kind::conv1d, {"length", 1, 5, 1});
  const std::string m = input_error_of([&] { verdicts::sweep_shapes(s); });
  EXPECT_EQ(m.rfind("--vary length=1: ", 0), 0u) << m;
  s = spec_for(ops::op_kind::conv1d, {"in", 3, 4, 1});
  ops::conv_arguments g2;
  g2.groups = 2;
  s.op = ops::make_op_spec(ops::op_kind::conv1d, g2);
  EXPECT_NE(input_error_of([&] { verdicts::sweep_shapes(s); }).find("--groups 2 must divide"),
            std::string::npos);
  s = spec_for(ops::op_kind::addmm, {"in", 1, 3, 1});
  s.bias = false;
  EXPECT_NE(input_error_of([&] { verdicts::sweep_shapes(s); }).find("--no-bias"),
            std::string::npos);
  s = spec_for(ops::op_kind::linear, {"batch", 1, 2, 1});
  s.dims["in"] = {1 << 20, {}};  // W would be 2^40 elements
  EXPECT_NE(input_error_of([&] { verdicts::sweep_shapes(s); }).find("2^28"), std::string::npos);
}

TEST(SweepInputs, SeededByPointRepresentableNormal) {
  auto s = spec_for(ops::op_kind::linear, {"in", 65, 65, 1});
  auto a = verdicts::sweep_shapes(s);
  s.vary = verdicts::vary_range{"in", 1, 129, 64};  // contains 65 as its second point
  auto b = verdicts::sweep_shapes(s);
  const std::vector<format_id> f32{format_id::f32};
  auto ia = verdicts::sweep_point_inputs(a[0], 7, f32);
  auto ib = verdicts::sweep_point_inputs(b[1], 7, f32);
  EXPECT_EQ(ia.x.data, ib.x.data);
  EXPECT_EQ(ia.w.data, ib.w.data);
  EXPECT_EQ(ia.b->data, ib.b->data);
  EXPECT_EQ(ia.x.type, format_id::f32);
  auto ic = verdicts::sweep_point_inputs(a[0], 8, f32);
  EXPECT_NE(ia.x.data, ic.x.data);
  EXPECT_NE(ia.x.data, ia.w.data);  // independent streams per operand

  // Both 16-bit formats at once: every value must be exactly representable in each.
  s = spec_for(ops::op_kind::linear, {"in", 512, 512, 1});
  s.dims["batch"] = {256, {}};
  auto big = verdicts::sweep_shapes(s);
  auto in = verdicts::sweep_point_inputs(big[0], 3, {format_id::bf16, format_id::f16});
  for (double v : in.w.data) {
    ASSERT_TRUE(is_representable(format_id::bf16, v)) << v;
    ASSERT_TRUE(is_representable(format_id::f16, v)) << v;
  }
  // N(0, 1) in f64: 2^18 + 2^17 samples; mean within 6 sigma, variance within 2%.
  in = verdicts::sweep_point_inputs(big[0], 3, {format_id::f64});
  std::vector<double> all = in.x.data;
  all.insert(all.end(), in.w.data.begin(), in.w.data.end());
  double mean = 0, var = 0;
  for (double v : all) mean += v;
  mean /= static_cast<double>(all.size());
  for (double v : all) var += (v - mean) * (v - mean);
  var /= static_cast<double>(all.size());
  EXPECT_LT(std::fabs(mean), 6 / std::sqrt(static_cast<double>(all.size())));
  EXPECT_NEAR(var, 1.0, 0.02);
}

// ---- the measurement -------------------------------------------------------------------------

// y = x W^T + b for linear, summed in T in the given order; `drop_first` plants a fault.
enum class order { sequential, pairwise };
template <class T>
T sum_range(const std::vector<T>& p, std::size_t lo, std::size_t hi, order o) {
  if (hi - lo == 1) return p[lo];
  if (o == order::pairwise) {
    std::size_t mid = lo + (hi - lo) / 2;
    return sum_range(p, lo, mid, o) + sum_range(p, mid, hi, o);
  }
  T s = p[lo];
  for (std::size_t i = lo + 1; i < hi; ++i) s += p[i];
  return s;
}

template <class T>
tensor linear_loop(const tensor& x, const tensor& w, const tensor* b, order o,
                   bool drop_first = false) {
  const std::int64_t M = x.shape[0], K = x.shape[1], N = w.shape[0];
  tensor y;
  y.shape = {M, N};
  y.type = sizeof(T) == 4 ? format_id::f32 : format_id::f64;
  std::vector<T> p(static_cast<std::size_t>(K));
  for (std::int64_t i = 0; i < M; ++i)
    for (std::int64_t n = 0; n < N; ++n) {
      for (std::int64_t k = 0; k < K; ++k)
        p[static_cast<std::size_t>(k)] =
            static_cast<T>(x.data[static_cast<std::size_t>(i * K + k)]) *
            static_cast<T>(w.data[static_cast<std::size_t>(n * K + k)]);
      if (drop_first && K > 1) p[0] = 0;
      T s = sum_range(p, 0, p.size(), o);
      if (b) s += static_cast<T>(b->data[static_cast<std::size_t>(n)]);
      y.data.push_back(static_cast<double>(s));
    }
  return y;
}

struct recorder {
  std::vector<std::vector<tensor>> outputs;  // [impl][point]
  std::vector<std::vector<tensor>> inputs;   // [point] {x, w, b}
};

verdicts::sweep_impl impl(std::string name, std::string model, format_id storage,
                          std::function<tensor(const tensor&, const tensor&, const tensor*)> f,
                          recorder& rec, std::size_t slot) {
  verdicts::sweep_impl im;
  im.name = std::move(name);
  im.model = std::move(model);
  im.storage = storage;
  im.run = [f, &rec, slot](const ops::op_spec&, const tensor& x, const tensor& w, const tensor* b) {
    if (rec.outputs.size() <= slot) rec.outputs.resize(slot + 1);
    if (slot == 0) rec.inputs.push_back({x, w, b ? *b : tensor{}});
    tensor y = f(x, w, b);
    rec.outputs[slot].push_back(y);
    return y;
  };
  return im;
}

TEST(SweepRun, ErrorsBoundsAndPairsAgainstOracles) {
  auto s = spec_for(ops::op_kind::linear, {"in", 1, 129, 32});  // 1, 33, 65, 97, 129
  s.dims["batch"] = {8, {}};
  s.seed = roundoff::test::base_seed();
  recorder rec;
  std::vector<verdicts::sweep_impl> impls = {
      impl(
          "seq.f32", "f32", format_id::f32,
          [](auto& x, auto& w, auto* b) { return linear_loop<float>(x, w, b, order::sequential); },
          rec, 0),
      impl(
          "pair.f32", "f32", format_id::f32,
          [](auto& x, auto& w, auto* b) { return linear_loop<float>(x, w, b, order::pairwise); },
          rec, 1),
      impl(
          "seq.f64", "f64", format_id::f64,
          [](auto& x, auto& w, auto* b) { return linear_loop<double>(x, w, b, order::sequential); },
          rec, 2),
      impl(
          "faulty.f32", "f32", format_id::f32,
          [](auto& x, auto& w, auto* b) {
            return linear_loop<float>(x, w, b, order::sequential, true);
          },
          rec, 3)};
  std::vector<std::size_t> progress;
  auto r = verdicts::run_sweep(s, impls, [&](std::size_t done, std::size_t total, std::int64_t v) {
    EXPECT_EQ(total, 5u);
    EXPECT_EQ(v, 1 + 32 * static_cast<std::int64_t>(done - 1));
    progress.push_back(done);
  });
  EXPECT_EQ(progress, (std::vector<std::size_t>{1, 2, 3, 4, 5}));
  ASSERT_EQ(r.points.size(), 5u);
  EXPECT_EQ(r.op, "linear");
  EXPECT_EQ(r.dim, "in");
  ASSERT_EQ(r.input_formats.size(), 2u);  // f32 and f64: drawn in f32

  ops::reference_options mpfr;
  mpfr.how = ops::method::mpfr;
  mpfr.precision_bits = 256;
  mpfr.want_magnitude = false;
  for (std::size_t p = 0; p < r.points.size(); ++p) {
    const auto& pt = r.points[p];
    const std::string at = "at in=" + std::to_string(pt.shape.value) + ", " +
                           roundoff::test::replay(static_cast<std::int64_t>(p));
    const auto& in = rec.inputs[p];
    for (double v : in[0].data) ASSERT_TRUE(is_representable(format_id::f32, v));
    const ops::op_result oracle = ops::evaluate({s.op, in[0], in[1], &in[2]}, mpfr);
    for (auto e : oracle.oracle_exact) ASSERT_TRUE(e) << "MPFR oracle rounded " << at;
    ASSERT_EQ(pt.impls.size(), 4u);
    for (std::size_t k = 0; k < 4; ++k) {
      const auto& im = pt.impls[k];
      const tensor& y = rec.outputs[k][p];
      // Independent error: |y - MPFR's correctly rounded exact value|, which differs from the
      // sweep's |y - exact| (rounded down) by at most half an ulp of the exact value.
      double max_err = 0, sum_err = 0, slack = 0;
      for (std::size_t i = 0; i < y.data.size(); ++i) {
        const double ex = oracle.exact.rounded(static_cast<std::int64_t>(i));
        const double e = std::fabs(y.data[i] - ex);
        max_err = std::max(max_err, e);
        sum_err += e;
        slack = std::max(slack, std::fabs(ex) * 0x1p-52);
      }
      EXPECT_NEAR(im.max_abs_error, max_err, 2 * slack + max_err * 1e-15) << im.name << " " << at;
      EXPECT_NEAR(im.sum_abs_error, sum_err,
                  static_cast<double>(y.data.size()) * 2 * slack + sum_err * 1e-12)
          << im.name << " " << at;
      EXPECT_EQ(im.elements, static_cast<std::int64_t>(y.data.size()));
      EXPECT_LE(im.max_probabilistic_bound, im.max_deterministic_bound);
      EXPECT_LE(im.sum_probabilistic_bound, im.sum_deterministic_bound);
      if (im.name == "faulty.f32") {
        if (pt.shape.value > 1) {  // dropping one of K >= 33 products is far beyond rounding
          EXPECT_GT(im.beyond_deterministic, 0) << at;
          EXPECT_EQ(im.status(), verdicts::verdict_kind::violation) << at;
          EXPECT_GT(im.max_ratio_deterministic, 1) << at;
        }
        continue;
      }
      // Correct implementations: never beyond the deterministic bound.
      EXPECT_EQ(im.beyond_deterministic, 0) << im.name << " " << at;
      EXPECT_LE(im.max_ratio_deterministic, 1.0) << im.name << " " << at;
      EXPECT_LE(im.max_abs_error, im.max_deterministic_bound) << im.name << " " << at;
      EXPECT_LE(im.sum_abs_error, im.sum_deterministic_bound) << im.name << " " << at;
      EXPECT_NE(im.status(), verdicts::verdict_kind::violation) << im.name << " " << at;
    }
    // Pairs: (0,1) (0,2) (0,3) (1,2) (1,3) (2,3); sums recomputed from the outputs.
    ASSERT_EQ(pt.pairs.size(), 6u);
    std::size_t q = 0;
    for (std::size_t a = 0; a < 4; ++a)
      for (std::size_t b = a + 1; b < 4; ++b, ++q) {
        const auto& pr = pt.pairs[q];
        EXPECT_EQ(pr.a, impls[a].name);
        EXPECT_EQ(pr.b, impls[b].name);
        const tensor &ya = rec.outputs[a][p], &yb = rec.outputs[b][p];
        double sum = 0, mx = 0;
        std::int64_t differ = 0;
        for (std::size_t i = 0; i < ya.data.size(); ++i) {
          const double d = std::fabs(ya.data[i] - yb.data[i]);
          sum += d;
          mx = std::max(mx, d);
          differ += ya.data[i] != yb.data[i];
        }
        EXPECT_EQ(pr.differing, differ) << at;
        EXPECT_NEAR(pr.sum_abs_difference, sum, sum * 1e-12) << at;
        EXPECT_NEAR(pr.max_abs_difference, mx, mx * 1e-15) << at;
        const bool faulty = b == 3;
        if (faulty && pt.shape.value > 1) {
          EXPECT_GT(pr.beyond, 0) << pr.a << " vs " << pr.b << " " << at;
        } else if (!faulty) {
          EXPECT_EQ(pr.beyond, 0) << pr.a << " vs " << pr.b << " " << at;
          EXPECT_LE(pr.sum_abs_difference, pr.sum_allowed_difference) << at;
        }
      }
  }
  // K = 1: one product plus the bias, one rounding each in either order: identical outputs.
  EXPECT_EQ(r.points.front().pairs.front().differing, 0);
  // The forum's observation: the difference between two f32 summation orders grows with K.
  EXPECT_GT(r.points.back().pairs.front().sum_abs_difference,
            r.points[1].pairs.front().sum_abs_difference);
}

// A model that rounds the inputs (tf32) is judged against the exact result on its rounded
// inputs, and a pair across references is allowed the difference of the two references: without
// that term the tf32 / f32 difference (input rounding, ~2^-11 relative) would exceed the bounds.
TEST(SweepRun, Tf32InputRoundingUsesItsOwnReference) {
  auto s = spec_for(ops::op_kind::linear, {"in", 16, 112, 48});
  s.dims["batch"] = {4, {}};
  s.seed = roundoff::test::base_seed() + 1;
  recorder rec;
  auto tf32 = [](const tensor& x, const tensor& w, const tensor* b) {
    tensor xr = x, wr = w;
    for (auto& v : xr.data) v = round_to(format_id::tf32, v);
    for (auto& v : wr.data) v = round_to(format_id::tf32, v);
    return linear_loop<float>(xr, wr, b, order::sequential);
  };
  std::vector<verdicts::sweep_impl> impls = {
      impl(
          "seq.f32", "f32", format_id::f32,
          [](auto& x, auto& w, auto* b) { return linear_loop<float>(x, w, b, order::sequential); },
          rec, 0),
      impl("seq.tf32", "tf32", format_id::f32, tf32, rec, 1)};
  auto r = verdicts::run_sweep(s, impls);
  for (const auto& pt : r.points) {
    const std::string at =
        "at in=" + std::to_string(pt.shape.value) + ", " + roundoff::test::replay(0);
    for (const auto& im : pt.impls) {
      EXPECT_EQ(im.beyond_deterministic, 0) << im.name << " " << at;
      EXPECT_LE(im.max_ratio_deterministic, 1.0) << im.name << " " << at;
    }
    const auto& pr = pt.pairs.at(0);
    EXPECT_GT(pr.differing, 0) << at;
    EXPECT_EQ(pr.beyond, 0) << at;
    // The pair's allowance exceeds the two deterministic bounds by the reference difference.
    EXPECT_GT(pr.sum_allowed_difference,
              pt.impls[0].sum_deterministic_bound + pt.impls[1].sum_deterministic_bound)
        << at;
  }
}

TEST(SweepRun, RefusesBadImplementationsAndModels) {
  auto s = spec_for(ops::op_kind::linear, {"in", 2, 3, 1});
  EXPECT_THROW(verdicts::run_sweep(s, {}), input_error);
  recorder rec;
  auto bad_model = impl(
      "x", "f33", format_id::f32,
      [](auto& x, auto& w, auto* b) { return linear_loop<float>(x, w, b, order::sequential); }, rec,
      0);
  EXPECT_THROW(verdicts::run_sweep(s, {bad_model}), input_error);
  auto short_out = impl(
      "short", "f32", format_id::f32,
      [](auto& x, auto& w, auto* b) {
        tensor y = linear_loop<float>(x, w, b, order::sequential);
        y.data.pop_back();
        return y;
      },
      rec, 0);
  EXPECT_THROW(verdicts::run_sweep(s, {short_out}), internal_error);
  s.confidence = 1.5;
  EXPECT_THROW(verdicts::run_sweep(s, {short_out}), input_error);
}

}  // namespace
