// Registry, naming, globbing, the run front end (validation, conversion, threads), and the
// im2col lowering plus the LibTorch adapters checked against the ops layer's exact results on
// integer data, where every f64 GEMM is exact, so f64 backends must agree bit for bit.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>

#include "property.hpp"
#include "roundoff/backends/backend.hpp"
#include "roundoff/bounds/models.hpp"
#include "roundoff/error.hpp"
#include "roundoff/ops/op.hpp"

namespace {

using namespace roundoff;
using backends::backend;
using ops::op_kind;
using shape_t = std::vector<std::int64_t>;

const std::vector<std::string> required = {"torch.cpu.linear.f32",
                                           "torch.cpu.matmul_add.f32",
                                           "torch.cpu.addmm.f32",
                                           "torch.cpu.conv1d.f64",
                                           "torch.cpu.conv2d.bf16",
                                           "torch.cpu.conv3d.f32",
                                           "torch.cpu.conv_transpose1d.f32",
                                           "torch.cpu.conv_transpose2d.f64",
                                           "torch.cpu.conv_transpose3d.bf16",
                                           "torch.cpu.matmul.f32",
                                           "torch.cpu.bmm.f64",
                                           "torch.cuda.linear.f32",
                                           "torch.cuda.linear.tf32",
                                           "torch.cuda.linear.f16",
                                           "torch.cuda.linear.bf16",
                                           "torch.cuda.conv2d.f32",
                                           "torch.cuda.conv2d.tf32",
                                           "cublas.cuda.sgemm.f32",
                                           "cublas.cuda.sgemm.tf32",
                                           "cublas.cuda.gemmex.f16",
                                           "cublas.cuda.gemmex.bf16",
                                           "eigen.cpu.gemm.f32",
                                           "eigen.cpu.gemm.f64",
                                           "blas.cpu.sgemm.f32",
                                           "blas.cpu.dgemm.f64",
                                           "naive.cpu.sequential.f32",
                                           "naive.cpu.sequential.f64",
                                           "naive.cpu.pairwise.f32",
                                           "naive.cpu.pairwise.f64"};

TEST(registry, lists_every_required_backend_with_a_valid_name_and_model) {
  const auto& reg = backends::builtin_registry();
  for (const auto& n : required) EXPECT_NE(reg.find(n), nullptr) << n;
  std::set<std::string> seen;
  for (const backend* b : reg.all()) {
    const auto name = b->full_name();
    EXPECT_TRUE(seen.insert(name).second) << "duplicate " << name;
    auto parts = backends::parse_backend_name(name);
    EXPECT_EQ(parts.str(), name);
    // The model is a preset, and the name's format part is the preset it claims.
    EXPECT_GE(bounds::preset_rank(b->model()), 0) << name << " claims " << b->model();
    EXPECT_EQ(parts.format, b->model()) << name;
    EXPECT_FALSE(b->supported_ops().empty()) << name;
  }
  // Torch backends cover every op; Eigen/BLAS/naive cover every op through the lowering.
  for (op_kind k : {op_kind::linear, op_kind::matmul, op_kind::bmm, op_kind::addmm, op_kind::conv1d,
                    op_kind::conv2d, op_kind::conv3d, op_kind::conv_transpose1d,
                    op_kind::conv_transpose2d, op_kind::conv_transpose3d}) {
    for (const char* prefix : {"torch.cpu.*.f32", "eigen.cpu.gemm.f32", "blas.cpu.sgemm.f32",
                               "naive.cpu.pairwise.f64"}) {
      auto sel = reg.select({prefix});
      EXPECT_TRUE(std::any_of(sel.begin(), sel.end(), [&](auto* b) { return b->supports(k); }))
          << prefix << " lacks " << ops::op_name(k);
    }
  }
}

TEST(registry, list_backends_gives_a_reason_exactly_when_unavailable) {
  auto list = backends::list_backends();
  EXPECT_EQ(list.size(), backends::builtin_registry().all().size());
  for (const auto& i : list) {
    EXPECT_EQ(i.available, i.reason.empty()) << i.name << ": " << i.reason;
    EXPECT_EQ(i.name, i.library + "." + i.device + "." + i.formulation + "." + i.format);
    EXPECT_FALSE(i.ops.empty());
    if (i.library == "naive" || i.library == "eigen" || i.library == "blas") {
      EXPECT_TRUE(i.available) << i.name;
    }
  }
  auto* cuda = backends::builtin_registry().find("cublas.cuda.sgemm.f32");
  auto a = cuda->available();
  if (!a.available) {
    EXPECT_TRUE(a.reason.find("no CUDA device") != std::string::npos ||
                a.reason.find("built without CUDA") != std::string::npos)
        << a.reason;
  }
  std::cerr << "[registry] cublas.cuda.sgemm.f32: "
            << (a.available ? "available" : "unavailable: " + a.reason) << '\n';
}

TEST(glob, matches_whole_names_with_star_question_and_sets) {
  using backends::glob_match;
  EXPECT_TRUE(glob_match("*", "torch.cpu.linear.f32"));
  EXPECT_TRUE(glob_match("torch.cpu.*.f32", "torch.cpu.linear.f32"));
  EXPECT_TRUE(glob_match("torch.*", "torch.cuda.linear.tf32"));
  EXPECT_FALSE(glob_match("torch.cpu.*.f32", "torch.cpu.linear.f64"));
  EXPECT_TRUE(glob_match("naive.cpu.*.f??", "naive.cpu.pairwise.f64"));
  EXPECT_TRUE(glob_match("*.f[36][24]", "blas.cpu.dgemm.f64"));
  EXPECT_FALSE(glob_match("*.f[!3]2", "blas.cpu.sgemm.f32"));
  EXPECT_FALSE(glob_match("torch", "torch.cpu.linear.f32"));
  EXPECT_TRUE(glob_match("*a*b*", "xxaxxbxx"));
  EXPECT_FALSE(glob_match("*a*b", "xxaxxbxxc"));
  EXPECT_TRUE(glob_match("", ""));
  EXPECT_FALSE(glob_match("", "x"));
}

TEST(registry, select_keeps_registration_order_once_each_and_rejects_dead_globs) {
  const auto& reg = backends::builtin_registry();
  auto sel = reg.select({"torch.cpu.linear.*", "torch.cpu.linear.f32"});
  ASSERT_EQ(sel.size(), 3u);
  EXPECT_EQ(sel[0]->full_name(), "torch.cpu.linear.f32");
  EXPECT_EQ(sel[1]->full_name(), "torch.cpu.linear.f64");
  EXPECT_EQ(sel[2]->full_name(), "torch.cpu.linear.bf16");
  // Everything but the emulations (library "model"), which run only when named.
  const auto every = reg.all();
  const auto models = std::count_if(every.begin(), every.end(), [](const backends::backend* b) {
    return b->name().library == "model";
  });
  EXPECT_GE(models, 3);
  EXPECT_EQ(reg.select({}).size(), every.size() - static_cast<std::size_t>(models));
  try {
    reg.select({"nosuch.*"});
    FAIL() << "expected input_error";
  } catch (const input_error& e) {
    EXPECT_NE(std::string(e.what()).find("nosuch.*"), std::string::npos) << e.what();
  }
  EXPECT_THROW(backends::parse_backend_name("torch.cpu.linear"), input_error);
  EXPECT_THROW(backends::parse_backend_name("torch..linear.f32"), input_error);
}

tensor make(shape_t s, std::vector<double> v, format_id f = format_id::f64) {
  tensor t;
  t.shape = std::move(s);
  t.data = std::move(v);
  t.type = f;
  return t;
}

TEST(run, validates_converts_and_records_threads) {
  const auto& reg = backends::builtin_registry();
  const backend* blas = reg.find("blas.cpu.sgemm.f32");
  ops::op_spec lin(op_kind::linear);
  // Shape mismatch and unsupported ops are input errors naming the backend/op.
  auto x = make({2, 3}, {1, 2, 3, 4, 5, 6}), w = make({4, 5}, std::vector<double>(20, 1.0));
  EXPECT_THROW(blas->run(lin, x, w, nullptr), input_error);
  ops::op_spec cv(op_kind::conv2d);
  EXPECT_THROW(reg.find("torch.cpu.linear.f32")->run(cv, x, w, nullptr), input_error);
  // 0.1 is not an f32: converted (nearest-even) and counted.
  auto w2 = make({1, 3}, {0.1, 1.0, 2.0});
  backends::run_options two;
  two.threads = 2;
  auto r = blas->run(lin, x, w2, nullptr, two);
  EXPECT_EQ(r.info.inputs_rounded, 1);
  EXPECT_EQ(r.output.shape, (shape_t{2, 1}));
  EXPECT_EQ(r.output.data[0], static_cast<double>(0.1f * 1.0f + 2.0f + 6.0f));
  EXPECT_EQ(r.info.thread_library, "openblas");
  EXPECT_EQ(r.info.threads, 2);
  EXPECT_EQ(r.info.backend, "blas.cpu.sgemm.f32");
  const backend* t = reg.find("torch.cpu.linear.f32");
  if (t->available().available) {
    auto rt = t->run(lin, x, w2, nullptr, two);
    EXPECT_EQ(rt.info.thread_library, "libtorch");
    EXPECT_EQ(rt.info.threads, 2);
    backends::run_options one;
    EXPECT_EQ(t->run(lin, x, w2, nullptr, one).info.threads, 1);
  }
  backends::run_options zero;
  zero.threads = 0;
  EXPECT_THROW(blas->run(lin, x, w2, nullptr, zero), input_error);
}

TEST(run_selected, skips_unavailable_and_unsupported_backends_with_reasons) {
  ops::op_spec lin(op_kind::linear);
  auto x = make({1, 2}, {1, 2}), w = make({1, 2}, {3, 4});
  auto runs = backends::run_selected(lin, x, w, nullptr, {"naive.*", "cublas.*", "torch.*.bmm.*"});
  ASSERT_FALSE(runs.empty());
  for (auto& s : runs) {
    EXPECT_EQ(s.ran, s.skipped_reason.empty()) << s.backend;
    if (s.ran) {
      EXPECT_EQ(s.result.output.data, std::vector<double>{11.0}) << s.backend;
    }
    if (s.backend.find(".bmm.") != std::string::npos) {
      EXPECT_FALSE(s.ran);
    }
  }
}

// A backend whose library fails at run time (as a CUDA error would).
class failing_backend final : public backend {
 public:
  failing_backend()
      : backend({"test", "cpu", "failing", "f32"}, "f32", format_id::f32, {op_kind::linear}) {}
  backends::availability available() const override { return {true, {}}; }

