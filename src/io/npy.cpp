// .npy reader/writer. The parser works on bytes in memory (read_npy reads the whole file first),
// so the fuzzer (tests/fuzzing/npy_fuzzer.cpp) exercises exactly the path that files take.
// Nothing is allocated from a header's claims before they are checked against the bytes present.
#include "roundoff/io/npy.hpp"

#include <bit>
#include <cctype>
#include <cerrno>
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <system_error>
#include <utility>

#include "roundoff/error.hpp"

namespace roundoff::io {

namespace {

[[noreturn]] void fail(std::string_view name, std::string_view problem) {
  std::string msg(name);
  msg += ": ";
  msg += problem;
  throw input_error(msg);
}

// ---- A parser for the Python literal subset that .npy headers use ------------------------
// dict, tuple, list, str, int (optionally with a Python 2 'L' suffix), True/False/None.

struct py_value {
  enum class kind : std::uint8_t { str, boolean, integer, tuple, list, dict, none } k;
  explicit py_value(kind kk) : k(kk) {}
  std::string s;
  bool b = false;
  std::int64_t i = 0;
  std::vector<py_value> items;                            // tuple, list
  std::vector<std::pair<std::string, py_value>> entries;  // dict (string keys only)
};

class literal_parser {
 public:
  literal_parser(std::string_view text, std::string_view name) : t_(text), name_(name) {}

  py_value parse_all() {
    py_value v = value(0);
    skip_ws();
    if (pos_ != t_.size()) error("unexpected text after the dictionary");
    return v;
  }

 private:
  static constexpr int max_depth = 16;

