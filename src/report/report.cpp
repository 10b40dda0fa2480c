#include "roundoff/report/report.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace roundoff::report {

namespace {

using json = nlohmann::ordered_json;

json number_json(double v) {
  if (std::isfinite(v)) return v;
  return shortest(v);  // "inf", "-inf", "nan": JSON has no non-finite numbers
}

json optional_json(const std::optional<double>& v) {
  return v ? number_json(*v) : json(nullptr);
}

json optional_json(const std::optional<std::int64_t>& v) {
  return v ? json(*v) : json(nullptr);
}

json param_json(const param::value_type& v) {
  return std::visit(
      [](const auto& x) -> json {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, double>)
          return number_json(x);
        else
          return json(x);
      },
      v);
}

std::string param_text(const param::value_type& v) {
  return std::visit(
      [](const auto& x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::string>)
          return x;
        else if constexpr (std::is_same_v<T, double>)
          return shortest(x);
        else if constexpr (std::is_same_v<T, bool>)
          return x ? "true" : "false";
        else if constexpr (std::is_same_v<T, std::vector<std::int64_t>>)
          return fmt::format("[{}]", fmt::join(x, ", "));
        else
          return fmt::format("{}", x);
      },
      v);
}

cell optional_cell(const std::optional<double>& v) {
  return v ? number(*v) : cell("-");
}

// A ratio to a bound: "-" when skipped, "none" when the bound does not exist.
cell ratio_cell(const result& x, const std::optional<double>& v) {
  if (!v && x.verdict != "skipped") return cell("none");
  return optional_cell(v);
}

std::string index_text(const std::vector<std::int64_t>& i) {
  return fmt::format("[{}]", fmt::join(i, ", "));
}

std::string title(const results& r) {
  std::vector<std::string> ps;
  for (const auto& p : r.params) ps.push_back(p.key + " " + param_text(p.value));
  return fmt::format("roundoff {} {}: {}; reference {} ({})", r.command, r.op, fmt::join(ps, ", "),
                     r.reference.method, r.reference.exact ? "exact" : "NOT exact everywhere");
}

table worst_table(const result& x) {
  table t;
  t.columns = {{"index"},
               {"observed", align::right},
               {"exact", align::right},
               {"|error|", align::right},
               {"bound", align::right}};
  for (const auto& w : x.worst)
    t.add_row({index_text(w.index), number(w.observed, 9), number(w.exact, 9),
               number(std::fabs(w.observed - w.exact)), number(w.bound)});
  return t;
}

// "17 consistent, 1 violation, 8 skipped; 12 pairs: 12 consistent".
std::string summary(const results& r) {
  auto count = [](const auto& items, std::string_view v) {
    return std::count_if(items.begin(), items.end(), [&](const auto& x) { return x.verdict == v; });
  };
  std::vector<std::string> parts;
  for (const char* v : {"consistent", "no guarantee", "suspicious", "violation", "skipped"})
    if (const auto n = count(r.items, v); n > 0) parts.push_back(fmt::format("{} {}", n, v));
  std::string s =
      fmt::format("{} output{}: {}", r.items.size(), r.items.size() == 1 ? "" : "s",
                  parts.empty() ? std::string("none") : fmt::format("{}", fmt::join(parts, ", ")));
  if (!r.comparisons.empty()) {
    parts.clear();
    for (const char* v : {"consistent", "no guarantee", "suspicious", "violation"})
      if (const auto n = count(r.comparisons, v); n > 0)
        parts.push_back(fmt::format("{} {}", n, v));
    s += fmt::format("; {} pair{}: {}", r.comparisons.size(), r.comparisons.size() == 1 ? "" : "s",
                     fmt::join(parts, ", "));
  }
  return s;
}

// One line per distinct skip reason: "unavailable: LibTorch built without CUDA: a, b, c".
std::vector<std::string> skipped_lines(const results& r) {
  std::vector<std::pair<std::string, std::vector<std::string>>> by_reason;
  for (const auto& x : r.items) {
    if (x.verdict != "skipped") continue;
    auto it = std::find_if(by_reason.begin(), by_reason.end(),
                           [&](const auto& p) { return p.first == x.explanation; });
    if (it == by_reason.end()) {
      by_reason.push_back({x.explanation, {}});
      it = by_reason.end() - 1;
    }
    it->second.push_back(x.name);
  }
  std::vector<std::string> lines;
  for (const auto& [why, names] : by_reason)
    lines.push_back(fmt::format("skipped, {}: {}", why, fmt::join(names, ", ")));
  return lines;
}

