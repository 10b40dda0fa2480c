// The verdict report: golden text/CSV/LaTeX for a small hand-built result set, and the JSON
// schema (keys, types, non-finite numbers, absent numbers) of docs/cli.md.
#include "roundoff/report/report.hpp"

#include <limits>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace report = roundoff::report;

namespace {

report::results sample() {
  report::results r;
  r.command = "check";
  r.op = "linear";
  r.params = {{"input", std::string("x.npy")},
              {"input_shape", std::vector<std::int64_t>{2, 3}},
              {"confidence", 1e-6}};
  r.reference = {"fast", true};
  report::result a;
  a.name = "good";
  a.declared = "f32";
  a.verdict = "consistent";
  a.max_abs_error = 0.5;
  a.max_rel_error = 0.25;
  a.max_ratio_deterministic = 0.125;
  a.max_ratio_probabilistic = 0.75;
  a.consistent_models = {"f32", "tf32"};
  a.explanation = "fine";
  a.elements = 4;
  a.n_beyond_probabilistic = 0;
  a.n_beyond_deterministic = 0;
  a.n_special_mismatch = 0;
  a.source.file = "good.npy";
  report::result b = a;
  b.name = "bad";
  b.verdict = "violation";
  b.max_abs_error = std::numeric_limits<double>::infinity();
  b.max_rel_error = std::numeric_limits<double>::quiet_NaN();
  b.max_ratio_deterministic = 1000;
  b.consistent_models = {};
  b.explanation = "a bug";
  b.n_beyond_deterministic = 1;
  b.worst = {{{1, 2}, 3.0, 2.0, 0.5}};
  b.source.file = "bad.npy";
  report::result s;
  s.name = "gone";
  s.declared = "f32";
  s.verdict = "skipped";
  s.explanation = "no CUDA device";
  r.items = {a, b, s};
  r.comparisons = {{"good", "bad", 1, 4, 1.5, "violation", 3, "differ"}};
  return r;
}

}  // namespace

TEST(Report, Text) {
  EXPECT_EQ(
      report::render(sample(), report::output_format::table),
      "roundoff check linear: input x.npy, input_shape [2, 3], confidence 1e-06; reference fast "
      "(exact)\n"
      "\n"
      "implementation  declared  verdict     max |err|  max rel err  err/bound  err/prob. bound  "
      "explained by\n"
      "--------------  --------  ----------  ---------  -----------  ---------  ---------------  "
      "------------\n"
      "good            f32       consistent        0.5         0.25      0.125             0.75  "
      "f32, tf32\n"
      "bad             f32       violation         inf          nan      1e+03             0.75  "
      "none\n"
      "gone            f32       skipped             -            -          -                -  "
      "-\n"
      "\n"
      "a     b    differing  max |a-b|  diff/allowed  verdict\n"
      "----  ---  ---------  ---------  ------------  ---------\n"
      "good  bad     1 of 4        1.5             3  violation\n"
      "\n"
      "3 outputs: 1 consistent, 1 violation, 1 skipped; 1 pair: 1 violation\n"
      "skipped, no CUDA device: gone\n"
      "bad: a bug\n"
      "good vs bad: differ\n"
      "\n"
      "worst elements of bad (f32 bound):\n"
      "index   observed  exact  |error|  bound\n"
      "------  --------  -----  -------  -----\n"
      "[1, 2]         3      2        1    0.5\n");
}

TEST(Report, Csv) {
  EXPECT_EQ(report::render(sample(), report::output_format::csv),
            "kind,name,other,declared,verdict,max_abs_error,max_rel_error,"
            "max_ratio_deterministic,max_ratio_probabilistic,consistent_models,differing,"
            "max_abs_difference,explanation\r\n"
            "result,good,,f32,consistent,0.5,0.25,0.125,0.75,f32 tf32,,,fine\r\n"
            "result,bad,,f32,violation,inf,nan,1000,0.75,,,,a bug\r\n"
            "result,gone,,f32,skipped,,,,,,,,no CUDA device\r\n"
            "comparison,good,bad,,violation,,,,,,1,1.5,differ\r\n");
}

