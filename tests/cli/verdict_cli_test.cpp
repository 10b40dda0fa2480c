// Drives the built `roundoff` binary through the verdict commands: `check` (saved outputs judged
// against the exact result and each other), `run` (generated inputs, real backends) and
// `backends`. Exit codes 0/1/2, one-line stderr for every bad input, the JSON schema, and a
// planted fault that must come out as a violation.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cli_fixture.hpp"
#include "property.hpp"
#include "roundoff/formats/format.hpp"
#include "roundoff/io/npy.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using roundoff::format_id;
using roundoff::tensor;

namespace {

using result = roundoff::test::cli_result;
using roundoff::test::slurp;

class verdict_cli : public roundoff::test::cli_fixture {
 protected:
  // Colour off: the text reports are compared as plain text.
  result run(const std::string& args) const { return cli_fixture::run(args, "NO_COLOR=1"); }

  json run_json(const std::string& args, int want_rc) const {
    const result r = run(args + " --format json");
    EXPECT_EQ(r.rc, want_rc) << args << "\nstderr: " << r.err << "\nstdout: " << r.out;
    EXPECT_TRUE(r.err.empty()) << r.err;
    try {
      return json::parse(r.out);
    } catch (const std::exception& e) {
      ADD_FAILURE() << args << ": not JSON: " << e.what() << "\n" << r.out;
      return json::object();
    }
  }

  // The fixture's usage-error check (colour off), and nothing on stdout.
  void expect_usage_error(const std::string& args, const std::string& want) const {
    const result r = cli_fixture::expect_usage_error(args, want, "NO_COLOR=1");
    EXPECT_TRUE(r.out.empty()) << args << "\nstdout: " << r.out;
  }

  void save(const std::string& f, const tensor& t, format_id as) const {
    roundoff::io::write_npy(dir_ / f, t, as);
  }

  // f32 linear problem x [B, K], W [N, K], b [N] with values in f32, and two f32 evaluations:
  // a sequential sum in float (first to last), and the same in reverse order. Both are correct
  // f32 implementations, so both must be consistent with the f32 model.
  void make_linear_problem(std::int64_t B, std::int64_t K, std::int64_t N) {
    auto g = roundoff::test::rng(77);
    std::normal_distribution<float> d;
    auto fill = [&](std::vector<std::int64_t> shape) {
      tensor t;
      t.shape = std::move(shape);
      t.type = format_id::f32;
      t.data.resize(static_cast<std::size_t>(t.numel()));
      for (auto& v : t.data) v = static_cast<double>(d(g));
      return t;
    };
    x_ = fill({B, K});
    w_ = fill({N, K});
    b_ = fill({N});
    tensor fwd{{B, N}, {}, format_id::f32}, rev = fwd;
    for (std::int64_t i = 0; i < B; ++i)
      for (std::int64_t j = 0; j < N; ++j) {
        float s = 0, r = 0;
        for (std::int64_t k = 0; k < K; ++k) {
          volatile float p = static_cast<float>(x_.data[i * K + k]) *
                             static_cast<float>(w_.data[j * K + k]);  // no FMA contraction
          s = s + p;
          volatile float q = static_cast<float>(x_.data[i * K + K - 1 - k]) *
                             static_cast<float>(w_.data[j * K + K - 1 - k]);
          r = r + q;
        }
        fwd.data.push_back(static_cast<double>(s + static_cast<float>(b_.data[j])));
        rev.data.push_back(static_cast<double>(r + static_cast<float>(b_.data[j])));
      }
    save("x.npy", x_, format_id::f32);
    save("w.npy", w_, format_id::f32);
    save("b.npy", b_, format_id::f32);
    save("y_fwd.npy", fwd, format_id::f32);
    save("y_rev.npy", rev, format_id::f32);
    fwd_ = fwd;
  }

  tensor x_, w_, b_, fwd_;
};

const std::string operands = "--input x.npy --weight w.npy --bias b.npy";

}  // namespace

