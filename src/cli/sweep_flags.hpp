// roundoff sweep's range and size flags: --vary NAME=START:STOP[:STEP] and --dim NAME=SIZE|OTHER,
// parsed into the sweep's typed values (include/roundoff/verdicts/sweep.hpp).
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include "roundoff/verdicts/sweep.hpp"

namespace roundoff::cli {

/// Parses `NAME=START:STOP[:STEP]` (STEP defaults to 1; `xF` for a geometric factor F >= 2), e.g.
/// "in=1:2048:64", "in=1:4096:x2". Throws input_error naming --vary on bad syntax, sizes < 1,
/// stop < start or step < 1. Does not check the name against an op (verdicts::sweep_shapes does).
verdicts::vary_range parse_vary(std::string_view text);

/// Parses `NAME=SIZE` or `NAME=OTHER` (a tie), for --dim. Throws input_error naming --dim.
std::pair<std::string, verdicts::dim_setting> parse_dim(std::string_view text);

}  // namespace roundoff::cli