TEST(Report, Latex) {
  const std::string s = report::render(sample(), report::output_format::latex);
  EXPECT_EQ(s.rfind("% roundoff check linear", 0), 0u);
  EXPECT_NE(
      s.find("\\begin{tabular}{lllrrrrl}\n\\toprule\n"
             "implementation & declared & verdict & max \\textbar{}err\\textbar{} & max rel err & "
             "err/bound & "
             "err/prob. bound & explained by \\\\\n\\midrule\n"
             "good & f32 & consistent & 0.5 & 0.25 & 0.125 & 0.75 & f32, tf32 \\\\\n"),
      std::string::npos)
      << s;
  EXPECT_NE(s.find("% comparisons\n\\begin{tabular}{llrrrl}"), std::string::npos) << s;
}

TEST(Report, Markdown) {
  const std::string s = report::render(sample(), report::output_format::markdown);
  EXPECT_EQ(s.rfind("### roundoff check linear\n\n- input: x.npy\n", 0), 0u) << s;
  EXPECT_NE(s.find("| good           | f32      | consistent |"), std::string::npos) << s;
  EXPECT_NE(s.find("- **bad**: a bug\n"), std::string::npos) << s;
}

TEST(Report, JsonSchema) {
  const auto j = nlohmann::json::parse(report::render(sample(), report::output_format::json));
  EXPECT_EQ(j["schema_version"], 1);
  EXPECT_EQ(j["op"], "linear");
  EXPECT_TRUE(j["params"].is_object());
  EXPECT_EQ(j["params"]["input_shape"], nlohmann::json({2, 3}));
  EXPECT_EQ(j["params"]["confidence"].get<double>(), 1e-6);
  EXPECT_EQ(j["reference"]["method"], "fast");
  EXPECT_EQ(j["reference"]["exact"], true);
  ASSERT_TRUE(j["results"].is_array());
  ASSERT_EQ(j["results"].size(), 3u);
  for (const auto& x : j["results"]) {
    for (const char* k : {"name", "declared", "verdict", "explanation"})
      EXPECT_TRUE(x[k].is_string()) << k;
    for (const char* k :
         {"max_abs_error", "max_rel_error", "max_ratio_deterministic", "max_ratio_probabilistic"})
      EXPECT_TRUE(x.contains(k)) << k;
    EXPECT_TRUE(x["consistent_models"].is_array());
    EXPECT_TRUE(x["worst"].is_array());
  }
  const auto& good = j["results"][0];
  EXPECT_EQ(good["max_abs_error"].get<double>(), 0.5);
  EXPECT_EQ(good["consistent_models"], nlohmann::json({"f32", "tf32"}));
  EXPECT_EQ(good["source"]["file"], "good.npy");
  const auto& bad = j["results"][1];
  EXPECT_EQ(bad["max_abs_error"], "inf");
  EXPECT_EQ(bad["max_rel_error"], "nan");
  ASSERT_EQ(bad["worst"].size(), 1u);
  EXPECT_EQ(bad["worst"][0]["index"], nlohmann::json({1, 2}));
  EXPECT_EQ(bad["worst"][0]["observed"].get<double>(), 3.0);
  EXPECT_EQ(bad["worst"][0]["exact"].get<double>(), 2.0);
  EXPECT_EQ(bad["worst"][0]["bound"].get<double>(), 0.5);
  EXPECT_EQ(bad["counts"]["beyond_deterministic"], 1);
  const auto& gone = j["results"][2];
  EXPECT_EQ(gone["verdict"], "skipped");
  EXPECT_TRUE(gone["max_abs_error"].is_null());
  EXPECT_TRUE(gone["elements"].is_null());
  ASSERT_EQ(j["comparisons"].size(), 1u);
  const auto& c = j["comparisons"][0];
  EXPECT_EQ(c["a"], "good");
  EXPECT_EQ(c["b"], "bad");
  EXPECT_TRUE(c["differing"].is_number_integer());
  EXPECT_EQ(c["differing"], 1);
  EXPECT_EQ(c["max_abs_difference"].get<double>(), 1.5);
  EXPECT_EQ(c["verdict"], "violation");
}

TEST(Report, JsonSurvivesInvalidUtf8Names) {
  auto r = sample();
  r.items[0].name = "bad\xff name";
  EXPECT_NO_THROW(nlohmann::json::parse(report::render_json(r)));
}
