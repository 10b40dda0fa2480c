// Reading tensors from files written by torch.save (.pt / .pth, the zip format of PyTorch >= 1.6)
// WITHOUT executing code: a restricted pickle interpreter that knows only what torch.save writes
// for tensors and (ordered) dicts of tensors. What is accepted and every error: docs/io.md
// ("Input files"). Works with or without LibTorch.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "roundoff/tensor.hpp"

namespace roundoff::io {

/// Largest data.pkl accepted (bytes): far above any state_dict's pickle, far below memory.
inline constexpr std::uint64_t pt_max_pickle_bytes = std::uint64_t{1} << 30;

/// Keys of the dict saved in a .pt held in memory (in the dict's order; non-string keys are
/// shown as Python would print them), or an empty list when the file holds a single tensor.
/// Nested dicts are not expanded. Throws input_error as parse_pt does.
std::vector<std::string> pt_keys(std::span<const std::byte> bytes, std::string_view name);

/// Reads a tensor from a torch.save file held in memory:
///   - `key` empty: the saved object must be a tensor, or a dict holding exactly one tensor;
///   - `key` given: the saved object must be a dict (dict, OrderedDict, state_dict); its entry
///     `key` is read. "a/b" reaches entry "b" of the dict stored under "a" when no entry is
///     named "a/b" (checkpoints such as {"model": state_dict}).
/// The pickle (data.pkl) is interpreted, never executed. Accepted: protocols 2-5 opcodes for
/// None/bool/int/float/str/tuple/list/dict, memo, persistent ids ('storage', <torch.*Storage>,
/// key, location, numel), and exactly the globals torch.save emits for tensors and dicts:
/// collections.OrderedDict, torch._utils._rebuild_tensor / _rebuild_tensor_v2 /
/// _rebuild_tensor_v3 / _rebuild_parameter / _rebuild_parameter_with_state, torch.<T>Storage,
/// torch.UntypedStorage and torch dtypes. Any other global is refused before anything is built:
/// "x.pt: refusing pickle global 'os.system' (only tensors and dicts of tensors are read)".
/// Tensors: float16, bfloat16, float32, float64 storages, any sizes, strides and storage offset
/// (non-contiguous saves such as t.t() are gathered to row-major), little- or big-endian
/// (the archive's byteorder record). Views with more elements than their storage (expand,
/// as_strided overlaps) are refused: save t.contiguous() instead. Errors are one line starting
/// with "<name>:<key>: " or "<name>: ".
tensor parse_pt(std::span<const std::byte> bytes, std::string_view name, std::string_view key = {});

/// parse_pt on the contents of `file` (memory-mapped).
/// Example: tensor w = io::read_pt("linear.pt", "weight");
tensor read_pt(const std::filesystem::path& file, std::string_view key = {});

}  // namespace roundoff::io
