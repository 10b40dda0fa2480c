// roundoff/testing.hpp: thin adapters from verdicts::check to GoogleTest.
#include "roundoff/testing.hpp"

#include <memory>
#include <utility>

namespace roundoff {

void PrintTo(const tensor& t, std::ostream* os) {
  *os << traits(t.type).name << " tensor [";
  for (std::size_t i = 0; i < t.shape.size(); ++i) *os << (i ? ", " : "") << t.shape[i];
  *os << "] {";
  std::size_t k = std::min<std::size_t>(t.data.size(), 6);
  for (std::size_t i = 0; i < k; ++i) *os << (i ? ", " : "") << t.data[i];
  if (t.data.size() > k) *os << ", ...";
  *os << "}";
}

namespace testing {

::testing::AssertionResult IsRoundingConsistent(const tensor_view& y, const ops::problem& p,
                                                std::string_view model,
                                                const consistency_options& opt) {
  auto v = verdicts::check(p, y, model, opt.check);
  if (accepted(v, opt)) return ::testing::AssertionSuccess() << v.explanation;
  return ::testing::AssertionFailure() << failure_message(v);
}

struct rounding_consistent_matcher::state {
  ops::problem problem;
  std::string model;
  consistency_options opt;
  std::shared_ptr<const void> owner;  // what problem's views point into, when the matcher owns it
};

namespace {
// The positional form's copies of the operands.
struct operands {
  tensor x, w;
  std::shared_ptr<const tensor> b;
};
}  // namespace

rounding_consistent_matcher::rounding_consistent_matcher(ops::problem p, std::string model,
                                                         consistency_options opt,
                                                         std::shared_ptr<const void> owner)
    : s_(std::make_shared<state>(
          state{std::move(p), std::move(model), std::move(opt), std::move(owner)})) {}

rounding_consistent_matcher::rounding_consistent_matcher(const ops::op_spec& op, tensor x, tensor w,
                                                         std::shared_ptr<const tensor> b,
                                                         std::string model, consistency_options opt)
    : rounding_consistent_matcher([&] {
        auto own =
            std::make_shared<const operands>(operands{std::move(x), std::move(w), std::move(b)});
        return rounding_consistent_matcher(ops::problem{op, own->x, own->w, own->b.get()},
                                           std::move(model), std::move(opt), own);
      }()) {}

bool rounding_consistent_matcher::MatchAndExplain(const tensor& y, std::ostream* os) const {
  auto v = verdicts::check(s_->problem, y, s_->model, s_->opt.check);
  bool ok = accepted(v, s_->opt);
  if (os) *os << (ok ? v.explanation : failure_message(v));
  return ok;
}

void rounding_consistent_matcher::DescribeTo(std::ostream* os) const {
  *os << "is " << ops::op_name(s_->problem.op.kind) << "(x, w" << (s_->problem.b ? ", b" : "")
      << ") up to rounding in " << s_->model;
}

void rounding_consistent_matcher::DescribeNegationTo(std::ostream* os) const {
  *os << "is not " << ops::op_name(s_->problem.op.kind) << "(x, w" << (s_->problem.b ? ", b" : "")
      << ") up to rounding in " << s_->model;
}

rounding_consistent_matcher RoundingConsistent(const ops::problem& p, std::string_view model,
                                               const consistency_options& opt) {
  return {p, std::string(model), opt};
}

rounding_consistent_matcher RoundingConsistent(const ops::op_spec& op, const tensor& x,
                                               const tensor& w, const tensor& b,
                                               std::string_view model,
                                               const consistency_options& opt) {
  return {op, x, w, std::make_shared<const tensor>(b), std::string(model), opt};
}

rounding_consistent_matcher RoundingConsistent(const ops::op_spec& op, const tensor& x,
                                               const tensor& w, const tensor* b,
                                               std::string_view model,
                                               const consistency_options& opt) {
  return {op, x, w, b ? std::make_shared<const tensor>(*b) : nullptr, std::string(model), opt};
}

}  // namespace testing
}  // namespace roundoff
