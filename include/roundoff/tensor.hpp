// The plain tensor type every layer exchanges.
#pragma once

#include <cstdint>
#include <vector>

#include "roundoff/formats/format.hpp"

namespace roundoff {

/// A dense row-major tensor. Values are stored as double, which holds every value of every
/// supported format exactly; `type` records the format the values came from.
struct tensor {
  std::vector<std::int64_t> shape;
  std::vector<double> data;
  format_id type = format_id::f64;

  /// Number of elements (1 for a 0-d tensor).
  std::int64_t numel() const noexcept {
    std::int64_t n = 1;
    for (auto d : shape) n *= d;
    return n;
  }
  int dim() const noexcept { return static_cast<int>(shape.size()); }
};

}  // namespace roundoff
