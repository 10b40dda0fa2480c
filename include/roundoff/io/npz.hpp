// Reading NumPy .npz archives (np.savez, np.savez_compressed). Format, limits and every error:
// docs/io.md ("Input files").
#pragma once

#include <cstddef>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "roundoff/tensor.hpp"

namespace roundoff::io {

/// Names of the arrays in a .npz held in memory, in archive order, without the ".npy" suffix
/// (np.savez(f, x=a) stores "x.npy"; this lists "x"). Entries that are not .npy files are not
/// listed. Throws input_error ("<name>: ...") for a corrupt or truncated archive.
std::vector<std::string> npz_members(std::span<const std::byte> bytes, std::string_view name);

/// Reads array `member` of a .npz held in memory: the entry named `member`, else `member`.npy
/// (numpy's lookup order). Entries may be stored or deflated; the member is read with
/// the .npy rules of parse_npy (dtypes, byte order, Fortran order). An empty `member` is
/// accepted when the archive holds exactly one array. Decompression stops at the size the
/// member's .npy header declares (zip bombs are refused, not inflated). Errors are one line
/// starting with "<name>:<member>: " for a problem in the member, "<name>: " otherwise.
tensor parse_npz(std::span<const std::byte> bytes, std::string_view name,
                 std::string_view member = {});

/// parse_npz on the contents of `file` (memory-mapped).
/// Example: tensor y = io::read_npz("outputs.npz", "y");
tensor read_npz(const std::filesystem::path& file, std::string_view member = {});

}  // namespace roundoff::io
