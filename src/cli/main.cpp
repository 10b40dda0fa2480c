// roundoff: is this divergence a bug or expected rounding? A thin shell: parse, call the library,
// report. Every error leaves as exactly one line on stderr, "roundoff: <message>", and an exit
// code (command.hpp): 2 for usage and input errors (roundoff::input_error; an argument_error
// reworded to name the flag), 3 for anything else ("internal error: ...", every other
// roundoff::error and std::exception). The one mapping of include/roundoff/error.hpp's kinds.
#include <cstdio>
#include <exception>
#include <new>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "command.hpp"
#include "op_flags.hpp"
#include "roundoff/error.hpp"
#include "roundoff_build_info.hpp"

namespace {

// One line, whatever the message contains.
std::string one_line(std::string s) {
  for (char& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

int report(int code, const std::string& message) {
  std::fflush(stdout);
  fmt::print(stderr, "roundoff: {}\n", one_line(message));
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace roundoff::cli;
  try {
    CLI::App app{
        "roundoff: is this divergence between two implementations a bug or expected "
        "rounding? Exact references for tensor ops.",
        "roundoff"};
    app.set_version_flag("--version", std::string("roundoff ") + build::version);
    std::vector<command> commands;
    commands.push_back(add_version_command(app));
    commands.push_back(add_reference_command(app));
    commands.push_back(add_check_command(app));
    commands.push_back(add_run_command(app));
    commands.push_back(add_backends_command(app));
    commands.push_back(add_sweep_command(app));
    try {
      app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
      if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
      return report(exit_usage, e.what());
    }
    for (const auto& c : commands)
      if (c.app->parsed()) return c.run();
    return report(exit_usage, "no command given (roundoff --help lists the commands)");
  } catch (const roundoff::argument_error& e) {
    return report(exit_usage, flag_message(e));
  } catch (const roundoff::input_error& e) {
    return report(exit_usage, e.what());
  } catch (const std::bad_alloc&) {
    return report(exit_internal, "internal error: out of memory");
  } catch (const std::exception& e) {
    return report(exit_internal, std::string("internal error: ") + e.what());
  } catch (...) {
    return report(exit_internal, "internal error: unknown exception");
  }
}
