// A generic table (headers, rows of cells) and the output formats every roundoff command writes:
// an aligned terminal table, Markdown, LaTeX (booktabs), CSV (RFC 4180) and JSON. The verdict
// report (report.hpp) and `roundoff sweep` both render through this. Formats: docs/cli.md.
//
//   report::table t;
//   t.columns = {{"name"}, {"max |err|", report::align::right}, {"verdict", {}, true}};
//   t.add_row({"torch.cpu.linear.f32", report::number(3.1e-5), "consistent"});
//   std::string s = report::render(t, report::output_format::markdown);
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace roundoff::report {

/// The value of every command's --format flag.
enum class output_format : std::uint8_t { table, markdown, latex, csv, json };

/// "table", "markdown", "latex", "csv", "json".
std::string_view to_string(output_format f) noexcept;
/// Parses the names above (also "md" and "tex"). Anything else throws argument_error ("format",
/// "unknown format 'x' (known: table, markdown, latex, csv, json)").
output_format parse_output_format(std::string_view name);
/// The names parse_output_format accepts, canonical ones only.
std::vector<std::string> output_format_names();

enum class align : std::uint8_t { left, right };

struct column {
  std::string header;
  align alignment = align::left;
  /// Cells are verdict words ("consistent", "suspicious", "violation", "skipped"): the terminal
  /// table colours them (green, yellow, red, dim) when colour is on. Other formats ignore it.
  bool verdict = false;
};

/// One cell: the text the human formats show, and optionally the number behind it, which CSV
/// and JSON write in full (shortest round-trip form) instead of the text.
struct cell {
  std::string text;
  std::optional<double> value;

  cell() = default;
  cell(std::string s) : text(std::move(s)) {}  // NOLINT: implicit on purpose, for add_row
  cell(const char* s) : text(s) {}             // NOLINT
  cell(std::string s, double v) : text(std::move(s)), value(v) {}
};

/// A number cell shown with `digits` significant digits ("3.05e-05", "0.25", "inf", "nan");
/// CSV and JSON get the full value.
cell number(double v, int digits = 3);
/// An integer cell ("9461").
cell integer(std::int64_t v);

struct table {
  std::vector<column> columns;
  std::vector<std::vector<cell>> rows;
  /// Appends a row; throws internal_error when it does not have one cell per column.
  void add_row(std::vector<cell> cells);
};

struct render_options {
  /// ANSI colours for verdict columns in output_format::table. Callers turn it on only when
  /// the text goes to a terminal (colour_on_stdout()), never when writing --out files.
  bool colour = false;
};

/// Aligned columns separated by two spaces, a dashed rule under the headers, "\n" line ends.
/// Widths count UTF-8 code points, so colour codes and "×" do not break the alignment.
std::string render_text(const table& t, const render_options& opt = {});
/// A GitHub-flavoured Markdown table (padded for reading as text; `|` escaped as `\|`).
std::string render_markdown(const table& t);
/// A booktabs tabular (\toprule, \midrule, \bottomrule) ready to \input inside a table
/// environment; LaTeX special characters are escaped. Needs \usepackage{booktabs}.
std::string render_latex(const table& t);
/// RFC 4180: header line, CRLF line ends, fields with `,`, `"`, CR or LF quoted with `"`
/// doubled. Number cells are written as their full value (shortest round-trip; "inf",
/// "-inf", "nan" for non-finite ones).
std::string render_csv(const table& t);
/// A JSON array with one object per row, keyed by the column headers; number cells are JSON
/// numbers (non-finite: the strings "inf", "-inf", "nan"), other cells strings.
std::string render_json(const table& t);
/// Dispatches on f.
std::string render(const table& t, output_format f, const render_options& opt = {});

/// LaTeX-escapes text (\ & % $ # _ { } ~ ^ | < >), for captions and cells.
std::string latex_escape(std::string_view s);
/// The shortest decimal string that reads back as v ("0.1", "3.0517578125e-05"); "inf", "-inf",
/// "nan" for non-finite values.
std::string shortest(double v);

/// True when stdout is a terminal (isatty) and the NO_COLOR environment variable is unset or
/// empty (https://no-color.org): then the terminal table is coloured.
bool colour_on_stdout() noexcept;

/// Throws input_error naming `file` when it cannot be created: it is a directory, or its
/// directory is missing. Commands call it before a long computation whose result goes there.
void check_writable(const std::string& file);

/// Writes text to `file`, or to stdout when `file` is empty or "-". A file is written through
/// `file.partial` renamed into place; failure throws input_error naming the file.
void write_output(std::string_view text, const std::string& file);

}  // namespace roundoff::report
