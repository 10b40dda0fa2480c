// Problem sizes for commands that generate their own inputs (`run`; `sweep` varies one of them),
// and the generated inputs. One flag set per op family, named after PyTorch's arguments
// (docs/cli.md, "roundoff run"):
//   linear                 --batch 32 --in-features 2048 --out-features 512
//   matmul, addmm          --m 32 --k 2048 --n 512
//   bmm                    --batch 4 --m 32 --k 512 --n 128
//   conv*, conv_transpose* --batch 8 --in-channels 16 --out-channels 32 --size 32 --kernel-size 3
//                          (--size / --kernel-size: one number for every spatial dim, or one per
//                          dim, e.g. 32,24)
// and --no-bias (linear, addmm and convs have a bias by default; matmul and bmm do not).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

#include "roundoff/ops/op.hpp"
#include "roundoff/report/results.hpp"
#include "roundoff/tensor.hpp"
#include "roundoff/verdicts/inputs.hpp"

namespace roundoff::cli {

struct shape_flags {
  // Unset (nullopt / empty) means the op family's default.
  std::optional<std::int64_t> batch, in_features, out_features, m, k, n, in_channels, out_channels;
  std::string size, kernel_size;  ///< "32" or "32,24"
  bool no_bias = false;
};
void add_shape_flags(CLI::App& cmd, shape_flags& f);

/// Sets one size by its name: batch, in_features (or in), out_features (or out), m, k, n,
/// in_channels, out_channels, size, kernel_size. Throws input_error for another name. For
/// `roundoff sweep --vary NAME=...`.
void set_dimension(shape_flags& f, std::string_view name, std::int64_t value);

/// The concrete operand shapes of an op (bias_shape empty when there is no bias).
struct problem_shape {
  std::vector<std::int64_t> x, w, b;
  bool has_bias = false;
};
/// Fills in the op family's defaults and builds the shapes. Throws input_error naming the flag for
/// a flag the op does not take (e.g. --in-channels for linear) or a size < 1 (0 is allowed for
/// batch, m and n: empty outputs).
problem_shape resolve_shape(const ops::op_spec& op, const shape_flags& f);

/// The sizes as report params (batch, in_features, ... as the op family names them).
std::vector<report::param> shape_params(const ops::op_spec& op, const shape_flags& f);

/// The generated inputs (x, W, b from one splitmix64 stream): the library's, shared with the
/// Python package (roundoff/verdicts/inputs.hpp).
using verdicts::distribution;
using verdicts::generated_inputs;
using verdicts::parse_distribution;
generated_inputs generate_inputs(const problem_shape& s, distribution d, std::uint64_t seed,
                                 format_id type);

}  // namespace roundoff::cli
