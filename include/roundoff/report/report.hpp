// Renders the verdict report (results.hpp) of `roundoff check` / `roundoff run` in every
// output format; JSON follows the stable schema documented in docs/cli.md ("JSON schema").
//
//   report::results r = ...;  // filled by the CLI from bounds verdicts
//   report::write_output(report::render(r, report::output_format::json), "");
#pragma once

#include <string>

#include "roundoff/report/results.hpp"
#include "roundoff/report/table.hpp"

namespace roundoff::report {

/// The results table: one row per result (name, declared, verdict, errors, ratios, consistent
/// models), numbers carrying their full values for CSV/JSON.
table results_table(const results& r);
/// The comparisons table: one row per pair (a, b, differing, max |a - b|, ratio, verdict).
table comparisons_table(const results& r);

/// The JSON document (schema_version 1). Non-finite numbers are the strings "inf", "-inf" and
/// "nan"; absent numbers (a skipped backend) are null. Pretty-printed, 2-space indent, "\n" end.
std::string render_json(const results& r);

/// Renders r:
///  - table: a title line, the results table, the comparisons table, one explanation line per
///    result and per comparison, and the worst elements of every result that is not consistent;
///  - markdown: the same with headings and Markdown tables;
///  - latex: two booktabs tabulars (results, comparisons) with a comment line before each;
///  - csv: one table, one row per result (`kind` = result) then one per comparison
///    (`kind` = comparison; `name` = a, `other` = b), numbers in full;
///  - json: render_json(r).
std::string render(const results& r, output_format f, const render_options& opt = {});

}  // namespace roundoff::report
