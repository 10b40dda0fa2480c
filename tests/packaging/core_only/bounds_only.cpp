// The deterministic bound of one f32 dot product through the installed roundoff::bounds formulas
// (no exact engine, no oracle): 1000 terms of magnitude sum 1000 in f32, any order. The bound is
// at least gamma_1000(2^-24) * 1000 (docs/bounds.md, Theorem B); exits 1 when it is not.
#include <cstdio>

#include <roundoff/bounds/bounds.hpp>

int main() {
  namespace b = roundoff::bounds;
  const b::arithmetic_model m = b::parse_model("f32");
  b::element_input e;
  e.terms = 1000;
  e.magnitude = 1000;
  const double bound = b::dot_bound_any_order(m, e);
  const double floor = b::gamma(1000, 0x1p-24) * 1000;
  std::printf("dot_bound_any_order(f32, n = 1000, T = 1000) = %.17g\n", bound);
  return bound >= floor && bound < 1 ? 0 : 1;
}
