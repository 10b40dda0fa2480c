// report::table rendered in every format, against hand-written expected strings.
#include "roundoff/report/table.hpp"

#include <cmath>
#include <limits>
#include <stdexcept>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "roundoff/error.hpp"

namespace report = roundoff::report;

namespace {

// Two rows, a right-aligned number column, a verdict column, and cells that need escaping.
report::table sample() {
  report::table t;
  t.columns = {
      {"name"}, {"max |err|", report::align::right}, {"verdict", report::align::left, true}};
  t.add_row({"a_b", report::number(3.0517578125e-05), "consistent"});
  t.add_row({"x, \"y\"", report::number(0.25), "violation"});
  return t;
}

}  // namespace

TEST(Table, Text) {
  EXPECT_EQ(report::render_text(sample()),
            "name    max |err|  verdict\n"
            "------  ---------  ----------\n"
            "a_b      3.05e-05  consistent\n"
            "x, \"y\"       0.25  violation\n");
}

TEST(Table, TextColourOnlyTheWord) {
  report::render_options opt;
  opt.colour = true;
  EXPECT_EQ(report::render_text(sample(), opt),
            "name    max |err|  verdict\n"
            "------  ---------  ----------\n"
            "a_b      3.05e-05  \x1b[32mconsistent\x1b[0m\n"
            "x, \"y\"       0.25  \x1b[1;31mviolation\x1b[0m\n");
}

TEST(Table, TextCountsCodePointsNotBytes) {
  report::table t;
  t.columns = {{"shape"}, {"n", report::align::right}};
  t.add_row({"32×2048", report::integer(5)});
  t.add_row({"1", report::integer(10)});
  EXPECT_EQ(report::render_text(t),
            "shape     n\n"
            "-------  --\n"
            "32×2048   5\n"
            "1        10\n");
}

TEST(Table, Markdown) {
  EXPECT_EQ(report::render_markdown(sample()),
            "| name   | max \\|err\\| | verdict    |\n"
            "| ------ | ----------: | ---------- |\n"
            "| a_b    |    3.05e-05 | consistent |\n"
            "| x, \"y\" |        0.25 | violation  |\n");
}

TEST(Table, Latex) {
  EXPECT_EQ(report::render_latex(sample()),
            "\\begin{tabular}{lrl}\n"
            "\\toprule\n"
            "name & max \\textbar{}err\\textbar{} & verdict \\\\\n"
            "\\midrule\n"
            "a\\_b & 3.05e-05 & consistent \\\\\n"
            "x, \"y\" & 0.25 & violation \\\\\n"
            "\\bottomrule\n"
            "\\end{tabular}\n");
  EXPECT_EQ(report::latex_escape("a<b>c"), "a\\textless{}b\\textgreater{}c");
  EXPECT_EQ(report::latex_escape("50% & $x_1$ #2 {a} ~ ^ \\"),
            "50\\% \\& \\$x\\_1\\$ \\#2 \\{a\\} \\textasciitilde{} \\textasciicircum{} "
            "\\textbackslash{}");
}

TEST(Table, CsvRfc4180) {
  // Numbers in full, quoting of , and ", CRLF line ends.
  EXPECT_EQ(report::render_csv(sample()),
            "name,max |err|,verdict\r\n"
            "a_b,3.0517578125e-05,consistent\r\n"
            "\"x, \"\"y\"\"\",0.25,violation\r\n");
  report::table t;
  t.columns = {{"a"}, {"b"}};
  t.add_row({"line\nbreak", report::number(std::numeric_limits<double>::infinity())});
  t.add_row({"plain", report::number(std::nan(""))});
  EXPECT_EQ(report::render_csv(t), "a,b\r\n\"line\nbreak\",inf\r\nplain,nan\r\n");
}

TEST(Table, Json) {
  const auto j = nlohmann::json::parse(report::render_json(sample()));
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[0]["name"], "a_b");
  ASSERT_TRUE(j[0]["max |err|"].is_number());
  EXPECT_EQ(j[0]["max |err|"].get<double>(), 3.0517578125e-05);
  EXPECT_EQ(j[1]["verdict"], "violation");
  report::table t;
  t.columns = {{"v"}};
  t.add_row({report::number(-std::numeric_limits<double>::infinity())});
  EXPECT_EQ(nlohmann::json::parse(report::render_json(t))[0]["v"], "-inf");
  // Key order follows the columns.
  EXPECT_EQ(report::render_json(sample()).find("\"name\""), 10u);
}

TEST(Table, Numbers) {
  EXPECT_EQ(report::number(6.103515625e-05).text, "6.1e-05");
  EXPECT_EQ(report::number(1234567.0).text, "1.23e+06");
  EXPECT_EQ(report::number(0.0).text, "0");
  EXPECT_EQ(report::integer(9461).text, "9461");
  EXPECT_EQ(report::shortest(0.1), "0.1");
  EXPECT_EQ(report::shortest(-std::nan("")), "nan");
}

TEST(Table, RowSizeMismatchIsAProgrammingError) {
  report::table t;
  t.columns = {{"a"}, {"b"}};
  EXPECT_THROW(t.add_row({"only one"}), roundoff::internal_error);
}

TEST(Table, EmptyTable) {
  report::table t;
  t.columns = {{"name"}, {"verdict"}};
  EXPECT_EQ(report::render_text(t), "name  verdict\n----  -------\n");
  EXPECT_EQ(report::render_csv(t), "name,verdict\r\n");
  EXPECT_EQ(report::render_json(t), "[]\n");
}

TEST(OutputFormat, Parse) {
  for (const auto& n : report::output_format_names())
    EXPECT_EQ(report::to_string(report::parse_output_format(n)), n);
  EXPECT_EQ(report::parse_output_format("md"), report::output_format::markdown);
  try {
    report::parse_output_format("xml");
    FAIL() << "xml accepted";
  } catch (const roundoff::argument_error& e) {  // the CLI says "--format: <detail>"
    EXPECT_EQ(e.argument(), "format");
    EXPECT_EQ(e.detail(), "unknown format 'xml' (known: table, markdown, latex, csv, json)");
  }
}
