// The ops layer's single path into the exact engine. See docs/ops.md §2 ("Algorithm").
#include "detail/contraction.hpp"

#include <cblas.h>
#include <xmmintrin.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <limits>
#include <string>

#include "roundoff/error.hpp"
#include "roundoff/exact/mpfr_oracle.hpp"

namespace roundoff::ops::detail {

std::string shape_str(const std::vector<std::int64_t>& s) {
  std::string out = "[";
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(s[i]);
  }
  return out + "]";
}

double magnitude_bound(double s_hat, std::int64_t leaves) {
  if (leaves == 0 || !(s_hat < std::numeric_limits<double>::infinity())) return s_hat;
  constexpr double inf = std::numeric_limits<double>::infinity();
  // Each RN step below is followed by one step up (down for the divisor): |RN(v) - v| is at
  // most half an ulp, so nextafter(RN(v), +inf) >= v. ldexp of an integer < 2^53 is exact.
  const double num = std::nextafter(s_hat + std::ldexp(static_cast<double>(leaves), -1074), inf);
  const double den = std::nextafter(1.0 - std::ldexp(static_cast<double>(leaves), -53), 0.0);
  return std::nextafter(num / den, inf);
}

std::vector<double> abs_copy(const double* v, std::int64_t n) {
  std::vector<double> out(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) out[static_cast<std::size_t>(i)] = std::fabs(v[i]);
  return out;
}

contraction_runner::contraction_runner(op_result& r, const std::vector<std::int64_t>& out_shape,
                                       const reference_options& opt)
    : r_(r), opt_(opt) {
  r_.exact = exact::exact_tensor(out_shape);
  const auto n = static_cast<std::size_t>(r_.exact.size());
  // The BLAS bound assumes IEEE gradual underflow: with flush-to-zero or denormals-are-zero
  // set in this thread, fall back to the exact magnitude. It also needs k * u small.
  const unsigned csr = _mm_getcsr();
  const bool ieee_underflow = (csr & 0x8040u) == 0;  // FTZ bit 15, DAZ bit 6
  blas_bound_ =
      opt_.want_magnitude && opt_.magnitude_how == magnitude_method::blas_bound && ieee_underflow;
  if (opt_.want_magnitude && !blas_bound_) mag_ = exact::exact_tensor(out_shape);
  if (blas_bound_) r_.magnitude.assign(n, 0.0);
  if (opt_.how == method::mpfr) r_.oracle_exact.assign(n, 1);
}

void contraction_runner::run_one(const exact::gemm_problem& p, exact::exact_tensor& dest,
                                 bool oracle) {
  if (p.batch == 0 || p.m == 0 || p.n == 0) return;
  if (!oracle) {
    if (opt_.how == method::fast) {
      exact::engine_options eo;
      eo.threads = opt_.threads;
      eo.device = opt_.device;
      exact::gemm_exact(p, dest, eo);
    } else {
      exact::gemm_exact_simple(p, dest);
    }
    return;
  }
  // gemm_mpfr returns a dense [batch, m, n] result; scatter it through the c_* strides.
  exact::mpfr_options mo;
  mo.precision_bits = opt_.precision_bits;
  mo.auto_raise = opt_.mpfr_auto_raise;
  const exact::mpfr_result res = exact::gemm_mpfr(p, mo);
  exact::accumulator acc;
  std::size_t q = 0;
  for (std::int64_t bb = 0; bb < p.batch; ++bb) {
    for (std::int64_t i = 0; i < p.m; ++i) {
      for (std::int64_t j = 0; j < p.n; ++j, ++q) {
        const std::int64_t c =
            p.c_offset + bb * p.c_batch_stride + i * p.c_row_stride + j * p.c_col_stride;
        acc.clear();
        acc.add(res.rounded[q]);
        dest.store(c, acc);
        if (!res.exact[q]) r_.oracle_exact[static_cast<std::size_t>(c)] = 0;
      }
    }
  }
}

