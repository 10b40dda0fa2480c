// Drives `roundoff sweep` through the built binary: CSV columns and row counts, the JSON schema,
// every usage error (exit 2, one line), bounds never exceeded by the CPU backends, the forum's
// growing sum |y1 - y2|, exit 1 on a planted violation, the PNG plot, progress only on a terminal.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include "cli_fixture.hpp"

namespace fs = std::filesystem;

namespace {

using result = roundoff::test::cli_result;
using roundoff::test::slurp;

// RFC 4180 lines without quoted fields (sweep's names and numbers need none).
std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  std::stringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    std::vector<std::string> cells;
    std::stringstream ls(line);
    std::string c;
    while (std::getline(ls, c, ',')) cells.push_back(c);
    if (!line.empty() && line.back() == ',') cells.emplace_back();
    rows.push_back(cells);
  }
  return rows;
}

// Rows as maps from header to cell.
std::vector<std::map<std::string, std::string>> csv_records(const std::string& text) {
  auto rows = parse_csv(text);
  std::vector<std::map<std::string, std::string>> r;
  for (std::size_t i = 1; i < rows.size(); ++i) {
    std::map<std::string, std::string> m;
    for (std::size_t j = 0; j < rows[0].size() && j < rows[i].size(); ++j)
      m[rows[0][j]] = rows[i][j];
    r.push_back(m);
  }
  return r;
}

double num(const std::string& s) {
  return std::stod(s);
}

class sweep_cli : public roundoff::test::cli_fixture {
 protected:
  bool have_torch() const {
    return run("version").out.find("LibTorch: absent") == std::string::npos;
  }
  bool have_matplotlib() const {
    return std::system("python3 -c 'import matplotlib' >/dev/null 2>&1") == 0;
  }
};

const char* const three_cpu =
    "--impl naive.cpu.sequential.f32 --impl naive.cpu.pairwise.f32 --impl blas.cpu.sgemm.f32";

TEST_F(sweep_cli, CsvColumnsAndRows) {
  const result r = run(std::string("sweep linear --vary in=1:65:32 --dim batch=4 ") + three_cpu +
                       " --format csv --out s.csv");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_TRUE(r.err.empty()) << r.err;  // not a terminal: no progress
  EXPECT_NE(r.out.find("3 points of in (1..65), 3 implementations, 3 pairs"), std::string::npos)
      << r.out;
  const std::string text = slurp(path("s.csv"));
  const auto rows = parse_csv(text);
  const std::vector<std::string> header = {"op",
                                           "dim",
                                           "value",
                                           "batch",
                                           "in",
                                           "out",
                                           "kind",
                                           "name",
                                           "other",
                                           "model",
                                           "elements",
                                           "max_abs_error",
                                           "sum_abs_error",
                                           "max_deterministic_bound",
                                           "sum_deterministic_bound",
                                           "max_probabilistic_bound",
                                           "sum_probabilistic_bound",
                                           "max_ratio_deterministic",
                                           "max_ratio_probabilistic",
                                           "beyond_deterministic",
                                           "beyond_probabilistic",
                                           "differing",
                                           "max_abs_difference",
                                           "sum_abs_difference",
                                           "sum_allowed_difference",
                                           "max_ratio_difference",
                                           "verdict"};
  ASSERT_FALSE(rows.empty());
  EXPECT_EQ(rows[0], header);
  ASSERT_EQ(rows.size(), 1u + 3 * (3 + 3));  // 3 points x (3 impls + 3 pairs)
  for (std::size_t i = 1; i < rows.size(); ++i) EXPECT_EQ(rows[i].size(), header.size()) << i;
  const auto rec = csv_records(text);
  std::map<std::string, int> per_point;
  for (const auto& m : rec) {
    per_point[m.at("value")]++;
    EXPECT_EQ(m.at("op"), "linear");
    EXPECT_EQ(m.at("dim"), "in");
    EXPECT_EQ(m.at("in"), m.at("value"));
    EXPECT_EQ(m.at("out"), m.at("in"));  // out=in by default
    EXPECT_EQ(m.at("batch"), "4");
    EXPECT_EQ(num(m.at("elements")), 4 * num(m.at("out")));
    if (m.at("kind") == "impl") {
      EXPECT_TRUE(m.at("other").empty());
      EXPECT_EQ(m.at("model"), "f32");
      EXPECT_TRUE(m.at("sum_abs_difference").empty());
    } else {
      EXPECT_EQ(m.at("kind"), "pair");
      EXPECT_FALSE(m.at("other").empty());
      EXPECT_TRUE(m.at("max_abs_error").empty());
      EXPECT_GE(num(m.at("differing")), 0);
    }
  }
  EXPECT_EQ(per_point, (std::map<std::string, int>{{"1", 6}, {"33", 6}, {"65", 6}}));
}

