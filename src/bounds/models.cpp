// Arithmetic model presets and parsing. See docs/bounds.md, "Models".
#include <algorithm>
#include <cctype>

#include "roundoff/bounds/models.hpp"
#include "roundoff/error.hpp"

namespace roundoff::bounds {

namespace {

arithmetic_model make(std::string name, format_id in, format_id bias, format_id acc,
                      format_id out) {
  arithmetic_model m;
  m.name = std::move(name);
  m.input = in;
  m.bias_format = bias;
  m.accumulator = acc;
  m.output = out;
  // Exact products are a theorem when 2p_in <= p_acc (the product has at most 2p_in bits).
  m.exact_products = 2 * traits(in).precision <= traits(acc).precision;
  return m;
}

std::string lower(std::string_view s) {
  std::string r(s);
  std::transform(r.begin(), r.end(), r.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return r;
}

// NVIDIA matrix units (tensor cores) as the H200 fixtures and Fasi et al. (2021) show them:
// exact products, addends aligned to the largest keeping at least the accumulator's 24 bits,
// truncated sums (docs/bounds.md, §1, "Matrix units").
arithmetic_model matrix_unit(arithmetic_model m) {
  m.accumulation = accumulation_rounding::faithful;
  m.alignment_precision = traits(m.accumulator).precision;
  return m;
}

constexpr conversion_set rne = conversion_bit(conversion::nearest_even);
constexpr conversion_set rna = conversion_bit(conversion::nearest_away);

struct preset_entry {
  arithmetic_model model;
  int rank;  // precision class
};

const std::vector<preset_entry>& entries() {
  static const std::vector<preset_entry> p = [] {
    using f = format_id;
    auto with = [](arithmetic_model m, conversion_set c) {
      m.conversions = c;
      return m;
    };
    auto reduced = [](arithmetic_model m, format_id r) {
      m.reduction = r;
      return m;
    };
    std::vector<preset_entry> v;
    v.push_back({make("f64", f::f64, f::f64, f::f64, f::f64), 0});
    v.push_back({make("f32", f::f32, f::f32, f::f32, f::f32), 1});
    const arithmetic_model tf32 = matrix_unit(make("tf32", f::tf32, f::f32, f::f32, f::f32));
    auto named = [](arithmetic_model m, std::string n) {
      m.name = std::move(n);
      return m;
    };
    v.push_back({named(with(tf32, rne), "tf32-rne"), 2});
    v.push_back({named(with(tf32, rna), "tf32-rna"), 2});
    v.push_back({with(tf32, rne | rna), 2});
    const arithmetic_model f16 = matrix_unit(make("f16", f::f16, f::f16, f::f32, f::f16));
    const arithmetic_model bf16 = matrix_unit(make("bf16", f::bf16, f::bf16, f::f32, f::bf16));
    v.push_back({f16, 3});
    v.push_back({bf16, 4});
    v.push_back({named(reduced(f16, f::f16), "f16-rpr"), 5});
    v.push_back({named(reduced(bf16, f::bf16), "bf16-rpr"), 6});
    v.push_back({make("f16-acc16", f::f16, f::f16, f::f16, f::f16), 7});
    v.push_back({make("bf16-acc-bf16", f::bf16, f::bf16, f::bf16, f::bf16), 8});
    return v;
  }();
  return p;
}

}  // namespace

const std::vector<arithmetic_model>& presets() {
  static const std::vector<arithmetic_model> p = [] {
    std::vector<arithmetic_model> v;
    for (const auto& e : entries()) v.push_back(e.model);
    return v;
  }();
  return p;
}

std::vector<std::string> preset_names() {
  std::vector<std::string> r;
  for (const auto& m : presets()) r.push_back(m.name);
  return r;
}

int preset_rank(std::string_view name) noexcept {
  for (const auto& e : entries())
    if (e.model.name == name) return e.rank;
  return -1;
}

int preset_index(std::string_view name) noexcept {
  const auto& p = presets();
  for (std::size_t i = 0; i < p.size(); ++i)
    if (p[i].name == name) return static_cast<int>(i);
  return -1;
}

bool has_probabilistic_bound(const arithmetic_model& m) noexcept {
  return (m.accumulation == accumulation_rounding::nearest && m.alignment_precision == 0) ||
         m.reduction != format_id::f64;
}

arithmetic_model parse_model(std::string_view name) {
  std::string n = lower(name);
  if (n == "fp64" || n == "float64" || n == "double") n = "f64";
  if (n == "fp32" || n == "float32" || n == "float") n = "f32";
  if (n == "fp16" || n == "float16" || n == "half") n = "f16";
  if (n == "bfloat16") n = "bf16";
  std::replace(n.begin(), n.end(), '_', '-');
  if (n == "f16acc16" || n == "fp16-acc16" || n == "f16-acc-f16") n = "f16-acc16";
  if (n == "bf16acc16" || n == "bf16-acc16" || n == "bf16-accbf16") n = "bf16-acc-bf16";
  if (n == "fp16-rpr") n = "f16-rpr";
  for (const auto& m : presets())
    if (m.name == n) return m;
  std::string list;
  for (const auto& m : presets()) list += (list.empty() ? "" : ", ") + m.name;
  throw input_error("unknown arithmetic model '" + std::string(name) + "' (known: " + list + ")");
}

double unit_roundoff(format_id f) noexcept {
  return traits(f).unit_roundoff;
}

bool at_least_as_fine(format_id a, format_id b) noexcept {
  const auto& ta = traits(a);
  const auto& tb = traits(b);
  return ta.precision >= tb.precision && ta.emin <= tb.emin && ta.emax >= tb.emax &&
         (ta.emin - ta.precision) <= (tb.emin - tb.precision);
}

}  // namespace roundoff::bounds
