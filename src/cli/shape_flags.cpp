#include "shape_flags.hpp"

#include <fmt/format.h>

#include "roundoff/error.hpp"
#include "roundoff/formats/format.hpp"

namespace roundoff::cli {

namespace {

enum class family : std::uint8_t { linear, matmul, bmm, conv };

family family_of(ops::op_kind k) {
  switch (k) {
    case ops::op_kind::linear:
      return family::linear;
    case ops::op_kind::matmul:
    case ops::op_kind::addmm:
      return family::matmul;
    case ops::op_kind::bmm:
      return family::bmm;
    default:
      return family::conv;
  }
}

// Flags each family takes (flag names without the dashes).
bool takes(family f, std::string_view flag) {
  if (flag == "no-bias") return true;
  switch (f) {
    case family::linear:
      return flag == "batch" || flag == "in-features" || flag == "out-features";
    case family::matmul:
      return flag == "m" || flag == "k" || flag == "n";
    case family::bmm:
      return flag == "batch" || flag == "m" || flag == "k" || flag == "n";
    case family::conv:
      return flag == "batch" || flag == "in-channels" || flag == "out-channels" || flag == "size" ||
             flag == "kernel-size";
  }
  return false;
}

std::vector<std::int64_t> parse_list(const std::string& flag, const std::string& text, int dims,
                                     std::int64_t fallback) {
  if (text.empty()) return std::vector<std::int64_t>(static_cast<std::size_t>(dims), fallback);
  std::vector<std::int64_t> v;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    const auto comma = std::min(text.find(',', pos), text.size());
    const std::string part = text.substr(pos, comma - pos);
    std::size_t used = 0;
    long long x = 0;
    try {
      x = std::stoll(part, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (part.empty() || used != part.size() || x < 1)
      throw input_error(fmt::format(
          "--{}: expected a positive integer or a comma-separated list like 32,24, got '{}'", flag,
          text));
    v.push_back(x);
    pos = comma + 1;
  }
  if (v.size() == 1) v.resize(static_cast<std::size_t>(dims), v[0]);
  if (static_cast<int>(v.size()) != dims)
    throw input_error(fmt::format("--{}: {} values for a {}-d convolution", flag, v.size(), dims));
  return v;
}

std::int64_t size_or(const std::optional<std::int64_t>& v, std::int64_t fallback) {
  return v ? *v : fallback;
}

void check_given(family fam, const shape_flags& f, const ops::op_spec& op) {
  auto reject = [&](bool given, std::string_view flag) {
    if (given && !takes(fam, flag))
      throw input_error(fmt::format("--{}: not a size of {} (see roundoff run --help)", flag,
                                    ops::op_name(op.kind)));
  };
  reject(f.batch.has_value(), "batch");
  reject(f.in_features.has_value(), "in-features");
  reject(f.out_features.has_value(), "out-features");
  reject(f.m.has_value(), "m");
  reject(f.k.has_value(), "k");
  reject(f.n.has_value(), "n");
  reject(f.in_channels.has_value(), "in-channels");
  reject(f.out_channels.has_value(), "out-channels");
  reject(!f.size.empty(), "size");
  reject(!f.kernel_size.empty(), "kernel-size");
}

}  // namespace

void add_shape_flags(CLI::App& cmd, shape_flags& f) {
  cmd.add_option("--batch", f.batch, "linear: rows of x (32); bmm: batch (4); conv*: batch (8)")
      ->check(CLI::NonNegativeNumber);
  cmd.add_option("--in-features", f.in_features, "linear: K, columns of x and W (2048)")
      ->check(CLI::NonNegativeNumber);
  cmd.add_option("--out-features", f.out_features, "linear: N, rows of W (512)")
      ->check(CLI::NonNegativeNumber);
  cmd.add_option("--m", f.m, "matmul/addmm/bmm: rows of x (32)")->check(CLI::NonNegativeNumber);
  cmd.add_option("--k", f.k, "matmul/addmm/bmm: inner dimension (2048; bmm 512)")
      ->check(CLI::NonNegativeNumber);
  cmd.add_option("--n", f.n, "matmul/addmm/bmm: columns of W (512; bmm 128)")
      ->check(CLI::NonNegativeNumber);
  cmd.add_option("--in-channels", f.in_channels, "conv*: input channels (16)")
      ->check(CLI::PositiveNumber);
  cmd.add_option("--out-channels", f.out_channels, "conv*: output channels (32)")
      ->check(CLI::PositiveNumber);
  cmd.add_option("--size", f.size, "conv*: spatial size of x, e.g. 32 or 32,24 (32; 3-d: 16)");
  cmd.add_option("--kernel-size", f.kernel_size, "conv*: kernel size, e.g. 3 or 3,5 (3)");
  cmd.add_flag("--no-bias", f.no_bias, "no bias (linear, addmm and conv* have one by default)");
}

void set_dimension(shape_flags& f, std::string_view name, std::int64_t value) {
  if (name == "batch")
    f.batch = value;
  else if (name == "in_features" || name == "in-features" || name == "in")
    f.in_features = value;
  else if (name == "out_features" || name == "out-features" || name == "out")
    f.out_features = value;
  else if (name == "m")
    f.m = value;
  else if (name == "k")
    f.k = value;
  else if (name == "n")
    f.n = value;
  else if (name == "in_channels" || name == "in-channels")
    f.in_channels = value;
  else if (name == "out_channels" || name == "out-channels")
    f.out_channels = value;
  else if (name == "size")
    f.size = std::to_string(value);
  else if (name == "kernel_size" || name == "kernel-size")
    f.kernel_size = std::to_string(value);
  else
    throw input_error(fmt::format(
        "unknown dimension '{}' (known: batch, in, out, m, k, n, in_channels, out_channels, "
        "size, kernel_size)",
        name));
}

problem_shape resolve_shape(const ops::op_spec& op, const shape_flags& f) {
  const family fam = family_of(op.kind);
  check_given(fam, f, op);
  problem_shape s;
  switch (fam) {
    case family::linear: {
      const auto b = size_or(f.batch, 32), k = size_or(f.in_features, 2048),
                 n = size_or(f.out_features, 512);
      s.x = {b, k};
      s.w = {n, k};
      s.b = {n};
      s.has_bias = !f.no_bias;
      break;
    }
    case family::matmul: {
      const auto m = size_or(f.m, 32), k = size_or(f.k, 2048), n = size_or(f.n, 512);
      s.x = {m, k};
      s.w = {k, n};
      s.b = {n};
      s.has_bias = op.kind == ops::op_kind::addmm;  // torch.addmm needs its input
      if (f.no_bias && op.kind == ops::op_kind::addmm)
        throw input_error("--no-bias: addmm always adds its input (the bias)");
      break;
    }
    case family::bmm: {
      const auto b = size_or(f.batch, 4), m = size_or(f.m, 32), k = size_or(f.k, 512),
                 n = size_or(f.n, 128);
      s.x = {b, m, k};
      s.w = {b, k, n};
      s.has_bias = false;
      break;
    }
    case family::conv: {
      const int d = ops::spatial_dims(op.kind);
      const auto b = size_or(f.batch, 8), ci = size_or(f.in_channels, 16),
                 co = size_or(f.out_channels, 32);
      const auto size = parse_list("size", f.size, d, d == 3 ? 16 : 32);
      const auto ks = parse_list("kernel-size", f.kernel_size, d, 3);
      const std::int64_t g = op.conv.groups;
      if (ci % g != 0 || co % g != 0)
        throw input_error(fmt::format(
            "--groups {}: must divide --in-channels {} and --out-channels {}", g, ci, co));
      s.x = {b, ci};
      s.x.insert(s.x.end(), size.begin(), size.end());
      s.w = ops::is_transposed(op.kind) ? std::vector<std::int64_t>{ci, co / g}
                                        : std::vector<std::int64_t>{co, ci / g};
      s.w.insert(s.w.end(), ks.begin(), ks.end());
      s.b = {co};
      s.has_bias = !f.no_bias;
      break;
    }
  }
  if (!s.has_bias) s.b.clear();
  return s;
}

std::vector<report::param> shape_params(const ops::op_spec& op, const shape_flags& f) {
  const problem_shape s = resolve_shape(op, f);
  std::vector<report::param> p;
  switch (family_of(op.kind)) {
    case family::linear:
      p = {{"batch", s.x[0]}, {"in_features", s.x[1]}, {"out_features", s.w[0]}};
      break;
    case family::matmul:
      p = {{"m", s.x[0]}, {"k", s.x[1]}, {"n", s.w[1]}};
      break;
    case family::bmm:
      p = {{"batch", s.x[0]}, {"m", s.x[1]}, {"k", s.x[2]}, {"n", s.w[2]}};
      break;
    case family::conv: {
      const std::vector<std::int64_t> size(s.x.begin() + 2, s.x.end());
      const std::vector<std::int64_t> ks(s.w.begin() + 2, s.w.end());
      p = {
          {"batch", s.x[0]},
          {"in_channels", s.x[1]},
          {"out_channels",
           s.b.empty() ? (ops::is_transposed(op.kind) ? s.w[1] * op.conv.groups : s.w[0]) : s.b[0]},
          {"size", size},
          {"kernel_size", ks}};
      break;
    }
  }
  p.push_back({"bias", s.has_bias});
  return p;
}

generated_inputs generate_inputs(const problem_shape& s, distribution d, std::uint64_t seed,
                                 format_id type) {
  return verdicts::generate_inputs(s.x, s.w, s.b, s.has_bias, d, seed, type);
}

}  // namespace roundoff::cli
