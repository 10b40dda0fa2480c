// A non-owning view of a caller's tensor buffer (as Eigen's Map): the library reads x, w, b and
// observed outputs through it without first copying them into a roundoff::tensor.
//
//   std::vector<float> xs(64 * 128);                      // the caller's own buffer
//   roundoff::tensor_view x(xs.data(), {64, 128});        // f32, row-major, no copy
//   roundoff::tensor_view xt(xs.data(), {128, 64}, {1, 128});  // its transpose, still no copy
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "roundoff/formats/format.hpp"
#include "roundoff/tensor.hpp"

namespace roundoff {

/// How a view's elements are stored in memory. f16 and bf16 elements are 16-bit IEEE binary16 /
/// bfloat16 bit patterns (std::uint16_t), read exactly.
enum class storage_type : std::uint8_t { f64, f32, f16, bf16 };

/// Bytes per element: 8, 4, 2, 2.
std::size_t storage_bytes(storage_type s) noexcept;

/// A view of `shape` elements at `data` (not owned: the buffer must outlive every use of the
/// view), element (i0, ..., i_{d-1}) at data + sum_d i_d * strides[d] elements (strides may be
/// zero or negative). `type` is the format the values came from, as in tensor (it must hold only
/// values of that format; the bounds rely on it). Every function of the library that reads
/// inputs or outputs takes views; a roundoff::tensor converts to one implicitly.
struct tensor_view {
  const void* data = nullptr;
  storage_type storage = storage_type::f64;
  std::vector<std::int64_t> shape;
  std::vector<std::int64_t> strides;  ///< in elements, one per dim
  format_id type = format_id::f64;
  /// Elements the buffer is known to hold from data onwards (-1: unknown). When known, the
  /// library checks that the view stays inside it (roundoff::tensor sets it to data.size()).
  std::int64_t held = -1;

  tensor_view() = default;
  /// The whole of t: contiguous f64, t.type as its format.
  tensor_view(const tensor& t);  // NOLINT(google-explicit-constructor): as Eigen's Map
  /// Row-major (contiguous) views of a caller's buffer.
  tensor_view(const double* p, std::vector<std::int64_t> shape, format_id type = format_id::f64);
  tensor_view(const float* p, std::vector<std::int64_t> shape, format_id type = format_id::f32);
  /// Strided views (strides in elements).
  tensor_view(const double* p, std::vector<std::int64_t> shape, std::vector<std::int64_t> strides,
              format_id type = format_id::f64);
  tensor_view(const float* p, std::vector<std::int64_t> shape, std::vector<std::int64_t> strides,
              format_id type = format_id::f32);
  /// Any storage (f16/bf16: 16-bit patterns); empty strides mean row-major.
  tensor_view(const void* p, storage_type s, std::vector<std::int64_t> shape,
              std::vector<std::int64_t> strides, format_id type);

  /// Number of elements (1 for a 0-d view).
  std::int64_t numel() const noexcept;
  int dim() const noexcept { return static_cast<int>(shape.size()); }
  /// Row-major strides for `shape` (what a contiguous view has).
  static std::vector<std::int64_t> row_major_strides(const std::vector<std::int64_t>& shape);
  /// True when element k of the row-major order is at data + k (size-1 dims' strides ignored).
  bool is_contiguous() const noexcept;
  /// Contiguous f64 storage: the engine reads it in place.
  bool is_dense_f64() const noexcept { return storage == storage_type::f64 && is_contiguous(); }
  /// Element `flat` (row-major index) as a double (exact).
  double at(std::int64_t flat) const noexcept;
  /// The element at data + offset (in elements), as a double (exact).
  double at_offset(std::int64_t offset) const noexcept;
  /// Elements [first, first + count) of the row-major order into out, as doubles (exact).
  void read(std::int64_t first, std::int64_t count, double* out) const;
  /// An owning copy (counted by input_bytes_copied()).
  tensor to_tensor() const;
};

/// An operand that may be absent (a bias): nothing, or a view. Converts from nullptr, a tensor
/// or a tensor_view, and from pointers to either (null: nothing), so `&b` and `nullptr` work as
/// arguments.
class optional_view {
 public:
  optional_view() = default;
  optional_view(std::nullptr_t) noexcept {}  // NOLINT(google-explicit-constructor)
  optional_view(const tensor& t) : view_(std::in_place, t) {}  // NOLINT
  optional_view(tensor_view v) : view_(std::move(v)) {}        // NOLINT
  optional_view(const tensor* t) {                             // NOLINT
    if (t) view_.emplace(*t);
  }
  optional_view(const tensor_view* v) {  // NOLINT
    if (v) view_ = *v;
  }
  explicit operator bool() const noexcept { return view_.has_value(); }
  bool has_value() const noexcept { return view_.has_value(); }
  /// The view, or null.
  const tensor_view* get() const noexcept { return view_ ? &*view_ : nullptr; }
  const tensor_view& operator*() const noexcept { return *view_; }
  const tensor_view* operator->() const noexcept { return &*view_; }

 private:
  std::optional<tensor_view> view_;
};

/// Bytes of callers' buffers that the library (and the Python extension) copied whole into
/// roundoff::tensor since the process started or the last reset: a view that is materialized
/// because its storage or layout does not suit the engine. Tiles converted on the fly inside the
/// exact contraction (bounded, docs/ops.md) are not counted. For tests and diagnostics.
std::int64_t input_bytes_copied() noexcept;
void reset_input_bytes_copied() noexcept;
/// Adds to the counter above (for code outside the library that copies callers' buffers).
void count_input_bytes_copied(std::int64_t bytes) noexcept;

}  // namespace roundoff
