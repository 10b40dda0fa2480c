// .safetensors reader: files written by a python writer of the format (struct + json, as the
// reference implementation lays them out) compared bit for bit with numpy's float64 conversion,
// and every validation rule with hand-built files.
#include "roundoff/io/safetensors.hpp"

#include <bit>
#include <cmath>
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

bytes make_st(const std::string& header, const bytes& data) {
  bytes out(8);
  for (int i = 0; i < 8; ++i)
    out[static_cast<std::size_t>(i)] = std::byte((header.size() >> (8 * i)) & 0xFF);
  const bytes h = to_bytes(header);
  out.insert(out.end(), h.begin(), h.end());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

template <class T>
bytes le(const std::vector<T>& v) {
  bytes out(v.size() * sizeof(T));
  std::memcpy(out.data(), v.data(), out.size());  // the test machine is little-endian
  return out;
}

bool same_bits(double a, double b) {
  return std::bit_cast<std::uint64_t>(a) == std::bit_cast<std::uint64_t>(b);
}

}  // namespace

TEST(safetensors, hand_built_file_reads_every_dtype) {
  // f32 [2,2] at [0,16), f64 [] at [16,24), f16 [3] at [24,30), bf16 [1] at [30,32).
  bytes data = le(std::vector<float>{1.5f, -2.0f, 1e-45f, 3.0f});
  const bytes d64 = le(std::vector<double>{-0.0});
  const bytes d16 = le(std::vector<std::uint16_t>{0x3C00, 0x0001, 0xFC00});  // 1, 2^-24, -inf
  const bytes b16 = le(std::vector<std::uint16_t>{0x3FC0});                  // bf16 1.5
  data.insert(data.end(), d64.begin(), d64.end());
  data.insert(data.end(), d16.begin(), d16.end());
  data.insert(data.end(), b16.begin(), b16.end());
  const std::string h =
      R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},)"
      R"("s":{"dtype":"F64","shape":[],"data_offsets":[16,24]},)"
      R"("h":{"dtype":"F16","shape":[3],"data_offsets":[24,30]},)"
      R"("b":{"dtype":"BF16","shape":[1],"data_offsets":[30,32]},)"
      R"("__metadata__":{"format":"pt"}}   )";  // trailing spaces are allowed padding
  const bytes f = make_st(h, data);
  EXPECT_EQ(safetensors_names(f, "m.safetensors"),
            (std::vector<std::string>{"w", "s", "h", "b"}));  // data order
  const tensor w = parse_safetensors(f, "m.safetensors", "w");
  EXPECT_EQ(w.shape, (std::vector<std::int64_t>{2, 2}));
  EXPECT_EQ(w.type, format_id::f32);
  EXPECT_EQ(w.data, (std::vector<double>{1.5, -2.0, static_cast<double>(1e-45f), 3.0}));
  const tensor s = parse_safetensors(f, "m.safetensors", "s");
  EXPECT_TRUE(s.shape.empty());
  EXPECT_TRUE(same_bits(s.data.at(0), -0.0));
  const tensor hh = parse_safetensors(f, "m.safetensors", "h");
  EXPECT_EQ(hh.type, format_id::f16);
  EXPECT_EQ(hh.data, (std::vector<double>{1.0, std::ldexp(1.0, -24), -INFINITY}));
  const tensor b = parse_safetensors(f, "m.safetensors", "b");
  EXPECT_EQ(b.type, format_id::bf16);
  EXPECT_EQ(b.data, (std::vector<double>{1.5}));
  // Exactly one tensor: no name needed. Zero-size tensors share an offset.
  const bytes one = make_st(R"({"x":{"dtype":"F32","shape":[0,3],"data_offsets":[0,0]},)"
                            R"("y":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}})",
                            le(std::vector<double>{7}));
  EXPECT_EQ(parse_safetensors(one, "o", "x").shape, (std::vector<std::int64_t>{0, 3}));
  EXPECT_EQ(parse_safetensors(make_st(R"({"y":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}})",
                                      le(std::vector<double>{7})),
                              "o")
                .data,
            (std::vector<double>{7}));
}

