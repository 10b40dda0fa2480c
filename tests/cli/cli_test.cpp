// Drives the built `roundoff` binary: exit codes, one-line stderr messages, and the reference
// command's output against hand-computed exact results (integer-valued inputs whose products
// and sums are exact in int64, and a cancellation case that double arithmetic gets wrong).
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "cli_fixture.hpp"
#include "property.hpp"
#include "roundoff/io/npy.hpp"

namespace fs = std::filesystem;
using roundoff::format_id;
using roundoff::tensor;

namespace {

using result = roundoff::test::cli_result;
using roundoff::test::slurp;

class cli : public roundoff::test::cli_fixture {
 protected:
  void save(const std::string& f, const tensor& t, format_id as = format_id::f64) const {
    roundoff::io::write_npy(dir_ / f, t, as);
  }
  void save_bytes(const std::string& f, const std::string& bytes) const {
    std::ofstream(dir_ / f, std::ios::binary) << bytes;
  }
  tensor load(const std::string& f) const { return roundoff::io::read_npy(dir_ / f); }
};

std::string npy_bytes(const std::string& descr, const std::string& shape, std::size_t data) {
  std::string h = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }\n";
  std::string out = std::string("\x93NUMPY\x01\x00", 8);
  out += static_cast<char>(h.size() & 0xFF);
  out += static_cast<char>(h.size() >> 8);
  return out + h + std::string(data, '\0');
}

}  // namespace

TEST_F(cli, version_lists_the_optional_parts) {
  const result r = run("version");
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out.rfind("roundoff 0.", 0), 0u) << r.out;
  EXPECT_NE(r.out.find("\nLibTorch: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\nCUDA: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\nexact kernel: "), std::string::npos) << r.out;
  EXPECT_NE(run("version", "ROUNDOFF_EXACT_KERNEL=blas").out.find("\nexact kernel: openblas\n"),
            std::string::npos);
  EXPECT_TRUE(r.err.empty()) << r.err;
  EXPECT_EQ(run("--version").rc, 0);
  EXPECT_EQ(run("--help").rc, 0);
  EXPECT_EQ(run("reference --help").rc, 0);
  // LibTorch and CUDA are in a plugin loaded on first use (docs/backends.md, §7): version loads
  // neither (the dynamic loader lists every library it opens under LD_DEBUG=libs).
  const result traced = run("version", "LD_DEBUG=libs");
  EXPECT_EQ(traced.err.find("libtorch"), std::string::npos) << traced.err.substr(0, 2000);
  EXPECT_EQ(traced.err.find("libcudart"), std::string::npos) << traced.err.substr(0, 2000);
  EXPECT_EQ(traced.err.find("roundoff_backends_torch"), std::string::npos);
}

TEST_F(cli, usage_errors_exit_2_with_one_line) {
  save("x.npy", tensor{{2, 3}, {1, 2, 3, 4, 5, 6}});
  save("w.npy", tensor{{4, 3}, std::vector<double>(12, 1.0)});
  const std::string ok = "--input x.npy --weight w.npy --out y.npy";
  expect_usage_error("", "no command given");
  expect_usage_error("frobnicate", "frobnicate");
  expect_usage_error("reference", "op is required");
  expect_usage_error("reference linear --weight w.npy --out y.npy", "--input is required");
  expect_usage_error("reference linear --input x.npy --weight w.npy", "--out is required");
  expect_usage_error("reference conv9d " + ok, "unknown op 'conv9d' (known: linear, matmul");
  expect_usage_error("reference linear " + ok + " --method exactish", "--method");
  expect_usage_error("reference linear " + ok + " --threads 0", "--threads");
  expect_usage_error("reference linear " + ok + " --threads many", "--threads");
  expect_usage_error("reference linear " + ok + " --precision-bits 100",
                     "--precision-bits: applies to --method mpfr only");
  expect_usage_error("reference linear " + ok + " --no-such-flag", "--no-such-flag");
  EXPECT_FALSE(fs::exists(dir_ / "y.npy"));
}

