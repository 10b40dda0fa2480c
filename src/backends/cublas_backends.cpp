// cuBLAS backends over the im2col lowering: cublasSgemm under CUBLAS_PEDANTIC_MATH (true fp32),
// cublasGemmEx with CUBLAS_COMPUTE_32F_FAST_TF32, and cublasGemmEx on f16 / bf16 operands with
// f32 compute. Host-only C++: the cuBLAS API needs no device code. The bias is the C operand
// (beta = 1), so the f16/bf16 output is rounded once from the f32 accumulator.
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <stdexcept>
#include <string>

#include "detail.hpp"
#include "roundoff/error.hpp"

namespace roundoff::backends::detail {
namespace {

using i64 = std::int64_t;

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw unsupported_error(std::string(what) + ": " + cudaGetErrorString(e));
}
void check(cublasStatus_t s, const char* what) {
  if (s != CUBLAS_STATUS_SUCCESS)
    throw unsupported_error(std::string(what) + ": " + cublasGetStatusString(s));
}

enum class kind { sgemm_f32, sgemm_tf32, gemmex_f16, gemmex_bf16 };

// Device-side operand types.
template <kind K>
struct elem {
  using type = float;
  static float from(double v) { return static_cast<float>(v); }
  static double to(float v) { return v; }
  static constexpr cudaDataType_t cuda = CUDA_R_32F;
};
template <>
struct elem<kind::gemmex_f16> {
  using type = __half;
  static __half from(double v) { return __float2half_rn(static_cast<float>(v)); }  // exact
  static double to(__half v) { return __half2float(v); }
  static constexpr cudaDataType_t cuda = CUDA_R_16F;
};
template <>
struct elem<kind::gemmex_bf16> {
  using type = __nv_bfloat16;
  static __nv_bfloat16 from(double v) { return __float2bfloat16_rn(static_cast<float>(v)); }
  static double to(__nv_bfloat16 v) { return __bfloat162float(v); }
  static constexpr cudaDataType_t cuda = CUDA_R_16BF;
};

struct device_buffer {
  void* p = nullptr;
  explicit device_buffer(std::size_t bytes) {
    if (bytes) check(cudaMalloc(&p, bytes), "cudaMalloc");
  }
  ~device_buffer() {
    if (p) cudaFree(p);
  }
  device_buffer(const device_buffer&) = delete;
  device_buffer& operator=(const device_buffer&) = delete;
};

struct handle {
  cublasHandle_t h = nullptr;
  handle() { check(cublasCreate(&h), "cublasCreate"); }
  ~handle() {
    if (h) cublasDestroy(h);
  }
  handle(const handle&) = delete;
  handle& operator=(const handle&) = delete;
};

// Availability probed once: device count and compute capability of device 0.
struct probe {
  bool ok = false;
  int major = 0, minor = 0;
  std::string name, reason;
};
const probe& device_probe() {
  static const probe p = [] {
    probe r;
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0) {
      r.reason = std::string("no CUDA device") +
                 (e != cudaSuccess ? std::string(" (") + cudaGetErrorString(e) + ")" : "");
      cudaGetLastError();  // clear the sticky-free error state
      return r;
    }
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess) {
      r.reason = "no CUDA device (cudaGetDeviceProperties failed)";
      return r;
    }
    r.ok = true;
    r.major = prop.major;
    r.minor = prop.minor;
    r.name = prop.name;
    return r;
  }();
  return p;
}

template <kind K>
class cublas_backend final : public gemm_backend {
 public:
  explicit cublas_backend(const descriptor& d)
      : gemm_backend(parse_backend_name(d.name), d.model, d.storage, d.ops) {}

  availability available() const override {
    const auto& p = device_probe();
    if (!p.ok) return {false, p.reason};
    if (K != kind::sgemm_f32 && K != kind::gemmex_f16 && p.major < 8)
      return {false, "needs compute capability 8.0 or newer (device 0 is " +
                         std::to_string(p.major) + "." + std::to_string(p.minor) + ")"};
    return {true, {}};
  }

