// Internal to src/io: error messages, whole-file access and a bounds-checked zip reader shared by
// the .npz, .safetensors and .pt readers. Not installed, not part of the API.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

struct zip;  // libzip's zip_t

namespace roundoff::io::detail {

/// Throws input_error("<name>: <problem>").
[[noreturn]] void fail(std::string_view name, std::string_view problem);

/// `s` made safe for a one-line message: control and non-ASCII bytes become \xNN, and text past
/// `max_chars` is cut with "...". Names inside files are attacker-controlled.
std::string printable(std::string_view s, std::size_t max_chars = 120);

/// "'a', 'b', 'c'" for at most `max_items` names, then ", ... (N in all)".
std::string name_list(const std::vector<std::string>& names, std::size_t max_items = 8);

/// A whole file, read-only, memory-mapped (read into memory where mapping fails). Throws
/// input_error naming `name` when the file is missing, a directory, or unreadable.
class file_bytes {
 public:
  file_bytes(const std::filesystem::path& file, std::string_view name);
  ~file_bytes();
  file_bytes(const file_bytes&) = delete;
  file_bytes& operator=(const file_bytes&) = delete;
  std::span<const std::byte> bytes() const noexcept { return {data_, size_}; }

 private:
  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
  void* map_ = nullptr;
  std::vector<std::byte> copy_;
};

/// A zip archive in memory (libzip, read-only, with its consistency checks). Entries may be
/// stored or deflated; other methods and encryption are refused. Every read is capped: nothing
/// decompresses past the size the caller expects, and memory grows only with bytes actually
/// produced. Errors name `name` (the file) and the entry.
class zip_archive {
 public:
  /// Throws input_error "<name>: not a zip archive (...)" / "corrupt zip archive (...)".
  /// `bytes` must outlive the archive.
  zip_archive(std::span<const std::byte> bytes, std::string_view name, std::string_view what);
  ~zip_archive();
  zip_archive(const zip_archive&) = delete;
  zip_archive& operator=(const zip_archive&) = delete;

  /// Entry names, in archive order (raw bytes; duplicates are refused at open).
  const std::vector<std::string>& names() const noexcept { return names_; }
  std::optional<std::size_t> find(std::string_view entry) const;
  /// Uncompressed size the archive declares for entry i.
  std::uint64_t declared_size(std::size_t i) const;

  /// Sequential reader of one entry.
  class reader {
   public:
    reader(zip_archive& a, std::size_t index);
    ~reader();
    reader(const reader&) = delete;
    reader& operator=(const reader&) = delete;
    /// Appends up to n more bytes to out; returns how many (fewer than n only at the end).
    std::size_t read(std::vector<std::byte>& out, std::uint64_t n);

   private:
    zip_archive& a_;
    std::size_t index_;
    void* file_ = nullptr;  // zip_file_t*
  };

  /// The whole of entry i, which must decompress to exactly `expected` bytes when given, else to
  /// at most `max_bytes` and to its declared size. `who` prefixes errors about the entry.
  std::vector<std::byte> read_all(std::size_t i, std::optional<std::uint64_t> expected,
                                  std::uint64_t max_bytes, std::string_view who);

  std::string_view name() const noexcept { return name_; }

 private:
  zip* za_ = nullptr;
  std::string name_;
  std::vector<std::string> names_;
  std::vector<std::uint64_t> sizes_;
};

}  // namespace roundoff::io::detail