 protected:
  void do_run(const ops::op_spec&, const tensor&, const tensor&, const tensor*, const shape_t&,
              const backends::run_options&, backends::run_result&) const override {
    throw std::runtime_error("simulated library failure");
  }
};

TEST(run_selected, reports_a_failing_library_and_still_runs_the_others_but_propagates_bad_input) {
  backends::registry reg;
  reg.add(std::make_unique<failing_backend>());
  ops::op_spec lin(op_kind::linear);
  auto x = make({1, 2}, {1, 2}), w = make({1, 2}, {3, 4});
  auto runs = backends::run_selected(lin, x, w, nullptr, {"test.*"}, {}, reg);
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_FALSE(runs[0].ran);
  EXPECT_EQ(runs[0].skipped_reason, "failed: simulated library failure");
  auto bad_w = make({1, 3}, {1, 2, 3});
  EXPECT_THROW(backends::run_selected(lin, x, bad_w, nullptr, {"test.*"}, {}, reg), input_error);
  EXPECT_THROW(reg.add(std::make_unique<failing_backend>()), internal_error);  // duplicate
}

// ---- Lowering vs the ops layer on integer data (exact in f64) ------------------------------

struct drawn {
  ops::op_spec op{op_kind::linear};  // each draw_* sets the kind
  tensor x, w, b;
  bool has_b = false;
};

std::int64_t pick(std::mt19937_64& g, std::int64_t lo, std::int64_t hi) {
  return std::uniform_int_distribution<std::int64_t>(lo, hi)(g);
}

tensor ints(shape_t s, std::mt19937_64& g) {
  tensor t;
  t.shape = std::move(s);
  t.data.resize(static_cast<std::size_t>(t.numel()));
  for (auto& v : t.data) v = static_cast<double>(pick(g, -3, 3));
  return t;
}

drawn draw_conv(std::mt19937_64& g, op_kind k) {
  const bool tr = ops::is_transposed(k);
  const int d = ops::spatial_dims(k);
  drawn c;
  c.op.kind = k;
  auto& p = c.op.conv;
  p.groups = pick(g, 1, 3);
  const std::int64_t cin_g = pick(g, 1, 3), cout_g = pick(g, 1, 3);
  shape_t xs{pick(g, 0, 2), cin_g * p.groups}, ws;
  shape_t kern;
  for (int i = 0; i < d; ++i) {
    p.stride.push_back(pick(g, 1, 3));
    p.dilation.push_back(pick(g, 1, 2));
    kern.push_back(pick(g, 1, 3));
    xs.push_back(pick(g, 1, d == 3 ? 4 : 7));
  }
  if (!tr) {
    ws = {cout_g * p.groups, cin_g};
    const int mode = static_cast<int>(pick(g, 0, 5));
    if (mode == 4) {
      p.pad = ops::conv_params::padding_kind::same;
      p.stride = {1};
    } else if (mode == 5) {
      p.pad = ops::conv_params::padding_kind::valid;
    } else {
      for (int i = 0; i < d; ++i) p.padding.push_back(pick(g, 0, 2));
      p.mode = static_cast<ops::padding_mode>(pick(g, 0, 3));
    }
  } else {
    ws = {cin_g * p.groups, cout_g};
    for (int i = 0; i < d; ++i) {
      p.padding.push_back(pick(g, 0, 2));
      p.output_padding.push_back(pick(
          g, 0,
          std::max(p.stride[static_cast<std::size_t>(i)], p.dilation[static_cast<std::size_t>(i)]) -
              1));
    }
  }
  ws.insert(ws.end(), kern.begin(), kern.end());
  if (pick(g, 0, 3) == 0) xs.erase(xs.begin());  // unbatched input
  c.x = ints(xs, g);
  c.w = ints(ws, g);
  if (pick(g, 0, 1)) {
    c.b = ints({tr ? cout_g * p.groups : ws[0]}, g);
    c.has_b = true;
  }
  return c;
}

drawn draw_mm(std::mt19937_64& g, op_kind k) {
  drawn c;
  c.op.kind = k;
  const std::int64_t m = pick(g, 1, 5), n = pick(g, 1, 5), kk = pick(g, 0, 6), bt = pick(g, 1, 3);
  switch (k) {
    case op_kind::linear:
      c.x = ints({bt, m, kk}, g);
      c.w = ints({n, kk}, g);
      break;
    case op_kind::matmul: {
      shape_t xs{m, kk}, ws{kk, n};
      if (pick(g, 0, 2) == 0) xs = {kk};
      if (pick(g, 0, 2) == 0) ws = {kk};
      if (pick(g, 0, 1)) xs.insert(xs.begin(), {bt, 1});
      if (pick(g, 0, 1) && ws.size() == 2) ws.insert(ws.begin(), bt);
      c.x = ints(xs, g);
      c.w = ints(ws, g);
      break;
    }
    case op_kind::bmm:
      c.x = ints({bt, m, kk}, g);
      c.w = ints({bt, kk, n}, g);
      break;
    default:
      c.x = ints({m, kk}, g);
      c.w = ints({kk, n}, g);
  }
  const bool vec_out = c.w.dim() == 1;
  if (pick(g, 0, 1) && !vec_out) {
    c.b = ints({n}, g);
    c.has_b = true;
  }
  return c;
}

TEST(lowering, f64_backends_equal_the_exact_result_on_integer_data_for_random_configurations) {
  const auto& reg = backends::builtin_registry();
  const backend* seq = reg.find("naive.cpu.sequential.f64");
  const backend* blas = reg.find("blas.cpu.dgemm.f64");
  const backend* eig = reg.find("eigen.cpu.gemm.f64");
  auto g = roundoff::test::rng(0x10e);
  const auto iters = roundoff::test::iterations(60);
  int checked = 0, rejected = 0;
  for (op_kind k : {op_kind::linear, op_kind::matmul, op_kind::bmm, op_kind::addmm, op_kind::conv1d,
                    op_kind::conv2d, op_kind::conv3d, op_kind::conv_transpose1d,
                    op_kind::conv_transpose2d, op_kind::conv_transpose3d}) {
    for (std::int64_t it = 0; it < iters; ++it) {
      const bool conv = ops::spatial_dims(k) > 0;
      drawn c = conv ? draw_conv(g, k) : draw_mm(g, k);
      const tensor* b = c.has_b ? &c.b : nullptr;
      // The ops layer decides validity; both layers must agree on it.
      std::vector<std::int64_t> want;
      bool ops_ok = true;
      try {
        want = ops::output_shape({c.op, c.x, c.w, b});
      } catch (const input_error&) {
        ops_ok = false;
      }
      if (!ops_ok) {
        EXPECT_THROW(seq->run(c.op, c.x, c.w, b), input_error)
            << ops::op_name(k) << " " << roundoff::test::replay(it);
        ++rejected;
        continue;
      }
      auto exact = ops::evaluate({c.op, c.x, c.w, b});
      // The GEMM backends (through the lowering) and every LibTorch f64 formulation of the op
      // (checks the adapter's argument plumbing: stride, padding modes, groups, ...).
      std::vector<const backend*> runners{seq, blas, eig};
      for (const backend* t : reg.select({"torch.cpu.*.f64"}))
        if (t->supports(k) && t->available().available) runners.push_back(t);
      for (const backend* be : runners) {
        auto r = be->run(c.op, c.x, c.w, b);
        ASSERT_EQ(r.output.shape, want)
            << be->full_name() << " " << ops::op_name(k) << " " << roundoff::test::replay(it);
        ASSERT_EQ(r.output.data, exact.exact.rounded())
            << be->full_name() << " " << ops::op_name(k) << " " << roundoff::test::replay(it);
      }
      ++checked;
    }
  }
  std::cerr << "[lowering] " << checked << " configurations checked, " << rejected
            << " rejected by both layers\n";
  EXPECT_GT(checked, rejected);
}

}  // namespace
