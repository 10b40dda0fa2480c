#include "roundoff/verdicts/inputs.hpp"

#include <cmath>
#include <numbers>
#include <string>

#include "roundoff/error.hpp"
#include "roundoff/formats/format.hpp"

namespace roundoff::verdicts {

namespace {

// splitmix64 (Steele, Lea, Flood 2014): tiny, fast, and the same on every platform.
struct splitmix64 {
  std::uint64_t s;
  std::uint64_t next() {
    std::uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform01() { return static_cast<double>(next() >> 11) * 0x1p-53; }  // [0, 1)
};

tensor draw(const std::vector<std::int64_t>& shape, distribution d, splitmix64& g, format_id type) {
  tensor t;
  t.shape = shape;
  t.type = type;
  t.data.resize(static_cast<std::size_t>(t.numel()));
  for (auto& v : t.data) {
    double x = 0;
    switch (d) {
      case distribution::normal: {
        const double u1 = 1.0 - g.uniform01();  // (0, 1]
        const double u2 = g.uniform01();
        x = std::sqrt(-2 * std::log(u1)) * std::cos(2 * std::numbers::pi * u2);
        break;
      }
      case distribution::uniform:
        x = 2 * g.uniform01() - 1;
        break;
      case distribution::positive:
        x = g.uniform01();
        break;
    }
    v = round_to(type, x);
  }
  return t;
}

}  // namespace

distribution parse_distribution(std::string_view name) {
  if (name == "normal") return distribution::normal;
  if (name == "uniform") return distribution::uniform;
  if (name == "positive") return distribution::positive;
  throw argument_error("dist", "unknown distribution '" + std::string(name) +
                                   "' (known: normal, uniform, positive)");
}

generated_inputs generate_inputs(const std::vector<std::int64_t>& x_shape,
                                 const std::vector<std::int64_t>& w_shape,
                                 const std::vector<std::int64_t>& b_shape, bool has_bias,
                                 distribution d, std::uint64_t seed, format_id type) {
  splitmix64 g{seed};
  generated_inputs in;
  in.x = draw(x_shape, d, g, type);
  in.w = draw(w_shape, d, g, type);
  if (has_bias) in.b = draw(b_shape, d, g, type);
  return in;
}

}  // namespace roundoff::verdicts
