// `roundoff sweep <op> --vary in=1:2048:64`: the forum experiment. Parses flags, wraps the
// selected backends as callables, calls verdicts::run_sweep, hands its result to report (a table in
// every --format, include/roundoff/report/sweep.hpp), then optionally draws it with
// scripts/plot_sweep.py. Columns and schema: docs/cli.md, "roundoff sweep".
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "command.hpp"
#include "common.hpp"
#include "op_flags.hpp"
#include "roundoff/backends/backend.hpp"
#include "roundoff/error.hpp"
#include "roundoff/report/sweep.hpp"
#include "roundoff/report/table.hpp"
#include "roundoff/verdicts/sweep.hpp"
#include "sweep_flags.hpp"

extern char** environ;

namespace roundoff::cli {

namespace {

namespace fs = std::filesystem;

struct sweep_state {
  op_flags op;
  std::string vary;  ///< empty: the op's default
  std::vector<std::string> dims;
  bool no_bias = false;
  std::vector<std::string> impls;
  int threads = 0;  ///< 0: not given (libraries 1, the exact engine every core)
  std::uint64_t seed = 1;
  double confidence = 1e-6;
  std::string format = "table";
  std::string out;
  std::string plot;
};

// ---- the plotting helper (python3 scripts/plot_sweep.py) ----------------------------------

// Runs argv (argv[0] looked up on PATH) with stdout to /dev/null and stderr to `err_file` (or
// /dev/null). Returns the exit status, 127 when argv[0] cannot be started.
int spawn(const std::vector<std::string>& args, const std::string& err_file) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, STDERR_FILENO,
                                   err_file.empty() ? "/dev/null" : err_file.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return 127;
  int status = 0;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return 127;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

std::string python() {
  const char* p = std::getenv("ROUNDOFF_PYTHON");
  return p && *p ? p : "python3";
}

// The plotting script: $ROUNDOFF_PLOT_SCRIPT, the installed copy next to the binary
// (<prefix>/share/roundoff/plot_sweep.py), or the source tree's.
std::string plot_script() {
  if (const char* e = std::getenv("ROUNDOFF_PLOT_SCRIPT"); e && *e) {
    if (!fs::is_regular_file(e))
      throw input_error(std::string("--plot: ROUNDOFF_PLOT_SCRIPT=") + e + " does not exist");
    return e;
  }
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const fs::path installed = exe.parent_path().parent_path() / "share/roundoff/plot_sweep.py";
    if (fs::is_regular_file(installed, ec)) return installed.string();
  }
  const fs::path source = ROUNDOFF_SOURCE_DIR "/scripts/plot_sweep.py";
  if (fs::is_regular_file(source, ec)) return source.string();
  throw input_error("--plot: cannot find plot_sweep.py (looked in <prefix>/share/roundoff and " +
                    source.string() + "; set ROUNDOFF_PLOT_SCRIPT)");
}

// Fails fast, before the sweep runs, when the plot cannot be drawn.
void check_plotting(const std::string& png) {
  const std::string py = python();
  const int rc = spawn({py, "-c", "import matplotlib"}, "");
  if (rc == 127)
    throw input_error("--plot " + png + ": " + py +
                      " not found on PATH (it draws the plot with matplotlib; drop --plot to "
                      "write the data only)");
  if (rc != 0)
    throw input_error("--plot " + png + ": " + py +
                      " cannot import matplotlib (install it: pip install matplotlib, or "
                      "apt-get install python3-matplotlib)");
}

std::string last_line(const std::string& file) {
  std::ifstream in(file);
  std::string line, last;
  while (std::getline(in, line))
    if (line.find_first_not_of(" \t\r") != std::string::npos) last = line;
  return last;
}

// Draws `csv` into `png` with the script. Throws input_error with the script's last stderr line
// when it fails.
void draw_plot(const std::string& script, const std::string& csv, const std::string& png) {
  const fs::path err = fs::path(csv).replace_extension(".stderr");
  const int rc = spawn({python(), script, csv, "-o", png}, err.string());
  const std::string why = last_line(err.string());
  std::error_code ec;
  fs::remove(err, ec);
  if (rc != 0)
    throw input_error(fmt::format("--plot {}: {} failed (exit {}){}", png, script, rc,
                                  why.empty() ? "" : ": " + why));
}

// A private temporary file name, removed by the destructor.
struct temp_file {
  std::string path;
  temp_file() {
    std::string t = (fs::temp_directory_path() / "roundoff-sweep-XXXXXX.csv").string();
    const int fd = mkstemps(t.data(), 4);
    if (fd < 0) throw resource_error("cannot create a temporary file in " + t);
    ::close(fd);
    path = t;
  }
  ~temp_file() {
    std::error_code ec;
    fs::remove(path, ec);
  }
  temp_file(const temp_file&) = delete;
  temp_file& operator=(const temp_file&) = delete;
};

// ---- the report -----------------------------------------------------------------------------

struct skipped_impl {
  std::string name, reason;
};

// The sweep's measurement as the report layer renders it (include/roundoff/report/sweep.hpp).
report::sweep_report to_report(const verdicts::sweep_result& r, const verdicts::sweep_spec& spec,
                               const sweep_state& s, const std::vector<verdicts::sweep_impl>& impls,
                               const std::vector<skipped_impl>& skipped) {
  report::sweep_report out;
  out.op = r.op;
  out.params = op_flag_params(s.op);
  out.dim = spec.vary.dim;
  out.start = spec.vary.start;
  out.stop = spec.vary.stop;
  out.step = spec.vary.step;
  out.geometric = spec.vary.geometric;
  for (const auto& [n, d] : verdicts::sweep_dim_defaults(spec.op.kind)) {
    auto it = spec.dims.find(n);
    const verdicts::dim_setting& ds = it != spec.dims.end() ? it->second : d;
    out.dims.push_back({n, ds.value, ds.tied_to, n == spec.vary.dim});
  }
  out.bias = r.bias;
  out.seed = r.seed;
  out.confidence = r.confidence;
  for (auto f : r.input_formats) out.input_formats.emplace_back(traits(f).name);
  for (const auto& im : impls)
    out.implementations.push_back({im.name, im.model, std::string(traits(im.storage).name)});
  for (const auto& x : skipped) out.skipped.push_back({x.name, x.reason});
  for (const auto& p : r.points) {
    report::sweep_point_rows pr;
    pr.value = p.shape.value;
    pr.dims = p.shape.dims;
    pr.x = p.shape.x;
    pr.w = p.shape.w;
    pr.b = p.shape.b;
    pr.y = p.shape.y;
    pr.reference_seconds = p.reference_seconds;
    for (const auto& im : p.impls)
      pr.impls.push_back({im.name, im.model, im.elements, im.max_abs_error, im.sum_abs_error,
                          im.max_deterministic_bound, im.sum_deterministic_bound,
                          im.max_probabilistic_bound, im.sum_probabilistic_bound,
                          im.max_ratio_deterministic, im.max_ratio_probabilistic,
                          im.beyond_deterministic, im.beyond_probabilistic,
                          std::string(verdicts::to_string(im.status())), im.seconds});
    for (const auto& c : p.pairs)
      pr.pairs.push_back({c.a, c.b, c.differing, c.max_abs_difference, c.sum_abs_difference,
                          c.sum_allowed_difference, c.max_ratio, c.beyond,
                          std::string(verdicts::to_string(c.status()))});
    out.points.push_back(std::move(pr));
  }
  return out;
}

// ---- the command ---------------------------------------------------------------------------

int run_sweep_command(const sweep_state& s) {
  const auto start = std::chrono::steady_clock::now();
  verdicts::sweep_spec spec(make_op_spec(s.op));
  const report::output_format format = report::parse_output_format(s.format);
  spec.vary = parse_vary(
      !s.vary.empty() ? s.vary
                      : (ops::spatial_dims(spec.op.kind) > 0 ? "in=1:128:4" : "in=1:2048:64"));
  spec.vary.dim = verdicts::canonical_dim(spec.op.kind, spec.vary.dim);
  for (const auto& d : s.dims) {
    auto [given, setting] = parse_dim(d);
    const std::string name = verdicts::canonical_dim(spec.op.kind, given);
    if (spec.dims.count(name))
      throw input_error("--dim " + given + ": " + name + " is given twice");
    if (!setting.tied_to.empty())
      setting.tied_to = verdicts::canonical_dim(spec.op.kind, setting.tied_to);
    spec.dims[name] = setting;
  }
  spec.bias = !s.no_bias;
  spec.seed = s.seed;
  spec.confidence = s.confidence;
  spec.threads = s.threads;
  check_confidence(s.confidence);
  const std::vector<verdicts::sweep_shape> shapes = verdicts::sweep_shapes(spec);  // validate early

  // Implementations: the backends the globs select that support the op and can run here.
  const std::vector<std::string> globs =
      s.impls.empty() ? std::vector<std::string>{"*.f32"} : s.impls;
  const auto& reg = backends::builtin_registry();
  std::vector<verdicts::sweep_impl> impls;
  std::vector<skipped_impl> skipped;
  // In the order the globs are given (the first two form the highlighted pair of the plot),
  // each backend once.
  std::vector<const backends::backend*> chosen;
  for (const auto& g : globs)
    for (const backends::backend* b : reg.select({g}))
      if (std::find(chosen.begin(), chosen.end(), b) == chosen.end()) chosen.push_back(b);
  for (const backends::backend* b : chosen) {
    const std::string name = b->full_name();
    if (!b->supports(spec.op.kind)) {
      skipped.push_back({name, "does not run " + std::string(ops::op_name(spec.op.kind))});
      continue;
    }
    if (auto av = b->available(); !av.available) {
      skipped.push_back({name, av.reason});
      continue;
    }
    verdicts::sweep_impl im;
    im.name = name;
    im.model = b->model();
    im.storage = b->storage_format();
    const int threads = s.threads > 0 ? s.threads : 1;  // libraries: 1 unless --threads
    im.run = [b, threads](const ops::op_spec& op, const tensor& x, const tensor& w,
                          const tensor* bias) {
      backends::run_options ro;
      ro.threads = threads;
      backends::run_result rr = b->run(op, x, w, bias, ro);
      if (rr.info.inputs_rounded != 0)  // run_sweep draws inputs in every storage format
        throw internal_error(b->full_name() + " rounded its inputs");
      return std::move(rr.output);
    };
    impls.push_back(std::move(im));
  }
  if (impls.empty()) {
    std::string why;
    for (const auto& x : skipped) why += (why.empty() ? "" : "; ") + x.name + ": " + x.reason;
    throw input_error(fmt::format("--impl {}: no selected implementation can run {} here ({})",
                                  fmt::join(globs, " "), ops::op_name(spec.op.kind), why));
  }
  if (!s.impls.empty())
    for (const auto& x : skipped)
      fmt::print(stderr, "roundoff: note: skipping {}: {}\n", x.name, x.reason);

  if (!s.out.empty() && s.out != "-") report::check_writable(s.out);
  std::string script;
  if (!s.plot.empty()) {
    report::check_writable(s.plot);
    script = plot_script();
    check_plotting(s.plot);
  }

  // Progress on stderr, only on a terminal and once the run has taken more than a second
  // ($ROUNDOFF_PROGRESS_AFTER seconds: tests set 0).
  const bool tty = isatty(STDERR_FILENO) != 0;
  double after = 1.0;
  if (const char* e = std::getenv("ROUNDOFF_PROGRESS_AFTER"); e && *e) after = std::atof(e);
  bool progress_shown = false;
  verdicts::sweep_progress progress = [&](std::size_t done, std::size_t total, std::int64_t value) {
    if (!tty) return;
    const double t = seconds_since(start);
    if (t < after && !progress_shown) return;
    progress_shown = true;
    fmt::print(stderr, "\rroundoff sweep: {}={} ({}/{} points, {:.1f} s)\x1b[K", spec.vary.dim,
               value, done, total, t);
    std::fflush(stderr);
  };
  const verdicts::sweep_result r = verdicts::run_sweep(spec, impls, progress);
  if (progress_shown) {
    fmt::print(stderr, "\r\x1b[K");
    std::fflush(stderr);
  }

  const bool to_stdout = s.out.empty() || s.out == "-";
  const report::sweep_report rep = to_report(r, spec, s, impls, skipped);
  report::render_options ro;
  ro.colour = to_stdout && report::colour_on_stdout();
  report::write_output(report::render(rep, format, ro), s.out);

  if (!s.plot.empty()) {
    temp_file csv;
    report::write_output(report::render(rep, report::output_format::csv), csv.path);
    draw_plot(script, csv.path, s.plot);
  }

  bool violation = false;
  for (const auto& p : r.points) {
    for (const auto& im : p.impls) violation |= im.status() == verdicts::verdict_kind::violation;
    for (const auto& pr : p.pairs) violation |= pr.status() == verdicts::verdict_kind::violation;
  }
  if (!to_stdout) {
    fmt::print("roundoff sweep {}: {} point{} of {} ({}..{}), {} implementation{}, {} pair{}\n",
               r.op, r.points.size(), r.points.size() == 1 ? "" : "s", r.dim, shapes.front().value,
               shapes.back().value, impls.size(), impls.size() == 1 ? "" : "s",
               impls.size() * (impls.size() - 1) / 2, impls.size() == 2 ? "" : "s");
    fmt::print("  wrote   {} ({})\n", s.out, report::to_string(format));
    if (!s.plot.empty()) fmt::print("  plot    {}\n", s.plot);
    fmt::print("  verdict {}; {:.2f} s\n",
               violation ? "some output is beyond its deterministic bound (exit 1)"
                         : "every output within its deterministic bound",
               seconds_since(start));
  }
  return violation ? exit_finding : exit_ok;
}

}  // namespace

