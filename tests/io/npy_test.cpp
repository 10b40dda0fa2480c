// .npy reader/writer: round trips, hand-built golden files (every dtype, byte order, Fortran order,
// format version), files written by numpy itself, every error path, and f16/bf16 decoding
// compared bit for bit with independent conversions (ldexp, the hardware float->double cast,
// numpy's float16 -> float64).
#include "roundoff/io/npy.hpp"

#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <string>

#include <gtest/gtest.h>

#include "property.hpp"
#include "roundoff/error.hpp"

namespace fs = std::filesystem;
using roundoff::format_id;
using roundoff::input_error;
using roundoff::internal_error;
using roundoff::tensor;
using roundoff::unsupported_error;
using namespace roundoff::io;

namespace {

using bytes = std::vector<std::byte>;

// A .npy file built by hand: preamble for `major`, the header text as given (no padding unless
// asked), then the data bytes.
bytes make_npy(const std::string& header, const bytes& data, int major = 1) {
  bytes out;
  for (int c : {0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59})
    out.push_back(static_cast<std::byte>(c));  // \x93NUMPY
  out.push_back(static_cast<std::byte>(major));
  out.push_back(std::byte{0});
  const std::size_t n = major == 1 ? 2 : 4;
  for (std::size_t i = 0; i < n; ++i)
    out.push_back(static_cast<std::byte>((header.size() >> (8 * i)) & 0xFF));
  for (char c : header) out.push_back(static_cast<std::byte>(c));
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

template <class T>
bytes raw(const std::vector<T>& v, bool big) {
  bytes out;
  for (T x : v) {
    unsigned char b[sizeof(T)];
    std::memcpy(b, &x, sizeof(T));
    if (big) std::reverse(b, b + sizeof(T));
    for (unsigned char c : b) out.push_back(std::byte{c});
  }
  return out;
}

std::string dict(const std::string& descr, bool fortran, const std::string& shape) {
  return "{'descr': '" + descr + "', 'fortran_order': " + (fortran ? "True" : "False") +
         ", 'shape': " + shape + ", }\n";
}

bool same_bits(double a, double b) {
  return std::bit_cast<std::uint64_t>(a) == std::bit_cast<std::uint64_t>(b);
}

// Independent f16 decoding: sign * significand * 2^exponent with ldexp.
double f16_reference(std::uint16_t h) {
  const int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
  double v;
  if (e == 31) {
    v = m ? std::numeric_limits<double>::quiet_NaN() : std::numeric_limits<double>::infinity();
  } else if (e == 0) {
    v = std::ldexp(m, -24);
  } else {
    v = std::ldexp(1024 + m, e - 25);
  }
  return s ? -v : v;
}

// Independent bf16 decoding: bf16 is the top half of an f32; the hardware widens f32 exactly.
double bf16_reference(std::uint16_t h) {
  return static_cast<double>(std::bit_cast<float>(static_cast<std::uint32_t>(h) << 16));
}

std::string error_of(const bytes& b, const std::string& name = "t.npy") {
  try {
    parse_npy(b, name);
  } catch (const input_error& e) {
    return e.what();
  }
  return "<no error>";
}

class temp_dir {
 public:
  temp_dir() {
    path_ = fs::path(testing::TempDir()) /
            ("roundoff_io_" + std::to_string(::getpid()) + "_" + std::to_string(counter_++));
    fs::create_directories(path_);
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }
  fs::path operator/(const std::string& f) const { return path_ / f; }

 private:
  static inline int counter_ = 0;
  fs::path path_;
};

void write_file(const fs::path& p, const bytes& b) {
  std::ofstream f(p, std::ios::binary);
  f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

}  // namespace

// ---- exact f16 / bf16 decoding ----------------------------------------------------------

TEST(npy, f16_decoding_matches_ldexp_for_every_bit_pattern) {
  for (std::uint32_t h = 0; h < 65536; ++h) {
    const double got = f16_bits_to_double(static_cast<std::uint16_t>(h));
    const double want = f16_reference(static_cast<std::uint16_t>(h));
    if (std::isnan(want)) {
      ASSERT_TRUE(std::isnan(got)) << std::hex << h;
      ASSERT_EQ(std::signbit(got), std::signbit(want)) << std::hex << h;
      // payload kept in the top significand bits
      ASSERT_EQ(std::bit_cast<std::uint64_t>(got) >> 42 & 1023u, h & 1023u) << std::hex << h;
    } else {
      ASSERT_TRUE(same_bits(got, want)) << std::hex << h << " got " << got << " want " << want;
    }
  }
  EXPECT_EQ(f16_bits_to_double(0x3C00), 1.0);
  EXPECT_EQ(f16_bits_to_double(0x7BFF), 65504.0);
  EXPECT_EQ(f16_bits_to_double(0x0001), std::ldexp(1.0, -24));
  EXPECT_EQ(f16_bits_to_double(0x0400), std::ldexp(1.0, -14));
  EXPECT_TRUE(same_bits(f16_bits_to_double(0x8000), -0.0));
}

TEST(npy, bf16_decoding_matches_f32_widening_for_every_bit_pattern) {
  for (std::uint32_t h = 0; h < 65536; ++h) {
    const double got = bf16_bits_to_double(static_cast<std::uint16_t>(h));
    const double want = bf16_reference(static_cast<std::uint16_t>(h));
    if (std::isnan(want)) {
      ASSERT_TRUE(std::isnan(got)) << std::hex << h;
      ASSERT_EQ(std::signbit(got), std::signbit(want)) << std::hex << h;
      ASSERT_EQ(std::bit_cast<std::uint64_t>(got) >> 45 & 127u, h & 127u) << std::hex << h;
    } else {
      ASSERT_TRUE(same_bits(got, want)) << std::hex << h;
    }
  }
  EXPECT_EQ(bf16_bits_to_double(0x3F80), 1.0);
  EXPECT_EQ(bf16_bits_to_double(0x0001), std::ldexp(1.0, -133));
  EXPECT_EQ(bf16_bits_to_double(0x7F7F), std::ldexp(255.0, 127 - 7));
}

// ---- round trips ------------------------------------------------------------------------

TEST(npy, f64_round_trip_is_bit_exact) {
  auto g = roundoff::test::rng(0x4e50);
  const auto iters = roundoff::test::iterations(300);
  for (std::int64_t it = 0; it < iters; ++it) {
    tensor t;
    const int rank = static_cast<int>(g() % 5);  // 0-d .. 4-d
    for (int d = 0; d < rank; ++d) t.shape.push_back(static_cast<std::int64_t>(g() % 5));
    t.data.resize(static_cast<std::size_t>(t.numel()));
    for (auto& v : t.data) {
      switch (g() % 8) {
        case 0:
          v = std::numeric_limits<double>::quiet_NaN();
          break;
        case 1:
          v = (g() & 1 ? 1 : -1) * std::numeric_limits<double>::infinity();
          break;
        case 2:
          v = -0.0;
          break;
        case 3:
          v = std::bit_cast<double>(g() & 0x800FFFFFFFFFFFFFull);
          break;  // subnormal
        default:
          v = std::bit_cast<double>(g());
          if (std::isnan(v)) v = 1.5;
      }
    }
    const tensor back = parse_npy(encode_npy(t), "rt.npy");
    ASSERT_EQ(back.shape, t.shape) << roundoff::test::replay(it);
    ASSERT_EQ(back.type, format_id::f64);
    for (std::size_t i = 0; i < t.data.size(); ++i)
      ASSERT_TRUE(same_bits(back.data[i], t.data[i])) << i << ' ' << roundoff::test::replay(it);
  }
}

TEST(npy, f32_round_trip_and_refusal_to_round) {
  auto g = roundoff::test::rng(0x4e51);
  tensor t{{3, 7}, {}, format_id::f32};
  for (int i = 0; i < 21; ++i)
    t.data.push_back(
        static_cast<double>(std::bit_cast<float>(static_cast<std::uint32_t>(g()) & 0xBFFFFFFFu)));
  t.data[3] = std::numeric_limits<double>::infinity();
  const bytes enc = encode_npy(t, format_id::f32);
  const tensor back = parse_npy(enc, "f32.npy");
  EXPECT_EQ(back.type, format_id::f32);
  ASSERT_EQ(back.shape, t.shape);
  for (std::size_t i = 0; i < t.data.size(); ++i) EXPECT_TRUE(same_bits(back.data[i], t.data[i]));
  EXPECT_EQ(enc.size(), 128u + 21 * 4);  // header padded to 64 bytes

  tensor bad{{2}, {1.0, 0.1}};
  EXPECT_THROW(encode_npy(bad, format_id::f32), internal_error);
  tensor big{{1}, {1e300}};
  EXPECT_THROW(encode_npy(big, format_id::f32), internal_error);
  EXPECT_THROW(encode_npy(bad, format_id::f16), unsupported_error);
  tensor mismatch{{3}, {1.0}};
  EXPECT_THROW(encode_npy(mismatch), internal_error);
}

TEST(npy, written_header_is_numpy_layout) {
  tensor t{{2, 3}, {1, 2, 3, 4, 5, 6}};
  const bytes b = encode_npy(t);
  const std::size_t header_len = static_cast<std::size_t>(b[8]) | static_cast<std::size_t>(b[9])
                                                                      << 8;
  EXPECT_EQ((10 + header_len) % 64, 0u);
  EXPECT_EQ(b.size(), 10 + header_len + 6 * 8);
  const std::string head(reinterpret_cast<const char*>(b.data()), 10 + header_len);
  EXPECT_EQ(head.substr(1, 5), "NUMPY");
  EXPECT_EQ(static_cast<int>(b[6]), 1);
  EXPECT_NE(head.find("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }"),
            std::string::npos);
  EXPECT_EQ(head.back(), '\n');
  tensor one{{5}, {1, 2, 3, 4, 5}};
  const bytes b1 = encode_npy(one);
  EXPECT_NE(std::string(reinterpret_cast<const char*>(b1.data()), 64).find("(5,)"),
            std::string::npos);
  tensor scalar{{}, {7}};
  EXPECT_EQ(parse_npy(encode_npy(scalar), "s").data, std::vector<double>{7});
}

TEST(npy, file_round_trip_and_write_errors) {
  temp_dir dir;
  tensor t{{2, 2}, {1, -2, 0.5, 1e-310}};
  write_npy(dir / "a.npy", t);
  const tensor back = read_npy(dir / "a.npy");
  EXPECT_EQ(back.shape, t.shape);
  EXPECT_EQ(back.data, t.data);
  EXPECT_FALSE(fs::exists(dir / "a.npy.partial"));
  try {
    write_npy(dir / "no_such_dir" / "y.npy", t);
    FAIL() << "expected input_error";
  } catch (const input_error& e) {
    EXPECT_NE(std::string(e.what()).find("y.npy: cannot write"), std::string::npos) << e.what();
  }
}

// ---- golden files built by hand ---------------------------------------------------------

TEST(npy, golden_every_dtype_and_byte_order) {
  const std::vector<double> v = {1.0, -2.5, 0.15625, 65504.0, -0.0, 3.0};
  for (bool big : {false, true}) {
    const std::string o = big ? ">" : "<";
    tensor t64 = parse_npy(make_npy(dict(o + "f8", false, "(2, 3)"), raw(v, big)), "a");
    EXPECT_EQ(t64.type, format_id::f64);
    EXPECT_EQ(t64.shape, (std::vector<std::int64_t>{2, 3}));
    EXPECT_EQ(t64.data, v);

    std::vector<float> vf(v.begin(), v.end());
    tensor t32 = parse_npy(make_npy(dict(o + "f4", false, "(6,)"), raw(vf, big)), "a");
    EXPECT_EQ(t32.type, format_id::f32);
    EXPECT_EQ(t32.data, v);

    // f16 patterns of the same values: 1, -2.5, 0.15625, 65504, -0, 3
    std::vector<std::uint16_t> h = {0x3C00, 0xC100, 0x3100, 0x7BFF, 0x8000, 0x4200};
    tensor t16 = parse_npy(make_npy(dict(o + "f2", false, "(3, 2)"), raw(h, big)), "a");
    EXPECT_EQ(t16.type, format_id::f16);
    EXPECT_EQ(t16.data, v);
    EXPECT_TRUE(std::signbit(t16.data[4]));
  }
  // bf16 as raw 2-byte data, little-endian bit patterns, for both spellings numpy produces.
  std::vector<std::uint16_t> b = {0x3F80, 0xC020, 0x3E20, 0x477F, 0x8000, 0x4040};
  for (const std::string descr : {"|V2", "<V2"}) {
    tensor tb = parse_npy(make_npy(dict(descr, false, "(6,)"), raw(b, false)), "b");
    EXPECT_EQ(tb.type, format_id::bf16);
    EXPECT_EQ(tb.data, (std::vector<double>{1.0, -2.5, 0.15625, 65280.0, -0.0, 3.0}));
  }
}

TEST(npy, golden_fortran_order_is_transposed_to_row_major) {
  // A 2x3 matrix [[0,1,2],[3,4,5]] stored column by column.
  const std::vector<double> col = {0, 3, 1, 4, 2, 5};
  tensor t = parse_npy(make_npy(dict("<f8", true, "(2, 3)"), raw(col, false)), "f");
  EXPECT_EQ(t.data, (std::vector<double>{0, 1, 2, 3, 4, 5}));
  // 3-D: element [i][j][k] = 100i + 10j + k, shape (2, 3, 4), first index fastest in the file.
  std::vector<double> file, want;
  for (int k = 0; k < 4; ++k)
    for (int j = 0; j < 3; ++j)
      for (int i = 0; i < 2; ++i) file.push_back(100 * i + 10 * j + k);
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 4; ++k) want.push_back(100 * i + 10 * j + k);
  EXPECT_EQ(parse_npy(make_npy(dict(">f8", true, "(2, 3, 4)"), raw(file, true)), "f").data, want);
  // Fortran order of a 1-d or 0-d array is the same as C order; empty arrays are fine.
  EXPECT_EQ(
      parse_npy(make_npy(dict("<f8", true, "(3,)"), raw(std::vector<double>{1, 2, 3}, false)), "f")
          .data,
      (std::vector<double>{1, 2, 3}));
  EXPECT_EQ(parse_npy(make_npy(dict("<f8", true, "(0, 3)"), {}), "f").numel(), 0);
}

TEST(npy, golden_format_versions_and_header_spellings) {
  const std::vector<double> v = {1, 2};
  for (int major : {1, 2, 3})
    EXPECT_EQ(parse_npy(make_npy(dict("<f8", false, "(2,)"), raw(v, false), major), "v").data, v);
  // Python 2 long literals, double quotes, no trailing comma, no newline, key order free.
  EXPECT_EQ(parse_npy(make_npy("{\"shape\": (1L, 2L), \"fortran_order\": False, \"descr\": "
                               "\"<f8\"}",
                               raw(v, false)),
                      "v")
                .shape,
            (std::vector<std::int64_t>{1, 2}));
  EXPECT_EQ(parse_npy(make_npy(dict("<f8", false, "()"), raw(std::vector<double>{4}, false)), "v")
                .numel(),
            1);
}

// ---- every error path --------------------------------------------------------------------

TEST(npy, errors_name_the_file_and_the_problem_on_one_line) {
  const std::vector<double> six(6, 1.0);
  const bytes good = make_npy(dict("<f8", false, "(2, 3)"), raw(six, false));
  struct case_ {
    bytes b;
    std::string want;
  };
  bytes bad_magic = good;
  bad_magic[1] = std::byte{'X'};
  bytes v4 = good;
  v4[6] = std::byte{4};
  bytes v11 = good;
  v11[7] = std::byte{1};
  bytes huge_header = make_npy("", {}, 2);
  for (int i = 8; i < 12; ++i) huge_header[static_cast<std::size_t>(i)] = std::byte{0xFF};
  bytes short_header = make_npy(dict("<f8", false, "(2, 3)"), {});
  short_header.resize(30);
  bytes trailing = good;
  trailing.insert(trailing.end(), 8, std::byte{0});
  bytes truncated = good;
  truncated.resize(truncated.size() - 8);
  const std::vector<case_> cases = {
      {{}, "t.npy: not a .npy file (bad magic"},
      {bad_magic, "t.npy: not a .npy file (bad magic"},
      {bytes(good.begin(), good.begin() + 8), "t.npy: truncated header: file has only 8 bytes"},
      {v4, "unsupported .npy format version 4.0"},
      {v11, "unsupported .npy format version 1.1"},
      {huge_header, "declared header length 4294967295 exceeds the limit"},
      {short_header, "truncated header: expected"},
      {make_npy("{'descr': '<f8' 'fortran_order': False, 'shape': (2,)}", {}),
       "corrupt header: expected ',' or '}'"},
      {make_npy("{'descr': '<f8, 'fortran_order': False}", {}), "corrupt header"},
      {make_npy("{'descr': '<f8", {}), "corrupt header: unterminated string"},
      {make_npy("[1, 2]", {}), "corrupt header: not a dictionary"},
      {make_npy("{'descr': '<f8'} x", {}), "unexpected text after the dictionary"},
      {make_npy("{'shape': " + std::string(100, '(') + std::string(100, ')') + "}", {}),
       "nesting too deep"},
      {make_npy("{'descr': '<f8', 'fortran_order': False}", {}), "missing key 'shape'"},
      {make_npy("{'descr': '<f8', 'shape': (1,)}", {}), "missing key 'fortran_order'"},
      {make_npy("{'fortran_order': False, 'shape': (1,)}", {}), "missing key 'descr'"},
      {make_npy("{'descr': '<f8', 'descr': '<f8'}", {}), "duplicate key 'descr'"},
      {make_npy("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), 'x': 1}", {}),
       "unexpected key 'x'"},
      {make_npy(dict("<i4", false, "(2,)"), bytes(8)), "unsupported dtype '<i4' (int32)"},
      {make_npy(dict("<u2", false, "(2,)"), bytes(4)), "(uint16); roundoff reads float16"},
      {make_npy(dict("|O", false, "(2,)"), bytes(16)), "'|O' (Python objects (pickled))"},
      {make_npy(dict("<c16", false, "(2,)"), bytes(32)), "'<c16' (complex128)"},
      {make_npy(dict("<f16", false, "(2,)"), bytes(32)), "'<f16' (long double)"},
      {make_npy(dict("|V4", false, "(2,)"), bytes(8)), "'|V4' (raw 4-byte data)"},
      {make_npy("{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (1,)}", bytes(8)),
       "structured (record) arrays"},
      {make_npy("{'descr': 8, 'fortran_order': False, 'shape': (1,)}", bytes(8)),
       "'descr' is not a string"},
      {make_npy("{'descr': '<f8', 'fortran_order': 0, 'shape': (1,)}", bytes(8)),
       "'fortran_order' is not True or False"},
      {make_npy("{'descr': '<f8', 'fortran_order': False, 'shape': [1]}", bytes(8)),
       "'shape' is not a tuple of integers"},
      {make_npy("{'descr': '<f8', 'fortran_order': False, 'shape': ('1',)}", bytes(8)),
       "'shape' is not a tuple of integers"},
      {make_npy(dict("<f8", false, "(-1, 2)"), {}), "negative dimension -1"},
      {make_npy(dict("<f8", false, "(99999999999999999999,)"), {}), "integer too large"},
      {make_npy(dict("<f8", false, "(4294967296, 4294967296)"), {}),
       "shape (4294967296, 4294967296) overflows"},
      {make_npy(dict("<f8", false, "(2305843009213693952,)"), {}), "overflows"},
      {make_npy(dict("<f8", false, "(1000000000000,)"), {}),
       "truncated data: shape (1000000000000,) needs 8000000000000 bytes, found 0"},
      {truncated, "t.npy: truncated data: shape (2, 3) needs 48 bytes, found 40"},
      {trailing, "t.npy: 8 unexpected bytes after the data (shape (2, 3) needs 48)"},
  };
  for (const auto& c : cases) {
    const std::string msg = error_of(c.b);
    EXPECT_NE(msg.find(c.want), std::string::npos) << "got: " << msg << "\nwant: " << c.want;
    EXPECT_EQ(msg.rfind("t.npy: ", 0), 0u) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
}

TEST(npy, file_errors) {
  temp_dir dir;
  auto message = [](const fs::path& p) {
    try {
      read_npy(p);
    } catch (const input_error& e) {
      return std::string(e.what());
    }
    return std::string("<no error>");
  };
  const fs::path missing = dir / "missing.npy";
  EXPECT_EQ(message(missing), missing.string() + ": cannot open: No such file or directory");
  EXPECT_EQ(message(dir.path()), dir.path().string() + ": is a directory, not a .npy file");
  write_file(dir / "empty.npy", {});
  EXPECT_NE(message(dir / "empty.npy").find("empty.npy: not a .npy file"), std::string::npos);
  write_file(dir / "text.npy", bytes(10, std::byte{'a'}));
  EXPECT_NE(message(dir / "text.npy").find("bad magic"), std::string::npos);
}

// ---- files written by numpy itself -------------------------------------------------------

#ifdef ROUNDOFF_TEST_PYTHON
namespace {
bool have_numpy() {
  static const bool ok =
      std::system(ROUNDOFF_TEST_PYTHON " -c \"import numpy\" >/dev/null 2>&1") == 0;
  return ok;
}
int run_python(const fs::path& dir, const std::string& script) {
  const fs::path py = dir / "script.py";
  std::ofstream(py) << script;
  const std::string cmd =
      std::string(ROUNDOFF_TEST_PYTHON) + " '" + py.string() + "' '" + dir.string() + "'";
  return std::system(cmd.c_str());
}
}  // namespace

TEST(npy_numpy, files_written_by_numpy_read_identically) {
  if (!have_numpy()) GTEST_SKIP() << "python3 with numpy not available";
  temp_dir dir;
  // For each case numpy writes `<case>.npy` and `<case>_ref.npy`: the same values as C-order
  // little-endian float64 (numpy's own conversion), which the '<f8' path reads.
  const char* script = R"PY(
import sys, os, io, numpy as np
from numpy.lib import format as fmt
d = sys.argv[1]
rng = np.random.default_rng(20261129)
names = []
def save(name, a, version=None):
    with open(os.path.join(d, name + ".npy"), "wb") as f:
        fmt.write_array(f, a, version=version)
    np.save(os.path.join(d, name + "_ref.npy"), a.astype("<f8", order="C"))
    names.append(name)
for t in ["f2", "f4", "f8"]:
    for order_ch in "<>":
        for fortran in (False, True):
            for version in ((1, 0), (2, 0), (3, 0)):
                a = (rng.standard_normal((3, 4, 5)) * 100).astype(order_ch + t)
                if fortran: a = np.asfortranarray(a)
                save(f"{t}{'le' if order_ch == '<' else 'be'}{'F' if fortran else 'C'}{version[0]}", a, version)
a = rng.standard_normal((4, 6)).astype("<f4").T   # a Fortran-ordered view
save("transposed", a)
save("scalar", np.array(3.5, dtype="<f8"))
save("empty", np.zeros((0, 7), dtype="<f4"))
save("specials", np.array([np.nan, np.inf, -np.inf, -0.0, 5e-324], dtype="<f8"))
save("f16_all", np.arange(65536, dtype=np.uint16).view(np.float16))
bits = np.arange(65536, dtype=np.uint32)
np.save(os.path.join(d, "bf16_all.npy"), np.arange(65536, dtype="<u2").view("V2"))
with np.errstate(invalid="ignore"):
    np.save(os.path.join(d, "bf16_all_ref.npy"), (bits << 16).view(np.float32).astype("<f8"))
names.append("bf16_all")
open(os.path.join(d, "names.txt"), "w").write("\n".join(names))
)PY";
  ASSERT_EQ(run_python(dir.path(), script), 0);
  std::ifstream names(dir / "names.txt");
  int count = 0;
  for (std::string name; std::getline(names, name); ++count) {
    const tensor got = read_npy(dir / (name + ".npy"));
    const tensor ref = read_npy(dir / (name + "_ref.npy"));
    ASSERT_EQ(got.shape, ref.shape) << name;
    ASSERT_EQ(ref.type, format_id::f64);
    const format_id want_type = name.starts_with("f2") || name == "f16_all" ? format_id::f16
                                : name == "bf16_all"                        ? format_id::bf16
                                : name.starts_with("f8") || name == "scalar" || name == "specials"
                                    ? format_id::f64
                                    : format_id::f32;
    EXPECT_EQ(got.type, want_type) << name;
    for (std::size_t i = 0; i < ref.data.size(); ++i) {
      if (std::isnan(ref.data[i])) {
        ASSERT_TRUE(std::isnan(got.data[i])) << name << " element " << i;
        ASSERT_EQ(std::signbit(got.data[i]), std::signbit(ref.data[i])) << name << ' ' << i;
      } else {
        ASSERT_TRUE(same_bits(got.data[i], ref.data[i]))
            << name << " element " << i << ": " << got.data[i] << " vs numpy " << ref.data[i];
      }
    }
  }
  EXPECT_EQ(count, 3 * 2 * 2 * 3 + 6);
}

TEST(npy_numpy, numpy_reads_what_roundoff_writes) {
  if (!have_numpy()) GTEST_SKIP() << "python3 with numpy not available";
  temp_dir dir;
  tensor a{{2, 3}, {1.0, -0.0, 1e-310, std::numeric_limits<double>::infinity(), 0.1, -7}};
  write_npy(dir / "a.npy", a);
  tensor b{{4}, {1.5f, -2.0f, 3.25f, 1e-40f}};  // 1e-40f is an f32 subnormal
  for (auto& v : b.data) v = static_cast<double>(static_cast<float>(v));
  write_npy(dir / "b.npy", b, format_id::f32);
  tensor c{{}, {42}};
  write_npy(dir / "c.npy", c);
  tensor e{{0, 5}, {}};
  write_npy(dir / "e.npy", e);
  const char* script = R"PY(
import sys, os, numpy as np
d = sys.argv[1]
a = np.load(os.path.join(d, "a.npy"))
assert a.dtype == np.dtype("<f8") and a.shape == (2, 3), (a.dtype, a.shape)
want = np.array([[1.0, -0.0, 1e-310], [np.inf, 0.1, -7]])
assert (a.view(np.uint64) == want.view(np.uint64)).all(), a
b = np.load(os.path.join(d, "b.npy"))
assert b.dtype == np.dtype("<f4") and b.shape == (4,)
assert (b == np.array([1.5, -2.0, 3.25, 1e-40], dtype=np.float32)).all(), b
c = np.load(os.path.join(d, "c.npy"))
assert c.shape == () and c == 42
e = np.load(os.path.join(d, "e.npy"))
assert e.shape == (0, 5)
)PY";
  EXPECT_EQ(run_python(dir.path(), script), 0);
}
#endif

