// libFuzzer target for the .npy parser (io::parse_npy, the path read_npy takes after reading a
// file). Any exception other than input_error, any sanitizer report, and any allocation above
// libFuzzer's -malloc_limit_mb is a finding. A successful parse must survive a write/read
// round trip bit for bit.
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "roundoff/error.hpp"
#include "roundoff/io/npy.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  roundoff::tensor t;
  try {
    t = roundoff::io::parse_npy(bytes, "fuzz.npy");
  } catch (const roundoff::input_error&) {
    return 0;
  }
  if (static_cast<std::size_t>(t.numel()) != t.data.size()) std::abort();
  const roundoff::tensor back =
      roundoff::io::parse_npy(roundoff::io::encode_npy(t), "round-trip.npy");
  if (back.shape != t.shape || back.data.size() != t.data.size()) std::abort();
  for (std::size_t i = 0; i < t.data.size(); ++i)
    if (std::bit_cast<std::uint64_t>(back.data[i]) != std::bit_cast<std::uint64_t>(t.data[i]))
      std::abort();
  return 0;
}
