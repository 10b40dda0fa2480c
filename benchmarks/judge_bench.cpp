// The C++ side of the Python package's benchmark (issue 12, "Tests and numbers"): the work of
// `roundoff.check` on the seed shape, done by a C++ user who holds the same float32 buffers.
// Before timing, reads x, w, b and two outputs from .npy files (the Python side writes them) into
// float32 buffers. Each timed call then does what `roundoff.check(...)` does after its argument
// checks: views the buffers (tensor_view over the f32 data, no copy), checks the output shapes
// (ops::output_shape), fills the report's header and params, runs verdicts::judge (every output
// against the exact result, the pair against each other, declared f32, the same options),
// searches tensor-core emulations (backends::tc::bit_identical_description, as `roundoff check`
// and the package do) and takes the exit code (`report.ok`).
//
//   roundoff_bench_judge DIR [--threads N] [--reps R]   one line "judge seconds (threads N):" and
//                                                        R wall-clock times
//   roundoff_bench_judge DIR [--threads N] --serve       reads a count C per stdin line, answers
//                                                        one line of C "wall,cpu" pairs (seconds)
//   --malloc-pinned   glibc's mmap threshold 32 MiB and trim threshold 64 MiB (mallopt), the
//                     policy python_check_bench.py also sets in its own process by default
//
// --serve lets benchmarks/python_check_bench.py alternate blocks of C++ and Python calls with
// both processes in their steady state (no process start or first call inside a C++ block).
// --malloc-pinned: glibc adapts its thresholds to the sizes freed so far (a free of an mmapped
// block raises them), and `check` allocates and frees tens of MB per call, so two processes
// doing the same calls can differ by 0 vs 50,000 page faults per call just by their history
// (benchmarks/README.md); pinning the thresholds in both makes them comparable.
#include <malloc.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "bench_timing.hpp"
#include "roundoff/backends/tc_emulation.hpp"
#include "roundoff/ops/op.hpp"
#include "roundoff/tensor_view.hpp"
#include "roundoff/verdicts/judge.hpp"