TEST_F(sweep_cli, JsonSchema) {
  const result r = run(std::string("sweep linear --vary in=2:10:4 --dim batch=3 ") + three_cpu +
                       " --format json --seed 5");
  ASSERT_EQ(r.rc, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j.at("command"), "sweep");
  EXPECT_EQ(j.at("op"), "linear");
  EXPECT_EQ(j.at("vary").at("dim"), "in");
  EXPECT_EQ(j.at("vary").at("start"), 2);
  EXPECT_EQ(j.at("vary").at("stop"), 10);
  EXPECT_EQ(j.at("vary").at("step"), 4);
  EXPECT_EQ(j.at("dims"), nlohmann::json::parse(R"({"batch": 3, "in": "varied", "out": "in"})"));
  EXPECT_EQ(j.at("seed"), 5);
  EXPECT_EQ(j.at("bias"), true);
  EXPECT_EQ(j.at("input_formats"), nlohmann::json::parse(R"(["f32"])"));
  ASSERT_EQ(j.at("implementations").size(), 3u);
  EXPECT_EQ(j.at("implementations")[0].at("name"), "naive.cpu.sequential.f32");
  ASSERT_EQ(j.at("points").size(), 3u);  // 2, 6, 10
  for (const auto& p : j.at("points")) {
    const std::int64_t v = p.at("value");
    EXPECT_EQ(p.at("dims").at("in"), v);
    EXPECT_EQ(p.at("shapes").at("input"), nlohmann::json::array({3, v}));
    EXPECT_EQ(p.at("shapes").at("weight"), nlohmann::json::array({v, v}));
    EXPECT_EQ(p.at("shapes").at("bias"), nlohmann::json::array({v}));
    EXPECT_EQ(p.at("shapes").at("output"), nlohmann::json::array({3, v}));
    ASSERT_EQ(p.at("results").size(), 3u);
    for (const auto& res : p.at("results")) {
      for (const char* k :
           {"name", "model", "elements", "max_abs_error", "sum_abs_error",
            "max_deterministic_bound", "sum_deterministic_bound", "max_probabilistic_bound",
            "sum_probabilistic_bound", "max_ratio_deterministic", "max_ratio_probabilistic",
            "beyond_deterministic", "beyond_probabilistic", "verdict", "seconds"})
        EXPECT_TRUE(res.contains(k)) << k;
      EXPECT_LE(res.at("max_abs_error").get<double>(),
                res.at("max_deterministic_bound").get<double>());
    }
    ASSERT_EQ(p.at("comparisons").size(), 3u);
    for (const auto& c : p.at("comparisons"))
      for (const char* k : {"a", "b", "differing", "max_abs_difference", "sum_abs_difference",
                            "sum_allowed_difference", "max_ratio", "beyond", "verdict"})
        EXPECT_TRUE(c.contains(k)) << k;
  }
}

TEST_F(sweep_cli, HumanFormats) {
  const std::string base = std::string("sweep linear --vary in=4:8:4 --dim batch=2 ") + three_cpu;
  result r = run(base);  // table (default)
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("Each implementation against the exact result"), std::string::npos);
  EXPECT_NE(r.out.find("naive.cpu.pairwise.f32"), std::string::npos);
  EXPECT_EQ(r.out.find("\x1b["), std::string::npos);  // no colour into a file
  r = run(base + " --format markdown");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("| max \\|err\\| |"), std::string::npos) << r.out;  // | escaped
  r = run(base + " --format latex");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("\\toprule"), std::string::npos);
  EXPECT_NE(r.out.find("naive.cpu.pairwise.f32"), std::string::npos);
}

