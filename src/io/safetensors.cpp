// .safetensors reader. The header is parsed with nlohmann::json and validated as a whole before
// any tensor is decoded; data offsets must tile the data section exactly (the reference
// implementation's rule), so no two tensors share bytes and every byte belongs to one tensor.
#include "roundoff/io/safetensors.hpp"

#include <algorithm>
#include <bit>
#include <optional>
#include <set>

#include <nlohmann/json.hpp>

#include "io_detail.hpp"
#include "roundoff/error.hpp"
#include "roundoff/io/npy.hpp"

namespace roundoff::io {

namespace {

using json = nlohmann::json;

struct dtype_info {
  std::string_view code;  // as in the header
  std::string_view what;  // for messages
  std::size_t bytes;      // element size
  std::optional<format_id> format;
};

// Every dtype of the format with a whole-byte element; the first four are read.
constexpr dtype_info dtypes[] = {
    {"F16", "float16", 2, format_id::f16},
    {"BF16", "bfloat16", 2, format_id::bf16},
    {"F32", "float32", 4, format_id::f32},
    {"F64", "float64", 8, format_id::f64},
    {"BOOL", "bool", 1, {}},
    {"U8", "uint8", 1, {}},
    {"I8", "int8", 1, {}},
    {"F8_E5M2", "float8 e5m2", 1, {}},
    {"F8_E4M3", "float8 e4m3", 1, {}},
    {"F8_E8M0", "float8 e8m0", 1, {}},
    {"I16", "int16", 2, {}},
    {"U16", "uint16", 2, {}},
    {"I32", "int32", 4, {}},
    {"U32", "uint32", 4, {}},
    {"I64", "int64", 8, {}},
    {"U64", "uint64", 8, {}},
    {"C64", "complex64", 8, {}},
};

const dtype_info* find_dtype(std::string_view code) {
  for (const auto& d : dtypes)
    if (d.code == code) return &d;
  return nullptr;
}

struct entry {
  std::string name;
  std::string dtype;
  const dtype_info* info = nullptr;  // null: a dtype this reader does not know (sub-byte types)
  std::vector<std::int64_t> shape;
  std::uint64_t numel = 1;
  std::uint64_t begin = 0, end = 0;
};

struct header {
  std::vector<entry> entries;  // in data order
  const std::byte* data = nullptr;
};

std::uint64_t load_le64(const std::byte* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<std::uint64_t>(p[i]);
  return v;
}

std::string shape_text(const std::vector<std::int64_t>& s) {
  std::string out = "[";
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

std::string range_text(const entry& e) {
  std::string out = "[";
  out += std::to_string(e.begin);
  out += ", ";
  out += std::to_string(e.end);
  return out += ")";
}

// A non-negative JSON integer, or nullopt.
std::optional<std::uint64_t> as_count(const json& v) {
  if (v.is_number_unsigned()) return v.get<std::uint64_t>();
  if (v.is_number_integer() && v.get<std::int64_t>() >= 0)
    return static_cast<std::uint64_t>(v.get<std::int64_t>());
  return std::nullopt;
}

struct duplicate_key {
  std::string key;
};
struct too_deep {};

header parse_header(std::span<const std::byte> bytes, std::string_view name) {
  const std::size_t size = bytes.size();
  if (size < 8)
    detail::fail(name, "truncated file: " + std::to_string(size) +
                           " bytes (a .safetensors file starts with an 8-byte header length)");
  const std::uint64_t n = load_le64(bytes.data());
  if (n > safetensors_max_header_bytes)
    detail::fail(name, "corrupt header: declared header length " + std::to_string(n) +
                           " exceeds the limit of " + std::to_string(safetensors_max_header_bytes) +
                           " bytes");
  if (n > size - 8)
    detail::fail(name, "truncated header: declares " + std::to_string(n) + " bytes, found " +
                           std::to_string(size - 8));
  const char* text = reinterpret_cast<const char*>(bytes.data() + 8);
  if (n == 0 || text[0] != '{')
    detail::fail(name, "corrupt header: not a JSON object (a .safetensors header starts with '{')");

  // Duplicate keys would make "which value" depend on the parser; refuse them.
  std::vector<std::set<std::string>> keys;
  const json::parser_callback_t check = [&keys](int depth, json::parse_event_t ev, json& v) {
    if (depth > 8) throw too_deep{};
    if (ev == json::parse_event_t::object_start) {
      keys.emplace_back();
    } else if (ev == json::parse_event_t::object_end) {
      if (!keys.empty()) keys.pop_back();
    } else if (ev == json::parse_event_t::key && !keys.empty()) {
      if (!keys.back().insert(v.get<std::string>()).second)
        throw duplicate_key{v.get<std::string>()};
    }
    return true;
  };
  json h;
  try {
    h = json::parse(text, text + n, check);
  } catch (const json::parse_error& e) {
    detail::fail(name, "corrupt header: invalid JSON at header byte " + std::to_string(e.byte));
  } catch (const json::exception&) {
    detail::fail(name, "corrupt header: invalid JSON");
  } catch (const duplicate_key& d) {
    detail::fail(name, "corrupt header: key '" + detail::printable(d.key) + "' appears twice");
  } catch (const too_deep&) {
    detail::fail(name, "corrupt header: JSON nested too deep");
  }
  if (!h.is_object()) detail::fail(name, "corrupt header: not a JSON object");

  const std::uint64_t data_size = size - 8 - n;
  header out;
  out.data = bytes.data() + 8 + n;
  for (const auto& [key, v] : h.items()) {
    const std::string who = "tensor '" + detail::printable(key) + "'";
    if (key == "__metadata__") {
      if (!v.is_object()) detail::fail(name, "corrupt header: __metadata__ is not an object");
      for (const auto& [mk, mv] : v.items())
        if (!mv.is_string())
          detail::fail(name, "corrupt header: __metadata__ value '" + detail::printable(mk) +
                                 "' is not a string");
      continue;
    }
    if (!v.is_object()) detail::fail(name, "corrupt header: " + who + " is not an object");
    for (const auto& [field, fv] : v.items()) {
      (void)fv;
      if (field != "dtype" && field != "shape" && field != "data_offsets")
        detail::fail(name, "corrupt header: " + who + " has unknown field '" +
                               detail::printable(field) + "'");
    }
    if (!v.contains("dtype") || !v.contains("shape") || !v.contains("data_offsets"))
      detail::fail(name, "corrupt header: " + who + " needs dtype, shape and data_offsets");
    entry e;
    e.name = key;
    const json& dt = v["dtype"];
    if (!dt.is_string()) detail::fail(name, "corrupt header: " + who + " dtype is not a string");
    e.dtype = dt.get<std::string>();
    e.info = find_dtype(e.dtype);
    const json& shape = v["shape"];
    if (!shape.is_array() || shape.size() > 64)
      detail::fail(name, "corrupt header: " + who + " shape is not a list of at most 64 sizes");
    for (const auto& d : shape) {
      const auto c = as_count(d);
      if (!c || *c > static_cast<std::uint64_t>(INT64_MAX))
        detail::fail(name,
                     "corrupt header: " + who + " shape is not a list of non-negative integers");
      e.shape.push_back(static_cast<std::int64_t>(*c));
      if (__builtin_mul_overflow(e.numel, *c, &e.numel))
        detail::fail(name,
                     "corrupt header: " + who + " shape " + shape_text(e.shape) + "... overflows");
    }
    const json& off = v["data_offsets"];
    const auto b = off.is_array() && off.size() == 2 ? as_count(off[0]) : std::nullopt;
    const auto en = off.is_array() && off.size() == 2 ? as_count(off[1]) : std::nullopt;
    if (!b || !en)
      detail::fail(
          name, "corrupt header: " + who + " data_offsets is not a pair of non-negative integers");
    e.begin = *b;
    e.end = *en;
    if (e.begin > e.end)
      detail::fail(name, "corrupt header: " + who + " data_offsets " + range_text(e) +
                             " end before they begin");
    if (e.end > data_size)
      detail::fail(name, who + " data_offsets " + range_text(e) +
                             " run past the end of the data (" + std::to_string(data_size) +
                             " bytes)");
    if (e.info) {
      std::uint64_t nbytes = 0;
      if (__builtin_mul_overflow(e.numel, static_cast<std::uint64_t>(e.info->bytes), &nbytes) ||
          e.numel > static_cast<std::uint64_t>(INT64_MAX))
        detail::fail(name,
                     "corrupt header: " + who + " shape " + shape_text(e.shape) + " overflows");
      if (e.end - e.begin != nbytes)
        detail::fail(name, who + " has " + std::to_string(e.end - e.begin) +
                               " data bytes but dtype " + e.dtype + " and shape " +
                               shape_text(e.shape) + " need " + std::to_string(nbytes));
    }
    out.entries.push_back(std::move(e));
  }
  std::sort(out.entries.begin(), out.entries.end(), [](const entry& a, const entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  // Tiling: sorted by offset, each tensor starts where the previous one ends.
  std::uint64_t at = 0;
  const entry* prev = nullptr;
  for (const auto& e : out.entries) {
    if (e.begin < at)
      detail::fail(name, "tensors '" + detail::printable(prev->name) + "' " + range_text(*prev) +
                             " and '" + detail::printable(e.name) + "' " + range_text(e) +
                             " overlap");
    if (e.begin > at)
      detail::fail(name, "corrupt file: data bytes [" + std::to_string(at) + ", " +
                             std::to_string(e.begin) + ") belong to no tensor");
    at = e.end;
    prev = &e;
  }
  if (at != data_size)
    detail::fail(name, "corrupt file: data bytes [" + std::to_string(at) + ", " +
                           std::to_string(data_size) + ") belong to no tensor");
  return out;
}

}  // namespace

std::vector<std::string> safetensors_names(std::span<const std::byte> bytes,
                                           std::string_view name) {
  const header h = parse_header(bytes, name);
  std::vector<std::string> out;
  for (const auto& e : h.entries) out.push_back(e.name);
  return out;
}

tensor parse_safetensors(std::span<const std::byte> bytes, std::string_view name,
                         std::string_view tensor_name) {
  const header h = parse_header(bytes, name);
  const entry* e = nullptr;
  if (tensor_name.empty()) {
    if (h.entries.size() != 1) {
      std::vector<std::string> names;
      for (const auto& x : h.entries) names.push_back(x.name);
      if (names.empty()) detail::fail(name, "the file holds no tensors");
      detail::fail(name, "holds " + std::to_string(names.size()) + " tensors (" +
                             detail::name_list(names) + "); name one as " + std::string(name) +
                             ":NAME");
    }
    e = &h.entries.front();
  } else {
    for (const auto& x : h.entries)
      if (x.name == tensor_name) e = &x;
    if (!e) {
      std::vector<std::string> names;
      for (const auto& x : h.entries) names.push_back(x.name);
      detail::fail(name, "no tensor '" + detail::printable(tensor_name) + "' in the file (" +
                             (names.empty() ? std::string("it holds none")
                                            : "it holds " + detail::name_list(names)) +
                             ")");
    }
  }
  const std::string who = std::string(name) + ":" + detail::printable(e->name);
  if (!e->info || !e->info->format)
    detail::fail(who, "unsupported dtype " + detail::printable(e->dtype) +
                          (e->info ? " (" + std::string(e->info->what) + ")" : std::string()) +
                          "; roundoff reads F16, BF16, F32 and F64 tensors");
  tensor t;
  t.shape = e->shape;
  t.type = *e->info->format;
  const std::size_t n = static_cast<std::size_t>(e->numel);  // its bytes are present: checked
  t.data.resize(n);
  const std::byte* p = h.data + e->begin;
  auto le = [p](std::size_t i, std::size_t w) {
    std::uint64_t v = 0;
    for (std::size_t k = w; k-- > 0;) v = (v << 8) | static_cast<std::uint64_t>(p[i * w + k]);
    return v;
  };
  switch (t.type) {
    case format_id::f16:
      for (std::size_t i = 0; i < n; ++i)
        t.data[i] = f16_bits_to_double(static_cast<std::uint16_t>(le(i, 2)));
      break;
    case format_id::bf16:
      for (std::size_t i = 0; i < n; ++i)
        t.data[i] = bf16_bits_to_double(static_cast<std::uint16_t>(le(i, 2)));
      break;
    case format_id::f32:
      for (std::size_t i = 0; i < n; ++i)
        t.data[i] = static_cast<double>(std::bit_cast<float>(static_cast<std::uint32_t>(le(i, 4))));
      break;
    default:
      for (std::size_t i = 0; i < n; ++i) t.data[i] = std::bit_cast<double>(le(i, 8));
      break;
  }
  return t;
}

tensor read_safetensors(const std::filesystem::path& file, std::string_view tensor_name) {
  const std::string name = file.string();
  const detail::file_bytes f(file, name);
  return parse_safetensors(f.bytes(), name, tensor_name);
}

}  // namespace roundoff::io
