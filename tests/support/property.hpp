// Replayable randomized testing (Arb's t-*.c habit): every property test draws its seed from
// ROUNDOFF_TEST_SEED (or the clock), prints it, and scales its iteration count by
// ROUNDOFF_TEST_MULTIPLIER. A failure message carries the seed needed to replay it.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <random>
#include <string>

#include <gtest/gtest.h>

namespace roundoff::test {

/// The run's base seed: ROUNDOFF_TEST_SEED when set, else derived from the clock. Printed once.
inline std::uint64_t base_seed() {
  static const std::uint64_t seed = [] {
    std::uint64_t s;
    if (const char* e = std::getenv("ROUNDOFF_TEST_SEED"); e && *e) {
      s = std::strtoull(e, nullptr, 0);
    } else {
      s = static_cast<std::uint64_t>(
          std::chrono::high_resolution_clock::now().time_since_epoch().count());
    }
    std::cerr << "[roundoff] ROUNDOFF_TEST_SEED=" << s << '\n';
    return s;
  }();
  return seed;
}

/// ROUNDOFF_TEST_MULTIPLIER (default 1.0); iteration counts are scaled by it.
inline double multiplier() {
  static const double m = [] {
    const char* e = std::getenv("ROUNDOFF_TEST_MULTIPLIER");
    double v = e && *e ? std::strtod(e, nullptr) : 1.0;
    return v > 0 ? v : 1.0;
  }();
  return m;
}

/// Scaled iteration count, at least 1.
inline std::int64_t iterations(std::int64_t base) {
  auto n = static_cast<std::int64_t>(static_cast<double>(base) * multiplier());
  return n < 1 ? 1 : n;
}

/// A generator seeded from the base seed and a per-test salt (so tests are independent but
/// all replay from one printed seed).
inline std::mt19937_64 rng(std::uint64_t salt) {
  std::seed_seq seq{base_seed(), salt};
  return std::mt19937_64(seq);
}

/// Text to append to a failing assertion so that it can be replayed.
inline std::string replay(std::int64_t iteration) {
  return "replay with ROUNDOFF_TEST_SEED=" + std::to_string(base_seed()) + " (iteration " +
         std::to_string(iteration) + ")";
}

}  // namespace roundoff::test
