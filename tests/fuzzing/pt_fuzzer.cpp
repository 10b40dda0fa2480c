// libFuzzer target for the torch.save reader (io::parse_pt / pt_keys). An input starting with
// "PK" is taken as an archive as it is. Any other input is [data.pkl]("\n--\n"[storage bytes])*,
// wrapped here into a valid torch.save archive (archive/data.pkl, archive/byteorder,
// archive/data/0, /1, ... from the segments) so the fuzzer drives the restricted pickle
// interpreter and the tensor gathering past the zip CRCs. Every key is read. Any exception other
// than input_error, any sanitizer report (leaks included), and any allocation above
// -malloc_limit_mb is a finding.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>

#include "fuzz_zip.hpp"
#include "roundoff/error.hpp"
#include "roundoff/io/torch_pickle.hpp"

namespace {

void read_all(std::span<const std::byte> bytes) {
  using namespace roundoff;
  std::vector<std::string> keys;
  try {
    keys = io::pt_keys(bytes, "fuzz.pt");
  } catch (const input_error&) {
    return;
  }
  if (keys.size() > 16) keys.resize(16);
  keys.push_back("");
  for (const auto& k : keys) {
    try {
      const tensor t = io::parse_pt(bytes, "fuzz.pt", k);
      if (static_cast<std::size_t>(t.numel()) != t.data.size()) std::abort();
    } catch (const input_error&) {
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  if (size >= 2 && data[0] == 'P' && data[1] == 'K') {
    read_all(bytes);
    return 0;
  }
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  constexpr std::string_view sep = "\n--\n";
  std::vector<std::pair<std::string, std::vector<std::byte>>> entries;
  std::size_t at = 0;
  for (int i = -1; i < 8; ++i) {
    const std::size_t end = std::min(in.find(sep, at), in.size());
    std::vector<std::byte> seg(bytes.begin() + static_cast<std::ptrdiff_t>(at),
                               bytes.begin() + static_cast<std::ptrdiff_t>(end));
    entries.emplace_back(i < 0 ? "archive/data.pkl" : "archive/data/" + std::to_string(i),
                         std::move(seg));
    if (end == in.size()) break;
    at = end + sep.size();
  }
  entries.emplace_back("archive/byteorder",
                       std::vector<std::byte>{std::byte{'l'}, std::byte{'i'}, std::byte{'t'},
                                              std::byte{'t'}, std::byte{'l'}, std::byte{'e'}});
  const std::vector<std::byte> z = roundoff::fuzz::make_zip(entries, false);
  if (!z.empty()) read_all(z);
  return 0;
}
