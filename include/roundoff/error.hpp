// roundoff's one error hierarchy. Every error the library throws on purpose derives from
// roundoff::error; what() is always one line. The front ends map the kinds once:
//
//   kind               meaning                                    CLI (exit)    Python
//   input_error        the user's input is wrong                  2, the line   ValueError
//     argument_error   ... one named argument of an op            2, reworded   ValueError
//     type_error       ... an argument of the wrong type          2, the line   TypeError
//   unsupported_error  a valid request this build cannot serve    3             RuntimeError
//   resource_error     not enough memory (or device) for it       3             MemoryError
//   internal_error     a broken invariant or API contract: a bug  3             RuntimeError
//   verdict_error      an assertion found a rounding bug          -             RuntimeError
//
// (exit 3 prints "internal error: <what()>"; the CLI's mapping is in src/cli/main.cpp, Python's
// in src/python/core.cpp.)
#pragma once

#include <stdexcept>
#include <string>
#include <utility>

namespace roundoff {

/// Base of every error roundoff throws on purpose.
class error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Bad user input. what() is one line, names the offending file/flag/argument, and says what is
/// wrong, e.g. "x.npy: truncated file: expected 262144 data bytes, found 1000".
class input_error : public error {
 public:
  using error::error;
};

/// Bad input in one named argument, e.g. an op's `stride`. argument() is its name as the library
/// spells it (torch.nn.functional's for op arguments: "output_padding"), value() the offending
/// value when the message quotes it (may be empty), detail() what is wrong, and what() is
/// "<argument>[ <value>]: <detail>". A front end rewords it in its own syntax: the CLI names the
/// flag, "--output-padding: <detail>", "--vary in=1:20000: <detail>" (src/cli/op_flags.cpp).
class argument_error : public input_error {
 public:
  argument_error(std::string argument, std::string detail)
      : argument_error(std::move(argument), std::string(), std::move(detail)) {}
  argument_error(std::string argument, std::string value, std::string detail)
      : input_error(argument + (value.empty() ? "" : " " + value) + ": " + detail),
        argument_(std::move(argument)),
        value_(std::move(value)),
        detail_(std::move(detail)) {}
  const std::string& argument() const noexcept { return argument_; }
  const std::string& value() const noexcept { return value_; }
  const std::string& detail() const noexcept { return detail_; }

 private:
  std::string argument_, value_, detail_;
};

/// An argument of the wrong type (a front end's check: TypeError in Python).
class type_error : public input_error {
 public:
  using input_error::input_error;
};

/// A well-formed request that this build or backend cannot serve (a format a writer does not
/// take, a kernel not compiled for this target, a library call that failed).
class unsupported_error : public error {
 public:
  using error::error;
};

/// The input is valid but too large for this machine (memory) or device.
class resource_error : public error {
 public:
  using error::error;
};

/// A broken invariant or a violated API contract (a negative dimension passed to an engine, an
/// adapter returning the wrong shape): a bug in roundoff or in the code calling it.
class internal_error : public error {
 public:
  using error::error;
};

/// An assertion (verdicts::require_rounding_consistent) judged an output not explained by
/// rounding; what() is the failure report.
class verdict_error : public error {
 public:
  using error::error;
};

}  // namespace roundoff