// What the text and Markdown reports explain in words: every result and pair that is not
// consistent (the tables already say everything about the consistent ones), or every result
// when there are at most two (a typical `check`).
bool explain(const results& r, const std::string& verdict) {
  if (verdict == "skipped") return false;
  return verdict != "consistent" || r.items.size() <= 2;
}

std::string render_text_report(const results& r, const render_options& opt) {
  std::string out = title(r) + "\n\n";
  out += render_text(results_table(r), opt);
  if (!r.comparisons.empty()) {
    out += '\n';
    out += render_text(comparisons_table(r), opt);
  }
  out += '\n';
  out += summary(r);
  out += '\n';
  for (const auto& l : skipped_lines(r)) out += l + "\n";
  for (const auto& x : r.items)
    if (explain(r, x.verdict)) out += fmt::format("{}: {}\n", x.name, x.explanation);
  for (const auto& x : r.items)
    if (!x.bit_identical_to.empty())
      out += fmt::format("{}: bit-identical to {}\n", x.name, x.bit_identical_to);
  for (const auto& c : r.comparisons)
    if (explain(r, c.verdict)) out += fmt::format("{} vs {}: {}\n", c.a, c.b, c.explanation);
  for (const auto& x : r.items) {
    if (x.verdict == "consistent" || x.verdict == "skipped" || x.worst.empty()) continue;
    out += fmt::format("\nworst elements of {} ({} bound):\n", x.name, x.declared);
    out += render_text(worst_table(x), opt);
  }
  return out;
}

std::string render_markdown_report(const results& r) {
  std::string out = fmt::format("### roundoff {} {}\n\n", r.command, r.op);
  for (const auto& p : r.params) out += fmt::format("- {}: {}\n", p.key, param_text(p.value));
  out += fmt::format("- reference: {} ({})\n\n", r.reference.method,
                     r.reference.exact ? "exact" : "NOT exact everywhere");
  out += render_markdown(results_table(r));
  if (!r.comparisons.empty()) {
    out += '\n';
    out += render_markdown(comparisons_table(r));
  }
  out += '\n';
  out += summary(r);
  out += ".\n\n";
  for (const auto& l : skipped_lines(r)) out += "- " + l + "\n";
  for (const auto& x : r.items)
    if (explain(r, x.verdict)) out += fmt::format("- **{}**: {}\n", x.name, x.explanation);
  for (const auto& x : r.items)
    if (!x.bit_identical_to.empty())
      out += fmt::format("- **{}**: bit-identical to {}\n", x.name, x.bit_identical_to);
  for (const auto& c : r.comparisons)
    if (explain(r, c.verdict)) out += fmt::format("- **{} vs {}**: {}\n", c.a, c.b, c.explanation);
  for (const auto& x : r.items) {
    if (x.verdict == "consistent" || x.verdict == "skipped" || x.worst.empty()) continue;
    out += fmt::format("\nWorst elements of {} ({} bound):\n\n", x.name, x.declared);
    out += render_markdown(worst_table(x));
  }
  return out;
}

std::string render_latex_report(const results& r) {
  std::string out = "% " + title(r);
  out += "\n% results\n";
  out += render_latex(results_table(r));
  if (!r.comparisons.empty()) {
    out += "% comparisons\n";
    out += render_latex(comparisons_table(r));
  }
  return out;
}

std::string render_csv_report(const results& r) {
  table t;
  for (const char* h : {"kind", "name", "other", "declared", "verdict", "max_abs_error",
                        "max_rel_error", "max_ratio_deterministic", "max_ratio_probabilistic",
                        "consistent_models", "differing", "max_abs_difference", "explanation"})
    t.columns.push_back({h});
  for (const auto& x : r.items)
    t.add_row({"result", x.name, "", x.declared, x.verdict, optional_cell(x.max_abs_error),
               optional_cell(x.max_rel_error), optional_cell(x.max_ratio_deterministic),
               optional_cell(x.max_ratio_probabilistic),
               fmt::format("{}", fmt::join(x.consistent_models, " ")), "", "", x.explanation});
  for (const auto& c : r.comparisons)
    t.add_row({"comparison", c.a, c.b, "", c.verdict, "", "", "", "", "", integer(c.differing),
               number(c.max_abs_difference), c.explanation});
  for (auto& row : t.rows)
    for (auto& c : row)
      if (c.text == "-" && !c.value) c.text.clear();  // absent numbers: empty fields
  return render_csv(t);
}

}  // namespace

