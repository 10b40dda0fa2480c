// Timing helpers shared by the benchmarks: wall clock and process CPU time of repeated calls,
// reported as medians.
#pragma once

#include <algorithm>
#include <chrono>
#include <ctime>
#include <vector>

namespace roundoff::bench {

/// CPU time of the process (summed over its threads), seconds.
inline double cpu_now() {
  timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

struct timing {
  double wall = 0, cpu = 0;  // medians over the repetitions, seconds (cpu: see cpu_now)
};

/// The upper median (v[n/2] of the sorted values); v must not be empty.
inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

/// Calls f() reps times; the medians of its wall-clock and CPU times.
template <class F>
timing measure(int reps, F&& f) {
  using clk = std::chrono::steady_clock;
  std::vector<double> w, c;
  for (int r = 0; r < reps; ++r) {
    const double c0 = cpu_now();
    const auto t0 = clk::now();
    f();
    w.push_back(std::chrono::duration<double>(clk::now() - t0).count());
    c.push_back(cpu_now() - c0);
  }
  return {median(w), median(c)};
}

}  // namespace roundoff::bench
