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

}  // namespace

const std::vector<arithmetic_model>& presets() {
  static const std::vector<arithmetic_model> p = [] {
    using f = format_id;
    std::vector<arithmetic_model> v;
    v.push_back(make("f64", f::f64, f::f64, f::f64, f::f64));
    v.push_back(make("f32", f::f32, f::f32, f::f32, f::f32));
    v.push_back(make("tf32", f::tf32, f::f32, f::f32, f::f32));
    v.push_back(make("f16", f::f16, f::f16, f::f32, f::f16));
    v.push_back(make("bf16", f::bf16, f::bf16, f::f32, f::bf16));
    v.push_back(make("f16-acc16", f::f16, f::f16, f::f16, f::f16));
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
  const auto& p = presets();
  for (std::size_t i = 0; i < p.size(); ++i)
    if (p[i].name == name) return static_cast<int>(i);
  return -1;
}

arithmetic_model parse_model(std::string_view name) {
  std::string n = lower(name);
  if (n == "fp64" || n == "float64" || n == "double") n = "f64";
  if (n == "fp32" || n == "float32" || n == "float") n = "f32";
  if (n == "fp16" || n == "float16" || n == "half") n = "f16";
  if (n == "bfloat16") n = "bf16";
  if (n == "f16acc16" || n == "fp16-acc16" || n == "f16_acc16") n = "f16-acc16";
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