table results_table(const results& r) {
  table t;
  t.columns = {{"implementation"},
               {"declared"},
               {"verdict", align::left, true},
               {"max |err|", align::right},
               {"max rel err", align::right},
               {"err/bound", align::right},
               {"err/prob. bound", align::right},
               {"explained by"}};
  for (const auto& x : r.items) {
    t.add_row({x.name, x.declared, x.verdict, optional_cell(x.max_abs_error),
               optional_cell(x.max_rel_error), ratio_cell(x, x.max_ratio_deterministic),
               ratio_cell(x, x.max_ratio_probabilistic),
               x.verdict == "skipped"
                   ? cell("-")
                   : cell(x.consistent_models.empty()
                              ? std::string("none")
                              : fmt::format("{}", fmt::join(x.consistent_models, ", ")))});
  }
  return t;
}

table comparisons_table(const results& r) {
  table t;
  t.columns = {{"a"},
               {"b"},
               {"differing", align::right},
               {"max |a-b|", align::right},
               {"diff/allowed", align::right},
               {"verdict", align::left, true}};
  for (const auto& c : r.comparisons)
    t.add_row({c.a, c.b,
               cell(fmt::format("{} of {}", c.differing, c.elements), double(c.differing)),
               number(c.max_abs_difference),
               std::isnan(c.max_ratio) ? cell("none") : number(c.max_ratio), c.verdict});
  return t;
}

std::string render_json(const results& r) {
  json j = json::object();
  j["schema_version"] = 1;
  j["command"] = r.command;
  j["op"] = r.op;
  json params = json::object();
  for (const auto& p : r.params) params[p.key] = param_json(p.value);
  j["params"] = params;
  j["reference"] = {{"method", r.reference.method}, {"exact", r.reference.exact}};
  json items = json::array();
  for (const auto& x : r.items) {
    json o = json::object();
    o["name"] = x.name;
    o["declared"] = x.declared;
    o["verdict"] = x.verdict;
    o["max_abs_error"] = optional_json(x.max_abs_error);
    o["max_rel_error"] = optional_json(x.max_rel_error);
    o["max_ratio_deterministic"] = optional_json(x.max_ratio_deterministic);
    o["max_ratio_probabilistic"] = optional_json(x.max_ratio_probabilistic);
    o["consistent_models"] = x.consistent_models;
    o["explanation"] = x.explanation;
    json worst = json::array();
    for (const auto& w : x.worst)
      worst.push_back({{"index", w.index},
                       {"observed", number_json(w.observed)},
                       {"exact", number_json(w.exact)},
                       {"bound", number_json(w.bound)}});
    o["worst"] = worst;
    o["elements"] = optional_json(x.elements);
    o["counts"] = x.elements
                      ? json{{"beyond_probabilistic", *x.n_beyond_probabilistic},
                             {"beyond_deterministic", *x.n_beyond_deterministic},
                             {"special_mismatch", *x.n_special_mismatch},
                             {"no_bound", x.n_no_bound.value_or(0)},
                             {"no_deterministic_bound", x.n_no_deterministic_bound.value_or(0)},
                             {"no_probabilistic_bound", x.n_no_probabilistic_bound.value_or(0)}}
                      : json(nullptr);
    json near = json::array();
    for (const auto& [name, d] : x.nearest_inputs)
      near.push_back({{"inputs", name}, {"distance", number_json(d)}});
    o["nearest_inputs"] = near;
    if (!x.bit_identical_to.empty()) o["bit_identical_to"] = x.bit_identical_to;
    json src = json::object();
    if (!x.source.file.empty()) src["file"] = x.source.file;
    if (!x.source.device.empty()) src["device"] = x.source.device;
    if (!x.source.thread_library.empty()) src["thread_library"] = x.source.thread_library;
    if (x.source.threads > 0) src["threads"] = x.source.threads;
    if (x.source.seconds >= 0) src["seconds"] = number_json(x.source.seconds);
    if (!x.source.notes.empty()) src["notes"] = x.source.notes;
    o["source"] = src;
    items.push_back(std::move(o));
  }
  j["results"] = items;
  json comps = json::array();
  for (const auto& c : r.comparisons) {
    comps.push_back(
        {{"a", c.a},
         {"b", c.b},
         {"differing", c.differing},
         {"max_abs_difference", number_json(c.max_abs_difference)},
         {"verdict", c.verdict},
         {"elements", c.elements},
         {"max_ratio", std::isnan(c.max_ratio) ? json(nullptr) : number_json(c.max_ratio)},
         {"explanation", c.explanation}});
  }
  j["comparisons"] = comps;
  // Names come from the user (file names): invalid UTF-8 is replaced, never thrown.
  return j.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

std::string render(const results& r, output_format f, const render_options& opt) {
  switch (f) {
    case output_format::table:
      return render_text_report(r, opt);
    case output_format::markdown:
      return render_markdown_report(r);
    case output_format::latex:
      return render_latex_report(r);
    case output_format::csv:
      return render_csv_report(r);
    case output_format::json:
      return render_json(r);
  }
  return {};
}

}  // namespace roundoff::report
