// Internal helpers of src/io (see io_detail.hpp): messages, file mapping, the libzip wrapper.
#include "io_detail.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <set>
#include <system_error>

#include "roundoff/error.hpp"

namespace roundoff::io::detail {

void fail(std::string_view name, std::string_view problem) {
  std::string msg(name);
  msg += ": ";
  msg += problem;
  throw input_error(msg);
}

std::string printable(std::string_view s, std::size_t max_chars) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (out.size() >= max_chars) {
      out += "...";
      break;
    }
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7F && c != '\\') {
      out += static_cast<char>(c);
    } else {
      static constexpr char hex[] = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string name_list(const std::vector<std::string>& names, std::size_t max_items) {
  std::string out;
  for (std::size_t i = 0; i < names.size() && i < max_items; ++i)
    out += (i ? ", '" : "'") + printable(names[i], 60) + "'";
  if (names.size() > max_items) out += ", ... (" + std::to_string(names.size()) + " in all)";
  return out;
}

// ---- file_bytes ---------------------------------------------------------------------------

file_bytes::file_bytes(const std::filesystem::path& file, std::string_view name) {
  std::error_code ec;
  if (std::filesystem::is_directory(file, ec)) fail(name, "is a directory, not a file");
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(name, std::string("cannot open: ") + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);  // a pipe or device could stream without end; archives need a real file anyway
    fail(name, "is not a regular file");
  }
  if (st.st_size > 0) {
    void* p = ::mmap(nullptr, static_cast<std::size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
    if (p != MAP_FAILED) {
      map_ = p;
      data_ = static_cast<const std::byte*>(p);
      size_ = static_cast<std::size_t>(st.st_size);
      ::close(fd);
      return;
    }
  }
  // Empty, or not mappable: read it.
  std::byte buf[1 << 16];
  while (true) {
    const ssize_t got = ::read(fd, buf, sizeof buf);
    if (got < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      fail(name, std::string("read error: ") + std::strerror(err));
    }
    if (got == 0) break;
    copy_.insert(copy_.end(), buf, buf + got);
  }
  ::close(fd);
  data_ = copy_.data();
  size_ = copy_.size();
}

file_bytes::~file_bytes() {
  if (map_) ::munmap(map_, size_);
}

// ---- zip_archive --------------------------------------------------------------------------

zip_archive::zip_archive(std::span<const std::byte> bytes, std::string_view name,
                         std::string_view what)
    : name_(name) {
  static constexpr unsigned char local_magic[4] = {'P', 'K', 3, 4};
  static constexpr unsigned char empty_magic[4] = {'P', 'K', 5, 6};
  if (bytes.size() < 4 || (std::memcmp(bytes.data(), local_magic, 4) != 0 &&
                           std::memcmp(bytes.data(), empty_magic, 4) != 0))
    fail(name, "not a " + std::string(what) + " file (not a zip archive)");
  zip_error_t err;
  zip_error_init(&err);
  // An empty buffer is not a valid source for libzip; the magic check above needs 4 bytes anyway.
  zip_source_t* src = zip_source_buffer_create(bytes.data(), bytes.size(), 0, &err);
  if (!src) {
    const std::string msg = zip_error_strerror(&err);
    zip_error_fini(&err);
    fail(name, "cannot read zip archive (" + msg + ")");
  }
  za_ = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &err);
  if (!za_) {
    zip_source_free(src);
    const std::string msg = zip_error_strerror(&err);
    zip_error_fini(&err);
    fail(name, "corrupt or truncated zip archive (" + msg + ")");
  }
  zip_error_fini(&err);
  const zip_int64_t n = zip_get_num_entries(za_, 0);
  if (n < 0) {
    zip_discard(za_);
    fail(name, "corrupt zip archive (no entry count)");
  }
  std::set<std::string_view> seen;
  try {
    names_.reserve(static_cast<std::size_t>(n));
    sizes_.reserve(static_cast<std::size_t>(n));
    for (zip_uint64_t i = 0; i < static_cast<zip_uint64_t>(n); ++i) {
      const char* entry = zip_get_name(za_, i, ZIP_FL_ENC_RAW);
      zip_stat_t st;
      zip_stat_init(&st);
      if (!entry || zip_stat_index(za_, i, ZIP_FL_ENC_RAW, &st) != 0)
        fail(name, "corrupt zip archive (entry " + std::to_string(i) + " unreadable)");
      names_.emplace_back(entry);
      if (!(st.valid & ZIP_STAT_SIZE))
        fail(name, "corrupt zip archive (entry '" + printable(entry) + "' has no size)");
      sizes_.push_back(st.size);
      if ((st.valid & ZIP_STAT_ENCRYPTION_METHOD) && st.encryption_method != ZIP_EM_NONE)
        fail(name, "zip entry '" + printable(entry) + "' is encrypted");
      if ((st.valid & ZIP_STAT_COMP_METHOD) && st.comp_method != ZIP_CM_STORE &&
          st.comp_method != ZIP_CM_DEFLATE)
        fail(name, "zip entry '" + printable(entry) + "' uses compression method " +
                       std::to_string(st.comp_method) + " (only stored and deflated are read)");
    }
    // Duplicate names would make "which entry" depend on the reader; refuse them.
    for (const auto& e : names_)
      if (!seen.insert(e).second)
        fail(name, "corrupt zip archive (entry '" + printable(e) + "' appears twice)");
  } catch (...) {
    zip_discard(za_);
    throw;
  }
}