// Each message's wording is tested in tests/verdicts/sweep_test.cpp; here, that each kind of
// mistake leaves the binary as one line and exit 2 (each run loads the libraries: keep it short).
TEST_F(sweep_cli, UsageErrorsExit2) {
  const std::string b = "sweep linear --impl naive.cpu.sequential.f32 ";
  expect_usage_error(b + "--vary in", "--vary in: expected NAME=START:STOP[:STEP]");
  expect_usage_error(b + "--vary in=0:5", "sizes start at 1");
  expect_usage_error(b + "--vary in=9:5", "STOP is below START");
  expect_usage_error(b + "--vary in=1:5:0", "STEP must be at least 1");
  expect_usage_error(b + "--vary kernel=1:5",
                     "linear has no dimension 'kernel' (its dimensions: batch, in, out)");
  expect_usage_error(b + "--vary in=1:5 --dim foo=3", "linear has no dimension 'foo'");
  expect_usage_error(b + "--vary in=1:5 --dim out=3 --dim out_features=4",
                     "--dim out_features: out is given twice");
  expect_usage_error(b + "--vary batch=1:5 --dim in=out", "the ties form a cycle");
  expect_usage_error(b + "--vary in=1:100000", "100000 points, more than the limit of 10000");
  expect_usage_error(b + "--vary in=1:5 --format yaml", "--format: unknown format 'yaml'");
  expect_usage_error(b + "--vary in=1:5 --out nodir/s.csv", "directory nodir does not exist");
  expect_usage_error("sweep conv1d --impl 'naive.*' --vary length=1:5", "--vary length=1: conv1d:");
  expect_usage_error("sweep linear --impl 'nosuch.*' --vary in=1:3", "nosuch.*");
}

