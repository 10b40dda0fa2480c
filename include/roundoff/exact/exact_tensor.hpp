// Compact storage of exact results, one per output element.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "roundoff/exact/accumulator.hpp"

namespace roundoff::exact {

/// A tensor of exact values. Each element keeps its correctly rounded double and enough of the
/// exact value (all of it) that |observed - exact| can be formed with a single final rounding.
///
/// Storage per element: the RN double, one tail double and a state byte (17 bytes). When
/// exact = rounded + tail with tail a double, that is all; otherwise (value beyond the double
/// range, bits below 2^-1074, or a span wider than two doubles) the exact value goes to a side
/// store of limbs, sharded by storing thread. store() may run concurrently for different i; load,
/// abs_diff and round_to may run concurrently with each other but not with store.
class exact_tensor {
 public:
  exact_tensor();
  explicit exact_tensor(std::vector<std::int64_t> shape);
  exact_tensor(const exact_tensor& other);
  exact_tensor(exact_tensor&& other) noexcept;
  exact_tensor& operator=(const exact_tensor& other);
  exact_tensor& operator=(exact_tensor&& other) noexcept;
  ~exact_tensor();

  const std::vector<std::int64_t>& shape() const noexcept { return shape_; }
  std::int64_t size() const noexcept { return static_cast<std::int64_t>(rounded_.size()); }

  /// RN-even(exact value) as double (+-Inf when it overflows double, NaN for NaN kind).
  double rounded(std::int64_t i) const noexcept { return rounded_[static_cast<std::size_t>(i)]; }
  const std::vector<double>& rounded() const noexcept { return rounded_; }

  /// Element i's exact value, reconstructed into an accumulator.
  void load(std::int64_t i, accumulator& out) const;
  /// Stores acc as element i (the exact value, not a rounding of it). Thread-safe for distinct
  /// i. Storing into an element again reuses its side-store entry when the new value fits it.
  void store(std::int64_t i, const accumulator& acc);
  /// Stores (negative ? -1 : 1) * (hi * 2^64 + lo) * 2^e as element i, for the same range of
  /// arguments as accumulator::add_integer. The element ends up exactly as store() of an
  /// accumulator holding that value would leave it (same rounded double, tail and state); the
  /// common case (result and tail inside the double range) uses integer operations only and no
  /// accumulator. Thread-safe for distinct i.
  void store_integer(std::int64_t i, std::uint64_t lo, std::uint64_t hi, bool negative, int e);

  /// As store_integer, for (negative ? -1 : 1) * (m[2] * 2^128 + m[1] * 2^64 + m[0]) * 2^e, with
  /// e >= -2176 and a magnitude below 2^2176 (m[0..3) read). Same result as store() of an
  /// accumulator holding that value; integer operations only when the value lies in the double
  /// range (its side-store limbs are written straight from m). Thread-safe for distinct i.
  void store_integer192(std::int64_t i, const std::uint64_t* m, bool negative, int e);

  /// |exact_i - observed|, rounded once in direction r.
  double abs_diff(std::int64_t i, double observed, rounding r = rounding::nearest_even) const;
  /// Exact value of element i rounded once to format f.
  double round_to(std::int64_t i, format_id f, underflow_mode u = underflow_mode::gradual) const;

  /// Number of stores that went to the side store (diagnostics, tests).
  std::int64_t side_count() const noexcept;
  /// Bytes used by the exact storage (rounded, tails, states and side store).
  std::size_t memory_bytes() const noexcept;

 private:
  struct side_store;
  /// Writes element ui's side entry: (negative ? -1 : 1) * sum limbs[t] 2^(64 (lo + t) -
  /// bias_bits), limbs trimmed (limbs[0] and limbs[count - 1] nonzero).
  void store_side(std::size_t ui, bool negative, int lo, const std::uint64_t* limbs, int count);
  std::vector<std::int64_t> shape_;
  std::vector<double> rounded_;
  std::vector<std::uint64_t> tail_;   // state 1: bit pattern of the tail double; 2: side address
  std::vector<std::uint8_t> state_;   // 0: exact == rounded; 1: rounded + tail; 2: side store
  std::unique_ptr<side_store> side_;  // never null
};

}  // namespace roundoff::exact
