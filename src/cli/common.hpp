// Flag groups and helpers shared by every command that evaluates an op (reference now; check,
// run and sweep later), so they read operands and choose the exact engine the same way.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "roundoff/io/npy.hpp"
#include "roundoff/ops/op_result.hpp"
#include "roundoff/report/results.hpp"
#include "roundoff/report/table.hpp"
#include "roundoff/tensor.hpp"
#include "roundoff/tensor_view.hpp"

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
  int threads = 0;          ///< 0: not given (exact::engine_threads: every core)
  std::string device = "cpu";
};
void add_engine_flags(CLI::App& cmd, engine_flags& f);
/// --device cpu|cuda: where the exact engine forms its slice products (docs/exact-gpu.md).
void add_device_flag(CLI::App& cmd, std::string& device);
/// The device of --device; "cuda" without a usable CUDA device is an input_error of one line
/// ("--device cuda: no CUDA device available (...)").
exact::device_kind to_device(const std::string& device);

/// Validates combinations (e.g. --precision-bits without --method mpfr) and converts.
ops::reference_options to_reference_options(const engine_flags& f);

/// "[32, 2048]"
std::string shape_string(const std::vector<std::int64_t>& shape);
/// "x.npy [32, 2048] f32"
std::string describe(const std::string& file, const tensor& t);

/// Seconds since `start`.
double seconds_since(std::chrono::steady_clock::time_point start);

/// Reads one tensor file through io::read_tensor (FILE.npy, FILE.npz[:member],
/// FILE.safetensors[:name], FILE.pt[:key]) and refuses non-finite values like load_finite.
tensor load_tensor_finite(const std::string& spec);

/// A tensor file's values as stored, and a view of them: a .npy file is not widened to doubles
/// (an f32 file takes half the memory of a tensor), any other file is read as a tensor.
/// Movable, not copyable (the view points into it).
struct stored_tensor {
  io::npy_stored npy;
  tensor values;
  tensor_view view;
  stored_tensor() = default;
  stored_tensor(stored_tensor&&) = default;
  stored_tensor& operator=(stored_tensor&&) = default;
};

/// Reads `spec` as load_tensor_finite does (the same values and errors), keeping .npy data as
/// stored. `finite`: refuse NaN and +-Inf (inputs), as load_tensor_finite.
stored_tensor load_stored(const std::string& spec, bool finite);

/// The operands as stored, and views of them.
struct stored_operands {
  stored_tensor x, w;
  std::optional<stored_tensor> b;
  const tensor_view* bias() const { return b ? &b->view : nullptr; }
};

/// load_operands (.npy files only, the same values and errors) without widening to doubles.
stored_operands load_stored_operands(const operand_flags& f);

/// "x.npy [32, 2048] f32"
std::string describe(const std::string& file, const tensor_view& t);

/// --format table|markdown|latex|csv|json [--out FILE]: every report-writing command.
struct report_flags {
  std::string format = "table";
  std::string out;  ///< empty: stdout
};
void add_report_flags(CLI::App& cmd, report_flags& f);
/// Parses --format (input_error for an unknown one) and checks that --out can be written, before
/// any long computation.
report::output_format parse_report_flags(const report_flags& f);
/// --confidence P --fail-on violation|suspicious --worst N: the commands that judge outputs
/// against their declared model (check, run).
struct verdict_flags {
  double confidence = 1e-6;  ///< false-alarm probability of the probabilistic tests
  std::string fail_on = "violation";
  int worst = 5;
  bool fail_on_suspicious() const { return fail_on == "suspicious"; }
};
/// Adds --confidence and --fail-on. --worst comes from add_worst_flag, so a command can list
/// flags of its own between them (check lists --threads there).
void add_verdict_flags(CLI::App& cmd, verdict_flags& f);
void add_worst_flag(CLI::App& cmd, verdict_flags& f);
/// Throws input_error unless 0 < confidence < 1 (--confidence of check, run and sweep).
void check_confidence(double confidence);
/// Renders a verdict report / a generic table in the chosen format and writes it to --out or
/// stdout (the terminal table is coloured only on a terminal stdout).
void emit(const report::results& r, const report_flags& f);
void emit(const report::table& t, const report_flags& f);

}  // namespace roundoff::cli
