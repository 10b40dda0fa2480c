// Helpers shared by the io reader tests: a temporary directory, files and zip archives built in
// memory (libzip's writer, independent of the reader under test), python3 scripts, and the
// message of the input_error a call throws.
#pragma once

#include <unistd.h>
#include <zip.h>

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "roundoff/error.hpp"

namespace roundoff::test {

namespace fs = std::filesystem;
using bytes = std::vector<std::byte>;

class temp_dir {
 public:
  temp_dir() {
    path_ = fs::path(testing::TempDir()) /
            ("roundoff_readers_" + std::to_string(::getpid()) + "_" + std::to_string(counter_++));
    fs::create_directories(path_);
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const fs::path& path() const { return path_; }
  fs::path operator/(const std::string& f) const { return path_ / f; }

 private:
  static inline int counter_ = 0;
  fs::path path_;
};

inline bytes to_bytes(std::string_view s) {
  bytes out(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) out[i] = static_cast<std::byte>(s[i]);
  return out;
}

inline void write_file(const fs::path& p, const bytes& b) {
  std::ofstream f(p, std::ios::binary);
  f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

inline bytes read_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::vector<char> c((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  bytes out(c.size());
  for (std::size_t i = 0; i < c.size(); ++i) out[i] = static_cast<std::byte>(c[i]);
  return out;
}

/// A zip archive with the given entries, stored (deflate = false) or deflated.
inline bytes make_zip(const std::vector<std::pair<std::string, bytes>>& entries,
                      bool deflate = false) {
  zip_error_t err;
  zip_error_init(&err);
  zip_source_t* src = zip_source_buffer_create(nullptr, 0, 0, &err);
  zip_source_keep(src);
  zip_t* za = zip_open_from_source(src, ZIP_TRUNCATE, &err);
  if (!za) throw std::runtime_error("make_zip: zip_open_from_source failed");
  for (const auto& [name, data] : entries) {
    zip_source_t* s = zip_source_buffer(za, data.data(), data.size(), 0);
    const zip_int64_t i = zip_file_add(za, name.c_str(), s, ZIP_FL_ENC_UTF_8);
    if (i < 0) throw std::runtime_error("make_zip: zip_file_add failed");
    zip_set_file_compression(za, static_cast<zip_uint64_t>(i),
                             deflate ? ZIP_CM_DEFLATE : ZIP_CM_STORE, 0);
  }
  if (zip_close(za) != 0) throw std::runtime_error("make_zip: zip_close failed");
  bytes out;
  if (zip_source_open(src) == 0) {
    zip_source_seek(src, 0, SEEK_END);
    const zip_int64_t n = zip_source_tell(src);
    zip_source_seek(src, 0, SEEK_SET);
    out.resize(static_cast<std::size_t>(n));
    zip_source_read(src, out.data(), static_cast<zip_uint64_t>(n));
    zip_source_close(src);
  }
  zip_source_free(src);
  zip_error_fini(&err);
  return out;
}

/// The message of the input_error `f` throws, or "<no error>" / "<other exception: ...>".
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const input_error& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("<other exception: ") + e.what() + ">";
  }
  return "<no error>";
}

#ifdef ROUNDOFF_TEST_PYTHON
/// Whether `python3 -c "import <modules>"` works (cached per argument).
inline bool python_has(const std::string& modules) {
  const std::string cmd =
      std::string(ROUNDOFF_TEST_PYTHON) + " -c \"import " + modules + "\" >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}
/// Runs `script` with the directory as argv[1]; returns its exit status.
inline int run_python(const fs::path& dir, const std::string& script) {
  const fs::path py = dir / "script.py";
  std::ofstream(py) << script;
  const std::string cmd =
      std::string(ROUNDOFF_TEST_PYTHON) + " '" + py.string() + "' '" + dir.string() + "'";
  return std::system(cmd.c_str());
}
#endif

}  // namespace roundoff::test
