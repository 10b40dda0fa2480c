// The sweep report (include/roundoff/report/sweep.hpp): the long CSV table, the two tables of the
// human formats, and the JSON document of docs/cli.md ("roundoff sweep").
#include "roundoff/report/sweep.hpp"

#include <cmath>

#include <nlohmann/json.hpp>

namespace roundoff::report {

namespace {

// The two narrower tables the human formats show.
table impl_table(const sweep_report& r) {
  table t;
  t.columns = {{r.dim, align::right},
               {"implementation"},
               {"model"},
               {"max |err|", align::right},
               {"sum |err|", align::right},
               {"max det. bound", align::right},
               {"max prob. bound", align::right},
               {"max err/det", align::right},
               {"max err/prob", align::right},
               {"verdict", align::left, true}};
  for (const auto& p : r.points)
    for (const auto& im : p.impls)
      t.add_row({integer(p.value), im.name, im.model, number(im.max_abs_error),
                 number(im.sum_abs_error), number(im.max_deterministic_bound),
                 number(im.max_probabilistic_bound), number(im.max_ratio_deterministic),
                 number(im.max_ratio_probabilistic), im.verdict});
  return t;
}

table pair_table(const sweep_report& r) {
  table t;
  t.columns = {{r.dim, align::right},
               {"a"},
               {"b"},
               {"differing", align::right},
               {"max |a-b|", align::right},
               {"sum |a-b|", align::right},
               {"sum allowed", align::right},
               {"max |a-b|/allowed", align::right},
               {"verdict", align::left, true}};
  for (const auto& p : r.points)
    for (const auto& pr : p.pairs)
      t.add_row({integer(p.value), pr.a, pr.b, integer(pr.differing), number(pr.max_abs_difference),
                 number(pr.sum_abs_difference), number(pr.sum_allowed_difference),
                 number(pr.max_ratio), pr.verdict});
  return t;
}

nlohmann::ordered_json number_json(double v) {
  if (std::isfinite(v)) return v;
  return std::isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf");
}

std::string render_json(const sweep_report& r) {
  using json = nlohmann::ordered_json;
  json j;
  j["command"] = "sweep";
  j["op"] = r.op;
  json params = json::object();
  for (const auto& [k, v] : r.params) params[k] = v;
  j["params"] = params;
  j["vary"] = {{"dim", r.dim},
               {"start", r.start},
               {"stop", r.stop},
               {"step", r.step},
               {"geometric", r.geometric}};
  json dims = json::object();
  for (const auto& d : r.dims) {
    if (d.varied)
      dims[d.name] = "varied";
    else if (!d.tied_to.empty())
      dims[d.name] = d.tied_to;
    else
      dims[d.name] = d.value;
  }
  j["dims"] = dims;
  j["bias"] = r.bias;
  j["seed"] = r.seed;
  j["confidence"] = r.confidence;
  j["input_formats"] = r.input_formats;
  json ims = json::array();
  for (const auto& im : r.implementations)
    ims.push_back({{"name", im.name}, {"model", im.model}, {"storage", im.storage}});
  j["implementations"] = ims;
  json sk = json::array();
  for (const auto& x : r.skipped) sk.push_back({{"name", x.name}, {"reason", x.reason}});
  j["skipped"] = sk;
  json pts = json::array();
  for (const auto& p : r.points) {
    json pj;
    pj["value"] = p.value;
    json pd = json::object();
    for (const auto& [n, v] : p.dims) pd[n] = v;
    pj["dims"] = pd;
    pj["shapes"] = {{"input", p.x}, {"weight", p.w}, {"output", p.y}};
    if (!p.b.empty()) pj["shapes"]["bias"] = p.b;
    pj["reference_seconds"] = p.reference_seconds;
    json res = json::array();
    for (const auto& im : p.impls)
      res.push_back({{"name", im.name},
                     {"model", im.model},
                     {"elements", im.elements},
                     {"max_abs_error", number_json(im.max_abs_error)},
                     {"sum_abs_error", number_json(im.sum_abs_error)},
                     {"max_deterministic_bound", number_json(im.max_deterministic_bound)},
                     {"sum_deterministic_bound", number_json(im.sum_deterministic_bound)},
                     {"max_probabilistic_bound", number_json(im.max_probabilistic_bound)},
                     {"sum_probabilistic_bound", number_json(im.sum_probabilistic_bound)},
                     {"max_ratio_deterministic", number_json(im.max_ratio_deterministic)},
                     {"max_ratio_probabilistic", number_json(im.max_ratio_probabilistic)},
                     {"beyond_deterministic", im.beyond_deterministic},
                     {"beyond_probabilistic", im.beyond_probabilistic},
                     {"verdict", im.verdict},
                     {"seconds", im.seconds}});
    pj["results"] = res;
    json cmp = json::array();
    for (const auto& pr : p.pairs)
      cmp.push_back({{"a", pr.a},
                     {"b", pr.b},
                     {"differing", pr.differing},
                     {"max_abs_difference", number_json(pr.max_abs_difference)},
                     {"sum_abs_difference", number_json(pr.sum_abs_difference)},
                     {"sum_allowed_difference", number_json(pr.sum_allowed_difference)},
                     {"max_ratio", number_json(pr.max_ratio)},
                     {"beyond", pr.beyond},
                     {"verdict", pr.verdict}});
    pj["comparisons"] = cmp;
    pts.push_back(std::move(pj));
  }
  j["points"] = pts;
  return j.dump(2) + "\n";
}

std::string render_human(const sweep_report& r, output_format f, const render_options& opt) {
  const table a = impl_table(r), b = pair_table(r);
  const std::string ta = "Each implementation against the exact result",
                    tb = "Each pair of implementations against each other";
  switch (f) {
    case output_format::markdown:
      return "**" + ta + "**\n\n" + render_markdown(a) + "\n**" + tb + "**\n\n" +
             render_markdown(b);
    case output_format::latex:
      return "% " + ta + "\n" + render_latex(a) + "\n% " + tb + "\n" + render_latex(b);
    default:
      return ta + "\n" + render_text(a, opt) + "\n" + tb + "\n" + render_text(b, opt);
  }
}

}  // namespace

table sweep_long_table(const sweep_report& r) {
  table t;
  t.columns = {{"op"}, {"dim"}, {"value", align::right}};
  if (!r.points.empty())
    for (const auto& [n, v] : r.points.front().dims) t.columns.push_back({n, align::right});
  for (const char* h : {"kind", "name", "other", "model"}) t.columns.push_back({h});
  for (const char* h :
       {"elements", "max_abs_error", "sum_abs_error", "max_deterministic_bound",
        "sum_deterministic_bound", "max_probabilistic_bound", "sum_probabilistic_bound",
        "max_ratio_deterministic", "max_ratio_probabilistic", "beyond_deterministic",
        "beyond_probabilistic", "differing", "max_abs_difference", "sum_abs_difference",
        "sum_allowed_difference", "max_ratio_difference"})
    t.columns.push_back({h, align::right});
  t.columns.push_back({"verdict", align::left, true});
  for (const auto& p : r.points) {
    std::vector<cell> head = {r.op, r.dim, integer(p.value)};
    for (const auto& [n, v] : p.dims) head.push_back(integer(v));
    for (const auto& im : p.impls) {
      auto row = head;
      for (cell c : {cell("impl"),
                     cell(im.name),
                     cell(""),
                     cell(im.model),
                     integer(im.elements),
                     number(im.max_abs_error),
                     number(im.sum_abs_error),
                     number(im.max_deterministic_bound),
                     number(im.sum_deterministic_bound),
                     number(im.max_probabilistic_bound),
                     number(im.sum_probabilistic_bound),
                     number(im.max_ratio_deterministic),
                     number(im.max_ratio_probabilistic),
                     integer(im.beyond_deterministic),
                     integer(im.beyond_probabilistic),
                     cell(""),
                     cell(""),
                     cell(""),
                     cell(""),
                     cell(""),
                     cell(im.verdict)})
        row.push_back(std::move(c));
      t.add_row(std::move(row));
    }
    for (const auto& pr : p.pairs) {
      auto row = head;
      for (cell c : {cell("pair"),
                     cell(pr.a),
                     cell(pr.b),
                     cell(""),
                     integer(p.impls.empty() ? 0 : p.impls.front().elements),
                     cell(""),
                     cell(""),
                     cell(""),
                     cell(""),
                     cell(""),
                     cell(""),
                     cell(""),
                     cell(""),
                     cell(""),
                     cell(""),
                     integer(pr.differing),
                     number(pr.max_abs_difference),
                     number(pr.sum_abs_difference),
                     number(pr.sum_allowed_difference),
                     number(pr.max_ratio),
                     cell(pr.verdict)})
        row.push_back(std::move(c));
      t.add_row(std::move(row));
    }
  }
  return t;
}

std::string render(const sweep_report& r, output_format f, const render_options& opt) {
  switch (f) {
    case output_format::csv:
      return render_csv(sweep_long_table(r));
    case output_format::json:
      return render_json(r);
    default:
      return render_human(r, f, opt);
  }
}

}  // namespace roundoff::report
