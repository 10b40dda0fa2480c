// A linear problem y = x W^T + b (x: M x K, W: N x K, b: N), its emulated implementation, and
// faults planted in a computed y, shared by the verdict tests and the allclose comparison table.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "emulate.hpp"
#include "roundoff/bounds/models.hpp"
#include "roundoff/formats/format.hpp"
#include "roundoff/tensor.hpp"

namespace roundoff::test {

struct linear_problem {
  tensor x, w, b;
  std::int64_t M = 0, N = 0, K = 0;
};

inline emulator make_emulator(const std::string& model, algo a, std::int64_t block) {
  emulator e;
  e.m = bounds::parse_model(model);
  e.alg = a;
  e.block = block;
  // The first conversion the model allows (tf32-rna: ties away).
  for (conversion c : {conversion::nearest_even, conversion::nearest_away, conversion::toward_zero})
    if (e.m.conversions & bounds::conversion_bit(c)) {
      e.conv = c;
      break;
    }
  return e;
}

// y = x W^T + b computed by the emulator, element by element (inputs rounded to the model's
// input format first, as the implementation would).
inline tensor run(const linear_problem& p, const emulator& e, std::mt19937_64& g,
                  bool bias = true) {
  tensor y;
  y.shape = {p.M, p.N};
  y.type = e.m.output;
  y.data.resize(static_cast<std::size_t>(p.M * p.N));
  std::vector<double> xr(static_cast<std::size_t>(p.K)), wr(xr.size());
  for (std::int64_t i = 0; i < p.M; ++i)
    for (std::int64_t n = 0; n < p.N; ++n) {
      for (std::int64_t k = 0; k < p.K; ++k) {
        xr[static_cast<std::size_t>(k)] =
            e.convert_input(p.x.data[static_cast<std::size_t>(i * p.K + k)]);
        wr[static_cast<std::size_t>(k)] =
            e.convert_input(p.w.data[static_cast<std::size_t>(n * p.K + k)]);
      }
      std::optional<double> b;
      if (bias) b = round_to(e.m.bias_format, p.b.data[static_cast<std::size_t>(n)]);
      y.data[static_cast<std::size_t>(i * p.N + n)] = e.run(xr, wr, b, g);
    }
  return y;
}

// A planted fault: damages the computed outputs y of p in place.
using plant_fn = std::function<void(linear_problem&, tensor&, std::mt19937_64&)>;

// Index k of the product x[i,k] w[n,k] with the largest magnitude feeding output (i, n).
inline std::int64_t largest_term(const linear_problem& p, std::int64_t i, std::int64_t n) {
  std::int64_t best = 0;
  double bv = -1;
  for (std::int64_t k = 0; k < p.K; ++k) {
    double v = std::fabs(p.x.data[static_cast<std::size_t>(i * p.K + k)] *
                         p.w.data[static_cast<std::size_t>(n * p.K + k)]);
    if (v > bv) bv = v, best = k;
  }
  return best;
}

// Output (i, n) without its largest term.
inline plant_fn dropped_term(std::int64_t i, std::int64_t n) {
  return [i, n](linear_problem& p, tensor& y, std::mt19937_64&) {
    std::int64_t k = largest_term(p, i, n);
    y.data[static_cast<std::size_t>(i * p.N + n)] -=
        p.x.data[static_cast<std::size_t>(i * p.K + k)] *
        p.w.data[static_cast<std::size_t>(n * p.K + k)];
  };
}

// Output (i, n) with the sign of its largest term flipped.
inline plant_fn sign_flip(std::int64_t i, std::int64_t n) {
  return [i, n](linear_problem& p, tensor& y, std::mt19937_64&) {
    std::int64_t k = largest_term(p, i, n);
    y.data[static_cast<std::size_t>(i * p.N + n)] -=
        2 * p.x.data[static_cast<std::size_t>(i * p.K + k)] *
        p.w.data[static_cast<std::size_t>(n * p.K + k)];
  };
}

// Every output with the bias added `times` more times (-1: bias missing, +1: bias doubled).
inline plant_fn extra_bias(double times) {
  return [times](linear_problem& p, tensor& y, std::mt19937_64&) {
    for (std::int64_t i = 0; i < p.M; ++i)
      for (std::int64_t n = 0; n < p.N; ++n)
        y.data[static_cast<std::size_t>(i * p.N + n)] +=
            times * p.b.data[static_cast<std::size_t>(n)];
  };
}

// Output column `col` computed (by e) with weight row `row` in place of its own.
inline plant_fn wrong_weight_row(std::int64_t col, std::int64_t row, emulator e) {
  return [col, row, e](linear_problem& p, tensor& y, std::mt19937_64& g) {
    linear_problem q = p;
    for (std::int64_t k = 0; k < p.K; ++k)
      q.w.data[static_cast<std::size_t>(col * p.K + k)] =
          p.w.data[static_cast<std::size_t>(row * p.K + k)];
    tensor yq = run(q, e, g);
    for (std::int64_t i = 0; i < p.M; ++i)
      y.data[static_cast<std::size_t>(i * p.N + col)] =
          yq.data[static_cast<std::size_t>(i * p.N + col)];
  };
}

// The output of largest magnitude times (1 + rel), rounded to float.
inline plant_fn perturbed_largest(double rel) {
  return [rel](linear_problem&, tensor& y, std::mt19937_64&) {
    std::size_t best = 0;
    for (std::size_t i = 0; i < y.data.size(); ++i)
      if (std::fabs(y.data[i]) > std::fabs(y.data[best])) best = i;
    y.data[best] = static_cast<double>(static_cast<float>(y.data[best] * (1 + rel)));
  };
}

// Outputs (i, n) for i in [4, 8), n in [8, 16) set to 0.
inline plant_fn zeroed_4x8_tile() {
  return [](linear_problem& p, tensor& y, std::mt19937_64&) {
    for (std::int64_t i = 4; i < 8; ++i)
      for (std::int64_t n = 8; n < 16; ++n) y.data[static_cast<std::size_t>(i * p.N + n)] = 0;
  };
}

}  // namespace roundoff::test