void contraction_runner::run(const exact::gemm_problem& p, const exact::gemm_problem& p_abs) {
  run_one(p, r_.exact, opt_.how == method::mpfr);
  // The magnitude is a property of the inputs, not of the method: always exact accumulation
  // (the oracle only returns round-to-nearest doubles, which could lie below the sum).
  if (!opt_.want_magnitude) return;
  const bool fits = p_abs.m <= INT_MAX && p_abs.n <= INT_MAX && p_abs.k <= INT_MAX &&
                    p_abs.lda <= INT_MAX && p_abs.ldb <= INT_MAX;
  if (blas_bound_ && fits) {
    run_blas_bound(p_abs);
  } else if (blas_bound_) {
    throw input_error(
        "magnitude: a contraction dimension exceeds the BLAS int range; use "
        "magnitude_method::exact");
  } else {
    run_one(p_abs, mag_, false);
  }
}

void contraction_runner::run_blas_bound(const exact::gemm_problem& p) {
  if (p.batch == 0 || p.m == 0 || p.n == 0) return;
  // s_hat = RN-evaluated |A| |B|^T (+ |bias| as one more leaf), then the a-posteriori bound.
  const std::int64_t leaves = p.k + (p.bias ? 1 : 0);
  std::vector<double> c(static_cast<std::size_t>(p.m * p.n));
  const int saved = openblas_get_num_threads();
  openblas_set_num_threads(exact::engine_threads(opt_.threads));
  for (std::int64_t bb = 0; bb < p.batch; ++bb) {
    for (std::int64_t i = 0; i < p.m; ++i) {
      for (std::int64_t j = 0; j < p.n; ++j) {
        c[static_cast<std::size_t>(i * p.n + j)] =
            p.bias
                ? p.bias[bb * p.bias_batch_stride + i * p.bias_row_stride + j * p.bias_col_stride]
                : 0.0;
      }
    }
    if (p.k > 0) {
      cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(p.m),
                  static_cast<int>(p.n), static_cast<int>(p.k), 1.0, p.a + bb * p.a_batch_stride,
                  static_cast<int>(p.lda), p.b + bb * p.b_batch_stride, static_cast<int>(p.ldb),
                  1.0, c.data(), static_cast<int>(p.n));
    }
    for (std::int64_t i = 0; i < p.m; ++i) {
      for (std::int64_t j = 0; j < p.n; ++j) {
        const std::int64_t dst =
            p.c_offset + bb * p.c_batch_stride + i * p.c_row_stride + j * p.c_col_stride;
        r_.magnitude[static_cast<std::size_t>(dst)] =
            magnitude_bound(c[static_cast<std::size_t>(i * p.n + j)], leaves);
      }
    }
  }
  openblas_set_num_threads(saved);
}

void contraction_runner::finish() {
  if (!opt_.want_magnitude || blas_bound_) return;
  const std::int64_t n = mag_.size();
  r_.magnitude.resize(static_cast<std::size_t>(n));
  exact::accumulator acc;
  for (std::int64_t i = 0; i < n; ++i) {
    mag_.load(i, acc);
    // One upward rounding of the exact nonnegative sum: never below it (docs/ops.md).
    r_.magnitude[static_cast<std::size_t>(i)] = acc.round(exact::rounding::upward);
  }
  mag_ = exact::exact_tensor();
}