namespace {

using roundoff::tensor_view;

// A caller's float32 buffer and its shape (the values of an f32 .npy file, exactly).
struct f32_buffer {
  std::vector<float> values;
  std::vector<std::int64_t> shape;
};

// Reads a float32 .npy file (as numpy.save writes it: C order, little-endian '<f4') straight
// into the buffer, with no temporary copy: a large block freed before timing would raise
// glibc's malloc thresholds in this process only (see --malloc-pinned above).
f32_buffer read_f32(const std::string& file) {
  auto fail = [&](const char* why) {
    std::fprintf(stderr, "%s: %s\n", file.c_str(), why);
    std::exit(2);
  };
  std::ifstream in(file, std::ios::binary);
  char magic[8];
  if (!in.read(magic, 8) || std::string(magic + 1, 5) != "NUMPY") fail("not a .npy file");
  std::uint32_t header_len = 0;
  unsigned char len[4] = {0, 0, 0, 0};
  if (!in.read(reinterpret_cast<char*>(len), magic[6] == 1 ? 2 : 4)) fail("truncated header");
  for (int i = 3; i >= 0; --i) header_len = header_len << 8 | len[i];
  std::string header(header_len, '\0');
  if (!in.read(header.data(), header_len)) fail("truncated header");
  if (header.find("'descr': '<f4'") == std::string::npos ||
      header.find("'fortran_order': False") == std::string::npos)
    fail("expected C-order little-endian float32 values");
  f32_buffer b;
  std::size_t p = header.find("'shape': (");
  if (p == std::string::npos) fail("no shape");
  p += 10;
  std::int64_t n = 1;
  while (p < header.size() && header[p] != ')') {
    if (std::isdigit(static_cast<unsigned char>(header[p]))) {
      std::size_t used = 0;
      b.shape.push_back(std::stoll(header.substr(p), &used));
      n *= b.shape.back();
      p += used;
    } else {
      ++p;
    }
  }
  b.values.resize(static_cast<std::size_t>(n));
  if (!in.read(reinterpret_cast<char*>(b.values.data()),
               static_cast<std::streamsize>(n * sizeof(float))))
    fail("truncated data");
  return b;
}

struct seed_case {
  f32_buffer x, w, b, y1, y2;
};

// One `roundoff.check("linear", x, W, b, outputs={...}, declared="f32", threads=N).ok`.
bool check_once(const seed_case& s, int threads) {
  namespace ro = roundoff;
  const tensor_view x(s.x.values.data(), s.x.shape), w(s.w.values.data(), s.w.shape),
      b(s.b.values.data(), s.b.shape);
  const ro::ops::op_spec spec(ro::ops::op_kind::linear);
  const std::vector<std::int64_t> out_shape = ro::ops::output_shape({spec, x, w, &b});
  const std::vector<ro::verdicts::judged_output> outs = {
      {"F.linear", "f32", tensor_view(s.y1.values.data(), s.y1.shape), {}},
      {"matmul_add", "f32", tensor_view(s.y2.values.data(), s.y2.shape), {}}};
  for (const auto& o : outs)
    if (o.observed.shape != out_shape) std::exit(3);
  ro::report::results r;
  r.command = "check";
  r.op = "linear";
  r.params = {{"input_shape", x.shape},    {"input_format", std::string("f32")},
              {"weight_shape", w.shape},   {"weight_format", std::string("f32")},
              {"bias_shape", b.shape},     {"bias_format", std::string("f32")},
              {"output_shape", out_shape}, {"declared", std::string("f32")},
              {"confidence", 1e-6}};
  r.reference = {"fast", true};
  ro::verdicts::judge_options jo;
  jo.threads = threads;
  ro::verdicts::judge({spec, x, w, &b}, outs, ro::verdicts::all_pairs(outs.size()), jo, r);
  for (std::size_t i = 0; i < outs.size(); ++i)
    r.items[i].bit_identical_to = ro::backends::tc::bit_identical_description(
        spec, x, w, &b, outs[i].observed, r.items[i].declared, r.items[i].consistent_models,
        threads);
  if (r.items.size() != 2 || r.comparisons.size() != 1) std::exit(3);
  return ro::verdicts::finding_exit_code(r, false) == 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: roundoff_bench_judge DIR [--threads N] [--reps R | --serve]\n");
    return 2;
  }
  const std::string dir = argv[1];
  int threads = 1, reps = 3;
  bool serve = false;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--serve") serve = true;
    if (a == "--malloc-pinned") {
      mallopt(M_MMAP_THRESHOLD, 32 << 20);
      mallopt(M_TRIM_THRESHOLD, 64 << 20);
    }
    if (a == "--threads" && i + 1 < argc) threads = std::atoi(argv[++i]);
    if (a == "--reps" && i + 1 < argc) reps = std::atoi(argv[++i]);
  }
  const seed_case s{read_f32(dir + "/x.npy"), read_f32(dir + "/w.npy"), read_f32(dir + "/b.npy"),
                    read_f32(dir + "/y1.npy"), read_f32(dir + "/y2.npy")};
  auto timed = [&] {
    const double c0 = roundoff::bench::cpu_now();
    const auto t0 = std::chrono::steady_clock::now();
    if (!check_once(s, threads)) std::exit(4);  // the seed outputs are consistent
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return std::make_pair(wall, roundoff::bench::cpu_now() - c0);
  };
  if (serve) {
    std::string line;
    while (std::getline(std::cin, line)) {
      const int n = std::atoi(line.c_str());
      for (int r = 0; r < n; ++r) {
        const auto [wall, cpu] = timed();
        std::printf("%s%.6f,%.6f", r ? " " : "", wall, cpu);
      }
      std::printf("\n");
      std::fflush(stdout);
    }
    return 0;
  }
  std::printf("judge seconds (threads %d):", threads);
  for (int r = 0; r < reps; ++r) std::printf(" %.6f", timed().first);
  std::printf("\n");
  return 0;
}
