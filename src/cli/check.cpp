// `roundoff check <op>`: judge saved outputs against the exact result and against each other.
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "command.hpp"
#include "common.hpp"
#include "op_flags.hpp"
#include "roundoff/backends/tc_emulation.hpp"
#include "roundoff/bounds/models.hpp"
#include "roundoff/error.hpp"
#include "roundoff/io/read_tensor.hpp"
#include "roundoff/ops/op.hpp"
#include "roundoff/verdicts/judge.hpp"

namespace roundoff::cli {

namespace {

struct check_state {
  op_flags op;
  operand_flags files;
  std::vector<std::string> outputs;  ///< NAME=FILE or FILE
  std::string declared;
  verdict_flags verdict;
  int threads = 0;  ///< 0: exact::engine_threads (every core)
  std::string device = "cpu";
  report_flags rep;
};

struct named_file {
  std::string name, spec;
};

// "NAME=FILE" or "FILE" (name: the file's stem, with the member when there is one).
named_file parse_output_arg(const std::string& arg) {
  const auto eq = arg.find('=');
  if (eq != std::string::npos) {
    named_file n{arg.substr(0, eq), arg.substr(eq + 1)};
    if (n.name.empty() || n.spec.empty())
      throw input_error("--output " + arg + ": expected NAME=FILE");
    return n;
  }
  const io::tensor_spec s = io::parse_tensor_spec(arg);
  std::string name = s.file.stem().string();
  if (!s.member.empty()) name += ":" + s.member;
  return {name, arg};
}

std::string operands_text(const check_state& s, const stored_operands& in) {
  return fmt::format(
      "--input {} {}, --weight {} {}{}", s.files.input, shape_string(in.x.view.shape),
      s.files.weight, shape_string(in.w.view.shape),
      in.b ? fmt::format(", --bias {} {}", s.files.bias, shape_string(in.b->view.shape))
           : std::string());
}

int run_check(const check_state& s) {
  const exact::device_kind device = to_device(s.device);  // refuse before any work
  // Cheap validation first: flags, names, the report destination.
  const ops::op_spec spec = make_op_spec(s.op);
  const std::string_view op_name = ops::op_name(spec.kind);
  const std::string declared = bounds::parse_model(s.declared).name;
  check_confidence(s.verdict.confidence);
  parse_report_flags(s.rep);
  std::vector<named_file> names;
  for (const auto& o : s.outputs) {
    named_file n = parse_output_arg(o);
    for (const auto& m : names)
      if (m.name == n.name)
        throw input_error(fmt::format(
            "--output {}: the name '{}' is used twice (name them: --output NAME=FILE)", o, n.name));
    names.push_back(std::move(n));
  }

  // Kept as stored: an f32 file is not widened to doubles (half the memory; the library reads
  // views in place).
  stored_operands in{load_stored(s.files.input, true), load_stored(s.files.weight, true), {}};
  if (!s.files.bias.empty()) in.b = load_stored(s.files.bias, true);
  std::vector<std::int64_t> out_shape;
  try {
    out_shape = ops::output_shape({spec, in.x.view, in.w.view, in.bias()});
  } catch (const input_error& e) {
    throw input_error(fmt::format("{}: {}: {}", op_name, operands_text(s, in), e.what()));
  }
  std::vector<stored_tensor> ys;
  for (const auto& n : names) {
    stored_tensor y = load_stored(n.spec, false);  // NaN/Inf outputs are judged, not refused
    if (y.view.shape != out_shape)
      throw input_error(fmt::format("--output {}={}: shape {} but {} of {} gives {}", n.name,
                                    n.spec, shape_string(y.view.shape), op_name,
                                    operands_text(s, in), shape_string(out_shape)));
    ys.push_back(std::move(y));
  }

  std::vector<verdicts::judged_output> outs;
  for (std::size_t i = 0; i < names.size(); ++i) {
    verdicts::judged_output o{names[i].name, declared, ys[i].view, {}};
    o.source.file = names[i].spec;
    outs.push_back(std::move(o));
  }

  report::results r;
  r.command = "check";
  r.op = std::string(op_name);
  r.params.push_back({"input", s.files.input});
  r.params.push_back({"input_shape", in.x.view.shape});
  r.params.push_back({"input_format", std::string(traits(in.x.view.type).name)});
  r.params.push_back({"weight", s.files.weight});
  r.params.push_back({"weight_shape", in.w.view.shape});
  r.params.push_back({"weight_format", std::string(traits(in.w.view.type).name)});
  if (in.b) {
    r.params.push_back({"bias", s.files.bias});
    r.params.push_back({"bias_shape", in.b->view.shape});
    r.params.push_back({"bias_format", std::string(traits(in.b->view.type).name)});
  }
  for (const auto& [k, v] : op_flag_params(s.op)) r.params.push_back({k, v});
  r.params.push_back({"output_shape", out_shape});
  r.params.push_back({"declared", declared});
  r.params.push_back({"confidence", s.verdict.confidence});
  r.reference = {"fast", true};

  verdicts::judge_options jo;
  jo.confidence = s.verdict.confidence;
  jo.threads = s.threads;
  jo.device = device;
  jo.worst = s.verdict.worst;
  verdicts::judge({spec, in.x.view, in.w.view, in.bias()}, outs, verdicts::all_pairs(outs.size()),
                  jo, r);
  // "bit-identical to sm_90 tensor cores (...)" (docs/tensor-cores.md §3): never a verdict.
  for (std::size_t i = 0; i < ys.size(); ++i)
    r.items[i].bit_identical_to = backends::tc::bit_identical_description(
        spec, in.x.view, in.w.view, in.bias(), ys[i].view, r.items[i].declared,
        r.items[i].consistent_models, s.threads);
  emit(r, s.rep);
  return verdicts::finding_exit_code(r, s.verdict.fail_on_suspicious());
}

}  // namespace

command add_check_command(CLI::App& root) {
  auto state = std::make_shared<check_state>();
  command c;
  c.app = root.add_subcommand(
      "check",
      "judge saved outputs of an op against its exact result and against each other: "
      "consistent, suspicious or violation");
  add_op_flags(*c.app, state->op);
  c.app
      ->add_option("--input", state->files.input,
                   "x: .npy, .npz[:member], .safetensors[:name] or .pt[:key]")
      ->required();
  c.app->add_option("--weight", state->files.weight, "W: tensor file, as --input")->required();
  c.app->add_option("--bias", state->files.bias, "b: tensor file (optional)");
  c.app
      ->add_option("--output", state->outputs,
                   "an implementation's output: NAME=FILE (or FILE: named after the file); "
                   "repeat for several")
      ->required();
  c.app
      ->add_option(
          "--declared", state->declared,
          "the arithmetic the outputs claim: f64, f32, tf32 (tf32-rne, tf32-rna), f16, bf16, "
          "f16-rpr, bf16-rpr, f16-acc16, bf16-acc-bf16")
      ->required();
  add_verdict_flags(*c.app, state->verdict);
  c.app
      ->add_option("--threads", state->threads,
                   "threads for the exact engine (default: every core, or ROUNDOFF_THREADS)")
      ->check(CLI::Range(1, 1024));
  add_device_flag(*c.app, state->device);
  add_worst_flag(*c.app, state->verdict);
  add_report_flags(*c.app, state->rep);
  c.run = [state] { return run_check(*state); };
  return c;
}

}  // namespace roundoff::cli
