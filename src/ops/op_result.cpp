// term_counts: per-element counts stored by their period (include/roundoff/ops/op_result.hpp).
#include "roundoff/ops/op_result.hpp"

#include <string>
#include <utility>

#include "roundoff/error.hpp"

namespace roundoff::ops {

term_counts::term_counts(std::int64_t size, std::vector<std::int64_t> period)
    : size_(size), period_(std::move(period)) {
  const auto p = static_cast<std::int64_t>(period_.size());
  if (size_ < 0 || (p == 0 && size_ != 0) || (p != 0 && size_ % p != 0))
    throw internal_error("term_counts: " + std::to_string(size_) +
                         " elements do not repeat a period of " + std::to_string(p));
  if (size_ == 0) period_.clear();
}

std::int64_t term_counts::total() const noexcept {
  std::int64_t s = 0;
  for (auto v : period_) s += v;
  return period_.empty() ? 0 : s * (size_ / static_cast<std::int64_t>(period_.size()));
}

std::vector<std::int64_t> term_counts::to_vector() const {
  std::vector<std::int64_t> v(static_cast<std::size_t>(size_));
  for (std::int64_t i = 0; i < size_; ++i) v[static_cast<std::size_t>(i)] = (*this)[i];
  return v;
}

bool operator==(const term_counts& a, const term_counts& b) {
  if (a.size_ != b.size_) return false;
  if (a.period_ == b.period_) return true;
  for (std::int64_t i = 0; i < a.size_; ++i)
    if (a[i] != b[i]) return false;
  return true;
}

}  // namespace roundoff::ops
