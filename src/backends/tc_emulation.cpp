// The sm_90 tensor-core emulation (docs/tensor-cores.md): one block FMA, the GEMM orders, and the
// bit-for-bit search that `check` uses. Integer arithmetic on aligned significands, so the result
// does not depend on the host's floating-point rounding: every double operation below is exact
// (products of <= 11-bit significands, scalings by powers of two, floor, sums below 2^53).
#include "roundoff/backends/tc_emulation.hpp"

#include <algorithm>
#include <atomic>
#include <climits>
#include <cmath>
#include <thread>

#include "lowering.hpp"
#include "roundoff/error.hpp"
#include "roundoff/formats/format.hpp"

namespace roundoff::backends::tc {

namespace {

using i64 = std::int64_t;

constexpr int f32_emin = -126;
// Lowest alignment exponent (Khattak-Mikaitis min_exp_limit for f32 output): f32's emin minus
// its 7 alignment bits below the subnormal range; below it the grid no longer refines.
constexpr int min_align_exponent = -133;

format_id storage_of(tc_format f) noexcept {
  switch (f) {
    case tc_format::f16:
      return format_id::f16;
    case tc_format::bf16:
      return format_id::bf16;
    case tc_format::tf32:
      break;
  }
  return format_id::tf32;
}

int input_emin(tc_format f) noexcept {
  return traits(storage_of(f)).emin;
}

// floor(log2 |v|) clamped at emin (v != 0, finite): subnormals take the format's emin.
int exponent_of(double v, int emin) noexcept {
  return std::max(std::ilogb(v), emin);
}

// The non-finite rule of the unit: NaN wins, +Inf with -Inf is NaN, else the infinity.
double special_result(const double* p, int n, double c) noexcept {
  bool pos = false, neg = false;
  auto see = [&](double v) {
    if (std::isnan(v)) pos = neg = true;  // NaN: treat as both, yields NaN
    if (v == INFINITY) pos = true;
    if (v == -INFINITY) neg = true;
  };
  for (int i = 0; i < n; ++i) see(p[i]);
  see(c);
  if (pos && neg) return NAN;
  return pos ? INFINITY : -INFINITY;
}

// The block FMA on precomputed operand exponents (ea[i], eb[i]); the shared kernel of block_fma
// and the GEMMs.
double block_kernel(const unit& u, const double* a, const double* b, const int* ea, const int* eb,
                    int n, double c) noexcept {
  double prod[64];
  int pexp[64];
  bool special = !std::isfinite(c);
  int emax = INT_MIN;
  for (int i = 0; i < n; ++i) {
    prod[i] = a[i] * b[i];  // exact: <= 22 significant bits
    pexp[i] = ea[i] + eb[i];
    if (!std::isfinite(prod[i]))
      special = true;
    else if (prod[i] != 0)
      emax = std::max(emax, pexp[i]);
  }
  if (special) return special_result(prod, n, c);
  if (c != 0) emax = std::max(emax, exponent_of(c, f32_emin));
  if (emax == INT_MIN) return 0.0;  // every product zero and c == 0
  emax = std::max(emax, min_align_exponent);
  const int lsb = emax - 23 - u.extra_bits;
  const double scale = std::ldexp(1.0, -lsb);  // exact, within double range
  // Each addend truncated toward zero on the grid 2^lsb (sign and magnitude), then summed
  // exactly: |addend| < 2^(3 + 23 + extra_bits), n + 1 <= 65 of them.
  i64 sum = 0;
  auto add = [&](double v) {
    const double m = std::floor(std::fabs(v) * scale);
    sum += v < 0 ? -static_cast<i64>(m) : static_cast<i64>(m);
  };
  for (int i = 0; i < n; ++i)
    if (prod[i] != 0) add(prod[i]);
  if (c != 0) add(c);
  const double v = std::ldexp(static_cast<double>(sum), lsb);  // exact: |sum| < 2^53
  if (std::fabs(v) >= 0x1p128) return v < 0 ? -INFINITY : INFINITY;
  return convert(format_id::f32, v, conversion::toward_zero);
}

// Inputs of a GEMM converted to the unit's format, with their exponents.
struct operand {
  std::vector<double> v;
  std::vector<int> e;
};

operand prepare(const std::vector<double>& data, const variant& var) {
  operand o;
  o.v.resize(data.size());
  o.e.resize(data.size());
  const format_id f = storage_of(var.u.input);
  const int emin = input_emin(var.u.input);
  for (std::size_t i = 0; i < data.size(); ++i) {
    const double c = convert(f, data[i], var.input_conversion);
    o.v[i] = c;
    o.e[i] = c != 0 && std::isfinite(c) ? exponent_of(c, emin) : emin;
  }
  return o;
}

// Boundaries of the split-K slices in units of blocks: slice s covers blocks [first[s],
// first[s + 1]).
std::vector<i64> slice_starts(i64 k, const variant& v) {
  const i64 blocks = (k + v.u.block - 1) / v.u.block;
  const i64 s = std::max<i64>(1, std::min<i64>(v.split_k, std::max<i64>(blocks, 1)));
  std::vector<i64> first(static_cast<std::size_t>(s + 1));
  for (i64 i = 0; i <= s; ++i)
    first[static_cast<std::size_t>(i)] = (i * blocks / s) * v.u.block;  // floor spread
  first.back() = k;
  return first;
}

double f32_add(double a, double b) noexcept {
  return round_to(format_id::f32, a + b);
}

// Output element (i, j) of product p of the lowering, as the variant computes it.
double element(const detail::gemm_lowering& L, const operand& A, const operand& B,
               const std::vector<i64>& slices, const variant& v, i64 p, i64 i, i64 j) {
  const std::size_t ao = static_cast<std::size_t>(L.a_off[static_cast<std::size_t>(p)] + i * L.k);
  const std::size_t bo = static_cast<std::size_t>(L.b_off[static_cast<std::size_t>(p)] + j * L.k);
  double acc = 0;
  for (std::size_t s = 0; s + 1 < slices.size(); ++s) {
    double c = 0;
    for (i64 k0 = slices[s]; k0 < slices[s + 1]; k0 += v.u.block) {
      const int n = static_cast<int>(std::min<i64>(v.u.block, slices[s + 1] - k0));
      const std::size_t ka = ao + static_cast<std::size_t>(k0),
                        kb = bo + static_cast<std::size_t>(k0);
      c = block_kernel(v.u, &A.v[ka], &B.v[kb], &A.e[ka], &B.e[kb], n, c);
    }
    acc = s == 0 ? c : f32_add(acc, c);
  }
  if (L.bias.empty()) return round_to(v.output, acc);
  const double bias = L.bias[static_cast<std::size_t>(
      L.out_index[static_cast<std::size_t>((p * L.m + i) * L.n + j)])];
  if (v.bias == bias_rule::epilogue) return round_to(v.output, f32_add(acc, bias));
  return round_to(v.output, f32_add(round_to(v.output, acc), bias));
}

bool is_conv(ops::op_kind k) noexcept {
  return k == ops::op_kind::conv1d || k == ops::op_kind::conv2d || k == ops::op_kind::conv3d;
}

// The lowering orders a convolution's K as (channel, tap); cuDNN's implicit GEMM as (tap,
// channel). Both operands' rows are permuted alike, so every product stays the op's own.
void to_taps_outer(detail::gemm_lowering& L, const tensor& w) {
  i64 taps = 1;
  for (std::size_t d = 2; d < w.shape.size(); ++d) taps *= w.shape[d];
  const i64 channels = L.k / std::max<i64>(taps, 1);
  if (taps <= 1 || channels <= 1) return;
  std::vector<double> row(static_cast<std::size_t>(L.k));
  auto permute = [&](std::vector<double>& data) {
    for (std::size_t r = 0; r + static_cast<std::size_t>(L.k) <= data.size();
         r += static_cast<std::size_t>(L.k)) {
      for (i64 c = 0; c < channels; ++c)
        for (i64 t = 0; t < taps; ++t)
          row[static_cast<std::size_t>(t * channels + c)] =
              data[r + static_cast<std::size_t>(c * taps + t)];
      std::copy(row.begin(), row.end(), data.begin() + static_cast<std::ptrdiff_t>(r));
    }
  };
  permute(L.a_data);  // rows of k at a_off[p] + i * k: the buffer is whole rows
  permute(L.b_data);
}

detail::gemm_lowering lower(const ops::op_spec& op, const tensor& x, const tensor& w,
                            const tensor* b, bool taps_outer) {
  if (!emulates(op.kind))
    throw input_error(
        "the sm_90 tensor-core emulation runs linear, matmul, addmm, bmm and conv1d/2d/3d, not " +
        std::string(ops::op_name(op.kind)));
  detail::gemm_lowering L = detail::lower_to_gemm(op, x, w, b);
  if (taps_outer && is_conv(op.kind)) to_taps_outer(L, w);
  return L;
}

bool same_value(double a, double b) noexcept {
  return a == b || (std::isnan(a) && std::isnan(b));
}

// Whether every output element of the variant equals y's. A first stretch runs alone (a wrong
// variant usually differs at once); the rest is cut among `threads` threads, which stop when any
// finds a difference.
bool all_equal(const detail::gemm_lowering& L, const operand& A, const operand& B,
               const std::vector<i64>& slices, const variant& v, const tensor& y, int threads) {
  const i64 total = L.count * L.m * L.n;
  auto same_at = [&](i64 e) {
    const i64 p = e / (L.m * L.n), i = e / L.n % L.m, j = e % L.n;
    const auto o = static_cast<std::size_t>(L.out_index[static_cast<std::size_t>(e)]);
    return same_value(element(L, A, B, slices, v, p, i, j), y.data[o]);
  };
  const i64 head = std::min<i64>(total, 256);
  for (i64 e = 0; e < head; ++e)
    if (!same_at(e)) return false;
  if (threads < 1) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const i64 rest = total - head;
  const int n = static_cast<int>(std::max<i64>(1, std::min<i64>(threads, rest / 4096)));
  std::atomic<bool> differs{false};
  auto work = [&](int t) {
    const i64 lo = head + rest * t / n, hi = head + rest * (t + 1) / n;
    for (i64 e = lo; e < hi && !differs.load(std::memory_order_relaxed); ++e)
      if (!same_at(e)) differs.store(true, std::memory_order_relaxed);
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < n; ++t) pool.emplace_back(work, t);
  work(0);
  for (auto& th : pool) th.join();
  return !differs.load();
}

}  // namespace

std::string_view to_string(tc_format f) noexcept {
  switch (f) {
    case tc_format::f16:
      return "f16";
    case tc_format::bf16:
      return "bf16";
    case tc_format::tf32:
      break;
  }
  return "tf32";
}

unit sm90_unit(tc_format f) noexcept {
  return {f, f == tc_format::tf32 ? 8 : 16, 2};
}

double block_fma(const unit& u, const double* a, const double* b, int n, double c) noexcept {
  n = std::clamp(n, 0, std::min(u.block, 64));
  int ea[64], eb[64];
  const int emin = input_emin(u.input);
  for (int i = 0; i < n; ++i) {
    ea[i] = a[i] != 0 && std::isfinite(a[i]) ? exponent_of(a[i], emin) : emin;
    eb[i] = b[i] != 0 && std::isfinite(b[i]) ? exponent_of(b[i], emin) : emin;
  }
  return block_kernel(u, a, b, ea, eb, n, c);
}

std::string describe(const variant& v) {
  std::string s(to_string(v.u.input));
  if (v.u.input == tc_format::tf32 && v.input_conversion != conversion::nearest_even)
    s += v.input_conversion == conversion::nearest_away ? " (inputs rounded to nearest, ties away)"
                                                        : " (inputs truncated)";
  const std::string blocks = "K-blocks of " + std::to_string(v.u.block);
  if (v.split_k <= 1)
    s += ", " + blocks + " in sequence";
  else
    s += ", split-K in " + std::to_string(v.split_k) + " slices of " + blocks + ", f32 reduction";
  if (v.output != format_id::f32)
    s += v.bias == bias_rule::epilogue ? ", output rounded to " : ", bias added after rounding to ";
  if (v.output != format_id::f32) s += std::string(traits(v.output).name);
  return s;
}

bool emulates(ops::op_kind k) noexcept {
  return k == ops::op_kind::linear || k == ops::op_kind::matmul || k == ops::op_kind::addmm ||
         k == ops::op_kind::bmm || is_conv(k);
}

tensor emulate(const ops::op_spec& op, const tensor& x, const tensor& w, const tensor* b,
               const variant& v) {
  const detail::gemm_lowering L = lower(op, x, w, b, v.taps_outer);
  const operand A = prepare(L.a_data, v), B = prepare(L.b_data, v);
  const std::vector<i64> slices = slice_starts(L.k, v);
  tensor out;
  out.shape = L.out_shape;
  out.type = v.output;
  out.data.assign(static_cast<std::size_t>(out.numel()), 0.0);
  for (i64 p = 0; p < L.count; ++p)
    for (i64 i = 0; i < L.m; ++i)
      for (i64 j = 0; j < L.n; ++j)
        out.data[static_cast<std::size_t>(
            L.out_index[static_cast<std::size_t>((p * L.m + i) * L.n + j)])] =
            element(L, A, B, slices, v, p, i, j);
  return out;
}

std::vector<variant> candidate_variants(const std::string& declared, format_id y_type) {
  std::vector<std::pair<tc_format, conversion>> units;
  const bool tf32 = declared.rfind("tf32", 0) == 0;
  if (tf32) {
    units.push_back({tc_format::tf32, conversion::nearest_even});
    units.push_back({tc_format::tf32, conversion::nearest_away});
  }
  if (declared.rfind("f16", 0) == 0 || y_type == format_id::f16)
    units.push_back({tc_format::f16, conversion::nearest_even});
  if (declared.rfind("bf16", 0) == 0 || y_type == format_id::bf16)
    units.push_back({tc_format::bf16, conversion::nearest_even});
  std::vector<variant> r;
  const format_id out = y_type == format_id::f16 || y_type == format_id::bf16 ? y_type
                        : y_type == format_id::f32                            ? format_id::f32
                                                                              : format_id::f64;
  if (out == format_id::f64) return r;  // the unit never produces anything but f32/f16/bf16
  // (an f32 output of an f16/bf16 unit may hold 16-bit values: find_bit_identical narrows it)
  for (const auto& [f, conv] : units)
    for (int split : {1, 2, 4, 8, 16})
      for (bias_rule br : {bias_rule::epilogue, bias_rule::after_output}) {
        if (br == bias_rule::after_output && out == format_id::f32 && f == tc_format::tf32)
          continue;  // the same as epilogue
        variant v;
        v.u = sm90_unit(f);
        v.input_conversion = conv;
        v.split_k = split;
        v.bias = br;
        v.output = out;
        r.push_back(v);
      }
  return r;
}

std::optional<variant> find_bit_identical(const ops::op_spec& op, const tensor& x, const tensor& w,
                                          const tensor* b, const tensor& y,
                                          const std::string& declared, std::int64_t max_products,
                                          int threads) {
  if (!emulates(op.kind)) return std::nullopt;
  const std::vector<variant> cands = candidate_variants(declared, y.type);
  if (cands.empty()) return std::nullopt;
  // The im2col lowering of a convolution holds (outputs / out-channels) x K inputs: keep it
  // below 2^26 values (512 MB).
  if (is_conv(op.kind) && w.shape.size() >= 2 && w.shape[0] > 0) {
    i64 taps = 1;
    for (std::size_t d = 2; d < w.shape.size(); ++d) taps *= w.shape[d];
    const i64 rows =
        static_cast<i64>(y.data.size()) / w.shape[0] * std::max<i64>(1, op.conv.groups);
    if (rows * w.shape[1] * taps > (i64(1) << 26)) return std::nullopt;
  }
  detail::gemm_lowering L = lower(op, x, w, b, true);
  if (static_cast<std::int64_t>(y.data.size()) != static_cast<std::int64_t>(L.out_index.size()))
    return std::nullopt;
  if (L.count > 0 && L.m > 0 && L.n > 0 &&
      L.k > max_products / std::max<i64>(1, L.count * L.m * L.n))
    return std::nullopt;
  // Inputs per (format, conversion), computed once; most candidates share them.
  std::optional<std::pair<tc_format, conversion>> key;
  operand A, B;
  // 16-bit outputs saved widened (bf16 as f32 values) are judged in the format they hold.
  auto holds = [&](format_id f) {
    return std::all_of(y.data.begin(), y.data.end(),
                       [&](double e) { return !std::isfinite(e) || round_to(f, e) == e; });
  };
  const bool holds_f16 = holds(format_id::f16), holds_bf16 = holds(format_id::bf16);
  // A 16-bit unit's op takes a 16-bit bias too (PyTorch casts all operands alike); tf32's bias
  // stays f32 (only the matrix operands are converted).
  const std::vector<double> bias_as_given = L.bias;
  std::optional<tc_format> bias_key;
  for (variant v : cands) {
    if (!L.bias.empty() && bias_key != v.u.input) {
      L.bias = bias_as_given;
      if (v.u.input != tc_format::tf32)
        for (double& e : L.bias) e = round_to(storage_of(v.u.input), e);
      bias_key = v.u.input;
    }
    if (v.output == format_id::f32 && v.u.input == tc_format::f16 && holds_f16)
      v.output = format_id::f16;
    if (v.output == format_id::f32 && v.u.input == tc_format::bf16 && holds_bf16)
      v.output = format_id::bf16;
    if (!key || key->first != v.u.input || key->second != v.input_conversion) {
      A = prepare(L.a_data, v);
      B = prepare(L.b_data, v);
      key = std::make_pair(v.u.input, v.input_conversion);
    }
    const std::vector<i64> slices = slice_starts(L.k, v);
    if (v.split_k > 1 && static_cast<i64>(slices.size()) - 1 < v.split_k) continue;  // too short
    if (all_equal(L, A, B, slices, v, y, threads)) return v;
  }
  return std::nullopt;
}

namespace {

// The preset whose matrix unit is worth emulating for an output (docs/tensor-cores.md §3):
// `declared` when it is a tf32/f16/bf16 preset, else the most precise model that explains the
// output (the identified one) when it is, else `declared` for an output stored as f16/bf16;
// empty when no unit is plausible, so plain f32 checks try nothing.
std::string unit_hint(const ops::op_spec& op, format_id y_type, const std::string& declared,
                      const std::vector<std::string>& consistent_models) {
  if (!emulates(op.kind)) return {};
  auto unit_preset = [](const std::string& m) {
    return m.rfind("tf32", 0) == 0 || m.rfind("f16", 0) == 0 || m.rfind("bf16", 0) == 0;
  };
  std::string hint = declared;
  if (!unit_preset(hint) && !consistent_models.empty() && unit_preset(consistent_models.front()))
    hint = consistent_models.front();
  if (!unit_preset(hint) && y_type != format_id::f16 && y_type != format_id::bf16) return {};
  return hint;
}

std::string describe_match(const ops::op_spec& op, const std::optional<variant>& match) {
  if (!match) return {};
  const bool conv = op.kind == ops::op_kind::conv1d || op.kind == ops::op_kind::conv2d ||
                    op.kind == ops::op_kind::conv3d;
  return "sm_90 tensor cores (" + describe(*match) +
         (conv ? ", implicit GEMM over kernel taps, then channels" : "") + ")";
}

}  // namespace

std::string bit_identical_description(const ops::op_spec& op, const tensor& x, const tensor& w,
                                      const tensor* b, const tensor& y, const std::string& declared,
                                      const std::vector<std::string>& consistent_models,
                                      int threads) {
  const std::string hint = unit_hint(op, y.type, declared, consistent_models);
  if (hint.empty()) return {};
  return describe_match(op,
                        find_bit_identical(op, x, w, b, y, hint, std::int64_t(1) << 31, threads));
}

std::string bit_identical_description(const ops::op_spec& op, const tensor_view& x,
                                      const tensor_view& w, const tensor_view* b,
                                      const tensor_view& y, const std::string& declared,
                                      const std::vector<std::string>& consistent_models,
                                      int threads) {
  const std::string hint = unit_hint(op, y.type, declared, consistent_models);
  if (hint.empty()) return {};
  // A matrix product's lowering has y.numel() outputs of x.shape.back() products each: above
  // find_bit_identical's limit nothing is tried, so nothing is copied (a ViT-B-sized layer's
  // f64 copies would take 4x its tensors' memory for no result).
  constexpr std::int64_t max_products = std::int64_t(1) << 31;
  if (!is_conv(op.kind) && !x.shape.empty() &&
      x.shape.back() > max_products / std::max<std::int64_t>(1, y.numel()))
    return {};
  // The emulation reads whole f64 tensors: copied only now that one is tried.
  const tensor xt = x.to_tensor(), wt = w.to_tensor(), yt = y.to_tensor();
  const std::optional<tensor> bt = b ? std::optional<tensor>(b->to_tensor()) : std::nullopt;
  return describe_match(
      op, find_bit_identical(op, xt, wt, bt ? &*bt : nullptr, yt, hint, max_products, threads));
}

}  // namespace roundoff::backends::tc