void check_expandable(const tensor_view& b, const std::vector<std::int64_t>& out) {
  const int od = static_cast<int>(out.size()), bd = b.dim();
  bool ok = bd <= od;
  int bad = -1;
  for (int i = 0; ok && i < bd; ++i) {
    const auto bs = b.shape[static_cast<std::size_t>(bd - 1 - i)];
    const auto os = out[static_cast<std::size_t>(od - 1 - i)];
    if (bs != 1 && bs != os) {
      ok = false;
      bad = od - 1 - i;
    }
  }
  if (!ok) {
    if (bad < 0) {
      throw input_error("bias: the number of sizes provided (" + std::to_string(od) +
                        ") must be greater or equal to the number of dimensions in the tensor (" +
                        std::to_string(bd) + "); bias of size " + shape_str(b.shape) +
                        " cannot be expanded to the output size " + shape_str(out));
    }
    throw input_error(
        "bias: the expanded size of the tensor (" +
        std::to_string(out[static_cast<std::size_t>(bad)]) + ") must match the existing size (" +
        std::to_string(b.shape[static_cast<std::size_t>(bad - (od - bd))]) +
        ") at non-singleton dimension " + std::to_string(bad) +
        ".  Target sizes: " + shape_str(out) + ".  Tensor sizes: " + shape_str(b.shape));
  }
}

std::vector<double> expand_to(const tensor_view& b, const std::vector<std::int64_t>& out) {
  check_expandable(b, out);
  const int od = static_cast<int>(out.size()), bd = b.dim();
  std::int64_t total = 1;
  for (auto s : out) total *= s;
  std::vector<double> full(static_cast<std::size_t>(total));
  // Strides of b viewed with out's rank (0 on broadcast dims).
  std::vector<std::int64_t> bstride(out.size(), 0);
  std::int64_t st = 1;
  for (int i = bd - 1; i >= 0; --i) {
    const auto bs = b.shape[static_cast<std::size_t>(i)];
    if (bs != 1) bstride[static_cast<std::size_t>(i + od - bd)] = st;
    st *= bs;
  }
  const std::vector<double> bv = dense_values(b);
  std::vector<std::int64_t> idx(out.size(), 0);
  for (std::int64_t q = 0; q < total; ++q) {
    std::int64_t src = 0;
    for (std::size_t d = 0; d < out.size(); ++d) src += idx[d] * bstride[d];
    full[static_cast<std::size_t>(q)] = bv[static_cast<std::size_t>(src)];
    for (int d = od - 1; d >= 0; --d) {
      if (++idx[static_cast<std::size_t>(d)] < out[static_cast<std::size_t>(d)]) break;
      idx[static_cast<std::size_t>(d)] = 0;
    }
  }
  return full;
}

void set_nt_bias(nt_operands& o, const tensor_view& b, const std::vector<std::int64_t>& out,
                 std::vector<double>& values) {
  check_expandable(b, out);
  bool one_row = !out.empty() && out.back() == o.n;
  for (int d = 0; one_row && d + 1 < b.dim(); ++d)
    one_row = b.shape[static_cast<std::size_t>(d)] == 1;
  if (!one_row) {
    values = expand_to(b, out);
    o.bias = values.data();
    o.bias_one_row = false;
    return;
  }
  values = dense_values(b);  // n values, or one
  o.bias = values.data();
  o.bias_one_row = true;
  o.bias_col_stride = values.size() == 1 ? 0 : 1;
}

void check_data(const tensor_view& t, const char* name) {
  std::int64_t n = 1;
  for (auto d : t.shape) {
    if (d < 0) throw input_error(std::string(name) + ": negative size in " + shape_str(t.shape));
    n *= d;
  }
  if (t.strides.size() != t.shape.size()) {
    throw input_error(std::string(name) + ": shape " + shape_str(t.shape) + " has " +
                      std::to_string(t.shape.size()) + " dims but the view has " +
                      std::to_string(t.strides.size()) + " strides");
  }
  if (n > 0 && t.data == nullptr) {
    throw input_error(std::string(name) + ": shape " + shape_str(t.shape) + " needs " +
                      std::to_string(n) + " values, but the view has no buffer");
  }
  if (t.held < 0 || n == 0) return;
  if (t.is_contiguous()) {
    if (t.held != n) {
      throw input_error(std::string(name) + ": shape " + shape_str(t.shape) + " needs " +
                        std::to_string(n) + " values, but the tensor holds " +
                        std::to_string(t.held));
    }
    return;
  }
  std::int64_t lo = 0, hi = 0;
  for (std::size_t d = 0; d < t.shape.size(); ++d) {
    const std::int64_t span = (t.shape[d] - 1) * t.strides[d];
    (span < 0 ? lo : hi) += span;
  }
  if (lo < 0 || hi >= t.held) {
    throw input_error(std::string(name) + ": the view of shape " + shape_str(t.shape) +
                      " and strides " + shape_str(t.strides) + " reaches outside the " +
                      std::to_string(t.held) + " values its buffer holds");
  }
}

