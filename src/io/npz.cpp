// .npz reader: a zip archive of .npy files (libzip through detail::zip_archive). Each member is
// decompressed only as far as its own .npy header declares, then parsed by parse_npy.
#include "roundoff/io/npz.hpp"

#include <algorithm>
#include <optional>

#include "io_detail.hpp"
#include "roundoff/error.hpp"
#include "roundoff/io/npy.hpp"

namespace roundoff::io {

namespace {

constexpr std::string_view npy_suffix = ".npy";

bool is_array_entry(std::string_view entry) {
  return entry.size() > npy_suffix.size() && entry.ends_with(npy_suffix);
}

std::string strip(std::string_view entry) {
  return std::string(entry.substr(0, entry.size() - npy_suffix.size()));
}

std::vector<std::string> members_of(const detail::zip_archive& za) {
  std::vector<std::string> out;
  for (const auto& e : za.names())
    if (is_array_entry(e)) out.push_back(strip(e));
  return out;
}

}  // namespace

std::vector<std::string> npz_members(std::span<const std::byte> bytes, std::string_view name) {
  const detail::zip_archive za(bytes, name, ".npz");
  return members_of(za);
}

tensor parse_npz(std::span<const std::byte> bytes, std::string_view name, std::string_view member) {
  detail::zip_archive za(bytes, name, ".npz");
  const std::vector<std::string> arrays = members_of(za);
  std::optional<std::size_t> index;
  std::string shown;  // the member as named in messages
  if (member.empty()) {
    if (arrays.size() != 1) {
      if (arrays.empty()) detail::fail(name, "the archive holds no arrays (no .npy members)");
      detail::fail(name, "holds " + std::to_string(arrays.size()) + " arrays (" +
                             detail::name_list(arrays) + "); name one as " + std::string(name) +
                             ":NAME");
    }
    shown = arrays.front();
    index = za.find(shown + std::string(npy_suffix));
  } else {
    shown = std::string(member);
    // numpy's NpzFile order: the entry name as given, then with ".npy" appended.
    index = za.find(member);
    if (!index) index = za.find(std::string(member) + std::string(npy_suffix));
    if (!index)
      detail::fail(name, "no array '" + detail::printable(member) + "' in the archive (" +
                             (arrays.empty() ? std::string("it holds none")
                                             : "it holds " + detail::name_list(arrays)) +
                             ")");
    if (!is_array_entry(za.names()[*index]))
      detail::fail(name, "member '" + detail::printable(member) + "' is not a .npy array");
  }
  const std::string who = std::string(name) + ":" + detail::printable(shown);

  // The .npy header first (at most preamble + npy_max_header_bytes), then exactly the size it
  // declares. Nothing past that is ever decompressed.
  const std::uint64_t declared = za.declared_size(*index);
  detail::zip_archive::reader r(za, *index);
  std::vector<std::byte> buf;
  r.read(buf, std::min<std::uint64_t>(declared, 12 + npy_max_header_bytes));
  const std::uint64_t expected = npy_file_size(buf, who);
  if (declared != expected)
    detail::fail(who, "zip entry declares " + std::to_string(declared) +
                          " bytes but its .npy header needs " + std::to_string(expected));
  r.read(buf, expected + 1 - buf.size());
  if (buf.size() != expected)
    detail::fail(who,
                 "corrupt zip entry: decompresses to " +
                     (buf.size() > expected ? std::string("more than") + " the " +
                                                  std::to_string(expected) + " bytes declared"
                                            : std::to_string(buf.size()) + " of the " +
                                                  std::to_string(expected) + " bytes declared"));
  return parse_npy(buf, who);
}

tensor read_npz(const std::filesystem::path& file, std::string_view member) {
  const std::string name = file.string();
  const detail::file_bytes f(file, name);
  return parse_npz(f.bytes(), name, member);
}

}  // namespace roundoff::io
