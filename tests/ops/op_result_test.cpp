// op_result's memory (issue 14, "memory linear in the tensors"): term counts stored by their
// period, and an op's evaluation holding no more than the exact values per output element. The
// heap is measured by counting every operator new/delete of this program (the engine's tiles,
// ops' temporaries), not by RSS, so the bounds below are exact properties, not timings.
#include "roundoff/ops/op_result.hpp"

#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <random>
#include <string>
#include <vector>

#include "ops_test_util.hpp"
#include "roundoff/error.hpp"
#include "roundoff/ops/conv.hpp"
#include "roundoff/ops/linear.hpp"
#include "roundoff/ops/matmul.hpp"

namespace {
std::atomic<std::int64_t> live_bytes{0}, peak_bytes{0};
void note_alloc(void* p) {
  const auto n = static_cast<std::int64_t>(malloc_usable_size(p));
  const std::int64_t now = live_bytes.fetch_add(n) + n;
  std::int64_t peak = peak_bytes.load();
  while (now > peak && !peak_bytes.compare_exchange_weak(peak, now)) {
  }
}
void note_free(void* p) {
  if (p) live_bytes.fetch_sub(static_cast<std::int64_t>(malloc_usable_size(p)));
}
void* counted_alloc(std::size_t n, std::size_t align) {
  void* p =
      align <= alignof(std::max_align_t)
          ? std::malloc(n ? n : 1)
          : std::aligned_alloc(align, (std::max<std::size_t>(n, 1) + align - 1) / align * align);
  if (!p) throw std::bad_alloc();
  note_alloc(p);
  return p;
}
}  // namespace

void* operator new(std::size_t n) {
  return counted_alloc(n, 0);
}
void* operator new[](std::size_t n) {
  return counted_alloc(n, 0);
}
void* operator new(std::size_t n, std::align_val_t a) {
  return counted_alloc(n, static_cast<std::size_t>(a));
}
void* operator new[](std::size_t n, std::align_val_t a) {
  return counted_alloc(n, static_cast<std::size_t>(a));
}
void operator delete(void* p) noexcept {
  note_free(p);
  std::free(p);
}
void operator delete[](void* p) noexcept {
  note_free(p);
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  note_free(p);
  std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  note_free(p);
  std::free(p);
}
void operator delete(void* p, std::align_val_t) noexcept {
  note_free(p);
  std::free(p);
}
void operator delete[](void* p, std::align_val_t) noexcept {
  note_free(p);
  std::free(p);
}
void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
  note_free(p);
  std::free(p);
}
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept {
  note_free(p);
  std::free(p);
}

