// Test-only backends that are wrong on purpose (docs/backends.md, "Planted backends"). They exist
// in the built-in registry only when ROUNDOFF_TEST_PLANTED_BACKENDS=1, so that tests of exit codes
// and reports get a violation with a known cause on every machine, instead of relying on how a
// third-party kernel happens to compute on the CPU that runs them.
#include <cstdlib>
#include <string_view>

#include "detail.hpp"

namespace roundoff::backends::detail {
namespace {

using i64 = std::int64_t;

// naive.cpu.sequential.f32 without the first product of every dot: s = (x1 w1 + x2 w2) + ...,
// then + bias. For K >= 2 on random data the missing |x0 w0| is far beyond f32 rounding.
class dropped_term_backend final : public gemm_backend {
 public:
  explicit dropped_term_backend(const descriptor& d)
      : gemm_backend(parse_backend_name(d.name), d.model, d.storage, d.ops) {}
  availability available() const override { return {true, {}}; }

 protected:
  void run_gemm(const gemm_lowering& L, const run_options&, std::vector<double>& out,
                run_info& info) const override {
    info.device = "cpu";
    info.thread_library = "none";
    info.threads = 1;
    info.notes = "planted fault: drops the first product of every dot (test only)";
    auto t0 = std::chrono::steady_clock::now();
    for (i64 p = 0; p < L.count; ++p) {
      const double* a = L.a_data.data() + L.a_off[static_cast<std::size_t>(p)];
      const double* b = L.b_data.data() + L.b_off[static_cast<std::size_t>(p)];
      for (i64 i = 0; i < L.m; ++i)
        for (i64 j = 0; j < L.n; ++j) {
          const auto o = static_cast<std::size_t>(
              L.out_index[static_cast<std::size_t>((p * L.m + i) * L.n + j)]);
          float s = 0.0f;
          for (i64 k = 1; k < L.k; ++k)
            s = s + static_cast<float>(a[i * L.k + k]) * static_cast<float>(b[j * L.k + k]);
          if (!L.bias.empty()) s = s + static_cast<float>(L.bias[o]);
          out[o] = static_cast<double>(s);
        }
    }
    info.seconds = seconds_since(t0);
  }
};

}  // namespace

bool planted_backends_enabled() {
  const char* e = std::getenv("ROUNDOFF_TEST_PLANTED_BACKENDS");
  return e != nullptr && std::string_view(e) == "1";
}

std::unique_ptr<backend> make_planted_backend(const descriptor& d) {
  if (d.name == "planted.cpu.dropped_term.f32") return std::make_unique<dropped_term_backend>(d);
  return nullptr;
}

}  // namespace roundoff::backends::detail
