// Compact storage of exact results, one per output element.
#pragma once

#include <cstdint>
#include <vector>

#include "roundoff/exact/accumulator.hpp"

namespace roundoff::exact {

/// A tensor of exact values. Each element keeps its correctly rounded double and enough of the
/// exact value (all of it) that |observed - exact| can be formed with a single final rounding.
class exact_tensor {
 public:
  exact_tensor() = default;
  explicit exact_tensor(std::vector<std::int64_t> shape);

  const std::vector<std::int64_t>& shape() const noexcept { return shape_; }
  std::int64_t size() const noexcept { return static_cast<std::int64_t>(rounded_.size()); }

  /// RN-even(exact value) as double (+-Inf when it overflows double, NaN for NaN kind).
  double rounded(std::int64_t i) const noexcept { return rounded_[static_cast<std::size_t>(i)]; }
  const std::vector<double>& rounded() const noexcept { return rounded_; }

  /// Element i's exact value, reconstructed into an accumulator.
  void load(std::int64_t i, accumulator& out) const;
  /// Stores acc as element i (the exact value, not a rounding of it).
  void store(std::int64_t i, const accumulator& acc);

  /// |exact_i - observed|, rounded once in direction r.
  double abs_diff(std::int64_t i, double observed,
                  rounding r = rounding::nearest_even) const;
  /// Exact value of element i rounded once to format f.
  double round_to(std::int64_t i, format_id f,
                  underflow_mode u = underflow_mode::gradual) const;

 private:
  std::vector<std::int64_t> shape_;
  std::vector<double> rounded_;
  // Implementation-defined exact storage (src/exact/value.cpp); the owner of src/exact may
  // change these members freely.
  std::vector<double> tail_;                    // per element: exact - rounded as expansion part
  std::vector<std::uint8_t> state_;             // per element: how the exact value is held
  std::vector<std::vector<std::uint64_t>> wide_;  // rare elements that need more room
};

}  // namespace roundoff::exact
