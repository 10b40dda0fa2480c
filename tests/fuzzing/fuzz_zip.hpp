// A zip archive built in memory with libzip's writer, so that the archive readers' fuzzers can
// reach the formats inside (npy members, pickles) past the archive layer and its CRCs.
#pragma once

#include <zip.h>

#include <cstddef>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

namespace roundoff::fuzz {

inline std::vector<std::byte> make_zip(
    const std::vector<std::pair<std::string, std::vector<std::byte>>>& entries, bool deflate) {
  std::vector<std::byte> out;
  zip_error_t err;
  zip_error_init(&err);
  zip_source_t* src = zip_source_buffer_create(nullptr, 0, 0, &err);
  if (!src) return out;
  zip_source_keep(src);
  if (zip_t* za = zip_open_from_source(src, ZIP_TRUNCATE, &err)) {
    for (const auto& [name, data] : entries) {
      zip_source_t* s = zip_source_buffer(za, data.data(), data.size(), 0);
      const zip_int64_t i = s ? zip_file_add(za, name.c_str(), s, ZIP_FL_ENC_UTF_8) : -1;
      if (i < 0) {
        if (s) zip_source_free(s);
        continue;
      }
      zip_set_file_compression(za, static_cast<zip_uint64_t>(i),
                               deflate ? ZIP_CM_DEFLATE : ZIP_CM_STORE, 0);
    }
    if (zip_close(za) != 0) zip_discard(za);
  }
  if (zip_source_open(src) == 0) {
    zip_source_seek(src, 0, SEEK_END);
    const zip_int64_t n = zip_source_tell(src);
    zip_source_seek(src, 0, SEEK_SET);
    if (n > 0) {
      out.resize(static_cast<std::size_t>(n));
      const zip_int64_t got = zip_source_read(src, out.data(), static_cast<zip_uint64_t>(n));
      out.resize(got > 0 ? static_cast<std::size_t>(got) : 0);
    }
    zip_source_close(src);
  }
  zip_source_free(src);
  zip_error_fini(&err);
  return out;
}

}  // namespace roundoff::fuzz