TEST_F(cli, input_errors_name_the_file) {
  save("x.npy", tensor{{2, 3}, {1, 2, 3, 4, 5, 6}});
  save("w.npy", tensor{{4, 3}, std::vector<double>(12, 1.0)});
  save("w5.npy", tensor{{4, 5}, std::vector<double>(20, 1.0)});
  save("b3.npy", tensor{{3}, {1, 2, 3}});
  tensor nan_x{{2, 3}, {1, 2, 3, 4, std::numeric_limits<double>::quiet_NaN(), 6}};
  save("nan.npy", nan_x);
  save("inf.npy", tensor{{4}, {0, 0, -std::numeric_limits<double>::infinity(), 0}});
  save_bytes("text.npy", "just some text, not numpy");
  save_bytes("int.npy", npy_bytes("<i4", "(2, 3)", 24));
  save_bytes("short.npy", npy_bytes("<f8", "(2, 3)", 40));
  const std::string w = " --weight w.npy --out y.npy";
  expect_usage_error("reference linear --input missing.npy" + w,
                     "missing.npy: cannot open: No such file or directory");
  expect_usage_error("reference linear --input text.npy" + w, "text.npy: not a .npy file");
  expect_usage_error("reference linear --input int.npy" + w,
                     "int.npy: unsupported dtype '<i4' (int32)");
  expect_usage_error("reference linear --input short.npy" + w,
                     "short.npy: truncated data: shape (2, 3) needs 48 bytes, found 40");
  expect_usage_error("reference linear --input nan.npy" + w,
                     "nan.npy: element [1, 1] is NaN; non-finite inputs are refused");
  expect_usage_error("reference linear --input x.npy --bias inf.npy" + w,
                     "inf.npy: element [2] is -Inf");
  expect_usage_error("reference linear --input x.npy --weight w5.npy --out y.npy",
                     "linear: --input x.npy [2, 3], --weight w5.npy [4, 5]: ");
  expect_usage_error("reference linear --input x.npy --bias b3.npy" + w, "--bias b3.npy [3]: ");
  expect_usage_error("reference linear --input x.npy --weight w.npy --out nodir/y.npy",
                     "nodir/y.npy: cannot write: directory nodir does not exist");
  EXPECT_FALSE(fs::exists(dir_ / "y.npy"));
}

