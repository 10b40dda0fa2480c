// The op a command evaluates: the <op> positional argument plus the op's own flags, and their
// syntax (--stride 2,1, --padding same, ...). Shared by every command that takes an op. The
// flags' text becomes ops::conv_arguments here; ops::make_op_spec checks them against the op,
// and its argument_error comes back reworded to name the flag.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "roundoff/error.hpp"
#include "roundoff/ops/op.hpp"

namespace CLI {  // NOLINT(readability-identifier-naming): CLI11's namespace, declared only
class App;
}  // namespace CLI

namespace roundoff::cli {

/// Conv flags as the command line gives them, unparsed; an empty string means "not given".
/// Syntax: --stride 2,1 | 2 (also (2,1) or [2,1]); --padding 1 | 1,2 | same | valid;
/// --dilation, --output-padding like --stride; --groups 4;
/// --padding-mode zeros|reflect|replicate|circular.
struct conv_flags {
  std::string stride, padding, dilation, output_padding, groups, padding_mode;
};

struct op_flags {
  std::string name;  ///< the <op> positional: linear, matmul, bmm, addmm, conv1d, ...
  conv_flags conv;   ///< parsed by make_op_spec
};

/// Adds the <op> positional (and the op flags) to cmd.
void add_op_flags(CLI::App& cmd, op_flags& f);

/// The flags' text as typed arguments. Throws input_error naming the flag for bad syntax, e.g.
/// "--stride: expected an integer or a comma-separated list of 1 to 3 like 2,1, got '2,x'";
/// words for --padding and --padding-mode are passed on (ops::make_op_spec checks them).
ops::conv_arguments parse_conv_flags(const conv_flags& f);

/// The op_spec for ops::evaluate. Throws input_error for an unknown op name (listing the known
/// ones), bad flag syntax, or a flag the op does not take ("--stride: not an option of linear").
/// For an op without conv arguments only a flag's presence matters, so its text is not parsed.
ops::op_spec make_op_spec(const op_flags& f);

/// The flag an argument_error's argument is given by ("output_padding" -> "--output-padding").
std::string flag_of(const std::string& argument);

/// An argument_error as the CLI says it: "--output-padding: <detail>", "--vary in=0:9: <detail>"
/// (the flag, then the value when the error quotes one). main.cpp words every argument_error
/// that reaches it this way.
std::string flag_message(const argument_error& e);

/// The op flags that were given (stride, padding, ...), as report params.
std::vector<std::pair<std::string, std::string>> op_flag_params(const op_flags& f);

}  // namespace roundoff::cli
