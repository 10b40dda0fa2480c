// Errors that mean "the user's input is wrong" (shape, file, dtype, unknown name, NaN/Inf
// where not allowed). The CLI turns them into one line on stderr and exit code 2.
#pragma once

#include <stdexcept>
#include <string>

namespace roundoff {

/// Bad user input. what() is one line, names the offending file/flag/argument, and says what is
/// wrong, e.g. "x.npy: truncated file: expected 262144 data bytes, found 1000".
class input_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace roundoff
