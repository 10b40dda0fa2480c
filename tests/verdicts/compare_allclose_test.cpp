// The table in docs/verdicts.md ("roundoff vs allclose"): on the same generated cases, how often
// roundoff, torch.testing.assert_close defaults and np.allclose defaults flag correct
// implementations (false alarms) and planted faults (detections). The allclose criteria are
// re-implemented from their documentation against the exact result rounded to double (the most
// favourable reference they could be given):
//   np.allclose(a, ref):          |a - ref| <= 1e-8 + 1e-5 |ref|  (= torch.allclose defaults)
//   np.testing.assert_allclose:   |a - ref| <= 1e-7 |ref|          (rtol 1e-7, atol 0)
//   torch.testing.assert_close:   |a - ref| <= atol + rtol |ref|, by the output dtype:
//                                 f64 (1e-7, 1e-7), f32 (1e-5, 1.3e-6), f16 (1e-5, 1e-3),
//                                 bf16 (1e-5, 1.6e-2); NaN never equal.
// Run: ./verdicts_compare_allclose_test (prints the markdown table; ROUNDOFF_TABLE_OUT=file also
// writes it).
#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <sstream>

#include "emulate.hpp"
#include "linear_faults.hpp"
#include "property.hpp"
#include "roundoff/verdicts/check.hpp"

