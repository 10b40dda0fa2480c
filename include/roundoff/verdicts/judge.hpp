// The adapter between judging (check.hpp) and the report layer, shared by the CLI's `check` and
// `run` and by the Python package: judge every output against the exact result (verdicts::check)
// and chosen pairs against each other (verdicts::compare), and convert the verdict structs into
// report::results.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "roundoff/ops/op.hpp"
#include "roundoff/report/results.hpp"
#include "roundoff/tensor.hpp"
#include "roundoff/tensor_view.hpp"
#include "roundoff/verdicts/check.hpp"

namespace roundoff::verdicts {

/// One output to judge.
struct judged_output {
  std::string name;      ///< NAME of --output NAME=FILE, or the backend name
  std::string declared;  ///< preset name
  tensor_view observed;  ///< the caller's buffer (not copied)
  report::source_info source;
};

struct judge_options {
  double confidence = 1e-6;
  int worst = 5;
  int threads = 0;  ///< exact engine threads (0: exact::engine_threads(), all cores by default)
  /// Where the exact engine forms its slice products (same exact references on every device).
  exact::device_kind device = exact::device_kind::cpu;
};

/// Judges each output (results in the order given) and each pair (indices into outs; a
/// comparison runs verdicts::compare without model identification, since the per-output verdicts
/// already have it). Fills results.items and results.comparisons; the caller fills command, op,
/// params and reference. Non-finite observed values are judged (special-value mismatches), never
/// refused.
void judge(const ops::problem& p, const std::vector<judged_output>& outs,
           const std::vector<std::pair<std::size_t, std::size_t>>& pairs, const judge_options& opt,
           report::results& into);

/// Every pair (i, j), i < j, of n outputs.
std::vector<std::pair<std::size_t, std::size_t>> all_pairs(std::size_t n);

/// Exit code for a report: 1 when any result or comparison is a violation (or suspicious when
/// fail_on_suspicious), else 0.
int finding_exit_code(const report::results& r, bool fail_on_suspicious);

/// "[1, 17]" style multi-index of a flat row-major index.
std::vector<std::int64_t> unflatten(std::int64_t flat, const std::vector<std::int64_t>& shape);

}  // namespace roundoff::verdicts
