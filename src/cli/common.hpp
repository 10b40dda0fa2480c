// Flag groups and helpers shared by every command that evaluates an op (reference now; check,
// run and sweep later), so they read operands and choose the exact engine the same way.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "roundoff/ops/op_result.hpp"
#include "roundoff/tensor.hpp"

namespace roundoff::cli {

/// --input X --weight W [--bias B]
struct operand_flags {
  std::string input, weight, bias;  ///< bias empty: none
};
void add_operand_flags(CLI::App& cmd, operand_flags& f);

struct operands {
  tensor x, w;
  std::optional<tensor> b;
  const tensor* bias() const { return b ? &*b : nullptr; }
};

/// Reads the operand files. Refuses NaN and +-Inf with input_error naming the file and the
/// first offending element's index (docs/cli.md, "Non-finite inputs").
operands load_operands(const operand_flags& f);

/// Reads one .npy file and refuses non-finite values (see load_operands).
tensor load_finite(const std::string& file);

/// --method fast|simple|mpfr [--precision-bits N] [--threads N]
struct engine_flags {
  std::string method = "fast";
  long precision_bits = 0;  ///< 0: not given (256 for mpfr)
  int threads = 1;
};
void add_engine_flags(CLI::App& cmd, engine_flags& f);
/// Validates combinations (e.g. --precision-bits without --method mpfr) and converts.
ops::reference_options to_reference_options(const engine_flags& f);

/// Throws input_error when `file` cannot be created (its directory is missing), before any long
/// computation is spent on a result that cannot be written.
void check_writable(const std::string& file);

/// "[32, 2048]"
std::string shape_string(const std::vector<std::int64_t>& shape);
/// "x.npy [32, 2048] f32"
std::string describe(const std::string& file, const tensor& t);

/// Seconds since `start`.
double seconds_since(std::chrono::steady_clock::time_point start);

}  // namespace roundoff::cli
