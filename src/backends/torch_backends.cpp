// LibTorch backends, CPU and CUDA: each calls the ATen function its formulation names
// (at::linear, at::matmul(x, w.t()) + b, at::addmm, at::convNd, ...) on tensors of its dtype.
// All LibTorch code lives in this one translation unit (each LibTorch TU costs ~25 s to compile).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/cuda.h>

#include <cstring>

#include "detail.hpp"
#include "roundoff/error.hpp"
#include "roundoff/ops/conv.hpp"

namespace roundoff::backends::detail {
namespace {

using i64 = std::int64_t;

at::ScalarType dtype_of(format_id f) {
  switch (f) {
    case format_id::f64:
      return at::kDouble;
    case format_id::f32:
      return at::kFloat;
    case format_id::bf16:
      return at::kBFloat16;
    case format_id::f16:
      return at::kHalf;
    default:
      throw unsupported_error("torch backend: no dtype for this format");
  }
}

// Values are already representable in dtype, so double -> dtype is exact.
at::Tensor to_torch(const tensor& t, at::ScalarType st, const at::Device& dev) {
  auto host = at::empty(t.shape, at::TensorOptions().dtype(at::kDouble));
  if (t.numel() > 0)
    std::memcpy(host.data_ptr<double>(), t.data.data(), t.data.size() * sizeof(double));
  return host.to(dev, st);
}

// Sets LibTorch's fp32 precision knobs for one run and restores them afterwards. Uses only the
// fp32_precision API (mixing it with the legacy allow_tf32 setters is an error in LibTorch).
class precision_guard {
  using B = at::Float32Backend;
  using O = at::Float32Op;
  using P = at::Float32Precision;

 public:
  precision_guard(bool cuda, bool tf32) : cuda_(cuda) {
    auto& c = at::globalContext();
    const std::pair<B, O> keys[] = {
        {B::MKLDNN, O::MATMUL}, {B::MKLDNN, O::CONV}, {B::CUDA, O::MATMUL}, {B::CUDA, O::CONV}};
    for (auto [b, o] : keys) saved_.push_back({b, o, c.float32Precision(b, o)});
    // CPU: oneDNN must not downcast fp32 (bf16/tf32 AMX paths).
    c.setFloat32Precision(B::MKLDNN, O::MATMUL, P::IEEE);
    c.setFloat32Precision(B::MKLDNN, O::CONV, P::IEEE);
    if (cuda_) {
      c.setFloat32Precision(B::CUDA, O::MATMUL, tf32 ? P::TF32 : P::IEEE);
      c.setFloat32Precision(B::CUDA, O::CONV, tf32 ? P::TF32 : P::IEEE);
      // f16/bf16 GEMMs accumulate in f32 (the f16/bf16 presets): no reduced-precision reductions.
      fp16_ = c.allowFP16ReductionCuBLAS();
      bf16_ = c.allowBF16ReductionCuBLAS();
      c.setAllowFP16ReductionCuBLAS(false);
      c.setAllowBF16ReductionCuBLAS(false);
    }
  }
  ~precision_guard() {
    auto& c = at::globalContext();
    for (auto& s : saved_) {
      try {
        c.setFloat32Precision(s.b, s.o, s.p);
      } catch (...) {  // an internal sentinel value may not be settable; leave ours in place
      }
    }
    if (cuda_) {
      try {
        using R = at::CuBLASReductionOption;
        c.setAllowFP16ReductionCuBLAS(fp16_ == R::AllowReducedPrecisionWithSplitK,
                                      fp16_ != R::DisallowReducedPrecisionDisallowSplitK);
        c.setAllowBF16ReductionCuBLAS(bf16_ == R::AllowReducedPrecisionWithSplitK,
                                      bf16_ != R::DisallowReducedPrecisionDisallowSplitK);
      } catch (...) {
      }
    }
  }
  precision_guard(const precision_guard&) = delete;
  precision_guard& operator=(const precision_guard&) = delete;

 private:
  struct saved {
    B b;
    O o;
    P p;
  };
  bool cuda_;
  std::vector<saved> saved_;
  at::CuBLASReductionOption fp16_{}, bf16_{};
};

at::Tensor conv(const ops::op_spec& op, const at::Tensor& X, const at::Tensor& W,
                const std::optional<at::Tensor>& B, const tensor& x, const tensor& w,
                const tensor* b) {
  const ops::conv_geometry g = ops::resolve_conv({op, x, w, b});
  const at::IntArrayRef stride(g.stride), dil(g.dilation);
  if (g.transposed) {
    const at::IntArrayRef pad(g.pad_left), outpad(g.output_padding);
    switch (g.dims) {
      case 1:
        return at::conv_transpose1d(X, W, B, stride, pad, outpad, g.groups, dil);
      case 2:
        return at::conv_transpose2d(X, W, B, stride, pad, outpad, g.groups, dil);
      default:
        return at::conv_transpose3d(X, W, B, stride, pad, outpad, g.groups, dil);
    }
  }
  using pk = ops::conv_params::padding_kind;
  if (g.mode == ops::padding_mode::zeros && op.conv.pad != pk::explicit_) {
    // The string overloads, as a user calling F.conv2d(..., padding='same') reaches them.
    const c10::string_view s = op.conv.pad == pk::same ? "same" : "valid";
    switch (g.dims) {
      case 1:
        return at::conv1d(X, W, B, stride, s, dil, g.groups);
      case 2:
        return at::conv2d(X, W, B, stride, s, dil, g.groups);
      default:
        return at::conv3d(X, W, B, stride, s, dil, g.groups);
    }
  }
  at::Tensor Xp = X;
  std::vector<i64> pad = g.pad_left;
  if (g.mode != ops::padding_mode::zeros) {  // as nn.ConvNd does: F.pad, then padding 0
    std::vector<i64> pads;                   // last dim first: (left, right) pairs
    for (int i = g.dims; i-- > 0;) {
      pads.push_back(g.pad_left[static_cast<std::size_t>(i)]);
      pads.push_back(g.pad_right[static_cast<std::size_t>(i)]);
    }
    const char* mode = g.mode == ops::padding_mode::reflect     ? "reflect"
                       : g.mode == ops::padding_mode::replicate ? "replicate"
                                                                : "circular";
    Xp = at::pad(X, pads, mode);
    pad.assign(pad.size(), 0);
  }
  const at::IntArrayRef p(pad);
  switch (g.dims) {
    case 1:
      return at::conv1d(Xp, W, B, stride, p, dil, g.groups);
    case 2:
      return at::conv2d(Xp, W, B, stride, p, dil, g.groups);
    default:
      return at::conv3d(Xp, W, B, stride, p, dil, g.groups);
  }
}

class torch_backend final : public backend {
 public:
  explicit torch_backend(const descriptor& d)
      : backend(parse_backend_name(d.name), d.model, d.storage, d.ops),
        cuda_(name().device == "cuda"),
        tf32_(d.model == "tf32") {}

