// The dimension sweep (include/roundoff/verdicts/sweep.hpp): sizes per point, seeded inputs, and
// the per-point measurement of errors, bounds and pairwise differences. The bounds are those of
// check() (docs/bounds.md, Theorems B and P); definitions of the columns: docs/cli.md.
#include "roundoff/verdicts/sweep.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <memory>
#include <numbers>
#include <set>
#include <stdexcept>

#include "element_data.hpp"
#include "judging.hpp"
#include "roundoff/bounds/bounds.hpp"
#include "roundoff/bounds/models.hpp"
#include "roundoff/error.hpp"
#include "roundoff/exact/accumulator.hpp"
#include "roundoff/verdicts/check.hpp"

namespace roundoff::verdicts {

using bounds::arithmetic_model;
using bounds::dot_bound;
using bounds::dot_bound_probabilistic;
using bounds::element_input;
using bounds::has_probabilistic_bound;
using bounds::parse_model;

namespace {

constexpr double inf = std::numeric_limits<double>::infinity();
// One operand of one point may hold at most this many elements (2 GiB as doubles).
constexpr std::int64_t max_operand_elements = std::int64_t{1} << 28;

std::string join_names(const std::vector<std::pair<std::string, dim_setting>>& d) {
  std::string r;
  for (const auto& [n, v] : d) r += (r.empty() ? "" : ", ") + n;
  return r;
}

std::int64_t numel(const std::vector<std::int64_t>& s) {
  std::int64_t n = 1;
  for (auto d : s) n *= d;
  return n;
}

// splitmix64 (Steele, Lea & Flood 2014): the seeding and the stream of the input generator.
// Integer arithmetic only, so the uniforms are the same on every platform.
std::uint64_t splitmix(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// N(0, 1) by Box-Muller from 53-bit uniforms. Portable up to the libm's log/cos/sin.
class normal_stream {
 public:
  explicit normal_stream(std::uint64_t seed) : state_(seed) {}
  double next() {
    if (have_spare_) {
      have_spare_ = false;
      return spare_;
    }
    const double u1 = (static_cast<double>(splitmix(state_) >> 11) + 1) * 0x1p-53;  // (0, 1]
    const double u2 = static_cast<double>(splitmix(state_) >> 11) * 0x1p-53;        // [0, 1)
    const double r = std::sqrt(-2 * std::log(u1));
    const double t = 2 * std::numbers::pi * u2;
    spare_ = r * std::sin(t);
    have_spare_ = true;
    return r * std::cos(t);
  }

 private:
  std::uint64_t state_;
  double spare_ = 0;
  bool have_spare_ = false;
};

double ratio(double err, double bound) {
  if (err == 0) return 0;
  if (bound == 0) return inf;
  return err / bound;
}

// Per element: the deterministic bound and the reference the judgement chose.
struct measured {
  tensor y;
  std::vector<double> det;
  std::vector<const ops::op_result*> ref;
};

}  // namespace

std::vector<std::pair<std::string, dim_setting>> sweep_dim_defaults(ops::op_kind k) {
  using ops::op_kind;
  switch (k) {
    case op_kind::linear:
    case op_kind::matmul:
    case op_kind::addmm:
      return {{"batch", {32, {}}}, {"in", {512, {}}}, {"out", {0, "in"}}};
    case op_kind::bmm:  // batch counts the matrices, m their rows (as `roundoff run` names them)
      return {{"batch", {4, {}}}, {"m", {32, {}}}, {"in", {512, {}}}, {"out", {0, "in"}}};
    default:
      break;
  }
  // Convolutions: the spatial size shrinks with the dimension count so that the default sweep
  // stays about as costly as the linear one.
  const int nd = ops::spatial_dims(k);
  const std::int64_t length = nd == 1 ? 32 : nd == 2 ? 16 : 8;
  return {{"batch", {1, {}}},
          {"in", {16, {}}},
          {"out", {0, "in"}},
          {"length", {length, {}}},
          {"kernel", {3, {}}}};
}

std::vector<std::int64_t> vary_values(const vary_range& r, std::int64_t max_points) {
  const std::string range = r.dim + "=" + std::to_string(r.start) + ":" + std::to_string(r.stop) +
                            ":" + (r.geometric ? "x" : "") + std::to_string(r.step);
  if (r.start < 1 || r.stop < r.start || r.step < 1 || (r.geometric && r.step < 2))
    throw argument_error("vary", range, "empty or invalid range");
  std::int64_t count = 0;
  if (r.geometric) {
    for (std::int64_t v = r.start;; v *= r.step) {
      ++count;
      if (v > r.stop / r.step) break;  // next value would exceed stop (no overflow)
    }
  } else {
    count = (r.stop - r.start) / r.step + 1;
  }
  if (count > max_points)
    throw argument_error("vary", range,
                         std::to_string(count) + " points, more than the limit of " +
                             std::to_string(max_points) + " (use a larger step)");
  std::vector<std::int64_t> v;
  v.reserve(static_cast<std::size_t>(count));
  std::int64_t x = r.start;
  for (std::int64_t i = 0; i < count; ++i) {
    v.push_back(x);
    if (i + 1 < count) x = r.geometric ? x * r.step : x + r.step;
  }
  return v;
}

std::string canonical_dim(ops::op_kind k, std::string_view name) {
  std::string n(name);  // not const: returned by move
  if (n == "in_features" || n == "in-features" || n == "in_channels" || n == "in-channels" ||
      n == "k")
    return "in";
  if (n == "out_features" || n == "out-features" || n == "out_channels" || n == "out-channels" ||
      n == "n")
    return "out";
  if (n == "size") return "length";
  if (n == "kernel_size" || n == "kernel-size") return "kernel";
  if (n == "m" && k != ops::op_kind::bmm) return "batch";
  return n;
}

std::vector<sweep_shape> sweep_shapes(const sweep_spec& spec) {
  // Names as `roundoff run`'s size flags spell them are accepted too (canonical_dim).
  sweep_spec s = spec;
  s.vary.dim = canonical_dim(s.op.kind, s.vary.dim);
  s.dims.clear();
  for (const auto& [n, d] : spec.dims) {
    dim_setting c = d;
    if (!c.tied_to.empty()) c.tied_to = canonical_dim(s.op.kind, c.tied_to);
    const std::string cn = canonical_dim(s.op.kind, n);
    if (s.dims.count(cn)) throw argument_error("dim", n, cn + " is given twice");
    s.dims[cn] = c;
  }
  const ops::op_kind k = s.op.kind;
  const std::string op(ops::op_name(k));
  auto defs = sweep_dim_defaults(k);
  auto known = [&](const std::string& n) {
    return std::any_of(defs.begin(), defs.end(), [&](const auto& d) { return d.first == n; });
  };
  if (!known(s.vary.dim))
    throw argument_error("vary", op + " has no dimension '" + s.vary.dim +
                                     "' (its dimensions: " + join_names(defs) + ")");
  for (const auto& [n, d] : s.dims) {
    if (!known(n))
      throw argument_error(
          "dim", n,
          op + " has no dimension '" + n + "' (its dimensions: " + join_names(defs) + ")");
    if (n == s.vary.dim) throw argument_error("dim", n, n + " is the dimension --vary varies");
    if (!d.tied_to.empty() && !known(d.tied_to))
      throw argument_error(
          "dim", n + "=" + d.tied_to,
          op + " has no dimension '" + d.tied_to + "' (its dimensions: " + join_names(defs) + ")");
  }
  for (auto& [n, d] : defs)
    if (auto it = s.dims.find(n); it != s.dims.end()) d = it->second;
  if (k == ops::op_kind::addmm && !s.bias)
    throw argument_error("no_bias", "addmm needs its bias (input) operand");

  const std::vector<std::int64_t> values = vary_values(s.vary, s.max_points);
  const std::int64_t groups = s.op.conv.groups;
  const int nd = ops::spatial_dims(k);
  std::vector<sweep_shape> out;
  out.reserve(values.size());
  for (std::int64_t value : values) {
    sweep_shape p;
    p.value = value;
    std::map<std::string, std::int64_t> size;
    for (const auto& [n, d] : defs) {
      std::string cur = n;
      std::int64_t v = 0;
      for (std::size_t hops = 0;; ++hops) {
        if (hops > defs.size())
          throw argument_error("dim", n, "the ties form a cycle (" + n + " -> ... -> " + n + ")");
        if (cur == s.vary.dim) {
          v = value;
          break;
        }
        const auto& dc = std::find_if(defs.begin(), defs.end(), [&](const auto& e) {
                           return e.first == cur;
                         })->second;
        if (dc.tied_to.empty()) {
          v = dc.value;
          break;
        }
        cur = dc.tied_to;
      }
      size[n] = v;
      p.dims.emplace_back(n, v);
    }
    const std::string at = s.vary.dim + "=" + std::to_string(value);  // the --vary point
    const std::int64_t batch = size["batch"], in = size["in"], outc = size["out"];
    switch (k) {
      case ops::op_kind::linear:
        p.x = {batch, in};
        p.w = {outc, in};
        break;
      case ops::op_kind::matmul:
      case ops::op_kind::addmm:
        p.x = {batch, in};
        p.w = {in, outc};
        break;
      case ops::op_kind::bmm:
        p.x = {batch, size["m"], in};
        p.w = {batch, in, outc};
        break;
      default: {
        const bool tr = ops::is_transposed(k);
        if (groups < 1) throw argument_error("groups", "must be at least 1");
        if (in % groups != 0 || outc % groups != 0)
          throw argument_error("vary", at,
                               "--groups " + std::to_string(groups) + " must divide in (" +
                                   std::to_string(in) + ") and out (" + std::to_string(outc) + ")");
        p.x = {batch, in};
        p.w = tr ? std::vector<std::int64_t>{in, outc / groups}
                 : std::vector<std::int64_t>{outc, in / groups};
        for (int d = 0; d < nd; ++d) {
          p.x.push_back(size["length"]);
          p.w.push_back(size["kernel"]);
        }
      }
    }
    if (s.bias) p.b = {outc};
    for (const auto* shape : {&p.x, &p.w}) {
      // Overflow-safe: every factor is >= 1, so checking before each multiply suffices.
      std::int64_t n = 1;
      for (auto d : *shape) {
        if (d > max_operand_elements / n)
          throw argument_error("vary", at,
                               "an operand of shape " + detail::shape_str(*shape) +
                                   " exceeds the limit of 2^28 elements per operand");
        n *= d;
      }
    }
    // The ops layer validates like PyTorch and gives the output shape (it reads the data's size,
    // so the operands are allocated, as zeros, one point at a time).
    tensor x, w, b;
    x.shape = p.x;
    w.shape = p.w;
    b.shape = p.b;
    x.data.assign(static_cast<std::size_t>(numel(p.x)), 0.0);
    w.data.assign(static_cast<std::size_t>(numel(p.w)), 0.0);
    b.data.assign(s.bias ? static_cast<std::size_t>(outc) : 0, 0.0);
    try {
      p.y = ops::output_shape({s.op, x, w, s.bias ? &b : nullptr});
    } catch (const input_error& e) {
      throw argument_error("vary", at, e.what());
    }
    if (numel(p.y) > max_operand_elements)
      throw argument_error(
          "vary", at,
          "the output of shape " + detail::shape_str(p.y) + " exceeds the limit of 2^28 elements");
    out.push_back(std::move(p));
  }
  return out;
}

sweep_inputs sweep_point_inputs(const sweep_shape& p, std::uint64_t seed,
                                const std::vector<format_id>& formats) {
  // The point's seed depends on the seed and the point's sizes only.
  std::uint64_t h = seed;
  std::uint64_t point = splitmix(h);
  for (const auto& [n, v] : p.dims) {
    std::uint64_t t = point ^ static_cast<std::uint64_t>(v);
    point = splitmix(t);
  }
  // The least precise format is the tensor's recorded type.
  format_id type = format_id::f64;
  for (format_id f : formats)
    if (traits(f).precision < traits(type).precision) type = f;
  auto draw = [&](const std::vector<std::int64_t>& shape, std::uint64_t id) {
    std::uint64_t t = point + id * 0x632be59bd9b4e019ULL;
    normal_stream g(splitmix(t));
    tensor r;
    r.shape = shape;
    r.type = type;
    r.data.resize(static_cast<std::size_t>(numel(shape)));
    for (auto& v : r.data) {
      v = g.next();
      // Rounding to one format can leave a value another format cannot hold (bf16 then f16
      // below f16's normal range): repeat until every format holds it (at most a few passes:
      // each changes the value only by shortening it).
      for (int pass = 0; pass < 8; ++pass) {
        bool changed = false;
        for (format_id f : formats) {
          const double q = round_to(f, v);
          if (q != v) {
            v = q;
            changed = true;
          }
        }
        if (!changed) break;
      }
    }
    return r;
  };
  sweep_inputs in;
  in.x = draw(p.x, 1);
  in.w = draw(p.w, 2);
  if (!p.b.empty()) in.b = draw(p.b, 3);
  return in;
}

sweep_result run_sweep(const sweep_spec& s, const std::vector<sweep_impl>& impls,
                       const sweep_progress& progress) {
  if (impls.empty()) throw input_error("sweep: no implementation to run");
  if (!(s.confidence > 0 && s.confidence < 1))
    throw argument_error("confidence", "must be in (0, 1), got " + std::to_string(s.confidence));
  const std::vector<sweep_shape> shapes = sweep_shapes(s);
  std::vector<arithmetic_model> models;
  std::vector<format_id> formats;
  for (const auto& im : impls) {
    models.push_back(parse_model(im.model));
    if (std::find(formats.begin(), formats.end(), im.storage) == formats.end())
      formats.push_back(im.storage);
  }

  sweep_result res;
  res.op = std::string(ops::op_name(s.op.kind));
  res.dim = canonical_dim(s.op.kind, s.vary.dim);
  res.seed = s.seed;
  res.confidence = s.confidence;
  res.bias = s.bias;
  res.input_formats = formats;

  ops::reference_options ro;
  ro.want_magnitude = true;
  ro.threads = s.threads;
  // check() spends half its false-alarm budget on the per-element probabilistic bounds.
  const double alpha = s.confidence / 2;

  for (std::size_t pi = 0; pi < shapes.size(); ++pi) {
    const sweep_shape& shape = shapes[pi];
    const sweep_inputs in = sweep_point_inputs(shape, s.seed, formats);
    detail::reference_cache refs(ops::problem(s.op, in.x, in.w, in.bias()), ro);
    const tensor_view bias_view = in.b ? tensor_view(*in.b) : tensor_view();
    const double bmax = detail::bias_max(in.b ? &bias_view : nullptr);
    sweep_point pt;
    pt.shape = shape;
    std::vector<measured> ms;
    exact::accumulator acc, tmp;
    for (std::size_t ii = 0; ii < impls.size(); ++ii) {
      const sweep_impl& im = impls[ii];
      const arithmetic_model& m = models[ii];
      measured me;
      const auto mrefs = refs.of(m);
      const ops::op_result& primary = *mrefs.all.front();
      const auto t0 = std::chrono::steady_clock::now();
      me.y = im.run(s.op, in.x, in.w, in.bias());
      sweep_impl_result ir;
      ir.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      ir.name = im.name;
      ir.model = m.name;
      const std::int64_t n = primary.exact.size();
      if (static_cast<std::int64_t>(me.y.data.size()) != n)
        throw internal_error("sweep: " + im.name + " returned " + std::to_string(me.y.data.size()) +
                             " values for an output of " + std::to_string(n));
      ir.elements = n;
      const double lambda = detail::lambda_of(m, primary, alpha);
      detail::model_judge mj(m, m.order, lambda);
      me.det.resize(static_cast<std::size_t>(n));
      me.ref.resize(static_cast<std::size_t>(n));
      for (std::int64_t i = 0; i < n; ++i) {
        const double obs = me.y.data[static_cast<std::size_t>(i)];
        // The same per-element judgement as check(): the best of the model's references, special
        // values and legitimate overflow included (docs/verdicts.md, §1 and §2).
        std::size_t which = 0;
        const detail::one a = detail::judge_best(mj, mrefs.all, i, obs, bmax, acc, &which);
        const ops::op_result& r = *mrefs.all[which];
        double det = a.det, prob = a.prob;
        if (!std::isfinite(obs)) {
          // The bounds of a non-finite output are taken at |exact| (the output-rounding term
          // needs a finite value), for the sums of bounds.
          element_input e = detail::input_of(r, i, r.exact.rounded(i), bmax);
          det = dot_bound(m, m.order, e);
          prob = has_probabilistic_bound(m)
                     ? std::min(det, dot_bound_probabilistic(m, m.order, e, lambda))
                     : inf;
        }
        const double err = a.err;
        me.det[static_cast<std::size_t>(i)] = det;
        me.ref[static_cast<std::size_t>(i)] = &r;
        ir.max_abs_error = std::max(ir.max_abs_error, err);
        ir.sum_abs_error += err;
        ir.max_deterministic_bound = std::max(ir.max_deterministic_bound, det);
        ir.sum_deterministic_bound = detail::add_up(ir.sum_deterministic_bound, det);
        ir.max_probabilistic_bound = std::max(ir.max_probabilistic_bound, prob);
        ir.sum_probabilistic_bound = detail::add_up(ir.sum_probabilistic_bound, prob);
        if (std::isfinite(det))
          ir.max_ratio_deterministic = std::max(ir.max_ratio_deterministic, ratio(err, det));
        if (std::isfinite(prob))
          ir.max_ratio_probabilistic = std::max(ir.max_ratio_probabilistic, ratio(err, prob));
        if (a.cat == element_category::beyond_deterministic ||
            a.cat == element_category::special_mismatch)
          ++ir.beyond_deterministic;
        else if (a.cat == element_category::beyond_probabilistic)
          ++ir.beyond_probabilistic;
      }
      pt.impls.push_back(std::move(ir));
      ms.push_back(std::move(me));
    }
    for (std::size_t a = 0; a < ms.size(); ++a)
      for (std::size_t b = a + 1; b < ms.size(); ++b) {
        sweep_pair_result pr;
        pr.a = impls[a].name;
        pr.b = impls[b].name;
        const measured &ma = ms[a], &mb = ms[b];
        for (std::size_t i = 0; i < ma.y.data.size(); ++i) {
          const double ya = ma.y.data[i], yb = mb.y.data[i];
          if (!(ya == yb || (std::isnan(ya) && std::isnan(yb)))) ++pr.differing;
          double d, allowed;
          if (!std::isfinite(ya) || !std::isfinite(yb)) {
            d = ya == yb || (std::isnan(ya) && std::isnan(yb)) ? 0.0 : inf;
            allowed = 0;
          } else {
            acc.clear();  // |a - b| formed exactly, rounded down
            acc.add(ya);
            acc.add(-yb);
            d = acc.abs_diff(0.0, exact::rounding::downward);
            allowed = detail::add_up(ma.det[i], mb.det[i]);
            if (ma.ref[i] != mb.ref[i]) {
              ma.ref[i]->exact.load(static_cast<std::int64_t>(i), acc);
              mb.ref[i]->exact.load(static_cast<std::int64_t>(i), tmp);
              tmp.negate();
              acc.add(tmp);
              allowed = detail::add_up(allowed, acc.abs_diff(0.0, exact::rounding::upward));
            }
          }
          pr.max_abs_difference = std::max(pr.max_abs_difference, d);
          pr.sum_abs_difference += d;
          pr.sum_allowed_difference = detail::add_up(pr.sum_allowed_difference, allowed);
          pr.max_ratio = std::max(pr.max_ratio, ratio(d, allowed));
          if (d > allowed) ++pr.beyond;
        }
        pt.pairs.push_back(std::move(pr));
      }
    pt.reference_seconds = refs.seconds;
    res.points.push_back(std::move(pt));
    if (progress) progress(pi + 1, shapes.size(), shape.value);
  }
  return res;
}

}  // namespace roundoff::verdicts
