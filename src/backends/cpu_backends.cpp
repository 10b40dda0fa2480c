// CPU GEMM backends over the im2col lowering: naive loops (sequential, pairwise), Eigen, and
// OpenBLAS cblas_{s,d}gemm. Compiled with -ffp-contract=off so the naive loops round every
// product and every addition exactly as written.
#include <cblas.h>
#include <Eigen/Core>

#include "detail.hpp"

namespace roundoff::backends::detail {
namespace {

using i64 = std::int64_t;

enum class family { naive_sequential, naive_pairwise, eigen, blas };

// Pairwise sum of a[i]*b[i] over [lo, hi): split in halves down to single products.
template <class T>
T pairwise_dot(const T* a, const T* b, i64 lo, i64 hi) {
  if (hi - lo == 1) return a[lo] * b[lo];
  if (hi == lo) return T(0);
  i64 mid = lo + (hi - lo) / 2;
  T s = pairwise_dot(a, b, lo, mid);
  T t = pairwise_dot(a, b, mid, hi);
  return s + t;
}

template <class T>
class cpu_gemm_backend final : public gemm_backend {
 public:
  cpu_gemm_backend(const descriptor& d, family f)
      : gemm_backend(parse_backend_name(d.name), d.model, d.storage, d.ops), f_(f) {}
  availability available() const override { return {true, {}}; }

 protected:
  void run_gemm(const gemm_lowering& L, const run_options& opt, std::vector<double>& out,
                run_info& info) const override {
    info.device = "cpu";
    // Operands in the backend's type (exact: inputs are already representable in it).
    std::vector<T> A(L.a_data.begin(), L.a_data.end()), B(L.b_data.begin(), L.b_data.end());
    std::vector<T> C(static_cast<std::size_t>(L.m * L.n));
    const bool bias = !L.bias.empty();
    int saved_threads = 0;
    auto oi = [&](i64 p, i64 i, i64 j) {
      return static_cast<std::size_t>(
          L.out_index[static_cast<std::size_t>((p * L.m + i) * L.n + j)]);
    };
    switch (f_) {
      case family::naive_sequential:
      case family::naive_pairwise:
        info.thread_library = "none";
        info.threads = 1;
        break;
      case family::eigen:
        // Eigen parallelizes products only under OpenMP, which roundoff does not enable.
        info.thread_library = "eigen";
        info.threads = Eigen::nbThreads();
        break;
      case family::blas:
        // Set explicitly for this run (restored below): OpenBLAS's pool is separate from
        // LibTorch's, and the exact engine also calls OpenBLAS.
        saved_threads = openblas_get_num_threads();
        openblas_set_num_threads(opt.threads);
        info.thread_library = "openblas";
        info.threads = openblas_get_num_threads();
        break;
    }
    auto t0 = std::chrono::steady_clock::now();
    for (i64 p = 0; p < L.count; ++p) {
      const T* a = A.data() + L.a_off[static_cast<std::size_t>(p)];
      const T* b = B.data() + L.b_off[static_cast<std::size_t>(p)];
      switch (f_) {
        case family::naive_sequential:
          // s = ((x0 w0 + x1 w1) + x2 w2) + ... then + bias: each step rounded in T.
          for (i64 i = 0; i < L.m; ++i)
            for (i64 j = 0; j < L.n; ++j) {
              T s = T(0);
              for (i64 k = 0; k < L.k; ++k) s = s + a[i * L.k + k] * b[j * L.k + k];
              if (bias) s = s + static_cast<T>(L.bias[oi(p, i, j)]);
              out[oi(p, i, j)] = static_cast<double>(s);
            }
          continue;
        case family::naive_pairwise:
          for (i64 i = 0; i < L.m; ++i)
            for (i64 j = 0; j < L.n; ++j) {
              T s = pairwise_dot(a + i * L.k, b + j * L.k, 0, L.k);
              if (bias) s = s + static_cast<T>(L.bias[oi(p, i, j)]);
              out[oi(p, i, j)] = static_cast<double>(s);
            }
          continue;
        case family::eigen:
        case family::blas:
          break;
      }
      // GEMM with the bias as the C operand (beta = 1), as BLAS users add it.
      T beta = T(0);
      if (bias) {
        beta = T(1);
        for (i64 i = 0; i < L.m; ++i)
          for (i64 j = 0; j < L.n; ++j)
            C[static_cast<std::size_t>(i * L.n + j)] = static_cast<T>(L.bias[oi(p, i, j)]);
      }
      if (f_ == family::eigen) {
        using mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
        Eigen::Map<const mat> Am(a, L.m, L.k), Bm(b, L.n, L.k);
        Eigen::Map<mat> Cm(C.data(), L.m, L.n);
        if (bias)
          Cm.noalias() += Am * Bm.transpose();
        else
          Cm.noalias() = Am * Bm.transpose();
      } else if (L.m > 0 && L.n > 0) {
        const auto m = static_cast<blasint>(L.m), n = static_cast<blasint>(L.n),
                   k = static_cast<blasint>(L.k);
        const blasint ld = std::max<blasint>(k, 1);
        if constexpr (std::is_same_v<T, float>)
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, a, ld, b, ld, beta,
                      C.data(), n);
        else
          cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0, a, ld, b, ld, beta,
                      C.data(), n);
      }
      for (i64 i = 0; i < L.m; ++i)
        for (i64 j = 0; j < L.n; ++j)
          out[oi(p, i, j)] = static_cast<double>(C[static_cast<std::size_t>(i * L.n + j)]);
    }
    info.seconds = seconds_since(t0);
    if (f_ == family::blas) {
      info.notes = std::string("OpenBLAS ") + openblas_get_config();
      openblas_set_num_threads(saved_threads);
    }
  }

 private:
  family f_;
};

}  // namespace

std::unique_ptr<backend> make_cpu_backend(const descriptor& d) {
  auto n = parse_backend_name(d.name);
  family f;
  if (n.library == "naive" && n.formulation == "sequential")
    f = family::naive_sequential;
  else if (n.library == "naive" && n.formulation == "pairwise")
    f = family::naive_pairwise;
  else if (n.library == "eigen")
    f = family::eigen;
  else if (n.library == "blas")
    f = family::blas;
  else
    return nullptr;
  if (d.storage == format_id::f64) return std::make_unique<cpu_gemm_backend<double>>(d, f);
  return std::make_unique<cpu_gemm_backend<float>>(d, f);
}

}  // namespace roundoff::backends::detail