TEST(safetensors, every_validation_rule_refuses_with_one_line) {
  const bytes d8 = le(std::vector<double>{1});
  auto one = [&](const std::string& entry, const bytes& data) {
    return make_st("{\"t\":" + entry + "}", data);
  };
  bytes huge(8, std::byte{0xFF});
  bytes short_header = make_st(R"({"t":{}})", {});
  short_header[0] = std::byte{100};
  struct case_ {
    bytes b;
    std::string name, want;
  };
  const std::vector<case_> cases = {
      {to_bytes("abc"), "",
       "f.st: truncated file: 3 bytes (a .safetensors file starts with an 8-byte header length)"},
      {huge, "", "f.st: corrupt header: declared header length 18446744073709551615 exceeds"},
      {short_header, "", "f.st: truncated header: declares 100 bytes, found 8"},
      {make_st("", {}), "", "f.st: corrupt header: not a JSON object"},
      {make_st("[1]", {}), "", "f.st: corrupt header: not a JSON object"},
      {make_st(R"({"t": {)", {}), "", "f.st: corrupt header: invalid JSON at header byte"},
      {make_st(R"({"t":{"dtype":"F64","shape":[1],"data_offsets":[0,8]},"t":{}})", d8), "",
       "f.st: corrupt header: key 't' appears twice"},
      {one(R"({"dtype":"F64","dtype":"F32","shape":[1],"data_offsets":[0,8]})", d8), "",
       "f.st: corrupt header: key 'dtype' appears twice"},
      {one(R"({"dtype":"F64","shape":[1],"data_offsets":[0,8],"x":1})", d8), "",
       "f.st: corrupt header: tensor 't' has unknown field 'x'"},
      {one(R"({"dtype":"F64","shape":[1]})", d8), "",
       "f.st: corrupt header: tensor 't' needs dtype, shape and data_offsets"},
      {one(R"([1])", d8), "", "f.st: corrupt header: tensor 't' is not an object"},
      {one(R"({"dtype":64,"shape":[1],"data_offsets":[0,8]})", d8), "",
       "f.st: corrupt header: tensor 't' dtype is not a string"},
      {one(R"({"dtype":"F64","shape":[-1],"data_offsets":[0,8]})", d8), "",
       "f.st: corrupt header: tensor 't' shape is not a list of non-negative integers"},
      {one(R"({"dtype":"F64","shape":[1.0],"data_offsets":[0,8]})", d8), "",
       "f.st: corrupt header: tensor 't' shape is not a list of non-negative integers"},
      {one(R"({"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]})", d8), "",
       "f.st: corrupt header: tensor 't' shape [4294967296, 4294967296]... overflows"},
      {one(R"({"dtype":"F64","shape":[1],"data_offsets":[0]})", d8), "",
       "f.st: corrupt header: tensor 't' data_offsets is not a pair of non-negative integers"},
      {one(R"({"dtype":"F64","shape":[1],"data_offsets":[8,0]})", d8), "",
       "f.st: corrupt header: tensor 't' data_offsets [8, 0) end before they begin"},
      {one(R"({"dtype":"F64","shape":[1],"data_offsets":[0,16]})", d8), "",
       "f.st: tensor 't' data_offsets [0, 16) run past the end of the data (8 bytes)"},
      {one(R"({"dtype":"F64","shape":[2],"data_offsets":[0,8]})", d8), "",
       "f.st: tensor 't' has 8 data bytes but dtype F64 and shape [2] need 16"},
      {make_st(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
               R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
               d8),
       "", "f.st: tensors 'a' [0, 8) and 'b' [4, 8) overlap"},
      {make_st(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", d8), "",
       "f.st: corrupt file: data bytes [0, 4) belong to no tensor"},
      {make_st(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", d8), "",
       "f.st: corrupt file: data bytes [4, 8) belong to no tensor"},
      {make_st(R"({"__metadata__":{"k":1}})", {}), "",
       "f.st: corrupt header: __metadata__ value 'k' is not a string"},
      {make_st(R"({"__metadata__":{}})", {}), "", "f.st: the file holds no tensors"},
      {one(R"({"dtype":"I64","shape":[1],"data_offsets":[0,8]})", d8), "t",
       "f.st:t: unsupported dtype I64 (int64); roundoff reads F16, BF16, F32 and F64 tensors"},
      {one(R"({"dtype":"F4","shape":[1],"data_offsets":[0,8]})", d8), "t",
       "f.st:t: unsupported dtype F4; roundoff reads"},
      {one(R"({"dtype":"F64","shape":[1],"data_offsets":[0,8]})", d8), "u",
       "f.st: no tensor 'u' in the file (it holds 't')"},
      {make_st(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
               R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
               d8),
       "", "f.st: holds 2 tensors ('a', 'b'); name one as f.st:NAME"},
      {make_st("{\"a\\n\":{\"dtype\":\"I8\",\"shape\":[1],\"data_offsets\":[0,1]}}", bytes(1)),
       "a\n", "f.st:a\\x0a: unsupported dtype I8 (int8)"},
  };
  for (const auto& c : cases) {
    const std::string msg = error_of([&] { parse_safetensors(c.b, "f.st", c.name); });
    EXPECT_EQ(msg.rfind(c.want, 0), 0u) << "got:  " << msg << "\nwant: " << c.want;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
  // An unsupported dtype elsewhere in the file does not stop the others from being read.
  const bytes mixed = make_st(R"({"ids":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},)"
                              R"("x":{"dtype":"F64","shape":[1],"data_offsets":[8,16]}})",
                              le(std::vector<double>{1, 2}));
  EXPECT_EQ(parse_safetensors(mixed, "m", "x").data, (std::vector<double>{2}));
}

TEST(safetensors, file_errors) {
  temp_dir dir;
  EXPECT_EQ(error_of([&] { read_safetensors(dir / "no.safetensors", "a"); }),
            (dir / "no.safetensors").string() + ": cannot open: No such file or directory");
}

#ifdef ROUNDOFF_TEST_PYTHON
TEST(safetensors_python, files_written_in_python_read_identically) {
  if (!python_has("numpy")) GTEST_SKIP() << "python3 with numpy not available";
  temp_dir dir;
  // The format written by hand (the safetensors package may be absent): header padded to 8
  // bytes, tensors in data order. <name>_ref.npy holds numpy's float64 conversion.
  const char* script = R"PY(
import sys, os, json, struct, numpy as np
d = sys.argv[1]
rng = np.random.default_rng(8)
bf_bits = rng.integers(0, 1 << 16, size=(5, 7), dtype=np.uint32)
bf_bits[0, :4] = [0x7F80, 0xFF80, 0x0001, 0x8000]  # +inf, -inf, smallest subnormal, -0
arrays = {
    "f16": (rng.standard_normal((4, 5)) * 1000).astype("<f2"),
    "f32": rng.standard_normal((3, 4, 2)).astype("<f4"),
    "f64": rng.standard_normal((6,)).astype("<f8"),
    "scalar": np.array(2.5, dtype="<f4"),
}
tensors = {k: ({"f16": "F16", "f32": "F32", "f64": "F64", "scalar": "F32"}[k], a.shape, a.tobytes())
           for k, a in arrays.items()}
tensors["bf16"] = ("BF16", bf_bits.shape, bf_bits.astype("<u2").tobytes())
refs = {k: a.astype("<f8") for k, a in arrays.items()}
refs["bf16"] = (bf_bits.astype(np.uint32) << 16).view(np.float32).astype("<f8")
header, data = {"__metadata__": {"format": "pt"}}, b""
for k, (dt, shape, raw) in tensors.items():
    header[k] = {"dtype": dt, "shape": list(shape), "data_offsets": [len(data), len(data) + len(raw)]}
    data += raw
h = json.dumps(header).encode()
h += b" " * (-len(h) % 8)
with open(os.path.join(d, "m.safetensors"), "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + data)
for k, r in refs.items():
    np.save(os.path.join(d, k + "_ref.npy"), r)
)PY";
  ASSERT_EQ(run_python(dir.path(), script), 0);
  const std::vector<std::pair<std::string, format_id>> names = {{"f16", format_id::f16},
                                                                {"f32", format_id::f32},
                                                                {"f64", format_id::f64},
                                                                {"scalar", format_id::f32},
                                                                {"bf16", format_id::bf16}};
  for (const auto& [name, type] : names) {
    const tensor got = read_safetensors(dir / "m.safetensors", name);
    const tensor ref = read_npy(dir / (name + "_ref.npy"));
    EXPECT_EQ(got.type, type) << name;
    ASSERT_EQ(got.shape, ref.shape) << name;
    for (std::size_t i = 0; i < ref.data.size(); ++i)
      ASSERT_TRUE(same_bits(got.data[i], ref.data[i]) ||
                  (std::isnan(got.data[i]) && std::isnan(ref.data[i])))
          << name << "[" << i << "]: " << got.data[i] << " vs " << ref.data[i];
  }
}
#endif