command add_sweep_command(CLI::App& root) {
  auto state = std::make_shared<sweep_state>();
  command c;
  c.app = root.add_subcommand(
      "sweep",
      "run implementations over a range of one dimension and record their error against the "
      "exact result, the deterministic and probabilistic bounds, and pairwise differences");
  add_op_flags(*c.app, state->op);
  c.app->add_option("--vary", state->vary,
                    "NAME=START:STOP[:STEP] (STEP xF: geometric), e.g. in=1:2048:64 (default; "
                    "in=1:128:4 for convolutions)");
  c.app->add_option(
      "--dim", state->dims,
      "NAME=SIZE or NAME=OTHER (tie), e.g. batch=32, out=in (default); "
      "repeatable. Dimensions: batch, in, out; bmm: batch (matrices), m (rows); conv: "
      "length, kernel. run's names (in_features, k, in_channels, ...) work too");
  c.app->add_flag("--no-bias", state->no_bias, "run without a bias");
  c.app->add_option("--impl", state->impls,
                    "backend name or glob (repeatable; default *.f32: every available f32 "
                    "backend that runs the op); roundoff backends lists them");
  c.app
      ->add_option("--threads", state->threads,
                   "threads for the backends' libraries (default 1) and the exact engine (default: "
                   "every core, or ROUNDOFF_THREADS)")
      ->check(CLI::Range(1, 1024));
  c.app->add_option("--seed", state->seed, "seed of the random inputs (default 1)");
  c.app->add_option("--confidence", state->confidence,
                    "false-alarm probability of the probabilistic bound per point (default 1e-6)");
  c.app->add_option("--format", state->format, "table (default), markdown, latex, csv or json");
  c.app->add_option("--out", state->out, "write the result to FILE instead of stdout");
  c.app->add_option("--plot", state->plot,
                    "also draw the sweep into FILE.png (python3 + matplotlib, "
                    "scripts/plot_sweep.py)");
  c.run = [state] { return run_sweep_command(*state); };
  return c;
}

}  // namespace roundoff::cli
