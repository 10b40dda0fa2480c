// The three exact engines behind every op agree bit for bit: fast (gemm_exact) == simple
// (gemm_exact_simple) == MPFR oracle (gemm_mpfr, which must report itself exact), on random
// configurations of every op family, with values drawn to stress the engine (wide exponent
// ranges, cancellation, low-precision formats).
#include <cmath>
#include <random>

#include "ops_test_util.hpp"
#include "property.hpp"
#include "roundoff/error.hpp"
#include "roundoff/ops/conv.hpp"
#include "roundoff/ops/conv_transpose.hpp"

namespace roundoff {
namespace {

// Values: 0 normal f64, 1 f32-representable, 2 wide exponents, 3 cancellation-prone integers.
void fill(tensor& t, std::mt19937_64& rng, int kind) {
  std::normal_distribution<double> normal;
  t.data.resize(static_cast<std::size_t>(t.numel()));
  for (auto& v : t.data) {
    switch (kind) {
      case 0:
        v = normal(rng);
        break;
      case 1:
        v = static_cast<double>(static_cast<float>(normal(rng)));
        break;
      case 2:
        v = std::ldexp(normal(rng), static_cast<int>(rng() % 400) - 200);
        break;
      default:
        v = std::ldexp(static_cast<double>(static_cast<int>(rng() % 7) - 3), rng() % 2 ? 60 : 0);
        break;
    }
  }
}

std::vector<std::int64_t> rand_dims(std::mt19937_64& rng, int nd, std::int64_t lo,
                                    std::int64_t span) {
  std::vector<std::int64_t> s;
  for (int i = 0; i < nd; ++i)
    s.push_back(lo + static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(span)));
  return s;
}

TEST(ops_methods, fast_simple_and_mpfr_agree_bit_for_bit) {
  auto rng = test::rng(0x3E7);
  const std::int64_t iters = test::iterations(1800);
  for (std::int64_t it = 0; it < iters; ++it) {
    const int family = static_cast<int>(it % 6);
    const int kind = static_cast<int>(rng() % 4);
    ops::op_spec op(ops::op_kind::linear);  // each family sets its kind below
    tensor x, w, b;
    bool with_bias = rng() % 2;
    if (family == 0) {  // linear
      op.kind = ops::op_kind::linear;
      const auto d = rand_dims(rng, 3, 0, 6);
      x.shape = {d[0], d[1] * 5};
      w.shape = {d[2] + 1, d[1] * 5};
      b.shape = {d[2] + 1};
    } else if (family == 1) {  // matmul with broadcasting
      op.kind = ops::op_kind::matmul;
      x.shape = {2, 1, 3, 7};
      w.shape = {3, 7, 2};
      b.shape = {2};
    } else if (family == 2) {  // bmm
      op.kind = ops::op_kind::bmm;
      x.shape = {3, 2, 9};
      w.shape = {3, 9, 4};
      b.shape = {3, 1, 4};
    } else if (family == 3) {  // addmm
      op.kind = ops::op_kind::addmm;
      x.shape = {4, 11};
      w.shape = {11, 3};
      b.shape = {3};
      with_bias = true;
    } else {  // conv / conv_transpose, 1-3 spatial dims
      const int nd = 1 + static_cast<int>(rng() % 3);
      const bool tr = family == 5;
      op.kind = static_cast<ops::op_kind>(
          static_cast<int>(tr ? ops::op_kind::conv_transpose1d : ops::op_kind::conv1d) + nd - 1);
      const std::int64_t G = 1 + static_cast<std::int64_t>(rng() % 2);
      x.shape = {static_cast<std::int64_t>(rng() % 2) + 1, 2 * G};
      w.shape = tr ? std::vector<std::int64_t>{2 * G, 2} : std::vector<std::int64_t>{2 * G, 2};
      for (int d = 0; d < nd; ++d) {
        x.shape.push_back(3 + static_cast<std::int64_t>(rng() % 3));
        w.shape.push_back(1 + static_cast<std::int64_t>(rng() % 3));
      }
      b.shape = {2 * G * (tr ? 1 : 1)};
      if (tr) b.shape = {2 * G};
      op.conv.groups = G;
      op.conv.stride = {1 + static_cast<std::int64_t>(rng() % 2)};
      op.conv.padding = {static_cast<std::int64_t>(rng() % 2)};
      if (tr)
        op.conv.output_padding = {op.conv.stride[0] > 1 ? static_cast<std::int64_t>(rng() % 2) : 0};
    }
    fill(x, rng, kind);
    fill(w, rng, kind);
    fill(b, rng, kind);
    test::expect_methods_agree(op, x, w, with_bias ? &b : nullptr,
                               std::string(ops::op_name(op.kind)) +
                                   " kind=" + std::to_string(kind) + " " + test::replay(it));
    if (::testing::Test::HasFatalFailure()) return;
  }
}

TEST(ops_methods, conv_tiling_does_not_change_results) {
  // Tiny tile budgets force position tiles, group chunks and single-row tiles; every result
  // must equal the direct definition whatever the tiling.
  auto rng = test::rng(0x711E);
  for (const bool transposed : {false, true}) {
    ops::conv_params p;
    p.groups = 8;
    p.padding = {1};
    p.stride = {transposed ? 2 : 1};
    tensor x, w, b;
    x.shape = {2, 8, 9, 7};
    w.shape =
        transposed ? std::vector<std::int64_t>{8, 2, 3, 3} : std::vector<std::int64_t>{16, 1, 3, 3};
    b.shape = {16};
    fill(x, rng, 0);
    fill(w, rng, 0);
    fill(b, rng, 0);
    const auto d = test::direct_conv(2, transposed, x, w, &b, p);
    // K = 9 (conv) or 9 (transposed, cin_g = 1): rows per tile = bytes / 72.
    for (const std::int64_t bytes : {1, 72, 72 * 5, 72 * 8 * 3, 72 * 8 * 63, 0}) {
      ops::reference_options o;
      o.tile_bytes = bytes;
      const auto r =
          transposed ? ops::conv_transpose(2, x, w, &b, p, o) : ops::conv(2, x, w, &b, p, o);
      test::expect_matches_direct(
          r, d, "tile_bytes=" + std::to_string(bytes) + (transposed ? " transposed" : ""));
    }
  }
}

TEST(ops_methods, blas_bound_magnitude_is_above_the_exact_one_and_close) {
  // magnitude_method::blas_bound >= RU(exact sum) always; and not far above it:
  // <= RU * (1 + (2n + 12)u) + (n+1) 2^-1073 (the DGEMM's own error up to (1+u)^n, the divisor
  // 1/(1 - nu), and a few roundings of the bound's own arithmetic). Values include products that
  // underflow to subnormals or to zero in double, where the absolute slack matters.
  auto rng = test::rng(0xB0B);
  const std::int64_t iters = test::iterations(300);
  std::normal_distribution<double> normal;
  for (std::int64_t it = 0; it < iters; ++it) {
    ops::op_spec op(ops::op_kind::linear);  // each family sets its kind below
    tensor x, w, b;
    const bool conv = it % 2;
    if (conv) {
      op.kind = ops::op_kind::conv2d;
      op.conv.padding = {1};
      x.shape = {2, 3, 5, 4};
      w.shape = {4, 3, 3, 3};
    } else {
      op.kind = ops::op_kind::linear;
      x.shape = {3, static_cast<std::int64_t>(rng() % 50)};
      w.shape = {4, x.shape[1]};
    }
    b.shape = {4};
    const int scale = static_cast<int>(rng() % 3);  // 0: ordinary, 1: underflowing, 2: huge
    for (auto* t : {&x, &w, &b}) {
      t->data.resize(static_cast<std::size_t>(t->numel()));
      for (auto& v : t->data) {
        const int e = scale == 0   ? static_cast<int>(rng() % 20) - 10
                      : scale == 1 ? -520 - static_cast<int>(rng() % 40)
                                   : 480 + static_cast<int>(rng() % 30);
        v = std::ldexp(normal(rng), e);
      }
    }
    const bool with_bias = rng() % 2;
    ops::reference_options ex, bl;
    ex.magnitude_how = ops::magnitude_method::exact;
    bl.magnitude_how = ops::magnitude_method::blas_bound;
    const auto re = ops::evaluate({op, x, w, with_bias ? &b : nullptr}, ex);
    const auto rb = ops::evaluate({op, x, w, with_bias ? &b : nullptr}, bl);
    ASSERT_EQ(re.magnitude.size(), rb.magnitude.size());
    for (std::size_t i = 0; i < re.magnitude.size(); ++i) {
      const double lo = re.magnitude[i], got = rb.magnitude[i];
      const auto n = static_cast<double>(re.terms[static_cast<std::int64_t>(i)] + 1);
      ASSERT_GE(got, lo) << "element " << i << " scale " << scale << " " << test::replay(it);
      if (std::isfinite(lo)) {
        const double hi = lo * (1 + (2 * n + 12) * 0x1p-53) + (n + 1) * 0x1p-1073;
        ASSERT_LE(got, hi) << "element " << i << " scale " << scale << " " << test::replay(it);
      }
    }
    // The exact results do not depend on the magnitude method.
    for (std::int64_t i = 0; i < re.exact.size(); ++i) {
      ASSERT_TRUE(test::same_bits(re.exact.rounded(i), rb.exact.rounded(i)));
    }
  }
}

}  // namespace
}  // namespace roundoff
