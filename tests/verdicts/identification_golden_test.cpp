// Model identification's results do not change when its implementation gets faster (issue 14):
// on generated cases (emulated f32, tf32, bf16, f16 implementations, a planted fault, non-finite
// outputs, the sampled path of a large output) every field of every verdict and comparison (the
// consistent models, the explanation, the worst elements, the ratios, every candidate's tests
// and every nearest-input distance) equals tests/fixtures/identification/golden.txt, which the
// code before the change (commit dadfdf5, one reference per conversion per output, unhoisted
// signature tests) wrote on this project's x86-64 machine.
//
// The ratios and distances divide by T, the magnitude bound that check() forms with OpenBLAS
// DGEMM and a certified enlargement (docs/bounds.md §3.5); another BLAS (or kernel) may sum in
// another order and move T by an ulp, so doubles are compared to a relative 1e-12 and all else
// exactly. Set ROUNDOFF_WRITE_GOLDEN=<file> to write the dump instead (at the old code only).
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "../../src/verdicts/judging.hpp"  // internal: the reference cache
#include "emulate.hpp"
#include "linear_faults.hpp"
#include "roundoff/formats/convert.hpp"
#include "roundoff/verdicts/check.hpp"

namespace {

using namespace roundoff;
using roundoff::test::algo;

const ops::op_spec linear(ops::op_kind::linear);

// Portable data: std::mt19937_64 is specified bit for bit; the normals are Box-Muller by hand.
test::linear_problem make(std::int64_t M, std::int64_t N, std::int64_t K, std::uint64_t seed,
                          format_id f) {
  test::linear_problem p;
  p.M = M, p.N = N, p.K = K;
  std::mt19937_64 g(seed);
  auto u01 = [&] { return static_cast<double>(g() >> 11) * 0x1p-53; };
  auto fill = [&](tensor& t, std::vector<std::int64_t> shape) {
    t.shape = std::move(shape);
    t.type = f;
    t.data.resize(static_cast<std::size_t>(t.numel()));
    for (auto& v : t.data) {
      const double r = std::sqrt(-2 * std::log(1 - u01()));
      v = round_to(f, r * std::cos(6.283185307179586 * u01()));
    }
  };
  fill(p.x, {M, K});
  fill(p.w, {N, K});
  fill(p.b, {N});
  return p;
}

// One line per field; doubles as hex floats (exact) so that the reader can compare them.
struct dump {
  std::ostringstream s;
  void num(const char* name, double v) {
    char b[64];
    std::snprintf(b, sizeof b, "%a", v);
    s << "D " << name << ' ' << b << '\n';
  }
  void text(const char* name, const std::string& v) { s << "T " << name << ' ' << v << '\n'; }
  void integer(const char* name, std::int64_t v) { s << "T " << name << ' ' << v << '\n'; }
  void element(const verdicts::element_report& e) {
    integer("worst.index", e.index);
    num("worst.observed", e.observed);
    num("worst.exact", e.exact);
    num("worst.error", e.error);
    num("worst.bound", e.bound);
    num("worst.prob", e.probabilistic_bound);
    text("worst.category", std::string(verdicts::to_string(e.category)));
  }
  void verdict(const std::string& label, const verdicts::verdict& v) {
    text("verdict", label);
    text("kind", std::string(verdicts::to_string(v.kind)));
    text("declared", v.declared_model);
    text("order", v.order);
    integer("elements", v.elements);
    integer("n_consistent", v.n_consistent);
    integer("n_beyond_probabilistic", v.n_beyond_probabilistic);
    integer("n_beyond_deterministic", v.n_beyond_deterministic);
    integer("n_special_mismatch", v.n_special_mismatch);
    integer("n_no_bound", v.n_no_bound);
    integer("n_no_det", v.n_no_deterministic_bound);
    integer("n_no_prob", v.n_no_probabilistic_bound);
    num("max_ratio_det", v.max_ratio_deterministic);
    num("max_ratio_prob", v.max_ratio_probabilistic);
    for (const auto& e : v.worst) element(e);
    for (const auto& m : v.consistent_models) text("consistent_model", m);
    text("effective", v.effective_model);
    for (const auto& c : v.candidates) {
      text("candidate", c.model);
      text("c.flags",
           std::string() + (c.consistent ? 'C' : '-') + (c.within_deterministic ? 'D' : '-') +
               (c.within_probabilistic ? 'P' : '-') + (c.signature_clean ? 'S' : '-') +
               (c.rounds_inputs ? 'R' : '-') + (c.own_signature_found ? 'O' : '-') +
               (c.inputs_fit ? 'F' : '-') + (c.bounded ? 'B' : '-') + (c.output_fits ? 'U' : '-'));
      text("c.signature_of", c.signature_of);
      num("c.signature_score", c.signature_score);
      num("c.signature_slope", c.signature_slope);
      num("c.own_correlation", c.own_signature_correlation);
      num("c.max_ratio_det", c.max_ratio_deterministic);
      num("c.max_ratio_prob", c.max_ratio_probabilistic);
    }
    for (const auto& n : v.nearest_inputs) {
      text("nearest", n.inputs);
      num("nearest.distance", n.distance);
    }
    std::int64_t row_sum = 0;
    for (auto r : v.identification_rows) row_sum += r;
    integer("id_rows", static_cast<std::int64_t>(v.identification_rows.size()));
    integer("id_rows_sum", row_sum);
    integer("id_rows_total", v.identification_rows_total);
    integer("id_elements", v.identification_elements);
    text("explanation", v.explanation);
  }
  void comparison(const std::string& label, const verdicts::comparison& c) {
    text("comparison", label);
    text("kind", std::string(verdicts::to_string(c.kind)));
    integer("elements", c.elements);
    integer("n_beyond", c.n_beyond);
    integer("n_beyond_shared", c.n_beyond_shared);
    integer("n_special_mismatch", c.n_special_mismatch);
    integer("n_no_allowance", c.n_no_allowance);
    num("max_ratio", c.max_ratio);
    for (const auto& e : c.worst) {
      integer("cworst.index", e.index);
      num("cworst.difference", e.difference);
      num("cworst.allowed", e.allowed);
    }
    text("explanation", c.explanation);
  }
};

struct output {
  std::string name, declared;
  tensor y;
};

// Every output against one shared reference set (as `roundoff check` judges them), then every
// pair.
void judge_case(dump& d, int threads, const std::string& label, const test::linear_problem& p,
                const std::vector<output>& outs) {
  verdicts::check_options opt;
  opt.reference.threads = threads;
  verdicts::reference_set set({linear, p.x, p.w, &p.b}, opt.reference);
  std::vector<verdicts::verdict> vs;
  for (const auto& o : outs) {
    vs.push_back(verdicts::check(set, o.y, bounds::parse_model(o.declared), opt));
    d.verdict(label + "/" + o.name + " as " + o.declared, vs.back());
  }
  for (std::size_t i = 0; i < outs.size(); ++i)
    for (std::size_t j = i + 1; j < outs.size(); ++j)
      d.comparison(label + "/" + outs[i].name + " vs " + outs[j].name,
                   verdicts::compare(set, outs[i].y, vs[i], outs[j].y, vs[j], opt));
}

std::string all_cases(int threads) {
  dump d;
  std::mt19937_64 g(20261204);
  auto emu = [](const char* m, algo a = algo::sequential) { return test::make_emulator(m, a, 8); };
  {
    // The seed's question at a small size: F.linear-like and matmul-like f32 outputs, one that
    // ran in TF32, one in bf16, one with a planted fault, one with NaN and Inf in it.
    const auto p = make(8, 64, 512, 1, format_id::f32);
    std::vector<output> outs;
    outs.push_back({"f32-seq", "f32", test::run(p, emu("f32"), g)});
    outs.push_back({"f32-pairwise", "f32", test::run(p, emu("f32", algo::pairwise), g)});
    outs.push_back({"tf32", "f32", test::run(p, emu("tf32"), g)});
    outs.push_back({"bf16", "f32", test::run(p, emu("bf16"), g)});
    tensor bad = outs[0].y;
    test::dropped_term(3, 17)(const_cast<test::linear_problem&>(p), bad, g);
    outs.push_back({"fault", "f32", bad});
    tensor special = outs[1].y;
    special.data[5] = std::numeric_limits<double>::quiet_NaN();
    special.data[77] = std::numeric_limits<double>::infinity();
    outs.push_back({"special", "f32", special});
    outs.push_back({"tf32-as-tf32", "tf32", outs[2].y});
    judge_case(d, threads, "f32 8x64x512", p, outs);
  }
  {
    // Long sums: TF32 declared f32 is found by its signature.
    const auto p = make(8, 32, 4096, 2, format_id::f32);
    std::vector<output> outs;
    outs.push_back({"tf32-splitk", "f32", test::run(p, emu("tf32", algo::split_k), g)});
    outs.push_back({"f32-splitk", "f32", test::run(p, emu("f32", algo::split_k), g)});
    outs.push_back({"f16", "f32", test::run(p, emu("f16"), g)});
    judge_case(d, threads, "f32 8x32x4096", p, outs);
  }
  {
    // f16 and bf16 inputs: the inputs as given are the nearest, the coarser conversions differ.
    const auto p = make(6, 40, 256, 3, format_id::f16);
    std::vector<output> outs;
    outs.push_back({"f16", "f16", test::run(p, emu("f16"), g)});
    outs.push_back({"f16-acc16", "f16", test::run(p, emu("f16-acc16"), g)});
    outs.push_back({"bf16", "f16", test::run(p, emu("bf16"), g)});
    judge_case(d, threads, "f16 6x40x256", p, outs);
    const auto q = make(6, 40, 256, 4, format_id::bf16);
    std::vector<output> bouts;
    bouts.push_back({"bf16", "bf16", test::run(q, emu("bf16"), g)});
    bouts.push_back({"bf16-acc-bf16", "bf16", test::run(q, emu("bf16-acc-bf16"), g)});
    judge_case(d, threads, "bf16 6x40x256", q, bouts);
  }
  {
    // f64 inputs: every conversion changes them.
    const auto p = make(4, 48, 128, 5, format_id::f64);
    std::vector<output> outs;
    outs.push_back({"f64", "f64", test::run(p, emu("f64"), g)});
    outs.push_back({"f32", "f64", test::run(p, emu("f32"), g)});
    outs.push_back({"tf32", "f32", test::run(p, emu("tf32"), g)});
    judge_case(d, threads, "f64 4x48x128", p, outs);
  }
  {
    // Above 2^18 outputs: identification on a sample of rows.
    const auto p = make(4096, 72, 16, 6, format_id::f32);
    std::vector<output> outs;
    outs.push_back({"f32", "f32", test::run(p, emu("f32"), g)});
    outs.push_back({"tf32", "f32", test::run(p, emu("tf32"), g)});
    judge_case(d, threads, "f32 4096x72x16", p, outs);
  }
  return d.s.str();
}

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> r;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) r.push_back(l);
  return r;
}

