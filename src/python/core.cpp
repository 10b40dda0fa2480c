// roundoff._core: the C++ engine behind the Python package (python/roundoff/). Thin on purpose:
// tensors in through DLPack / the buffer protocol, the library's own functions (ops::evaluate,
// verdicts::judge, report::render, the backends registry) in the middle, and the report back as
// one opaque object that renders itself exactly as the CLI does. Argument spelling (PyTorch's
// names, ints or tuples) is turned into the library's typed op arguments in
// python/roundoff/_args.py.
//
// Errors (include/roundoff/error.hpp), mapped once in the translator below: input_error becomes
// ValueError with the CLI's one-line message (an argument_error worded as the CLI words it,
// cli_message), type_error TypeError, resource_error MemoryError; anything else nanobind's
// default (RuntimeError). The GIL is released around every piece of engine work.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/unique_ptr.h>
#include <nanobind/stl/vector.h>

#include <unistd.h>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "roundoff/backends/backend.hpp"
#include "roundoff/backends/tc_emulation.hpp"
#include "roundoff/bounds/models.hpp"
#include "roundoff/error.hpp"
#include "roundoff/exact/gemm.hpp"
#include "roundoff/ops/op.hpp"
#include "roundoff/report/report.hpp"
#include "roundoff/tensor.hpp"
#include "roundoff/tensor_view.hpp"
#include "roundoff/verdicts/inputs.hpp"
#include "roundoff/verdicts/judge.hpp"
#include "roundoff/version.hpp"

namespace nb = nanobind;
using namespace nb::literals;