TEST_F(verdict_cli, check_two_correct_outputs_is_consistent_and_exits_0) {
  make_linear_problem(8, 256, 16);
  const json j = run_json(
      "check linear " + operands + " --output fwd=y_fwd.npy --output rev=y_rev.npy --declared f32",
      0);
  EXPECT_EQ(j["op"], "linear");
  EXPECT_EQ(j["reference"]["method"], "fast");
  EXPECT_EQ(j["reference"]["exact"], true);
  EXPECT_EQ(j["params"]["input_shape"], json({8, 256}));
  ASSERT_EQ(j["results"].size(), 2u);
  for (const auto& r : j["results"]) {
    EXPECT_EQ(r["verdict"], "consistent") << r.dump();
    EXPECT_EQ(r["declared"], "f32");
    EXPECT_TRUE(r["max_abs_error"].is_number());
    EXPECT_TRUE(r["max_rel_error"].is_number());
    EXPECT_LT(r["max_ratio_deterministic"].get<double>(), 1.0);
    EXPECT_NE(std::find(r["consistent_models"].begin(), r["consistent_models"].end(), "f32"),
              r["consistent_models"].end());
    EXPECT_TRUE(r["worst"].is_array());
    ASSERT_FALSE(r["worst"].empty());
    EXPECT_EQ(r["worst"][0]["index"].size(), 2u);  // [row, column]
  }
  EXPECT_EQ(j["results"][0]["name"], "fwd");
  EXPECT_EQ(j["results"][1]["name"], "rev");
  ASSERT_EQ(j["comparisons"].size(), 1u);
  const auto& c = j["comparisons"][0];
  EXPECT_EQ(c["a"], "fwd");
  EXPECT_EQ(c["b"], "rev");
  EXPECT_EQ(c["verdict"], "consistent");
  // The two summation orders disagree somewhere (K = 256 random terms), which is the point.
  EXPECT_GT(c["differing"].get<std::int64_t>(), 0);
  EXPECT_GT(c["max_abs_difference"].get<double>(), 0.0);

  // The default table names the verdicts; --out writes the file and nothing to stdout.
  const result t = run("check linear " + operands + " --output y_fwd.npy --declared f32");
  EXPECT_EQ(t.rc, 0) << t.err;
  EXPECT_NE(t.out.find("y_fwd  "), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("consistent"), std::string::npos) << t.out;
  const result o = run("check linear " + operands +
                       " --output y_fwd.npy --declared f32 --format csv --out report.csv");
  EXPECT_EQ(o.rc, 0) << o.err;
  EXPECT_TRUE(o.out.empty()) << o.out;
  EXPECT_EQ(slurp(dir_ / "report.csv").rfind("kind,name,other,declared,verdict,", 0), 0u);
}

