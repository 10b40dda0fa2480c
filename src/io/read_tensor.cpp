// read_tensor: splits "FILE[:MEMBER]" and hands the file to the reader for its extension.
#include "roundoff/io/read_tensor.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <system_error>
#include <utility>

#include "roundoff/error.hpp"
#include "roundoff/io/npy.hpp"
#include "roundoff/io/npz.hpp"
#include "roundoff/io/safetensors.hpp"
#include "roundoff/io/torch_pickle.hpp"

namespace roundoff::io {

namespace {

struct extension {
  std::string_view text;
  tensor_file_kind kind;
};
constexpr std::array<extension, 5> extensions = {{{".npy", tensor_file_kind::npy},
                                                  {".npz", tensor_file_kind::npz},
                                                  {".safetensors", tensor_file_kind::safetensors},
                                                  {".pt", tensor_file_kind::torch},
                                                  {".pth", tensor_file_kind::torch}}};

bool ends_with_icase(std::string_view s, std::string_view suffix) {
  if (s.size() < suffix.size()) return false;
  return std::equal(suffix.begin(), suffix.end(),
                    s.end() - static_cast<std::ptrdiff_t>(suffix.size()), [](char a, char b) {
                      return std::tolower(static_cast<unsigned char>(a)) ==
                             std::tolower(static_cast<unsigned char>(b));
                    });
}

const extension* extension_of(std::string_view file) {
  for (const auto& e : extensions)
    if (ends_with_icase(file, e.text)) return &e;
  return nullptr;
}

[[noreturn]] void fail(std::string_view name, std::string_view problem) {
  std::string msg(name);
  msg += ": ";
  msg += problem;
  throw input_error(msg);
}

}  // namespace

std::string tensor_spec::display() const {
  std::string out = file.string();
  if (!member.empty()) out += ":" + member;
  return out;
}

tensor_spec parse_tensor_spec(std::string_view spec) {
  if (spec.empty()) throw input_error("empty tensor file name");
  const std::string whole(spec);
  std::size_t split = std::string_view::npos;
  std::error_code ec;
  if (!(extension_of(spec) && std::filesystem::is_regular_file(whole, ec))) {
    for (std::size_t i = spec.find(':'); i != std::string_view::npos; i = spec.find(':', i + 1)) {
      if (extension_of(spec.substr(0, i))) {
        split = i;
        break;
      }
    }
  }
  tensor_spec out;
  const std::string_view file = spec.substr(0, split);
  const extension* ext = extension_of(file);
  if (!ext)
    fail(spec,
         "unknown tensor file type (expected .npy, .npz[:member], .safetensors[:name], "
         ".pt[:key] or .pth[:key])");
  out.file = std::string(file);
  out.kind = ext->kind;
  if (split != std::string_view::npos) {
    out.member = std::string(spec.substr(split + 1));
    if (out.member.empty()) fail(spec, "empty member name after ':'");
    if (out.kind == tensor_file_kind::npy)
      fail(spec, "a .npy file holds one array; ':" + out.member + "' names no member");
  }
  return out;
}

tensor read_tensor(std::string_view spec) {
  return read_tensor(parse_tensor_spec(spec));
}

tensor read_tensor(const tensor_spec& spec) {
  switch (spec.kind) {
    case tensor_file_kind::npy:
      return read_npy(spec.file);
    case tensor_file_kind::npz:
      return read_npz(spec.file, spec.member);
    case tensor_file_kind::safetensors:
      return read_safetensors(spec.file, spec.member);
    case tensor_file_kind::torch:
      return read_pt(spec.file, spec.member);
  }
  fail(spec.display(), "unknown tensor file type");
}

}  // namespace roundoff::io
