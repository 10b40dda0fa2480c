// torch.save reader: files written by torch itself (tensors of every accepted dtype, views with
// strides and offsets, dicts, state_dicts, nested checkpoints) compared bit for bit with torch's
// own float64 conversion; hand-written pickles for every refusal (foreign globals such as
// os.system, unknown opcodes, malformed structure) and for archive-level errors.
#include "roundoff/io/torch_pickle.hpp"

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
using namespace std::string_literals;

namespace {

// A pickle written opcode by opcode (protocol 2, as torch.save writes it).
struct pkl {
  std::string s = std::string("\x80\x02", 2);
  pkl& op(char c) {
    s += c;
    return *this;
  }
  pkl& raw(std::string_view r) {
    s += r;
    return *this;
  }
  pkl& str(std::string_view v) {
    s += 'X';
    for (int i = 0; i < 4; ++i) s += static_cast<char>((v.size() >> (8 * i)) & 0xFF);
    s += v;
    return *this;
  }
  pkl& k1(int v) {
    s += 'K';
    s += static_cast<char>(v);
    return *this;
  }
  pkl& global(std::string_view mod, std::string_view name) {
    s += 'c';
    s += mod;
    s += '\n';
    s += name;
    s += '\n';
    return *this;
  }
  // torch._utils._rebuild_tensor_v2(('storage', torch.<type>, key, 'cpu', numel), offset,
  //                                 size, stride, False, OrderedDict())
  pkl& tensor(std::string_view type, std::string_view key, int numel, int offset,
              std::vector<int> size, std::vector<int> stride) {
    global("torch._utils", "_rebuild_tensor_v2").op('(');
    op('(').str("storage").global("torch", type).str(key).str("cpu").k1(numel).op('t').op('Q');
    k1(offset).op('(');
    for (int v : size) k1(v);
    op('t').op('(');
    for (int v : stride) k1(v);
    op('t').op('\x89').global("collections", "OrderedDict").op(')').op('R').op('t').op('R');
    return *this;
  }
  bytes done() { return to_bytes(s + "."); }
};

bytes f32_bytes(const std::vector<float>& v) {
  bytes out(v.size() * 4);
  std::memcpy(out.data(), v.data(), out.size());
  return out;
}

bytes archive(const bytes& data_pkl, std::vector<std::pair<std::string, bytes>> storages,
              std::string byteorder = "little") {
  std::vector<std::pair<std::string, bytes>> e = {{"archive/data.pkl", data_pkl}};
  if (!byteorder.empty()) e.emplace_back("archive/byteorder", to_bytes(byteorder));
  for (auto& [k, v] : storages) e.emplace_back("archive/data/" + k, v);
  e.emplace_back("archive/version", to_bytes("3\n"));
  return make_zip(e);
}

const std::vector<float> six = {0, 1, 2, 3, 4, 5};

}  // namespace

TEST(torch_pickle, hand_written_tensor_views) {
  // A (2, 3) tensor, its transpose (stride (1, 3)), and a strided slice with an offset.
  const bytes a = archive(pkl().tensor("FloatStorage", "0", 6, 0, {2, 3}, {3, 1}).done(),
                          {{"0", f32_bytes(six)}});
  const tensor t = parse_pt(a, "t.pt");
  EXPECT_EQ(t.shape, (std::vector<std::int64_t>{2, 3}));
  EXPECT_EQ(t.type, format_id::f32);
  EXPECT_EQ(t.data, (std::vector<double>{0, 1, 2, 3, 4, 5}));
  const bytes tt = archive(pkl().tensor("FloatStorage", "0", 6, 0, {3, 2}, {1, 3}).done(),
                           {{"0", f32_bytes(six)}});
  EXPECT_EQ(parse_pt(tt, "tt.pt").data, (std::vector<double>{0, 3, 1, 4, 2, 5}));
  const bytes sl = archive(pkl().tensor("FloatStorage", "0", 6, 1, {2, 1}, {3, 2}).done(),
                           {{"0", f32_bytes(six)}});
  EXPECT_EQ(parse_pt(sl, "sl.pt").data, (std::vector<double>{1, 4}));
  // Big-endian archive: bytes of each element reversed, byteorder record "big".
  bytes be = f32_bytes(six);
  for (std::size_t i = 0; i < be.size(); i += 4) std::reverse(be.begin() + i, be.begin() + i + 4);
  const bytes big =
      archive(pkl().tensor("FloatStorage", "0", 6, 0, {6}, {1}).done(), {{"0", be}}, "big");
  EXPECT_EQ(parse_pt(big, "big.pt").data, (std::vector<double>{0, 1, 2, 3, 4, 5}));
  // No byteorder record (older writers): little-endian.
  const bytes old = archive(pkl().tensor("FloatStorage", "0", 6, 0, {6}, {1}).done(),
                            {{"0", f32_bytes(six)}}, "");
  EXPECT_EQ(parse_pt(old, "old.pt").data, (std::vector<double>{0, 1, 2, 3, 4, 5}));
}

