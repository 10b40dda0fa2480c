// The verdict report of `roundoff check` and `roundoff run`: plain structs mirroring the stable
// JSON schema of docs/cli.md ("JSON schema"), so that the report layer needs no bounds code.
// Callers (the CLI) fill them from verdicts::verdict / verdicts::comparison.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace roundoff::report {

/// One entry of `params`: a name and a string, integer, number, flag or shape.
struct param {
  using value_type =
      std::variant<std::string, std::int64_t, double, bool, std::vector<std::int64_t>>;
  std::string key;
  value_type value;
};

/// One of the worst elements of an output.
struct worst_element {
  std::vector<std::int64_t> index;  ///< multi-dimensional index into the output, e.g. [3, 17]
  double observed = 0;
  double exact = 0;  ///< the exact result, rounded to double
  double bound = 0;  ///< the deterministic bound of the declared model at this element
};

/// Where an output came from (not part of the stable schema's required keys: `source`).
struct source_info {
  std::string file;            ///< check: the FILE[:MEMBER] it was read from
  std::string device;          ///< run: "cpu", "cuda:0 (...)"
  std::string thread_library;  ///< run: "libtorch", "openblas", ...
  int threads = 0;             ///< run: threads the library reported (0: not applicable)
  double seconds = -1;         ///< run: compute time (negative: not measured)
  std::string notes;           ///< run: backend notes
};

/// One output judged against the exact result.
struct result {
  std::string name;      ///< the NAME of --output NAME=FILE, or the backend's name
  std::string declared;  ///< the preset it was judged against
  /// "consistent", "no guarantee", "suspicious", "violation", or "skipped" (run: the backend
  /// could not run;
  /// `explanation` says why and the numbers below are absent).
  std::string verdict;
  std::optional<double> max_abs_error;  ///< max |observed - exact| (absent when skipped)
  /// max |observed - exact| / |exact| over elements with exact != 0 (an element with exact == 0
  /// and observed != 0 makes it inf)
  std::optional<double> max_rel_error;
  /// max error / deterministic bound; absent when skipped or when no element has a
  /// deterministic bound (n u >= 1: "none" in tables, null in JSON; never 0)
  std::optional<double> max_ratio_deterministic;
  /// max error / probabilistic bound; absent when skipped or when the model has none
  std::optional<double> max_ratio_probabilistic;
  std::vector<std::string> consistent_models;  ///< presets that explain it, most precise first
  std::string explanation;                     ///< one sentence
  std::vector<worst_element> worst;            ///< worst first
  /// Element counts per category (absent when skipped): consistent, beyond the probabilistic
  /// bound, beyond the deterministic bound, special-value mismatches.
  std::optional<std::int64_t> elements, n_beyond_probabilistic, n_beyond_deterministic,
      n_special_mismatch;
  /// Elements the declared model bounds neither way, and those without each bound.
  std::optional<std::int64_t> n_no_bound, n_no_deterministic_bound, n_no_probabilistic_bound;
  /// Input conversions by distance of their exact result to the output, nearest first
  /// (name as in verdicts::input_match, relative RMS distance).
  std::vector<std::pair<std::string, double>> nearest_inputs;
  /// What the output equals bit for bit, when an emulation reproduces every element ("sm_90
  /// tensor cores (tf32, K-blocks of 8 in sequence)"; docs/tensor-cores.md). Empty: none tried
  /// or none matched. Never changes the verdict. JSON key `bit_identical_to`, absent when empty.
  std::string bit_identical_to;
  source_info source;
};

/// Two outputs judged against each other.
struct comparison {
  std::string a, b;               ///< result names
  std::int64_t differing = 0;     ///< elements where a and b differ (NaN == NaN counts as equal)
  std::int64_t elements = 0;      ///< elements compared
  double max_abs_difference = 0;  ///< max |a - b| (inf for a special-value mismatch)
  std::string verdict;            ///< "consistent", "no guarantee", "suspicious" or "violation"
  double max_ratio = 0;  ///< max |a - b| / what both models allow; NaN: no element has one (JSON
                         ///< null, "none" in tables)
  std::string explanation;
};

struct reference_info {
  std::string method;  ///< "fast", "simple", "mpfr"
  bool exact = true;   ///< false only when an MPFR result was not exact at its precision
};

/// Everything `check` and `run` report.
struct results {
  std::string command;  ///< "check" or "run"
  std::string op;       ///< "linear", "conv2d", ...
  std::vector<param> params;
  reference_info reference;
  std::vector<result> items;  ///< JSON key `results`
  std::vector<comparison> comparisons;
};

}  // namespace roundoff::report
