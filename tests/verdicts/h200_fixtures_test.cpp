// Real NVIDIA H200 outputs (tests/fixtures/h200, cut from ../shared/gpu-fixtures/h200-2026-12 by
// make_subset.py; README there): every output judged under the arithmetic PyTorch was told to use
// is consistent (a correct output is never called a bug), TF32 outputs declared f32 are flagged
// and identified with the conversion their library used (cuBLAS: ties to even; cuDNN's conv2d
// kernel: ties away), and two correct outputs are never blamed as a pair.
#include <gtest/gtest.h>

#include <cmath>
#include <iostream>
#include <string>

#include "roundoff/io/read_tensor.hpp"
#include "roundoff/verdicts/check.hpp"

#ifndef ROUNDOFF_FIXTURES_DIR
#error "ROUNDOFF_FIXTURES_DIR must name tests/fixtures/h200"
#endif

namespace {

using namespace roundoff;

tensor load(const std::string& file, const std::string& member) {
  return io::read_tensor(std::string(ROUNDOFF_FIXTURES_DIR) + "/" + file + ":" + member);
}

std::string describe(const verdicts::verdict& v) {
  std::string s = std::string(verdicts::to_string(v.kind)) + " (declared " + v.declared_model +
                  ", effective '" + v.effective_model + "'): " + v.explanation + " [nearest:";
  for (std::size_t i = 0; i < v.nearest_inputs.size() && i < 3; ++i)
    s += " " + v.nearest_inputs[i].inputs + "=" + std::to_string(v.nearest_inputs[i].distance);
  return s + "]";
}

struct operands {
  tensor x, w, b;
};

// The inputs a tag's op consumed: f32 for f32/tf32, the cast tensors for f16/bf16 (README).
operands inputs(const std::string& file, const std::string& tag, const char* x, const char* w,
                const char* b) {
  std::string suffix;
  if (tag.rfind("f16", 0) == 0) suffix = "_f16";
  if (tag.rfind("bf16", 0) == 0) suffix = "_bf16";
  return {load(file, x + suffix), load(file, w + suffix), load(file, b + suffix)};
}

// The preset a tag was computed in ("tf32_bench" -> "tf32").
std::string model_of(const std::string& tag) {
  return tag.substr(0, tag.find('_'));
}

const ops::op_spec linear(ops::op_kind::linear);

ops::op_spec conv2d_padding_1() {
  ops::op_spec s(ops::op_kind::conv2d);
  s.conv.padding = {1, 1};
  return s;
}

TEST(h200_fixtures, seed_outputs_are_consistent_with_their_arithmetic) {
  for (const std::string tag : {"f32", "tf32", "f16", "f16-rpr", "bf16", "bf16-rpr"})
    for (const std::string form : {"linear_", "matmul_add_"}) {
      const auto in = inputs("seed_subset.npz", tag, "x", "W", "b");
      const tensor y = load("seed_subset.npz", form + tag);
      const auto v = verdicts::check({linear, in.x, in.w, &in.b}, y, model_of(tag));
      EXPECT_EQ(v.kind, verdicts::verdict_kind::consistent) << form << tag << ": " << describe(v);
      std::cout << "  [h200 seed] " << form << tag << ": " << describe(v) << '\n';
    }
  for (const std::string name : {"cpu_linear_f32", "cpu_matmul_add_f32"}) {
    const auto in = inputs("seed_subset.npz", "f32", "x", "W", "b");
    const auto v =
        verdicts::check({linear, in.x, in.w, &in.b}, load("seed_subset.npz", name), "f32");
    EXPECT_EQ(v.kind, verdicts::verdict_kind::consistent) << name << ": " << describe(v);
  }
}

TEST(h200_fixtures, cublas_tf32_declared_f32_is_flagged_as_tf32_ties_to_even) {
  const auto in = inputs("seed_subset.npz", "f32", "x", "W", "b");
  for (const std::string name : {"linear_tf32", "matmul_add_tf32"}) {
    const auto v =
        verdicts::check({linear, in.x, in.w, &in.b}, load("seed_subset.npz", name), "f32");
    EXPECT_NE(v.kind, verdicts::verdict_kind::consistent) << name << ": " << describe(v);
    EXPECT_EQ(v.effective_model, "tf32-rne") << name << ": " << describe(v);
    ASSERT_FALSE(v.nearest_inputs.empty());
    EXPECT_EQ(v.nearest_inputs.front().inputs, "tf32-rne") << describe(v);
    EXPECT_NE(v.explanation.find("TF32"), std::string::npos) << v.explanation;
  }
}

TEST(h200_fixtures, conv2d_outputs_are_consistent_with_their_arithmetic) {
  for (const std::string tag : {"f32", "f32_bench", "tf32", "tf32_bench", "f16", "bf16"}) {
    if (tag == "f32_bench") continue;  // not in the subset (same verdicts as f32, README)
    const auto in = inputs("conv_subset.npz", tag, "x", "w", "b");
    const tensor y = load("conv_subset.npz", "conv2d_" + tag);
    const auto v = verdicts::check({conv2d_padding_1(), in.x, in.w, &in.b}, y, model_of(tag));
    EXPECT_EQ(v.kind, verdicts::verdict_kind::consistent) << tag << ": " << describe(v);
    std::cout << "  [h200 conv2d] " << tag << ": " << describe(v) << '\n';
  }
}

TEST(h200_fixtures, cudnn_tf32_conv2d_is_identified_as_ties_away) {
  const auto in = inputs("conv_subset.npz", "f32", "x", "w", "b");
  for (const std::string tag : {"tf32", "tf32_bench"}) {
    const tensor y = load("conv_subset.npz", "conv2d_" + tag);
    const auto v = verdicts::check({conv2d_padding_1(), in.x, in.w, &in.b}, y, "tf32");
    EXPECT_EQ(v.kind, verdicts::verdict_kind::consistent) << describe(v);
    EXPECT_EQ(v.effective_model, "tf32-rna") << describe(v);
    ASSERT_FALSE(v.nearest_inputs.empty());
    EXPECT_EQ(v.nearest_inputs.front().inputs, "tf32-rna") << describe(v);
    // Declared f32 it is flagged, and the hint names TF32.
    const auto v32 = verdicts::check({conv2d_padding_1(), in.x, in.w, &in.b}, y, "f32");
    EXPECT_NE(v32.kind, verdicts::verdict_kind::consistent) << describe(v32);
    EXPECT_EQ(v32.effective_model, "tf32-rna") << describe(v32);
    std::cout << "  [h200 conv2d " << tag << " declared f32] " << describe(v32) << '\n';
  }
}

// probe.npz: inputs exact in the input format, so only the tensor cores' accumulation rounds.
TEST(h200_fixtures, tensor_core_probes_are_consistent_and_truncate) {
  for (const std::string fmt : {"tf32", "f16", "bf16", "f32"})
    for (const int K : {4, 16, 256}) {
      const std::string key = fmt + "_K" + std::to_string(K);
      const tensor x = load("probe_subset.npz", key + "_x");
      const tensor w = load("probe_subset.npz", key + "_w");
      const tensor y = load("probe_subset.npz", key + "_y");
      const auto v = verdicts::check({linear, x, w, nullptr}, y, fmt);
      EXPECT_EQ(v.kind, verdicts::verdict_kind::consistent) << key << ": " << describe(v);
      EXPECT_EQ(v.n_beyond_deterministic, 0) << key;
      std::cout << "  [h200 probe] " << key << ": max err/bound " << v.max_ratio_deterministic
                << '\n';
    }
}

// Issue 10, case 3: a TF32-requested output computed without TF32 (its errors are f32's) and a
// TF32 one are each consistent with tf32; as a pair they are not a violation, and the sentence
// says they converted their inputs differently.
TEST(h200_fixtures, two_correct_outputs_are_never_a_pairwise_violation) {
  const auto in = inputs("seed_subset.npz", "f32", "x", "W", "b");
  const tensor without = load("seed_subset.npz", "linear_f32");
  const tensor with = load("seed_subset.npz", "linear_tf32");
  const auto c = verdicts::compare({linear, in.x, in.w, &in.b}, without, "tf32", with, "tf32");
  EXPECT_EQ(c.a.kind, verdicts::verdict_kind::consistent) << describe(c.a);
  EXPECT_EQ(c.b.kind, verdicts::verdict_kind::consistent) << describe(c.b);
  EXPECT_NE(c.kind, verdicts::verdict_kind::violation) << c.explanation;
  EXPECT_EQ(c.n_beyond, 0);
  EXPECT_NE(c.explanation.find("converted their inputs differently"), std::string::npos)
      << c.explanation;
  EXPECT_NE(c.a.explanation.find("ran without tf32"), std::string::npos) << c.a.explanation;
  std::cout << "  [h200 pair] " << c.explanation << '\n';
}

}  // namespace
