// Reading and writing NumPy .npy files. Format, accepted dtypes, the bf16 convention and every
// error: docs/cli.md ("Tensor files").
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

/// Largest header a .npy file may declare (bytes). numpy's own default limit is 10000; this one
/// leaves room for long shapes while refusing absurd lengths before reading them.
inline constexpr std::size_t npy_max_header_bytes = 1 << 16;

/// Reads a .npy file (format 1.0, 2.0 or 3.0) into a row-major tensor of doubles.
/// Accepted dtypes: '<f2' '>f2' (f16), '<f4' '>f4' (f32), '<f8' '>f8' (f64), and '|V2' / '<V2'
/// (raw 2-byte data read as bf16 bit patterns, little-endian: what np.save writes for an
/// ml_dtypes.bfloat16 array or for `a.view('V2')`). Fortran-order data is transposed to row
/// major. NaN and Inf are read as they are. Every problem (missing file, bad magic, corrupt
/// header, unsupported dtype, overflowing shape, truncated data, trailing bytes) throws
/// input_error with one line starting with `file`.
/// Example: tensor x = io::read_npy("x.npy"); // x.shape, x.data, x.type
tensor read_npy(const std::filesystem::path& file);

/// Same as read_npy, from bytes in memory; `name` is used in error messages.
tensor parse_npy(std::span<const std::byte> bytes, std::string_view name);

/// A .npy file's values as stored, not widened to doubles (an f32 file takes half the memory of
/// read_npy's tensor): `numel` elements of `type` in row-major order, little-endian, in `data`
/// (8-byte aligned; f16/bf16 as 16-bit patterns), or, when `widened`, as doubles (big-endian and
/// Fortran-order files, converted as read_npy converts them).
struct npy_stored {
  std::vector<std::int64_t> shape;
  format_id type = format_id::f64;
  bool widened = false;
  std::vector<std::uint64_t> data;
};

/// read_npy without the widening: the same checks and the same errors, the same values.
npy_stored read_npy_stored(const std::filesystem::path& file);

/// Total size in bytes (preamble + header + data) of the .npy file whose first bytes are `head`,
/// from its header alone: `head` needs only the preamble and the header, not the data. Throws
/// input_error as parse_npy does for a bad or truncated header. Lets a reader of .npy files
/// inside archives (.npz) cap decompression at the size the header declares.
std::uint64_t npy_file_size(std::span<const std::byte> head, std::string_view name);

/// Encodes t as a format 1.0 .npy file (2.0 only if the header needs it), little-endian,
/// C order. `as` is format_id::f64 ('<f8') or format_id::f32 ('<f4'). Writing f32 never rounds:
/// a value that is not exactly an f32 throws internal_error (round first with round_to).
/// Throws internal_error when data.size() != numel(), unsupported_error when `as` is another
/// format.
std::vector<std::byte> encode_npy(const tensor& t, format_id as = format_id::f64);

/// Writes encode_npy(t, as) to `file` (through a temporary file renamed into place, so a failed
/// write leaves no partial file). Throws input_error when the file cannot be written.
void write_npy(const std::filesystem::path& file, const tensor& t, format_id as = format_id::f64);

/// Exact f16 / bf16 bit patterns to double: roundoff::f16_bits_to_double (formats/format.hpp).
using roundoff::bf16_bits_to_double;
using roundoff::f16_bits_to_double;

}  // namespace roundoff::io
