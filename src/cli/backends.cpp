// `roundoff backends`: every implementation roundoff can run, its declared model, and whether it
// can run here (and why not).
#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "command.hpp"
#include "common.hpp"
#include "roundoff/backends/backend.hpp"
#include "roundoff/report/table.hpp"

namespace roundoff::cli {

namespace {

// Number of op kinds: a backend that runs all of them is listed as "all" in the table.
constexpr std::size_t all_ops = static_cast<std::size_t>(ops::op_kind::conv_transpose3d) + 1;

report::table backends_table() {
  report::table t;
  t.columns = {{"name"}, {"declared"}, {"available"}, {"ops"}, {"reason"}};
  for (const auto& b : backends::list_backends())
    t.add_row(
        {b.name, b.model, b.available ? "yes" : "no",
         b.ops.size() == all_ops ? std::string("all") : fmt::format("{}", fmt::join(b.ops, " ")),
         b.reason});
  return t;
}

// JSON keeps the types: available is a boolean, ops a list.
std::string backends_json() {
  nlohmann::ordered_json a = nlohmann::ordered_json::array();
  for (const auto& b : backends::list_backends())
    a.push_back({{"name", b.name},
                 {"library", b.library},
                 {"device", b.device},
                 {"formulation", b.formulation},
                 {"format", b.format},
                 {"declared", b.model},
                 {"ops", b.ops},
                 {"available", b.available},
                 {"reason", b.reason}});
  return a.dump(2) + "\n";
}

}  // namespace

command add_backends_command(CLI::App& root) {
  auto state = std::make_shared<report_flags>();
  command c;
  c.app = root.add_subcommand(
      "backends", "list every implementation with its declared model and whether it can run here");
  add_report_flags(*c.app, *state);
  c.run = [state] {
    if (parse_report_flags(*state) == report::output_format::json)
      report::write_output(backends_json(), state->out);
    else
      emit(backends_table(), *state);
    return static_cast<int>(exit_ok);
  };
  return c;
}

}  // namespace roundoff::cli
