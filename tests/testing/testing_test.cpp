// roundoff/testing.hpp: the matcher and the plain forms accept correct outputs and fail wrong
// ones with the verdict sentence and the worst element in the message.
#include <gmock/gmock.h>
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <sstream>
#include <string>

#include "roundoff/testing.hpp"

namespace {

using namespace roundoff;

struct case_ {
  tensor x{{4, 8}, {}, format_id::f32}, w{{3, 8}, {}, format_id::f32}, b{{3}, {}, format_id::f32};
  tensor y{{4, 3}, {}, format_id::f32};
};

// A float32 linear computed the obvious way (sequential f32 sums, bias last): independent of
// roundoff's emulators.
case_ make() {
  case_ c;
  std::mt19937_64 g(7);
  std::normal_distribution<float> nd;
  for (int i = 0; i < 32; ++i) c.x.data.push_back(nd(g));
  for (int i = 0; i < 24; ++i) c.w.data.push_back(nd(g));
  for (int i = 0; i < 3; ++i) c.b.data.push_back(nd(g));
  for (int i = 0; i < 4; ++i)
    for (int n = 0; n < 3; ++n) {
      volatile float s = 0;
      for (int k = 0; k < 8; ++k)
        s = s + static_cast<float>(c.x.data[static_cast<std::size_t>(i * 8 + k)]) *
                    static_cast<float>(c.w.data[static_cast<std::size_t>(n * 8 + k)]);
      s = s + static_cast<float>(c.b.data[static_cast<std::size_t>(n)]);
      c.y.data.push_back(s);
    }
  return c;
}

const ops::op_spec linear(ops::op_kind::linear);

// The problem form (the value verdicts::check takes) accepts a correct float32 output.
TEST(Testing, ProblemMatcherAcceptsFloat32Linear) {
  auto c = make();
  const ops::problem p{linear, c.x, c.w, &c.b};
  EXPECT_THAT(c.y, roundoff::testing::RoundingConsistent(p, "f32"));
  EXPECT_THAT(c.y, roundoff::testing::RoundingConsistent({linear, c.x, c.w, &c.b}, "f32"));
  // The explanation of a match is the verdict's sentence.
  std::ostringstream why;
  EXPECT_TRUE(roundoff::testing::RoundingConsistent(p, "f32").MatchAndExplain(c.y, &why));
  EXPECT_NE(why.str().find("consistent"), std::string::npos) << why.str();
}

// A planted fault: output element (2, 1) drops one term of its sum, x[2, 5] * w[1, 5] (made
// large so that no f32 rounding can hide it). The problem form fails, and its message carries
// the verdict and the faulty element; the positional form says the same.
TEST(Testing, ProblemMatcherCatchesADroppedTerm) {
  auto c = make();
  c.x.data[2 * 8 + 5] = 4.0;
  c.w.data[1 * 8 + 5] = -3.0;
  // Recompute the correct outputs with the new operands, then drop the term from element (2, 1).
  c.y.data.clear();
  for (int i = 0; i < 4; ++i)
    for (int n = 0; n < 3; ++n) {
      volatile float s = 0;
      for (int k = 0; k < 8; ++k) {
        if (i == 2 && n == 1 && k == 5) continue;  // the dropped term
        s = s + static_cast<float>(c.x.data[static_cast<std::size_t>(i * 8 + k)]) *
                    static_cast<float>(c.w.data[static_cast<std::size_t>(n * 8 + k)]);
      }
      s = s + static_cast<float>(c.b.data[static_cast<std::size_t>(n)]);
      c.y.data.push_back(s);
    }
  const ops::problem p{linear, c.x, c.w, &c.b};
  EXPECT_NONFATAL_FAILURE(EXPECT_THAT(c.y, roundoff::testing::RoundingConsistent(p, "f32")),
                          "worst element: index 7");
  EXPECT_NONFATAL_FAILURE(EXPECT_THAT(c.y, roundoff::testing::RoundingConsistent(p, "f32")),
                          "more than any f32 rounding allows");
  std::ostringstream why;
  EXPECT_FALSE(roundoff::testing::RoundingConsistent(p, "f32").MatchAndExplain(c.y, &why));
  EXPECT_NE(why.str().find("violation"), std::string::npos) << why.str();
  EXPECT_EQ(why.str(), *roundoff::testing::rounding_inconsistency(c.y, p, "f32"));
  std::ostringstream positional;
  EXPECT_FALSE(roundoff::testing::RoundingConsistent(linear, c.x, c.w, c.b, "f32")
                   .MatchAndExplain(c.y, &positional));
  EXPECT_EQ(positional.str(), why.str());
  // The term restored, the same matcher passes.
  const double dropped = static_cast<float>(static_cast<float>(c.x.data[2 * 8 + 5]) *
                                            static_cast<float>(c.w.data[1 * 8 + 5]));
  c.y.data[7] = static_cast<float>(c.y.data[7] + dropped);
  EXPECT_THAT(c.y, roundoff::testing::RoundingConsistent(p, "f32"));
}

TEST(Testing, MatcherAcceptsFloat32Linear) {
  auto c = make();
  EXPECT_THAT(c.y, roundoff::testing::RoundingConsistent(linear, c.x, c.w, c.b, "f32"));
  EXPECT_TRUE(roundoff::testing::IsRoundingConsistent(c.y, {linear, c.x, c.w, &c.b}, "f32"));
  EXPECT_NO_THROW(
      roundoff::testing::require_rounding_consistent(c.y, {linear, c.x, c.w, &c.b}, "f32"));
}

TEST(Testing, FailureMessageCarriesVerdictAndWorstElement) {
  auto c = make();
  c.y.data[4] += 0.01f;
  EXPECT_NONFATAL_FAILURE(
      EXPECT_THAT(c.y, roundoff::testing::RoundingConsistent(linear, c.x, c.w, c.b, "f32")),
      "worst element: index 4");
  EXPECT_NONFATAL_FAILURE(
      EXPECT_THAT(c.y, roundoff::testing::RoundingConsistent(linear, c.x, c.w, c.b, "f32")),
      "more than any f32 rounding allows");
  auto r = roundoff::testing::IsRoundingConsistent(c.y, {linear, c.x, c.w, &c.b}, "f32");
  EXPECT_FALSE(r);
  EXPECT_NE(std::string(r.message()).find("violation"), std::string::npos) << r.message();
  // The GoogleTest-free form (roundoff/verdicts/require.hpp) says the same.
  const auto why = roundoff::testing::rounding_inconsistency(c.y, {linear, c.x, c.w, &c.b}, "f32");
  ASSERT_TRUE(why.has_value());
  EXPECT_NE(why->find("worst element: index 4"), std::string::npos) << *why;
  EXPECT_FALSE(
      roundoff::testing::rounding_inconsistency(make().y, {linear, c.x, c.w, &c.b}, "f32"));
  try {
    roundoff::testing::require_rounding_consistent(c.y, {linear, c.x, c.w, &c.b}, "f32");
    FAIL() << "no throw";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("index 4"), std::string::npos) << e.what();
  }
  // Negation works too.
  EXPECT_THAT(c.y,
              ::testing::Not(roundoff::testing::RoundingConsistent(linear, c.x, c.w, c.b, "f32")));
  // Without the bias the output is wrong everywhere.
  auto ok = make();
  EXPECT_THAT(ok.y, ::testing::Not(
                        roundoff::testing::RoundingConsistent(linear, ok.x, ok.w, nullptr, "f32")));
}

}  // namespace
