// The CUDA exact engine's products of slices: cublasDgemm on the first CUDA device. Built into
// roundoff_exact_cuda.so, which gemm_device.cpp loads on first use. Exact for the reason the
// CPU paths are (docs/exact-fast.md, Lemma 2): cuBLAS's DGEMM adds binary64 products with +, *
// and FMA in some order, and every partial sum of these integers is an integer of magnitude at
// most 2^53. CUBLAS_PEDANTIC_MATH keeps cuBLAS off reduced-precision and emulated algorithms
// (CUBLAS_FP64_EMULATED_FIXEDPOINT_MATH would replace the binary64 arithmetic); the host checks
// every result anyway (gemm_tiles.cpp, form_products). docs/exact-gpu.md.
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#define ROUNDOFF_EXACT_INTERNAL 1
#include "detail/slice_products.hpp"
#include "roundoff/error.hpp"

#define ROUNDOFF_CUDA_EXPORT extern "C" __attribute__((visibility("default")))

namespace roundoff::exact::detail {
namespace {

using i64 = std::int64_t;

std::string cuda_message(const char* what, cudaError_t e) {
  return std::string(what) + ": " + cudaGetErrorString(e);
}

// roundoff's error kinds (roundoff/error.hpp): running out of device memory is resource_error
// (the input is valid but too large for this device); an invalid argument is a bug in the host
// code that calls CUDA (internal_error); any other failure (driver, launch, an architecture
// cuBLAS does not support) is a library call that failed: unsupported_error.
void check(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return;
  const std::string message = "gemm_exact on CUDA: " + cuda_message(what, e);
  if (e == cudaErrorMemoryAllocation) throw resource_error(message);
  if (e == cudaErrorInvalidValue) throw internal_error(message);
  throw unsupported_error(message);
}

void check(cublasStatus_t s, const char* what) {
  if (s == CUBLAS_STATUS_SUCCESS) return;
  const std::string message =
      std::string("gemm_exact on CUDA: ") + what + ": " + cublasGetStatusString(s);
  if (s == CUBLAS_STATUS_ALLOC_FAILED) throw resource_error(message);
  if (s == CUBLAS_STATUS_INVALID_VALUE) throw internal_error(message);
  throw unsupported_error(message);
}

/// Device buffers that grow on demand and are kept between calls (one product at a time).
class device_buffer {
 public:
  device_buffer() = default;
  device_buffer(const device_buffer&) = delete;
  device_buffer& operator=(const device_buffer&) = delete;
  ~device_buffer() {
    if (data_) cudaFree(data_);
  }
  double* reserve(std::size_t doubles) {
    if (doubles > size_) {
      if (data_) check(cudaFree(data_), "cudaFree");
      data_ = nullptr;
      size_ = 0;
      check(cudaMalloc(reinterpret_cast<void**>(&data_), doubles * sizeof(double)), "cudaMalloc");
      size_ = doubles;
    }
    return data_;
  }

 private:
  double* data_ = nullptr;
  std::size_t size_ = 0;
};

class cublas_slice_products final : public slice_products {
 public:
  cublas_slice_products(cublasHandle_t handle, std::size_t memory)
      : handle_(handle), memory_(memory) {}
  ~cublas_slice_products() override { cublasDestroy(handle_); }
  cublas_slice_products(const cublas_slice_products&) = delete;
  cublas_slice_products& operator=(const cublas_slice_products&) = delete;

  const char* name() const noexcept override { return "cublas-dgemm"; }
  std::size_t memory_bytes() const noexcept override { return memory_; }

  void multiply(i64 rows_a, i64 rows_b, i64 kn, const double* a, const double* b,
                double* c) override {
    const auto na = static_cast<std::size_t>(rows_a * kn),
               nb = static_cast<std::size_t>(rows_b * kn);
    const auto nc = static_cast<std::size_t>(rows_a * rows_b);
    double* da = a_.reserve(na);
    double* db = b_.reserve(nb);
    double* dc = c_.reserve(nc);
    check(cudaMemcpy(da, a, na * sizeof(double), cudaMemcpyHostToDevice), "cudaMemcpy A");
    check(cudaMemcpy(db, b, nb * sizeof(double), cudaMemcpyHostToDevice), "cudaMemcpy B");
    // Row-major C (rows_a x rows_b) = A B^T is column-major C^T = B A^T: B is column-major
    // kn x rows_b (transposed), A column-major kn x rows_a.
    const double one = 1.0, zero = 0.0;
    check(
        cublasDgemm(handle_, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(rows_b),
                    static_cast<int>(rows_a), static_cast<int>(kn), &one, db, static_cast<int>(kn),
                    da, static_cast<int>(kn), &zero, dc, static_cast<int>(rows_b)),
        "cublasDgemm");
    check(cudaMemcpy(c, dc, nc * sizeof(double), cudaMemcpyDeviceToHost), "cudaMemcpy C");
  }

 private:
  cublasHandle_t handle_;
  std::size_t memory_;
  device_buffer a_, b_, c_;
};

slice_products* make(std::size_t memory, std::string& error) {
  int count = 0;
  if (const cudaError_t e = cudaGetDeviceCount(&count); e != cudaSuccess) {
    error = cuda_message("cudaGetDeviceCount", e);
    return nullptr;
  }
  if (count == 0) {
    error = "cudaGetDeviceCount: no device";
    return nullptr;
  }
  if (const cudaError_t e = cudaSetDevice(0); e != cudaSuccess) {
    error = cuda_message("cudaSetDevice(0)", e);
    return nullptr;
  }
  std::size_t free_bytes = 0, total_bytes = 0;
  if (const cudaError_t e = cudaMemGetInfo(&free_bytes, &total_bytes); e != cudaSuccess) {
    error = cuda_message("cudaMemGetInfo", e);
    return nullptr;
  }
  if (memory == 0) memory = free_bytes / 10 * 9;
  cublasHandle_t handle = nullptr;
  if (const cublasStatus_t s = cublasCreate(&handle); s != CUBLAS_STATUS_SUCCESS) {
    error = std::string("cublasCreate: ") + cublasGetStatusString(s);
    return nullptr;
  }
  if (const cublasStatus_t s = cublasSetMathMode(handle, CUBLAS_PEDANTIC_MATH);
      s != CUBLAS_STATUS_SUCCESS) {
    cublasDestroy(handle);
    error = std::string("cublasSetMathMode(CUBLAS_PEDANTIC_MATH): ") + cublasGetStatusString(s);
    return nullptr;
  }
  return new cublas_slice_products(handle, memory);
}

}  // namespace
}  // namespace roundoff::exact::detail

/// Must equal the loader's ROUNDOFF_EXACT_CUDA_ABI: a library from another build is refused.
ROUNDOFF_CUDA_EXPORT const char* roundoff_exact_cuda_abi() {
  return ROUNDOFF_EXACT_CUDA_ABI;
}

/// A new cuBLAS implementation with memory_bytes of device memory per product (0: 90% of the free
/// memory now), or null with the reason in error.
ROUNDOFF_CUDA_EXPORT roundoff::exact::detail::slice_products* roundoff_exact_cuda_make(
    std::size_t memory_bytes, char* error, std::size_t error_size) {
  std::string why;
  roundoff::exact::detail::slice_products* p = nullptr;
  try {
    p = roundoff::exact::detail::make(memory_bytes, why);
  } catch (const std::exception& e) {
    why = e.what();
  }
  if (!p && error && error_size > 0) std::snprintf(error, error_size, "%s", why.c_str());
  return p;
}
