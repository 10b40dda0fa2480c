// roundoff/verdicts/require.hpp: assertions over verdicts::check without GoogleTest.
#include "roundoff/verdicts/require.hpp"
#include "roundoff/error.hpp"

#include <cstdio>
#include <sstream>
#include <stdexcept>

namespace roundoff::testing {

namespace {
std::string g(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}
}  // namespace

bool accepted(const verdicts::verdict& v, const consistency_options& o) noexcept {
  return v.kind == verdicts::verdict_kind::consistent ||
         v.kind == verdicts::verdict_kind::no_guarantee ||
         (o.allow_suspicious && v.kind == verdicts::verdict_kind::suspicious);
}

std::string failure_message(const verdicts::verdict& v) {
  std::ostringstream m;
  m << to_string(v.kind) << " (declared " << v.declared_model << "): " << v.explanation << ".";
  m << "\n  elements " << v.elements << ": " << v.n_consistent << " consistent, "
    << v.n_beyond_probabilistic << " beyond the probabilistic bound, " << v.n_beyond_deterministic
    << " beyond the deterministic bound, " << v.n_special_mismatch << " special-value mismatches";
  if (v.n_no_bound > 0) m << ", " << v.n_no_bound << " without any bound";
  if (!v.worst.empty()) {
    const auto& w = v.worst.front();
    m << "\n  worst element: index " << w.index << ", observed " << g(w.observed) << ", exact "
      << g(w.exact) << ", error " << g(w.error) << ", bound " << g(w.bound) << " (probabilistic "
      << g(w.probabilistic_bound) << ")";
  }
  m << "\n  consistent models:";
  if (v.consistent_models.empty()) m << " none";
  for (const auto& c : v.consistent_models) m << ' ' << c;
  return m.str();
}

std::optional<std::string> rounding_inconsistency(const tensor_view& y, const ops::problem& p,
                                                  std::string_view model,
                                                  const consistency_options& opt) {
  const auto v = verdicts::check(p, y, model, opt.check);
  if (accepted(v, opt)) return std::nullopt;
  return failure_message(v);
}

verdicts::verdict require_rounding_consistent(const tensor_view& y, const ops::problem& p,
                                              std::string_view model,
                                              const consistency_options& opt) {
  auto v = verdicts::check(p, y, model, opt.check);
  if (!accepted(v, opt)) throw verdict_error(failure_message(v));
  return v;
}

}  // namespace roundoff::testing
