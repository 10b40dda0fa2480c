#include "sweep_flags.hpp"

#include <charconv>
#include <cstdint>
#include <optional>
#include <vector>

#include "roundoff/error.hpp"

namespace roundoff::cli {

using verdicts::dim_setting;
using verdicts::vary_range;

namespace {

bool is_name(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || c == '_' || c == '-')) return false;
  return true;
}

// A positive decimal integer, the whole of s; nullopt otherwise (sign, junk, overflow).
std::optional<std::int64_t> parse_size(std::string_view s) {
  if (s.empty() || s.front() < '0' || s.front() > '9') return std::nullopt;
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

}  // namespace

vary_range parse_vary(std::string_view text) {
  const std::string t(text);
  const auto fail = [&](const std::string& why) -> vary_range {
    throw input_error("--vary " + t + ": " + why);
  };
  const auto eq = text.find('=');
  if (eq == std::string_view::npos)
    return fail("expected NAME=START:STOP[:STEP], e.g. in=1:2048:64");
  vary_range r;
  r.dim = std::string(text.substr(0, eq));
  if (!is_name(r.dim)) return fail("'" + r.dim + "' is not a dimension name (e.g. in, out, batch)");
  std::vector<std::string_view> parts;
  std::string_view rest = text.substr(eq + 1);
  for (;;) {
    const auto c = rest.find(':');
    parts.push_back(rest.substr(0, c));
    if (c == std::string_view::npos) break;
    rest = rest.substr(c + 1);
  }
  if (parts.size() < 2 || parts.size() > 3)
    return fail("expected NAME=START:STOP[:STEP], e.g. in=1:2048:64");
  const auto start = parse_size(parts[0]), stop = parse_size(parts[1]);
  if (!start) return fail("START '" + std::string(parts[0]) + "' is not a positive integer");
  if (!stop) return fail("STOP '" + std::string(parts[1]) + "' is not a positive integer");
  r.start = *start;
  r.stop = *stop;
  r.step = 1;
  if (parts.size() == 3) {
    std::string_view st = parts[2];
    if (!st.empty() && (st.front() == 'x' || st.front() == '*')) {
      r.geometric = true;
      st.remove_prefix(1);
    }
    const auto step = parse_size(st);
    if (!step)
      return fail("STEP '" + std::string(parts[2]) + "' is not a positive integer (or xF)");
    r.step = *step;
    if (r.geometric && r.step < 2) return fail("a geometric step needs a factor >= 2");
  }
  if (r.start < 1) return fail("sizes start at 1");
  if (r.stop < r.start) return fail("STOP is below START (the range is empty)");
  if (r.step < 1) return fail("STEP must be at least 1");
  return r;
}

std::pair<std::string, dim_setting> parse_dim(std::string_view text) {
  const std::string t(text);
  const auto eq = text.find('=');
  if (eq == std::string_view::npos)
    throw input_error("--dim " + t + ": expected NAME=SIZE or NAME=OTHER, e.g. batch=32, out=in");
  std::string name(text.substr(0, eq));
  std::string_view v = text.substr(eq + 1);
  if (!is_name(name)) throw input_error("--dim " + t + ": '" + name + "' is not a dimension name");
  dim_setting d;
  if (auto n = parse_size(v)) {
    if (*n < 1) throw input_error("--dim " + t + ": sizes start at 1");
    d.value = *n;
  } else if (is_name(v)) {
    d.tied_to = std::string(v);
  } else {
    throw input_error("--dim " + t + ": '" + std::string(v) +
                      "' is neither a positive integer nor a dimension name");
  }
  return {std::move(name), d};
}

}  // namespace roundoff::cli