TEST(torch_pickle, hand_written_dicts) {
  // {'w': tensor, 'n': 3, 'ids': LongStorage tensor} as an OrderedDict with a BUILD state.
  pkl p;
  p.global("collections", "OrderedDict").op(')').op('R').op('q').raw(std::string(1, '\0'));
  p.op('(').str("w").tensor("FloatStorage", "0", 6, 0, {2, 3}, {3, 1});
  p.str("n").k1(3);
  p.str("ids").tensor("LongStorage", "1", 1, 0, {1}, {1});
  p.op('u').op('}').str("_metadata").op('}').op('s').op('b');
  const bytes a = archive(p.done(), {{"0", f32_bytes(six)}, {"1", bytes(8)}});
  EXPECT_EQ(pt_keys(a, "d.pt"), (std::vector<std::string>{"w", "n", "ids"}));
  EXPECT_EQ(parse_pt(a, "d.pt", "w").data, (std::vector<double>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(error_of([&] { parse_pt(a, "d.pt", "ids"); }),
            "d.pt:ids: unsupported dtype int64; roundoff reads float16, bfloat16, float32 and "
            "float64 tensors");
  EXPECT_EQ(error_of([&] { parse_pt(a, "d.pt", "n"); }), "d.pt:n: entry is a int, not a tensor");
  EXPECT_EQ(error_of([&] { parse_pt(a, "d.pt", "x"); }),
            "d.pt:x: no key 'x' in the saved dict (it holds 'w', 'n', 'ids')");
  EXPECT_EQ(error_of([&] { parse_pt(a, "d.pt"); }),
            "d.pt: holds a dict of 3 entries ('w', 'n', 'ids'); name one as d.pt:KEY");
}

TEST(torch_pickle, refusals_and_corruptions_are_one_line) {
  const bytes st = f32_bytes(six);
  auto with = [&](const std::string& body) {
    return archive(to_bytes(std::string("\x80\x02", 2) + body), {{"0", st}});
  };
  struct case_ {
    bytes b;
    std::string key, want;
  };
  const std::string refuse = " (only tensors and dicts of tensors are read)";
  const std::vector<case_> cases = {
      {with("cos\nsystem\n(X\x02\0\0\0lstR."s), "",
       "x.pt: refusing pickle global 'os.system'" + refuse},
      {with("cposix\nsystem\n(X\x02\0\0\0lstR."s), "",
       "x.pt: refusing pickle global 'posix.system'" + refuse},
      {with("cbuiltins\neval\n."s), "", "x.pt: refusing pickle global 'builtins.eval'" + refuse},
      {with("ctorch\nload\n."s), "", "x.pt: refusing pickle global 'torch.load'" + refuse},
      {with("ctorch._utils\n_rebuild_device_tensor_from_numpy\n."s), "",
       "x.pt: refusing pickle global 'torch._utils._rebuild_device_tensor_from_numpy'" + refuse},
      {archive(to_bytes("\x80\x04\x8c\x02os\x8c\x06system\x93."s), {}), "",
       "x.pt: refusing pickle global 'os.system'" + refuse},
      {with("(X\x01\0\0\0xi__main__\nEvil\n."s), "", "x.pt: unsupported pickle opcode 0x69"},
      {with("\x81."s), "", "x.pt: unsupported pickle opcode 0x81"},
      {archive(to_bytes("\x80\x06N."), {}), "", "x.pt: unsupported pickle protocol 6"},
      {with("t."s), "", "x.pt: no MARK on the stack (data.pkl offset 2)"},
      {with("."s), "", "x.pt: stack underflow (data.pkl offset 2)"},
      {with("h\x05."s), "", "x.pt: memo entry 5 is not set"},
      {with("X\xff\0\0\0ab"s), "", "x.pt: string runs past the end of the pickle"},
      {with("N"s), "", "x.pt: truncated pickle (data.pkl ends inside an opcode)"},
      {with("]N\x85"
            "b."s),
       "", "x.pt: refusing BUILD on a list" + refuse},
      {with("ccollections\nOrderedDict\nK\x01\x85R."s), "",
       "x.pt: unexpected arguments to collections.OrderedDict"},
      {with("(X\x07\0\0\0storageX\x01\0\0\0aX\x01\0\0\0"
            "aK\x01tQ."s),
       "", "x.pt: unsupported persistent id"},
      {with("N."s), "", "x.pt: holds a None, not a tensor or a dict of tensors"},
      {with("N."s), "k", "x.pt:k: the file holds a None, not a dict; name no key"},
      {archive(pkl().tensor("FloatStorage", "0", 6, 4, {2, 2}, {1, 1}).done(), {{"0", st}}), "",
       "x.pt: tensor view (offset 4, size (2, 2), stride (1, 1)) reaches element 6 of a "
       "storage of 6"},
      {archive(pkl().tensor("FloatStorage", "0", 6, 0, {4, 6}, {0, 1}).done(), {{"0", st}}), "",
       "x.pt: tensor view has 24 elements but its storage only 6 (expanded or overlapping views "
       "are not read; save t.contiguous())"},
      {archive(pkl().tensor("FloatStorage", "9", 6, 0, {6}, {1}).done(), {{"0", st}}), "",
       "x.pt: corrupt torch.save archive (storage record 'archive/data/9' missing)"},
      {archive(pkl().tensor("FloatStorage", "0", 7, 0, {6}, {1}).done(), {{"0", st}}), "",
       "x.pt: zip entry 'archive/data/0' declares 24 bytes, expected 28"},
      {archive(pkl().tensor("FloatStorage", "0", 6, 0, {6}, {1}).done(), {{"0", st}}, "middle"), "",
       "x.pt: corrupt torch.save archive (byteorder record is neither"},
      {make_zip({{"a/other.pkl", {}}}), "", "x.pt: not a torch.save archive (no data.pkl record)"},
      {make_zip({{"m/data.pkl", to_bytes("\x80\x02N.")}, {"m/constants.pkl", {}}}), "",
       "x.pt: is a TorchScript archive (torch.jit.save), not tensors"},
      {to_bytes("\x80\x02\x8a\x0a"), "", "x.pt: legacy torch.save format"},
      {to_bytes("hello"), "", "x.pt: not a .pt (torch.save) file (not a zip archive)"},
  };
  for (const auto& c : cases) {
    const std::string msg = error_of([&] { parse_pt(c.b, "x.pt", c.key); });
    EXPECT_EQ(msg.rfind(c.want, 0), 0u) << "got:  " << msg << "\nwant: " << c.want;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
}

// A self-referencing list (l.append(l)) and deep nesting must neither leak nor recurse.
TEST(torch_pickle, cycles_and_nesting_are_harmless) {
  const bytes cyc = archive(to_bytes("\x80\x02]q\x00h\x00"
                                     "a."s),
                            {});
  EXPECT_EQ(error_of([&] { parse_pt(cyc, "c.pt"); }),
            "c.pt: holds a list, not a tensor or a dict of tensors");
  std::string deep = std::string("\x80\x02", 2);
  for (int i = 0; i < 100000; ++i) deep += "]";
  for (int i = 0; i < 99999; ++i) deep += "a";
  deep += ".";
  EXPECT_EQ(error_of([&] { parse_pt(archive(to_bytes(deep), {}), "d.pt"); }),
            "d.pt: holds a list, not a tensor or a dict of tensors");
}

#ifdef ROUNDOFF_TEST_PYTHON
TEST(torch_pickle_python, pickles_of_foreign_objects_are_refused) {
  if (!python_has("zipfile")) GTEST_SKIP() << "python3 not available";
  temp_dir dir;
  // Python's own pickler, used the way an attacker would: an object whose __reduce__ runs a
  // command. The marker file must never appear.
  const char* script = R"PY(
import sys, os, pickle, zipfile
d = sys.argv[1]
class Evil:
    def __reduce__(self):
        return (os.system, ("touch " + os.path.join(d, "pwned"),))
with zipfile.ZipFile(os.path.join(d, "evil.pt"), "w") as z:
    z.writestr("evil/data.pkl", pickle.dumps({"w": Evil()}, protocol=2))
    z.writestr("evil/byteorder", "little")
)PY";
  ASSERT_EQ(run_python(dir.path(), script), 0);
  const std::string msg = error_of([&] { read_pt(dir / "evil.pt", "w"); });
  EXPECT_EQ(msg, (dir / "evil.pt").string() +
                     ": refusing pickle global 'posix.system' (only tensors and dicts of tensors "
                     "are read)");
  EXPECT_FALSE(fs::exists(dir / "pwned"));
}

TEST(torch_pickle_python, files_written_by_torch_read_identically) {
  if (!python_has("torch, numpy")) GTEST_SKIP() << "python3 with torch and numpy not available";
  temp_dir dir;
  // torch.save writes each case; <case>_ref.npy holds torch's own float64 conversion (exact).
  const char* script = R"PY(
import sys, os, collections, numpy as np, torch
d = sys.argv[1]
torch.manual_seed(3)
P = lambda n: os.path.join(d, n)
refs = {}
def ref(name, t):
    refs[name] = t
    np.save(P(name + "_ref.npy"), t.detach().to(torch.float64).contiguous().numpy())
base = torch.randn(4, 6) * 100
cases = {
    "f32": base,
    "f64": torch.randn(3, 5, dtype=torch.float64),
    "f16": (torch.randn(7) * 1000).half(),
    "bf16": (torch.randn(2, 3, 4) * 1e30).bfloat16(),
    "transposed": base.t(),
    "slice": base[1:3, ::2],
    "permuted": torch.randn(2, 3, 4).permute(2, 0, 1),
    "scalar": torch.tensor(-0.0),
    "empty": torch.zeros(0, 3),
    "specials": torch.tensor([float("nan"), float("inf"), -float("inf"), 1e-45]),
}
for k, t in cases.items():
    torch.save(t, P(k + ".pt"))
    ref(k, t)
lin = torch.nn.Linear(3, 2)
torch.save(lin.state_dict(), P("linear.pt"))
ref("linear.weight", lin.weight); ref("linear.bias", lin.bias)
bn = torch.nn.BatchNorm1d(3)
torch.save(bn.state_dict(), P("bn.pth"))  # holds an int64 num_batches_tracked
ref("bn.running_var", bn.running_var)
torch.save({"model": lin.state_dict(), "epoch": 7, "lr": 0.1, "name": "x"}, P("ckpt.pt"))
torch.save(lin.weight, P("param.pt"))  # an nn.Parameter
torch.save({"a": base, "b": base[2]}, P("shared.pt"))  # two views of one storage
ref("shared.b", base[2])
torch.save(torch.arange(3), P("int64.pt"))
torch.save(base, P("legacy.pt"), _use_new_zipfile_serialization=False)
torch.save(base, P("proto4.pt"), pickle_protocol=4)
)PY";
  ASSERT_EQ(run_python(dir.path(), script), 0);
  auto same = [](const tensor& a, const tensor& b) {
    if (a.shape != b.shape || a.data.size() != b.data.size()) return false;
    for (std::size_t i = 0; i < a.data.size(); ++i)
      if (std::bit_cast<std::uint64_t>(a.data[i]) != std::bit_cast<std::uint64_t>(b.data[i]) &&
          !(std::isnan(a.data[i]) && std::isnan(b.data[i])))
        return false;
    return true;
  };
  const std::vector<std::pair<std::string, format_id>> files = {
      {"f32", format_id::f32},      {"f64", format_id::f64},        {"f16", format_id::f16},
      {"bf16", format_id::bf16},    {"transposed", format_id::f32}, {"slice", format_id::f32},
      {"permuted", format_id::f32}, {"scalar", format_id::f32},     {"empty", format_id::f32},
      {"specials", format_id::f32}};
  for (const auto& [name, type] : files) {
    const tensor got = read_pt(dir / (name + ".pt"));
    EXPECT_TRUE(same(got, read_npy(dir / (name + "_ref.npy")))) << name;
    EXPECT_EQ(got.type, type) << name;
  }
  EXPECT_TRUE(same(read_pt(dir / "proto4.pt"), read_npy(dir / "f32_ref.npy")));
  EXPECT_TRUE(same(read_pt(dir / "linear.pt", "weight"), read_npy(dir / "linear.weight_ref.npy")));
  EXPECT_TRUE(same(read_pt(dir / "linear.pt", "bias"), read_npy(dir / "linear.bias_ref.npy")));
  EXPECT_EQ(pt_keys(read_file(dir / "linear.pt"), "linear.pt"),
            (std::vector<std::string>{"weight", "bias"}));
  EXPECT_TRUE(
      same(read_pt(dir / "bn.pth", "running_var"), read_npy(dir / "bn.running_var_ref.npy")));
  EXPECT_NE(error_of([&] {
              read_pt(dir / "bn.pth", "num_batches_tracked");
            }).find("bn.pth:num_batches_tracked: unsupported dtype int64"),
            std::string::npos);
  EXPECT_TRUE(
      same(read_pt(dir / "ckpt.pt", "model/weight"), read_npy(dir / "linear.weight_ref.npy")));
  EXPECT_NE(error_of([&] { read_pt(dir / "ckpt.pt", "epoch"); }).find("entry is a int"),
            std::string::npos);
  EXPECT_TRUE(same(read_pt(dir / "param.pt"), read_npy(dir / "linear.weight_ref.npy")));
  EXPECT_TRUE(same(read_pt(dir / "shared.pt", "a"), read_npy(dir / "f32_ref.npy")));
  EXPECT_TRUE(same(read_pt(dir / "shared.pt", "b"), read_npy(dir / "shared.b_ref.npy")));
  EXPECT_NE(error_of([&] { read_pt(dir / "int64.pt"); }).find("int64.pt: unsupported dtype int64"),
            std::string::npos);
  EXPECT_NE(error_of([&] { read_pt(dir / "legacy.pt"); }).find("legacy.pt: legacy torch.save"),
            std::string::npos);
}
#endif
