// --device of roundoff reference|check|run (docs/exact-gpu.md): without a usable CUDA device,
// --device cuda is one line and exit 2 before any work; with one, the reference it writes is
// byte for byte the CPU engine's (whose values cli_test checks against int64 arithmetic).
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>

#include "cli_fixture.hpp"
#include "property.hpp"
#include "roundoff/exact/gemm.hpp"
#include "roundoff/io/npy.hpp"

namespace {

using roundoff::format_id;
using roundoff::tensor;

class device_cli : public roundoff::test::cli_fixture {
 protected:
  void save_operands() const {
    auto g = roundoff::test::rng(0xdec1);
    std::normal_distribution<double> nd;
    tensor x{{4, 3000}, {}}, w{{33, 3000}, {}}, b{{33}, {}};
    for (std::int64_t i = 0; i < 4 * 3000; ++i) x.data.push_back(static_cast<float>(nd(g)));
    for (std::int64_t i = 0; i < 33 * 3000; ++i) w.data.push_back(static_cast<float>(nd(g)));
    for (std::int64_t i = 0; i < 33; ++i) b.data.push_back(static_cast<float>(nd(g)));
    roundoff::io::write_npy(dir_ / "x.npy", x, format_id::f32);
    roundoff::io::write_npy(dir_ / "w.npy", w, format_id::f32);
    roundoff::io::write_npy(dir_ / "b.npy", b, format_id::f32);
  }
};

TEST_F(device_cli, cuda_without_a_device_is_one_line_and_exit_2) {
  std::string why;
  if (roundoff::exact::device_available(roundoff::exact::device_kind::cuda, &why))
    GTEST_SKIP() << "a CUDA device is available";
  save_operands();
  const std::string want = "roundoff: --device cuda: " + why + "\n";
  const auto r1 = expect_usage_error(
      "reference linear --input x.npy --weight w.npy --out y.npy --device cuda", why);
  EXPECT_EQ(r1.err, want);
  const auto r2 = expect_usage_error(
      "check linear --input x.npy --weight w.npy --output x.npy --declared f32 --device cuda", why);
  EXPECT_EQ(r2.err, want);
  const auto r3 = expect_usage_error("run linear --impl 'cpu.*' --device cuda", why);
  EXPECT_EQ(r3.err, want);
  EXPECT_TRUE(r3.out.empty()) << r3.out;  // refused before running any implementation
  expect_usage_error("reference linear --input x.npy --weight w.npy --out y.npy --device tpu",
                     "--device: tpu not in {cpu,cuda}");
}

TEST_F(device_cli, cuda_applies_to_the_fast_method_only) {
  save_operands();
  expect_usage_error(
      "reference linear --input x.npy --weight w.npy --out y.npy --method simple --device cuda",
      "--device cuda: applies to --method fast only");
}

TEST_F(device_cli, cuda_reference_equals_cpu_reference) {
  std::string why;
  if (!roundoff::exact::device_available(roundoff::exact::device_kind::cuda, &why))
    GTEST_SKIP() << why;
  save_operands();
  const auto cpu = run("reference linear --input x.npy --weight w.npy --bias b.npy --out c.npy");
  ASSERT_EQ(cpu.rc, 0) << cpu.err;
  const auto gpu =
      run("reference linear --input x.npy --weight w.npy --bias b.npy --out g.npy --device cuda");
  ASSERT_EQ(gpu.rc, 0) << gpu.err;
  EXPECT_EQ(roundoff::test::slurp(dir_ / "g.npy"), roundoff::test::slurp(dir_ / "c.npy"));
  const auto chk =
      run("check linear --input x.npy --weight w.npy --bias b.npy --output c.npy --declared f64 "
          "--device cuda");
  EXPECT_EQ(chk.rc, 0) << chk.out << chk.err;
}

}  // namespace
