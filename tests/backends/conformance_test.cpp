// The shared conformance suite (Boost.Multiprecision's habit): one value-parameterized suite,
// instantiated for every registered backend of one device. For every op a backend supports, on
// seed-size problems, the observed output must be judged `consistent` with the backend's declared
// model by the verdict API (roundoff::verdicts::check, an independent oracle: exact results from
// the ops layer). Test-only faulty backends must be flagged, and the seed question is answered:
// F.linear and x @ W.T + b are both consistent, and how many of their outputs differ (thousands
// with MKL on AVX2; a property of the machine's kernels, so reported, not asserted).
//
// Compiled twice: ROUNDOFF_CONFORMANCE_DEVICE "cpu" (backends_conformance_test) and "cuda"
// (backends_gpu_test, label gpu, skips without a device).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <random>
#include <sstream>

#include "property.hpp"
#include "roundoff/backends/backend.hpp"
#include "roundoff/error.hpp"
#include "roundoff/verdicts/check.hpp"

#ifndef ROUNDOFF_CONFORMANCE_DEVICE
#define ROUNDOFF_CONFORMANCE_DEVICE "cpu"
#endif

namespace {

using namespace roundoff;
using backends::backend;
using ops::op_kind;
using shape_t = std::vector<std::int64_t>;

constexpr const char* device = ROUNDOFF_CONFORMANCE_DEVICE;

struct op_case {
  std::string label;
  ops::op_spec op;
  shape_t x, w;
  std::optional<shape_t> b;
};

ops::op_spec conv_spec(
    op_kind k, shape_t stride, shape_t padding, shape_t dilation, std::int64_t groups,
    shape_t output_padding = {},
    ops::conv_params::padding_kind pad = ops::conv_params::padding_kind::explicit_,
    ops::padding_mode mode = ops::padding_mode::zeros) {
  ops::op_spec s(k);
  s.conv.stride = std::move(stride);
  s.conv.padding = std::move(padding);
  s.conv.dilation = std::move(dilation);
  s.conv.groups = groups;
  s.conv.output_padding = std::move(output_padding);
  s.conv.pad = pad;
  s.conv.mode = mode;
  return s;
}

ops::op_spec plain(op_kind k) {
  ops::op_spec s(k);
  return s;
}

// The seed case of the forum thread: x 32x2048, W 512x2048, b 512.
op_case seed_linear() {
  return {"seed", plain(op_kind::linear), {32, 2048}, {512, 2048}, shape_t{512}};
}

// Seed-size problems per op; convolutions smaller to keep CI fast, but covering stride, padding
// ('same', asymmetric, reflect), dilation, groups (incl. depthwise), output_padding, no bias.
std::vector<op_case> cases_for(op_kind k) {
  using pk = ops::conv_params::padding_kind;
  switch (k) {
    case op_kind::linear:
      return {seed_linear(), {"lead_dims_nobias", plain(k), {2, 3, 17}, {5, 17}, std::nullopt}};
    case op_kind::matmul:
      return {{"broadcast_bias", plain(k), {2, 1, 16, 256}, {3, 256, 24}, shape_t{24}},
              {"vector_matrix", plain(k), {300}, {300, 7}, std::nullopt}};
    case op_kind::bmm:
      return {{"bias", plain(k), {4, 16, 512}, {4, 512, 24}, shape_t{24}}};
    case op_kind::addmm:
      return {{"bias", plain(k), {32, 1024}, {1024, 64}, shape_t{64}}};
    case op_kind::conv1d:
      return {{"stride_dil_groups",
               conv_spec(k, {2}, {3}, {2}, 2),
               {2, 8, 50},
               {16, 4, 5},
               shape_t{16}},
              {"same_reflect",
               conv_spec(k, {}, {}, {2}, 1, {}, pk::same, ops::padding_mode::reflect),
               {1, 4, 20},
               {6, 4, 4},
               shape_t{6}}};
    case op_kind::conv2d:
      return {{"stride_pad_groups",
               conv_spec(k, {2, 1}, {1, 2}, {1}, 2),
               {2, 6, 12, 12},
               {8, 3, 3, 3},
               shape_t{8}},
              {"depthwise_same",
               conv_spec(k, {}, {}, {}, 4, {}, pk::same),
               {1, 4, 9, 9},
               {4, 1, 3, 3},
               std::nullopt},
              {"wide", conv_spec(k, {}, {1}, {}, 1), {1, 64, 8, 8}, {16, 64, 3, 3}, shape_t{16}}};
    case op_kind::conv3d:
      return {{"stride_pad",
               conv_spec(k, {2}, {1}, {}, 1),
               {1, 4, 6, 6, 6},
               {6, 4, 3, 3, 3},
               shape_t{6}}};
    case op_kind::conv_transpose1d:
      return {
          {"stride_outpad", conv_spec(k, {2}, {1}, {}, 1, {1}), {2, 4, 10}, {4, 3, 3}, shape_t{3}}};
    case op_kind::conv_transpose2d:
      return {{"groups_dil",
               conv_spec(k, {2}, {1}, {2}, 2, {1}),
               {1, 4, 5, 5},
               {4, 2, 3, 3},
               shape_t{4}}};
    case op_kind::conv_transpose3d:
      return {
          {"stride", conv_spec(k, {2}, {}, {}, 1), {1, 2, 3, 4, 4}, {2, 3, 2, 2, 2}, std::nullopt}};
  }
  return {};
}

tensor random_tensor(const shape_t& s, format_id f, std::mt19937_64& g) {
  tensor t;
  t.shape = s;
  t.type = f;
  std::normal_distribution<double> nd(0.0, 1.0);
  t.data.resize(static_cast<std::size_t>(t.numel()));
  for (auto& v : t.data) v = round_to(f, nd(g));
  return t;
}

std::uint64_t salt_of(const std::string& s) {
  return std::hash<std::string>{}(s);
}

struct inputs {
  tensor x, w, b;
  bool has_b = false;
  const tensor* bias() const { return has_b ? &b : nullptr; }
};

inputs make_inputs(const op_case& c, format_id f, const std::string& salt) {
  auto g = roundoff::test::rng(salt_of(salt));
  inputs in;
  in.x = random_tensor(c.x, f, g);
  in.w = random_tensor(c.w, f, g);
  if (c.b) {
    in.b = random_tensor(*c.b, f, g);
    in.has_b = true;
  }
  return in;
}

std::string describe(const verdicts::verdict& v) {
  std::ostringstream o;
  o << "verdict " << verdicts::to_string(v.kind) << " (declared " << v.declared_model
    << ", effective " << v.effective_model << "): " << v.explanation << "; max ratio det "
    << v.max_ratio_deterministic << ", prob " << v.max_ratio_probabilistic;
  if (!v.worst.empty()) {
    const auto& e = v.worst.front();
    o << "; worst element " << e.index << ": observed " << e.observed << ", exact " << e.exact
      << ", error " << e.error << ", bound " << e.bound;
  }
  return o.str();
}

std::vector<std::string> device_backends() {
  std::vector<std::string> r;
  for (const backend* b : backends::builtin_registry().all())
    if (b->name().device == device) r.push_back(b->full_name());
  return r;
}

// Backends whose real implementation computes in a coarser arithmetic than the preset its dtype
// suggests on some machines: a roundoff finding, reported (never asserted: it depends on which
// kernel LibTorch picks on the CPU that runs the suite) by known_findings below. The suite still
// runs them and requires no special-value mismatch, but not `consistent`.
const std::map<std::string, std::string>& known_deviations() {
  static const std::map<std::string, std::string> m = {
      {"torch.cpu.conv_transpose1d.bf16", "sums kernel taps in bf16 (col2im into a bf16 output)"},
      {"torch.cpu.conv_transpose2d.bf16", "sums kernel taps in bf16 (col2im into a bf16 output)"},
      {"torch.cpu.conv_transpose3d.bf16", "sums kernel taps in bf16 (col2im into a bf16 output)"}};
  return m;
}

class conformance : public ::testing::TestWithParam<std::string> {};

TEST_P(conformance, every_supported_op_is_consistent_with_the_declared_model) {
  const backend* be = backends::builtin_registry().find(GetParam());
  ASSERT_NE(be, nullptr);
  if (auto a = be->available(); !a.available) GTEST_SKIP() << GetParam() << ": " << a.reason;
  for (op_kind k : be->supported_ops()) {
    for (const op_case& c : cases_for(k)) {
      const std::string where = GetParam() + " " + std::string(ops::op_name(k)) + "/" + c.label;
      SCOPED_TRACE(where);
      auto in = make_inputs(c, be->storage_format(), where);
      auto r = be->run(c.op, in.x, in.w, in.bias());
      EXPECT_EQ(r.info.inputs_rounded, 0);
      EXPECT_EQ(r.output.shape, ops::output_shape({c.op, in.x, in.w, in.bias()}));
      auto v = verdicts::check({c.op, in.x, in.w, in.bias()}, r.output, be->model());
      if (auto kd = known_deviations().find(GetParam()); kd != known_deviations().end()) {
        EXPECT_EQ(v.n_special_mismatch, 0) << where << ": " << describe(v);
        if (v.kind != verdicts::verdict_kind::consistent)
          std::cerr << "[known deviation: " << kd->second << "] " << where << ": " << describe(v)
                    << '\n';
        continue;
      }
      EXPECT_EQ(v.kind, verdicts::verdict_kind::consistent)
          << where << ": " << describe(v) << "; " << roundoff::test::replay(0);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(registered, conformance, ::testing::ValuesIn(device_backends()),
                         [](const ::testing::TestParamInfo<std::string>& p) {
                           std::string s = p.param;
                           std::replace(s.begin(), s.end(), '.', '_');
                           return s;
                         });

// ---- Faulty backends, registered only here: the same check must flag them. ----------------

// A thin adapter over a real backend that tampers with what it computes.
class faulty_backend final : public backend {
 public:
  enum class fault { drop_first_term, silent_tf32_inputs };
  faulty_backend(std::string formulation, const backend& inner, fault f)
      : backend({"test", inner.name().device, std::move(formulation), "f32"}, "f32", format_id::f32,
                {op_kind::linear}),
        inner_(inner),
        fault_(f) {}
  backends::availability available() const override { return inner_.available(); }

 protected:
  void do_run(const ops::op_spec& op, const tensor& x, const tensor& w, const tensor* b,
              const shape_t&, const backends::run_options& opt,
              backends::run_result& r) const override {
    tensor x2 = x, w2 = w;
    const std::int64_t K = x.shape.back();
    if (fault_ == fault::drop_first_term) {
      for (std::int64_t i = 0; i < x2.numel(); i += K) x2.data[static_cast<std::size_t>(i)] = 0;
    } else {  // what allow_tf32 does behind an fp32 API: inputs rounded to 10-bit mantissas
      x2 = verdicts::round_tensor(x, format_id::tf32);
      w2 = verdicts::round_tensor(w, format_id::tf32);
      x2.type = w2.type = format_id::f32;
    }
    auto inner = inner_.run(op, x2, w2, b, opt);
    r.output.data = std::move(inner.output.data);
    r.info = inner.info;
    r.info.backend = full_name();
  }

 private:
  const backend& inner_;
  fault fault_;
};

const char* reference_f32_backend() {
  return std::string_view(device) == "cpu" ? "naive.cpu.sequential.f32" : "cublas.cuda.sgemm.f32";
}

TEST(faulty_backends, are_flagged_by_the_conformance_check) {
  const backend* inner = backends::builtin_registry().find(reference_f32_backend());
  ASSERT_NE(inner, nullptr);
  if (auto a = inner->available(); !a.available) GTEST_SKIP() << a.reason;
  backends::registry test_only;
  test_only.add(std::make_unique<faulty_backend>("dropped_term", *inner,
                                                 faulty_backend::fault::drop_first_term));
  test_only.add(std::make_unique<faulty_backend>("silent_tf32", *inner,
                                                 faulty_backend::fault::silent_tf32_inputs));
  const op_case c = seed_linear();
  for (const backend* be : test_only.all()) {
    SCOPED_TRACE(be->full_name());
    auto in = make_inputs(c, format_id::f32, be->full_name());
    auto r = be->run(c.op, in.x, in.w, in.bias());
    auto v = verdicts::check({c.op, in.x, in.w, in.bias()}, r.output, be->model());
    EXPECT_NE(v.kind, verdicts::verdict_kind::consistent) << describe(v);
    if (be->name().formulation == "dropped_term") {
      EXPECT_EQ(v.kind, verdicts::verdict_kind::violation) << describe(v);
    } else {
      // Identified with the conversion it used (round_to: to nearest, ties to even).
      EXPECT_EQ(v.effective_model, "tf32-rne") << describe(v);
    }
    std::cerr << "[faulty] " << be->full_name() << ": " << describe(v) << '\n';
  }
}

// ---- The seed question. -------------------------------------------------------------------

TEST(seed_question, linear_and_matmul_add_both_consistent_however_many_outputs_differ) {
  const std::string a_name = std::string("torch.") + device + ".linear.f32";
  const std::string b_name =
      std::string_view(device) == "cpu" ? "torch.cpu.matmul_add.f32" : "cublas.cuda.sgemm.f32";
  const backend* a = backends::builtin_registry().find(a_name);
  const backend* b = backends::builtin_registry().find(b_name);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  for (const backend* be : {a, b})
    if (auto av = be->available(); !av.available)
      GTEST_SKIP() << be->full_name() << ": " << av.reason;
  const op_case c = seed_linear();
  auto in = make_inputs(c, format_id::f32, "seed question");
  auto ra = a->run(c.op, in.x, in.w, in.bias());
  auto rb = b->run(c.op, in.x, in.w, in.bias());
  std::int64_t differ = 0;
  double sum_abs = 0;
  for (std::size_t i = 0; i < ra.output.data.size(); ++i) {
    differ += ra.output.data[i] != rb.output.data[i];
    sum_abs += std::abs(ra.output.data[i] - rb.output.data[i]);
  }
  auto va = verdicts::check({c.op, in.x, in.w, in.bias()}, ra.output, a->model());
  auto vb = verdicts::check({c.op, in.x, in.w, in.bias()}, rb.output, b->model());
  auto cmp = verdicts::compare({c.op, in.x, in.w, in.bias()}, ra.output, a->model(), rb.output,
                               b->model());
  std::cerr << "[seed] " << a_name << " vs " << b_name << ": " << differ << " of "
            << ra.output.data.size() << " outputs differ, sum |diff| = " << sum_abs
            << "; comparison " << verdicts::to_string(cmp.kind) << " (max ratio " << cmp.max_ratio
            << ")\n[seed] " << a_name << ": " << describe(va) << "\n[seed] " << b_name << ": "
            << describe(vb) << '\n';
  EXPECT_EQ(va.kind, verdicts::verdict_kind::consistent) << describe(va);
  EXPECT_EQ(vb.kind, verdicts::verdict_kind::consistent) << describe(vb);
  EXPECT_EQ(cmp.kind, verdicts::verdict_kind::consistent) << cmp.explanation;
  // How many outputs differ is the two kernels' business and depends on the machine (torch 2.15,
  // MKL, AVX2: ~9400 of 16384): reported above and recorded, not asserted.
  RecordProperty("outputs_differing", static_cast<int>(differ));
}

}  // namespace

namespace {

// On a GPU: TF32 behind an fp32 declaration is caught (model identification), for both the
// LibTorch path (fp32_precision = tf32) and cuBLAS's CUBLAS_COMPUTE_32F_FAST_TF32.
TEST(tf32_detection, tf32_outputs_declared_f32_are_not_consistent) {
  if (std::string_view(device) != "cuda") GTEST_SKIP() << "CUDA-only test";
  for (const char* name : {"torch.cuda.linear.tf32", "cublas.cuda.sgemm.tf32"}) {
    SCOPED_TRACE(name);
    const backend* be = backends::builtin_registry().find(name);
    ASSERT_NE(be, nullptr);
    if (auto a = be->available(); !a.available) GTEST_SKIP() << name << ": " << a.reason;
    const op_case c = seed_linear();
    auto in = make_inputs(c, format_id::f32, name);
    auto r = be->run(c.op, in.x, in.w, in.bias());
    auto as_f32 = verdicts::check({c.op, in.x, in.w, in.bias()}, r.output, "f32");
    auto as_tf32 = verdicts::check({c.op, in.x, in.w, in.bias()}, r.output, "tf32");
    std::cerr << "[tf32] " << name << " declared f32: " << describe(as_f32) << '\n';
    EXPECT_NE(as_f32.kind, verdicts::verdict_kind::consistent) << describe(as_f32);
    // A TF32 preset (tf32-rne for cuBLAS on the H200; the tie rule is the kernel's business).
    EXPECT_EQ(bounds::preset_rank(as_f32.effective_model), bounds::preset_rank("tf32"))
        << describe(as_f32);
    EXPECT_EQ(as_tf32.kind, verdicts::verdict_kind::consistent) << describe(as_tf32);
  }
}

}  // namespace

namespace {

// Report, not assertion (issue 10, item 7). With torch 2.15 on a 2-core AVX2 x86-64, bf16
// conv_transposeNd summed its kernel taps in bf16 and exceeded the deterministic bound of the bf16
// preset (bf16 inputs, f32 accumulation, one bf16 rounding) up to 1.2e3 times, while the
// mathematically identical direct convolution (kernel flipped, padding k-1) on the same data was
// consistent. On an Intel Xeon with AVX-512, oneDNN accumulates in f32 and the same cases are
// consistent (0.86-0.95 of the bound). Which kernel runs is LibTorch's choice on the machine, so
// this test prints and records what it measured ("[finding] ... " on stderr, ratio_* properties in
// the gtest XML) and asserts only what holds everywhere: every output is judged and finite, and
// the verdict is a violation exactly when some output is beyond the deterministic bound (or a
// special value mismatches): never a violation for outputs within the bound. One input and one
// output channel, stride 1: every output is a sum of up to k^d single products.
TEST(known_findings, torch_cpu_bf16_conv_transpose_accumulates_taps_in_bf16) {
  if (std::string_view(device) != "cpu") GTEST_SKIP() << "CPU finding; run by the cpu suite";
  // Machine-independent properties of one judged output.
  auto expect_sound = [](const verdicts::verdict& v, const tensor& y) {
    EXPECT_EQ(v.elements, y.numel()) << describe(v);
    const bool finite =
        std::all_of(y.data.begin(), y.data.end(), [](double t) { return std::isfinite(t); });
    EXPECT_TRUE(finite) << describe(v);
    EXPECT_EQ(v.n_special_mismatch, 0) << describe(v);
    EXPECT_TRUE(std::isfinite(v.max_ratio_deterministic)) << describe(v);
    const bool beyond = v.n_beyond_deterministic > 0 || v.n_special_mismatch > 0;
    if (beyond)
      EXPECT_EQ(v.kind, verdicts::verdict_kind::violation) << describe(v);
    else
      EXPECT_NE(v.kind, verdicts::verdict_kind::violation) << describe(v);
  };
  for (int d = 1; d <= 3; ++d) {
    SCOPED_TRACE(d);
    const std::string sd = std::to_string(d);
    const backend* tr =
        backends::builtin_registry().find("torch.cpu.conv_transpose" + sd + "d.bf16");
    const backend* cv = backends::builtin_registry().find("torch.cpu.conv" + sd + "d.bf16");
    ASSERT_NE(tr, nullptr);
    ASSERT_NE(cv, nullptr);
    if (auto a = tr->available(); !a.available) GTEST_SKIP() << a.reason;
    const std::int64_t n = d == 1 ? 64 : d == 2 ? 12 : 6, k = d == 1 ? 9 : d == 2 ? 5 : 3;
    shape_t xs{1, 1}, ws{1, 1};
    for (int i = 0; i < d; ++i) {
      xs.push_back(n);
      ws.push_back(k);
    }
    op_case c{"taps",
              plain(d == 1   ? op_kind::conv_transpose1d
                    : d == 2 ? op_kind::conv_transpose2d
                             : op_kind::conv_transpose3d),
              xs, ws, std::nullopt};
    auto in = make_inputs(c, format_id::bf16, "bf16 taps " + sd);
    auto rt = tr->run(c.op, in.x, in.w, nullptr);
    auto vt = verdicts::check({c.op, in.x, in.w, nullptr}, rt.output, "bf16");
    // The same sums as a direct convolution: flipped kernel, padding k - 1.
    ops::op_spec direct = conv_spec(d == 1   ? op_kind::conv1d
                                    : d == 2 ? op_kind::conv2d
                                             : op_kind::conv3d,
                                    {1}, {k - 1}, {1}, 1);
    tensor wf = in.w;
    std::reverse(wf.data.begin(), wf.data.end());
    auto rc = cv->run(direct, in.x, wf, nullptr);
    auto vc = verdicts::check({direct, in.x, wf, nullptr}, rc.output, "bf16");
    const char* seen = vt.n_beyond_deterministic > 0
                           ? "beyond the bf16 bound: taps summed in bf16 on this machine"
                           : "within the bf16 bound: taps summed in f32 on this machine";
    std::cerr << "[finding] " << tr->full_name() << ": " << seen << "; "
              << vt.n_beyond_deterministic << " of " << vt.elements
              << " outputs beyond, max ratio to the bound " << vt.max_ratio_deterministic << "; "
              << describe(vt) << "\n[finding] " << cv->full_name()
              << " (same sums): " << describe(vc) << '\n';
    RecordProperty("ratio_conv_transpose" + sd + "d", std::to_string(vt.max_ratio_deterministic));
    RecordProperty("ratio_conv" + sd + "d", std::to_string(vc.max_ratio_deterministic));
    expect_sound(vt, rt.output);
    expect_sound(vc, rc.output);
  }
}

}  // namespace
