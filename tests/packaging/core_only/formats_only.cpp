// Rounds 1 + 2^-11 to binary16 through the installed roundoff::formats: a tie, so nearest-even
// gives 1. Prints the result; exits 1 when it is wrong.
#include <cstdio>

#include <roundoff/formats/format.hpp>

int main() {
  const double r = roundoff::round_to(roundoff::format_id::f16, 1.0 + 0x1p-11);
  std::printf("round_to(f16, 1 + 2^-11) = %.17g\n", r);
  return r == 1.0 ? 0 : 1;
}
