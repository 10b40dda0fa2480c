// Exact contractions: C[b, i, j] = sum_k A[b, i, k] * B[b, j, k] (+ bias), the one primitive
// that every op lowers to. Three versions (as in Arb): fast (Ozaki-style splitting over DGEMM,
// exact by construction), simple (one accumulator per output), and the MPFR oracle.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "roundoff/exact/exact_tensor.hpp"

namespace roundoff::exact {

/// A strided batched "NT" contraction. Operands are doubles holding values of any format.
/// Element (b, i, j) of the result goes to dest index
///   c_offset + b*c_batch_stride + i*c_row_stride + j*c_col_stride.
struct gemm_problem {
  std::int64_t batch = 1, m = 0, n = 0, k = 0;
  const double* a = nullptr;  ///< a[b*a_batch_stride + i*lda + kk]
  std::int64_t lda = 0, a_batch_stride = 0;
  const double* b = nullptr;  ///< b[b*b_batch_stride + j*ldb + kk]
  std::int64_t ldb = 0, b_batch_stride = 0;
  /// Optional bias added once to each output: bias[b*bias_batch_stride + i*bias_row_stride +
  /// j*bias_col_stride]. Null for none.
  const double* bias = nullptr;
  std::int64_t bias_batch_stride = 0, bias_row_stride = 0, bias_col_stride = 0;
  std::int64_t c_offset = 0, c_batch_stride = 0, c_row_stride = 0, c_col_stride = 1;
};

/// Where gemm_exact forms the products of slices (docs/exact-gpu.md). The result is the same
/// exact value on every device.
enum class device_kind {
  cpu,   ///< this process's cores (native kernels or OpenBLAS)
  cuda,  ///< cublasDgemm on the first CUDA device; slicing and combination stay on the host
};

struct engine_options {
  /// Threads for the fast path (and the BLAS it calls); 0: engine_threads(0), every core unless
  /// ROUNDOFF_THREADS says otherwise. With device_kind::cuda, the host threads that slice and
  /// combine tiles while the device multiplies.
  int threads = 0;
  device_kind device = device_kind::cpu;
  /// device_kind::cuda: bytes of device memory one tile's product may use; 0: 90% of the free
  /// device memory (cudaMemGetInfo) when the device is first used.
  std::size_t device_memory = 0;
};

/// Whether gemm_exact can run on d in this process. When it cannot, *reason (if given) gets one
/// line, e.g. "no CUDA device available (cudaGetDeviceCount: no CUDA-capable device is
/// detected)". device_kind::cpu is always available. The first call for cuda loads the CUDA
/// engine (roundoff_exact_cuda.so) and cuBLAS; later calls reuse them.
bool device_available(device_kind d, std::string* reason = nullptr);

/// "cpu" or "cuda".
const char* device_name(device_kind d) noexcept;

/// The thread count the exact engine runs with when asked for `requested`: `requested` when it
/// is positive; otherwise the environment variable ROUNDOFF_THREADS when it holds an integer in
/// [1, 1024]; otherwise std::thread::hardware_concurrency() (at least 1).
int engine_threads(int requested) noexcept;

/// Runs `work` on `threads` threads, the caller's and the exact engine's persistent workers (no
/// thread started per call), each under IEEE gradual underflow: every one calls work(next,
/// count) and takes item numbers from `next` (fetch_add) until they reach `count`. The first
/// exception stops the others and is rethrown once all are done. For other layers' loops of
/// single-threaded BLAS calls (the bounds' magnitude: src/verdicts/magnitude.cpp).
void run_on_engine_workers(
    int threads, std::int64_t count,
    const std::function<void(std::atomic<std::int64_t>& next, std::int64_t count)>& work);

/// OpenBLAS at one thread while alive, the caller's count restored after, exception or not: for
/// loops of single-threaded BLAS calls on the engine's workers, where the parallelism is ours
/// (the engine's OpenBLAS path, the bounds' magnitude). Process-wide, as OpenBLAS's setting is.
class single_threaded_blas {
 public:
  single_threaded_blas();
  ~single_threaded_blas();
  single_threaded_blas(const single_threaded_blas&) = delete;
  single_threaded_blas& operator=(const single_threaded_blas&) = delete;

 private:
  int saved_;
};

/// Fast exact path. Writes every output element of p into dest (already sized). With
/// opt.device == device_kind::cuda and no usable CUDA device it throws std::runtime_error whose
/// what() starts "no CUDA device available".
void gemm_exact(const gemm_problem& p, exact_tensor& dest, const engine_options& opt = {});

/// The kernel gemm_exact multiplies slices with, as things stand now: "native-avx512" (its own
/// packed kernel: x86-64 CPUs with AVX-512F), "native-avx2" (CPUs with AVX2 and FMA, or when the
/// environment variable ROUNDOFF_EXACT_KERNEL is "avx2") or "openblas" (cblas_dgemm; other CPUs,
/// or when ROUNDOFF_EXACT_KERNEL is "blas"). All give the same exact results; only the speed
/// differs (docs/exact-fast.md).
const char* gemm_exact_kernel() noexcept;

/// Simple exact path: one accumulator per output, term by term. Same contract as gemm_exact.
void gemm_exact_simple(const gemm_problem& p, exact_tensor& dest);

/// Exact dot product sum_k a[k]*b[k] (+ bias when non-null) into an accumulator.
void dot_exact(std::int64_t k, const double* a, const double* b, const double* bias,
               accumulator& out) noexcept;

}  // namespace roundoff::exact