 protected:
  void run_gemm(const gemm_lowering& L, const run_options&, std::vector<double>& out,
                run_info& info) const override {
    using T = typename elem<K>::type;
    const auto& pr = device_probe();
    info.device = "cuda:0 (" + pr.name + ")";
    info.thread_library = "none";
    info.threads = 1;
    check(cudaSetDevice(0), "cudaSetDevice");
    handle h;
    std::vector<T> A(L.a_data.size()), B(L.b_data.size());
    for (std::size_t i = 0; i < A.size(); ++i) A[i] = elem<K>::from(L.a_data[i]);
    for (std::size_t i = 0; i < B.size(); ++i) B[i] = elem<K>::from(L.b_data[i]);
    device_buffer device_a(A.size() * sizeof(T)), device_b(B.size() * sizeof(T)),
        device_c(static_cast<std::size_t>(L.m * L.n) * sizeof(T));
    if (!A.empty())
      check(cudaMemcpy(device_a.p, A.data(), A.size() * sizeof(T), cudaMemcpyHostToDevice),
            "cudaMemcpy");
    if (!B.empty())
      check(cudaMemcpy(device_b.p, B.data(), B.size() * sizeof(T), cudaMemcpyHostToDevice),
            "cudaMemcpy");
    if constexpr (K == kind::sgemm_f32) {
      check(cublasSetMathMode(h.h, CUBLAS_PEDANTIC_MATH), "cublasSetMathMode");
      info.notes = "cublasSgemm, CUBLAS_PEDANTIC_MATH";
    } else {
      check(cublasSetMathMode(h.h, CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
      info.notes = K == kind::sgemm_tf32 ? "cublasGemmEx, CUBLAS_COMPUTE_32F_FAST_TF32"
                                         : "cublasGemmEx, CUBLAS_COMPUTE_32F";
    }
    const bool bias = !L.bias.empty();
    std::vector<T> C(static_cast<std::size_t>(L.m * L.n));
    auto oi = [&](i64 p, i64 i, i64 j) {
      return static_cast<std::size_t>(
          L.out_index[static_cast<std::size_t>((p * L.m + i) * L.n + j)]);
    };
    const float alpha = 1.0f, beta = bias ? 1.0f : 0.0f;
    const int m = static_cast<int>(L.m), n = static_cast<int>(L.n), k = static_cast<int>(L.k);
    const int ld = k > 0 ? k : 1;
    double secs = 0;
    for (i64 p = 0; p < L.count; ++p) {
      if (L.m == 0 || L.n == 0) break;
      if (bias) {
        for (i64 i = 0; i < L.m; ++i)
          for (i64 j = 0; j < L.n; ++j)
            C[static_cast<std::size_t>(i * L.n + j)] = elem<K>::from(L.bias[oi(p, i, j)]);
        check(cudaMemcpy(device_c.p, C.data(), C.size() * sizeof(T), cudaMemcpyHostToDevice),
              "cudaMemcpy");
      }
      const T* a = static_cast<const T*>(device_a.p) + L.a_off[static_cast<std::size_t>(p)];
      const T* b = static_cast<const T*>(device_b.p) + L.b_off[static_cast<std::size_t>(p)];
      T* c = static_cast<T*>(device_c.p);
      check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
      auto t0 = std::chrono::steady_clock::now();
      // Row-major C[m,n] = A[m,k] B[n,k]^T is column-major C^T[n,m] = op_T(B) op_N(A).
      if constexpr (K == kind::sgemm_f32) {
        check(
            cublasSgemm(h.h, CUBLAS_OP_T, CUBLAS_OP_N, n, m, k, &alpha, b, ld, a, ld, &beta, c, n),
            "cublasSgemm");
      } else {
        const cublasComputeType_t ct =
            K == kind::sgemm_tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
        check(cublasGemmEx(h.h, CUBLAS_OP_T, CUBLAS_OP_N, n, m, k, &alpha, b, elem<K>::cuda, ld, a,
                           elem<K>::cuda, ld, &beta, c, elem<K>::cuda, n, ct, CUBLAS_GEMM_DEFAULT),
              "cublasGemmEx");
      }
      check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
      secs += seconds_since(t0);
      check(cudaMemcpy(C.data(), device_c.p, C.size() * sizeof(T), cudaMemcpyDeviceToHost),
            "cudaMemcpy");
      for (i64 i = 0; i < L.m; ++i)
        for (i64 j = 0; j < L.n; ++j)
          out[oi(p, i, j)] = elem<K>::to(C[static_cast<std::size_t>(i * L.n + j)]);
    }
    info.seconds = secs;
  }
};

}  // namespace

std::unique_ptr<backend> make_cublas_backend(const descriptor& d) {
  auto n = parse_backend_name(d.name);
  if (n.formulation == "sgemm" && n.format == "f32")
    return std::make_unique<cublas_backend<kind::sgemm_f32>>(d);
  if (n.formulation == "sgemm" && n.format == "tf32")
    return std::make_unique<cublas_backend<kind::sgemm_tf32>>(d);
  if (n.formulation == "gemmex" && n.format == "f16")
    return std::make_unique<cublas_backend<kind::gemmex_f16>>(d);
  if (n.formulation == "gemmex" && n.format == "bf16")
    return std::make_unique<cublas_backend<kind::gemmex_bf16>>(d);
  return nullptr;
}

}  // namespace roundoff::backends::detail
