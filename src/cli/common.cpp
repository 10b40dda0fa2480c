#include "common.hpp"

#include <algorithm>
#include <cmath>
#include <utility>

#include <fmt/format.h>

#include "roundoff/error.hpp"
#include "roundoff/formats/format.hpp"
#include "roundoff/io/npy.hpp"
#include "roundoff/io/read_tensor.hpp"
#include "roundoff/report/report.hpp"

namespace roundoff::cli {

void add_operand_flags(CLI::App& cmd, operand_flags& f) {
  cmd.add_option("--input", f.input, "x: .npy file (f16, bf16 as |V2, f32, f64)")->required();
  cmd.add_option("--weight", f.weight, "W: .npy file")->required();
  cmd.add_option("--bias", f.bias, "b: .npy file (optional)");
}

namespace {
std::string index_string(std::int64_t flat, const std::vector<std::int64_t>& shape) {
  std::vector<std::int64_t> idx(shape.size());
  for (std::size_t d = shape.size(); d-- > 0;) {
    idx[d] = flat % shape[d];
    flat /= shape[d];
  }
  return shape_string(idx);
}
}  // namespace

namespace {
void refuse_non_finite(const std::string& file, const tensor& t) {
  for (std::size_t i = 0; i < t.data.size(); ++i) {
    const double v = t.data[i];
    if (!std::isfinite(v)) {
      throw input_error(fmt::format(
          "{}: element {} is {}; non-finite inputs are refused (the exact result would be "
          "NaN or Inf)",
          file, index_string(static_cast<std::int64_t>(i), t.shape),
          std::isnan(v) ? "NaN" : (v > 0 ? "+Inf" : "-Inf")));
    }
  }
}
}  // namespace

tensor load_finite(const std::string& file) {
  tensor t = io::read_npy(file);
  refuse_non_finite(file, t);
  return t;
}

tensor load_tensor_finite(const std::string& spec) {
  tensor t = io::read_tensor(spec);
  refuse_non_finite(spec, t);
  return t;
}

namespace {
stored_tensor from_npy(io::npy_stored npy, const std::string& spec, bool finite) {
  stored_tensor s;
  s.npy = std::move(npy);
  storage_type st = storage_type::f64;
  if (!s.npy.widened) {
    switch (s.npy.type) {
      case format_id::f32:
        st = storage_type::f32;
        break;
      case format_id::f16:
        st = storage_type::f16;
        break;
      case format_id::bf16:
        st = storage_type::bf16;
        break;
      default:
        st = storage_type::f64;
    }
  }
  s.view = tensor_view(s.npy.data.data(), st, s.npy.shape, {}, s.npy.type);
  s.view.held = s.view.numel();
  if (!finite) return s;
  // refuse_non_finite's message for the first non-finite element, read in chunks.
  const std::int64_t n = s.view.numel();
  constexpr std::int64_t chunk = 4096;
  double buf[chunk];
  for (std::int64_t i = 0; i < n; i += chunk) {
    const std::int64_t c = std::min(chunk, n - i);
    s.view.read(i, c, buf);
    for (std::int64_t j = 0; j < c; ++j) {
      const double v = buf[j];
      if (!std::isfinite(v)) {
        throw input_error(fmt::format(
            "{}: element {} is {}; non-finite inputs are refused (the exact result would be "
            "NaN or Inf)",
            spec, index_string(i + j, s.view.shape),
            std::isnan(v) ? "NaN" : (v > 0 ? "+Inf" : "-Inf")));
      }
    }
  }
  return s;
}
}  // namespace

stored_tensor load_stored(const std::string& spec, bool finite) {
  const io::tensor_spec ts = io::parse_tensor_spec(spec);
  if (ts.kind == io::tensor_file_kind::npy && ts.member.empty())
    return from_npy(io::read_npy_stored(ts.file), spec, finite);
  stored_tensor s;
  s.values = finite ? load_tensor_finite(spec) : io::read_tensor(spec);
  s.view = tensor_view(s.values);
  return s;
}

stored_operands load_stored_operands(const operand_flags& f) {
  stored_operands o;
  o.x = from_npy(io::read_npy_stored(f.input), f.input, true);
  o.w = from_npy(io::read_npy_stored(f.weight), f.weight, true);
  if (!f.bias.empty()) o.b = from_npy(io::read_npy_stored(f.bias), f.bias, true);
  return o;
}

std::string describe(const std::string& file, const tensor_view& t) {
  return fmt::format("{} {} {}", file, shape_string(t.shape), traits(t.type).name);
}

operands load_operands(const operand_flags& f) {
  operands o;
  o.x = load_finite(f.input);
  o.w = load_finite(f.weight);
  if (!f.bias.empty()) o.b = load_finite(f.bias);
  return o;
}

void add_engine_flags(CLI::App& cmd, engine_flags& f) {
  cmd.add_option("--method", f.method,
                 "exact engine: fast (exact by construction, default), simple (one exact "
                 "accumulator per output, slow), mpfr (MPFR oracle at --precision-bits)")
      ->check(CLI::IsMember({"fast", "simple", "mpfr"}));
  cmd.add_option("--precision-bits", f.precision_bits,
                 "MPFR precision for --method mpfr (default 256)")
      ->check(CLI::Range(2L, 1L << 24));
  cmd.add_option("--threads", f.threads,
                 "threads for the exact engine (default: every core, or ROUNDOFF_THREADS)")
      ->check(CLI::Range(1, 1024));
  add_device_flag(cmd, f.device);
}

void add_device_flag(CLI::App& cmd, std::string& device) {
  cmd.add_option("--device", device,
                 "where the exact engine multiplies slices: cpu (default) or cuda (cuBLAS on the "
                 "first CUDA device; same exact result)")
      ->check(CLI::IsMember({"cpu", "cuda"}));
}

exact::device_kind to_device(const std::string& device) {
  if (device != "cuda") return exact::device_kind::cpu;
  std::string why;
  if (!exact::device_available(exact::device_kind::cuda, &why))
    throw input_error("--device cuda: " + why);
  return exact::device_kind::cuda;
}

ops::reference_options to_reference_options(const engine_flags& f) {
  ops::reference_options opt;
  opt.how = f.method == "mpfr"     ? ops::method::mpfr
            : f.method == "simple" ? ops::method::simple
                                   : ops::method::fast;
  if (f.precision_bits != 0) {
    if (opt.how != ops::method::mpfr)
      throw input_error("--precision-bits: applies to --method mpfr only");
    opt.precision_bits = f.precision_bits;
  }
  opt.threads = f.threads;
  if (f.device == "cuda" && opt.how != ops::method::fast)
    throw input_error("--device cuda: applies to --method fast only");
  opt.device = to_device(f.device);
  return opt;
}

std::string shape_string(const std::vector<std::int64_t>& shape) {
  return fmt::format("[{}]", fmt::join(shape, ", "));
}

std::string describe(const std::string& file, const tensor& t) {
  return fmt::format("{} {} {}", file, shape_string(t.shape), traits(t.type).name);
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void add_report_flags(CLI::App& cmd, report_flags& f) {
  cmd.add_option("--format", f.format,
                 "output format: table (default), markdown, latex, csv, json (docs/cli.md)");
  cmd.add_option("--out", f.out, "write the report to this file instead of stdout");
}

report::output_format parse_report_flags(const report_flags& f) {
  const auto fmt = report::parse_output_format(f.format);
  if (!f.out.empty() && f.out != "-") report::check_writable(f.out);
  return fmt;
}

void add_verdict_flags(CLI::App& cmd, verdict_flags& f) {
  cmd.add_option("--confidence", f.confidence,
                 "false-alarm probability of the probabilistic tests (default 1e-6)");
  cmd.add_option("--fail-on", f.fail_on,
                 "exit 1 on: violation (default) or suspicious (and violation)")
      ->check(CLI::IsMember({"violation", "suspicious"}));
}

void add_worst_flag(CLI::App& cmd, verdict_flags& f) {
  cmd.add_option("--worst", f.worst, "worst elements listed per output (default 5)")
      ->check(CLI::Range(0, 1000));
}

void check_confidence(double confidence) {
  if (!(confidence > 0 && confidence < 1))
    throw input_error(fmt::format("--confidence: must be in (0, 1), got {}", confidence));
}

namespace {
report::render_options render_options_for(const report_flags& f) {
  report::render_options o;
  o.colour = (f.out.empty() || f.out == "-") && report::colour_on_stdout();
  return o;
}
}  // namespace

void emit(const report::results& r, const report_flags& f) {
  report::write_output(report::render(r, parse_report_flags(f), render_options_for(f)), f.out);
}

void emit(const report::table& t, const report_flags& f) {
  report::write_output(report::render(t, parse_report_flags(f), render_options_for(f)), f.out);
}

}  // namespace roundoff::cli