// "D name value" lines: equal within a relative 1e-12 (see the file comment); others exactly.
bool same_line(const std::string& got, const std::string& want) {
  if (got == want) return true;
  if (got.rfind("D ", 0) != 0 || want.rfind("D ", 0) != 0) return false;
  const auto gs = got.rfind(' '), ws = want.rfind(' ');
  if (got.substr(0, gs) != want.substr(0, ws)) return false;
  const double a = std::strtod(got.c_str() + gs + 1, nullptr);
  const double b = std::strtod(want.c_str() + ws + 1, nullptr);
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  if (std::isinf(a) || std::isinf(b)) return a == b;
  return std::fabs(a - b) <= 1e-12 * std::max(std::fabs(a), std::fabs(b));
}

// At 1 and 2 threads (the judging loops split elements among threads; the results may not
// depend on it).
class IdentificationGolden : public ::testing::TestWithParam<int> {};

TEST_P(IdentificationGolden, EveryResultEqualsTheCodeBeforeTheSpeedWork) {
  const std::string got = all_cases(GetParam());
  if (const char* out = std::getenv("ROUNDOFF_WRITE_GOLDEN")) {
    std::ofstream(out) << got;
    GTEST_SKIP() << "wrote " << out;
  }
  std::ifstream f(ROUNDOFF_IDENTIFICATION_GOLDEN);
  ASSERT_TRUE(f) << "cannot read " << ROUNDOFF_IDENTIFICATION_GOLDEN;
  std::stringstream want;
  want << f.rdbuf();
  const auto g = lines_of(got), w = lines_of(want.str());
  std::size_t bit_equal = 0, context = 0;
  for (std::size_t i = 0; i < std::min(g.size(), w.size()); ++i) {
    if (g[i].rfind("T verdict ", 0) == 0 || g[i].rfind("T comparison ", 0) == 0) context = i;
    bit_equal += g[i] == w[i];
    ASSERT_TRUE(same_line(g[i], w[i]))
        << "line " << i + 1 << " (in " << g[context] << ")\n got  " << g[i] << "\n want " << w[i];
  }
  ASSERT_EQ(g.size(), w.size());
  // How many lines matched bit for bit (all of them where the golden file was written).
  std::cout << "  " << bit_equal << " of " << w.size() << " lines bit-equal\n";
  // The cases exercise what they claim: a TF32 output is identified, signatures are formed.
  EXPECT_NE(got.find("T effective tf32-rne"), std::string::npos);
  EXPECT_NE(got.find("T c.signature_of tf32-rne"), std::string::npos);
  EXPECT_NE(got.find("T kind violation"), std::string::npos);
  EXPECT_NE(got.find("T id_rows_total 4096"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(Threads, IdentificationGolden, ::testing::Values(1, 2));

}  // namespace

// The ties-away reference of linear that reference_cache derives from the ties-to-even one plus
// exact products at the ties (docs/verdicts.md §3, "Work done once") equals ops::evaluate on the
// inputs converted in full, value for value (exact difference zero), and its T equals the DGEMM
// bound over those inputs: f32 data with planted tf32 ties (the 13 dropped bits exactly half a
// unit; some round up under both rules, some only under ties-away), few enough for the derivation.
TEST(IdentificationTiesAway, DerivedReferenceEqualsFullEvaluation) {
  for (const std::int64_t threads : {1, 2}) {
    auto p = make(8, 64, 512, 7, format_id::f32);
    std::mt19937_64 g(99);
    auto plant = [&](tensor& t, int count) {
      for (int q = 0; q < count; ++q) {
        double& v = t.data[static_cast<std::size_t>(g() % t.data.size())];
        std::uint32_t bits = std::bit_cast<std::uint32_t>(static_cast<float>(v));
        bits = (bits & ~0x1FFFu) | 0x1000u | (q % 2 ? 0x2000u : 0u);  // tie; kept LSB odd/even
        v = static_cast<double>(std::bit_cast<float>(bits));
      }
    };
    plant(p.x, 6);
    plant(p.w, 40);
    ops::reference_options ro;
    ro.threads = static_cast<int>(threads);
    ro.want_magnitude = true;
    ro.magnitude_how = ops::magnitude_method::blas_bound;
    verdicts::detail::reference_cache cache({linear, p.x, p.w, &p.b}, ro);
    const ops::op_result& away = cache.converted(format_id::tf32, conversion::nearest_away,
                                                 format_id::f32, underflow_mode::gradual);
    const ops::op_result& even = cache.converted(format_id::tf32, conversion::nearest_even,
                                                 format_id::f32, underflow_mode::gradual);
    ASSERT_NE(&away, &even);
    const tensor xa = verdicts::convert_tensor(p.x, format_id::tf32, conversion::nearest_away);
    const tensor wa = verdicts::convert_tensor(p.w, format_id::tf32, conversion::nearest_away);
    const tensor ba = verdicts::round_tensor(p.b, format_id::f32);
    ops::reference_options exact_only = ro;
    exact_only.want_magnitude = false;
    const ops::op_result full = ops::evaluate({linear, xa, wa, &ba}, exact_only);
    ASSERT_EQ(away.exact.size(), full.exact.size());
    exact::accumulator a, b;
    std::int64_t moved = 0;
    for (std::int64_t i = 0; i < full.exact.size(); ++i) {
      away.exact.load(i, a);
      full.exact.load(i, b);
      b.negate();
      a.add(b);
      ASSERT_EQ(a.sign(), 0) << "element " << i << ", threads " << threads;
      EXPECT_EQ(away.exact.rounded(i), full.exact.rounded(i));
      moved += away.exact.rounded(i) != even.exact.rounded(i);
    }
    EXPECT_GT(moved, 0);  // the ties moved some outputs: the two references differ
    EXPECT_EQ(away.terms, full.terms);
    EXPECT_EQ(away.has_bias, full.has_bias);
    const tensor_view bv(ba);
    const auto t = verdicts::detail::magnitude_by_blocks(linear, xa, wa, &bv, ro.threads);
    ASSERT_TRUE(t.has_value());
    EXPECT_EQ(away.magnitude, *t);
  }
}