TEST_F(verdict_cli, planted_fault_is_a_violation_and_exits_1) {
  make_linear_problem(8, 256, 16);
  tensor bad = fwd_;
  bad.data[3 * 16 + 5] += 0.5;  // element [3, 5]: far beyond any f32 rounding at K = 256
  save("y_bad.npy", bad, format_id::f32);
  const json j = run_json(
      "check linear " + operands + " --output good=y_fwd.npy --output bad=y_bad.npy --declared f32",
      1);
  ASSERT_EQ(j["results"].size(), 2u);
  EXPECT_EQ(j["results"][0]["verdict"], "consistent");
  const auto& r = j["results"][1];
  EXPECT_EQ(r["verdict"], "violation");
  EXPECT_GT(r["max_ratio_deterministic"].get<double>(), 1.0);
  ASSERT_FALSE(r["worst"].empty());
  EXPECT_EQ(r["worst"][0]["index"], json({3, 5}));
  EXPECT_EQ(r["worst"][0]["observed"].get<double>(), bad.data[3 * 16 + 5]);
  EXPECT_NEAR(r["max_abs_error"].get<double>(), 0.5, 1e-3);
  EXPECT_EQ(r["counts"]["beyond_deterministic"], 1);
  EXPECT_EQ(j["comparisons"][0]["verdict"], "violation");
  EXPECT_EQ(j["comparisons"][0]["differing"], 1);
  EXPECT_DOUBLE_EQ(j["comparisons"][0]["max_abs_difference"].get<double>(), 0.5);

  // The table lists the worst element of the violation.
  const result t = run("check linear " + operands + " --output bad=y_bad.npy --declared f32");
  EXPECT_EQ(t.rc, 1);
  EXPECT_NE(t.out.find("worst elements of bad"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("[3, 5]"), std::string::npos) << t.out;
  // A NaN in an output is judged (special-value mismatch), not refused.
  bad.data[0] = std::numeric_limits<double>::quiet_NaN();
  save("y_nan.npy", bad, format_id::f32);
  const json n = run_json("check linear " + operands + " --output y_nan.npy --declared f32", 1);
  EXPECT_EQ(n["results"][0]["verdict"], "violation");
  EXPECT_EQ(n["results"][0]["counts"]["special_mismatch"], 1);
  EXPECT_EQ(n["results"][0]["max_abs_error"], "inf");
}

// TF32 behind an f32 declaration (inputs rounded to 10-bit mantissas, then summed exactly and
// rounded to f32): within the worst-case f32 bound at K = 4096 but not f32 arithmetic, so
// suspicious, exit 0 by default and 1 with --fail-on suspicious. On these random data the f32
// bound grows like K^2 (gamma_K and sum |x||w| each like K) and TF32's error like sqrt(K): at
// K = 1024 the largest of the 512 ratios reached 1.09 for some seeds (then the verdict is,
// correctly, a violation of the f32 bound); at K = 4096 it was 0.08-0.11 over 13 seeds.
TEST_F(verdict_cli, tf32_behind_f32_is_suspicious_and_fail_on_suspicious_exits_1) {
  constexpr std::int64_t K = 4096;
  make_linear_problem(8, K, 64);
  tensor y{{8, 64}, {}, format_id::f32};
  for (std::int64_t i = 0; i < 8; ++i)
    for (std::int64_t j = 0; j < 64; ++j) {
      double s = b_.data[static_cast<std::size_t>(j)];
      for (std::int64_t k = 0; k < K; ++k)  // products of 11-bit significands: exact in f64
        s += roundoff::round_to(format_id::tf32, x_.data[i * K + k]) *
             roundoff::round_to(format_id::tf32, w_.data[j * K + k]);
      y.data.push_back(static_cast<double>(static_cast<float>(s)));
    }
  save("y_tf32.npy", y, format_id::f32);
  const std::string args = "check linear " + operands + " --output y_tf32.npy --declared f32";
  const json j = run_json(args, 0);
  EXPECT_EQ(j["results"][0]["verdict"], "suspicious") << j.dump();
  const auto& models = j["results"][0]["consistent_models"];
  EXPECT_NE(std::find(models.begin(), models.end(), "tf32"), models.end()) << models;
  EXPECT_LE(j["results"][0]["max_ratio_deterministic"].get<double>(), 1.0);
  std::cerr << "[tf32 behind f32] max ratio to the f32 bound "
            << j["results"][0]["max_ratio_deterministic"].get<double>() << '\n';
  EXPECT_EQ(run(args + " --fail-on suspicious").rc, 1);
}

TEST_F(verdict_cli, check_bad_input_exits_2_with_one_line) {
  make_linear_problem(2, 8, 3);
  const std::string ok = "check linear " + operands + " --declared f32 ";
  expect_usage_error(ok + "--output y=missing.npy", "missing.npy: cannot open");
  // Wrong dtype: int32 data.
  {
    std::string h = "{'descr': '<i4', 'fortran_order': False, 'shape': (2, 3), }\n";
    std::string bytes = std::string("\x93NUMPY\x01\x00", 8);
    bytes += static_cast<char>(h.size());
    bytes += '\0';
    bytes += h + std::string(24, '\0');
    std::ofstream(dir_ / "y_int.npy", std::ios::binary) << bytes;
  }
  expect_usage_error(ok + "--output y=y_int.npy", "y_int.npy: unsupported dtype '<i4'");
  save("y_shape.npy", tensor{{3, 2}, std::vector<double>(6, 0.0), format_id::f32}, format_id::f32);
  expect_usage_error(ok + "--output y=y_shape.npy",
                     "--output y=y_shape.npy: shape [3, 2] but linear of --input x.npy [2, 8]");
  expect_usage_error("check linear " + operands + " --output y_fwd.npy --declared f33",
                     "unknown arithmetic model 'f33'");
  expect_usage_error("check linearr " + operands + " --output y_fwd.npy --declared f32",
                     "unknown op 'linearr'");
  tensor xn = x_;
  xn.data[1 * 8 + 2] = std::numeric_limits<double>::quiet_NaN();
  save("x_nan.npy", xn, format_id::f32);
  expect_usage_error(
      "check linear --input x_nan.npy --weight w.npy --output y_fwd.npy "
      "--declared f32",
      "x_nan.npy: element [1, 2] is NaN; non-finite inputs are refused");
  expect_usage_error(ok + "--output y_fwd.npy --format xml", "--format: unknown format 'xml'");
  expect_usage_error(ok + "--output y_fwd.npy --output y_fwd.npy", "used twice");
  expect_usage_error(ok + "--output y_fwd.npy --out nodir/r.txt", "does not exist");
  expect_usage_error(ok + "--output y_fwd.npy --confidence 2", "--confidence: must be in (0, 1)");
  expect_usage_error("check linear " + operands + " --output y_fwd.npy", "--declared is required");
  // Operands of inconsistent shapes name the files.
  save("w_bad.npy", tensor{{3, 5}, std::vector<double>(15, 1.0), format_id::f32}, format_id::f32);
  expect_usage_error(
      "check linear --input x.npy --weight w_bad.npy --output y_fwd.npy "
      "--declared f32",
      "linear: --input x.npy [2, 8], --weight w_bad.npy [3, 5]");
}

TEST_F(verdict_cli, backends_lists_every_implementation) {
  const result t = run("backends");
  EXPECT_EQ(t.rc, 0) << t.err;
  EXPECT_NE(t.out.find("naive.cpu.sequential.f32"), std::string::npos) << t.out;
  const json j = run_json("backends", 0);
  ASSERT_TRUE(j.is_array());
  bool seen_naive = false, seen_cublas = false;
  for (const auto& b : j) {
    EXPECT_TRUE(b["name"].is_string());
    EXPECT_TRUE(b["declared"].is_string());
    EXPECT_TRUE(b["available"].is_boolean());
    EXPECT_TRUE(b["ops"].is_array());
    if (!b["available"].get<bool>()) {
      EXPECT_FALSE(b["reason"].get<std::string>().empty()) << b;
    }
    if (b["name"] == "naive.cpu.sequential.f32") {
      seen_naive = true;
      EXPECT_EQ(b["declared"], "f32");
      EXPECT_EQ(b["available"], true);
    }
    seen_cublas |= b["name"] == "cublas.cuda.sgemm.tf32";
  }
  EXPECT_TRUE(seen_naive);
  EXPECT_TRUE(seen_cublas);  // listed even when CUDA is absent (then unavailable, with a reason)
  const result m = run("backends --format markdown --out b.md");
  EXPECT_EQ(m.rc, 0) << m.err;
  EXPECT_EQ(slurp(dir_ / "b.md").rfind("| name ", 0), 0u);
}

TEST_F(verdict_cli, run_judges_generated_inputs) {
  const json j = run_json(
      "run linear --batch 4 --in-features 300 --out-features 8 --impl 'naive.cpu.*' "
      "--impl 'blas.cpu.*' --seed 3",
      0);
  EXPECT_EQ(j["op"], "linear");
  EXPECT_EQ(j["params"]["batch"], 4);
  EXPECT_EQ(j["params"]["in_features"], 300);
  EXPECT_EQ(j["params"]["out_features"], 8);
  EXPECT_EQ(j["params"]["seed"], 3);
  std::vector<std::string> names;
  for (const auto& r : j["results"]) {
    names.push_back(r["name"]);
    EXPECT_EQ(r["verdict"], "consistent") << r.dump();
    const std::string n = r["name"];
    EXPECT_EQ(r["declared"], n.substr(n.size() - 3));  // f32 / f64 as the name says
    EXPECT_FALSE(r["source"]["device"].get<std::string>().empty());
  }
  EXPECT_EQ(names, (std::vector<std::string>{"blas.cpu.sgemm.f32", "blas.cpu.dgemm.f64",
                                             "naive.cpu.sequential.f32", "naive.cpu.sequential.f64",
                                             "naive.cpu.pairwise.f32", "naive.cpu.pairwise.f64"}));
  // Default pairs: each against the first implementation declaring the same model (3 f32 and
  // 3 f64 implementations: 2 + 2 pairs).
  ASSERT_EQ(j["comparisons"].size(), 4u);
  EXPECT_EQ(j["comparisons"][0]["a"], "blas.cpu.sgemm.f32");
  EXPECT_EQ(j["comparisons"][0]["b"], "naive.cpu.sequential.f32");
  for (const auto& c : j["comparisons"]) EXPECT_EQ(c["verdict"], "consistent") << c.dump();
  // Same seed, same inputs, same answers.
  const json again = run_json(
      "run linear --batch 4 --in-features 300 --out-features 8 --impl 'naive.cpu.*' "
      "--impl 'blas.cpu.*' --seed 3",
      0);
  EXPECT_EQ(again["results"][2]["max_abs_error"], j["results"][2]["max_abs_error"]);
  // --compare same-model / none / all.
  EXPECT_EQ(run_json("run linear --batch 4 --in-features 300 --out-features 8 --impl 'naive.cpu.*' "
                     "--impl 'blas.cpu.*' --seed 3 --compare same-model",
                     0)["comparisons"]
                .size(),
            6u);
  EXPECT_EQ(run_json("run matmul --m 3 --k 40 --n 5 --impl 'naive.cpu.*' --compare none",
                     0)["comparisons"]
                .size(),
            0u);
  EXPECT_EQ(
      run_json("run matmul --m 3 --k 40 --n 5 --impl 'naive.cpu.*' --compare all", 0)["comparisons"]
          .size(),
      6u);
  // A conv with op flags.
  const json c = run_json(
      "run conv2d --batch 2 --in-channels 4 --out-channels 6 --size 9,7 --kernel-size 3 "
      "--stride 2 --padding 1 --impl naive.cpu.sequential.f32",
      0);
  EXPECT_EQ(c["params"]["size"], json({9, 7}));
  EXPECT_EQ(c["params"]["stride"], "2");
  EXPECT_EQ(c["results"][0]["verdict"], "consistent");
}

TEST_F(verdict_cli, run_lists_unavailable_backends_as_skipped) {
  const json j = run_json(
      "run linear --batch 2 --in-features 16 --out-features 4 --impl 'cublas.*' "
      "--impl naive.cpu.sequential.f32",
      0);
  int cublas = 0;
  for (const auto& r : j["results"]) {
    if (r["name"].get<std::string>().rfind("cublas.", 0) != 0) continue;
    ++cublas;
    if (r["verdict"] == "skipped") {
      EXPECT_EQ(r["explanation"].get<std::string>().rfind("unavailable: ", 0), 0u) << r;
      EXPECT_TRUE(r["max_abs_error"].is_null());
    } else {
      EXPECT_EQ(r["verdict"], "consistent") << r;  // a machine with a GPU
    }
  }
  EXPECT_EQ(cublas, 4);
}

TEST_F(verdict_cli, run_bad_input_exits_2_with_one_line) {
  expect_usage_error("run linear --impl 'nosuch.*'", "--impl nosuch.*: matches no backend");
  expect_usage_error("run linear --m 3", "--m: not a size of linear");
  expect_usage_error("run conv2d --size 3,4,5", "--size: 3 values for a 2-d convolution");
  expect_usage_error("run linear --dist cauchy", "--dist: unknown distribution 'cauchy'");
  expect_usage_error("run linear --dtype int8", "--dtype: unknown input format 'int8'");
  expect_usage_error("run linear --declared f99", "unknown arithmetic model 'f99'");
  expect_usage_error("run conv9d", "unknown op 'conv9d'");
  expect_usage_error("run linear --stride 2", "--stride: not an option of linear");
  expect_usage_error("run linear --impl torch.cpu.conv2d.f32",
                     "no selected implementation runs linear");
}

#ifdef ROUNDOFF_TEST_HAVE_TORCH
// The seed question: F.linear and x @ W.T + b in fp32 on the CPU are both consistent with f32
// rounding, and so is their comparison. How many elements differ (thousands with MKL on AVX2)
// depends on the kernels LibTorch picks on this CPU: printed, not asserted.
TEST_F(verdict_cli, seed_case_torch_linear_and_matmul_add_are_both_consistent) {
  const json j = run_json("run linear --impl 'torch.cpu.*'", 0);
  EXPECT_EQ(j["params"]["batch"], 32);
  EXPECT_EQ(j["params"]["in_features"], 2048);
  EXPECT_EQ(j["params"]["out_features"], 512);
  std::map<std::string, json> by_name;
  for (const auto& r : j["results"]) by_name[r["name"]] = r;
  ASSERT_TRUE(by_name.count("torch.cpu.linear.f32"));
  ASSERT_TRUE(by_name.count("torch.cpu.matmul_add.f32"));
  EXPECT_EQ(by_name["torch.cpu.linear.f32"]["verdict"], "consistent");
  EXPECT_EQ(by_name["torch.cpu.matmul_add.f32"]["verdict"], "consistent");
  bool found = false;
  for (const auto& c : j["comparisons"]) {
    if (c["a"] == "torch.cpu.linear.f32" && c["b"] == "torch.cpu.matmul_add.f32") {
      found = true;
      std::cerr << "[seed] torch.cpu.linear.f32 vs torch.cpu.matmul_add.f32: " << c["differing"]
                << " elements differ, max |a-b| " << c["max_abs_difference"] << '\n';
      EXPECT_EQ(c["verdict"], "consistent") << c;
    }
  }
  EXPECT_TRUE(found) << j["comparisons"].dump();
}
#endif
