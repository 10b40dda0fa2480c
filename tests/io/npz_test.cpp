// .npz reader: archives written by numpy itself (np.savez, np.savez_compressed) compared bit for
// bit with numpy's own float64 conversion, archives built here with libzip's writer, and every
// error path (missing member, corrupt and truncated archives, CRC errors, zip bombs).
#include "roundoff/io/npz.hpp"

#include <bit>
#include <cstring>
#include <fstream>

#include <gtest/gtest.h>

#include "io_test_files.hpp"
#include "roundoff/io/npy.hpp"

using namespace roundoff::test;
using roundoff::format_id;
using roundoff::tensor;
using namespace roundoff::io;

namespace {

bool same_bits(const tensor& a, const tensor& b) {
  if (a.shape != b.shape || a.data.size() != b.data.size()) return false;
  for (std::size_t i = 0; i < a.data.size(); ++i)
    if (std::bit_cast<std::uint64_t>(a.data[i]) != std::bit_cast<std::uint64_t>(b.data[i]))
      return false;
  return true;
}

bytes npy_of(const tensor& t) {
  return encode_npy(t);
}

const tensor t23{{2, 3}, {1, -2.5, 0, 1e-310, 3, 4}};
const tensor t4{{4}, {0.5, 0.25, -8, 16}};

}  // namespace

TEST(npz, stored_and_deflated_members_read_exactly) {
  for (bool deflate : {false, true}) {
    const bytes z = make_zip({{"a.npy", npy_of(t23)}, {"b.npy", npy_of(t4)}}, deflate);
    EXPECT_EQ(npz_members(z, "z.npz"), (std::vector<std::string>{"a", "b"}));
    EXPECT_TRUE(same_bits(parse_npz(z, "z.npz", "a"), t23)) << deflate;
    EXPECT_TRUE(same_bits(parse_npz(z, "z.npz", "b.npy"), t4)) << deflate;
    EXPECT_EQ(parse_npz(z, "z.npz", "a").type, format_id::f64);
  }
  // One array: no member needed.
  const bytes one = make_zip({{"only.npy", npy_of(t4)}}, true);
  EXPECT_TRUE(same_bits(parse_npz(one, "one.npz"), t4));
}

TEST(npz, large_deflated_member_crosses_read_chunks) {
  tensor big{{700, 1000}, std::vector<double>(700000)};
  for (std::size_t i = 0; i < big.data.size(); ++i) big.data[i] = static_cast<double>(i % 977) - 3;
  const bytes z = make_zip({{"big.npy", npy_of(big)}}, true);
  EXPECT_TRUE(same_bits(parse_npz(z, "big.npz", "big"), big));
}

TEST(npz, errors_name_the_file_and_member) {
  const bytes two = make_zip({{"a.npy", npy_of(t23)}, {"b.npy", npy_of(t4)}, {"r.txt", {}}});
  struct case_ {
    bytes b;
    std::string member, want;
  };
  bytes truncated = two;
  truncated.resize(truncated.size() / 2);
  bytes garbage = to_bytes("PK\x03\x04 this is not really a zip archive at all");
  // A stored member whose data bytes are flipped: the CRC no longer matches.
  bytes crc = make_zip({{"a.npy", npy_of(t23)}});
  const bytes npy = npy_of(t23);
  const auto at = std::search(crc.begin(), crc.end(), npy.begin(), npy.end());
  ASSERT_NE(at, crc.end());
  *(at + static_cast<std::ptrdiff_t>(npy.size()) - 1) ^= std::byte{1};
  // A member holding an int64 array.
  std::string hdr = "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }";
  hdr.resize(117, ' ');
  hdr += '\n';
  bytes ints = to_bytes(std::string("\x93NUMPY\x01\x00", 8) + std::string("\x76\x00", 2) + hdr);
  ints.resize(ints.size() + 16);
  const bytes with_ints = make_zip({{"ids.npy", ints}});
  const std::vector<case_> cases = {
      {two, "c", "z.npz: no array 'c' in the archive (it holds 'a', 'b')"},
      {two, "", "z.npz: holds 2 arrays ('a', 'b'); name one as z.npz:NAME"},
      {two, "r.txt", "z.npz: member 'r.txt' is not a .npy array"},
      {make_zip({{"r.txt", {}}}), "", "z.npz: the archive holds no arrays"},
      {truncated, "a", "z.npz: corrupt or truncated zip archive"},
      {garbage, "a", "z.npz: corrupt or truncated zip archive"},
      {to_bytes("\x93NUMPY not a zip"), "", "z.npz: not a .npz file (not a zip archive)"},
      {{}, "", "z.npz: not a .npz file (not a zip archive)"},
      {crc, "a", "z.npz: corrupt zip entry 'a.npy' (CRC error)"},
      {with_ints, "ids", "z.npz:ids: unsupported dtype '<i8' (int64)"},
      {make_zip({{"x.npy", to_bytes("not npy")}}), "x", "z.npz:x: not a .npy file (bad magic"},
  };
  for (const auto& c : cases) {
    const std::string msg = error_of([&] { parse_npz(c.b, "z.npz", c.member); });
    EXPECT_EQ(msg.rfind(c.want, 0), 0u) << "got:  " << msg << "\nwant: " << c.want;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
}

// A member whose .npy header declares 2 doubles but whose deflated data expands to 8 MiB: the
// reader must refuse it from the sizes, not inflate it. Two variants: the archive declares the
// real (large) size, or it lies and declares the size the header implies.
TEST(npz, zip_bomb_is_refused_without_inflating) {
  bytes npy = npy_of(tensor{{2}, {1, 2}});
  const std::size_t honest = npy.size();
  npy.resize(honest + (8u << 20));  // zeros: deflate shrinks them about 1000 times
  bytes z = make_zip({{"x.npy", npy}}, true);
  ASSERT_LT(z.size(), 64u << 10);
  EXPECT_EQ(error_of([&] { parse_npz(z, "bomb.npz", "x"); }),
            "bomb.npz:x: zip entry declares " + std::to_string(npy.size()) +
                " bytes but its .npy header needs " + std::to_string(honest));
  // Patch the uncompressed size (local header offset 22, central directory offset 24) to lie.
  auto put32 = [&](std::size_t off, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) z[off + static_cast<std::size_t>(i)] = std::byte(v >> (8 * i));
  };
  put32(22, static_cast<std::uint32_t>(honest));
  const unsigned char cd_magic[4] = {'P', 'K', 1, 2};
  const auto cd = std::search(z.begin(), z.end(), reinterpret_cast<const std::byte*>(cd_magic),
                              reinterpret_cast<const std::byte*>(cd_magic) + 4);
  ASSERT_NE(cd, z.end());
  put32(static_cast<std::size_t>(cd - z.begin()) + 24, static_cast<std::uint32_t>(honest));
  const std::string msg = error_of([&] { parse_npz(z, "bomb.npz", "x"); });
  EXPECT_EQ(msg.rfind("bomb.npz:x: corrupt zip entry: decompresses to more than the " +
                          std::to_string(honest) + " bytes declared",
                      0),
            0u)
      << msg;
}

