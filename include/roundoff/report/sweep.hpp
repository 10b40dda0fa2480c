// Renders the dimension sweep of `roundoff sweep` in every output format; JSON follows the schema
// documented in docs/cli.md, "roundoff sweep <op>". Like results.hpp, plain structs: the
// caller converts the sweep's measurement (verdicts::sweep_result) into a sweep_report, so this
// layer takes no dependency on bounds.
//
//   report::sweep_report r = ...;  // filled by the CLI from verdicts::run_sweep
//   report::write_output(report::render(r, report::output_format::csv), "sweep.csv");
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "roundoff/report/table.hpp"

namespace roundoff::report {

/// One implementation at one point (verdicts::sweep_impl_result; definitions in docs/cli.md).
struct sweep_impl_row {
  std::string name, model;
  std::int64_t elements = 0;
  double max_abs_error = 0, sum_abs_error = 0;
  double max_deterministic_bound = 0, sum_deterministic_bound = 0;
  double max_probabilistic_bound = 0, sum_probabilistic_bound = 0;
  double max_ratio_deterministic = 0, max_ratio_probabilistic = 0;
  std::int64_t beyond_deterministic = 0, beyond_probabilistic = 0;
  std::string verdict;  ///< "consistent", "suspicious" or "violation"
  double seconds = 0;
};

/// Two implementations at one point (verdicts::sweep_pair_result).
struct sweep_pair_row {
  std::string a, b;
  std::int64_t differing = 0;
  double max_abs_difference = 0, sum_abs_difference = 0, sum_allowed_difference = 0;
  double max_ratio = 0;
  std::int64_t beyond = 0;
  std::string verdict;  ///< "consistent" or "violation"
};

struct sweep_point_rows {
  std::int64_t value = 0;                                  ///< of the varied dimension
  std::vector<std::pair<std::string, std::int64_t>> dims;  ///< every dimension, display order
  std::vector<std::int64_t> x, w, b, y;                    ///< operand shapes; b empty: no bias
  double reference_seconds = 0;
  std::vector<sweep_impl_row> impls;
  std::vector<sweep_pair_row> pairs;
};

/// A dimension's setting as given: a size, a tie to another dimension, or the varied one.
struct sweep_dim_setting {
  std::string name;
  std::int64_t value = 0;  ///< when tied_to is empty and not varied
  std::string tied_to;     ///< non-empty: equal to that dimension
  bool varied = false;
};

struct sweep_report {
  std::string op;
  std::vector<std::pair<std::string, std::string>> params;  ///< op arguments given (stride, ...)
  std::string dim;                                          ///< the varied dimension
  std::int64_t start = 0, stop = 0, step = 0;
  bool geometric = false;
  std::vector<sweep_dim_setting> dims;  ///< every dimension of the op, display order
  bool bias = true;
  std::uint64_t seed = 0;
  double confidence = 0;
  std::vector<std::string> input_formats;
  struct implementation {
    std::string name, model, storage;
  };
  std::vector<implementation> implementations;
  struct skipped_implementation {
    std::string name, reason;
  };
  std::vector<skipped_implementation> skipped;
  std::vector<sweep_point_rows> points;
};

/// The long table behind CSV (and scripts/plot_sweep.py): one row per (point, implementation),
/// kind "impl", and per (point, pair), kind "pair" (name = a, other = b), numbers in full.
table sweep_long_table(const sweep_report& r);

/// Renders r:
///  - table / markdown / latex: two tables, each implementation against the exact result and
///    each pair against each other, each under its title;
///  - csv: sweep_long_table(r);
///  - json: the sweep document of docs/cli.md, "roundoff sweep <op>"; non-finite numbers are
///    the strings "inf", "-inf" and "nan". Pretty-printed, 2-space indent, "\n" end.
std::string render(const sweep_report& r, output_format f, const render_options& opt = {});

}  // namespace roundoff::report
