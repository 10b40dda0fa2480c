// Is this divergence a bug or expected rounding? Three lines with roundoff::verdicts::check.
//
// Builds y = x W^T + b in float32 the plain way, then the same with TF32-rounded inputs (what
// allow_tf32 does on a GPU), then with one bug, and prints roundoff's verdict on each.
#include <cstdio>
#include <random>

#include <roundoff/roundoff.hpp>

using roundoff::format_id;
using roundoff::tensor;

static tensor linear_f32(const tensor& x, const tensor& w, const tensor& b, format_id inputs) {
  const auto M = x.shape[0], K = x.shape[1], N = w.shape[0];
  tensor y{{M, N}, {}, format_id::f32};
  for (std::int64_t i = 0; i < M; ++i)
    for (std::int64_t n = 0; n < N; ++n) {
      float s = 0;
      for (std::int64_t k = 0; k < K; ++k) {
        float xv = static_cast<float>(roundoff::round_to(inputs, x.data[i * K + k]));
        float wv = static_cast<float>(roundoff::round_to(inputs, w.data[n * K + k]));
        s = static_cast<float>(s + static_cast<double>(xv) * wv);  // exact product, f32 sum
      }
      y.data.push_back(static_cast<float>(s + static_cast<float>(b.data[n])));
    }
  return y;
}

int main() {
  const std::int64_t M = 16, N = 64, K = 4096;
  std::mt19937_64 g(1);
  std::normal_distribution<float> nd;
  tensor x{{M, K}, {}, format_id::f32}, w{{N, K}, {}, format_id::f32}, b{{N}, {}, format_id::f32};
  for (std::int64_t i = 0; i < M * K; ++i) x.data.push_back(nd(g));
  for (std::int64_t i = 0; i < N * K; ++i) w.data.push_back(nd(g));
  for (std::int64_t i = 0; i < N; ++i) b.data.push_back(nd(g));

  tensor y_cpu = linear_f32(x, w, b, format_id::f32);
  tensor y_tf32 = linear_f32(x, w, b, format_id::tf32);
  tensor y_bug = y_cpu;
  y_bug.data[100] += 0.25;

  // The problem: the op and views of x, w, b (tensor_view: no copies; any caller's buffer works,
  // e.g. roundoff::tensor_view(ptr, {M, K}) over a float array).
  const roundoff::ops::problem p{roundoff::ops::op_kind::linear, x, w, &b};
  for (auto* y : {&y_cpu, &y_tf32, &y_bug}) {
    // The three lines: problem + observed output + declared model -> verdict.
    roundoff::verdicts::verdict v = roundoff::verdicts::check(p, *y, "f32");
    std::printf("%-10s %s\n", std::string(to_string(v.kind)).c_str(), v.explanation.c_str());
    if (!v.effective_model.empty())
      std::printf("           effective arithmetic: %s\n", v.effective_model.c_str());
  }
  // CPU vs GPU directly: is their difference explained by f32 and tf32 rounding together?
  auto c = roundoff::verdicts::compare(p, y_cpu, "f32", y_tf32, "tf32");
  std::printf("compare    %s\n", c.explanation.c_str());
  return 0;
}