std::vector<double> dense_values(const tensor_view& t) {
  std::vector<double> v(static_cast<std::size_t>(t.numel()));
  t.read(0, t.numel(), v.data());
  return v;
}

namespace {
std::int64_t product(const std::vector<std::int64_t>& v) {
  std::int64_t p = 1;
  for (auto d : v) p *= d;
  return p;
}
// Offset (in batch units) of output batch index q in a batch shape broadcast to `out`.
std::int64_t broadcast_index(std::int64_t q, const std::vector<std::int64_t>& src,
                             const std::vector<std::int64_t>& out) {
  std::int64_t off = 0, stride = 1;
  const std::size_t od = out.size(), sd = src.size();
  for (std::size_t i = 0; i < od; ++i) {
    const std::size_t d = od - 1 - i;
    const std::int64_t idx = q % out[d];
    q /= out[d];
    if (i < sd) {
      const std::int64_t s = src[sd - 1 - i];
      if (s != 1) off += idx * stride;
      stride *= s;
    }
  }
  return off;
}
}  // namespace

namespace {

// Where bias element (output batch q, row i, column j) is: dense [out_batch..., m, n], or one row
// shared by every row and batch (strides 0). `extent`: the values it spans.
struct bias_layout {
  std::int64_t batch = 0, row = 0, col = 0, extent = 0;
  std::int64_t at(std::int64_t q, std::int64_t i, std::int64_t j) const {
    return q * batch + i * row + j * col;
  }
};
bias_layout layout_of_bias(const nt_operands& o, std::int64_t nb) {
  if (o.bias_one_row) return {0, 0, o.bias_col_stride, o.bias_col_stride == 0 ? 1 : o.n};
  return {o.m * o.n, o.n, 1, nb * o.m * o.n};
}

// Dense f64 A and B, read in place.
void run_batched_nt_dense(contraction_runner& run, const nt_operands& o, const double* a,
                          const double* b) {
  const std::int64_t nb = product(o.out_batch), na = product(o.a_batch), nbb = product(o.b_batch);
  const std::int64_t a_size = na * o.m * o.k, b_size = nbb * o.n * o.k;
  const bias_layout bl = layout_of_bias(o, nb);
  std::vector<double> a_abs, b_abs, bias_abs;
  static const double zero = 0.0;  // valid pointer for k == 0 operands
  if (run.want_magnitude()) {
    a_abs = abs_copy(a, a_size);
    b_abs = abs_copy(b, b_size);
    if (o.bias) bias_abs = abs_copy(o.bias, bl.extent);
  }
  auto ptr = [](const double* p) { return p ? p : &zero; };
  exact::gemm_problem p;
  p.m = o.m;
  p.n = o.n;
  p.k = o.k;
  p.lda = o.k;
  p.ldb = o.k;
  p.bias_row_stride = bl.row;
  p.bias_col_stride = bl.col;
  p.c_row_stride = o.n;
  p.c_col_stride = 1;
  const double* a_abs_p = a_abs.empty() ? &zero : a_abs.data();
  const double* b_abs_p = b_abs.empty() ? &zero : b_abs.data();
  auto issue = [&](std::int64_t a_off, std::int64_t b_off, std::int64_t out_off,
                   std::int64_t bias_off) {
    exact::gemm_problem q = p;
    q.a = ptr(a) + a_off;
    q.b = ptr(b) + b_off;
    q.bias = o.bias ? o.bias + bias_off : nullptr;
    q.c_offset = out_off;
    exact::gemm_problem qa = q;
    qa.a = a_abs_p + (a_abs.empty() ? 0 : a_off);
    qa.b = b_abs_p + (b_abs.empty() ? 0 : b_off);
    qa.bias = o.bias ? bias_abs.data() + bias_off : nullptr;
    run.run(q, qa);
  };
  if (nbb == 1 && na == nb) {
    // B shared by every batch: fold the batch into the rows of one product.
    p.m = nb * o.m;
    issue(0, 0, 0, 0);
  } else if ((na == nb || na == 1) && (nbb == nb || nbb == 1)) {
    p.batch = nb;
    p.a_batch_stride = na == 1 ? 0 : o.m * o.k;
    p.b_batch_stride = nbb == 1 ? 0 : o.n * o.k;
    p.bias_batch_stride = bl.batch;
    p.c_batch_stride = o.m * o.n;
    issue(0, 0, 0, 0);
  } else {
    for (std::int64_t q = 0; q < nb; ++q) {
      issue(broadcast_index(q, o.a_batch, o.out_batch) * o.m * o.k,
            broadcast_index(q, o.b_batch, o.out_batch) * o.n * o.k, q * o.m * o.n, bl.at(q, 0, 0));
    }
  }
}

// Rows [first, first + rows) (k values each) of an operand: in place when it is dense f64, else
// converted into `buf`; |rows| into `abs_buf` when the magnitude is wanted.
struct row_block {
  const double* values = nullptr;
  const double* abs = nullptr;
};
row_block load_rows(const tensor_view& t, std::int64_t first, std::int64_t count, bool want_abs,
                    std::vector<double>& buf, std::vector<double>& abs_buf) {
  static const double zero = 0.0;
  row_block r;
  if (count == 0) {
    r.values = r.abs = &zero;
    return r;
  }
  if (t.is_dense_f64()) {
    r.values = static_cast<const double*>(t.data) + first;
  } else {
    buf.resize(static_cast<std::size_t>(count));
    t.read(first, count, buf.data());
    r.values = buf.data();
  }
  if (want_abs) {
    abs_buf.resize(static_cast<std::size_t>(count));
    for (std::int64_t i = 0; i < count; ++i)
      abs_buf[static_cast<std::size_t>(i)] = std::fabs(r.values[i]);
    r.abs = abs_buf.data();
  }
  return r;
}

// Any other A or B: per output batch, blocks of rows of A and B (at most nt_tile_doubles values
// each) converted on the fly, one product per pair of blocks. Exact results do not depend on
// how the product is cut (each output is the exact sum of its k products).
void run_batched_nt_tiled(contraction_runner& run, const nt_operands& o) {
  const std::int64_t nb = product(o.out_batch);
  const std::int64_t kk = std::max<std::int64_t>(o.k, 1);
  const std::int64_t rows_a = std::max<std::int64_t>(1, nt_tile_doubles / kk);
  const std::int64_t rows_b = std::max<std::int64_t>(1, nt_tile_doubles / kk);
  const bool want_abs = run.want_magnitude();
  const bias_layout bl = layout_of_bias(o, nb);
  std::vector<double> bias_abs;
  if (want_abs && o.bias) bias_abs = abs_copy(o.bias, bl.extent);
  std::vector<double> a_buf, a_abs, b_buf, b_abs;
  for (std::int64_t q = 0; q < nb; ++q) {
    const std::int64_t a_off = broadcast_index(q, o.a_batch, o.out_batch) * o.m * o.k;
    const std::int64_t b_off = broadcast_index(q, o.b_batch, o.out_batch) * o.n * o.k;
    const std::int64_t out_off = q * o.m * o.n;
    for (std::int64_t j0 = 0; j0 < o.n; j0 += rows_b) {
      const std::int64_t nj = std::min(rows_b, o.n - j0);
      const row_block bb = load_rows(o.b, b_off + j0 * o.k, nj * o.k, want_abs, b_buf, b_abs);
      for (std::int64_t i0 = 0; i0 < o.m; i0 += rows_a) {
        const std::int64_t ni = std::min(rows_a, o.m - i0);
        const row_block ab = load_rows(o.a, a_off + i0 * o.k, ni * o.k, want_abs, a_buf, a_abs);
        exact::gemm_problem p;
        p.m = ni;
        p.n = nj;
        p.k = o.k;
        p.a = ab.values;
        p.lda = o.k;
        p.b = bb.values;
        p.ldb = o.k;
        const std::int64_t c = out_off + i0 * o.n + j0;
        const std::int64_t bias_off = bl.at(q, i0, j0);
        p.bias = o.bias ? o.bias + bias_off : nullptr;
        p.bias_row_stride = bl.row;
        p.bias_col_stride = bl.col;
        p.c_offset = c;
        p.c_row_stride = o.n;
        p.c_col_stride = 1;
        exact::gemm_problem pa = p;
        if (want_abs) {
          pa.a = ab.abs;
          pa.b = bb.abs;
          pa.bias = o.bias ? bias_abs.data() + bias_off : nullptr;
        }
        run.run(p, pa);
      }
    }
  }
}

}  // namespace

