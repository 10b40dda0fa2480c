// libFuzzer target for the .npz reader (io::parse_npz / npz_members). An input starting with
// "PK" is taken as an archive as it is; any other input is [mode byte][.npy bytes], wrapped here
// into a valid archive (member "x.npy", stored or deflated by the mode's low bit) so the fuzzer
// reaches the member path past the CRCs. Differential oracle for wrapped inputs: parse_npz must
// agree with parse_npy on the same bytes (both refuse, or both return the same bits). Any
// exception other than input_error and any sanitizer report is a finding.
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>

#include "fuzz_zip.hpp"
#include "roundoff/error.hpp"
#include "roundoff/io/npy.hpp"
#include "roundoff/io/npz.hpp"

namespace {

void check(const roundoff::tensor& t) {
  if (static_cast<std::size_t>(t.numel()) != t.data.size()) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace roundoff;
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  if (size >= 2 && data[0] == 'P' && data[1] == 'K') {
    try {
      for (const auto& m : io::npz_members(bytes, "fuzz.npz")) {
        try {
          check(io::parse_npz(bytes, "fuzz.npz", m));
        } catch (const input_error&) {
        }
      }
      check(io::parse_npz(bytes, "fuzz.npz"));
    } catch (const input_error&) {
    }
    return 0;
  }
  if (size < 1) return 0;
  const std::vector<std::byte> npy(bytes.begin() + 1, bytes.end());
  const std::vector<std::byte> z = fuzz::make_zip({{"x.npy", npy}}, (data[0] & 1) != 0);
  if (z.empty()) return 0;
  tensor a, b;
  bool a_ok = true, b_ok = true;
  try {
    a = io::parse_npy(npy, "x.npy");
  } catch (const input_error&) {
    a_ok = false;
  }
  try {
    b = io::parse_npz(z, "fuzz.npz", (data[0] & 2) ? "x" : "");
  } catch (const input_error&) {
    b_ok = false;
  }
  if (a_ok != b_ok) std::abort();
  if (a_ok) {
    check(b);
    if (a.shape != b.shape || a.type != b.type || a.data.size() != b.data.size()) std::abort();
    for (std::size_t i = 0; i < a.data.size(); ++i)
      if (std::bit_cast<std::uint64_t>(a.data[i]) != std::bit_cast<std::uint64_t>(b.data[i]))
        std::abort();
  }
  return 0;
}
