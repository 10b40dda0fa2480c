// The sm_90 tensor-core emulation as implementations `roundoff run` lists and runs on the CPU:
// model.sm90.tc.{tf32,f16,bf16} (K-blocks accumulated in sequence) and model.sm90.tc_splitk8.tf32
// (split-K in 8 slices with an f32 reduction, the order cuBLAS chose for the seed case on the
// H200). docs/tensor-cores.md.
#include "detail.hpp"
#include "roundoff/backends/tc_emulation.hpp"

namespace roundoff::backends::detail {
namespace {

class tc_backend final : public backend {
 public:
  tc_backend(const descriptor& d, tc::variant v)
      : backend(parse_backend_name(d.name), d.model, d.storage, d.ops), v_(v) {}
  availability available() const override { return {true, {}}; }

 protected:
  void do_run(const ops::op_spec& op, const tensor& x, const tensor& w, const tensor* b,
              const std::vector<std::int64_t>& out_shape, const run_options& /*opt*/,
              run_result& result) const override {
    (void)out_shape;
    auto t0 = std::chrono::steady_clock::now();
    result.output = tc::emulate(op, x, w, b, v_);
    result.info.seconds = seconds_since(t0);
    result.info.device = "cpu (emulated sm_90 tensor cores)";
    result.info.thread_library = "none";
    result.info.threads = 1;
    result.info.notes = "bit-accurate sm_90 emulation: " + tc::describe(v_);
  }

 private:
  tc::variant v_;
};

}  // namespace

std::vector<descriptor> tc_descriptors() {
  using ok = ops::op_kind;
  const std::vector<ok> gemm_ops = {ok::linear, ok::matmul, ok::addmm, ok::bmm};
  return {{"model.sm90.tc.tf32", "tf32", format_id::f32, gemm_ops},
          {"model.sm90.tc_splitk8.tf32", "tf32", format_id::f32, gemm_ops},
          {"model.sm90.tc.f16", "f16", format_id::f16, gemm_ops},
          {"model.sm90.tc.bf16", "bf16", format_id::bf16, gemm_ops}};
}

std::unique_ptr<backend> make_tc_backend(const descriptor& d) {
  const auto n = parse_backend_name(d.name);
  if (n.library != "model" || n.device != "sm90") return nullptr;
  tc::variant v;
  v.u = tc::sm90_unit(n.format == "f16"    ? tc::tc_format::f16
                      : n.format == "bf16" ? tc::tc_format::bf16
                                           : tc::tc_format::tf32);
  v.output = d.storage;
  v.split_k = n.formulation == "tc_splitk8" ? 8 : 1;
  return std::make_unique<tc_backend>(d, v);
}

}  // namespace roundoff::backends::detail