void run_batched_nt(contraction_runner& run, const nt_operands& o) {
  const std::int64_t nb = product(o.out_batch);
  if (nb == 0 || o.m == 0 || o.n == 0) return;
  if (o.a.is_dense_f64() && o.b.is_dense_f64()) {
    run_batched_nt_dense(run, o, static_cast<const double*>(o.a.data),
                         static_cast<const double*>(o.b.data));
    return;
  }
  // Small operands: converted whole (within one tile each), then the batched dense path.
  const std::int64_t a_size = product(o.a_batch) * o.m * o.k;
  const std::int64_t b_size = product(o.b_batch) * o.n * o.k;
  if (a_size <= nt_tile_doubles && b_size <= nt_tile_doubles) {
    std::vector<double> a_buf, b_buf;
    const double* a = static_cast<const double*>(o.a.data);
    const double* b = static_cast<const double*>(o.b.data);
    if (!o.a.is_dense_f64()) a = (a_buf = dense_values(o.a)).data();
    if (!o.b.is_dense_f64()) b = (b_buf = dense_values(o.b)).data();
    run_batched_nt_dense(run, o, a, b);
    return;
  }
  run_batched_nt_tiled(run, o);
}

op_result run_nt_op(const std::vector<std::int64_t>& out, const nt_operands& o, bool has_bias,
                    const reference_options& opt) {
  op_result r;
  r.has_bias = has_bias;
  contraction_runner run(r, out, opt);
  run_batched_nt(run, o);
  run.finish();
  r.terms = term_counts::uniform(r.exact.size(), o.k);
  r.data_terms = r.terms;
  return r;
}

std::vector<double> transpose_last2(const tensor_view& w, std::int64_t batch, std::int64_t k,
                                    std::int64_t n) {
  std::vector<double> t(static_cast<std::size_t>(batch * k * n));
  std::vector<double> row(static_cast<std::size_t>(n));
  for (std::int64_t b = 0; b < batch; ++b) {
    double* dst = t.data() + b * k * n;
    for (std::int64_t kk = 0; kk < k; ++kk) {
      w.read((b * k + kk) * n, n, row.data());
      for (std::int64_t j = 0; j < n; ++j) dst[j * k + kk] = row[static_cast<std::size_t>(j)];
    }
  }
  return t;
}

}  // namespace roundoff::ops::detail