namespace {

using namespace roundoff;
using roundoff::test::algo;
using roundoff::test::run;

using problem = test::linear_problem;

problem make(std::int64_t K, std::mt19937_64& g, format_id f, int data) {
  problem p;
  p.M = 8, p.N = 32, p.K = K;
  std::normal_distribution<double> nd;
  std::uniform_real_distribution<double> ud;
  auto fill = [&](tensor& t, std::vector<std::int64_t> s) {
    t.shape = s;
    t.type = f;
    t.data.resize(static_cast<std::size_t>(t.numel()));
    for (auto& v : t.data) v = round_to(f, data == 1 ? ud(g) : nd(g));
  };
  fill(p.x, {p.M, K});
  fill(p.w, {p.N, K});
  fill(p.b, {p.N});
  if (data == 2)  // cancellation: second half of each x row is minus the first, same w
    for (std::int64_t i = 0; i < p.M; ++i)
      for (std::int64_t k = 0; k + 1 < K; k += 2) {
        p.x.data[static_cast<std::size_t>(i * K + k + 1)] =
            round_to(f, -p.x.data[static_cast<std::size_t>(i * K + k)] * (1 + 1e-3 * nd(g)));
        for (std::int64_t n = 0; n < p.N; ++n)
          p.w.data[static_cast<std::size_t>(n * K + k + 1)] =
              p.w.data[static_cast<std::size_t>(n * K + k)];
      }
  return p;
}

// Blocks of 16 for the blocked algorithms.
test::emulator emu(const std::string& m, algo a) {
  return test::make_emulator(m, a, 16);
}

format_id dtype_of(const std::string& m) {
  if (m == "bf16") return format_id::bf16;
  if (m == "f16" || m == "f16-acc16") return format_id::f16;
  if (m == "f64") return format_id::f64;
  return format_id::f32;
}

bool allclose(const tensor& y, const std::vector<double>& ref, double rtol, double atol) {
  for (std::size_t i = 0; i < y.data.size(); ++i) {
    double a = y.data[i], r = ref[i];
    if (std::isnan(a) || std::isnan(r)) return false;
    if (std::isinf(a) || std::isinf(r)) {
      if (a != r) return false;
      continue;
    }
    if (!(std::fabs(a - r) <= atol + rtol * std::fabs(r))) return false;
  }
  return true;
}

std::pair<double, double> torch_tol(format_id out) {
  switch (out) {
    case format_id::f64:
      return {1e-7, 1e-7};
    case format_id::f16:
      return {1e-3, 1e-5};
    case format_id::bf16:
      return {1.6e-2, 1e-5};
    default:
      return {1.3e-6, 1e-5};
  }
}

struct row {
  std::int64_t cases = 0, roundoff = 0, roundoff_violation = 0, torch = 0, numpy = 0,
               numpy_testing = 0;
  std::map<std::int64_t, std::int64_t> unflagged_by_k;  // cases roundoff did not flag, by K
};

TEST(BoundsCompareAllclose, Table) {
  auto g = roundoff::test::rng(0x7AB1E);
  const ops::op_spec linear(ops::op_kind::linear);
  std::map<std::string, row> correct, faults;
  std::vector<std::string> correct_order, fault_order;
  auto judge = [&](std::map<std::string, row>& tab, std::vector<std::string>& order,
                   const std::string& key, const problem& p, const tensor& y,
                   const std::string& declared) {
    if (!tab.count(key)) order.push_back(key);
    auto& r = tab[key];
    auto ref = ops::evaluate({linear, p.x, p.w, &p.b});
    auto v = verdicts::check({linear, p.x, p.w, &p.b}, y, declared);
    auto [rt, at] =
        torch_tol(dtype_of(declared) == format_id::f32 ? format_id::f32
                                                       : bounds::parse_model(declared).output);
    ++r.cases;
    r.roundoff += v.kind != verdicts::verdict_kind::consistent;
    if (v.kind == verdicts::verdict_kind::consistent) r.unflagged_by_k[p.K]++;
    r.roundoff_violation += v.kind == verdicts::verdict_kind::violation;
    r.torch += !allclose(y, ref.exact.rounded(), rt, at);
    r.numpy += !allclose(y, ref.exact.rounded(), 1e-5, 1e-8);
    r.numpy_testing += !allclose(y, ref.exact.rounded(), 1e-7, 0);
    return v;
  };
  const std::int64_t reps = roundoff::test::iterations(2);
  const algo algs[] = {algo::sequential, algo::pairwise, algo::split_k, algo::block_fma, algo::fma};
  for (std::int64_t rep = 0; rep < reps; ++rep)
    for (const auto& m : bounds::presets())
      for (std::int64_t K : {16, 256, 4096})
        for (int data : {0, 1, 2}) {
          auto p = make(K, g, dtype_of(m.name), data);
          auto e = emu(m.name, algs[g() % 5]);
          tensor y = run(p, e, g);
          auto v = judge(correct, correct_order, "correct " + m.name, p, y, m.name);
          EXPECT_EQ(v.kind, verdicts::verdict_kind::consistent)
              << m.name << " K=" << K << " data " << data << ": " << v.explanation;
        }

  // Faults, declared f32 on f32 data (and f16 for the accumulation fault).
  const std::vector<std::pair<std::string, test::plant_fn>> plants = {
      {"dropped term (largest)", test::dropped_term(1, 2)},
      {"bias missing", test::extra_bias(-1)},
      {"bias doubled", test::extra_bias(+1)},
      {"wrong weight row", test::wrong_weight_row(3, 4, emu("f32", algo::sequential))},
      {"sign flip (largest term)", test::sign_flip(2, 5)},
      {"one element x (1 + 1e-3)", test::perturbed_largest(1e-3)},
      {"zeroed 4x8 tile", test::zeroed_4x8_tile()},
      {"one NaN", [](problem&, tensor& y, std::mt19937_64&) { y.data[7] = std::nan(""); }},
  };
  for (std::int64_t rep = 0; rep < reps; ++rep)
    for (std::int64_t K : {16, 256, 4096})
      for (int data : {0, 1, 2}) {
        auto p = make(K, g, format_id::f32, data);
        tensor y0 = run(p, emu("f32", algs[g() % 5]), g);
        for (auto& [name, plant] : plants) {
          tensor y = y0;
          plant(p, y, g);
          judge(faults, fault_order, name, p, y, "f32");
        }
        // Lower precision than declared.
        judge(faults, fault_order, "tf32 declared f32", p, run(p, emu("tf32", algo::split_k), g),
              "f32");
        judge(faults, fault_order, "bf16 declared f32", p, run(p, emu("bf16", algo::split_k), g),
              "f32");
        judge(faults, fault_order, "f32 declared f64", p, run(p, emu("f32", algo::pairwise), g),
              "f64");
        auto ph = make(K, g, format_id::f16, data);
        if (K <= 4096)
          judge(faults, fault_order, "f16 accumulation declared f16", ph,
                run(ph, emu("f16-acc16", algo::sequential), g), "f16");
      }
  for (std::int64_t rep = 0; rep < reps; ++rep) {
    problem p = make(16384, g, format_id::f32, 0);  // 8 x 32 = 256 outputs
    judge(faults, fault_order, "tf32 declared f32, K = 16384", p,
          run(p, emu("tf32", algo::split_k), g), "f32");
  }

  std::ostringstream t;
  t << "| case | cases | roundoff flags (violation) | torch.testing.assert_close | np.allclose "
       "| np.testing.assert_allclose | roundoff: faults not flagged, by K |\n"
    << "|---|---:|---:|---:|---:|---:|---|\n";
  auto line = [&](const std::string& k, const row& r, bool fault) {
    t << "| " << k << " | " << r.cases << " | " << r.roundoff << " (" << r.roundoff_violation
      << ") | " << r.torch << " | " << r.numpy << " | " << r.numpy_testing << " | ";
    if (fault)
      for (auto& [kk, c] : r.unflagged_by_k) t << "K=" << kk << ": " << c << " ";
    t << "|\n";
  };
  row fa_tot, det_tot;
  for (auto& k : correct_order) {
    line(k + " (false alarms)", correct[k], false);
    fa_tot.cases += correct[k].cases, fa_tot.roundoff += correct[k].roundoff;
    fa_tot.torch += correct[k].torch, fa_tot.numpy += correct[k].numpy;
    fa_tot.numpy_testing += correct[k].numpy_testing;
  }
  line("**all correct implementations (false alarms)**", fa_tot, false);
  for (auto& k : fault_order) {
    line(k + " (detections)", faults[k], true);
    det_tot.cases += faults[k].cases, det_tot.roundoff += faults[k].roundoff;
    det_tot.roundoff_violation += faults[k].roundoff_violation;
    det_tot.torch += faults[k].torch, det_tot.numpy += faults[k].numpy;
    det_tot.numpy_testing += faults[k].numpy_testing;
  }
  line("**all planted faults (detections)**", det_tot, true);
  std::cout << t.str();
  if (const char* f = std::getenv("ROUNDOFF_TABLE_OUT"); f && *f) std::ofstream(f) << t.str();
  EXPECT_EQ(fa_tot.roundoff, 0);
}

}  // namespace