namespace roundoff::python {

namespace {

std::string shape_string(const std::vector<std::int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

std::vector<std::int64_t> unflatten(std::int64_t flat, const std::vector<std::int64_t>& shape) {
  std::vector<std::int64_t> idx(shape.size());
  for (std::size_t d = shape.size(); d-- > 0;) {
    idx[d] = flat % shape[d];
    flat /= shape[d];
  }
  return idx;
}

// Refuses shapes whose element count overflows, or whose values as doubles would not fit in
// this machine's physical memory (a broadcast view can claim any size without holding it; the
// allocation would then end the process instead of raising).
void check_size(const std::string& label, const std::vector<std::int64_t>& shape) {
  std::int64_t n = 1;
  for (auto d : shape) {
    if (d < 0) throw input_error(label + ": negative dimension in shape " + shape_string(shape));
    if (d != 0 && n > INT64_MAX / 8 / d)
      throw resource_error(label + ": shape " + shape_string(shape) + " has too many elements");
    n *= d;
  }
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  if (pages > 0 && page > 0 && n > static_cast<std::int64_t>(pages) * page / 8)
    throw resource_error(label + ": shape " + shape_string(shape) + " needs " + std::to_string(n) +
                         " doubles, more than this machine's memory");
}

struct dtype_info {
  format_id format;
  int bytes;
};

std::string dtype_name(const nb::dlpack::dtype& t) {
  using c = nb::dlpack::dtype_code;
  const char* kind = "unknown";
  switch (static_cast<c>(t.code)) {
    case c::Int:
      kind = "int";
      break;
    case c::UInt:
      kind = "uint";
      break;
    case c::Float:
      kind = "float";
      break;
    case c::Bfloat:
      kind = "bfloat";
      break;
    case c::Complex:
      kind = "complex";
      break;
    case c::Bool:
      return "bool";
    default:
      return "code " + std::to_string(t.code) + " with " + std::to_string(t.bits) + " bits";
  }
  return kind + std::to_string(t.bits);
}

dtype_info dtype_of(const nb::dlpack::dtype& t, const std::string& label) {
  using c = nb::dlpack::dtype_code;
  if (t.lanes == 1) {
    if (t.code == static_cast<std::uint8_t>(c::Float)) {
      if (t.bits == 64) return {format_id::f64, 8};
      if (t.bits == 32) return {format_id::f32, 4};
      if (t.bits == 16) return {format_id::f16, 2};
    }
    if (t.code == static_cast<std::uint8_t>(c::Bfloat) && t.bits == 16) return {format_id::bf16, 2};
  }
  throw type_error(label + ": unsupported dtype " + dtype_name(t) +
                   "; roundoff takes float16, float32, float64 and bfloat16 tensors");
}

// Element i of a buffer of format f, as a double (exact).
inline double load(const unsigned char* p, format_id f) noexcept {
  switch (f) {
    case format_id::f64: {
      double v;
      std::memcpy(&v, p, 8);
      return v;
    }
    case format_id::f32: {
      float v;
      std::memcpy(&v, p, 4);
      return v;
    }
    case format_id::f16: {
      std::uint16_t h;
      std::memcpy(&h, p, 2);
      return f16_bits_to_double(h);
    }
    default: {  // bf16
      std::uint16_t h;
      std::memcpy(&h, p, 2);
      return bf16_bits_to_double(h);
    }
  }
}

template <class T>
void widen(const T* src, std::size_t n, double* dst) noexcept {
  for (std::size_t i = 0; i < n; ++i) dst[i] = static_cast<double>(src[i]);
}

// True when no element of p[0, n) is NaN or ±Inf: one pass over the bit patterns that the
// compiler vectorises (an exponent field of all ones marks a non-finite value).
template <class Bits>
bool all_finite_bits(const void* p, std::int64_t n, Bits exponent) noexcept {
  const auto* u = static_cast<const unsigned char*>(p);
  Bits any = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    Bits b;
    std::memcpy(&b, u + i * static_cast<std::int64_t>(sizeof(Bits)), sizeof(Bits));
    any |= static_cast<Bits>((b & exponent) == exponent);
  }
  return any == 0;
}

void refuse_non_finite(const std::string& label, const tensor_view& t) {
  const std::int64_t n = t.numel();
  if (t.is_contiguous()) {  // the usual case: skip the element-by-element search when all pass
    if (t.storage == storage_type::f64 &&
        all_finite_bits<std::uint64_t>(t.data, n, 0x7ff0000000000000ull))
      return;
    if (t.storage == storage_type::f32 && all_finite_bits<std::uint32_t>(t.data, n, 0x7f800000u))
      return;
  }
  for (std::int64_t i = 0; i < n; ++i) {
    const double v = t.at(i);
    if (!std::isfinite(v))
      throw input_error(label + ": element " + shape_string(unflatten(i, t.shape)) + " is " +
                        (std::isnan(v) ? "NaN" : (v > 0 ? "+Inf" : "-Inf")) +
                        "; non-finite inputs are refused (the exact result would be NaN or Inf)");
  }
}

using any_array = nb::ndarray<nb::ro>;

// The conversion from a host array (any strides, f64/f32/f16/bf16) into roundoff::tensor, for the
// arrays the engine does not read in place (as_input): one strided or widening pass, counted by
// input_bytes_copied().
tensor to_tensor(const any_array& a, const std::string& label, bool finite) {
  if (a.device_type() != nb::device::cpu::value)
    throw type_error(label + ": the array is not in host memory (DLPack device type " +
                     std::to_string(a.device_type()) +
                     "); roundoff copies torch CUDA tensors to the host itself, other devices' "
                     "arrays must be copied by the caller");
  const dtype_info di = dtype_of(a.dtype(), label);
  tensor t;
  t.type = di.format;
  const std::size_t nd = a.ndim();
  t.shape.resize(nd);
  std::vector<std::int64_t> strides(nd);
  for (std::size_t d = 0; d < nd; ++d) {
    t.shape[d] = static_cast<std::int64_t>(a.shape(d));
    strides[d] = a.stride(d);
  }
  check_size(label, t.shape);
  const std::int64_t n = t.numel();
  t.data.resize(static_cast<std::size_t>(n));
  if (n == 0) return t;
  {
    nb::gil_scoped_release release;
    bool contiguous = true;
    std::int64_t expect = 1;
    for (std::size_t d = nd; d-- > 0;) {
      if (t.shape[d] != 1 && strides[d] != expect) contiguous = false;
      expect *= t.shape[d];
    }
    count_input_bytes_copied(n * di.bytes);
    const auto* base = static_cast<const unsigned char*>(a.data());
    double* out = t.data.data();
    const auto count = static_cast<std::size_t>(n);
    if (contiguous && di.format == format_id::f64) {
      std::memcpy(out, base, count * sizeof(double));
    } else if (contiguous && di.format == format_id::f32) {
      widen(reinterpret_cast<const float*>(base), count, out);
    } else if (contiguous) {
      for (std::size_t i = 0; i < count; ++i) out[i] = load(base + i * 2, di.format);
    } else {
      // Row-major walk over a strided view (strides in elements, possibly negative or zero).
      std::vector<std::int64_t> idx(nd, 0);
      const std::int64_t inner = nd ? t.shape[nd - 1] : 1;
      const std::int64_t inner_stride = nd ? strides[nd - 1] : 0;
      std::size_t o = 0;
      while (o < count) {
        std::int64_t off = 0;
        for (std::size_t d = 0; d + 1 < nd; ++d) off += idx[d] * strides[d];
        for (std::int64_t j = 0; j < inner; ++j)
          out[o++] = load(base + (off + j * inner_stride) * di.bytes, di.format);
        for (std::size_t d = nd - 1; d-- > 0;) {
          if (++idx[d] < t.shape[d]) break;
          idx[d] = 0;
        }
      }
    }
  }
  if (finite) {
    nb::gil_scoped_release release;
    refuse_non_finite(label, t);
  }
  return t;
}

/// An operand or output as the engine reads it: a view of the caller's array, which `array`
/// keeps alive, when it is a host float64/float32 array with row-major contiguous strides (no
/// copy); otherwise `owned`, the values converted once by to_tensor; or a view of a Tensor
/// object (kept alive by `owner`).
struct input {
  tensor_view view;
  any_array array;
  std::shared_ptr<const tensor> owned;
  nb::object owner;
  input() = default;
  input(const tensor& t) : view(t) {}  // NOLINT(google-explicit-constructor): Tensor -> input
};

bool is_row_major(const any_array& a) {
  std::int64_t expect = 1;
  for (std::size_t d = a.ndim(); d-- > 0;) {
    const auto n = static_cast<std::int64_t>(a.shape(d));
    if (n != 1 && a.stride(d) != expect) return false;
    expect *= n;
  }
  return true;
}

input as_input(const any_array& a, const std::string& label, bool finite) {
  if (a.device_type() == nb::device::cpu::value) {
    const dtype_info di = dtype_of(a.dtype(), label);
    if ((di.format == format_id::f64 || di.format == format_id::f32) && is_row_major(a)) {
      std::vector<std::int64_t> shape(a.ndim());
      for (std::size_t d = 0; d < a.ndim(); ++d) shape[d] = static_cast<std::int64_t>(a.shape(d));
      check_size(label, shape);
      input in;
      in.array = a;
      in.view =
          tensor_view(a.data(), di.format == format_id::f64 ? storage_type::f64 : storage_type::f32,
                      shape, {}, di.format);
      if (finite) {
        nb::gil_scoped_release release;
        refuse_non_finite(label, in.view);
      }
      return in;
    }
  }
  input in;
  auto t = std::make_shared<const tensor>(to_tensor(a, label, finite));
  in.view = tensor_view(*t);
  in.owned = std::move(t);
  return in;
}

// A float64 numpy array over `data` (moved onto the heap, owned by a capsule).
nb::ndarray<nb::numpy, double> to_numpy(std::vector<double>&& data,
                                        const std::vector<std::int64_t>& shape) {
  auto* owned = new std::vector<double>(std::move(data));
  nb::capsule owner(owned, [](void* p) noexcept { delete static_cast<std::vector<double>*>(p); });
  std::vector<std::size_t> sh(shape.begin(), shape.end());
  return nb::ndarray<nb::numpy, double>(owned->data(), sh.size(), sh.data(), owner);
}

// "x [2, 3], w [4, 3], b [4]": the operands as the CLI's messages name its files.
std::string operands_text(const tensor_view& x, const tensor_view& w, const tensor_view* b) {
  return "x " + shape_string(x.shape) + ", w " + shape_string(w.shape) +
         (b ? ", b " + shape_string(b->shape) : std::string());
}

std::vector<std::int64_t> checked_output_shape(const ops::op_spec& spec, const tensor_view& x,
                                               const tensor_view& w, const tensor_view* b) {
  try {
    return ops::output_shape({spec, x, w, b});
  } catch (const input_error& e) {
    throw input_error(std::string(ops::op_name(spec.kind)) + ": " + operands_text(x, w, b) + ": " +
                      e.what());
  }
}

ops::op_spec make_op_spec(const std::string& name, const ops::conv_arguments& args) {
  const auto kind = ops::parse_op(name);
  if (!kind) {  // the CLI's message (src/cli/op_flags.cpp)
    std::string known;
    for (int k = 0; k <= static_cast<int>(ops::op_kind::conv_transpose3d); ++k) {
      if (k) known += ", ";
      known += ops::op_name(static_cast<ops::op_kind>(k));
    }
    throw input_error("unknown op '" + name + "' (known: " + known + ")");
  }
  return ops::make_op_spec(*kind, args);
}

// An argument_error worded as the CLI words it (src/cli/op_flags.cpp, flag_message:
// "--output-padding: ...", "--impl GLOB: ... (see `roundoff backends`)"), so that the package's
// messages are the CLI's; tests/python/test_errors.py checks they are.
std::string cli_message(const argument_error& e) {
  std::string m = "--" + e.argument();
  for (char& c : m)
    if (c == '_') c = '-';
  if (!e.value().empty()) m += " " + e.value();
  m += ": " + e.detail();
  if (e.argument() == "impl") m += " (see `roundoff backends`)";
  return m;
}

/// device="cpu"|"cuda" (the CLI's --device); "cuda" without a usable device: ValueError.
exact::device_kind check_device(const std::string& device) {
  if (device == "cpu") return exact::device_kind::cpu;
  if (device != "cuda") throw input_error("--device: " + device + " not in {cpu,cuda}");
  std::string why;
  if (!exact::device_available(exact::device_kind::cuda, &why))
    throw input_error("--device cuda: " + why);
  return exact::device_kind::cuda;
}

void check_threads(int threads) {  // CLI11's Range(1, 1024) message
  if (threads < 1 || threads > 1024)
    throw input_error("--threads: Value " + std::to_string(threads) + " not in range 1 to 1024");
}

void check_confidence(double confidence) {  // the CLI's message (src/cli/common.cpp)
  if (!(confidence > 0 && confidence < 1)) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%g", confidence);
    throw input_error(std::string("--confidence: must be in (0, 1), got ") + buf);
  }
}

report::param::value_type to_param(const nb::handle& v) {
  if (nb::isinstance<nb::bool_>(v)) return nb::cast<bool>(v);
  if (nb::isinstance<nb::int_>(v)) return nb::cast<std::int64_t>(v);
  if (nb::isinstance<nb::float_>(v)) return nb::cast<double>(v);
  if (nb::isinstance<nb::str>(v)) return nb::cast<std::string>(v);
  return nb::cast<std::vector<std::int64_t>>(v);
}

nb::dict info_dict(const backends::run_info& i) {
  nb::dict d;
  d["backend"] = i.backend;
  d["device"] = i.device;
  d["thread_library"] = i.thread_library;
  d["threads"] = i.threads;
  d["seconds"] = i.seconds;
  d["inputs_rounded"] = i.inputs_rounded;
  d["notes"] = i.notes;
  return d;
}

/// One output for judge(): name, declared preset, observed values, where it came from.
struct output_arg {
  std::string name, declared;
  tensor_view observed;
  report::source_info source;
};

report::source_info to_source(const nb::dict& d) {
  report::source_info s;
  auto str = [&](const char* k, std::string& into) {
    if (d.contains(k)) into = nb::cast<std::string>(d[k]);
  };
  str("file", s.file);
  str("device", s.device);
  str("thread_library", s.thread_library);
  str("notes", s.notes);
  if (d.contains("threads")) s.threads = nb::cast<int>(d["threads"]);
  if (d.contains("seconds")) s.seconds = nb::cast<double>(d["seconds"]);
  return s;
}

}  // namespace

}  // namespace roundoff::python