  availability available() const override {
    if (!cuda_) return {true, {}};
    if (!at::hasCUDA()) return {false, "LibTorch built without CUDA"};
    if (!torch::cuda::is_available()) return {false, "no CUDA device"};
    return {true, {}};
  }

 protected:
  void do_run(const ops::op_spec& op, const tensor& x, const tensor& w, const tensor* b,
              const std::vector<i64>& out_shape, const run_options& opt,
              run_result& r) const override {
    const at::Device dev = cuda_ ? at::Device(at::kCUDA, 0) : at::Device(at::kCPU);
    const auto st = dtype_of(storage_format());
    // LibTorch's intra-op pool (OpenMP/MKL) is set explicitly for this run and restored after.
    struct thread_guard {
      int saved = at::get_num_threads();
      ~thread_guard() { at::set_num_threads(saved); }
    } threads_restore;
    at::set_num_threads(opt.threads);
    r.info.thread_library = "libtorch";
    r.info.threads = at::get_num_threads();
    r.info.device = cuda_ ? "cuda:0" : "cpu";
    precision_guard guard(cuda_, tf32_);
    at::Tensor X = to_torch(x, st, dev), W = to_torch(w, st, dev);
    std::optional<at::Tensor> B;
    if (b) B = to_torch(*b, st, dev);
    if (cuda_) torch::cuda::synchronize();
    auto t0 = std::chrono::steady_clock::now();
    at::Tensor Y = compute(op, X, W, B, x, w, b);
    if (cuda_) torch::cuda::synchronize();
    r.info.seconds = seconds_since(t0);
    if (Y.sizes() != at::IntArrayRef(out_shape))
      throw internal_error(full_name() + ": LibTorch returned shape " + c10::str(Y.sizes()) +
                           " where roundoff expects " + c10::str(at::IntArrayRef(out_shape)));
    if (Y.scalar_type() != st)
      throw internal_error(full_name() + ": LibTorch returned dtype " +
                           std::string(c10::toString(Y.scalar_type())));
    auto host = Y.to(at::kCPU).to(at::kDouble).contiguous();  // exact widening
    r.output.data.resize(static_cast<std::size_t>(host.numel()));
    if (host.numel() > 0)
      std::memcpy(r.output.data.data(), host.data_ptr<double>(),
                  r.output.data.size() * sizeof(double));
    if (cuda_)
      r.info.notes = tf32_ ? "fp32_precision cuda matmul/conv = tf32"
                           : "fp32_precision cuda matmul/conv = ieee; reduced-precision "
                             "f16/bf16 cuBLAS reductions off";
  }

 private:
  at::Tensor compute(const ops::op_spec& op, const at::Tensor& X, const at::Tensor& W,
                     const std::optional<at::Tensor>& B, const tensor& x, const tensor& w,
                     const tensor* b) const {
    const std::string& f = name().formulation;
    auto plus_bias = [&](const at::Tensor& y) { return B ? y + *B : y; };
    using ok = ops::op_kind;
    switch (op.kind) {
      case ok::linear:
        if (f == "linear") return at::linear(X, W, B);
        if (f == "matmul_add") return plus_bias(at::matmul(X, W.t()));
        if (f == "addmm") {
          const i64 K = W.size(1);
          auto lead = X.sizes().vec();
          lead.back() = W.size(0);
          i64 M = 1;  // not reshape({-1, K}): ambiguous when K == 0
          for (i64 i = 0; i + 1 < X.dim(); ++i) M *= X.size(i);
          auto X2 = X.reshape({M, K});
          auto Y2 = B ? at::addmm(*B, X2, W.t()) : at::mm(X2, W.t());
          return Y2.reshape(lead);
        }
        break;
      case ok::matmul:
        if (f == "matmul" || f == "matmul_add") return plus_bias(at::matmul(X, W));
        break;
      case ok::bmm:
        if (f == "bmm") return B ? at::baddbmm(*B, X, W) : at::bmm(X, W);
        break;
      case ok::addmm:
        if (f == "addmm") return B ? at::addmm(*B, X, W) : at::mm(X, W);
        break;
      default:
        return conv(op, X, W, B, x, w, b);
    }
    throw unsupported_error(full_name() + ": no formulation for this op");
  }

  bool cuda_, tf32_;
};

}  // namespace

std::unique_ptr<backend> make_torch_backend(const descriptor& d) {
  return std::make_unique<torch_backend>(d);
}

}  // namespace roundoff::backends::detail
