// read_tensor: "FILE[:MEMBER]" parsing and dispatch by extension, on files of every kind built
// here (independently of the readers: encode_npy, libzip's writer, a hand-laid safetensors file).
#include "roundoff/io/read_tensor.hpp"

#include <cstring>

#include <gtest/gtest.h>

#include "io_test_files.hpp"
#include "roundoff/io/npy.hpp"

using namespace roundoff::test;
using roundoff::tensor;
using namespace roundoff::io;

TEST(read_tensor, spec_parsing) {
  const tensor_spec a = parse_tensor_spec("out.npz:y");
  EXPECT_EQ(a.file, fs::path("out.npz"));
  EXPECT_EQ(a.member, "y");
  EXPECT_EQ(a.kind, tensor_file_kind::npz);
  EXPECT_EQ(a.display(), "out.npz:y");
  EXPECT_EQ(parse_tensor_spec("dir/x.NPY").kind, tensor_file_kind::npy);
  EXPECT_EQ(parse_tensor_spec("m.safetensors:layers.0.weight").member, "layers.0.weight");
  EXPECT_EQ(parse_tensor_spec("ckpt.pth:model/fc.bias").kind, tensor_file_kind::torch);
  EXPECT_EQ(parse_tensor_spec("ckpt.pt:a:b").member, "a:b");  // first ':' after an extension
  EXPECT_EQ(parse_tensor_spec("run:3/x.pt:k").file, fs::path("run:3/x.pt"));
  EXPECT_EQ(parse_tensor_spec("x.pt").member, "");
  EXPECT_EQ(error_of([] { parse_tensor_spec("x.csv"); }),
            "x.csv: unknown tensor file type (expected .npy, .npz[:member], .safetensors[:name], "
            ".pt[:key] or .pth[:key])");
  EXPECT_EQ(error_of([] { parse_tensor_spec("x.npz:"); }), "x.npz:: empty member name after ':'");
  EXPECT_EQ(error_of([] { parse_tensor_spec("x.npy:a"); }),
            "x.npy:a: a .npy file holds one array; ':a' names no member");
  EXPECT_EQ(error_of([] { parse_tensor_spec(""); }), "empty tensor file name");
  // An existing file whose name contains ".npz:" is taken whole.
  temp_dir dir;
  const fs::path odd = dir / "a.npz:b.npy";
  write_npy(odd, tensor{{1}, {2}});
  EXPECT_EQ(parse_tensor_spec(odd.string()).kind, tensor_file_kind::npy);
  EXPECT_EQ(read_tensor(odd.string()).data, (std::vector<double>{2}));
}

TEST(read_tensor, dispatches_every_kind) {
  temp_dir dir;
  const tensor t{{2, 2}, {1, 2, 3, 4}};
  write_npy(dir / "t.npy", t);
  write_file(dir / "t.npz", make_zip({{"a.npy", encode_npy(t)}}, true));
  const std::string header = R"({"w":{"dtype":"F64","shape":[2,2],"data_offsets":[0,32]}})";
  bytes st(8, std::byte{0});
  st[0] = static_cast<std::byte>(header.size());
  const bytes h = to_bytes(header);
  st.insert(st.end(), h.begin(), h.end());
  st.resize(st.size() + 32);
  std::memcpy(st.data() + 8 + header.size(), t.data.data(), 32);
  write_file(dir / "t.safetensors", st);
  for (const std::string spec :
       {"t.npy", "t.npz", "t.npz:a", "t.npz:a.npy", "t.safetensors", "t.safetensors:w"}) {
    const tensor got = read_tensor((dir / spec).string());
    EXPECT_EQ(got.shape, t.shape) << spec;
    EXPECT_EQ(got.data, t.data) << spec;
  }
  EXPECT_EQ(error_of([&] { read_tensor((dir / "t.npz:b").string()); }),
            (dir / "t.npz").string() + ": no array 'b' in the archive (it holds 'a')");
  EXPECT_EQ(error_of([&] { read_tensor((dir / "t.safetensors:b").string()); }),
            (dir / "t.safetensors").string() + ": no tensor 'b' in the file (it holds 'w')");
  for (const std::string missing : {"no.npy", "no.npz", "no.safetensors", "no.pt", "no.pth"})
    EXPECT_EQ(error_of([&] { read_tensor((dir / missing).string()); }),
              (dir / missing).string() + ": cannot open: No such file or directory");
  // A .pt that is really a .npz: refused as not a torch.save archive.
  fs::copy_file(dir / "t.npz", dir / "t.pt");
  EXPECT_EQ(error_of([&] { read_tensor((dir / "t.pt").string()); }),
            (dir / "t.pt").string() + ": not a torch.save archive (no data.pkl record)");
}