zip_archive::~zip_archive() {
  if (za_) zip_discard(za_);
}

std::optional<std::size_t> zip_archive::find(std::string_view entry) const {
  for (std::size_t i = 0; i < names_.size(); ++i)
    if (names_[i] == entry) return i;
  return std::nullopt;
}

std::uint64_t zip_archive::declared_size(std::size_t i) const {
  return sizes_.at(i);
}

zip_archive::reader::reader(zip_archive& a, std::size_t index) : a_(a), index_(index) {
  zip_file_t* f = zip_fopen_index(a.za_, index, 0);
  if (!f) {
    zip_error_t* e = zip_get_error(a.za_);
    fail(a.name_, "cannot read zip entry '" + printable(a.names_[index]) + "' (" +
                      zip_error_strerror(e) + ")");
  }
  file_ = f;
}

zip_archive::reader::~reader() {
  if (file_) zip_fclose(static_cast<zip_file_t*>(file_));
}

std::size_t zip_archive::reader::read(std::vector<std::byte>& out, std::uint64_t n) {
  // Chunks keep memory proportional to what the entry really produces, whatever n claims.
  constexpr std::uint64_t chunk = 1 << 20;
  std::size_t total = 0;
  while (n > 0) {
    const std::uint64_t want = std::min(n, chunk);
    const std::size_t old = out.size();
    out.resize(old + static_cast<std::size_t>(want));
    const zip_int64_t got = zip_fread(static_cast<zip_file_t*>(file_), out.data() + old,
                                      static_cast<zip_uint64_t>(want));
    if (got < 0) {
      out.resize(old);
      zip_error_t* e = zip_file_get_error(static_cast<zip_file_t*>(file_));
      fail(a_.name_, "corrupt zip entry '" + printable(a_.names_[index_]) + "' (" +
                         zip_error_strerror(e) + ")");
    }
    out.resize(old + static_cast<std::size_t>(got));
    total += static_cast<std::size_t>(got);
    n -= static_cast<std::uint64_t>(got);
    if (static_cast<std::uint64_t>(got) < want) break;
  }
  return total;
}

std::vector<std::byte> zip_archive::read_all(std::size_t i, std::optional<std::uint64_t> expected,
                                             std::uint64_t max_bytes, std::string_view who) {
  const std::uint64_t declared = sizes_.at(i);
  const std::uint64_t cap = expected ? *expected : max_bytes;
  if (expected && declared != *expected)
    fail(who, "zip entry '" + printable(names_[i]) + "' declares " + std::to_string(declared) +
                  " bytes, expected " + std::to_string(*expected));
  if (declared > cap)
    fail(who, "zip entry '" + printable(names_[i]) + "' declares " + std::to_string(declared) +
                  " bytes, more than the limit of " + std::to_string(cap));
  reader r(*this, i);
  std::vector<std::byte> out;
  // One byte past the declared size tells an entry that decompresses to more than it declares.
  r.read(out, declared + 1);
  if (out.size() != declared)
    fail(who, "corrupt zip entry '" + printable(names_[i]) + "': declares " +
                  std::to_string(declared) + " bytes, decompresses to " +
                  (out.size() > declared ? "more" : std::to_string(out.size())));
  return out;
}

}  // namespace roundoff::io::detail