namespace roundoff {
namespace {

std::string detail_shape(const std::vector<std::int64_t>& s) {
  std::string r = "[";
  for (std::size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

// Heap bytes above those live when constructed: at the peak since then, and now.
struct heap_meter {
  std::int64_t base = live_bytes.load();
  heap_meter() { peak_bytes.store(base); }
  std::int64_t peak() const { return peak_bytes.load() - base; }
  std::int64_t now() const { return live_bytes.load() - base; }
};

TEST(term_counts, period_golden) {
  const ops::term_counts t(6, {2, 3});
  EXPECT_EQ(t.to_vector(), (std::vector<std::int64_t>{2, 3, 2, 3, 2, 3}));
  EXPECT_EQ(t[3], 3);
  EXPECT_EQ(t[4], 2);
  EXPECT_EQ(t.total(), 15);
  EXPECT_EQ(t.size(), 6);
  EXPECT_EQ(t.memory_bytes(), 2 * sizeof(std::int64_t));
  const auto u = ops::term_counts::uniform(1000000, 1536);
  EXPECT_EQ(u[999999], 1536);
  EXPECT_EQ(u.total(), std::int64_t{1536} * 1000000);
  EXPECT_EQ(u.memory_bytes(), sizeof(std::int64_t));
  EXPECT_TRUE(ops::term_counts().empty());
  EXPECT_EQ(ops::term_counts(0, {}).total(), 0);
}

TEST(term_counts, equality_is_element_wise) {
  EXPECT_EQ(ops::term_counts(4, {5, 5}), ops::term_counts::uniform(4, 5));
  EXPECT_FALSE(ops::term_counts(4, {5, 6}) == ops::term_counts::uniform(4, 5));
  EXPECT_FALSE(ops::term_counts::uniform(4, 5) == ops::term_counts::uniform(2, 5));
}

TEST(term_counts, a_size_that_does_not_repeat_the_period_is_a_bug) {
  EXPECT_THROW(ops::term_counts(5, {1, 2}), internal_error);
  EXPECT_THROW(ops::term_counts(3, {}), internal_error);
}

// x [rows, k] (k small: the exact values dominate), W [n, k], an [n] bias.
struct linear_case {
  tensor x, w, b;
};
linear_case make_linear(std::int64_t rows, std::int64_t k, std::int64_t n, std::uint64_t seed) {
  std::mt19937_64 g(seed);
  std::normal_distribution<double> nd(0.0, 1.0);
  auto fill = [&](std::vector<std::int64_t> shape) {
    tensor t;
    t.shape = std::move(shape);
    t.type = format_id::f32;
    t.data.resize(static_cast<std::size_t>(t.numel()));
    for (auto& v : t.data) v = static_cast<double>(static_cast<float>(nd(g)));
    return t;
  };
  linear_case c;
  c.x = fill({rows, k});
  c.w = fill({n, k});
  c.b = fill({n});
  return c;
}

// The exact reference of a linear layer needs its exact values (exact_tensor: 17 bytes per
// output) and nothing else per output: before issue 14 it also held two int64 counts per output
// and the bias expanded to the output's shape (41 bytes per output in all).
TEST(op_memory, linear_holds_the_exact_values_and_nothing_else_per_output) {
  const std::int64_t rows = 2048, k = 4, n = 256, outputs = rows * n;
  const linear_case c = make_linear(rows, k, n, 14);
  ops::reference_options ro;
  ro.threads = 1;
  ro.want_magnitude = false;
  // The engine keeps its workspaces (one packed tile per thread) for the next call: warm them.
  (void)ops::linear(c.x, c.w, &c.b, ro);
  std::int64_t peak = 0, kept = 0, exact_bytes = 0;
  {
    heap_meter m;
    const ops::op_result r = ops::linear(c.x, c.w, &c.b, ro);
    peak = m.peak();
    kept = m.now();
    exact_bytes = static_cast<std::int64_t>(r.exact.memory_bytes());
    EXPECT_EQ(r.terms, ops::term_counts::uniform(outputs, k));
    EXPECT_EQ(r.terms.memory_bytes(), sizeof(std::int64_t));
    EXPECT_EQ(r.data_terms.memory_bytes(), sizeof(std::int64_t));
    // The values are right (the bias read once, with stride 0): spot checks against a direct
    // exact dot product.
    for (std::int64_t q : {std::int64_t{0}, outputs / 3, outputs - 1}) {
      const std::int64_t i = q / n, j = q % n;
      exact::accumulator acc;
      for (std::int64_t t = 0; t < k; ++t)
        acc.add_product(c.x.data[static_cast<std::size_t>(i * k + t)],
                        c.w.data[static_cast<std::size_t>(j * k + t)]);
      acc.add(c.b.data[static_cast<std::size_t>(j)]);
      EXPECT_TRUE(test::same_bits(r.exact.rounded(q), acc.round())) << q;
    }
  }
  EXPECT_LE(exact_bytes, 17 * outputs + 4096);
  // Kept: the exact values and a few small vectors. At the peak: also the engine's tiles (for
  // k = 4 a few hundred KiB), far below another 8 bytes per output (2 MiB here).
  EXPECT_LE(kept, exact_bytes + 4096) << "per output: " << double(kept) / double(outputs);
  EXPECT_LE(peak, exact_bytes + outputs * 2) << "per output: " << double(peak) / double(outputs);
}

// output_shape validates the bias without materializing it (it runs on every check).
TEST(op_memory, output_shape_allocates_nothing_per_output) {
  const linear_case c = make_linear(4096, 2, 512, 15);
  heap_meter m;
  const auto shape = ops::output_shape({ops::op_spec{ops::op_kind::linear}, c.x, c.w, &c.b});
  EXPECT_EQ(shape, (std::vector<std::int64_t>{4096, 512}));
  EXPECT_LE(m.peak(), 4096);
}

// A matmul bias that varies along the last dim only is read once as well; one that varies along
// rows too is still expanded, with the same values.
TEST(op_memory, matmul_row_bias_is_not_expanded) {
  const linear_case c = make_linear(1024, 3, 256, 16);
  const tensor wt = [&] {
    tensor t;
    t.shape = {3, 256};
    t.type = format_id::f32;
    t.data.resize(3 * 256);
    for (std::int64_t j = 0; j < 256; ++j)
      for (std::int64_t t2 = 0; t2 < 3; ++t2)
        t.data[static_cast<std::size_t>(t2 * 256 + j)] =
            c.w.data[static_cast<std::size_t>(j * 3 + t2)];
    return t;
  }();
  ops::reference_options ro;
  ro.threads = 1;
  ro.want_magnitude = false;
  (void)ops::matmul(c.x, wt, &c.b, ro);  // the engine's workspaces, kept for the next call
  heap_meter m;
  const ops::op_result mm = ops::matmul(c.x, wt, &c.b, ro);
  const std::int64_t peak = m.peak();
  const ops::op_result lin = ops::linear(c.x, c.w, &c.b, ro);
  for (std::int64_t q = 0; q < mm.exact.size(); ++q)
    ASSERT_TRUE(test::same_bits(mm.exact.rounded(q), lin.exact.rounded(q))) << q;
  EXPECT_LE(peak, static_cast<std::int64_t>(mm.exact.memory_bytes()) + mm.exact.size() * 2);
}

// Every bias shape that broadcasts to a linear output (read once when it varies along n only,
// expanded otherwise) gives each element its own bias value: the exact result and the exact
// magnitude against direct exact sums, for x dense f64 and for x an f32 view too large to convert
// whole (the tiled path).
TEST(op_memory, every_bias_broadcast_adds_the_right_value) {
  std::mt19937_64 g(17);
  std::normal_distribution<double> nd(0.0, 1.0);
  const std::int64_t n = 3;
  for (const std::int64_t k : {std::int64_t{5}, std::int64_t{64}}) {
    // k = 64: 32773 rows of x, more than one converted tile (2^21 values).
    const std::int64_t b0 = 2, rows = k == 5 ? 3 : 32773 / b0 + 1;
    std::vector<float> xs(static_cast<std::size_t>(b0 * rows * k));
    for (auto& v : xs) v = static_cast<float>(nd(g));
    const tensor_view x(xs.data(), {b0, rows, k});
    tensor w;
    w.shape = {n, k};
    w.data.resize(static_cast<std::size_t>(n * k));
    for (auto& v : w.data) v = static_cast<double>(static_cast<float>(nd(g)));
    for (const std::vector<std::int64_t>& bs : std::vector<std::vector<std::int64_t>>{
             {}, {1}, {n}, {1, n}, {1, 1, n}, {rows, 1}, {rows, n}, {b0, 1, n}, {b0, rows, 1}}) {
      tensor b;
      b.shape = bs;
      b.data.resize(static_cast<std::size_t>(b.numel()));
      for (auto& v : b.data) v = static_cast<double>(static_cast<float>(nd(g)));
      ops::reference_options ro;
      ro.threads = 1;
      ro.magnitude_how = ops::magnitude_method::exact;
      const ops::op_result r = ops::linear(x, w, &b, ro);
      ASSERT_EQ(r.exact.size(), b0 * rows * n);
      // b's element for output (q, i, j), by PyTorch's broadcasting.
      auto bias_at = [&](std::int64_t q, std::int64_t i, std::int64_t j) {
        const std::int64_t idx[3] = {q, i, j};
        std::int64_t off = 0;
        for (std::size_t d = 0; d < bs.size(); ++d) {
          const std::int64_t id = idx[3 - bs.size() + d];
          off = off * bs[d] + (bs[d] == 1 ? 0 : id);
        }
        return b.data[static_cast<std::size_t>(off)];
      };
      const std::int64_t step = std::max<std::int64_t>(1, r.exact.size() / 997);
      for (std::int64_t o = 0; o < r.exact.size(); o += step) {
        const std::int64_t j = o % n, i = (o / n) % rows, q = o / (n * rows);
        exact::accumulator acc, mag;
        for (std::int64_t t = 0; t < k; ++t) {
          const double xv = xs[static_cast<std::size_t>((q * rows + i) * k + t)];
          const double wv = w.data[static_cast<std::size_t>(j * k + t)];
          acc.add_product(xv, wv);
          mag.add_product(std::fabs(xv), std::fabs(wv));
        }
        acc.add(bias_at(q, i, j));
        mag.add(std::fabs(bias_at(q, i, j)));
        ASSERT_TRUE(test::same_bits(r.exact.rounded(o), acc.round()))
            << "k " << k << " bias " << detail_shape(bs) << " element " << o;
        ASSERT_TRUE(test::same_bits(r.magnitude[static_cast<std::size_t>(o)],
                                    mag.round(exact::rounding::upward)))
            << "k " << k << " bias " << detail_shape(bs) << " element " << o;
      }
    }
  }
}

// A conv's data_terms depends on the output position only: one count per position.
TEST(op_memory, conv_counts_per_position_not_per_element) {
  tensor x = test::iota({4, 3, 10, 10}, 1), w = test::iota({8, 3, 3, 3}, 1);
  ops::conv_params p;
  p.padding = {1, 1};
  ops::reference_options ro;
  ro.threads = 1;
  const ops::op_result r = ops::conv(2, x, w, nullptr, p, ro);
  ASSERT_EQ(r.exact.size(), 4 * 8 * 10 * 10);
  EXPECT_EQ(r.terms.memory_bytes(), sizeof(std::int64_t));
  EXPECT_EQ(r.data_terms.memory_bytes(), 10 * 10 * sizeof(std::int64_t));
  // Corner: 2x2 valid taps, edge: 2x3, interior: 3x3 (times 3 input channels), in every batch
  // and output channel.
  const std::int64_t per_image = 10 * 10;
  for (std::int64_t img = 0; img < 4 * 8; ++img) {
    ASSERT_EQ(r.data_terms[img * per_image + 0], 3 * 4);
    ASSERT_EQ(r.data_terms[img * per_image + 5], 3 * 6);
    ASSERT_EQ(r.data_terms[img * per_image + 55], 3 * 9);
    ASSERT_EQ(r.terms[img * per_image + 55], 3 * 9);
  }
}

}  // namespace
}  // namespace roundoff