TEST_F(sweep_cli, NoRunnableImplementationExit2) {
  // cuBLAS is never runnable in this test binary's environment without a GPU; with a GPU it runs.
  const result r = run("sweep linear --impl 'cublas.*' --vary in=1:3 --dim batch=1 --format csv");
  if (r.rc == 0) GTEST_SKIP() << "cuBLAS is available here";
  EXPECT_EQ(r.rc, 2) << r.err;
  EXPECT_NE(r.err.find("no selected implementation can run linear here"), std::string::npos)
      << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST_F(sweep_cli, PlotNeedsPython) {
  expect_usage_error("sweep linear --impl naive.cpu.sequential.f32 --vary in=1:3 --plot p.png",
                     "--plot p.png: python3 not found on PATH", "PATH=/nonexistent");
  EXPECT_FALSE(fs::exists(path("p.png")));
  // A python3 without matplotlib: a stub that fails every import.
  std::ofstream(path("python3")) << "#!/bin/sh\nexit 1\n";
  fs::permissions(path("python3"), fs::perms::owner_all);
  expect_usage_error("sweep linear --impl naive.cpu.sequential.f32 --vary in=1:3 --plot p.png",
                     "cannot import matplotlib", "PATH=" + dir_.string() + ":/usr/bin:/bin");
}

TEST_F(sweep_cli, PlotWritesPng) {
  if (!have_matplotlib()) GTEST_SKIP() << "python3 with matplotlib not available";
  const result r = run(std::string("sweep linear --vary in=1:97:32 --dim batch=4 ") + three_cpu +
                       " --format csv --out s.csv --plot s.png");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_TRUE(r.err.empty()) << r.err;
  const std::string png = slurp(path("s.png"));
  ASSERT_GT(png.size(), 20000u);  // three panels with curves, not an empty canvas
  EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  // The script also reads the JSON form.
  ASSERT_EQ(run(std::string("sweep linear --vary in=1:9:4 --dim batch=2 ") + three_cpu +
                " --format json --out s.json")
                .rc,
            0);
  const std::string cmd = "python3 '" ROUNDOFF_SOURCE_DIR "/scripts/plot_sweep.py' '" +
                          path("s.json") + "' -o '" + path("j.png") + "' 2>/dev/null";
  EXPECT_EQ(std::system(cmd.c_str()), 0);
  EXPECT_GT(fs::file_size(path("j.png")), 10000u);
}

// Every CPU backend, f32 and f64 (inputs drawn in f32, the coarsest storage format): no observed
// error exceeds the deterministic bound of the backend's model, and none is a violation.
TEST_F(sweep_cli, CpuBackendsStayWithinDeterministicBounds) {
  const result r =
      run("sweep linear --vary in=1:385:64 --dim batch=8 --impl 'naive.*' --impl 'blas.*' "
          "--impl 'eigen.*' --format csv --seed 11");
  ASSERT_EQ(r.rc, 0) << r.err;
  const auto rec = csv_records(r.out);
  int impl_rows = 0;
  for (const auto& m : rec) {
    if (m.at("kind") != "impl") {
      EXPECT_EQ(m.at("verdict"), "consistent") << m.at("name") << " vs " << m.at("other");
      EXPECT_LE(num(m.at("sum_abs_difference")), num(m.at("sum_allowed_difference")));
      continue;
    }
    ++impl_rows;
    const std::string at = m.at("name") + " at in=" + m.at("value");
    EXPECT_EQ(m.at("beyond_deterministic"), "0") << at;
    EXPECT_LE(num(m.at("max_abs_error")), num(m.at("max_deterministic_bound"))) << at;
    EXPECT_LE(num(m.at("sum_abs_error")), num(m.at("sum_deterministic_bound"))) << at;
    EXPECT_LE(num(m.at("max_ratio_deterministic")), 1.0) << at;
    EXPECT_LE(num(m.at("max_probabilistic_bound")), num(m.at("max_deterministic_bound"))) << at;
    EXPECT_NE(m.at("verdict"), "violation") << at;
  }
  EXPECT_EQ(impl_rows, 7 * 8);  // 7 points x 8 backends (4 naive, 2 blas, 2 eigen)
}

TEST_F(sweep_cli, SeedDeterminesTheInputs) {
  const std::string base =
      "sweep linear --vary in=3:40:37 --dim batch=2 --impl naive.cpu.sequential.f32 "
      "--impl naive.cpu.pairwise.f32 --format csv";
  const result a = run(base + " --seed 3"), b = run(base + " --seed 3"),
               c = run(base + " --seed 4");
  ASSERT_EQ(a.rc, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
  EXPECT_NE(a.out, c.out);
}

// The forum's plot: sum |y1 - y2| between two f32 implementations grows with the dimension.
// Two summation orders here (always built, the same arithmetic on every machine). F.linear against
// x @ W.T + b with LibTorch is reported, not asserted: whether and how much they differ is up to
// the kernels LibTorch picks on this CPU; what holds everywhere is that the pair stays within what
// f32 rounding allows.
TEST_F(sweep_cli, SumOfDifferencesGrowsWithDimension) {
  auto pairs = [&](const std::string& impls) {
    const result r = run("sweep linear --vary in=16:1040:256 " + impls + " --format csv");
    EXPECT_EQ(r.rc, 0) << r.err;
    std::vector<std::map<std::string, std::string>> p;
    for (const auto& m : csv_records(r.out))
      if (m.at("kind") == "pair") p.push_back(m);
    return p;
  };
  auto sums = [&](const std::vector<std::map<std::string, std::string>>& p) {
    std::vector<double> s;
    for (const auto& m : p) s.push_back(num(m.at("sum_abs_difference")));
    return s;
  };
  auto s = sums(pairs("--impl naive.cpu.sequential.f32 --impl naive.cpu.pairwise.f32"));
  ASSERT_EQ(s.size(), 5u);  // 16, 272, 528, 784, 1040
  EXPECT_GT(s.back(), 10 * s.front());
  EXPECT_GT(s.back(), s[2]);
  if (!have_torch()) GTEST_SKIP() << "built without LibTorch: F.linear vs x @ W.T + b not run";
  const auto p = pairs("--impl torch.cpu.linear.f32 --impl torch.cpu.matmul_add.f32");
  ASSERT_EQ(p.size(), 5u);
  for (const auto& m : p) {
    EXPECT_EQ(m.at("verdict"), "consistent") << "in=" << m.at("value");
    EXPECT_LE(num(m.at("sum_abs_difference")), num(m.at("sum_allowed_difference")))
        << "in=" << m.at("value");
    std::cerr << "[sweep] torch.cpu.linear.f32 vs torch.cpu.matmul_add.f32 at in=" << m.at("value")
              << ": " << m.at("differing") << " of " << m.at("elements") << " differ, sum |diff| "
              << m.at("sum_abs_difference") << '\n';
  }
}

// A violation exits 1. The violation comes from a planted backend that is wrong on every machine
// (planted.cpu.dropped_term.f32 drops the first product of each dot; registered only under
// ROUNDOFF_TEST_PLANTED_BACKENDS=1, docs/backends.md), never from a third-party kernel whose
// arithmetic depends on the CPU.
TEST_F(sweep_cli, ViolationExits1) {
  const std::string planted = "ROUNDOFF_TEST_PLANTED_BACKENDS=1";
  const std::string args =
      "sweep linear --impl planted.cpu.dropped_term.f32 --impl naive.cpu.sequential.f32 "
      "--vary in=32:64:32 --dim batch=4 --format csv";
  const result r = run(args + " --out s.csv", planted);
  EXPECT_EQ(r.rc, 1) << r.err;
  EXPECT_TRUE(r.err.empty()) << r.err;
  EXPECT_NE(r.out.find("verdict some output is beyond its deterministic bound (exit 1)"),
            std::string::npos)
      << r.out;
  int planted_rows = 0, pair_rows = 0;
  for (const auto& m : csv_records(slurp(path("s.csv")))) {
    const std::string at = m.at("name") + " at in=" + m.at("value");
    if (m.at("kind") == "pair") {
      ++pair_rows;
      EXPECT_EQ(m.at("verdict"), "violation") << at;
    } else if (m.at("name") == "planted.cpu.dropped_term.f32") {
      ++planted_rows;
      EXPECT_EQ(m.at("verdict"), "violation") << at;
      EXPECT_GT(num(m.at("max_ratio_deterministic")), 1.0) << at;
      EXPECT_GT(num(m.at("beyond_deterministic")), 0) << at;
    } else {
      EXPECT_EQ(m.at("name"), "naive.cpu.sequential.f32");
      EXPECT_EQ(m.at("beyond_deterministic"), "0") << at;  // the correct one is not blamed
      EXPECT_NE(m.at("verdict"), "violation") << at;
    }
  }
  EXPECT_EQ(planted_rows, 2);  // in = 32, 64
  EXPECT_EQ(pair_rows, 2);
  // Without the variable the planted backend does not exist: a user never meets it.
  expect_usage_error(args, "--impl planted.cpu.dropped_term.f32: matches no backend");
}

// ROUNDOFF_PROGRESS_AFTER=0 stands in for "the run took more than a second".
TEST_F(sweep_cli, ProgressOnlyOnATerminal) {
  const std::string args =
      "sweep linear --vary in=8:64:8 --dim batch=2 --impl 'naive.*' --format csv --out s.csv";
  const result r = run(args, "ROUNDOFF_PROGRESS_AFTER=0");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_TRUE(r.err.empty()) << r.err;  // stderr is a file: nothing
  if (std::system("command -v script >/dev/null 2>&1") != 0) GTEST_SKIP() << "no script(1)";
  // Under script(1) stdout and stderr are a pseudo-terminal, recorded into tty.txt.
  const std::string cmd = "cd '" + dir_.string() +
                          "' && ROUNDOFF_PROGRESS_AFTER=0 script -qec \"'" ROUNDOFF_CLI_PATH "' " +
                          args + "\" tty.txt >/dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  const std::string tty = slurp(path("tty.txt"));
  EXPECT_NE(tty.find("roundoff sweep: in=8 (1/8 points, "), std::string::npos) << tty;
  EXPECT_NE(tty.find("roundoff sweep: in=64 (8/8 points, "), std::string::npos) << tty;
  // Without the override a run this short shows nothing.
  ASSERT_EQ(std::system(("cd '" + dir_.string() + "' && script -qec \"'" ROUNDOFF_CLI_PATH "' " +
                         args + "\" tty2.txt >/dev/null 2>&1")
                            .c_str()),
            0);
  EXPECT_EQ(slurp(path("tty2.txt")).find("roundoff sweep: in="), std::string::npos);
}

}  // namespace
