// Exact fp32 GEMM on CUDA (gemm_exact, device_kind::cuda) against native cublasDgemm and
// cublasSgemm on the same device (issue 17's benchmark). Prints one line per shape with the
// median of `reps` timed runs after a warm-up, and the ratios; scripts/gpu-check runs it.
//   exact_gpu_bench [reps]    shapes: 1024 x 4096 . 4096 x 4096 and 8192^3
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "roundoff/exact/gemm.hpp"

namespace {

using clock_type = std::chrono::steady_clock;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

template <class F>
double time_median(int reps, F&& f) {
  f();  // warm-up
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = clock_type::now();
    f();
    t.push_back(std::chrono::duration<double>(clock_type::now() - t0).count());
  }
  return median(t);
}

void need(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "exact_gpu_bench: %s failed\n", what);
    std::exit(1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  using namespace roundoff::exact;  // NOLINT(google-build-using-namespace)
  const int reps = argc > 1 ? std::max(1, std::atoi(argv[1])) : 3;
  std::string why;
  if (!device_available(device_kind::cuda, &why)) {
    std::fprintf(stderr, "exact_gpu_bench: %s\n", why.c_str());
    return 1;
  }
  cublasHandle_t h = nullptr;
  need(cublasCreate(&h) == CUBLAS_STATUS_SUCCESS, "cublasCreate");
  need(cublasSetMathMode(h, CUBLAS_PEDANTIC_MATH) == CUBLAS_STATUS_SUCCESS, "cublasSetMathMode");
  struct shape {
    long m, n, k;
  };
  for (const shape s : {shape{1024, 4096, 4096}, shape{8192, 8192, 8192}}) {
    std::mt19937_64 g(42);
    std::normal_distribution<float> nd;
    std::vector<double> a(static_cast<std::size_t>(s.m * s.k)),
        b(static_cast<std::size_t>(s.n * s.k));
    for (auto& x : a) x = nd(g);
    for (auto& x : b) x = nd(g);
    std::vector<float> af(a.begin(), a.end()), bf(b.begin(), b.end());
    // Native GEMMs on device-resident operands (their best case: no transfers timed).
    double *da, *db, *dc;
    float *fa, *fb, *fc;
    need(cudaMalloc(reinterpret_cast<void**>(&da), a.size() * 8) == cudaSuccess, "cudaMalloc");
    need(cudaMalloc(reinterpret_cast<void**>(&db), b.size() * 8) == cudaSuccess, "cudaMalloc");
    need(cudaMalloc(reinterpret_cast<void**>(&dc), static_cast<std::size_t>(s.m * s.n) * 8) ==
             cudaSuccess,
         "cudaMalloc");
    need(cudaMalloc(reinterpret_cast<void**>(&fa), a.size() * 4) == cudaSuccess, "cudaMalloc");
    need(cudaMalloc(reinterpret_cast<void**>(&fb), b.size() * 4) == cudaSuccess, "cudaMalloc");
    need(cudaMalloc(reinterpret_cast<void**>(&fc), static_cast<std::size_t>(s.m * s.n) * 4) ==
             cudaSuccess,
         "cudaMalloc");
    cudaMemcpy(da, a.data(), a.size() * 8, cudaMemcpyHostToDevice);
    cudaMemcpy(db, b.data(), b.size() * 8, cudaMemcpyHostToDevice);
    cudaMemcpy(fa, af.data(), af.size() * 4, cudaMemcpyHostToDevice);
    cudaMemcpy(fb, bf.data(), bf.size() * 4, cudaMemcpyHostToDevice);
    const double one = 1, zero = 0;
    const float onef = 1, zerof = 0;
    const int m = static_cast<int>(s.m), n = static_cast<int>(s.n), k = static_cast<int>(s.k);
    const double t_d = time_median(reps, [&] {
      cublasDgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, n, m, k, &one, db, k, da, k, &zero, dc, n);
      cudaDeviceSynchronize();
    });
    const double t_s = time_median(reps, [&] {
      cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, n, m, k, &onef, fb, k, fa, k, &zerof, fc, n);
      cudaDeviceSynchronize();
    });
    cudaFree(da), cudaFree(db), cudaFree(dc), cudaFree(fa), cudaFree(fb), cudaFree(fc);
    gemm_problem p;
    p.m = s.m, p.n = s.n, p.k = s.k, p.a = a.data(), p.lda = s.k, p.b = b.data(), p.ldb = s.k;
    p.c_row_stride = s.n, p.c_col_stride = 1;
    exact_tensor dest({s.m * s.n});
    engine_options opt;
    opt.device = device_kind::cuda;
    const double t_e = time_median(reps, [&] { gemm_exact(p, dest, opt); });
    std::printf(
        "[bench] fp32 %ldx%ld . %ldx%ld: exact on CUDA %.4f s, cublasDgemm %.5f s, cublasSgemm "
        "%.5f s: %.1fx DGEMM, %.1fx SGEMM (host threads %d, operands from host memory)\n",
        s.m, s.k, s.n, s.k, t_e, t_d, t_s, t_e / t_d, t_e / t_s, engine_threads(0));
  }
  cublasDestroy(h);
  return 0;
}
