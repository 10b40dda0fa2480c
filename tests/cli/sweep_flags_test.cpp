// roundoff sweep's --vary and --dim syntax (src/cli/sweep_flags.cpp).
#include "sweep_flags.hpp"

#include <functional>

#include <gtest/gtest.h>

#include "roundoff/error.hpp"

namespace roundoff {
namespace {

std::string input_error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const input_error& e) {
    return e.what();
  }
  return "(no input_error)";
}

TEST(sweep_flags, vary_ParsesRangesInclusiveOfStop) {
  auto r = cli::parse_vary("in=1:2048:64");
  EXPECT_EQ(r.dim, "in");
  auto v = verdicts::vary_values(r);
  ASSERT_EQ(v.size(), 32u);  // 1, 65, ..., 1985 (2049 would pass 2048)
  EXPECT_EQ(v.front(), 1);
  EXPECT_EQ(v.back(), 1985);
  v = verdicts::vary_values(cli::parse_vary("out=64:2048:64"));
  ASSERT_EQ(v.size(), 32u);
  EXPECT_EQ(v.back(), 2048);
  v = verdicts::vary_values(cli::parse_vary("batch=3:7"));  // step 1
  EXPECT_EQ(v, (std::vector<std::int64_t>{3, 4, 5, 6, 7}));
  v = verdicts::vary_values(cli::parse_vary("in=1:2048:x2"));
  ASSERT_EQ(v.size(), 12u);
  EXPECT_EQ(v.back(), 2048);
  v = verdicts::vary_values(cli::parse_vary("in=3:100:x3"));
  EXPECT_EQ(v, (std::vector<std::int64_t>{3, 9, 27, 81}));
  v = verdicts::vary_values(cli::parse_vary("in=5:5"));
  EXPECT_EQ(v, (std::vector<std::int64_t>{5}));
}

TEST(sweep_flags, vary_RefusesBadSyntaxAndEmptyRanges) {
  for (const char* bad :
       {"in", "in=", "in=1", "in=1:2:3:4", "=1:2", "IN=1:2", "in=0:10", "in=-1:10", "in=10:1",
        "in=1:10:0", "in=1:10:-2", "in=1:10:x1", "in=1:10:x", "in=a:b", "in=1:99999999999999999999",
        "in=1.5:3", "in= 1:3"}) {
    const std::string m = input_error_of([&] { cli::parse_vary(bad); });
    EXPECT_EQ(m.rfind("--vary ", 0), 0u) << bad << ": " << m;
    EXPECT_EQ(m.find('\n'), std::string::npos);
  }
}

TEST(sweep_flags, dim_ParsesSizesAndTies) {
  auto [n, d] = cli::parse_dim("batch=32");
  EXPECT_EQ(n, "batch");
  EXPECT_EQ(d.value, 32);
  EXPECT_TRUE(d.tied_to.empty());
  auto [n2, d2] = cli::parse_dim("out=in");
  EXPECT_EQ(n2, "out");
  EXPECT_EQ(d2.tied_to, "in");
  for (const char* bad : {"batch", "batch=", "batch=0", "batch=-3", "=3", "batch=3x"}) {
    const std::string m = input_error_of([&] { cli::parse_dim(bad); });
    EXPECT_EQ(m.rfind("--dim ", 0), 0u) << bad << ": " << m;
  }
}

}  // namespace
}  // namespace roundoff
