// Shared fixture for tests that drive the built `roundoff` binary: a per-test temp directory and
// a runner that captures exit code, stdout and stderr.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <system_error>

#include <gtest/gtest.h>

namespace roundoff::test {

struct cli_result {
  int rc = -1;
  std::string out, err;
};

inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

class cli_fixture : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(testing::TempDir()) /
           ("roundoff_cli_" + std::to_string(::getpid()) + "_" +
            testing::UnitTest::GetInstance()->current_test_info()->test_suite_name() + "_" +
            testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  std::string path(const std::string& f) const { return (dir_ / f).string(); }

  // Runs `[env] roundoff <args>` in the temp dir. args and env go through the shell unquoted, so
  // tests use plain file names and quote globs themselves.
  cli_result run(const std::string& args, const std::string& env = "") const {
    const std::string cmd = "cd '" + dir_.string() + "' && " + env + " '" ROUNDOFF_CLI_PATH "' " +
                            args + " >stdout.txt 2>stderr.txt";
    const int status = std::system(cmd.c_str());
    cli_result r;
    r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = slurp(dir_ / "stdout.txt");
    r.err = slurp(dir_ / "stderr.txt");
    return r;
  }

  // Expects exit 2 and exactly one stderr line "roundoff: ..." containing `want`; returns the
  // result for further checks.
  cli_result expect_usage_error(const std::string& args, const std::string& want,
                                const std::string& env = "") const {
    cli_result r = run(args, env);
    EXPECT_EQ(r.rc, 2) << args << "\nstderr: " << r.err;
    EXPECT_EQ(r.err.rfind("roundoff: ", 0), 0u) << args << "\nstderr: " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << args << "\nstderr: " << r.err;
    EXPECT_NE(r.err.find(want), std::string::npos)
        << args << "\nstderr: " << r.err << "\nwant: " << want;
    return r;
  }

  std::filesystem::path dir_;
};

}  // namespace roundoff::test