  [[noreturn]] void error(std::string_view what) const {
    fail(name_,
         "corrupt header: " + std::string(what) + " at header offset " + std::to_string(pos_));
  }
  void skip_ws() {
    while (pos_ < t_.size() &&
           (t_[pos_] == ' ' || t_[pos_] == '\t' || t_[pos_] == '\n' || t_[pos_] == '\r'))
      ++pos_;
  }
  bool eat(char c) {
    skip_ws();
    if (pos_ < t_.size() && t_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool eat_word(std::string_view w) {
    if (t_.substr(pos_, w.size()) != w) return false;
    const std::size_t end = pos_ + w.size();
    if (end < t_.size() && (std::isalnum(static_cast<unsigned char>(t_[end])) || t_[end] == '_'))
      return false;
    pos_ = end;
    return true;
  }

  py_value value(int depth) {
    if (depth > max_depth) error("nesting too deep");
    skip_ws();
    if (pos_ >= t_.size()) error("unexpected end");
    const char c = t_[pos_];
    if (c == '{') return dict(depth);
    if (c == '(' || c == '[') return sequence(depth);
    if (c == '\'' || c == '"') {
      py_value v(py_value::kind::str);
      v.s = string();
      return v;
    }
    if (c == '-' || c == '+' || (c >= '0' && c <= '9')) return integer();
    py_value v(py_value::kind::none);
    if (eat_word("True")) {
      v.k = py_value::kind::boolean;
      v.b = true;
    } else if (eat_word("False")) {
      v.k = py_value::kind::boolean;
    } else if (!eat_word("None")) {
      error("unexpected character");
    }
    return v;
  }

  std::string string() {
    const char q = t_[pos_++];
    std::string out;
    while (true) {
      if (pos_ >= t_.size()) error("unterminated string");
      char c = t_[pos_++];
      if (c == q) break;
      if (c == '\n') error("unterminated string");
      if (c == '\\') {
        if (pos_ >= t_.size()) error("unterminated string");
        c = t_[pos_++];
      }
      out += c;
    }
    return out;
  }

  py_value integer() {
    py_value v(py_value::kind::integer);
    bool neg = false;
    if (t_[pos_] == '-' || t_[pos_] == '+') neg = t_[pos_++] == '-';
    if (pos_ >= t_.size() || t_[pos_] < '0' || t_[pos_] > '9') error("expected a digit");
    std::uint64_t mag = 0;
    while (pos_ < t_.size() && t_[pos_] >= '0' && t_[pos_] <= '9') {
      const auto d = static_cast<std::uint64_t>(t_[pos_++] - '0');
      if (mag > (static_cast<std::uint64_t>(INT64_MAX) - d) / 10) error("integer too large");
      mag = mag * 10 + d;
    }
    if (pos_ < t_.size() && t_[pos_] == 'L') ++pos_;  // Python 2 long literal
    v.i = neg ? -static_cast<std::int64_t>(mag) : static_cast<std::int64_t>(mag);
    return v;
  }

  py_value sequence(int depth) {
    const char open = t_[pos_++];
    const char close = open == '(' ? ')' : ']';
    py_value v(open == '(' ? py_value::kind::tuple : py_value::kind::list);
    bool comma = false;
    while (!eat(close)) {
      if (!v.items.empty() && !comma) error(std::string("expected ',' or '") + close + "'");
      v.items.push_back(value(depth + 1));
      comma = eat(',');
    }
    // (x) without a comma is just x in Python.
    if (open == '(' && v.items.size() == 1 && !comma) return std::move(v.items[0]);
    return v;
  }

  py_value dict(int depth) {
    ++pos_;
    py_value v(py_value::kind::dict);
    bool comma = false;
    while (!eat('}')) {
      if (!v.entries.empty() && !comma) error("expected ',' or '}'");
      skip_ws();
      if (pos_ >= t_.size() || (t_[pos_] != '\'' && t_[pos_] != '"'))
        error("expected a string key");
      std::string key = string();
      if (!eat(':')) error("expected ':'");
      v.entries.emplace_back(std::move(key), value(depth + 1));
      comma = eat(',');
    }
    return v;
  }

  std::string_view t_;
  std::string_view name_;
  std::size_t pos_ = 0;
};

// ---- Header semantics ---------------------------------------------------------------------

enum class element : std::uint8_t { f16, bf16, f32, f64 };

struct header {
  element type = element::f64;
  bool big_endian = false;
  bool fortran = false;
  std::vector<std::int64_t> shape;
};

std::string describe_dtype(std::string_view d) {
  std::string_view body = d;
  if (!body.empty() && std::string_view("<>|=").find(body[0]) != std::string_view::npos)
    body.remove_prefix(1);
  if (body.empty()) return "";
  const std::string size(body.substr(1));
  int bytes = 0;
  for (char c : size) {
    if (c < '0' || c > '9' || bytes > 1000) return "";
    bytes = bytes * 10 + (c - '0');
  }
  const std::string bits = std::to_string(bytes * 8);
  switch (body[0]) {
    case 'i':
      return "int" + bits;
    case 'u':
      return "uint" + bits;
    case 'b':
      return "bool";
    case '?':
      return "bool";
    case 'f':
      return bytes > 8 ? "long double" : "float" + bits;
    case 'c':
      return "complex" + bits;
    case 'O':
      return "Python objects (pickled)";
    case 'U':
    case 'S':
    case 'a':
      return "string";
    case 'M':
    case 'm':
      return "datetime";
    case 'V':
      return "raw " + size + "-byte data";
    default:
      return "";
  }
}

header interpret(const py_value& dict, std::string_view name) {
  if (dict.k != py_value::kind::dict) fail(name, "corrupt header: not a dictionary");
  const py_value* descr = nullptr;
  const py_value* fortran = nullptr;
  const py_value* shape = nullptr;
  for (const auto& [key, v] : dict.entries) {
    const py_value** slot = key == "descr"           ? &descr
                            : key == "fortran_order" ? &fortran
                            : key == "shape"         ? &shape
                                                     : nullptr;
    if (!slot) fail(name, "corrupt header: unexpected key '" + key + "'");
    if (*slot) fail(name, "corrupt header: duplicate key '" + key + "'");
    *slot = &v;
  }
  if (!descr) fail(name, "corrupt header: missing key 'descr'");
  if (!fortran) fail(name, "corrupt header: missing key 'fortran_order'");
  if (!shape) fail(name, "corrupt header: missing key 'shape'");

  header h;
  if (descr->k == py_value::kind::list)
    fail(name, "unsupported dtype: structured (record) arrays are not tensors");
  if (descr->k != py_value::kind::str) fail(name, "corrupt header: 'descr' is not a string");
  const std::string& d = descr->s;
  std::string_view body = d;
  char order = '=';
  if (!body.empty() && std::string_view("<>|=").find(body[0]) != std::string_view::npos) {
    order = body[0];
    body.remove_prefix(1);
  }
  const bool native_big = std::endian::native == std::endian::big;
  if (body == "f2" || body == "f4" || body == "f8") {
    h.type = body == "f2" ? element::f16 : body == "f4" ? element::f32 : element::f64;
    h.big_endian = order == '>' || ((order == '=' || order == '|') && native_big);
  } else if (body == "V2") {
    h.type = element::bf16;  // raw 2-byte data: bf16 bit patterns, little-endian (docs/cli.md)
  } else {
    std::string what = describe_dtype(d);
    std::string msg = "unsupported dtype '" + d + "'";
    if (!what.empty()) msg += " (" + what + ")";
    msg +=
        "; roundoff reads float16, float32, float64 ('<f2' '<f4' '<f8', either byte order)"
        " and bf16 saved as raw '|V2' data";
    fail(name, msg);
  }

  if (fortran->k != py_value::kind::boolean)
    fail(name, "corrupt header: 'fortran_order' is not True or False");
  h.fortran = fortran->b;

  if (shape->k != py_value::kind::tuple)
    fail(name, "corrupt header: 'shape' is not a tuple of integers");
  if (shape->items.size() > 64) fail(name, "corrupt header: more than 64 dimensions");
  for (const auto& dim : shape->items) {
    if (dim.k != py_value::kind::integer)
      fail(name, "corrupt header: 'shape' is not a tuple of integers");
    if (dim.i < 0) fail(name, "corrupt header: negative dimension " + std::to_string(dim.i));
    h.shape.push_back(dim.i);
  }
  return h;
}

std::size_t element_bytes(element e) {
  return e == element::f32 ? 4 : e == element::f64 ? 8 : 2;
}

std::string shape_text(const std::vector<std::int64_t>& s) {
  std::string out = "(";
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + (s.size() == 1 ? ",)" : ")");
}

std::uint64_t load_le(const std::byte* p, std::size_t n, bool big) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t j = big ? i : n - 1 - i;
    v = (v << 8) | static_cast<std::uint64_t>(p[j]);
  }
  return v;
}

double decode(const std::byte* p, element e, bool big) {
  switch (e) {
    case element::f16:
      return f16_bits_to_double(static_cast<std::uint16_t>(load_le(p, 2, big)));
    case element::bf16:
      return bf16_bits_to_double(static_cast<std::uint16_t>(load_le(p, 2, false)));
    case element::f32:
      return static_cast<double>(
          std::bit_cast<float>(static_cast<std::uint32_t>(load_le(p, 4, big))));
    case element::f64:
      return std::bit_cast<double>(load_le(p, 8, big));
  }
  return 0;
}

format_id format_of(element e) {
  switch (e) {
    case element::f16:
      return format_id::f16;
    case element::bf16:
      return format_id::bf16;
    case element::f32:
      return format_id::f32;
    case element::f64:
      return format_id::f64;
  }
  return format_id::f64;
}

}  // namespace

namespace {

// The preamble and header of a .npy file, checked, and the sizes they imply.
struct parsed_header {
  header h;
  std::size_t offset = 0;        // first data byte
  std::uint64_t numel = 0;       // elements
  std::uint64_t data_bytes = 0;  // numel * element size, no overflow
};

parsed_header parse_header(std::span<const std::byte> bytes, std::string_view name) {
  static constexpr unsigned char magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
  const std::size_t size = bytes.size();
  if (size < 6 || std::memcmp(bytes.data(), magic, 6) != 0)
    fail(name, "not a .npy file (bad magic; expected \\x93NUMPY)");
  if (size < 10) fail(name, "truncated header: file has only " + std::to_string(size) + " bytes");
  const auto major = static_cast<unsigned>(bytes[6]);
  const auto minor = static_cast<unsigned>(bytes[7]);
  if (!((major == 1 || major == 2 || major == 3) && minor == 0))
    fail(name, "unsupported .npy format version " + std::to_string(major) + "." +
                   std::to_string(minor) + " (supported: 1.0, 2.0, 3.0)");
  const std::size_t len_bytes = major == 1 ? 2 : 4;
  const std::size_t preamble = 8 + len_bytes;
  if (size < preamble)
    fail(name, "truncated header: file has only " + std::to_string(size) + " bytes");
  const std::uint64_t header_len = load_le(bytes.data() + 8, len_bytes, false);
  if (header_len > npy_max_header_bytes)
    fail(name, "corrupt header: declared header length " + std::to_string(header_len) +
                   " exceeds the limit of " + std::to_string(npy_max_header_bytes) + " bytes");
  if (size - preamble < header_len)
    fail(name, "truncated header: expected " + std::to_string(header_len) +
                   " header bytes, found " + std::to_string(size - preamble));
  const std::string_view text(reinterpret_cast<const char*>(bytes.data() + preamble),
                              static_cast<std::size_t>(header_len));
  parsed_header p;
  p.h = interpret(literal_parser(text, name).parse_all(), name);
  const header& h = p.h;

  // Element count and byte count, refusing overflow before anything is allocated.
  const std::size_t esize = element_bytes(h.type);
  std::uint64_t numel = 1;
  for (auto d : h.shape) {
    if (__builtin_mul_overflow(numel, static_cast<std::uint64_t>(d), &numel))
      fail(name, "shape " + shape_text(h.shape) + " overflows: too many elements");
  }
  std::uint64_t data_bytes = 0;
  if (numel > static_cast<std::uint64_t>(INT64_MAX) ||
      __builtin_mul_overflow(numel, static_cast<std::uint64_t>(esize), &data_bytes))
    fail(name, "shape " + shape_text(h.shape) + " overflows: too many elements");
  p.offset = preamble + static_cast<std::size_t>(header_len);
  if (data_bytes > UINT64_MAX - p.offset)
    fail(name, "shape " + shape_text(h.shape) + " overflows: too many elements");
  p.numel = numel;
  p.data_bytes = data_bytes;
  return p;
}

}  // namespace

std::uint64_t npy_file_size(std::span<const std::byte> head, std::string_view name) {
  const parsed_header p = parse_header(head, name);
  return p.offset + p.data_bytes;
}

tensor parse_npy(std::span<const std::byte> bytes, std::string_view name) {
  const std::size_t size = bytes.size();
  const parsed_header p = parse_header(bytes, name);
  const header& h = p.h;
  const std::size_t esize = element_bytes(h.type);
  const std::uint64_t numel = p.numel;
  const std::uint64_t data_bytes = p.data_bytes;
  const std::size_t offset = p.offset;
  const std::uint64_t found = size - offset;
  if (found < data_bytes)
    fail(name, "truncated data: shape " + shape_text(h.shape) + " needs " +
                   std::to_string(data_bytes) + " bytes, found " + std::to_string(found));
  if (found > data_bytes)
    fail(name, std::to_string(found - data_bytes) + " unexpected bytes after the data (shape " +
                   shape_text(h.shape) + " needs " + std::to_string(data_bytes) + ")");

  tensor t;
  t.shape = h.shape;
  t.type = format_of(h.type);
  t.data.resize(static_cast<std::size_t>(numel));  // bounded by the bytes actually present
  const std::byte* src = bytes.data() + offset;
  const std::size_t n = static_cast<std::size_t>(numel);
  if (!h.fortran || h.shape.size() < 2) {
    for (std::size_t i = 0; i < n; ++i) t.data[i] = decode(src + i * esize, h.type, h.big_endian);
    return t;
  }
  // Fortran order: the file enumerates indices with the first one fastest. Walk that order with
  // a multi-index and the row-major strides of the destination.
  const std::size_t rank = h.shape.size();
  std::vector<std::size_t> stride(rank, 1), idx(rank, 0);
  for (std::size_t d = rank - 1; d-- > 0;)
    stride[d] = stride[d + 1] * static_cast<std::size_t>(h.shape[d + 1]);
  std::size_t dst = 0;
  for (std::size_t i = 0; i < n; ++i) {
    t.data[dst] = decode(src + i * esize, h.type, h.big_endian);
    for (std::size_t d = 0; d < rank; ++d) {
      dst += stride[d];
      if (++idx[d] < static_cast<std::size_t>(h.shape[d])) break;
      dst -= stride[d] * idx[d];
      idx[d] = 0;
    }
  }
  return t;
}

namespace {
std::vector<std::byte> read_file_bytes(const std::filesystem::path& file) {
  const std::string name = file.string();
  std::error_code ec;
  if (std::filesystem::is_directory(file, ec)) fail(name, "is a directory, not a .npy file");
  std::FILE* f = std::fopen(file.c_str(), "rb");
  if (!f) fail(name, std::string("cannot open: ") + std::strerror(errno));
  std::vector<std::byte> bytes;
  if (auto sz = std::filesystem::file_size(file, ec); !ec) bytes.reserve(sz);
  std::byte buf[1 << 16];
  while (true) {
    const std::size_t got = std::fread(buf, 1, sizeof buf, f);
    bytes.insert(bytes.end(), buf, buf + got);
    if (got < sizeof buf) break;
  }
  const bool bad = std::ferror(f) != 0;
  const int err = errno;
  std::fclose(f);
  if (bad) fail(name, std::string("read error: ") + std::strerror(err));
  return bytes;
}
}  // namespace

tensor read_npy(const std::filesystem::path& file) {
  return parse_npy(read_file_bytes(file), file.string());
}

npy_stored read_npy_stored(const std::filesystem::path& file) {
  const std::string name = file.string();
  const std::vector<std::byte> bytes = read_file_bytes(file);
  const parsed_header p = parse_header(bytes, name);
  npy_stored s;
  s.shape = p.h.shape;
  s.type = format_of(p.h.type);
  if (std::endian::native != std::endian::little || p.h.big_endian ||
      (p.h.fortran && p.h.shape.size() >= 2) || bytes.size() - p.offset != p.data_bytes) {
    // Converted (or refused with parse_npy's message for truncated or trailing data).
    const tensor t = parse_npy(bytes, name);
    s.widened = true;
    s.data.resize(t.data.size());
    if (!t.data.empty()) std::memcpy(s.data.data(), t.data.data(), t.data.size() * sizeof(double));
    return s;
  }
  s.data.resize(static_cast<std::size_t>((p.data_bytes + 7) / 8));
  if (p.data_bytes) std::memcpy(s.data.data(), bytes.data() + p.offset, p.data_bytes);
  return s;
}

std::vector<std::byte> encode_npy(const tensor& t, format_id as) {
  if (as != format_id::f64 && as != format_id::f32)
    throw unsupported_error("encode_npy: only f64 and f32 can be written");
  std::uint64_t numel = 1;
  for (auto d : t.shape) {
    if (d < 0 || __builtin_mul_overflow(numel, static_cast<std::uint64_t>(d), &numel))
      throw internal_error("encode_npy: invalid shape");
  }
  if (numel != t.data.size())
    throw internal_error("encode_npy: data size does not match the shape");
  const std::size_t esize = as == format_id::f64 ? 8 : 4;

  std::string dict = std::string("{'descr': '") + (esize == 8 ? "<f8" : "<f4") +
                     "', 'fortran_order': False, 'shape': " + shape_text(t.shape) + ", }";
  // Pad with spaces so that the data starts on a 64-byte boundary; the header ends in '\n'.
  std::size_t preamble = 10;
  std::size_t total = (preamble + dict.size() + 1 + 63) / 64 * 64;
  if (total - preamble > 65535) {  // header length no longer fits format 1.0's uint16
    preamble = 12;
    total = (preamble + dict.size() + 1 + 63) / 64 * 64;
  }
  dict.append(total - preamble - dict.size() - 1, ' ');
  dict += '\n';

  std::vector<std::byte> out;
  out.reserve(total + t.data.size() * esize);
  const unsigned char head[8] = {
      0x93, 'N', 'U', 'M', 'P', 'Y', static_cast<unsigned char>(preamble == 10 ? 1 : 2), 0};
  for (unsigned char c : head) out.push_back(static_cast<std::byte>(c));
  const std::uint64_t hl = dict.size();
  for (std::size_t i = 0; i < preamble - 8; ++i)
    out.push_back(static_cast<std::byte>((hl >> (8 * i)) & 0xFF));
  for (char c : dict) out.push_back(static_cast<std::byte>(c));
  for (std::size_t k = 0; k < t.data.size(); ++k) {
    const double v = t.data[k];
    std::uint64_t bits;
    if (esize == 8) {
      bits = std::bit_cast<std::uint64_t>(v);
    } else {
      if (std::isfinite(v) &&
          (std::fabs(v) > FLT_MAX || static_cast<double>(static_cast<float>(v)) != v))
        throw internal_error("encode_npy: element " + std::to_string(k) +
                             " is not exactly representable in f32");
      bits = std::bit_cast<std::uint32_t>(static_cast<float>(v));
    }
    for (std::size_t i = 0; i < esize; ++i)
      out.push_back(static_cast<std::byte>((bits >> (8 * i)) & 0xFF));
  }
  return out;
}

void write_npy(const std::filesystem::path& file, const tensor& t, format_id as) {
  const std::vector<std::byte> bytes = encode_npy(t, as);
  const std::string name = file.string();
  std::filesystem::path tmp = file;
  tmp += ".partial";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) fail(name, std::string("cannot write: ") + std::strerror(errno));
  const bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  const int err = errno;
  if (std::fclose(f) != 0 || !ok) {
    std::remove(tmp.c_str());
    fail(name, std::string("cannot write: ") + std::strerror(ok ? errno : err));
  }
  std::error_code ec;
  std::filesystem::rename(tmp, file, ec);
  if (ec) {
    std::remove(tmp.c_str());
    fail(name, "cannot write: " + ec.message());
  }
}

}  // namespace roundoff::io