// ---- read_npy_stored: the values as stored, not widened -------------------------------------

namespace {
// Element i of a stored read, decoded independently of the library's decoders (f16 by
// f16_reference, bf16 by bf16_reference).
double stored_at(const roundoff::io::npy_stored& s, std::size_t i) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data.data());
  if (s.widened || s.type == format_id::f64) {
    double d;
    std::memcpy(&d, p + 8 * i, 8);
    return d;
  }
  if (s.type == format_id::f32) {
    float f;
    std::memcpy(&f, p + 4 * i, 4);
    return static_cast<double>(f);
  }
  std::uint16_t h;
  std::memcpy(&h, p + 2 * i, 2);
  return s.type == format_id::f16 ? f16_reference(h) : bf16_reference(h);
}
}  // namespace

TEST(npy, stored_reads_the_values_read_npy_reads_in_their_own_storage) {
  temp_dir dir;
  const std::vector<double> v = {1.0, -2.5, 0.15625, 65504.0, -0.0, 3.0};
  const std::vector<float> vf(v.begin(), v.end());
  const std::vector<std::uint16_t> h = {0x3C00, 0xC100, 0x3100, 0x7BFF, 0x8000, 0x4200};
  const std::vector<std::uint16_t> b = {0x3F80, 0xC020, 0x3E20, 0x477F, 0x8000, 0x4040};
  struct case_ {
    bytes file;
    bool widened;
  };
  std::vector<case_> cases;
  for (bool big : {false, true}) {
    const std::string o = big ? ">" : "<";
    cases.push_back({make_npy(dict(o + "f8", false, "(2, 3)"), raw(v, big)), big});
    cases.push_back({make_npy(dict(o + "f4", false, "(6,)"), raw(vf, big)), big});
    cases.push_back({make_npy(dict(o + "f2", false, "(3, 2)"), raw(h, big)), big});
    cases.push_back({make_npy(dict(o + "f4", true, "(2, 3)"), raw(vf, big)), true});
  }
  cases.push_back({make_npy(dict("|V2", false, "(6,)"), raw(b, false)), false});
  cases.push_back({make_npy(dict("<V2", true, "(3, 2)"), raw(b, false)), true});
  cases.push_back({make_npy(dict("<f4", true, "(6,)"), raw(vf, false)), false});  // 1-D
  cases.push_back({make_npy(dict("<f4", false, "()"), raw(std::vector<float>{7}, false)), false});
  cases.push_back({make_npy(dict("<f4", false, "(0, 3)"), {}), false});
  for (std::size_t c = 0; c < cases.size(); ++c) {
    const fs::path p = dir / ("s" + std::to_string(c) + ".npy");
    write_file(p, cases[c].file);
    const tensor t = read_npy(p);
    const roundoff::io::npy_stored s = roundoff::io::read_npy_stored(p);
    EXPECT_EQ(s.shape, t.shape) << c;
    EXPECT_EQ(s.type, t.type) << c;
    EXPECT_EQ(s.widened, cases[c].widened) << c;
    ASSERT_GE(s.data.size() * 8, t.data.size() * (s.widened ? 8 : 2)) << c;
    for (std::size_t i = 0; i < t.data.size(); ++i) {
      EXPECT_EQ(std::bit_cast<std::uint64_t>(stored_at(s, i)),
                std::bit_cast<std::uint64_t>(t.data[i]))
          << "case " << c << " element " << i;
    }
  }
}