TEST_F(cli, reference_linear_matches_integer_arithmetic) {
  // Integer-valued f32/f16 inputs: every product and sum is an exact int64, so the exact result
  // is known independently of roundoff's engines. Batched x [2, 3, K], bias in f16.
  auto g = roundoff::test::rng(0xc11);
  std::uniform_int_distribution<int> small(-1000, 1000), tiny(-8, 8);
  const std::int64_t B = 2, M = 3, K = 37, N = 5;
  tensor x{{B, M, K}, {}}, w{{N, K}, {}}, b{{N}, {}};
  for (std::int64_t i = 0; i < B * M * K; ++i) x.data.push_back(small(g) * 4096.0);
  for (std::int64_t i = 0; i < N * K; ++i) w.data.push_back(small(g));
  for (std::int64_t i = 0; i < N; ++i) b.data.push_back(tiny(g));
  save("x.npy", x, format_id::f32);
  save("w.npy", w, format_id::f32);
  // bias as f16: '<f2' bytes for small integers
  std::string bias = npy_bytes("<f2", "(5,)", 0);
  for (double v : b.data) {
    // exact f16 encoding of an integer |v| <= 8
    std::uint16_t bits = 0;
    if (v != 0) {
      const double a = std::abs(v);
      int e = 0;
      while (std::ldexp(1.0, e + 1) <= a) ++e;
      const auto mant = static_cast<std::uint16_t>((a / std::ldexp(1.0, e) - 1) * 1024);
      bits = static_cast<std::uint16_t>((v < 0 ? 0x8000 : 0) | ((e + 15) << 10) | mant);
    }
    bias += static_cast<char>(bits & 0xFF);
    bias += static_cast<char>(bits >> 8);
  }
  save_bytes("b.npy", bias);

  for (const std::string method : {"fast", "simple", "mpfr"}) {
    const result r =
        run("reference linear --input x.npy --weight w.npy --bias b.npy --out y.npy "
            "--method " +
            method);
    ASSERT_EQ(r.rc, 0) << r.err;
    EXPECT_TRUE(r.err.empty()) << r.err;
    EXPECT_NE(r.out.find("x.npy [2, 3, 37] f32"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("b.npy [5] f16"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("y.npy [2, 3, 5] f64"), std::string::npos) << r.out;
    if (method == "mpfr") {
      EXPECT_NE(r.out.find("all 30 elements exact"), std::string::npos) << r.out;
    }
    const tensor y = load("y.npy");
    EXPECT_EQ(y.type, format_id::f64);
    ASSERT_EQ(y.shape, (std::vector<std::int64_t>{B, M, N}));
    for (std::int64_t bm = 0; bm < B * M; ++bm) {
      for (std::int64_t n = 0; n < N; ++n) {
        std::int64_t s = static_cast<std::int64_t>(b.data[static_cast<std::size_t>(n)]);
        for (std::int64_t k = 0; k < K; ++k)
          s += static_cast<std::int64_t>(x.data[static_cast<std::size_t>(bm * K + k)]) *
               static_cast<std::int64_t>(w.data[static_cast<std::size_t>(n * K + k)]);
        EXPECT_EQ(y.data[static_cast<std::size_t>(bm * N + n)], static_cast<double>(s))
            << method << " element " << bm << ", " << n << "; " << roundoff::test::replay(0);
      }
    }
  }
}

TEST_F(cli, reference_is_exact_where_double_arithmetic_cancels) {
  // sum = 2^60 + 1 + 0.5 - 2^60 = 1.5 exactly; any double-precision evaluation order that adds
  // 2^60 first loses the 1 and the 0.5.
  save("x.npy", tensor{{1, 4}, {std::ldexp(1.0, 60), 1.0, 0.5, -std::ldexp(1.0, 60)}});
  save("w.npy", tensor{{2, 4}, {1, 1, 1, 1, 1, 3, 2, 1}});
  const result r = run("reference linear --input x.npy --weight w.npy --out y.npy");
  ASSERT_EQ(r.rc, 0) << r.err;
  const tensor y = load("y.npy");
  ASSERT_EQ(y.shape, (std::vector<std::int64_t>{1, 2}));
  EXPECT_EQ(y.data[0], 1.5);
  EXPECT_EQ(y.data[1], 4.0);  // 2^60 + 3 + 1 - 2^60
}

TEST_F(cli, mpfr_says_when_the_precision_is_not_enough) {
  // 1 + 2^-40 needs 41 bits; at 24 bits MPFR must round and say so.
  save("x.npy", tensor{{1, 2}, {1.0, std::ldexp(1.0, -40)}});
  save("w.npy", tensor{{1, 2}, {1.0, 1.0}});
  const result low =
      run("reference linear --input x.npy --weight w.npy --out y.npy --method mpfr "
          "--precision-bits 24");
  EXPECT_EQ(low.rc, 0) << low.err;
  EXPECT_NE(low.out.find("1 of 1 elements NOT exact"), std::string::npos) << low.out;
  EXPECT_EQ(low.err.rfind("roundoff: warning: 1 of 1 elements of y.npy", 0), 0u) << low.err;
  const result high =
      run("reference linear --input x.npy --weight w.npy --out y.npy --method mpfr");
  EXPECT_EQ(high.rc, 0) << high.err;
  EXPECT_NE(high.out.find("at 256 bits: all 1 elements exact"), std::string::npos) << high.out;
  EXPECT_EQ(load("y.npy").data[0], 1.0 + std::ldexp(1.0, -40));
}

TEST_F(cli, reads_bf16_and_big_endian_inputs) {
  // bf16 as '|V2' raw data (docs/cli.md): 0x3F80 = 1, 0xC040 = -3; weights big-endian f8.
  std::string xb = npy_bytes("|V2", "(1, 2)", 0) + std::string("\x80\x3f\x40\xc0", 4);
  save_bytes("x.npy", xb);
  std::string wb = npy_bytes(">f8", "(1, 2)", 0);
  wb += std::string("\x40\x00\x00\x00\x00\x00\x00\x00", 8);  // 2.0
  wb += std::string("\x3f\xe0\x00\x00\x00\x00\x00\x00", 8);  // 0.5
  save_bytes("w.npy", wb);
  const result r = run("reference linear --input x.npy --weight w.npy --out y.npy");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("x.npy [1, 2] bf16"), std::string::npos) << r.out;
  EXPECT_EQ(load("y.npy").data, std::vector<double>{0.5});  // 1*2 - 3*0.5
}

TEST_F(cli, special_cases_empty_sums_and_overflow) {
  // K = 0: each output is the bias alone, or +0 without a bias.
  save("x0.npy", tensor{{3, 0}, {}});
  save("w0.npy", tensor{{2, 0}, {}});
  save("b.npy", tensor{{2}, {1.5, -2.0}});
  ASSERT_EQ(run("reference linear --input x0.npy --weight w0.npy --bias b.npy --out y.npy").rc, 0);
  EXPECT_EQ(load("y.npy").data, (std::vector<double>{1.5, -2.0, 1.5, -2.0, 1.5, -2.0}));
  ASSERT_EQ(run("reference linear --input x0.npy --weight w0.npy --out y.npy").rc, 0);
  const tensor z = load("y.npy");
  ASSERT_EQ(z.shape, (std::vector<std::int64_t>{3, 2}));
  for (double v : z.data) EXPECT_TRUE(v == 0 && !std::signbit(v));
  // A zero-size batch gives a zero-size output.
  save("xe.npy", tensor{{0, 4}, {}});
  save("we.npy", tensor{{2, 4}, std::vector<double>(8, 1.0)});
  ASSERT_EQ(run("reference linear --input xe.npy --weight we.npy --out y.npy").rc, 0);
  EXPECT_EQ(load("y.npy").shape, (std::vector<std::int64_t>{0, 2}));
  // Finite inputs whose exact result exceeds the double range: +Inf after the one rounding.
  save("xb.npy", tensor{{1, 2}, {1e300, 1e300}});
  save("wb.npy", tensor{{1, 2}, {1e300, -1.0}});
  ASSERT_EQ(run("reference linear --input xb.npy --weight wb.npy --out y.npy").rc, 0);
  EXPECT_EQ(load("y.npy").data[0], std::numeric_limits<double>::infinity());
}

// Added by the ops layer's owner (issue 3): conv flags through `reference <op>`.
TEST_F(cli, reference_conv_flags) {
  // x = [[1 2 3][4 5 6][7 8 9]], w = ones(1x2), stride (2,1), padding (0,1): rows 0 and 2, width
  // padded to [0 a b c 0], windows of 2 -> [1 3 5 3] and [7 15 17 9] (hand-computed).
  save("x.npy", tensor{{1, 1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9}});
  save("w.npy", tensor{{1, 1, 1, 2}, {1, 1}});
  const result r =
      run("reference conv2d --input x.npy --weight w.npy --out y.npy --stride 2,1 --padding 0,1");
  ASSERT_EQ(r.rc, 0) << r.err;
  const tensor y = load("y.npy");
  ASSERT_EQ(y.shape, (std::vector<std::int64_t>{1, 1, 2, 4}));
  EXPECT_EQ(y.data, (std::vector<double>{1, 3, 5, 3, 7, 15, 17, 9}));
  // conv_transpose1d, stride 2, output_padding 1: y[2i + t] += x[i] w[t] = [1 10 2 20 0].
  save("xt.npy", tensor{{1, 1, 2}, {1, 2}});
  save("wt.npy", tensor{{1, 1, 2}, {1, 10}});
  const result t =
      run("reference conv_transpose1d --input xt.npy --weight wt.npy --out yt.npy --stride 2 "
          "--output-padding 1");
  ASSERT_EQ(t.rc, 0) << t.err;
  EXPECT_EQ(load("yt.npy").data, (std::vector<double>{1, 10, 2, 20, 0}));

  expect_usage_error("reference linear --input x.npy --weight w.npy --out y.npy --stride 2",
                     "--stride: not an option of linear");
  expect_usage_error(
      "reference conv2d --input x.npy --weight w.npy --out y.npy --stride 2 --padding same",
      "padding='same' is not supported for strided convolutions");
  expect_usage_error("reference conv2d --input x.npy --weight w.npy --out y.npy --output-padding 1",
                     "--output-padding: applies only to conv_transpose ops");
  expect_usage_error("reference conv2d --input x.npy --weight w.npy --out y.npy --padding 1,x",
                     "--padding: expected same, valid, an integer");
  expect_usage_error("reference conv2d --input x.npy --weight w.npy --out y.npy --groups 2",
                     "expected weight to be at least 2 at dimension 0");
  expect_usage_error(
      "reference conv_transpose1d --input xt.npy --weight wt.npy --out yt.npy --output-padding 1",
      "output padding must be smaller than either stride or dilation");
}
