// `roundoff run <op>`: generate inputs, run the selected implementations, judge each against the
// exact result with its own declared model, and compare pairs. No flags = the seed case.
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "command.hpp"
#include "common.hpp"
#include "op_flags.hpp"
#include "roundoff/backends/backend.hpp"
#include "roundoff/bounds/models.hpp"
#include "roundoff/error.hpp"
#include "roundoff/ops/op.hpp"
#include "roundoff/verdicts/judge.hpp"
#include "shape_flags.hpp"

namespace roundoff::cli {

namespace {

struct run_state {
  op_flags op;
  shape_flags shape;
  std::vector<std::string> impl;
  int threads = 0;             ///< 0: not given (libraries 1, the exact engine every core)
  std::string device = "cpu";  ///< the exact engine's (--device)
  std::uint64_t seed = 0;
  std::string dist = "normal";
  std::string dtype = "f32";
  std::string declared;  ///< empty: each backend's own model
  std::string compare = "first";
  verdict_flags verdict;
  report_flags rep;
};

int run_run(const run_state& s) {
  const exact::device_kind device = to_device(s.device);  // refuse before any work
  const ops::op_spec spec = make_op_spec(s.op);
  const std::string_view op_name = ops::op_name(spec.kind);
  const problem_shape shape = resolve_shape(spec, s.shape);
  const distribution dist = parse_distribution(s.dist);
  const auto dtype = parse_format(s.dtype);
  if (!dtype || *dtype == format_id::tf32 || *dtype == format_id::e4m3 || *dtype == format_id::e5m2)
    throw input_error(
        fmt::format("--dtype: unknown input format '{}' (known: f64, f32, f16, bf16)", s.dtype));
  std::string override_model;
  if (!s.declared.empty()) override_model = bounds::parse_model(s.declared).name;
  check_confidence(s.verdict.confidence);
  parse_report_flags(s.rep);

  // Backends: the ones that support the op, in registry order; an --impl glob must match one.
  const auto& reg = backends::builtin_registry();
  std::vector<const backends::backend*> chosen;
  for (const auto* b : reg.select(s.impl))
    if (b->supports(spec.kind)) chosen.push_back(b);
  if (chosen.empty())
    throw input_error(fmt::format("--impl {}: no selected implementation runs {}",
                                  fmt::join(s.impl, " "), op_name));

  const generated_inputs in = generate_inputs(shape, dist, s.seed, *dtype);
  ops::output_shape({spec, in.x, in.w, in.bias()});  // op flags against the sizes (input_error)

  // Each implementation's library runs on an explicit thread count (1 unless --threads), which
  // the report shows; the exact engine takes every core unless --threads is given.
  const int library_threads = s.threads > 0 ? s.threads : 1;
  report::results r;
  r.command = "run";
  r.op = std::string(op_name);
  r.params = shape_params(spec, s.shape);
  for (const auto& [k, v] : op_flag_params(s.op)) r.params.push_back({k, v});
  r.params.push_back({"input_shape", in.x.shape});
  r.params.push_back({"weight_shape", in.w.shape});
  if (in.b) r.params.push_back({"bias_shape", in.b->shape});
  r.params.push_back({"dtype", std::string(traits(*dtype).name)});
  r.params.push_back({"dist", s.dist});
  r.params.push_back({"seed", static_cast<std::int64_t>(s.seed)});
  r.params.push_back({"threads", static_cast<std::int64_t>(library_threads)});
  r.params.push_back({"confidence", s.verdict.confidence});
  if (!override_model.empty()) r.params.push_back({"declared_override", override_model});
  r.reference = {"fast", true};

  backends::run_options ro;
  ro.threads = library_threads;
  std::vector<tensor> ys;
  ys.reserve(chosen.size());
  std::vector<verdicts::judged_output> outs;
  std::vector<report::result> skipped;
  for (const auto* b : chosen) {
    const auto a = b->available();
    if (!a.available) {
      report::result k;
      k.name = b->full_name();
      k.declared = override_model.empty() ? b->model() : override_model;
      k.verdict = "skipped";
      k.explanation = "unavailable: " + a.reason;
      skipped.push_back(std::move(k));
      continue;
    }
    backends::run_result rr = b->run(spec, in.x, in.w, in.bias(), ro);
    ys.push_back(std::move(rr.output));
    verdicts::judged_output o{
        b->full_name(), override_model.empty() ? b->model() : override_model, {}, {}};
    o.source.device = rr.info.device;
    o.source.thread_library = rr.info.thread_library;
    o.source.threads = rr.info.threads;
    o.source.seconds = rr.info.seconds;
    o.source.notes = rr.info.notes;
    if (rr.info.inputs_rounded > 0)
      o.source.notes += fmt::format("{}{} input elements rounded to {} before the run",
                                    o.source.notes.empty() ? "" : "; ", rr.info.inputs_rounded,
                                    traits(b->storage_format()).name);
    outs.push_back(std::move(o));
  }
  for (std::size_t i = 0; i < outs.size(); ++i) outs[i].observed = ys[i];

  std::vector<std::pair<std::size_t, std::size_t>> pairs;
  // first: each implementation against the first one declaring the same model.
  for (const auto& [i, j] : verdicts::all_pairs(outs.size())) {
    const bool same = outs[i].declared == outs[j].declared;
    bool first_of_model = true;
    for (std::size_t k = 0; k < i; ++k) first_of_model &= outs[k].declared != outs[i].declared;
    if (s.compare == "all" || (s.compare == "same-model" && same) ||
        (s.compare == "first" && same && first_of_model))
      pairs.emplace_back(i, j);
  }

  verdicts::judge_options jo;
  jo.confidence = s.verdict.confidence;
  jo.threads = s.threads;
  jo.device = device;
  jo.worst = s.verdict.worst;
  verdicts::judge({spec, in.x, in.w, in.bias()}, outs, pairs, jo, r);
  for (auto& k : skipped) r.items.push_back(std::move(k));
  emit(r, s.rep);
  return verdicts::finding_exit_code(r, s.verdict.fail_on_suspicious());
}

}  // namespace

command add_run_command(CLI::App& root) {
  auto state = std::make_shared<run_state>();
  command c;
  c.app = root.add_subcommand(
      "run",
      "run implementations (LibTorch, BLAS, Eigen, naive loops, cuBLAS) on generated inputs and "
      "judge each against the exact result; `roundoff run linear` is the seed case");
  add_op_flags(*c.app, state->op);
  add_shape_flags(*c.app, state->shape);
  c.app->add_option("--impl", state->impl,
                    "implementations to run, by name or glob, e.g. 'torch.cpu.*' (repeatable; "
                    "default: every one that runs the op; see roundoff backends)");
  c.app
      ->add_option("--threads", state->threads,
                   "threads for each implementation's library (default 1) and for the exact engine "
                   "(default: every core, or ROUNDOFF_THREADS)")
      ->check(CLI::Range(1, 1024));
  add_device_flag(*c.app, state->device);
  c.app->add_option("--seed", state->seed, "seed of the generated inputs (0)");
  c.app->add_option("--dist", state->dist,
                    "input distribution: normal (default), uniform, positive");
  c.app->add_option("--dtype", state->dtype,
                    "format of the generated inputs: f32 (default), f64, f16, bf16");
  c.app->add_option("--declared", state->declared,
                    "judge every implementation against this preset instead of its own model");
  c.app
      ->add_option("--compare", state->compare,
                   "pairs to compare: first (default: each implementation against the first one "
                   "declaring the same model), same-model (every such pair), all, none")
      ->check(CLI::IsMember({"first", "same-model", "all", "none"}));
  add_verdict_flags(*c.app, state->verdict);
  add_worst_flag(*c.app, state->verdict);
  add_report_flags(*c.app, state->rep);
  c.run = [state] { return run_run(*state); };
  return c;
}

}  // namespace roundoff::cli
