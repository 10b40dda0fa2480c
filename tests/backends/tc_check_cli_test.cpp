// `roundoff check` on real H200 outputs (tests/fixtures/h200): the report says when an output is
// bit-identical to the sm_90 tensor-core emulation (text line and JSON `bit_identical_to`), says
// nothing when one element differs or for a plain f32 check (not tried), and the verdict is the
// one the bounds give either way (docs/tensor-cores.md §3).
#include <nlohmann/json.hpp>

#include <cmath>

#include "cli_fixture.hpp"
#include "roundoff/io/npy.hpp"
#include "roundoff/io/read_tensor.hpp"

namespace {

using roundoff::test::cli_fixture;
using json = nlohmann::json;

const std::string probe = std::string(ROUNDOFF_FIXTURES_DIR) + "/probe_subset.npz";
const std::string seed = std::string(ROUNDOFF_FIXTURES_DIR) + "/seed_subset.npz";

std::string probe_args(const std::string& key, const std::string& output,
                       const std::string& declared) {
  return "check linear --input " + probe + ":" + key + "_x --weight " + probe + ":" + key +
         "_w --output gpu=" + output + " --declared " + declared;
}

class tc_check : public cli_fixture {};

TEST_F(tc_check, says_bit_identical_in_text_and_json) {
  const auto r = run(probe_args("tf32_K256", probe + ":tf32_K256_y", "tf32"));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("\ngpu: bit-identical to sm_90 tensor cores (tf32, K-blocks of 8 in "
                       "sequence)\n"),
            std::string::npos)
      << r.out;
  const auto j = run(probe_args("tf32_K256", probe + ":tf32_K256_y", "tf32") + " --format json");
  ASSERT_EQ(j.rc, 0) << j.err;
  const json d = json::parse(j.out);
  EXPECT_EQ(d["results"][0]["verdict"], "consistent");
  EXPECT_EQ(d["results"][0]["bit_identical_to"],
            "sm_90 tensor cores (tf32, K-blocks of 8 in sequence)");
}

TEST_F(tc_check, names_the_cublas_order_of_the_seed_case) {
  const auto r = run("check linear --input " + seed + ":x_bf16 --weight " + seed +
                     ":W_bf16 --bias " + seed + ":b_bf16 --output lin=" + seed +
                     ":linear_bf16 --output ma=" + seed + ":matmul_add_bf16 --declared bf16");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("lin: bit-identical to sm_90 tensor cores (bf16, K-blocks of 16 in "
                       "sequence, output rounded to bf16)"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("ma: bit-identical to sm_90 tensor cores (bf16, K-blocks of 16 in "
                       "sequence, bias added after rounding to bf16)"),
            std::string::npos)
      << r.out;
}

TEST_F(tc_check, names_cudnn_conv2d_tf32) {
  const std::string conv = std::string(ROUNDOFF_FIXTURES_DIR) + "/conv_subset.npz";
  const auto j =
      run("check conv2d --padding 1 --input " + conv + ":x --weight " + conv + ":w --bias " + conv +
          ":b --output gpu=" + conv + ":conv2d_tf32 --declared tf32 --format json");
  ASSERT_EQ(j.rc, 0) << j.err;
  EXPECT_EQ(json::parse(j.out)["results"][0]["bit_identical_to"],
            "sm_90 tensor cores (tf32 (inputs rounded to nearest, ties away), K-blocks of 8 in "
            "sequence, implicit GEMM over kernel taps, then channels)");
}

TEST_F(tc_check, one_differing_element_matches_nothing_and_stays_consistent) {
  roundoff::tensor y = roundoff::io::read_tensor(probe + ":tf32_K256_y");
  y.data[1000] = std::nextafter(static_cast<float>(y.data[1000]), 0.0f);
  roundoff::io::write_npy(path("y.npy"), y, roundoff::format_id::f32);
  const auto j = run(probe_args("tf32_K256", "y.npy", "tf32") + " --format json");
  ASSERT_EQ(j.rc, 0) << j.err;
  const json d = json::parse(j.out);
  EXPECT_EQ(d["results"][0]["verdict"], "consistent");
  EXPECT_FALSE(d["results"][0].contains("bit_identical_to")) << j.out;
}

TEST_F(tc_check, plain_f32_is_not_tried) {
  // The tf32 probe output is also consistent with f32; declared f32 and identified f32, so no
  // emulation is tried and the report is unchanged.
  const auto j = run(probe_args("tf32_K16", probe + ":tf32_K16_y", "f32") + " --format json");
  ASSERT_EQ(j.rc, 0) << j.err;
  EXPECT_FALSE(json::parse(j.out)["results"][0].contains("bit_identical_to")) << j.out;
  const auto t = run(probe_args("f32_K16", probe + ":f32_K16_y", "f32"));
  EXPECT_EQ(t.out.find("bit-identical"), std::string::npos) << t.out;
}

TEST_F(tc_check, a_violation_stays_a_violation) {
  roundoff::tensor y = roundoff::io::read_tensor(probe + ":tf32_K16_y");
  y.data[7] += 1.0;  // far beyond any rounding
  roundoff::io::write_npy(path("bad.npy"), y, roundoff::format_id::f32);
  const auto j = run(probe_args("tf32_K16", "bad.npy", "tf32") + " --format json");
  EXPECT_EQ(j.rc, 1) << j.err;
  const json d = json::parse(j.out);
  EXPECT_EQ(d["results"][0]["verdict"], "violation");
  EXPECT_FALSE(d["results"][0].contains("bit_identical_to"));
}

}  // namespace

namespace {

TEST_F(tc_check, run_runs_the_emulations_on_request_and_leaves_its_report_as_it_was) {
  const std::string shape = "run linear --batch 4 --in-features 100 --out-features 8";
  const auto j = run(shape + " --impl 'model.sm90.*' --format json");
  ASSERT_EQ(j.rc, 0) << j.err;
  const json d = json::parse(j.out);
  ASSERT_EQ(d["results"].size(), 4u);
  for (const auto& r : d["results"]) {
    EXPECT_EQ(r["verdict"], "consistent") << r.dump();
    // run does not search emulations: its outputs are the implementations' own.
    EXPECT_FALSE(r.contains("bit_identical_to")) << r.dump();
  }
  EXPECT_NE(d["results"][1]["source"]["notes"].get<std::string>().find(
                "split-K in 8 slices of K-blocks of 8"),
            std::string::npos);
}

}  // namespace
