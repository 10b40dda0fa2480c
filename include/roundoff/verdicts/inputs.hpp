// The inputs `roundoff run` generates, shared by the CLI and the Python package (roundoff.run),
// so that one seed gives the same x, W and b in both.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "roundoff/tensor.hpp"

namespace roundoff::verdicts {

/// How generated inputs are distributed.
enum class distribution : std::uint8_t {
  normal,    ///< standard normal (Box-Muller)
  uniform,   ///< uniform on [-1, 1)
  positive,  ///< uniform on [0, 1): no cancellation, every error far below the bound
};
/// Parses "normal", "uniform", "positive"; otherwise argument_error ("dist", "unknown
/// distribution ...").
distribution parse_distribution(std::string_view name);

/// x, W and b drawn in that order from one splitmix64 stream seeded with `seed`, each value
/// rounded (nearest-even) to `type`: the same seed gives the same inputs on every run on one
/// platform (libm's log/cos may differ by an ulp elsewhere). b_shape empty: no bias.
struct generated_inputs {
  tensor x, w;
  std::optional<tensor> b;
  const tensor* bias() const { return b ? &*b : nullptr; }
};
generated_inputs generate_inputs(const std::vector<std::int64_t>& x_shape,
                                 const std::vector<std::int64_t>& w_shape,
                                 const std::vector<std::int64_t>& b_shape, bool has_bias,
                                 distribution d, std::uint64_t seed, format_id type);

}  // namespace roundoff::verdicts
