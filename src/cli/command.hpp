// How a command plugs into the roundoff CLI: each command file adds its subcommand (flags bound
// to its own state) and returns the action to run once parsing succeeded. main.cpp parses, runs
// the chosen action inside the one error handler, and turns exceptions into exit codes:
//   0  done, no finding          1  a finding (verdict commands, later)
//   2  usage or input error      3  internal error (a bug in roundoff)
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include <CLI/CLI.hpp>

namespace roundoff::cli {

/// Exit codes shared by every command (docs/cli.md).
enum exit_code : int { exit_ok = 0, exit_finding = 1, exit_usage = 2, exit_internal = 3 };

struct command {
  CLI::App* app = nullptr;   ///< the subcommand
  std::function<int()> run;  ///< called when app was chosen; returns an exit code
};

/// `roundoff version`
command add_version_command(CLI::App& root);
/// `roundoff reference <op> --input X --weight W [--bias B] --out Y [...]`
command add_reference_command(CLI::App& root);
/// `roundoff check <op> --input X --weight W [--bias B] --output NAME=FILE ... --declared P`
command add_check_command(CLI::App& root);
/// `roundoff run <op> [sizes] [--impl GLOB ...]`
command add_run_command(CLI::App& root);
/// `roundoff backends`
command add_backends_command(CLI::App& root);
/// `roundoff sweep <op> --vary NAME=START:STOP[:STEP] [...]`
command add_sweep_command(CLI::App& root);

}  // namespace roundoff::cli
