// The C++ side of the Python package's benchmark (issue 12, "Tests and numbers"): the work of
// `roundoff.check` on the seed shape, done by C++ alone. Reads x, w, b and two outputs from
// .npy files (before timing; the Python side writes them), then times verdicts::judge, the
// kernel behind `roundoff check` and `roundoff.check`, on them: every output against the exact
// result and the pair against each other, declared f32. Prints one line of wall-clock seconds
// per repetition; benchmarks/python_check_bench.py runs it next to the Python call and
// benchmarks/README.md records the ratio.
//
//   roundoff_bench_judge DIR [--threads N] [--reps R]    (DIR holds x.npy w.npy b.npy y1.npy
//   y2.npy)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "roundoff/io/npy.hpp"
#include "roundoff/ops/op.hpp"
#include "roundoff/verdicts/judge.hpp"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: roundoff_bench_judge DIR [--threads N] [--reps R]\n");
    return 2;
  }
  const std::string dir = argv[1];
  int threads = 1, reps = 3;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--threads") threads = std::atoi(argv[i + 1]);
    if (a == "--reps") reps = std::atoi(argv[i + 1]);
  }
  using roundoff::tensor;
  const tensor x = roundoff::io::read_npy(dir + "/x.npy");
  const tensor w = roundoff::io::read_npy(dir + "/w.npy");
  const tensor b = roundoff::io::read_npy(dir + "/b.npy");
  const tensor y1 = roundoff::io::read_npy(dir + "/y1.npy");
  const tensor y2 = roundoff::io::read_npy(dir + "/y2.npy");
  const roundoff::ops::op_spec spec(roundoff::ops::op_kind::linear);
  const std::vector<roundoff::verdicts::judged_output> outs = {{"F.linear", "f32", y1, {}},
                                                               {"matmul_add", "f32", y2, {}}};
  roundoff::verdicts::judge_options jo;
  jo.threads = threads;
  std::printf("judge seconds (threads %d):", threads);
  for (int r = 0; r < reps; ++r) {
    roundoff::report::results res;
    const auto t0 = std::chrono::steady_clock::now();
    roundoff::verdicts::judge({spec, x, w, &b}, outs, roundoff::verdicts::all_pairs(outs.size()),
                              jo, res);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (res.items.size() != 2 || res.items[0].verdict.empty()) return 3;
    std::printf(" %.6f", s);
  }
  std::printf("\n");
  return 0;
}
