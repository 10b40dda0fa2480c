// Reading .safetensors files. Format, validation rules and every error: docs/io.md
// ("Input files").
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

/// Largest JSON header accepted (bytes); the reference implementation's limit.
inline constexpr std::uint64_t safetensors_max_header_bytes = 100'000'000;

/// Names of the tensors in a .safetensors file held in memory, in the header's order, after the
/// whole header has been validated (see parse_safetensors). Throws input_error.
std::vector<std::string> safetensors_names(std::span<const std::byte> bytes, std::string_view name);

/// Reads tensor `tensor_name` of a .safetensors file held in memory: 8-byte little-endian
/// header length N, N bytes of JSON {name: {"dtype", "shape", "data_offsets": [begin, end]}, ...,
/// optional "__metadata__": {str: str}}, then the data (little-endian, row-major). Dtypes F16,
/// BF16, F32, F64 are read; any other dtype of the format is refused when selected ("unsupported
/// dtype I64 (int64)"). Validated for the whole file, as the reference implementation does:
/// well-formed JSON without duplicate keys or unknown fields, shapes of non-negative integers
/// whose byte size does not overflow, end - begin equal to that byte size, and the tensors
/// tiling the data exactly (sorted by offset: no gap, no overlap, nothing after the last one).
/// An empty `tensor_name` is accepted when the file holds exactly one tensor. Errors are one
/// line starting with "<name>:<tensor_name>: " or "<name>: ".
tensor parse_safetensors(std::span<const std::byte> bytes, std::string_view name,
                         std::string_view tensor_name = {});

/// parse_safetensors on the contents of `file` (memory-mapped).
/// Example: tensor w = io::read_safetensors("model.safetensors", "fc.weight");
tensor read_safetensors(const std::filesystem::path& file, std::string_view tensor_name = {});

}  // namespace roundoff::io
