// Assertions that an output is explained by rounding in a declared arithmetic, without
// GoogleTest: for any test harness (or a production guard). The GoogleTest matcher with the same
// semantics is in <roundoff/testing.hpp>.
//
//   roundoff::ops::problem p{roundoff::ops::op_kind::linear, x, w, &b};
//   roundoff::testing::require_rounding_consistent(y, p, "f32");  // throws
//   if (auto why = roundoff::testing::rounding_inconsistency(y, p, "f32"))
//     std::cerr << *why << '\n';
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "roundoff/verdicts/check.hpp"

namespace roundoff::testing {

struct consistency_options {
  verdicts::check_options check;
  bool allow_suspicious = false;  ///< accept "suspicious" verdicts
};

/// True when the verdict passes: consistent, "no guarantee" (nothing is claimed), or suspicious
/// with allow_suspicious.
bool accepted(const verdicts::verdict& v, const consistency_options& opt) noexcept;

/// The verdict sentence, the counts and the worst element, as one failure message.
std::string failure_message(const verdicts::verdict& v);

/// The failure message when y is not explained by rounding in `model` (see accepted), else none.
std::optional<std::string> rounding_inconsistency(const tensor_view& y, const ops::problem& p,
                                                  std::string_view model,
                                                  const consistency_options& opt = {});

/// Throws verdict_error(failure_message) unless the verdict is accepted; returns the
/// verdict otherwise.
verdicts::verdict require_rounding_consistent(const tensor_view& y, const ops::problem& p,
                                              std::string_view model,
                                              const consistency_options& opt = {});

}  // namespace roundoff::testing