TEST(npy, stored_refuses_what_read_npy_refuses_with_the_same_message) {
  temp_dir dir;
  const bytes good = make_npy(dict("<f4", false, "(2, 3)"), raw(std::vector<float>(6, 1.f), false));
  bytes trailing = good, truncated = good, bad_magic = good;
  trailing.insert(trailing.end(), 4, std::byte{0});
  truncated.resize(truncated.size() - 4);
  bad_magic[1] = std::byte{'X'};
  bytes big_truncated = make_npy(dict(">f8", false, "(2, 3)"), raw(std::vector<double>(6), true));
  big_truncated.resize(big_truncated.size() - 8);
  const std::vector<bytes> cases = {trailing, truncated, bad_magic, big_truncated,
                                    make_npy(dict("<i4", false, "(2,)"), bytes(8))};
  auto message = [](auto&& read, const fs::path& p) {
    try {
      read(p);
    } catch (const input_error& e) {
      return std::string(e.what());
    }
    return std::string("<no error>");
  };
  for (std::size_t c = 0; c < cases.size(); ++c) {
    const fs::path p = dir / ("e" + std::to_string(c) + ".npy");
    write_file(p, cases[c]);
    const std::string want = message([](const fs::path& f) { (void)read_npy(f); }, p);
    EXPECT_NE(want, "<no error>") << c;
    EXPECT_EQ(message([](const fs::path& f) { (void)read_npy_stored(f); }, p), want) << c;
  }
  EXPECT_EQ(message([](const fs::path& f) { (void)read_npy_stored(f); }, dir / "missing.npy"),
            message([](const fs::path& f) { (void)read_npy(f); }, dir / "missing.npy"));
}