TEST(npz, file_errors) {
  temp_dir dir;
  EXPECT_EQ(error_of([&] { read_npz(dir / "missing.npz", "a"); }),
            (dir / "missing.npz").string() + ": cannot open: No such file or directory");
  EXPECT_EQ(error_of([&] { read_npz(dir.path(), "a"); }),
            dir.path().string() + ": is a directory, not a file");
  EXPECT_EQ(error_of([&] { read_npz("/dev/zero"); }), "/dev/zero: is not a regular file");
  write_file(dir / "empty.npz", {});
  EXPECT_EQ(error_of([&] { read_npz(dir / "empty.npz"); }),
            (dir / "empty.npz").string() + ": not a .npz file (not a zip archive)");
}

#ifdef ROUNDOFF_TEST_PYTHON
TEST(npz_numpy, savez_and_savez_compressed_read_identically) {
  if (!python_has("numpy")) GTEST_SKIP() << "python3 with numpy not available";
  temp_dir dir;
  // numpy writes plain.npz (np.savez), comp.npz (np.savez_compressed) and, per array, the same
  // values as C-order float64 in <name>_ref.npy (numpy's own conversion).
  const char* script = R"PY(
import sys, os, numpy as np
d = sys.argv[1]
rng = np.random.default_rng(6)
arrays = {
    "f32": (rng.standard_normal((3, 4)) * 10).astype("<f4"),
    "f64": rng.standard_normal((5,)),
    "f16_fortran": np.asfortranarray((rng.standard_normal((4, 3)) * 100).astype("<f2")),
    "be32": rng.standard_normal((2, 2, 2)).astype(">f4"),
    "scalar": np.array(-0.0),
    "empty": np.zeros((0, 3), dtype="<f4"),
    "specials": np.array([np.nan, np.inf, -np.inf, 5e-324], dtype="<f8"),
    "big": rng.standard_normal((300, 1000)).astype("<f4"),
}
np.savez(os.path.join(d, "plain.npz"), **arrays)
np.savez_compressed(os.path.join(d, "comp.npz"), **arrays)
np.savez(os.path.join(d, "single.npz"), arrays["f32"])  # stored as arr_0.npy
for k, a in arrays.items():
    np.save(os.path.join(d, k + "_ref.npy"), a.astype("<f8", order="C"))
with open(os.path.join(d, "names.txt"), "w") as f:
    f.write("\n".join(arrays))
)PY";
  ASSERT_EQ(run_python(dir.path(), script), 0);
  std::ifstream names(dir / "names.txt");
  int count = 0;
  for (std::string name; std::getline(names, name); ++count) {
    const tensor ref = read_npy(dir / (name + "_ref.npy"));
    for (const char* archive : {"plain.npz", "comp.npz"}) {
      const tensor got = read_npz(dir / archive, name);
      EXPECT_TRUE(same_bits(got, ref)) << archive << ":" << name;
    }
  }
  EXPECT_EQ(count, 8);
  EXPECT_EQ(read_npz(dir / "plain.npz", "f16_fortran").type, format_id::f16);
  EXPECT_EQ(read_npz(dir / "comp.npz", "be32.npy").type, format_id::f32);
  EXPECT_TRUE(same_bits(read_npz(dir / "single.npz"), read_npy(dir / "f32_ref.npy")));
  EXPECT_EQ(read_npz(dir / "single.npz", "arr_0").shape, (std::vector<std::int64_t>{3, 4}));
  const std::string msg = error_of([&] { read_npz(dir / "comp.npz"); });
  EXPECT_NE(msg.find("comp.npz: holds 8 arrays ('f32', 'f64', "), std::string::npos) << msg;
}
#endif
