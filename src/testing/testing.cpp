// roundoff/testing.hpp: thin adapters from verdicts::check to GoogleTest.
#include "roundoff/testing.hpp"

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
  ops::op_spec op;
  tensor x, w;
  std::shared_ptr<const tensor> b;
  std::string model;
  consistency_options opt;
};

rounding_consistent_matcher::rounding_consistent_matcher(const ops::op_spec& op, tensor x, tensor w,
                                                         std::shared_ptr<const tensor> b,
                                                         std::string model, consistency_options opt)
    : s_(std::make_shared<state>(
          state{op, std::move(x), std::move(w), std::move(b), std::move(model), std::move(opt)})) {}

bool rounding_consistent_matcher::MatchAndExplain(const tensor& y, std::ostream* os) const {
  auto v = verdicts::check({s_->op, s_->x, s_->w, s_->b.get()}, y, s_->model, s_->opt.check);
  bool ok = accepted(v, s_->opt);
  if (os) *os << (ok ? v.explanation : failure_message(v));
  return ok;
}

void rounding_consistent_matcher::DescribeTo(std::ostream* os) const {
  *os << "is " << ops::op_name(s_->op.kind) << "(x, w" << (s_->b ? ", b" : "")
      << ") up to rounding in " << s_->model;
}

void rounding_consistent_matcher::DescribeNegationTo(std::ostream* os) const {
  *os << "is not " << ops::op_name(s_->op.kind) << "(x, w" << (s_->b ? ", b" : "")
      << ") up to rounding in " << s_->model;
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