NB_MODULE(_core, m) {
  using namespace roundoff;
  using namespace roundoff::python;

  m.doc() =
      "roundoff's C++ engine. Use the functions of the `roundoff` package (check, run, exact, "
      "testing.assert_rounding_consistent); this module is their implementation.";
  m.attr("__version__") = std::string(roundoff::version());

  nb::register_exception_translator([](const std::exception_ptr& p, void*) {
    try {
      std::rethrow_exception(p);
    } catch (const type_error& e) {
      PyErr_SetString(PyExc_TypeError, e.what());
    } catch (const argument_error& e) {
      PyErr_SetString(PyExc_ValueError, cli_message(e).c_str());
    } catch (const input_error& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const resource_error& e) {
      PyErr_SetString(PyExc_MemoryError, e.what());
    }
  });

  nb::class_<tensor>(m, "Tensor",
                     "A tensor as the engine holds it: shape, the format its values came from, "
                     "and the values as float64 (every value of every format is a double).")
      .def_prop_ro(
          "shape",
          [](const tensor& t) {
            nb::list l;
            for (auto d : t.shape) l.append(d);
            return nb::tuple(l);
          },
          "The shape, as a tuple of ints.")
      .def_prop_ro(
          "format", [](const tensor& t) { return std::string(traits(t.type).name); },
          "The format the values came from: 'f64', 'f32', 'f16' or 'bf16'.")
      .def_prop_ro("numel", &tensor::numel, "Number of elements.")
      .def(
          "numpy",
          [](nb::handle_t<tensor> self) {
            const tensor& t = nb::cast<const tensor&>(self);
            std::vector<std::size_t> sh(t.shape.begin(), t.shape.end());
            return nb::ndarray<nb::numpy, const double>(t.data.data(), sh.size(), sh.data(), self);
          },
          "The values as a read-only float64 numpy array viewing this tensor's memory (no copy).");

  nb::class_<input>(m, "Input",
                    "An operand or output as the engine reads it: a view of the caller's host "
                    "float64/float32 row-major array (no copy; the array is kept alive), or the "
                    "values converted once (other dtypes and strides).")
      .def_prop_ro(
          "shape",
          [](const input& t) {
            nb::list l;
            for (auto d : t.view.shape) l.append(d);
            return nb::tuple(l);
          },
          "The shape, as a tuple of ints.")
      .def_prop_ro(
          "format", [](const input& t) { return std::string(traits(t.view.type).name); },
          "The format the values came from: 'f64', 'f32', 'f16' or 'bf16'.")
      .def_prop_ro(
          "copied", [](const input& t) { return t.owned != nullptr; },
          "True when the values were converted into a copy (not read in place).");

  m.def(
      "as_tensor",
      [](any_array a, const std::string& label, bool finite) { return as_input(a, label, finite); },
      "array"_a, "label"_a, "finite"_a,
      "Reads a host array (DLPack or buffer protocol; float64/32/16 or bfloat16; any strides) as "
      "an Input: row-major float64/float32 arrays are viewed in place (no copy), others are "
      "converted once. `label` names it in error messages; finite=True refuses NaN and Inf as "
      "the CLI refuses them in --input/--weight/--bias.");
  m.def(
      "view_tensor",
      [](nb::handle_t<tensor> t) {
        input in(nb::cast<const tensor&>(t));
        in.owner = nb::borrow(t);
        return in;
      },
      "tensor"_a, "An Input viewing a Tensor (which it keeps alive).");
  m.def(
      "as_owned_tensor",
      [](any_array a, const std::string& label, bool finite) {
        return to_tensor(a, label, finite);
      },
      "array"_a, "label"_a, "finite"_a,
      "Reads a host array into a Tensor (always a copy, as float64).");
  m.def(
      "_input_bytes_copied", [] { return input_bytes_copied(); },
      "Bytes of callers' arrays copied whole since the last reset (roundoff::input_bytes_copied): "
      "0 while every input and output is a host float64/float32 row-major array.");
  m.def(
      "_reset_input_bytes_copied", [] { reset_input_bytes_copied(); },
      "Resets the counter of _input_bytes_copied.");

  nb::class_<ops::op_spec>(m, "OpSpec", "An op and its convolution arguments, parsed and checked.")
      .def_prop_ro(
          "name", [](const ops::op_spec& s) { return std::string(ops::op_name(s.kind)); },
          "The op's name, e.g. 'conv2d'.")
      .def_prop_ro(
          "spatial_dims", [](const ops::op_spec& s) { return ops::spatial_dims(s.kind); },
          "Spatial dims of a conv op (1, 2, 3); 0 for the matrix-product ops.")
      .def_prop_ro(
          "transposed", [](const ops::op_spec& s) { return ops::is_transposed(s.kind); },
          "True for conv_transpose ops.");

  m.def(
      "op_spec",
      [](const std::string& name, std::optional<std::vector<std::int64_t>> stride,
         std::optional<std::vector<std::int64_t>> padding,
         std::optional<std::string> padding_keyword,
         std::optional<std::vector<std::int64_t>> dilation, std::optional<std::int64_t> groups,
         std::optional<std::vector<std::int64_t>> output_padding,
         std::optional<std::string> padding_mode) {
        ops::conv_arguments a;
        a.stride = std::move(stride);
        a.padding = std::move(padding);
        a.padding_keyword = std::move(padding_keyword);
        a.dilation = std::move(dilation);
        a.groups = groups;
        a.output_padding = std::move(output_padding);
        a.padding_mode = std::move(padding_mode);
        return make_op_spec(name, a);
      },
      "op"_a, "stride"_a = nb::none(), "padding"_a = nb::none(), "padding_keyword"_a = nb::none(),
      "dilation"_a = nb::none(), "groups"_a = nb::none(), "output_padding"_a = nb::none(),
      "padding_mode"_a = nb::none(),
      "An op name and its conv arguments, typed (lists of ints; padding_keyword 'same' or "
      "'valid'; None: not given), checked as `roundoff check <op> --stride ...` checks them, "
      "with the CLI's messages.");

  m.def(
      "op_names",
      [] {
        std::vector<std::string> r;
        for (int k = 0; k <= static_cast<int>(ops::op_kind::conv_transpose3d); ++k)
          r.emplace_back(ops::op_name(static_cast<ops::op_kind>(k)));
        return r;
      },
      "The ops roundoff knows, named as in PyTorch.");

  m.def(
      "output_shape",
      [](const ops::op_spec& spec, const input& x, const input& w, const input* b) {
        return checked_output_shape(spec, x.view, w.view, b ? &b->view : nullptr);
      },
      "op"_a, "x"_a, "w"_a, "b"_a.none(),
      "The op's output shape; ValueError (PyTorch's rules) when the operands do not fit.");

  m.def(
      "check_device", [](const std::string& device) { check_device(device); }, "device"_a,
      "ValueError (the CLI's --device message) unless the device can run the exact engine.");

  m.def(
      "exact",
      [](const ops::op_spec& spec, const input& xi, const input& wi, const input* bi,
         const std::string& method, long precision_bits, int threads, const std::string& device) {
        const tensor_view &x = xi.view, &w = wi.view;
        const tensor_view* b = bi ? &bi->view : nullptr;
        ops::reference_options opt;
        if (method == "fast")
          opt.how = ops::method::fast;
        else if (method == "simple")
          opt.how = ops::method::simple;
        else if (method == "mpfr")
          opt.how = ops::method::mpfr;
        else
          throw input_error("--method: " + method + " not in {fast,simple,mpfr}");
        if (precision_bits != 0) {
          if (opt.how != ops::method::mpfr)
            throw input_error("--precision-bits: applies to --method mpfr only");
          if (precision_bits < 2 || precision_bits > (1L << 24))
            throw input_error("--precision-bits: Value " + std::to_string(precision_bits) +
                              " not in range 2 to 16777216");
          opt.precision_bits = precision_bits;
        }
        check_threads(threads);
        opt.threads = threads;
        if (device == "cuda" && opt.how != ops::method::fast)
          throw input_error("--device cuda: applies to --method fast only");
        opt.device = check_device(device);
        opt.want_magnitude = false;
        checked_output_shape(spec, x, w, b);
        std::vector<double> values;
        std::vector<std::int64_t> shape;
        std::int64_t inexact = 0;
        {
          nb::gil_scoped_release release;
          ops::op_result r = ops::evaluate({spec, x, w, b}, opt);
          shape = r.exact.shape();
          values = r.exact.rounded();
          if (opt.how == ops::method::mpfr)
            for (auto e : r.oracle_exact) inexact += e ? 0 : 1;
        }
        return std::make_pair(to_numpy(std::move(values), shape), inexact);
      },
      "op"_a, "x"_a, "w"_a, "b"_a.none(), "method"_a, "precision_bits"_a, "threads"_a,
      "device"_a = "cpu",
      "The op's exact result rounded once to float64 (ops::evaluate), and for method 'mpfr' the "
      "number of elements that were NOT exact at precision_bits (0 otherwise).");

  m.def(
      "parse_model", [](const std::string& name) { return bounds::parse_model(name).name; },
      "name"_a, "The preset's canonical name ('fp32' -> 'f32'); ValueError for an unknown one.");
  m.def("preset_names", &bounds::preset_names, "Every arithmetic preset, most precise first.");
  m.def("check_confidence", &check_confidence, "confidence"_a,
        "ValueError unless 0 < confidence < 1 (the CLI's --confidence rule).");

  nb::class_<report::results>(m, "Results",
                              "The verdict report of check/run (report::results), rendered by "
                              "the same code as the CLI's reports.")
      .def(
          "render",
          [](const report::results& r, const std::string& format) {
            report::render_options o;
            o.colour = false;
            return report::render(r, report::parse_output_format(format), o);
          },
          "format"_a,
          "The report as the CLI writes it with --format FORMAT (table, markdown, latex, csv, "
          "json).")
      .def(
          "exit_code",
          [](const report::results& r, bool fail_on_suspicious) {
            return verdicts::finding_exit_code(r, fail_on_suspicious);
          },
          "fail_on_suspicious"_a,
          "The CLI's exit code for this report: 1 on a violation (or a suspicious verdict when "
          "fail_on_suspicious), else 0.");

  m.def(
      "judge",
      [](const ops::op_spec& spec, const input& xi, const input& wi, const input* bi,
         const std::vector<std::tuple<std::string, std::string, const input*, nb::dict>>& outs,
         const std::vector<std::pair<std::size_t, std::size_t>>& pairs, double confidence,
         int worst, int threads, const std::string& command,
         const std::vector<std::pair<std::string, nb::object>>& params,
         const std::vector<std::tuple<std::string, std::string, std::string>>& skipped,
         const std::string& device, bool bit_identical) {
        const tensor_view &x = xi.view, &w = wi.view;
        const tensor_view* b = bi ? &bi->view : nullptr;
        check_confidence(confidence);
        const exact::device_kind dev = check_device(device);
        if (worst < 0 || worst > 1000)
          throw input_error("--worst: Value " + std::to_string(worst) + " not in range 0 to 1000");
        check_threads(threads);
        const auto out_shape = checked_output_shape(spec, x, w, b);
        const std::string op(ops::op_name(spec.kind));
        std::vector<verdicts::judged_output> judged;
        for (const auto& [name, declared, y, source] : outs) {
          if (!y) throw type_error("outputs['" + name + "']: None is not a tensor");
          if (y->view.shape != out_shape)
            throw input_error("outputs['" + name + "']: shape " + shape_string(y->view.shape) +
                              " but " + op + " of " + operands_text(x, w, b) + " gives " +
                              shape_string(out_shape));
          judged.push_back({name, bounds::parse_model(declared).name, y->view, to_source(source)});
        }
        for (const auto& [i, j] : pairs)
          if (i >= judged.size() || j >= judged.size() || i == j)
            throw input_error("pairs: (" + std::to_string(i) + ", " + std::to_string(j) +
                              ") is not a pair of outputs");
        auto r = std::make_unique<report::results>();
        r->command = command;
        r->op = op;
        for (const auto& [k, v] : params) r->params.push_back({k, to_param(v)});
        r->reference = {"fast", true};
        verdicts::judge_options jo;
        jo.confidence = confidence;
        jo.worst = worst;
        jo.threads = threads;
        jo.device = dev;
        {
          nb::gil_scoped_release release;
          verdicts::judge({spec, x, w, b}, judged, pairs, jo, *r);
          // What `roundoff check` adds after judging (src/cli/check.cpp): "bit-identical to
          // sm_90 tensor cores (...)" where an emulation reproduces an output (never a verdict).
          if (bit_identical)
            for (std::size_t i = 0; i < judged.size(); ++i)
              r->items[i].bit_identical_to = backends::tc::bit_identical_description(
                  spec, x, w, b, judged[i].observed, r->items[i].declared,
                  r->items[i].consistent_models, threads);
        }
        for (const auto& [name, declared, explanation] : skipped) {
          report::result k;
          k.name = name;
          k.declared = declared;
          k.verdict = "skipped";
          k.explanation = explanation;
          r->items.push_back(std::move(k));
        }
        return r;
      },
      "op"_a, "x"_a, "w"_a, "b"_a.none(), "outputs"_a, "pairs"_a, "confidence"_a, "worst"_a,
      "threads"_a, "command"_a, "params"_a, "skipped"_a, "device"_a = "cpu",
      "bit_identical"_a = false,
      "verdicts::judge, the kernel behind the CLI's check and run: each output (name, declared "
      "preset, Tensor, source dict) against the exact result, each pair (indices) against each "
      "other; `skipped` (name, declared, explanation) are listed after them as run's skipped "
      "backends. bit_identical: also search the sm_90 tensor-core emulations for each output, as "
      "`roundoff check` does (results' bit_identical_to; docs/tensor-cores.md §3).");

  m.def(
      "backends",
      [] {
        nb::list l;
        for (const auto& i : backends::list_backends()) {
          nb::dict d;
          d["name"] = i.name;
          d["library"] = i.library;
          d["device"] = i.device;
          d["formulation"] = i.formulation;
          d["format"] = i.format;
          d["declared"] = i.model;
          d["ops"] = i.ops;
          d["available"] = i.available;
          d["reason"] = i.reason;
          const auto* be = backends::builtin_registry().find(i.name);
          d["storage"] = std::string(traits(be->storage_format()).name);
          l.append(d);
        }
        return l;
      },
      "Every implementation of the C++ registry, as `roundoff backends --format json` lists "
      "them (plus `storage`, the format the inputs are stored in). This extension is built "
      "without LibTorch and CUDA: their entries are unavailable here; python/roundoff runs the "
      "torch ones through the installed torch instead.");

  m.def(
      "select_backends",
      [](const std::vector<std::string>& globs) {
        std::vector<std::string> names;
        for (const auto* b : backends::builtin_registry().select(globs))
          names.push_back(b->full_name());
        return names;
      },
      "globs"_a,
      "Names of the registry's backends matching any glob (registry order; empty: all). "
      "ValueError for a glob matching none, as `roundoff run --impl` says.");

  m.def(
      "round_to_format",
      [](const tensor& t, const std::string& format) {
        const auto f = parse_format(format);
        if (!f) throw input_error("unknown format '" + format + "'");
        tensor r = t;
        std::int64_t changed = 0;
        for (double& v : r.data) {
          const double q = round_to(*f, v);
          if (!(q == v) && !(q != q && v != v)) ++changed;  // NaN stays NaN, not a change
          v = q;
        }
        r.type = *f;
        return std::make_pair(std::move(r), changed);
      },
      "tensor"_a, "format"_a,
      "The tensor rounded (nearest-even) to a format, and how many elements changed: what "
      "backend::run does to a backend's inputs before running it.");

  m.def(
      "run_backend",
      [](const std::string& name, const ops::op_spec& spec, const tensor& x, const tensor& w,
         const tensor* b, int threads) {
        const auto* be = backends::builtin_registry().find(name);
        if (!be)
          throw input_error("--impl " + name + ": matches no backend (see `roundoff backends`)");
        check_threads(threads);
        backends::run_options ro;
        ro.threads = threads;
        backends::run_result rr;
        {
          nb::gil_scoped_release release;
          rr = be->run(spec, x, w, b, ro);
        }
        nb::dict info = info_dict(rr.info);
        return std::make_pair(std::move(rr.output), info);
      },
      "name"_a, "op"_a, "x"_a, "w"_a, "b"_a.none(), "threads"_a,
      "Runs one C++ backend (backend::run) and returns its output Tensor and its run_info.");

  m.def(
      "generate_inputs",
      [](const std::vector<std::int64_t>& x_shape, const std::vector<std::int64_t>& w_shape,
         const std::optional<std::vector<std::int64_t>>& b_shape, const std::string& dist,
         std::uint64_t seed, const std::string& dtype) {
        check_size("x", x_shape);
        check_size("w", w_shape);
        if (b_shape) check_size("b", *b_shape);
        const auto d = verdicts::parse_distribution(dist);
        const auto f = parse_format(dtype);
        if (!f || *f == format_id::tf32 || *f == format_id::e4m3 || *f == format_id::e5m2)
          throw input_error("--dtype: unknown input format '" + dtype +
                            "' (known: f64, f32, f16, bf16)");
        verdicts::generated_inputs in;
        {
          nb::gil_scoped_release release;
          in = verdicts::generate_inputs(x_shape, w_shape,
                                         b_shape.value_or(std::vector<std::int64_t>{}),
                                         b_shape.has_value(), d, seed, *f);
        }
        return std::make_tuple(std::move(in.x), std::move(in.w), std::move(in.b));
      },
      "x_shape"_a, "w_shape"_a, "b_shape"_a.none(), "dist"_a, "seed"_a, "dtype"_a,
      "The inputs `roundoff run` generates (verdicts::generate_inputs): x, W, b in that order "
      "from one splitmix64 stream, rounded to dtype.");

  m.def(
      "exact_kernel", [] { return std::string(exact::gemm_exact_kernel()); },
      "The kernel of the fast exact path: 'native-avx2' or 'openblas'.");
}
