// tensor_view: element access for every storage and layout, and the copy counter.
#include "roundoff/tensor_view.hpp"

#include <atomic>
#include <bit>
#include <cmath>
#include <cstring>

namespace roundoff {

namespace {

std::atomic<std::int64_t> copied_bytes{0};

inline double load(const void* base, storage_type s, std::int64_t off) noexcept {
  switch (s) {
    case storage_type::f64:
      return static_cast<const double*>(base)[off];
    case storage_type::f32:
      return static_cast<const float*>(base)[off];
    case storage_type::f16:
      return f16_bits_to_double(static_cast<const std::uint16_t*>(base)[off]);
    case storage_type::bf16:
      return bf16_bits_to_double(static_cast<const std::uint16_t*>(base)[off]);
  }
  return 0;
}

template <class T, class F>
void read_contiguous(const T* p, std::int64_t count, double* out, F f) noexcept {
  for (std::int64_t i = 0; i < count; ++i) out[i] = f(p[i]);
}

}  // namespace

std::size_t storage_bytes(storage_type s) noexcept {
  switch (s) {
    case storage_type::f64:
      return 8;
    case storage_type::f32:
      return 4;
    default:
      return 2;
  }
}

tensor_view::tensor_view(const tensor& t)
    : data(t.data.data()),
      shape(t.shape),
      strides(row_major_strides(t.shape)),
      type(t.type),
      held(static_cast<std::int64_t>(t.data.size())) {}

tensor_view::tensor_view(const double* p, std::vector<std::int64_t> s, format_id f)
    : tensor_view(p, storage_type::f64, std::move(s), {}, f) {}
tensor_view::tensor_view(const float* p, std::vector<std::int64_t> s, format_id f)
    : tensor_view(p, storage_type::f32, std::move(s), {}, f) {}
tensor_view::tensor_view(const double* p, std::vector<std::int64_t> s, std::vector<std::int64_t> st,
                         format_id f)
    : tensor_view(p, storage_type::f64, std::move(s), std::move(st), f) {}
tensor_view::tensor_view(const float* p, std::vector<std::int64_t> s, std::vector<std::int64_t> st,
                         format_id f)
    : tensor_view(p, storage_type::f32, std::move(s), std::move(st), f) {}
tensor_view::tensor_view(const void* p, storage_type st, std::vector<std::int64_t> s,
                         std::vector<std::int64_t> str, format_id f)
    : data(p), storage(st), shape(std::move(s)), strides(std::move(str)), type(f) {
  if (strides.empty()) strides = row_major_strides(shape);
}

std::int64_t tensor_view::numel() const noexcept {
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

std::vector<std::int64_t> tensor_view::row_major_strides(const std::vector<std::int64_t>& shape) {
  std::vector<std::int64_t> st(shape.size());
  std::int64_t s = 1;
  for (std::size_t d = shape.size(); d-- > 0;) {
    st[d] = s;
    s *= shape[d];
  }
  return st;
}

bool tensor_view::is_contiguous() const noexcept {
  if (strides.size() != shape.size()) return false;
  std::int64_t expect = 1;
  for (std::size_t d = shape.size(); d-- > 0;) {
    if (shape[d] != 1 && strides[d] != expect) return false;
    expect *= shape[d];
  }
  return true;
}

double tensor_view::at(std::int64_t flat) const noexcept {
  if (is_contiguous()) return load(data, storage, flat);
  std::int64_t off = 0;
  for (std::size_t d = shape.size(); d-- > 0;) {
    off += (flat % shape[d]) * strides[d];
    flat /= shape[d];
  }
  return load(data, storage, off);
}

double tensor_view::at_offset(std::int64_t offset) const noexcept {
  return load(data, storage, offset);
}

void tensor_view::read(std::int64_t first, std::int64_t count, double* out) const {
  if (count <= 0) return;
  if (is_contiguous()) {
    switch (storage) {
      case storage_type::f64:
        std::memcpy(out, static_cast<const double*>(data) + first,
                    static_cast<std::size_t>(count) * sizeof(double));
        return;
      case storage_type::f32:
        read_contiguous(static_cast<const float*>(data) + first, count, out,
                        [](float v) { return static_cast<double>(v); });
        return;
      case storage_type::f16:
        read_contiguous(static_cast<const std::uint16_t*>(data) + first, count, out,
                        f16_bits_to_double);
        return;
      case storage_type::bf16:
        read_contiguous(static_cast<const std::uint16_t*>(data) + first, count, out,
                        bf16_bits_to_double);
        return;
    }
  }
  // Strided: walk the row-major order from `first`, innermost dim in a tight loop.
  const std::size_t nd = shape.size();
  if (nd == 0) {
    out[0] = load(data, storage, 0);
    return;
  }
  std::vector<std::int64_t> idx(nd);
  std::int64_t rem = first;
  for (std::size_t d = nd; d-- > 0;) {
    idx[d] = rem % shape[d];
    rem /= shape[d];
  }
  const std::int64_t inner = shape[nd - 1], inner_stride = strides[nd - 1];
  std::int64_t o = 0;
  while (o < count) {
    std::int64_t off = 0;
    for (std::size_t d = 0; d + 1 < nd; ++d) off += idx[d] * strides[d];
    std::int64_t j = idx[nd - 1];
    for (; j < inner && o < count; ++j) out[o++] = load(data, storage, off + j * inner_stride);
    idx[nd - 1] = 0;
    for (std::size_t d = nd - 1; d-- > 0;) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
}

tensor tensor_view::to_tensor() const {
  tensor t;
  t.shape = shape;
  t.type = type;
  t.data.resize(static_cast<std::size_t>(numel()));
  read(0, numel(), t.data.data());
  count_input_bytes_copied(numel() * static_cast<std::int64_t>(storage_bytes(storage)));
  return t;
}

std::int64_t input_bytes_copied() noexcept {
  return copied_bytes.load();
}
void reset_input_bytes_copied() noexcept {
  copied_bytes.store(0);
}
void count_input_bytes_copied(std::int64_t bytes) noexcept {
  copied_bytes.fetch_add(bytes);
}

}  // namespace roundoff
