#include "roundoff/report/table.hpp"

#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "roundoff/error.hpp"

namespace roundoff::report {

namespace {

constexpr std::string_view format_names[] = {"table", "markdown", "latex", "csv", "json"};

// Display width: UTF-8 code points (continuation bytes 10xxxxxx do not count).
std::size_t width(std::string_view s) {
  std::size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80 ? 1 : 0;
  return n;
}

std::string pad(std::string_view s, std::size_t w, align a) {
  const std::size_t n = width(s);
  const std::string fill(n < w ? w - n : 0, ' ');
  return a == align::right ? fill + std::string(s) : std::string(s) + fill;
}

std::string_view colour_of(std::string_view verdict) {
  if (verdict == "consistent") return "\x1b[32m";   // green
  if (verdict == "suspicious") return "\x1b[33m";   // yellow
  if (verdict == "violation") return "\x1b[1;31m";  // bold red
  if (verdict == "skipped") return "\x1b[2m";       // dim
  return {};
}

std::vector<std::size_t> widths(const table& t, std::size_t minimum) {
  std::vector<std::size_t> w(t.columns.size(), minimum);
  for (std::size_t c = 0; c < t.columns.size(); ++c) {
    w[c] = std::max(w[c], width(t.columns[c].header));
    for (const auto& r : t.rows) w[c] = std::max(w[c], width(r[c].text));
  }
  return w;
}

std::string markdown_escape(std::string_view s) {
  std::string out;
  for (char ch : s) {
    if (ch == '|') out += '\\';
    out += ch == '\n' ? ' ' : ch;
  }
  return out;
}

std::string csv_field(std::string_view s) {
  if (s.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(s);
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"') out += '"';
    out += ch;
  }
  return out + '"';
}

}  // namespace

std::string_view to_string(output_format f) noexcept {
  return format_names[static_cast<std::size_t>(f)];
}

output_format parse_output_format(std::string_view name) {
  for (std::size_t i = 0; i < std::size(format_names); ++i)
    if (name == format_names[i]) return static_cast<output_format>(i);
  if (name == "md") return output_format::markdown;
  if (name == "tex") return output_format::latex;
  throw argument_error("format", fmt::format("unknown format '{}' (known: {})", name,
                                             fmt::join(format_names, ", ")));
}

std::vector<std::string> output_format_names() {
  return {std::begin(format_names), std::end(format_names)};
}

std::string shortest(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return fmt::format("{}", v);  // {fmt}'s default is the shortest round-trip representation
}

cell number(double v, int digits) {
  if (!std::isfinite(v)) return {shortest(v), v};
  return {fmt::format("{:.{}g}", v, digits), v};
}

cell integer(std::int64_t v) {
  return {fmt::format("{}", v), static_cast<double>(v)};
}

void table::add_row(std::vector<cell> cells) {
  if (cells.size() != columns.size())
    throw internal_error(
        fmt::format("report::table: row of {} cells for {} columns", cells.size(), columns.size()));
  rows.push_back(std::move(cells));
}

std::string render_text(const table& t, const render_options& opt) {
  const auto w = widths(t, 0);
  std::string out;
  auto line = [&](auto&& text_of, auto&& colour_for) {
    std::string l;
    for (std::size_t c = 0; c < t.columns.size(); ++c) {
      if (c) l += "  ";
      const bool last = c + 1 == t.columns.size();
      const std::string_view text = text_of(c);
      // No trailing spaces on the last column.
      std::string cellpad = last && t.columns[c].alignment == align::left
                                ? std::string(text)
                                : pad(text, w[c], t.columns[c].alignment);
      const std::string_view col = colour_for(c, text);
      if (!col.empty()) {
        const auto at = cellpad.find(text);  // colour the word, not the padding
        cellpad = cellpad.substr(0, at) + std::string(col) + std::string(text) + "\x1b[0m" +
                  cellpad.substr(at + text.size());
      }
      l += cellpad;
    }
    while (!l.empty() && l.back() == ' ') l.pop_back();
    out += l + '\n';
  };
  auto no_colour = [](std::size_t, std::string_view) { return std::string_view{}; };
  line([&](std::size_t c) -> std::string_view { return t.columns[c].header; }, no_colour);
  std::vector<std::string> rules;
  for (std::size_t c = 0; c < t.columns.size(); ++c) rules.emplace_back(w[c], '-');
  line([&](std::size_t c) -> std::string_view { return rules[c]; }, no_colour);
  for (const auto& r : t.rows) {
    line([&](std::size_t c) -> std::string_view { return r[c].text; },
         [&](std::size_t c, std::string_view text) {
           return opt.colour && t.columns[c].verdict ? colour_of(text) : std::string_view{};
         });
  }
  return out;
}

std::string render_markdown(const table& t) {
  std::vector<std::vector<std::string>> cells;
  for (const auto& r : t.rows) {
    cells.emplace_back();
    for (const auto& c : r) cells.back().push_back(markdown_escape(c.text));
  }
  std::vector<std::size_t> w(t.columns.size(), 3);
  for (std::size_t c = 0; c < t.columns.size(); ++c) {
    w[c] = std::max(w[c], width(markdown_escape(t.columns[c].header)));
    for (const auto& r : cells) w[c] = std::max(w[c], width(r[c]));
  }
  std::string out;
  auto row = [&](auto&& text_of) {
    out += '|';
    for (std::size_t c = 0; c < t.columns.size(); ++c) {
      out += ' ';
      out += pad(text_of(c), w[c], t.columns[c].alignment);
      out += " |";
    }
    out += '\n';
  };
  row([&](std::size_t c) { return markdown_escape(t.columns[c].header); });
  row([&](std::size_t c) {
    return t.columns[c].alignment == align::right ? std::string(w[c] - 1, '-') + ':'
                                                  : std::string(w[c], '-');
  });
  for (const auto& r : cells) row([&](std::size_t c) { return r[c]; });
  return out;
}

std::string latex_escape(std::string_view s) {
  std::string out;
  for (char ch : s) {
    switch (ch) {
      case '\\':
        out += "\\textbackslash{}";
        break;
      case '~':
        out += "\\textasciitilde{}";
        break;
      case '^':
        out += "\\textasciicircum{}";
        break;
      case '|':  // OT1-encoded text mode would print an em dash
        out += "\\textbar{}";
        break;
      case '<':
        out += "\\textless{}";
        break;
      case '>':
        out += "\\textgreater{}";
        break;
      case '&':
      case '%':
      case '$':
      case '#':
      case '_':
      case '{':
      case '}':
        out += '\\';
        out += ch;
        break;
      case '\n':
        out += ' ';
        break;
      default:
        out += ch;
    }
  }
  return out;
}

std::string render_latex(const table& t) {
  std::string spec;
  for (const auto& c : t.columns) spec += c.alignment == align::right ? 'r' : 'l';
  std::string out = "\\begin{tabular}{" + spec + "}\n\\toprule\n";
  auto row = [&](auto&& text_of) {
    for (std::size_t c = 0; c < t.columns.size(); ++c) {
      if (c) out += " & ";
      out += latex_escape(text_of(c));
    }
    out += " \\\\\n";
  };
  row([&](std::size_t c) -> std::string_view { return t.columns[c].header; });
  out += "\\midrule\n";
  for (const auto& r : t.rows) row([&](std::size_t c) -> std::string_view { return r[c].text; });
  out += "\\bottomrule\n\\end{tabular}\n";
  return out;
}

std::string render_csv(const table& t) {
  std::string out;
  for (std::size_t c = 0; c < t.columns.size(); ++c) {
    if (c) out += ',';
    out += csv_field(t.columns[c].header);
  }
  out += "\r\n";
  for (const auto& r : t.rows) {
    for (std::size_t c = 0; c < r.size(); ++c) {
      if (c) out += ',';
      out += csv_field(r[c].value ? shortest(*r[c].value) : r[c].text);
    }
    out += "\r\n";
  }
  return out;
}

std::string render_json(const table& t) {
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  for (const auto& r : t.rows) {
    nlohmann::ordered_json o = nlohmann::ordered_json::object();
    for (std::size_t c = 0; c < r.size(); ++c) {
      const auto& v = r[c].value;
      if (v && std::isfinite(*v))
        o[t.columns[c].header] = *v;
      else if (v)
        o[t.columns[c].header] = shortest(*v);
      else
        o[t.columns[c].header] = r[c].text;
    }
    rows.push_back(std::move(o));
  }
  return rows.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
}

std::string render(const table& t, output_format f, const render_options& opt) {
  switch (f) {
    case output_format::table:
      return render_text(t, opt);
    case output_format::markdown:
      return render_markdown(t);
    case output_format::latex:
      return render_latex(t);
    case output_format::csv:
      return render_csv(t);
    case output_format::json:
      return render_json(t);
  }
  return {};
}

bool colour_on_stdout() noexcept {
  const char* no = std::getenv("NO_COLOR");
  return isatty(STDOUT_FILENO) == 1 && (no == nullptr || *no == '\0');
}

void check_writable(const std::string& file) {
  namespace fs = std::filesystem;
  const fs::path p(file);
  std::error_code ec;
  if (fs::is_directory(p, ec)) throw input_error(file + ": cannot write: is a directory");
  const fs::path dir = p.has_parent_path() ? p.parent_path() : fs::path(".");
  if (!fs::is_directory(dir, ec))
    throw input_error(file + ": cannot write: directory " + dir.string() + " does not exist");
}

void write_output(std::string_view text, const std::string& file) {
  if (file.empty() || file == "-") {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
    return;
  }
  check_writable(file);
  namespace fs = std::filesystem;
  std::error_code ec;
  const std::string partial = file + ".partial";
  {
    std::ofstream os(partial, std::ios::binary | std::ios::trunc);
    if (!os) throw input_error(file + ": cannot write: " + std::strerror(errno));
    os.write(text.data(), static_cast<std::streamsize>(text.size()));
    os.close();
    if (!os) {
      fs::remove(partial, ec);
      throw input_error(file + ": cannot write (disk full?)");
    }
  }
  fs::rename(partial, file, ec);
  if (ec) {
    fs::remove(partial, ec);
    throw input_error(file + ": cannot write: " + ec.message());
  }
}

}  // namespace roundoff::report
