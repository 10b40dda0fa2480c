// The backend front end (validation, input conversion, timing, output checks), the registry,
// globbing, and the table of built-in backends.
#include "roundoff/backends/backend.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "detail.hpp"
#include "roundoff/error.hpp"

namespace roundoff::backends {

backend_name parse_backend_name(std::string_view name) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (true) {
    auto dot = name.find('.', start);
    parts.emplace_back(name.substr(start, dot == std::string_view::npos ? dot : dot - start));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  if (parts.size() != 4 ||
      std::any_of(parts.begin(), parts.end(), [](auto& p) { return p.empty(); }))
    throw input_error("backend name '" + std::string(name) +
                      "' is not of the form library.device.formulation.format");
  return {parts[0], parts[1], parts[2], parts[3]};
}

backend::backend(backend_name name, std::string model, format_id storage,
                 std::vector<ops::op_kind> ops)
    : name_(std::move(name)), model_(std::move(model)), storage_(storage), ops_(std::move(ops)) {}

bool backend::supports(ops::op_kind k) const noexcept {
  return std::find(ops_.begin(), ops_.end(), k) != ops_.end();
}

namespace {

// "[2, 3]": the shape as the lowering's messages wrote it.
std::string shape_text(const std::vector<std::int64_t>& s) {
  std::string r = "[";
  for (std::size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

// Rounds t to format f in place (nearest-even, gradual underflow); returns how many changed.
std::int64_t to_storage(tensor& t, format_id f) {
  std::int64_t changed = 0;
  for (double& v : t.data) {
    double r = round_to(f, v);
    // NaN stays NaN; count only real changes (NaN != NaN).
    if (!(r == v) && !(r != r && v != v)) ++changed;
    v = r;
  }
  t.type = f;
  return changed;
}

}  // namespace

run_result backend::run(const ops::op_spec& op, const tensor& x, const tensor& w, const tensor* b,
                        const run_options& opt) const {
  const std::string who = full_name();
  if (!supports(op.kind))
    throw input_error(who + ": does not support op " + std::string(ops::op_name(op.kind)));
  if (auto a = available(); !a.available) throw input_error(who + ": unavailable: " + a.reason);
  if (opt.threads < 1) throw input_error(who + ": run_options::threads must be at least 1");
  // PyTorch's validation rules live in the ops layer, once (the lowering uses them too:
  // tests/backends/lowering_shape_test.cpp).
  auto out_shape = ops::output_shape({op, x, w, b});
  // Not a shape rule but what the adapters take: F.linear's 1-D weight (ops accepts it) is not
  // implemented by the LibTorch formulations, so no backend runs it.
  if (op.kind == ops::op_kind::linear && w.dim() != 2)
    throw input_error("linear: weight must be 2-D [out_features, in_features], got " +
                      shape_text(w.shape));
  tensor xs = x, ws = w, bs;
  std::int64_t changed = to_storage(xs, storage_) + to_storage(ws, storage_);
  if (b) {
    bs = *b;
    changed += to_storage(bs, storage_);
  }
  run_result r;
  r.info.backend = who;
  r.info.inputs_rounded = changed;
  r.output.shape = out_shape;
  r.output.type = storage_;
  do_run(op, xs, ws, b ? &bs : nullptr, out_shape, opt, r);
  if (r.output.shape != out_shape ||
      static_cast<std::int64_t>(r.output.data.size()) != r.output.numel())
    throw internal_error(who + ": adapter returned an output of the wrong shape");
  return r;
}

namespace detail {

void gemm_backend::do_run(const ops::op_spec& op, const tensor& x, const tensor& w, const tensor* b,
                          const std::vector<std::int64_t>& out_shape, const run_options& opt,
                          run_result& result) const {
  auto L = lower_to_gemm(op, x, w, b);
  result.output.data.assign(static_cast<std::size_t>(result.output.numel()), 0.0);
  (void)out_shape;
  run_gemm(L, opt, result.output.data, result.info);
}

namespace {

class unavailable_backend final : public backend {
 public:
  unavailable_backend(const descriptor& d, std::string reason)
      : backend(parse_backend_name(d.name), d.model, d.storage, d.ops),
        reason_(std::move(reason)) {}
  availability available() const override { return {false, reason_}; }

 protected:
  void do_run(const ops::op_spec&, const tensor&, const tensor&, const tensor*,
              const std::vector<std::int64_t>&, const run_options&, run_result&) const override {
    throw internal_error("unreachable: unavailable backend ran");
  }

 private:
  std::string reason_;
};

using ok = ops::op_kind;
const std::vector<ok> all_ops = {ok::linear,          ok::matmul,           ok::bmm,
                                 ok::addmm,           ok::conv1d,           ok::conv2d,
                                 ok::conv3d,          ok::conv_transpose1d, ok::conv_transpose2d,
                                 ok::conv_transpose3d};

struct fmt_entry {
  const char* suffix;
  const char* model;
  format_id storage;
};

std::vector<descriptor> torch_descriptors() {
  std::vector<descriptor> r;
  const std::vector<std::pair<const char*, std::vector<ok>>> cpu = {
      {"linear", {ok::linear}},
      {"matmul_add", {ok::linear, ok::matmul}},
      {"addmm", {ok::addmm, ok::linear}},
      {"conv1d", {ok::conv1d}},
      {"conv2d", {ok::conv2d}},
      {"conv3d", {ok::conv3d}},
      {"conv_transpose1d", {ok::conv_transpose1d}},
      {"conv_transpose2d", {ok::conv_transpose2d}},
      {"conv_transpose3d", {ok::conv_transpose3d}},
      {"matmul", {ok::matmul}},
      {"bmm", {ok::bmm}},
  };
  const fmt_entry cpu_fmts[] = {{"f32", "f32", format_id::f32},
                                {"f64", "f64", format_id::f64},
                                {"bf16", "bf16", format_id::bf16}};
  for (auto& [form, kinds] : cpu)
    for (auto& f : cpu_fmts)
      r.push_back({std::string("torch.cpu.") + form + "." + f.suffix, f.model, f.storage, kinds});
  const fmt_entry lin_fmts[] = {{"f32", "f32", format_id::f32},
                                {"tf32", "tf32", format_id::f32},
                                {"f16", "f16", format_id::f16},
                                {"bf16", "bf16", format_id::bf16}};
  for (auto& f : lin_fmts)
    r.push_back({std::string("torch.cuda.linear.") + f.suffix, f.model, f.storage, {ok::linear}});
  r.push_back({"torch.cuda.conv2d.f32", "f32", format_id::f32, {ok::conv2d}});
  r.push_back({"torch.cuda.conv2d.tf32", "tf32", format_id::f32, {ok::conv2d}});
  return r;
}

std::vector<descriptor> cublas_descriptors() {
  return {{"cublas.cuda.sgemm.f32", "f32", format_id::f32, all_ops},
          {"cublas.cuda.sgemm.tf32", "tf32", format_id::f32, all_ops},
          {"cublas.cuda.gemmex.f16", "f16", format_id::f16, all_ops},
          {"cublas.cuda.gemmex.bf16", "bf16", format_id::bf16, all_ops}};
}

std::vector<descriptor> cpu_descriptors() {
  return {{"eigen.cpu.gemm.f32", "f32", format_id::f32, all_ops},
          {"eigen.cpu.gemm.f64", "f64", format_id::f64, all_ops},
          {"blas.cpu.sgemm.f32", "f32", format_id::f32, all_ops},
          {"blas.cpu.dgemm.f64", "f64", format_id::f64, all_ops},
          {"naive.cpu.sequential.f32", "f32", format_id::f32, all_ops},
          {"naive.cpu.sequential.f64", "f64", format_id::f64, all_ops},
          {"naive.cpu.pairwise.f32", "f32", format_id::f32, all_ops},
          {"naive.cpu.pairwise.f64", "f64", format_id::f64, all_ops}};
}

// Test-only, wrong on purpose; registered only under ROUNDOFF_TEST_PLANTED_BACKENDS=1.
std::vector<descriptor> planted_descriptors() {
  return {{"planted.cpu.dropped_term.f32", "f32", format_id::f32, all_ops}};
}

}  // namespace

std::unique_ptr<backend> make_unavailable(const descriptor& d, std::string reason) {
  return std::make_unique<unavailable_backend>(d, std::move(reason));
}

}  // namespace detail

const backend& registry::add(std::unique_ptr<backend> b) {
  if (!b) throw internal_error("registry::add: null backend");
  if (find(b->full_name())) throw internal_error("duplicate backend name " + b->full_name());
  items_.push_back(std::move(b));
  return *items_.back();
}

const backend* registry::find(std::string_view name) const noexcept {
  for (auto& b : items_)
    if (b->full_name() == name) return b.get();
  return nullptr;
}

std::vector<const backend*> registry::all() const {
  std::vector<const backend*> r;
  for (auto& b : items_) r.push_back(b.get());
  return r;
}

std::vector<const backend*> registry::select(const std::vector<std::string>& globs) const {
  if (globs.empty()) {  // every implementation; the emulations (library "model") on request
    std::vector<const backend*> r;
    for (auto& b : items_)
      if (b->name().library != "model") r.push_back(b.get());
    return r;
  }
  for (auto& g : globs) {
    bool any = std::any_of(items_.begin(), items_.end(),
                           [&](auto& b) { return glob_match(g, b->full_name()); });
    if (!any) throw argument_error("impl", g, "matches no backend");
  }
  std::vector<const backend*> r;
  for (auto& b : items_)
    if (std::any_of(globs.begin(), globs.end(),
                    [&](auto& g) { return glob_match(g, b->full_name()); }))
      r.push_back(b.get());
  return r;
}

const registry& builtin_registry() {
  static const registry reg = [] {
    registry r;
    for (auto& d : detail::torch_descriptors()) r.add(detail::make_torch_family(d));
    for (auto& d : detail::cublas_descriptors()) r.add(detail::make_cublas_family(d));
    for (auto& d : detail::cpu_descriptors()) r.add(detail::make_cpu_backend(d));
    for (auto& d : detail::tc_descriptors()) r.add(detail::make_tc_backend(d));
    if (detail::planted_backends_enabled())
      for (auto& d : detail::planted_descriptors()) r.add(detail::make_planted_backend(d));
    return r;
  }();
  return reg;
}

bool glob_match(std::string_view p, std::string_view t) noexcept {
  // Iterative matcher with single-star backtracking (linear in practice).
  std::size_t pi = 0, ti = 0, star = std::string_view::npos, mark = 0;
  auto match_one = [&](std::size_t& pj, char c) -> bool {
    if (p[pj] == '?') {
      ++pj;
      return true;
    }
    if (p[pj] == '[') {
      std::size_t j = pj + 1;
      bool neg = j < p.size() && (p[j] == '!' || p[j] == '^');
      if (neg) ++j;
      bool hit = false;
      std::size_t first = j;
      while (j < p.size() && (p[j] != ']' || j == first)) {
        if (j + 2 < p.size() && p[j + 1] == '-' && p[j + 2] != ']') {
          hit |= p[j] <= c && c <= p[j + 2];
          j += 3;
        } else {
          hit |= p[j] == c;
          ++j;
        }
      }
      if (j >= p.size()) {  // unterminated: literal '['
        if (c != '[') return false;
        ++pj;
        return true;
      }
      pj = j + 1;
      return hit != neg;
    }
    if (p[pj] == c) {
      ++pj;
      return true;
    }
    return false;
  };
  while (ti < t.size()) {
    if (pi < p.size() && p[pi] == '*') {
      star = pi++;
      mark = ti;
      continue;
    }
    std::size_t pj = pi;
    if (pi < p.size() && match_one(pj, t[ti])) {
      pi = pj;
      ++ti;
      continue;
    }
    if (star == std::string_view::npos) return false;
    pi = star + 1;
    ti = ++mark;
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

std::vector<backend_info> list_backends(const registry& reg) {
  std::vector<backend_info> r;
  for (const backend* b : reg.all()) {
    backend_info i;
    i.name = b->full_name();
    i.library = b->name().library;
    i.device = b->name().device;
    i.formulation = b->name().formulation;
    i.format = b->name().format;
    i.model = b->model();
    for (auto k : b->supported_ops()) i.ops.emplace_back(ops::op_name(k));
    auto a = b->available();
    i.available = a.available;
    i.reason = a.reason;
    r.push_back(std::move(i));
  }
  return r;
}

std::vector<selected_run> run_selected(const ops::op_spec& op, const tensor& x, const tensor& w,
                                       const tensor* b, const std::vector<std::string>& globs,
                                       const run_options& opt, const registry& reg) {
  std::vector<selected_run> r;
  for (const backend* be : reg.select(globs)) {
    selected_run s;
    s.backend = be->full_name();
    if (!be->supports(op.kind)) {
      s.skipped_reason = "does not support " + std::string(ops::op_name(op.kind));
    } else if (auto a = be->available(); !a.available) {
      s.skipped_reason = "unavailable: " + a.reason;
    } else {
      // Bad input is the caller's and the same for every backend: let it through. A library
      // failure (CUDA error, LibTorch rejecting a case) is this backend's: report it, go on.
      try {
        s.result = be->run(op, x, w, b, opt);
        s.ran = true;
      } catch (const input_error&) {
        throw;
      } catch (const std::exception& e) {
        s.skipped_reason = std::string("failed: ") + e.what();
      }
    }
    r.push_back(std::move(s));
  }
  return r;
}

}  // namespace roundoff::backends
