// GoogleTest assertions that an output is explained by rounding in a declared arithmetic.
//
//   roundoff::ops::problem p{roundoff::ops::op_kind::linear, x, w, &b};
//   EXPECT_THAT(y, roundoff::testing::RoundingConsistent(p, "f32"));
//   EXPECT_TRUE(roundoff::testing::IsRoundingConsistent(y, p, "f32"));
//
// (the positional RoundingConsistent(op, x, w, b, "f32") is the same matcher over copies of x,
// w and b.)
//
// The GoogleTest-free part (consistency_options, failure_message, require_rounding_consistent)
// is <roundoff/verdicts/require.hpp>, included here.
// A failure message carries the verdict sentence and the worst element. The check is
// roundoff::verdicts::check (docs/verdicts.md); "suspicious" fails unless allow_suspicious is set.
// Link roundoff::testing (it needs GTest::gmock; with an installed roundoff, call
// find_package(GTest) before linking it).
#pragma once

#include <gmock/gmock.h>

#include <memory>
#include <ostream>
#include <string>
#include <string_view>

#include "roundoff/verdicts/check.hpp"
#include "roundoff/verdicts/require.hpp"

// GoogleTest's names: PrintTo, MatchAndExplain, DescribeTo and DescribeNegationTo are the hooks
// it looks up; IsRoundingConsistent and RoundingConsistent read like its own matchers.
// NOLINTBEGIN(readability-identifier-naming)
namespace roundoff {

/// Prints shape, format and the first few values (so that gtest does not dump raw bytes).
void PrintTo(const tensor& t, std::ostream* os);

namespace testing {

/// Plain assertion form: success iff the verdict is consistent (or suspicious, if allowed).
::testing::AssertionResult IsRoundingConsistent(const tensor_view& y, const ops::problem& p,
                                                std::string_view model,
                                                const consistency_options& opt = {});

/// GoogleTest matcher over a roundoff::tensor output.
class rounding_consistent_matcher {
 public:
  using is_gtest_matcher = void;

  /// Over p's views: the buffers they view must outlive the matcher. `owner` (may be null) is
  /// kept alive with the matcher (the positional form's copies of x, w, b).
  rounding_consistent_matcher(ops::problem p, std::string model, consistency_options opt,
                              std::shared_ptr<const void> owner = nullptr);
  /// Over copies of x, w and b (b may be null).
  rounding_consistent_matcher(const ops::op_spec& op, tensor x, tensor w,
                              std::shared_ptr<const tensor> b, std::string model,
                              consistency_options opt);

  bool MatchAndExplain(const tensor& y, std::ostream* os) const;
  void DescribeTo(std::ostream* os) const;
  void DescribeNegationTo(std::ostream* os) const;

 private:
  struct state;
  std::shared_ptr<const state> s_;
};

/// Matches an output y of problem p (the value verdicts::check takes) that is explained by
/// rounding in `model`; a mismatch explains itself with failure_message(verdict). The matcher
/// holds p's views, not copies: the buffers must outlive it, as they do in
///   EXPECT_THAT(y, RoundingConsistent({ops::op_kind::linear, x, w, &b}, "f32"));
rounding_consistent_matcher RoundingConsistent(const ops::problem& p, std::string_view model,
                                               const consistency_options& opt = {});

/// Matches an output y of `op` on (x, w, b) that is explained by rounding in `model`: the
/// problem form over copies of x, w and b (which need not outlive the matcher).
rounding_consistent_matcher RoundingConsistent(const ops::op_spec& op, const tensor& x,
                                               const tensor& w, const tensor& b,
                                               std::string_view model,
                                               const consistency_options& opt = {});
/// As above; b may be nullptr (no bias).
rounding_consistent_matcher RoundingConsistent(const ops::op_spec& op, const tensor& x,
                                               const tensor& w, const tensor* b,
                                               std::string_view model,
                                               const consistency_options& opt = {});

}  // namespace testing
}  // namespace roundoff
// NOLINTEND(readability-identifier-naming)
