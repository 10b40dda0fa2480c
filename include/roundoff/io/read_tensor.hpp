// One entry point for every tensor file roundoff reads, chosen by the file's extension.
// Formats, what is accepted, and every error: docs/io.md ("Input files").
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "roundoff/tensor.hpp"

namespace roundoff::io {

/// The file formats read_tensor understands (by extension, case-insensitive).
enum class tensor_file_kind : std::uint8_t {
  npy,          ///< .npy (NumPy array)
  npz,          ///< .npz (zip of .npy files: np.savez / np.savez_compressed)
  safetensors,  ///< .safetensors
  torch,        ///< .pt / .pth written by torch.save (zip format), read without executing code
};

/// A parsed "FILE[:MEMBER]" argument.
struct tensor_spec {
  std::filesystem::path file;
  std::string member;  ///< empty when none was given
  tensor_file_kind kind = tensor_file_kind::npy;
  /// "FILE" or "FILE:MEMBER", the prefix of every error message about this tensor.
  std::string display() const;
};

/// Splits `spec` into file and member. The member follows the first ':' that comes right after a
/// known extension (.npy .npz .safetensors .pt .pth); if the whole spec names an existing file,
/// it is taken as a file name even when it contains such a ':'. A member on a .npy file is an
/// error. Throws input_error (one line naming `spec`) for an empty spec, an unknown extension,
/// or an empty member after ':'.
/// Example: parse_tensor_spec("out.npz:y") -> {file "out.npz", member "y", kind npz}.
tensor_spec parse_tensor_spec(std::string_view spec);

/// Reads one tensor:
///   file.npy                 the array;
///   file.npz[:member]        member "x" or "x.npy" (stored or deflated); without a member the
///                            archive must hold exactly one array;
///   file.safetensors[:name]  tensor `name` (F16, BF16, F32, F64); without a name the file must
///                            hold exactly one tensor;
///   file.pt / file.pth[:key] written by torch.save: a tensor, or with `key` the entry of a saved
///                            dict / OrderedDict / state_dict (without a key a dict must hold
///                            exactly one tensor). float16/bfloat16/float32/float64 tensors, any
///                            strides and storage offset. The pickle is interpreted by a restricted
///                            reader that knows only what torch.save writes for tensors and dicts
///                            of tensors; nothing in the file is ever executed.
/// Returns a row-major (C order) tensor of doubles, exact for every accepted element type, with
/// `type` = the element format stored in the file (f16, bf16, f32, f64). NaN and Inf are
/// returned as they are (callers decide what to do with them).
/// Throws roundoff::input_error whose what() is ONE line starting with spec.display() + ": ",
/// then the problem: a missing file, a missing member (the message lists the ones present, or
/// how many), an unsupported dtype (e.g. "x.safetensors:ids: unsupported dtype I64 (int64); ..."),
/// a corrupt or truncated file, a refused pickle ("x.pt: refusing pickle global 'os.system' (only
/// tensors and dicts of tensors are read)"). Never throws anything else for bad input
/// (std::bad_alloc aside), never reads out of bounds, and allocates only in proportion to bytes
/// actually present. Example: tensor y = io::read_tensor("outputs.safetensors:y");
tensor read_tensor(std::string_view spec);

/// Same as read_tensor(spec) for an already parsed spec.
tensor read_tensor(const tensor_spec& spec);

}  // namespace roundoff::io
