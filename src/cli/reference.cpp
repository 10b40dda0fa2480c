// `roundoff reference <op>`: the correctly rounded exact result of an op, written as f64 .npy.
#include <chrono>
#include <cstdint>
#include <memory>

#include <fmt/format.h>

#include "command.hpp"
#include "common.hpp"
#include "op_flags.hpp"
#include "roundoff/error.hpp"
#include "roundoff/exact/gemm.hpp"
#include "roundoff/io/npy.hpp"
#include "roundoff/ops/op.hpp"
#include "roundoff/report/table.hpp"

namespace roundoff::cli {

namespace {
struct reference_state {
  op_flags op;
  operand_flags files;
  engine_flags engine;
  std::string out;
};

int run_reference(const reference_state& s) {
  const auto start = std::chrono::steady_clock::now();
  const ops::op_spec spec = make_op_spec(s.op);
  ops::reference_options opt = to_reference_options(s.engine);
  opt.want_magnitude = false;  // reference writes only the exact values
  report::check_writable(s.out);
  // As stored: f32 files are not widened to doubles (the engine converts tiles on the fly).
  const stored_operands in = load_stored_operands(s.files);
  const std::string_view name = ops::op_name(spec.kind);
  try {
    ops::output_shape({spec, in.x.view, in.w.view, in.bias()});  // validates shapes and arguments
  } catch (const input_error& e) {
    throw input_error(fmt::format(
        "{}: --input {} {}, --weight {} {}{}: {}", name, s.files.input,
        shape_string(in.x.view.shape), s.files.weight, shape_string(in.w.view.shape),
        in.b ? fmt::format(", --bias {} {}", s.files.bias, shape_string(in.b->view.shape))
             : std::string(),
        e.what()));
  }

  const auto t0 = std::chrono::steady_clock::now();
  tensor y;
  y.type = format_id::f64;
  std::int64_t inexact = 0;
  double compute_s = 0;
  {
    // The exact result (17 bytes per output) is released before the file is encoded.
    const ops::op_result r = ops::evaluate({spec, in.x.view, in.w.view, in.bias()}, opt);
    compute_s = seconds_since(t0);
    y.shape = r.exact.shape();
    y.data = r.exact.rounded();
    for (auto e : r.oracle_exact) inexact += e ? 0 : 1;
  }
  if (opt.how != ops::method::mpfr) inexact = 0;
  io::write_npy(s.out, y);
  fmt::print("roundoff reference {}\n", name);
  fmt::print("  input   {}\n", describe(s.files.input, in.x.view));
  fmt::print("  weight  {}\n", describe(s.files.weight, in.w.view));
  if (in.b) fmt::print("  bias    {}\n", describe(s.files.bias, in.b->view));
  fmt::print("  output  {} {} f64: {}({}), {}\n", s.out, shape_string(y.shape), name,
             in.b ? "x, W, b" : "x, W",
             inexact ? "MPFR's result rounded to nearest-even (not exact everywhere, see below)"
                     : "the exact value rounded once to nearest-even");
  const int used = exact::engine_threads(opt.threads);
  std::string threads = fmt::format("{} thread{}", used, used == 1 ? "" : "s");
  if (opt.device == exact::device_kind::cuda) threads += ", slice products on cuda";
  const double total_s = seconds_since(start);
  if (opt.how == ops::method::mpfr) {
    const auto n = static_cast<std::int64_t>(y.data.size());
    if (inexact == 0) {
      fmt::print(
          "  method  mpfr at {} bits: all {} elements exact; {}; {:.3f} s ({:.3f} s with "
          "I/O)\n",
          opt.precision_bits, n, threads, compute_s, total_s);
    } else {
      fmt::print(
          "  method  mpfr at {} bits: {} of {} elements NOT exact at this precision; {}; "
          "{:.3f} s ({:.3f} s with I/O)\n",
          opt.precision_bits, inexact, n, threads, compute_s, total_s);
      fmt::print(stderr,
                 "roundoff: warning: {} of {} elements of {} are MPFR's {}-bit rounding, not the "
                 "exact result; raise --precision-bits or use --method fast\n",
                 inexact, n, s.out, opt.precision_bits);
    }
  } else {
    fmt::print("  method  {}, exact by construction; {}; {:.3f} s ({:.3f} s with I/O)\n",
               opt.how == ops::method::fast ? "fast" : "simple", threads, compute_s, total_s);
  }
  return exit_ok;
}
}  // namespace

command add_reference_command(CLI::App& root) {
  auto state = std::make_shared<reference_state>();
  command c;
  c.app = root.add_subcommand(
      "reference", "write the correctly rounded exact result of an op as an f64 .npy file");
  add_op_flags(*c.app, state->op);
  add_operand_flags(*c.app, state->files);
  c.app->add_option("--out", state->out, "output .npy file (f64)")->required();
  add_engine_flags(*c.app, state->engine);
  c.run = [state] { return run_reference(*state); };
  return c;
}

}  // namespace roundoff::cli
